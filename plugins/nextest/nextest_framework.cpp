/// The `nextest` framework: discovers with `cargo nextest list --message-format
/// json`, runs each batch with `cargo nextest run -E <filterset naming exactly
/// the batch's tests>` and a per-batch tool config file that points nextest's
/// JUnit report at the batch's result path, then reads that JUnit with the
/// host's parser. When the host grants in-process retries the batch runs with
/// `--retries N`, and the runs nextest recorded in the JUnit
/// (`<flakyFailure>`, `<rerunFailure>`, ...) become numbered attempts. All
/// translation lives in nextest_logic.{hpp,cpp}.
#include <map>
#include <mutex>
#include <stdexcept>

#include <offload/plugin.hpp>

#include "nextest_logic.hpp"

namespace {

using namespace offload::plugin;
namespace nx = offload::nextest;

class NextestFramework : public Framework {
public:
  explicit NextestFramework(const std::string& json) {
    try {
      m_settings = nx::parse_settings(json);
    } catch (const std::invalid_argument& e) {
      throw Error(OFFLOAD_E_INVALID, e.what());
    }
  }

  Command discover_command(const DiscoverRequest& req) override {
    Command c;
    try {
      c.argv = nx::list_argv(m_settings, req.filters);
    } catch (const std::invalid_argument& e) {
      throw Error(OFFLOAD_E_INVALID, "group '" + req.group + "': " + e.what());
    }
    return c;
  }

  std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) override {
    if (out.term_signal != 0 || out.exit_code != 0) {
      throw Error(OFFLOAD_E_IO, nx::discovery_error(req.group, out.exit_code, out.term_signal, out.out, out.err, ""));
    }
    auto parsed = nx::parse_list_json(out.out);
    if (!parsed.ok()) {
      throw Error(OFFLOAD_E_PARSE, nx::discovery_error(req.group, 0, 0, out.out, out.err, parsed.error));
    }
    std::vector<Test> tests;
    tests.reserve(parsed.tests.size());
    std::lock_guard lock(m_mutex);
    for (auto& t : parsed.tests) {
      auto id = nx::format_id(m_settings.test_id_format, t.binary_id, t.name);
      // Remember the parts so run_command never has to re-split an ID.
      m_known[id] = {t.binary_id, t.name};
      tests.push_back({id, t.name, "", 0});
    }
    return tests;
  }

  Command run_command(const RunRequest& req) override {
    std::map<std::string, std::pair<std::string, std::string>> known;
    {
      std::lock_guard lock(m_mutex);
      for (auto& id : req.ids) {
        auto it = m_known.find(id);
        if (it != m_known.end()) known.insert(*it);
      }
    }
    nx::RunPlan plan;
    try {
      plan = nx::run_plan(m_settings, req.ids, req.result_path, req.fail_fast, req.project_dir, known,
                          req.in_process_retries);
    } catch (const std::invalid_argument& e) {
      throw Error(OFFLOAD_E_INVALID, e.what());
    }
    Command c;
    c.argv = {"sh", "-c", plan.script};
    return c;
  }

  std::vector<Result> parse_results(const RunOutput& out) override {
    if (!out.result_present) return {}; // the host reports the batch's tests as not run, with the cause
    auto cases = host().parse_junit(out.result);
    // The batch ran with --retries N (N = the grant the host echoes back):
    // nextest's JUnit records each test's other runs inside its testcase,
    // which the host's JUnit extension does not pass on, so read those here.
    std::vector<nx::CaseRuns> runs;
    if (out.in_process_retries > 0) {
      try {
        runs = nx::parse_recorded_runs(out.result);
      } catch (const std::invalid_argument& e) {
        throw Error(OFFLOAD_E_PARSE, e.what());
      }
    }
    return nx::results_from_cases(cases, m_settings.test_id_format, runs, out.in_process_retries);
  }

  // nextest reruns a failed test in the same run with --retries N and records
  // every run in its JUnit (see nx::results_from_cases).
  uint32_t capabilities() const override { return OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES; }

private:
  nx::Settings m_settings;
  std::mutex m_mutex;
  std::map<std::string, std::pair<std::string, std::string>> m_known; ///< ID -> (binary ID, test name)
};

} // namespace

OFFLOAD_PLUGIN("dev.offload.nextest", "0.1.0", "cargo-nextest framework (Rust)", [](Registry& r) {
  r.add_framework("nextest", [](const Host&, const std::string&, const std::string& json) {
    return std::make_unique<NextestFramework>(json);
  });
})
