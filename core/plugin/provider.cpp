#include "plugin/provider.hpp"

#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

#include <spdlog/spdlog.h>

#include "plugin/library.hpp"
#include "process/event_loop.hpp"

namespace offload {

/// One operation's completion context. It lives until the instance is
/// destroyed, so a plugin that completes twice reaches a live object and is
/// reported instead of corrupting memory.
struct ProviderInstance::Pending {
  EventLoop* loop = nullptr;
  std::string what;
  std::string plugin;
  std::atomic<bool> fired{false};
  std::atomic<bool> closed{false}; ///< the instance is gone: late completions are dropped
  std::shared_ptr<std::vector<std::string>> misbehaviour;
  std::shared_ptr<std::mutex> mu;
  ProviderInstance::StatusCb status_cb;
  ProviderInstance::PrepareCb prepare_cb;
  ProviderInstance::CreateCb create_cb;
  ProviderInstance::ExecCb exec_cb;

  /// True the first time; records a contract violation afterwards.
  bool claim() {
    if (closed.load()) return false;
    if (!fired.exchange(true)) return true;
    report("completed '" + what + "' more than once (ignored)");
    return false;
  }

  void report(const std::string& violation) {
    std::string msg = "plugin " + plugin + " misbehaved: " + violation;
    spdlog::warn("{}", msg);
    std::lock_guard<std::mutex> lock(*mu);
    misbehaviour->push_back(msg);
  }

  /// A status outside the v1 enum becomes OFFLOAD_E_PLUGIN (reported).
  offload_status checked(offload_status st) {
    if (st >= OFFLOAD_OK && st <= OFFLOAD_E_TRANSIENT) return st;
    report("completed '" + what + "' with unknown status " + std::to_string(st) + " (treated as an error)");
    return OFFLOAD_E_PLUGIN;
  }
};

namespace {
std::string s(const char* p) { return p ? std::string(p) : std::string(); }
} // namespace

ProviderInstance::ProviderInstance(std::shared_ptr<LoadedLibrary> lib, offload_provider* p, std::string name, EventLoop& loop)
    : m_lib(std::move(lib)), m_p(p), m_name(std::move(name)), m_loop(loop),
      m_misbehaviour(std::make_shared<std::vector<std::string>>()) {}

namespace {
/// Instances whose plugin still owes completions, kept alive (and reachable,
/// so leak checkers do not flag them) until the process exits.
struct Quarantined {
  std::vector<std::shared_ptr<ProviderInstance::Pending>> pending;
  std::shared_ptr<LoadedLibrary> lib;
  offload_provider* provider;
};
std::vector<Quarantined>& quarantine() {
  static auto* q = new std::vector<Quarantined>;
  return *q;
}
} // namespace

ProviderInstance::~ProviderInstance() {
  size_t open = 0;
  for (auto& p : m_pending) {
    p->closed = true;
    if (!p->fired.load()) ++open;
  }
  if (open > 0) {
    // The plugin still owes completions (it broke its contract, and the host
    // abandoned them). Destroying the instance or unloading the library now
    // could let a late completion run freed code: leak both on purpose.
    spdlog::warn("plugin {}: {} operation(s) never completed; leaving the provider instance undestroyed", m_name, open);
    quarantine().push_back({std::move(m_pending), m_lib, m_p});
    return;
  }
  if (m_p && OFFLOAD_HAS_FIELD(m_p, offload_provider, destroy) && m_p->destroy) {
    try {
      m_p->destroy(m_p);
    } catch (...) {
      spdlog::warn("plugin {} misbehaved: a C++ exception escaped from destroy", m_name);
    }
  }
}

std::string check_provider_table(const offload_provider* p) {
  if (!p) return "create returned NULL";
  // The host may call every function up to project_dir: the table must cover them.
  constexpr size_t need = offsetof(offload_provider, project_dir) + sizeof(p->project_dir);
  if (p->struct_size < need) {
    return "provider table too small (struct_size " + std::to_string(p->struct_size) + ", need " +
           std::to_string(need) + " for prepare .. project_dir)";
  }
  std::string missing;
  if (!p->create_sandbox) missing += " create_sandbox";
  if (!p->exec) missing += " exec";
  if (!p->download) missing += " download";
  if (!p->destroy_sandbox) missing += " destroy_sandbox";
  if (!missing.empty()) return "provider table lacks" + missing;
  return {};
}

/// Call into the plugin; an escaping C++ exception (a plugin written without
/// the helper) fails the operation instead of unwinding through the host.
offload_op_id ProviderInstance::call(const std::shared_ptr<Pending>& pending, const std::function<offload_op_id()>& f,
                                     const std::function<void(std::string)>& fail) {
  std::string what;
  try {
    return f();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  std::string msg = "a C++ exception escaped from " + pending->what + ": " + what;
  pending->report(msg);
  if (!pending->fired.exchange(true)) {
    m_loop.post([fail, msg = "plugin " + m_name + " misbehaved: " + msg] { fail(msg); });
  }
  return 0;
}

namespace {
std::shared_ptr<std::mutex> g_mu = std::make_shared<std::mutex>();
}

#define OFFLOAD_NEW_PENDING(WHAT)                         \
  auto pending = std::make_shared<Pending>();             \
  pending->loop = &m_loop;                                \
  pending->what = WHAT;                                   \
  pending->plugin = m_name;                               \
  pending->misbehaviour = m_misbehaviour;                 \
  pending->mu = g_mu;                                     \
  m_pending.push_back(pending)

bool ProviderInstance::has_prepare() const { return m_p->prepare != nullptr; }

offload_op_id ProviderInstance::prepare(const PrepareSpec& spec, PrepareCb done) {
  if (!m_p->prepare) {
    m_loop.post([done = std::move(done)] { done(OFFLOAD_OK, "", ""); });
    return 0;
  }
  OFFLOAD_NEW_PENDING("prepare");
  pending->prepare_cb = std::move(done);
  std::vector<const char*> dirs;
  for (auto& d : spec.copy_dirs) dirs.push_back(d.c_str());
  auto opt = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
  offload_prepare_request req{sizeof req,
                              spec.no_cache ? 1 : 0,
                              dirs.data(),
                              dirs.size(),
                              opt(spec.base_image_id),
                              opt(spec.patch_file),
                              opt(spec.context_dir),
                              opt(spec.sandbox_init_cmd),
                              opt(spec.post_patch_cmd)};
  offload_prepare_done cb{sizeof cb, pending.get(), [](void* ctx, offload_status st, const char* image, const char* msg) {
                            auto* p = static_cast<Pending*>(ctx);
                            if (!p->claim()) return;
                            st = p->checked(st);
                            p->loop->post([p, st, i = s(image), m = s(msg)] { p->prepare_cb(st, i, m); });
                          }};
  return call(pending, [&] { return m_p->prepare(m_p, &req, &cb); },
              [p = pending.get()](std::string m) { p->prepare_cb(OFFLOAD_E_PLUGIN, "", m); });
}

offload_op_id ProviderInstance::create(unsigned index, const std::string& image_id,
                                       const std::vector<std::pair<std::string, std::string>>& env, CreateCb done) {
  OFFLOAD_NEW_PENDING("create sandbox " + std::to_string(index));
  pending->create_cb = std::move(done);
  std::vector<offload_env_var> e;
  for (auto& kv : env) e.push_back({kv.first.c_str(), kv.second.c_str()});
  offload_sandbox_spec spec{sizeof spec, index, image_id.empty() ? nullptr : image_id.c_str(), e.data(), e.size()};
  offload_create_done cb{sizeof cb, pending.get(),
                         [](void* ctx, offload_status st, offload_sandbox* sb, const char* id, const char* msg) {
                           auto* p = static_cast<Pending*>(ctx);
                           if (!p->claim()) return;
                           st = p->checked(st);
                           p->loop->post([p, st, sb, i = s(id), m = s(msg)] { p->create_cb(st, sb, i, m); });
                         }};
  return call(pending, [&] { return m_p->create_sandbox(m_p, &spec, &cb); },
              [p = pending.get()](std::string m) { p->create_cb(OFFLOAD_E_PLUGIN, nullptr, "", m); });
}

offload_op_id ProviderInstance::exec(offload_sandbox* sb, const CommandSpec& cmd, const std::string& stdout_path,
                                     const std::string& stderr_path, uint64_t timeout_ms, ExecCb done) {
  OFFLOAD_NEW_PENDING("exec");
  pending->exec_cb = std::move(done);
  std::vector<const char*> argv;
  for (auto& a : cmd.argv) argv.push_back(a.c_str());
  std::vector<offload_env_var> env;
  for (auto& kv : cmd.env) env.push_back({kv.first.c_str(), kv.second.c_str()});
  offload_command c{sizeof c, argv.data(), argv.size(), env.data(), env.size(), cmd.cwd.empty() ? nullptr : cmd.cwd.c_str()};
  offload_exec_request req{sizeof req, &c, stdout_path.c_str(), stderr_path.c_str(), timeout_ms};
  offload_exec_done cb{sizeof cb, pending.get(),
                       [](void* ctx, offload_status st, const offload_exec_result* r, const char* msg) {
                         auto* p = static_cast<Pending*>(ctx);
                         if (!p->claim()) return;
                         ExecOutcome o;
                         o.status = p->checked(st);
                         o.message = s(msg);
                         if (r && OFFLOAD_HAS_FIELD(r, offload_exec_result, timed_out)) {
                           o.exit_code = r->exit_code;
                           o.term_signal = r->term_signal;
                           o.timed_out = r->timed_out != 0;
                           if (OFFLOAD_HAS_FIELD(r, offload_exec_result, duration_ms)) o.duration_ms = r->duration_ms;
                         } else if (r && o.status == OFFLOAD_OK) {
                           p->report("completed 'exec' with a result whose struct_size (" + std::to_string(r->struct_size) +
                                     ") does not cover exit_code, term_signal and timed_out (treated as an error)");
                           o.status = OFFLOAD_E_PLUGIN;
                           o.message = "plugin " + p->plugin + " misbehaved: exec result struct too small";
                         } else if (!r && o.status == OFFLOAD_OK) {
                           p->report("completed 'exec' OK without a result (treated as an error)");
                           o.status = OFFLOAD_E_PLUGIN;
                           o.message = "plugin " + p->plugin + " misbehaved: exec completed OK without a result";
                         }
                         if (o.status != st && o.message.empty()) {
                           o.message = "plugin " + p->plugin + " misbehaved: unknown status " + std::to_string(st);
                         }
                         p->loop->post([p, o = std::move(o)] { p->exec_cb(o); });
                       }};
  return call(pending, [&] { return m_p->exec(m_p, sb, &req, &cb); }, [p = pending.get()](std::string m) {
    ExecOutcome o;
    o.status = OFFLOAD_E_PLUGIN;
    o.message = std::move(m);
    p->exec_cb(o);
  });
}

offload_op_id ProviderInstance::download(offload_sandbox* sb,
                                         const std::vector<std::pair<std::string, std::string>>& remote_local,
                                         StatusCb done) {
  OFFLOAD_NEW_PENDING("download");
  pending->status_cb = std::move(done);
  std::vector<offload_path_pair> pairs;
  for (auto& rl : remote_local) pairs.push_back({rl.first.c_str(), rl.second.c_str()});
  offload_download_request req{sizeof req, pairs.data(), pairs.size()};
  offload_status_done cb{sizeof cb, pending.get(), [](void* ctx, offload_status st, const char* msg) {
                           auto* p = static_cast<Pending*>(ctx);
                           if (!p->claim()) return;
                           st = p->checked(st);
                           p->loop->post([p, st, m = s(msg)] { p->status_cb(st, m); });
                         }};
  return call(pending, [&] { return m_p->download(m_p, sb, &req, &cb); },
              [p = pending.get()](std::string m) { p->status_cb(OFFLOAD_E_PLUGIN, m); });
}

offload_op_id ProviderInstance::destroy(offload_sandbox* sb, StatusCb done) {
  OFFLOAD_NEW_PENDING("destroy sandbox");
  pending->status_cb = std::move(done);
  offload_status_done cb{sizeof cb, pending.get(), [](void* ctx, offload_status st, const char* msg) {
                           auto* p = static_cast<Pending*>(ctx);
                           if (!p->claim()) return;
                           st = p->checked(st);
                           p->loop->post([p, st, m = s(msg)] { p->status_cb(st, m); });
                         }};
  return call(pending, [&] { return m_p->destroy_sandbox(m_p, sb, &cb); },
              [p = pending.get()](std::string m) { p->status_cb(OFFLOAD_E_PLUGIN, m); });
}

void ProviderInstance::cancel(offload_op_id op) {
  if (!m_p->cancel || !op) return;
  try {
    m_p->cancel(m_p, op);
  } catch (...) {
    spdlog::warn("plugin {} misbehaved: a C++ exception escaped from cancel", m_name);
  }
}

std::string ProviderInstance::project_dir() const {
  if (!m_p->project_dir) return {};
  try {
    return s(m_p->project_dir(m_p));
  } catch (...) {
    spdlog::warn("plugin {} misbehaved: a C++ exception escaped from project_dir", m_name);
    return {};
  }
}

std::vector<std::string> ProviderInstance::misbehaviour() const {
  std::lock_guard<std::mutex> lock(*g_mu);
  return *m_misbehaviour;
}

} // namespace offload
