#pragma once
/// Test history: per-test duration samples and failure counters kept in a
/// JSONL file that can live in source control ([history] in the config).
/// The orchestrator loads it to estimate durations (scheduling) and failure
/// rates (pre-emptive retries), records each run, and saves it back without
/// losing what concurrent runs or other branches wrote.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "history/format.hpp"
#include "run/outcome.hpp"

namespace offload {

struct HistoryOptions {
  std::string path;                    ///< history file (e.g. "offload-history.jsonl")
  std::string config_key;              ///< config file name: the first element of every key
  int reservoir_size = 20;             ///< samples kept per test and outcome (ok / fail)
  double default_duration_secs = 1.0;  ///< estimate when nothing is known
};

class History {
 public:
  /// Load; a missing file is an empty history; a corrupt line is skipped
  /// with a warning (kept in warnings()), never fatal. An unreadable file is
  /// an empty history with a warning.
  static History load(const HistoryOptions& opts);

  /// Expected duration for scheduling, the original's rule:
  /// 1. the test's own data: p75 of its ok reservoir (>= 5 samples) and p75
  ///    of its fail reservoir (>= 5 samples), weighted by its failure rate
  ///    (either alone when only one has 5 samples); known = true.
  /// 2. otherwise the mean ok-p75 over this config's tests that have one.
  /// 3. otherwise default_duration_secs.
  struct Estimate {
    double secs;
    bool known;  ///< came from the test's own samples
  };
  Estimate estimate(const std::string& test_id) const;

  /// f / n in [0, 1] from the counters; nullopt when the test has no attempts.
  std::optional<double> failure_rate(const std::string& test_id) const;

  /// True when there is nothing for this config (other configs' data does not count).
  bool empty() const;

  /// Record one run: every attempt that is not Skipped or NotRun is one
  /// sample (ok if passed, fail if failed/error) with its duration; counters
  /// n, f updated; last_run set to run_id. Attempt i of a test is stamped
  /// timestamp_ms + i so that each sample has its own (run, timestamp) id.
  void record(const std::vector<TestResult>& results, int64_t timestamp_ms, const std::string& run_id);

  /// Save atomically, merging with whatever is on disk now: under an
  /// exclusive flock on "<path>.lock", re-read the file, three-way merge it
  /// with ours (base = what we loaded or last saved), write temp + rename.
  /// Afterwards this object holds the merged state. Returns "" or an error.
  std::string save();

  const std::vector<std::string>& warnings() const { return m_warnings; }

  /// The stored values for one of this config's tests, or nullptr.
  const HistoryValues* find(const std::string& test_id) const;
  /// Number of tests this config has data for.
  size_t size() const;
  const HistoryOptions& options() const { return m_opts; }

 private:
  size_t capacity() const;
  void update_config_mean();

  HistoryOptions m_opts;
  HistoryMap m_base;     ///< as loaded or last saved: the merge base for save()
  HistoryMap m_records;  ///< current state
  std::vector<std::string> m_warnings;
  std::optional<double> m_config_mean;  ///< fallback estimate, kept current by load/record/save
};

/// `offload history merge <base> <ours> <theirs>`: git merge-driver contract
/// (%O %A %B): the merged result is written into <ours>, return 0 on
/// success. A missing base (or side) is empty. On failure returns 1 with the
/// reason in *error; on success *error holds warnings (skipped corrupt
/// lines), usually empty. Merges every config's keys.
int history_merge_files(const std::string& base, const std::string& ours, const std::string& theirs,
                        int reservoir_size, std::string* error);

/// `offload history setup-merge-driver`: in the git repo containing the
/// current directory, append "<history path relative to the repo root>
/// merge=offload-history" to the root .gitattributes (no duplicate line),
/// and set merge.offload-history.driver to
/// "<offload_exe> history merge %O %A %B" and merge.offload-history.name.
/// Returns "" or an error.
std::string setup_merge_driver(const std::string& history_path, const std::string& offload_exe = "offload");

/// A fresh run id: 4 random base62 characters.
std::string new_run_id();

} // namespace offload
