#pragma once
/// The history file's data model, its JSONL line format, the weighted
/// reservoir and the three-way merge. Shared by History (load/record/save)
/// and the git merge driver; public so tests and reports can look inside.
///
/// One JSON object per line, lines sorted by key, compatible with the
/// original offload:
///   {"k":[config_filename,test_id],"v":{"n":N,"f":F,"last_run":"AbC1",
///    "ok":[[run,ts_ms,secs],...],"fail":[...]}}
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offload {

/// One observed attempt duration.
struct HistorySample {
  std::string run;      ///< run id (4 base62 chars)
  uint64_t ts_ms = 0;   ///< when it was recorded, ms since the epoch; seeds its reservoir key
  double secs = 0;      ///< duration of the attempt
  bool operator==(const HistorySample&) const = default;
};

/// (config file name, test id): a history file may serve several configs.
struct HistoryKey {
  std::string config;
  std::string test;
  auto operator<=>(const HistoryKey&) const = default;
  bool operator==(const HistoryKey&) const = default;
};

/// Everything stored for one test.
struct HistoryValues {
  uint64_t n = 0;               ///< attempts ever recorded (unbounded)
  uint64_t f = 0;               ///< failed/errored attempts ever recorded
  std::string last_run;         ///< run id of the latest run that included the test
  std::vector<HistorySample> ok;    ///< reservoir of passed attempts
  std::vector<HistorySample> fail;  ///< reservoir of failed attempts
  bool operator==(const HistoryValues&) const = default;
};

/// A record plus the exact line it was read from, kept while the record is
/// unchanged so that untouched lines (other configs, other tools' float
/// formatting) are written back byte for byte.
struct HistoryRecord {
  HistoryValues v;
  std::string raw;  ///< original line; empty once the record was modified
};

/// Sorted by key, which is also the file's line order.
using HistoryMap = std::map<HistoryKey, HistoryRecord>;

// ---- reservoir -------------------------------------------------------------

/// Efraimidis-Spirakis key of a sample: r^(1/w), w = exp(-0.1 * age_rank)
/// (age_rank 0 = newest), r in [0,1) from a PRNG seeded by the sample's
/// timestamp, so every process computes the same key for the same sample.
double reservoir_key(uint64_t ts_ms, size_t age_rank);
/// Add one sample to a reservoir capped at `capacity`: append while there is
/// room; otherwise rank by age (newest first), and replace the existing
/// sample with the smallest key if the new sample's key is larger.
void reservoir_insert(std::vector<HistorySample>& samples, HistorySample s, size_t capacity);
/// Keep the `capacity` samples with the largest keys (ranked by age), in
/// timestamp order. No-op when already within capacity.
void reservoir_downsample(std::vector<HistorySample>& samples, size_t capacity);
/// Merge two reservoirs, de-duplicated by (run, ts_ms), capped by
/// reservoir_downsample, result in (ts_ms, run) order. With a base, samples
/// that were in the base but that one side has since evicted stay evicted.
std::vector<HistorySample> reservoir_merge(const std::vector<HistorySample>* base,
                                           const std::vector<HistorySample>& ours,
                                           const std::vector<HistorySample>& theirs,
                                           size_t capacity);

// ---- lines and files -------------------------------------------------------

struct ParsedLine {
  HistoryKey key;
  HistoryValues values;
};
/// Parse one line; nullopt and *error on anything that is not a well-formed record.
std::optional<ParsedLine> parse_history_line(std::string_view line, std::string* error);
/// One line, no trailing newline. Invalid UTF-8 in ids is replaced, never fatal.
std::string serialize_history_line(const HistoryKey& key, const HistoryValues& values);

/// Parse a whole file. Blank lines are ignored; a corrupt line is skipped
/// and described in *warnings as "<origin>:<line>: ..."; a key seen twice is
/// merged (no base) with a warning.
HistoryMap parse_history(std::string_view text, const std::string& origin, size_t capacity,
                         std::vector<std::string>* warnings);
/// The file text: one line per record in key order, each ending in '\n'.
std::string serialize_history(const HistoryMap& records);

// ---- merge -----------------------------------------------------------------

/// Merge one test's values.
/// - Reservoirs: reservoir_merge (with base when there is one).
/// - Counters with a base: base + max(0, ours - base) + max(0, theirs - base).
/// - Counters without a base (the test appeared on both sides independently):
///   the original's overlap heuristic. The share of samples both sides hold
///   (by run and timestamp) estimates how much of the smaller counter is
///   common history: n = n_ours + n_theirs - overlap * min(n_ours, n_theirs),
///   clamped to [max(n_ours, n_theirs), n_ours + n_theirs]; f likewise, and
///   f <= n. Disjoint samples therefore add up, identical sides stay put.
/// - last_run: from the side holding the newest sample (ours on a tie).
HistoryValues merge_history_values(const HistoryValues* base, const HistoryValues& ours,
                                   const HistoryValues& theirs, size_t capacity);
/// Three-way merge of whole files: the union of ours' and theirs' keys. A key
/// on one side only is kept as is; a side that did not change a record since
/// the base yields to the other (its line kept verbatim); otherwise
/// merge_history_values.
HistoryMap merge_histories(const HistoryMap& base, const HistoryMap& ours, const HistoryMap& theirs,
                           size_t capacity);

} // namespace offload
