/// The `local` provider: every sandbox is a set of local child processes in
/// the project directory. Runs commands through the host's process service,
/// so timeouts and cancellation kill whole process groups.
#include <filesystem>
#include <map>
#include <mutex>
#include <offload/plugin.hpp>
#include <nlohmann/json.hpp>

namespace {

using offload::plugin::Command;
using offload::plugin::Error;
using offload::plugin::Host;
using offload::plugin::Provider;
using offload::plugin::ProviderConfig;
namespace fs = std::filesystem;

struct LocalSandbox {
  unsigned index = 0;
  offload::plugin::Env env;
};

std::string absolute_from(const std::string& base, const std::string& p) {
  if (p.empty()) return base;
  fs::path path(p);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (fs::path(base) / path).lexically_normal().string();
}

class LocalProvider : public Provider {
public:
  LocalProvider(const Host& host, const ProviderConfig& cfg) : m_host(host) {
    auto j = nlohmann::json::parse(cfg.config_json);
    auto o = nlohmann::json::parse(cfg.offload_json);
    std::string base = cfg.config_dir.empty() ? fs::current_path().string() : cfg.config_dir;
    std::string wd = j.value("working_dir", std::string());
    if (wd.empty()) wd = o.value("working_dir", std::string());
    m_dir = wd.empty() ? fs::current_path().string() : absolute_from(base, wd);
    if (!fs::is_directory(m_dir)) throw Error(OFFLOAD_E_INVALID, "provider.working_dir: not a directory: " + m_dir);
    m_shell = j.value("shell", std::string("/bin/sh"));
    if (m_shell.empty()) m_shell = "/bin/sh";
    if (j.contains("env") && j["env"].is_object()) {
      for (auto& [k, v] : j["env"].items()) m_env.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
  }

  void create_sandbox(offload_op_id, const SandboxSpec& spec, CreateCb done) override {
    auto* sb = new LocalSandbox{spec.index, m_env};
    for (auto& e : spec.env) sb->env.push_back(e);
    sb->env.emplace_back("OFFLOAD_ROOT", m_dir);
    sb->env.emplace_back("OFFLOAD_SANDBOX_INDEX", std::to_string(spec.index));
    done(OFFLOAD_OK, sb, "local-" + std::to_string(spec.index), "");
  }

  void exec(offload_op_id op, void* sandbox, const ExecRequest& req, ExecCb done) override {
    auto* sb = static_cast<LocalSandbox*>(sandbox);
    offload::plugin::ProcessSpec ps;
    ps.argv = req.command.argv;
    // Shell command strings from frameworks run with the configured shell.
    if (ps.argv.size() >= 3 && ps.argv[0] == "sh" && ps.argv[1] == "-c") ps.argv[0] = m_shell;
    ps.env = sb->env;
    for (auto& e : req.command.env) ps.env.push_back(e);
    ps.cwd = req.command.cwd ? absolute_from(m_dir, *req.command.cwd) : m_dir;
    ps.stdout_path = req.stdout_path;
    ps.stderr_path = req.stderr_path;
    ps.timeout_ms = req.timeout_ms;
    auto id = m_host.spawn(ps, [this, op, done](offload::plugin::ProcessResult r) {
      forget(op);
      if (r.status != OFFLOAD_OK) {
        done(r.status, {}, r.message);
        return;
      }
      ExecResult er;
      er.exit_code = r.exit_code;
      er.term_signal = r.term_signal;
      er.timed_out = r.timed_out;
      er.duration_ms = r.duration_ms;
      done(r.cancelled ? OFFLOAD_E_CANCELLED : OFFLOAD_OK, er, r.describe);
    });
    std::lock_guard<std::mutex> lock(m_mu);
    m_running[op] = id;
  }

  void download(offload_op_id, void*, const std::vector<std::pair<std::string, std::string>>& pairs,
                StatusCb done) override {
    std::string problems;
    for (auto& [remote, local] : pairs) {
      auto src = absolute_from(m_dir, remote);
      std::error_code ec;
      if (!fs::exists(src, ec)) continue; // absent result: the host reports it
      if (fs::path(local).has_parent_path()) fs::create_directories(fs::path(local).parent_path(), ec);
      if (fs::weakly_canonical(src, ec) == fs::weakly_canonical(local, ec)) continue;
      fs::copy_file(src, local, fs::copy_options::overwrite_existing, ec);
      if (ec) problems += src + ": " + ec.message() + "; ";
    }
    done(problems.empty() ? OFFLOAD_OK : OFFLOAD_E_IO, problems);
  }

  void destroy_sandbox(offload_op_id, void* sandbox, StatusCb done) override {
    delete static_cast<LocalSandbox*>(sandbox);
    done(OFFLOAD_OK, "");
  }

  void cancel(offload_op_id op) override {
    offload_op_id pid = 0;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      auto it = m_running.find(op);
      if (it != m_running.end()) pid = it->second;
    }
    if (pid) m_host.cancel(pid);
  }

  std::string project_dir() const override { return m_dir; }

private:
  void forget(offload_op_id op) {
    std::lock_guard<std::mutex> lock(m_mu);
    m_running.erase(op);
  }

  Host m_host;
  std::string m_dir;
  std::string m_shell;
  offload::plugin::Env m_env;
  std::mutex m_mu;
  std::map<offload_op_id, offload_op_id> m_running;
};

} // namespace

OFFLOAD_PLUGIN("dev.offload.local", "0.1.0", "Runs batches as local child processes",
               [](offload::plugin::Registry& r) {
                 r.add_provider("local", [](const Host& h, const ProviderConfig& c) {
                   return std::make_unique<LocalProvider>(h, c);
                 });
               })
