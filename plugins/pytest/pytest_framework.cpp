/// The `pytest` framework plugin. Discovery and execution both load a small
/// bundled pytest plugin (offload_pytest_plugin.py, embedded in the command so
/// it works in any sandbox) that reports exact node IDs as JSON: no parsing
/// of pytest's human output, no suffix matching, no conftest changes.
#include <offload/plugin.hpp>

#include "pytest_logic.hpp"

namespace {

using namespace offload::plugin;
namespace py = offload::pytest;

class PytestFramework : public Framework {
public:
  PytestFramework(const Host& host, const std::string& json) : m_host(host), m_settings(py::parse_settings(json)) {}

  Command discover_command(const DiscoverRequest& req) override { return py::discover_command(m_settings, req.filters); }

  std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) override {
    auto d = py::parse_discovery(req.group, out.exit_code, out.term_signal, out.out, out.err);
    for (auto& w : d.warnings) m_host.warn(w);
    if (!d.tests.empty()) {
      if (m_rootdir_known && d.rootdir != m_rootdir) {
        m_host.warn("pytest: group '" + req.group + "' has rootdir '" + d.rootdir + "' but an earlier group had '" +
                    m_rootdir + "'; node IDs are passed relative to '" + d.rootdir + "'");
      }
      m_rootdir = d.rootdir;
      m_rootdir_known = true;
    }
    return std::move(d.tests);
  }

  Command run_command(const RunRequest& req) override {
    std::vector<std::string> args;
    args.reserve(req.ids.size());
    for (auto& id : req.ids) args.push_back(py::node_arg(m_rootdir, id));
    return py::run_command(m_settings, args, req.result_path, req.fail_fast, req.in_process_retries);
  }

  std::vector<Result> parse_results(const RunOutput& out) override {
    if (!out.result_present) return {}; // the host names the cause (result file missing)
    std::vector<std::string> warnings;
    auto results = py::parse_results(out.ids, out.result, {out.exit_code, out.term_signal, out.timed_out}, &warnings);
    for (auto& w : warnings) m_host.warn(w);
    return results;
  }

  uint32_t capabilities() const override { return OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES; }

private:
  Host m_host;
  py::Settings m_settings;
  std::string m_rootdir = ".";
  bool m_rootdir_known = false;
};

} // namespace

OFFLOAD_PLUGIN("dev.offload.pytest", "0.1.0", "pytest: exact node IDs via a bundled pytest plugin", [](Registry& r) {
  r.add_framework("pytest", [](const Host& host, const std::string&, const std::string& json) {
    return std::make_unique<PytestFramework>(host, json);
  });
})
