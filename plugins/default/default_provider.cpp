/// The `default` provider: every sandbox lifecycle step is a user-supplied
/// shell command (prepare/create/exec/download/destroy), run locally through
/// the host's process service. Nothing here blocks or starts threads: each
/// operation is a small state machine advanced by process completions.
///
/// Contract (docs/providers/default.md is the user-facing version):
///  - prepare_command: run with OFFLOAD_* variables describing the image to
///    build; its last non-empty stdout line is the image id.
///  - create_command: {image_id}, {cpu_cores}; last non-empty stdout line is
///    the sandbox id.
///  - exec_command: {sandbox_id}, {cpu_cores}, {command}; {command} is ONE
///    single-quoted shell word holding `cd ROOT || exit 125; K='v' ... argv`.
///    Exit codes 125 and 255 of exec_command mean "the sandbox or the
///    transport failed" (the test command's own 125/255 are reported as 1),
///    as does exec_command being killed by a signal we did not send.
///  - download_command: {sandbox_id}, {paths} ('remote':'local' pairs).
///  - destroy_command: {sandbox_id}.
///  - create, download and destroy are retried 3 times (0.5 s, 1 s, 2 s);
///    the waits are `sleep` processes, so cancellation reaches them too.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "default_plugin.hpp"

namespace offload::default_plugin {

std::unique_ptr<offload::plugin::Provider> make_provider(const offload::plugin::Host& host,
                                                         const offload::plugin::ProviderConfig& cfg);

namespace {

using offload::plugin::Env;
using offload::plugin::Error;
using offload::plugin::Host;
using offload::plugin::ProcessResult;
using offload::plugin::ProcessSpec;
using offload::plugin::Provider;
using offload::plugin::ProviderConfig;
namespace fs = std::filesystem;

/// A single argv element is limited to 128 KiB on Linux (MAX_ARG_STRLEN);
/// exec commands longer than this travel on stdin instead.
constexpr size_t kMaxInlineCommand = 100 * 1024;
/// Retries of create/download/destroy and the wait before each.
constexpr double kBackoffSecs[] = {0.5, 1.0, 2.0};
constexpr int kMaxRetries = 3;
/// Exit codes of exec_command that mean the sandbox, not the test, failed.
constexpr int kSandboxGone = 125;
constexpr int kTransportLost = 255;

/// POSIX single-quoting: the result is one shell word whose value is s.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// Ids made of harmless characters are substituted as they are (so
/// `docker exec "{sandbox_id}"` keeps working); anything else is quoted.
std::string quote_if_needed(const std::string& s) {
  bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-./:@%+=,").find(c) != std::string_view::npos;
  });
  return safe ? s : shell_quote(s);
}

bool valid_env_name(const std::string& k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

/// Replace {name} placeholders in one left-to-right pass, so substituted
/// values are never scanned again; unknown placeholders stay as written.
std::string substitute(const std::string& tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      auto close = tmpl.find('}', i + 1);
      if (close != std::string::npos) {
        auto it = values.find(tmpl.substr(i + 1, close - i - 1));
        if (it != values.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += tmpl[i++];
  }
  return out;
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

/// The last non-empty line of a command's stdout: the id it announces.
std::string last_line(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line)) {
    auto t = trim(line);
    if (!t.empty()) last = t;
  }
  return last;
}

std::string tail(const std::string& s, size_t n = 600) {
  auto t = trim(s);
  return t.size() <= n ? t : "..." + t.substr(t.size() - n);
}

std::string file_tail(const std::string& path, size_t n = 600) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  auto size = static_cast<size_t>(f.tellg());
  size_t from = size > n ? size - n : 0;
  f.seekg(static_cast<std::streamoff>(from));
  std::string s(size - from, '\0');
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  return tail(s, n);
}

std::string format_cores(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string describe_failure(const std::string& what, const ProcessResult& r) {
  std::string m = what;
  if (r.status != OFFLOAD_OK) return m + " could not start: " + r.message;
  if (r.timed_out) {
    m += " timed out";
  } else if (r.term_signal) {
    m += " was killed by signal " + std::to_string(r.term_signal);
  } else {
    m += " exited with code " + std::to_string(r.exit_code);
  }
  auto e = tail(r.err);
  if (!e.empty()) m += ": " + e;
  return m;
}

bool succeeded(const ProcessResult& r) {
  return r.status == OFFLOAD_OK && !r.cancelled && !r.timed_out && r.term_signal == 0 && r.exit_code == 0;
}

/// Failures worth another attempt: not a cancellation or a timeout (which
/// already waited timeout_secs), not "command not found/not executable".
bool retryable(const ProcessResult& r) {
  if (r.cancelled || r.timed_out) return false;
  if (r.status != OFFLOAD_OK) return r.status == OFFLOAD_E_TRANSIENT;
  return r.exit_code != 126 && r.exit_code != 127;
}

struct Sandbox {
  unsigned index = 0;
  std::string id;
  Env env; ///< provider env + spec env + OFFLOAD_ROOT, in override order
};

/// One provider operation: which host process (command or backoff sleep)
/// currently serves it, and whether it was cancelled.
struct OpState {
  offload_op_id proc = 0;
  bool cancelled = false;
};

class DefaultProvider : public Provider {
public:
  DefaultProvider(const Host& host, const ProviderConfig& cfg) : m_host(host) {
    auto j = nlohmann::json::parse(cfg.config_json);
    auto o = nlohmann::json::parse(cfg.offload_json);
    auto str = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
    m_prepare = str("prepare_command");
    m_create = str("create_command");
    m_exec = str("exec_command");
    m_download = str("download_command");
    m_destroy = str("destroy_command");
    for (auto [key, v] : {std::pair{"create_command", &m_create}, std::pair{"exec_command", &m_exec},
                          std::pair{"destroy_command", &m_destroy}}) {
      if (v->empty()) throw Error(OFFLOAD_E_INVALID, std::string("provider.") + key + " is required");
    }
    std::string base = cfg.config_dir.empty() ? fs::current_path().string() : cfg.config_dir;
    std::string wd = str("working_dir");
    m_cwd = wd.empty() ? base : (fs::path(wd).is_absolute() ? fs::path(wd) : fs::path(base) / wd).lexically_normal().string();
    if (!fs::is_directory(m_cwd)) throw Error(OFFLOAD_E_INVALID, "provider.working_dir: not a directory: " + m_cwd);
    if (j.contains("timeout_secs") && j["timeout_secs"].is_number()) {
      m_timeout_ms = static_cast<uint64_t>(std::max<int64_t>(1, j["timeout_secs"].get<int64_t>())) * 1000;
    }
    m_cores = format_cores(j.contains("cpu_cores") && j["cpu_cores"].is_number() ? j["cpu_cores"].get<double>() : 1.0);
    if (j.contains("env") && j["env"].is_object()) {
      for (auto& [k, v] : j["env"].items()) m_env.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    auto ostr = [&](const char* key) { return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : ""; };
    m_root = ostr("sandbox_project_root");
    if (m_root.empty()) m_root = ostr("sandbox_repo_root");
  }

  void prepare(offload_op_id op, const PrepareRequest& req, PrepareCb done) override {
    if (m_prepare.empty()) {
      done(OFFLOAD_OK, "", "");
      return;
    }
    std::string dirs;
    for (auto& d : req.copy_dirs) dirs += (dirs.empty() ? "" : "\n") + d;
    Env env = {{"OFFLOAD_COPY_DIRS", dirs},
               {"OFFLOAD_SANDBOX_INIT_CMD", req.sandbox_init_cmd},
               {"OFFLOAD_POST_PATCH_CMD", req.post_patch_cmd},
               {"OFFLOAD_BASE_IMAGE", req.base_image_id},
               {"OFFLOAD_PATCH_FILE", req.patch_file},
               {"OFFLOAD_CONTEXT_DIR", req.context_dir},
               {"OFFLOAD_PROJECT_ROOT", m_root},
               {"OFFLOAD_NO_CACHE", req.no_cache ? "1" : ""}};
    auto state = begin(op);
    // An image build is expensive and rarely transiently broken: no retries.
    run(op, state, "prepare_command", shell(m_prepare, std::move(env)), 0,
        [done](ProcessResult r, std::string msg) {
          if (r.cancelled) return done(OFFLOAD_E_CANCELLED, "", "prepare cancelled");
          if (!msg.empty()) return done(OFFLOAD_E_IO, "", msg);
          auto id = last_line(r.out);
          if (id.empty()) return done(OFFLOAD_E_IO, "", "prepare_command printed no image id (its last stdout line)");
          done(OFFLOAD_OK, id, "");
        });
  }

  void create_sandbox(offload_op_id op, const SandboxSpec& spec, CreateCb done) override {
    auto sb = std::make_shared<Sandbox>();
    sb->index = spec.index;
    // Later entries win: provider env, then the run's --env, then ours.
    std::map<std::string, std::string> seen;
    Env merged;
    auto add = [&](const std::string& k, const std::string& v) {
      if (!valid_env_name(k)) throw Error(OFFLOAD_E_INVALID, "environment variable name not usable in a shell: '" + k + "'");
      auto it = std::find_if(merged.begin(), merged.end(), [&](auto& e) { return e.first == k; });
      if (it != merged.end()) {
        it->second = v;
      } else {
        merged.emplace_back(k, v);
      }
    };
    for (auto& [k, v] : m_env) add(k, v);
    for (auto& [k, v] : spec.env) add(k, v);
    add("OFFLOAD_ROOT", m_root);
    add("OFFLOAD_SANDBOX_INDEX", std::to_string(spec.index));
    sb->env = std::move(merged);
    auto cmd = substitute(m_create, {{"image_id", quote_if_needed(spec.image_id)}, {"cpu_cores", m_cores}});
    auto state = begin(op);
    run(op, state, "create_command", shell(cmd, {{"OFFLOAD_SANDBOX_INDEX", std::to_string(spec.index)}}), kMaxRetries,
        [done, sb](ProcessResult r, std::string msg) {
          if (r.cancelled) return done(OFFLOAD_E_CANCELLED, nullptr, "", "create cancelled");
          if (!msg.empty()) return done(OFFLOAD_E_IO, nullptr, "", msg);
          sb->id = last_line(r.out);
          if (sb->id.empty()) return done(OFFLOAD_E_IO, nullptr, "", "create_command printed no sandbox id (its last stdout line)");
          auto id = sb->id;
          done(OFFLOAD_OK, new Sandbox(*sb), id, "");
        });
  }

  void exec(offload_op_id op, void* sandbox, const ExecRequest& req, ExecCb done) override {
    auto* sb = static_cast<Sandbox*>(sandbox);
    std::string inner = build_inner(*sb, req.command);
    ProcessSpec ps;
    std::string word = shell_quote(inner);
    std::string full = substitute(m_exec, {{"sandbox_id", quote_if_needed(sb->id)}, {"cpu_cores", m_cores}, {"command", word}});
    if (full.size() > kMaxInlineCommand) {
      // Too long for one argv element: the sandbox shell reads it from stdin
      // (exec_command must forward stdin: docker/kubectl exec -i, ssh, the
      // bundled scripts). The test command itself gets /dev/null as stdin.
      ps.stdin_data = inner;
      full = substitute(m_exec, {{"sandbox_id", quote_if_needed(sb->id)},
                                 {"cpu_cores", m_cores},
                                 {"command", shell_quote("c=$(cat) && eval \"$c\" </dev/null")}});
    }
    ps.argv = {"/bin/sh", "-c", full};
    ps.cwd = m_cwd;
    ps.stdout_path = req.stdout_path;
    ps.stderr_path = req.stderr_path;
    ps.timeout_ms = req.timeout_ms ? req.timeout_ms : m_timeout_ms;
    auto state = begin(op);
    std::string sid = sb->id, err_path = req.stderr_path;
    spawn(state, ps, [this, op, done, sid, err_path](ProcessResult r) {
      finish(op);
      ExecResult er;
      er.exit_code = r.exit_code;
      er.term_signal = r.term_signal;
      er.timed_out = r.timed_out;
      er.duration_ms = r.duration_ms;
      if (r.cancelled) return done(OFFLOAD_E_CANCELLED, er, "cancelled");
      if (r.status != OFFLOAD_OK) return done(OFFLOAD_E_IO, er, "exec_command could not start: " + r.message);
      if (r.timed_out) return done(OFFLOAD_OK, er, r.describe);
      if (r.term_signal || r.exit_code == kSandboxGone || r.exit_code == kTransportLost) {
        std::string why = r.term_signal ? "was killed by signal " + std::to_string(r.term_signal)
                                        : "exited with code " + std::to_string(r.exit_code) +
                                              (r.exit_code == kSandboxGone ? " (sandbox gone)" : " (transport lost)");
        auto e = file_tail(err_path, 300);
        return done(OFFLOAD_E_IO, er, "sandbox " + sid + ": exec_command " + why + (e.empty() ? "" : ": " + e));
      }
      done(OFFLOAD_OK, er, r.describe);
    });
  }

  void download(offload_op_id op, void* sandbox, const std::vector<std::pair<std::string, std::string>>& pairs,
                StatusCb done) override {
    auto* sb = static_cast<Sandbox*>(sandbox);
    if (m_download.empty()) {
      done(OFFLOAD_E_UNSUPPORTED, "provider.download_command is not set, so result files cannot be fetched from sandbox " +
                                      sb->id + " (set it, e.g. \"sh @dir_sandbox.sh download {sandbox_id} {paths}\")");
      return;
    }
    std::string paths;
    for (auto& [remote, local] : pairs) {
      std::error_code ec;
      auto parent = fs::path(local).parent_path();
      if (!parent.empty()) fs::create_directories(parent, ec);
      paths += (paths.empty() ? "" : " ") + shell_quote(remote) + ":" + shell_quote(local);
    }
    auto cmd = substitute(m_download, {{"sandbox_id", quote_if_needed(sb->id)}, {"cpu_cores", m_cores}, {"paths", paths}});
    auto state = begin(op);
    run(op, state, "download_command", shell(cmd, {}), kMaxRetries, [done](ProcessResult r, std::string msg) {
      if (r.cancelled) return done(OFFLOAD_E_CANCELLED, "download cancelled");
      done(msg.empty() ? OFFLOAD_OK : OFFLOAD_E_IO, msg);
    });
  }

  void destroy_sandbox(offload_op_id op, void* sandbox, StatusCb done) override {
    std::unique_ptr<Sandbox> sb(static_cast<Sandbox*>(sandbox));
    auto cmd = substitute(m_destroy, {{"sandbox_id", quote_if_needed(sb->id)}, {"cpu_cores", m_cores}});
    auto state = begin(op);
    std::string sid = sb->id;
    run(op, state, "destroy_command", shell(cmd, {}), kMaxRetries, [done, sid](ProcessResult r, std::string msg) {
      if (r.cancelled) return done(OFFLOAD_E_CANCELLED, "destroy of " + sid + " cancelled");
      done(msg.empty() ? OFFLOAD_OK : OFFLOAD_E_IO, msg);
    });
  }

  void cancel(offload_op_id op) override {
    offload_op_id proc = 0;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      auto it = m_ops.find(op);
      if (it == m_ops.end()) return;
      it->second->cancelled = true;
      proc = it->second->proc;
    }
    if (proc) m_host.cancel(proc);
  }

  std::string project_dir() const override { return m_root; }

  /// `cd ROOT || exit 125; [cd CWD || exit 1;] K='v' ... 'argv'...; rc=$?; ...`
  /// Every element is single-quoted, so IDs holding quotes, $(), backticks
  /// or newlines reach the test runner as data. The test command's own
  /// 125/255 become 1 so that those codes only ever mean "sandbox failed".
  std::string build_inner(const Sandbox& sb, const offload::plugin::Command& c) const {
    if (c.argv.empty()) throw Error(OFFLOAD_E_INVALID, "empty command");
    std::string s;
    if (!m_root.empty()) s += "cd " + shell_quote(m_root) + " || exit 125\n";
    if (c.cwd && !c.cwd->empty()) s += "cd " + shell_quote(*c.cwd) + " || exit 1\n";
    Env env = sb.env;
    for (auto& kv : c.env) {
      // Not a structured binding: clang 14 cannot capture those in lambdas.
      const std::string& k = kv.first;
      const std::string& v = kv.second;
      if (!valid_env_name(k)) throw Error(OFFLOAD_E_INVALID, "environment variable name not usable in a shell: '" + k + "'");
      auto it = std::find_if(env.begin(), env.end(), [&](auto& e) { return e.first == k; });
      if (it != env.end()) {
        it->second = v;
      } else {
        env.emplace_back(k, v);
      }
    }
    for (auto& [k, v] : env) s += k + "=" + shell_quote(v) + " ";
    for (size_t i = 0; i < c.argv.size(); ++i) s += (i ? " " : "") + shell_quote(c.argv[i]);
    s += "\nrc=$?\n"
         "if [ \"$rc\" -eq 125 ] || [ \"$rc\" -eq 255 ]; then\n"
         "  echo \"offload: the test command exited $rc; reported as 1 (125 and 255 mean 'sandbox failed')\" >&2; rc=1\n"
         "fi\n"
         "exit \"$rc\"";
    return s;
  }

private:
  using Then = std::function<void(ProcessResult, std::string error)>;

  ProcessSpec shell(const std::string& cmd, Env env) const {
    ProcessSpec ps;
    ps.argv = {"/bin/sh", "-c", cmd};
    ps.env = std::move(env);
    ps.cwd = m_cwd;
    ps.timeout_ms = m_timeout_ms;
    ps.capture_limit = 1 << 20;
    return ps;
  }

  std::shared_ptr<OpState> begin(offload_op_id op) {
    auto st = std::make_shared<OpState>();
    std::lock_guard<std::mutex> lock(m_mu);
    m_ops[op] = st;
    return st;
  }

  void finish(offload_op_id op) {
    std::lock_guard<std::mutex> lock(m_mu);
    m_ops.erase(op);
  }

  /// Start one host process for an operation and record it for cancel().
  void spawn(const std::shared_ptr<OpState>& st, const ProcessSpec& ps, std::function<void(ProcessResult)> then) {
    {
      std::lock_guard<std::mutex> lock(m_mu);
      if (st->cancelled) {
        ProcessResult r;
        r.cancelled = true;
        then(std::move(r));
        return;
      }
    }
    auto alive = std::make_shared<bool>(true);
    auto id = m_host.spawn(ps, [this, st, alive, then = std::move(then)](ProcessResult r) {
      {
        std::lock_guard<std::mutex> lock(m_mu);
        *alive = false;
        st->proc = 0;
        if (st->cancelled) r.cancelled = true;
      }
      then(std::move(r));
    });
    std::lock_guard<std::mutex> lock(m_mu);
    if (*alive) st->proc = id; // a completion that already ran (inline) must not leave a stale id
  }

  /// Run a command with up to `retries` retries after retryable failures,
  /// waiting kBackoffSecs between attempts by running `sleep`. then() gets
  /// the last result and an error message ("" on success).
  void run(offload_op_id op, std::shared_ptr<OpState> st, std::string what, ProcessSpec ps, int retries, Then then,
           int attempt = 0) {
    m_host.debug("default provider: " + what + ": " + ps.argv.back());
    spawn(st, ps, [=, this](ProcessResult r) {
      if (succeeded(r) || r.cancelled) {
        finish(op);
        return then(std::move(r), "");
      }
      auto msg = describe_failure(what, r);
      if (attempt >= retries || !retryable(r)) {
        finish(op);
        if (attempt > 0) msg += " (after " + std::to_string(attempt + 1) + " attempts)";
        return then(std::move(r), msg);
      }
      double wait = kBackoffSecs[std::min(attempt, 2)];
      m_host.warn("default provider: " + msg + "; retrying in " + format_cores(wait) + "s");
      ProcessSpec sleep;
      sleep.argv = {"sleep", format_cores(wait)};
      spawn(st, sleep, [=, this](ProcessResult s) {
        if (s.cancelled) {
          finish(op);
          return then(std::move(s), "");
        }
        run(op, st, what, ps, retries, then, attempt + 1);
      });
    });
  }

  Host m_host;
  std::string m_prepare, m_create, m_exec, m_download, m_destroy;
  std::string m_cwd, m_root, m_cores;
  uint64_t m_timeout_ms = 3600 * 1000;
  Env m_env;
  std::mutex m_mu;
  std::map<offload_op_id, std::shared_ptr<OpState>> m_ops;
};

} // namespace

std::unique_ptr<offload::plugin::Provider> make_provider(const offload::plugin::Host& host,
                                                         const offload::plugin::ProviderConfig& cfg) {
  return std::make_unique<DefaultProvider>(host, cfg);
}

} // namespace offload::default_plugin
