/// The `vitest` framework plugin: discovers tests with `vitest list --json`
/// (run locally), runs each batch's exact tests with `vitest run <files>
/// --testNamePattern <regex>` and the JSON reporter (with `--retry=N` when the
/// host grants in-process retries), and maps the report back to IDs. All
/// translation lives in vitest_logic.{hpp,cpp}; this file only adapts it to
/// the plugin ABI.
#include <nlohmann/json.hpp>
#include <offload/plugin.hpp>

#include "vitest_logic.hpp"

namespace {

using namespace offload::plugin;
namespace vt = offload::vitest;

/// Runs f, turning a logic Failure into the plugin status it stands for.
template <class F>
auto translate(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const vt::Failure& e) {
    switch (e.kind()) {
    case vt::Failure::Kind::Config: throw Error(OFFLOAD_E_INVALID, e.what());
    case vt::Failure::Kind::Parse: throw Error(OFFLOAD_E_PARSE, e.what());
    case vt::Failure::Kind::Discovery: break;
    }
    throw Error(OFFLOAD_E_IO, e.what());
  }
}

offload_test_status to_c(vt::Status s) {
  switch (s) {
  case vt::Status::Passed: return OFFLOAD_TEST_PASSED;
  case vt::Status::Failed: return OFFLOAD_TEST_FAILED;
  case vt::Status::Skipped: return OFFLOAD_TEST_SKIPPED;
  case vt::Status::Error: break;
  }
  return OFFLOAD_TEST_ERROR;
}

class VitestFramework : public Framework {
public:
  explicit VitestFramework(const std::string& json)
      : m_settings(translate([&] { return vt::parse_settings(json); })),
        m_format(translate([&] { return vt::IdFormat(m_settings.id_format); })) {}

  Command discover_command(const DiscoverRequest& req) override {
    Command c;
    c.argv = translate([&] { return vt::discover_argv(m_settings, req.filters); });
    c.env = vt::command_env(m_settings);
    return c; // cwd: the project dir, where vitest finds its config
  }

  std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) override {
    auto listed = translate([&] {
      return vt::parse_list(out.out, out.err, out.exit_code, out.term_signal, req.project_dir, m_format);
    });
    std::vector<Test> tests;
    tests.reserve(listed.size());
    for (auto& t : listed) tests.push_back({std::move(t.id), std::move(t.name), std::move(t.file), t.line});
    return tests;
  }

  Command run_command(const RunRequest& req) override {
    auto b = translate([&] {
      return vt::run_argv(m_settings, m_format, req.ids, req.result_path, req.fail_fast, req.in_process_retries);
    });
    if (b.own_retry && !m_warned_own_retry) {
      m_warned_own_retry = true;
      host().warn("vitest: run_args hold their own --retry, so offload adds none and reports each test once (its "
                  "last outcome); remove it to let offload's in_process_retries rerun failed tests in their batch");
    }
    if (b.pattern_dropped) {
      host().warn("vitest: batch " + std::to_string(req.batch_index) + " has too many test names for one " +
                  "--testNamePattern; running its files whole and keeping only the batch's results");
    }
    Command c;
    c.argv = std::move(b.argv);
    c.env = vt::command_env(m_settings);
    return c; // cwd: the sandbox's project root, which file paths are relative to
  }

  std::vector<Result> parse_results(const RunOutput& out) override {
    if (!out.result_present) return {}; // the host reports the missing file as the cause
    // The --retry run_command passed: the host's grant, unless run_args hold the user's own.
    unsigned retries = vt::has_own_retry(m_settings.run_args) ? 0 : out.in_process_retries;
    auto parsed =
        translate([&] { return vt::parse_results(out.result, out.ids, out.project_dir, m_format, retries); });
    std::vector<Result> results;
    results.reserve(parsed.size());
    for (auto& p : parsed) {
      Result r;
      r.id = std::move(p.id);
      r.status = to_c(p.status);
      r.duration_secs = p.duration_secs;
      r.message = std::move(p.message);
      r.type = std::move(p.type);
      r.text = std::move(p.text);
      r.name = std::move(p.name);
      r.classname = std::move(p.classname);
      r.attempt = p.attempt;
      results.push_back(std::move(r));
    }
    return results;
  }

  // vitest reruns a failed test at once with --retry=N, and its runs are
  // counted from the JSON report (see vt::parse_results).
  uint32_t capabilities() const override { return OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES; }

private:
  vt::Settings m_settings;
  vt::IdFormat m_format;
  bool m_warned_own_retry = false;
};

} // namespace

OFFLOAD_PLUGIN("dev.offload.vitest", "0.1.0", "vitest (JavaScript/TypeScript) test framework", [](Registry& r) {
  r.add_framework("vitest", [](const Host&, const std::string&, const std::string& json) {
    return std::make_unique<VitestFramework>(json);
  });
})
