/// The vitest framework's translation logic, free of the plugin ABI so it can
/// be unit-tested from recorded vitest output: building the discovery and
/// batch commands, parsing `vitest list --json`, and mapping vitest's JSON
/// reporter output to test IDs.
///
/// IDs are `test_id_format` with {classname} = the test file relative to the
/// project root and {name} = the describe chain and title joined with " > "
/// (the default format "{classname} > {name}" gives
/// `src/a.test.ts > outer > inner > title`, the same as vitest's JUnit names).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace offload::vitest {

/// A problem the user must fix (bad config, failed discovery, duplicate IDs,
/// unreadable result file). `kind` lets the plugin pick a status code.
class Failure : public std::runtime_error {
public:
  enum class Kind { Config, Discovery, Parse };
  Failure(Kind k, const std::string& msg) : std::runtime_error(msg), m_kind(k) {}
  Kind kind() const { return m_kind; }

private:
  Kind m_kind;
};

/// Split a command line into words like sh does (quotes, backslashes), no
/// expansion. nullopt on an unterminated quote.
std::optional<std::vector<std::string>> shell_split(std::string_view s);

/// test_id_format, pre-split around its {classname} and {name} placeholders so
/// IDs can be built and taken apart again without a discovery-time table.
class IdFormat {
public:
  /// Throws Failure(Config) unless the format holds {name} (and optionally
  /// {classname}) at most once each.
  explicit IdFormat(const std::string& format);
  std::string format(const std::string& file, const std::string& name) const;
  struct Parts {
    std::string file; ///< empty when the format has no {classname}
    std::string name; ///< describe chain + title joined with " > "
  };
  /// Takes an ID built by format() apart; nullopt if it does not fit.
  std::optional<Parts> parse(const std::string& id) const;
  bool has_file() const { return m_has_file; }

private:
  std::string m_prefix, m_middle, m_suffix;
  bool m_has_file = false;
  bool m_file_first = true;
};

/// Settings from the [framework] table (JSON, defaults filled by the host).
struct Settings {
  std::vector<std::string> command{"npx", "vitest"};
  std::vector<std::string> run_args;
  std::string id_format = "{classname} > {name}";
};
/// Throws Failure(Config) on a malformed table or an unsplittable string.
Settings parse_settings(const std::string& json);

/// Extra environment for the commands: silences npm's config warnings when
/// the command goes through npx/npm.
std::vector<std::pair<std::string, std::string>> command_env(const Settings& s);

/// `{command} list {filters} --includeTaskLocation --json`. --json comes last
/// because it takes an optional value and would swallow a following filter.
std::vector<std::string> discover_argv(const Settings& s, const std::string& filters);

/// `path` relative to `root` when it lies under it (lexically, then with
/// `root` resolved through symlinks when it exists here); otherwise the
/// longest of `known` that `path` ends with (as "/known"); otherwise `path`.
std::string relative_to(const std::string& path, const std::string& root, const std::vector<std::string>& known = {});

struct ListedTest {
  std::string id, file, name;
  int line = 0;
};
/// Parses `vitest list --json` stdout. Files become relative to project_dir.
/// Throws Failure(Discovery) when vitest failed or printed no JSON, and when
/// two tests share an ID (naming both, suggesting a rename).
std::vector<ListedTest> parse_list(const std::string& out, const std::string& err, int exit_code, int term_signal,
                                   const std::string& project_dir, const IdFormat& fmt);

/// Escapes every JavaScript regex metacharacter.
std::string regex_escape(std::string_view s);

/// The --testNamePattern matching exactly these names (" > "-joined chains).
/// vitest matches the pattern against the chain joined with single spaces and
/// a title may itself contain " > ", so each " > " matches either form; a
/// test that matches only through that ambiguity is filtered out of the
/// results by its exact ID.
std::string name_pattern(const std::vector<std::string>& names);

/// Longest --testNamePattern passed; beyond it (Linux caps one argument at
/// 128 KiB) the batch runs its files whole and the results are filtered.
inline constexpr size_t kMaxPatternBytes = 100 * 1024;

/// Whether run_args hold the user's own retry option (`--retry`, `--retry=N`,
/// `--retry.count`, `--retry.delay`, ...).
bool has_own_retry(const std::vector<std::string>& run_args);

struct BatchCommand {
  std::vector<std::string> argv;
  bool pattern_dropped = false; ///< the pattern was too long: whole files run
  unsigned retries = 0;         ///< the --retry=N passed; 0 when none was (no grant, or the user's own --retry)
  bool own_retry = false;       ///< run_args hold the user's --retry, so a grant went unused
};
/// `{command} run <files> --testNamePattern=<re> --reporter=verbose
/// --hideSkippedTests --reporter=json --outputFile.json=<result_path>
/// [--bail 1] [--retry=<retries>] {run_args}`. --retry is left out when
/// `retries` is 0 or run_args hold the user's own retry option (two would
/// merge into one vitest setting the host did not grant).
/// Throws Failure(Config) for an ID the format cannot take apart.
BatchCommand run_argv(const Settings& s, const IdFormat& fmt, const std::vector<std::string>& ids,
                      const std::string& result_path, bool fail_fast, unsigned retries = 0);

enum class Status { Passed, Failed, Error, Skipped };

struct TestResult {
  std::string id;
  Status status = Status::Passed;
  double duration_secs = 0;
  std::string message, type, text;
  std::string name, classname; ///< as vitest's JUnit reporter would name them
  unsigned attempt = 0;        ///< 0: ran once; N >= 1: run N of a test vitest retried (--retry)
};

/// Maps vitest's JSON reporter output to results for the batch's IDs only:
/// tests outside the batch (skipped by the name pattern, or extra matches)
/// are dropped. A test file that failed without test results (import or
/// syntax error) makes each of its batch tests an Error with the file's
/// message. Tests vitest never started (after --bail: "pending" without a
/// duration) are left out, so the host reports them not run. Throws
/// Failure(Parse) on malformed JSON.
///
/// `retries`: the --retry=N the batch ran with (0: none). vitest's report
/// keeps one entry per test (its last outcome, the total duration and the
/// errors of every run), so a retried test's runs are counted from its
/// errors: vitest stops at the first pass and every failed run adds at least
/// one error (expect.soft: one per failed assertion). A passed test with k
/// errors ran min(k, N) + 1 times; a failed one min(max(k, 1), N + 1) times
/// (fewer than N + 1 when its own `retry` option or a retry condition stopped
/// vitest early). A test that ran more than once becomes one result per run,
/// numbered from 1, each with an equal share of the duration; run i gets the
/// i-th error when there is one error per failed run, else every failed run
/// gets all of them.
std::vector<TestResult> parse_results(const std::string& json, const std::vector<std::string>& batch_ids,
                                      const std::string& project_dir, const IdFormat& fmt, unsigned retries = 0);

} // namespace offload::vitest
