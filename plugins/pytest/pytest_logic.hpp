/// The pytest framework's translation logic, free of the plugin boundary so
/// it is unit-testable from recorded real outputs: settings from the
/// [framework] JSON, the discovery and batch commands (sh scripts that embed
/// offload_pytest_plugin.py), and the parsers of what those commands produce.
#pragma once

#include <map>
#include <offload/plugin.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace offload::pytest {

/// The [framework] table of type "pytest" (defaults already filled by the host).
struct Settings {
  std::string command = "python -m pytest"; ///< shell text: "uv run pytest", "FOO=1 python -m pytest"
  std::vector<std::string> paths;           ///< passed to discovery only, each as one word
  std::string run_args;                     ///< shell text, execution only
};

/// Parses the [framework] JSON. Throws plugin::Error(OFFLOAD_E_INVALID) on a bad shape.
Settings parse_settings(const std::string& json);

/// The embedded Python plugin (plugins/pytest/offload_pytest_plugin.py).
std::string_view plugin_source();

/// Single-quotes s for POSIX sh.
std::string sh_quote(std::string_view s);

/// Lines around the JSON lines that discovery prints after pytest's own output.
inline constexpr std::string_view kCollectBegin = "@@offload-pytest-collect-begin@@";
inline constexpr std::string_view kCollectEnd = "@@offload-pytest-collect-end@@";

/// `sh -c SCRIPT`: writes the plugin to a private temp dir, runs
/// `{command} --collect-only -q -p offload_pytest_plugin --offload-collect=F {filters} {paths}`
/// and prints F between kCollectBegin/kCollectEnd; exits with pytest's code.
plugin::Command discover_command(const Settings& s, const std::string& filters);

/// What discovery found.
struct Discovery {
  std::vector<plugin::Test> tests;
  std::string rootdir = ".";         ///< pytest's rootdir relative to the project dir
  std::vector<std::string> warnings; ///< for the host's log
};

/// Judges the discovery command's outcome. Exit 0: the items; exit 5 (no tests
/// matched): none; anything else throws plugin::Error with pytest's own
/// message (collection errors, usage errors, a missing pytest).
Discovery parse_discovery(const std::string& group, int exit_code, int term_signal, const std::string& out,
                          const std::string& err);

/// The argv word that selects node ID `id` when pytest's rootdir is `rootdir`
/// (relative to the project dir): nodeids are rootdir-relative, arguments are
/// cwd-relative. A word that would start with '-' gets a "./" so it cannot
/// read as an option.
std::string node_arg(const std::string& rootdir, const std::string& id);

/// `sh -c SCRIPT offload-pytest ARG...`: the node IDs travel as separate argv
/// words ("$@"), never through the shell's parser. The script writes the
/// plugin to a private temp dir, runs
/// `{command} {run_args} -p offload_pytest_plugin --offload-results=R [--offload-reruns=N] [-x] "$@"`
/// (reruns: failed tests rerun in-process, the plugin's --offload-reruns; 0: none),
/// removes the dir and re-raises pytest's fatal signal so the host sees a
/// crash as a crash.
plugin::Command run_command(const Settings& s, const std::vector<std::string>& args, const std::string& result_path,
                            bool fail_fast, unsigned reruns);

/// How the batch's process ended, as the host saw it.
struct BatchEnd {
  int exit_code = 0;
  int term_signal = 0;
  bool timed_out = false;
};

/// Turns a results file (JSON lines from --offload-results) into per-test
/// results, only for the batch's IDs (others are dropped with a warning).
/// A test rerun in-process yields its attempts in order, numbered 1..n
/// (Result::attempt; every one but the last failed or errored); a test run
/// once is attempt 0. Collection errors in the sandbox fail the batch's tests
/// of that collector; when pytest did not finish and exactly one test had
/// begun without a final result (a failed attempt being rerun has none), that
/// test is the culprit and fails with the cause, as its next attempt.
std::vector<plugin::Result> parse_results(const std::vector<std::string>& ids, const std::string& data,
                                          const BatchEnd& end, std::vector<std::string>* warnings);

/// JUnit-style {classname, name} for a node ID, as pytest's junitxml makes
/// them ("tests/test_x.py::TestA::test_b[1]" -> "tests.test_x.TestA", "test_b[1]").
std::pair<std::string, std::string> junit_names(const std::string& nodeid);

} // namespace offload::pytest
