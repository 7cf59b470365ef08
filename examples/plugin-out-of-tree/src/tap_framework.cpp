// offload framework plugin "tap": runs any test runner that prints TAP.
//
// Built out of tree against the installed <offload/plugin.hpp> only (see
// ../CMakeLists.txt). The plugin TRANSLATES; it never runs a process itself:
//   discover_command  ->  sh -c "<list_command> <filters>"
//   parse_discovery   <-  one test name per line ('#' lines and blanks ignored)
//   run_command       ->  sh -c "<command> \"$@\" > <result_path>; ..." with the
//                         batch's names as positional arguments (data, never code)
//   parse_results     <-  the TAP the runner wrote (src/tap_parse.hpp)
//
// [framework] keys (offload passes the table through as JSON, unchecked, because
// "tap" is not a built-in type):
//   type          = "tap"
//   command       = "./run-tests.sh"   required: runs the named tests, TAP on stdout
//   list_command  = "./run-tests.sh --list"   default: command + " --list"
//   working_dir   = "."                default: the provider's project root
#include <offload/plugin.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mini_json.hpp"
#include "tap_parse.hpp"

namespace {

using namespace offload::plugin;

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

class TapFramework : public Framework {
public:
  explicit TapFramework(const std::string& config_json) {
    std::map<std::string, std::string> cfg;
    try {
      cfg = tap::json_string_members(config_json);
    } catch (const std::exception& e) {
      throw Error(OFFLOAD_E_INVALID, e.what());
    }
    m_command = cfg["command"];
    if (m_command.empty()) throw Error(OFFLOAD_E_INVALID, "framework.command is required for type \"tap\"");
    m_list = cfg.count("list_command") ? cfg["list_command"] : m_command + " --list";
    m_workdir = cfg["working_dir"];
  }

  Command discover_command(const DiscoverRequest& req) override {
    Command c;
    c.argv = {"sh", "-c", req.filters.empty() ? m_list : m_list + " " + req.filters};
    if (!m_workdir.empty()) c.cwd = m_workdir;
    return c;
  }

  std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) override {
    if (out.term_signal != 0 || out.exit_code != 0) {
      // Thrown errors become an error status with this message (plugin.hpp's trampolines).
      throw Error(OFFLOAD_E_IO, "list_command for group '" + req.group + "' failed (" +
                                    (out.term_signal ? "signal " + std::to_string(out.term_signal)
                                                     : "exit code " + std::to_string(out.exit_code)) +
                                    ")" + (out.err.empty() ? "" : ": " + tail(out.err, 2000)));
    }
    std::vector<Test> tests;
    size_t start = 0;
    while (start < out.out.size()) {
      size_t end = out.out.find('\n', start);
      std::string line = tap::detail::trim(out.out.substr(start, end == std::string::npos ? std::string::npos : end - start));
      start = end == std::string::npos ? out.out.size() : end + 1;
      if (line.empty() || line[0] == '#') continue;
      Test t;
      t.id = line;
      tests.push_back(std::move(t));
    }
    return tests;
  }

  Command run_command(const RunRequest& req) override {
    // TAP goes to the result file; it is then echoed so the batch's stdout
    // log (logs/batch-N.stdout.*) shows it too. The runner's exit code is kept.
    Command c;
    c.argv = {"sh", "-c",
              "out=$1; shift; " + m_command + " \"$@\" > \"$out\"; rc=$?; cat \"$out\"; exit $rc",
              "offload-tap", req.result_path};
    c.argv.insert(c.argv.end(), req.ids.begin(), req.ids.end());
    if (req.fail_fast) c.env.emplace_back("TAP_FAIL_FAST", "1"); // a convention of this plugin
    if (!m_workdir.empty()) c.cwd = m_workdir;
    return c;
  }

  std::vector<Result> parse_results(const RunOutput& out) override {
    // No result file: report nothing. The host gives every test of the batch
    // its cause (timed out, crashed, "result file missing").
    if (!out.result_present) return {};
    tap::Report report = tap::parse(out.result);
    if (report.bailed_out) {
      host().warn("tap: batch bailed out" + (report.bail_reason.empty() ? "" : ": " + report.bail_reason) +
                  " (its remaining tests are reported as not run)");
    }
    // Report what the output says, and only for this batch's tests: the host
    // would ignore (and warn about) any other ID.
    std::set<std::string> in_batch(out.ids.begin(), out.ids.end());
    std::vector<Result> results;
    for (auto& r : report.results) {
      if (in_batch.count(r.id)) results.push_back(std::move(r));
    }
    return results;
  }

private:
  std::string m_command, m_list, m_workdir;
};

} // namespace

// Defines the exported entry symbol offload_plugin_entry_v1 and registers the
// factory for framework type "tap". The id must be unique among loaded plugins.
OFFLOAD_PLUGIN("org.example.tap", "0.1.0", "TAP (Test Anything Protocol) framework", [](Registry& r) {
  r.add_framework("tap", [](const Host&, const std::string&, const std::string& config_json) {
    return std::make_unique<TapFramework>(config_json);
  });
})
