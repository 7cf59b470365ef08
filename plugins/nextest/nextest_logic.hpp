#pragma once
/// The nextest framework's translation logic, free of the plugin ABI so that
/// unit tests drive it from fixtures: settings from the [framework] JSON, the
/// `cargo nextest list` command and its JSON, the batch script (tool config
/// file + `cargo nextest run -E <filterset>`), and JUnit cases -> results.
/// JUnit parsing itself is injected: the plugin uses the host's parser for
/// each testcase's outcome. The runs nextest recorded inside a testcase when it
/// retried it (`<flakyFailure>`, `<rerunFailure>`, ...) do not cross the host's
/// JUnit extension, so parse_recorded_runs reads those with pugixml.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <offload/plugin.hpp>

namespace offload::nextest {

/// The nextest profile offload defines in its tool config file. Not named
/// default-* (reserved by nextest); a repository may define its own
/// [profile.offload] in .config/nextest.toml to override our settings.
inline constexpr const char* kProfile = "offload";
/// Tool name for --tool-config-file (must be a Unicode identifier).
inline constexpr const char* kToolName = "offload";

struct Settings {
  std::optional<std::string> package;  ///< -p
  std::vector<std::string> features;   ///< --features a,b
  std::optional<std::string> bin;      ///< --bin
  bool include_ignored = false;        ///< --run-ignored all (run ignored tests too)
  std::string test_id_format = "{classname} {name}";
};

/// Settings from the [framework] table as JSON. Throws std::invalid_argument
/// naming the field on a wrong type.
Settings parse_settings(const std::string& json);

/// POSIX-sh single-quoting; plain words stay unquoted.
std::string shell_quote(std::string_view s);
/// Split words like sh (quotes, backslashes), no expansion. nullopt on an unterminated quote.
std::optional<std::vector<std::string>> shell_split(std::string_view s);

/// Package/feature/binary/ignored selection flags, shared by list and run.
std::vector<std::string> selection_args(const Settings& s);

/// argv of `cargo nextest list --message-format json ...` with the group's
/// filters split like a shell and appended. Throws std::invalid_argument on an
/// unterminated quote in filters.
std::vector<std::string> list_argv(const Settings& s, const std::string& filters);

/// One test from the listing.
struct ListedTest {
  std::string binary_id;
  std::string name;
  bool ignored = false;
};

struct ListParse {
  std::vector<ListedTest> tests; ///< only tests whose filter-match is absent or "matches"
  std::string error;             ///< non-empty: not a nextest JSON listing (says why)
  bool ok() const { return error.empty(); }
};

/// Parse `cargo nextest list --message-format json` stdout ("rust-suites").
ListParse parse_list_json(std::string_view out);

/// test_id_format applied to a binary ID ({classname}) and test name ({name}),
/// in one pass (a name containing "{name}" is not substituted again).
std::string format_id(std::string_view format, std::string_view classname, std::string_view name);

/// Recover (binary ID, test name) from an ID made with format_id, for formats
/// of the shape "<pre>{classname}<sep>{name}<post>" (binary IDs never hold
/// spaces, so the default "{classname} {name}" is unambiguous) or holding only
/// {name} (binary ID empty). nullopt when the ID does not fit the format.
std::optional<std::pair<std::string, std::string>> split_id(std::string_view format, std::string_view id);

/// Escape a string for an `=` (equality) name matcher in nextest's filterset
/// DSL: backslash, ')' and ',' and control characters use the documented
/// escape sequences, so names are data whatever they hold.
std::string filterset_escape(std::string_view s);

/// A filterset selecting exactly the given tests:
/// `(binary_id(=b1) & (test(=t1) | test(=t2))) | ...`, binaries in first-seen
/// order. An empty binary ID selects by test name only.
std::string filterset_for(const std::vector<std::pair<std::string, std::string>>& tests);

/// TOML basic string ("..." with escapes).
std::string toml_string(std::string_view s);

/// The tool config file written next to the result: [profile.offload] with
/// retries = 0 (offload decides about retries: on other sandboxes, or in the
/// batch with --retries N when the host grants them) and the JUnit path.
std::string tool_config_text(const std::string& junit_path);

/// Everything run_command needs for one batch.
struct RunPlan {
  std::string script;      ///< for sh -c
  std::string config_path; ///< the tool config file it writes
  std::string filterset;
  std::vector<std::string> run_args; ///< cargo nextest run ... (before -E)
  unsigned retries = 0;              ///< the --retries N passed (0: none)
};

/// Build the batch script. result_path must be absolute (nextest requires an
/// absolute --tool-config-file and joins the JUnit path onto its store dir);
/// a relative one is made absolute against project_dir. `retries` > 0 adds
/// `--retries <retries>` (the host's in-process grant): on the command line it
/// beats every config source, per-test overrides and NEXTEST_RETRIES included,
/// so nextest runs a failing test at most retries + 1 times. Throws
/// std::invalid_argument if an ID cannot be mapped to a (binary, test) pair.
RunPlan run_plan(const Settings& s, const std::vector<std::string>& ids, const std::string& result_path,
                 bool fail_fast, const std::string& project_dir,
                 const std::map<std::string, std::pair<std::string, std::string>>& known, unsigned retries = 0);

/// One run of a test that nextest recorded inside its `<testcase>` when it
/// retried the test: a `<flakyFailure>`/`<flakyError>` (an earlier failed run
/// of a test whose last run passed) or a `<rerunFailure>`/`<rerunError>` (a
/// later run of a test whose first run is the testcase's own `<failure>` or
/// `<error>`); see results_from_cases for the order.
struct RecordedRun {
  bool flaky = false;                           ///< flaky*: before the testcase's own run; rerun*: after it
  offload_test_status status = OFFLOAD_TEST_FAILED; ///< FAILED (*Failure) or ERROR (*Error)
  double time_secs = 0;
  std::string message, type, text, system_out, system_err;
};
/// The recorded runs of one testcase, in document order.
struct CaseRuns {
  std::string classname, name;
  std::vector<RecordedRun> runs;
};
/// Every `<testcase>` (under nested testsuites/testsuite, document order, as
/// the host's parser walks them) with its recorded runs. A run's text is its
/// own text (nextest's error description) or, failing that, its
/// `<stackTrace>`. Throws std::invalid_argument on malformed XML. (In
/// nextest_junit.cpp, the only code here that needs pugixml.)
std::vector<CaseRuns> parse_recorded_runs(std::string_view xml);

/// JUnit cases (already parsed) -> results, IDs made with test_id_format.
///
/// `retries`: the --retries N the batch ran with (the host's echoed grant; 0:
/// none, and then each case is one result with its final outcome, whatever
/// nextest recorded, as before in-process retries). With N > 0, a case with
/// recorded runs (`runs`, matched by classname and name, in order) becomes one
/// result per run, numbered from 1, in the order nextest ran them (its JUnit
/// reporter, nextest-runner reporter/aggregator/junit.rs):
///  - flaky (last run passed): the `<flakyFailure>`/`<flakyError>` runs, then
///    the testcase itself (the passing run);
///  - failed on every run: the testcase's own `<failure>`/`<error>` is the
///    FIRST run, then the `<rerunFailure>`/`<rerunError>` runs.
/// At most N + 1 runs are reported (the last ones, so the final outcome is
/// kept); a case whose runs do not fit that shape (a run before the last that
/// did not fail) is reported once. Cases without recorded runs keep attempt 0.
std::vector<plugin::Result> results_from_cases(const std::vector<plugin::JunitCase>& cases, const std::string& format,
                                               const std::vector<CaseRuns>& runs = {}, unsigned retries = 0);

/// Last n bytes of s, prefixed with "..." when cut.
std::string tail(const std::string& s, size_t n);

/// The error message for a failed or unreadable `cargo nextest list`.
std::string discovery_error(const std::string& group, int exit_code, int term_signal, const std::string& out,
                            const std::string& err, const std::string& parse_error);

} // namespace offload::nextest
