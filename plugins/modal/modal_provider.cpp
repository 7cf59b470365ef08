/// The `modal` provider: each sandbox is a Modal Sandbox, driven by running
/// modal_sandbox.py (prepare/create/exec/download/destroy) through the host's
/// process service. The script travels inside this library and is written to
/// the user cache on first use, so the plugin needs nothing from core but the
/// ABI. Which Python runs it: OFFLOAD_MODAL_LAUNCHER, else `uv run` (the
/// script's PEP 723 header installs `modal`), else python3 with `modal`
/// importable.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <offload/plugin.hpp>

#include "modal_commands.hpp"

namespace {

#include "modal_script.inc"

using offload::plugin::Error;
using offload::plugin::Host;
using offload::plugin::ProcessResult;
using offload::plugin::ProcessSpec;
using offload::plugin::Provider;
using offload::plugin::ProviderConfig;
namespace fs = std::filesystem;
namespace om = offload::modal;

/// One Modal sandbox, as offload holds it.
struct ModalSandbox {
  std::string id;
};

std::string absolute_from(const std::string& base, const std::string& p) {
  fs::path path(p);
  if (path.is_absolute())
    return path.lexically_normal().string();
  return (fs::path(base) / path).lexically_normal().string();
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path)
    return false;
  std::istringstream in(path);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty())
      continue;
    if (::access((fs::path(dir) / program).c_str(), X_OK) == 0)
      return true;
  }
  return false;
}

/// FNV-1a of the embedded script: the cache directory name, so two plugin
/// versions never overwrite each other's copy.
std::string script_hash() {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < k_modal_script_size; ++i) {
    h ^= k_modal_script[i];
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// Writes the embedded modal_sandbox.py under the user cache (once per
/// content) and returns its path. OFFLOAD_MODAL_SCRIPT overrides the copy.
std::string extract_script() {
  if (const char* over = std::getenv("OFFLOAD_MODAL_SCRIPT"); over && *over)
    return over;
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = std::string(h) + "/.cache";
  } else {
    base = fs::temp_directory_path().string();
  }
  fs::path dir = fs::path(base) / "offload" / "modal" / script_hash();
  fs::path path = dir / "modal_sandbox.py";
  std::string_view content(reinterpret_cast<const char*>(k_modal_script), k_modal_script_size);
  if (auto existing = read_text(path.string()); existing && *existing == content)
    return path.string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error(OFFLOAD_E_IO, "cannot create " + dir.string() + ": " + ec.message());
  fs::path tmp = dir / ("modal_sandbox.py." + std::to_string(::getpid()) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out)
      throw Error(OFFLOAD_E_IO, "cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), 0755);
  fs::rename(tmp, path, ec);
  if (ec)
    throw Error(OFFLOAD_E_IO, "cannot write " + path.string() + ": " + ec.message());
  return path.string();
}

class ModalProvider : public Provider {
public:
  ModalProvider(const Host& host, const ProviderConfig& cfg) : m_host(host) {
    auto j = nlohmann::json::parse(cfg.config_json);
    auto o = nlohmann::json::parse(cfg.offload_json);
    std::string cwd = fs::current_path().string();
    std::string config_dir = cfg.config_dir.empty() ? cwd : cfg.config_dir;

    // Roots inside the sandbox: the repository and where commands run.
    std::string repo = o.value("sandbox_repo_root", std::string());
    std::string project = o.value("sandbox_project_root", std::string());
    if (repo.empty())
      repo = project.empty() ? "/app" : project;
    if (project.empty())
      project = repo;
    for (auto* r : {&repo, &project}) {
      if (r->empty() || (*r)[0] != '/') {
        throw Error(OFFLOAD_E_INVALID, "provider type 'modal' needs absolute sandbox roots (e.g. \"/app\"), got \"" +
                                           *r + "\" in offload.sandbox_repo_root/sandbox_project_root");
      }
    }
    m_s.repo_root = fs::path(repo).lexically_normal().string();
    m_s.project_root = fs::path(project).lexically_normal().string();

    // The local working tree that include_cwd copies.
    std::string wd = o.value("working_dir", std::string());
    m_s.context_dir = wd.empty() ? cwd : absolute_from(config_dir, wd);

    if (auto df = j.value("dockerfile", std::string()); !df.empty()) {
      // The spec's examples name the Dockerfile from the project root; accept
      // it relative to offload.toml too.
      std::string a = absolute_from(cwd, df), b = absolute_from(config_dir, df);
      m_s.dockerfile = fs::exists(a) ? a : fs::exists(b) ? b : a;
      if (!fs::exists(m_s.dockerfile)) {
        throw Error(OFFLOAD_E_INVALID, "provider.dockerfile: no such file: " + df);
      }
    }
    m_s.include_cwd = j.value("include_cwd", false);
    if (j.contains("cpu_cores") && j["cpu_cores"].is_number())
      m_s.cpu_cores = j["cpu_cores"].get<double>();
    if (m_s.cpu_cores <= 0)
      throw Error(OFFLOAD_E_INVALID, "provider.cpu_cores must be positive");
    if (j.contains("memory_gb") && j["memory_gb"].is_number())
      m_s.memory_gb = j["memory_gb"].get<double>();
    if (j.contains("experimental_options")) {
      if (!j["experimental_options"].is_object()) {
        throw Error(OFFLOAD_E_INVALID, "provider.experimental_options must be a table");
      }
      m_s.experimental_json = j["experimental_options"].dump();
    }
    if (j.contains("env") && j["env"].is_object()) {
      for (auto& [k, v] : j["env"].items())
        m_s.env.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    // The report directory, when it sits in the tree, is not part of the image.
    if (!cfg.output_dir.empty()) {
      auto rel = fs::path(cfg.output_dir).lexically_relative(m_s.context_dir);
      if (!rel.empty() && rel.string() != "." && *rel.begin() != "..")
        m_s.ignore.push_back(rel.string());
    }
    int test_timeout = o.value("test_timeout_secs", 900);
    m_s.sandbox_timeout_secs = std::clamp(3600 + 2 * test_timeout, 3600, 86400);

    m_launcher = om::launcher(std::getenv("OFFLOAD_MODAL_LAUNCHER"), on_path("uv"));
    m_script = extract_script();
    m_status_dir = (fs::temp_directory_path() / ("offload-modal-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(reinterpret_cast<uintptr_t>(this))))
                       .string();
  }

  ~ModalProvider() override {
    std::error_code ec;
    fs::remove_all(m_status_dir, ec);
  }

  void prepare(offload_op_id op, const PrepareRequest& req, PrepareCb done) override {
    om::PrepareArgs p;
    p.no_cache = req.no_cache;
    std::string cwd = fs::current_path().string();
    for (auto& d : req.copy_dirs) {
      auto colon = d.find(':');
      if (colon == std::string::npos)
        throw Error(OFFLOAD_E_INVALID, "copy_dirs: expected local:remote, got " + d);
      p.copy_dirs.push_back(absolute_from(cwd, d.substr(0, colon)) + d.substr(colon));
    }
    p.base_image_id = req.base_image_id;
    p.patch_file = req.patch_file;
    p.context_dir = req.context_dir;
    p.sandbox_init_cmd = req.sandbox_init_cmd;
    p.post_patch_cmd = req.post_patch_cmd;
    run(op, om::prepare_args(m_s, p), "", [done](const ProcessResult& r, const std::string& why) {
      if (!why.empty())
        return done(r.cancelled ? OFFLOAD_E_CANCELLED : OFFLOAD_E_IO, "", "prepare: " + why);
      auto id = om::last_line(r.out);
      if (id.empty())
        return done(OFFLOAD_E_PARSE, "", "prepare: modal_sandbox.py printed no image id");
      done(OFFLOAD_OK, id, "");
    });
  }

  void create_sandbox(offload_op_id op, const SandboxSpec& spec, CreateCb done) override {
    om::Env env;
    for (const om::Env* from : std::initializer_list<const om::Env*>{&m_s.env, &spec.env}) {
      for (auto& [k, v] : *from) {
        // Modal Secret keys are letters, digits and underscores, not starting with a digit.
        bool ok = !k.empty() && !(k[0] >= '0' && k[0] <= '9') && std::all_of(k.begin(), k.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
        if (ok) {
          env.emplace_back(k, v);
        } else {
          m_host.warn("modal: environment variable '" + k + "' is not a valid Secret key; not passed");
        }
      }
    }
    env.emplace_back("OFFLOAD_ROOT", m_s.project_root);
    env.emplace_back("OFFLOAD_SANDBOX_INDEX", std::to_string(spec.index));
    if (spec.image_id.empty())
      return done(OFFLOAD_E_INVALID, nullptr, "", "create: no image (prepare did not run)");
    run(op, om::create_args(m_s, spec.image_id), om::create_stdin(env),
        [done](const ProcessResult& r, const std::string& why) {
          if (!why.empty())
            return done(r.cancelled ? OFFLOAD_E_CANCELLED : OFFLOAD_E_IO, nullptr, "", "create: " + why);
          auto id = om::last_line(r.out);
          if (id.empty())
            return done(OFFLOAD_E_PARSE, nullptr, "", "create: modal_sandbox.py printed no sandbox id");
          done(OFFLOAD_OK, new ModalSandbox{id}, id, "");
        });
  }

  void exec(offload_op_id op, void* sandbox, const ExecRequest& req, ExecCb done) override {
    auto* sb = static_cast<ModalSandbox*>(sandbox);
    std::vector<std::string> dropped;
    std::string command =
        om::remote_command(m_s.project_root, req.command.argv, req.command.env, req.command.cwd, &dropped);
    for (auto& d : dropped)
      m_host.warn("modal: environment variable '" + d + "' is not a shell name; not passed");
    std::error_code ec;
    fs::create_directories(m_status_dir, ec);
    std::string status = m_status_dir + "/exec-" + std::to_string(op) + ".json";
    fs::remove(status, ec);
    ProcessSpec ps = spec(om::exec_args(sb->id, command, req.timeout_ms, status));
    ps.stdout_path = req.stdout_path;
    ps.stderr_path = req.stderr_path;
    // The script enforces the timeout in the sandbox; killing the local client
    // is only the backstop for a script that cannot reach Modal.
    ps.timeout_ms = req.timeout_ms ? req.timeout_ms + 30000 : 0;
    uint64_t timeout_ms = req.timeout_ms;
    spawn(op, ps, [done, status, timeout_ms](const ProcessResult& r) {
      auto st = om::parse_exec_status(read_text(status));
      std::error_code ec2;
      fs::remove(status, ec2);
      ExecResult er;
      er.duration_ms = r.duration_ms;
      if (r.status != OFFLOAD_OK)
        return done(r.status, er, "modal_sandbox.py did not start: " + r.message);
      if (r.cancelled)
        return done(OFFLOAD_E_CANCELLED, er, "cancelled");
      if (!st.present) {
        if (r.timed_out) {
          er.timed_out = true;
          return done(OFFLOAD_OK, er, "timed out (the Modal client did not return)");
        }
        return done(OFFLOAD_E_IO, er,
                    "modal_sandbox.py exec ended (" + r.describe +
                        ") without the command's status; see the batch's stderr");
      }
      if (!st.error.empty())
        return done(OFFLOAD_E_IO, er, "modal exec: " + st.error);
      int rc = *st.returncode;
      er.timed_out = st.timed_out || (timeout_ms && r.timed_out);
      if (rc < 0) {
        er.term_signal = -rc;
      } else {
        er.exit_code = rc;
      }
      done(OFFLOAD_OK, er, er.timed_out ? "timed out" : "");
    });
  }

  void download(offload_op_id op, void* sandbox, const std::vector<std::pair<std::string, std::string>>& pairs,
                StatusCb done) override {
    auto* sb = static_cast<ModalSandbox*>(sandbox);
    if (pairs.empty())
      return done(OFFLOAD_OK, "");
    run(op, om::download_args(sb->id, pairs), "", [done](const ProcessResult& r, const std::string& why) {
      if (!why.empty())
        return done(r.cancelled ? OFFLOAD_E_CANCELLED : OFFLOAD_E_IO, "download: " + why);
      done(OFFLOAD_OK, "");
    });
  }

  /// Destroys are coalesced: those requested within a short window (the
  /// executor tears all sandboxes down at once) go to one `destroy-many`,
  /// one Python process instead of one per sandbox.
  void destroy_sandbox(offload_op_id, void* sandbox, StatusCb done) override {
    std::unique_ptr<ModalSandbox> sb(static_cast<ModalSandbox*>(sandbox));
    bool start_window = false;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_pending_destroy.emplace_back(sb->id, std::move(done));
      start_window = !m_destroy_window_open;
      m_destroy_window_open = true;
    }
    if (!start_window)
      return;
    ProcessSpec wait;
    wait.argv = {"sleep", "0.1"};
    m_host.spawn(wait, [this](ProcessResult) { flush_destroys(); });
  }

  void cancel(offload_op_id op) override {
    offload_op_id pid = 0;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      auto it = m_running.find(op);
      if (it != m_running.end())
        pid = it->second;
    }
    if (pid)
      m_host.cancel(pid);
  }

  std::string project_dir() const override { return m_s.project_root; }

private:
  using Done = std::function<void(const ProcessResult&, const std::string& why_failed)>;

  ProcessSpec spec(std::vector<std::string> args) const {
    ProcessSpec ps;
    ps.argv = m_launcher;
    ps.argv.push_back(m_script);
    ps.argv.insert(ps.argv.end(), args.begin(), args.end());
    return ps;
  }

  void spawn(offload_op_id op, const ProcessSpec& ps, std::function<void(const ProcessResult&)> done) {
    std::lock_guard<std::mutex> lock(m_mu);
    // on_exit never runs inside spawn, so registering under the lock is safe.
    m_running[op] = m_host.spawn(ps, [this, op, done](ProcessResult r) {
      {
        std::lock_guard<std::mutex> l(m_mu);
        m_running.erase(op);
      }
      done(r);
    });
  }

  /// Runs a subcommand whose stdout is small (an id); why_failed says what
  /// went wrong (empty on exit 0), with the tail of its stderr.
  void run(offload_op_id op, std::vector<std::string> args, const std::string& stdin_data, Done done) {
    ProcessSpec ps = spec(std::move(args));
    ps.capture_limit = 1 << 20;
    ps.stdin_data = stdin_data;
    spawn(op, ps, [done](const ProcessResult& r) {
      std::string why;
      if (r.status != OFFLOAD_OK) {
        why = "modal_sandbox.py did not start: " + r.message;
      } else if (r.cancelled) {
        why = "cancelled";
      } else if (r.timed_out || r.term_signal || r.exit_code != 0) {
        why = "modal_sandbox.py " + r.describe;
        auto t = om::tail(r.err);
        if (!t.empty())
          why += ": " + t;
      }
      done(r, why);
    });
  }

  void flush_destroys() {
    std::vector<std::pair<std::string, StatusCb>> batch;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      batch.swap(m_pending_destroy);
      m_destroy_window_open = false;
    }
    if (batch.empty())
      return;
    ProcessSpec ps;
    if (batch.size() == 1) {
      ps = spec({"destroy", batch[0].first});
    } else {
      ps = spec({"destroy-many"});
      for (auto& b : batch)
        ps.stdin_data += b.first + "\n";
    }
    ps.capture_limit = 1 << 16;
    ps.timeout_ms = 120000;
    auto shared = std::make_shared<std::vector<std::pair<std::string, StatusCb>>>(std::move(batch));
    m_host.spawn(ps, [this, shared](ProcessResult r) {
      std::string msg;
      offload_status st = OFFLOAD_OK;
      if (r.status != OFFLOAD_OK) {
        st = r.status;
        msg = "modal_sandbox.py did not start: " + r.message;
      } else if (r.timed_out || r.term_signal || r.exit_code != 0) {
        st = OFFLOAD_E_IO;
        msg = "modal_sandbox.py " + r.describe + ": " + om::tail(r.err);
      } else if (!r.err.empty()) {
        m_host.warn("modal: " + om::tail(r.err)); // destroy-many reports per-sandbox failures here
      }
      for (auto& [id, cb] : *shared)
        cb(st, msg);
    });
  }

  Host m_host;
  om::Settings m_s;
  std::vector<std::string> m_launcher;
  std::string m_script;
  std::string m_status_dir;
  std::mutex m_mu;
  std::map<offload_op_id, offload_op_id> m_running;
  std::vector<std::pair<std::string, StatusCb>> m_pending_destroy;
  bool m_destroy_window_open = false;
};

} // namespace

OFFLOAD_PLUGIN("dev.offload.modal", "0.1.0", "Runs batches in Modal sandboxes through modal_sandbox.py",
               [](offload::plugin::Registry& r) {
                 r.add_provider("modal", [](const Host& h, const ProviderConfig& c) {
                   return std::make_unique<ModalProvider>(h, c);
                 });
               })
