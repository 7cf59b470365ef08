// Header-only C++17 helper over offload/plugin.h for plugin authors.
//
// A plugin author writes a class, not trampolines:
//
//   class MyFramework : public offload::plugin::Framework { ... };
//   OFFLOAD_PLUGIN("com.acme.myfw", "1.0.0", "My framework", [](offload::plugin::Registry& r) {
//     r.add_framework("myfw", [](const offload::plugin::Host& h, const std::string& type,
//                                const std::string& config_json) {
//       return std::make_unique<MyFramework>(h, config_json);
//     });
//   })
//
// Trampolines are noexcept: an exception thrown by plugin code becomes an
// OFFLOAD_E_PLUGIN status (or the code of an offload::plugin::Error) with the
// exception's message, and never crosses the C boundary.
#ifndef OFFLOAD_PLUGIN_HPP
#define OFFLOAD_PLUGIN_HPP

#include <offload/plugin.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace offload {
namespace plugin {

/// Throw this from plugin code to report a specific status.
class Error : public std::runtime_error {
public:
  Error(offload_status code, const std::string& msg) : std::runtime_error(msg), m_code(code) {}
  offload_status code() const { return m_code; }

private:
  offload_status m_code;
};

using Env = std::vector<std::pair<std::string, std::string>>;

/// A command to run (argv + extra env + optional cwd).
struct Command {
  std::vector<std::string> argv;
  Env env;
  std::optional<std::string> cwd;
};

struct Test {
  std::string id;
  std::string name;
  std::string file;
  int line = 0;
};

struct Result {
  std::string id;
  offload_test_status status = OFFLOAD_TEST_PASSED;
  double duration_secs = 0;
  std::string message, type, text, system_out, system_err, name, classname;
  unsigned attempt = 0; ///< 0: ran once; N >= 1: attempt N of an in-process rerun (see RunRequest::in_process_retries)
};

struct JunitCase {
  std::string name, classname, file;
  double time_secs = 0;
  offload_test_status status = OFFLOAD_TEST_PASSED;
  std::string message, type, text, system_out, system_err;
};

struct ProcessResult {
  offload_status status = OFFLOAD_OK; ///< not OK: could not start (message says why)
  std::string message;
  int exit_code = -1;
  int term_signal = 0;
  bool timed_out = false;
  bool cancelled = false;
  uint64_t duration_ms = 0;
  std::string out, err;
  std::string describe;
};

struct ProcessSpec {
  std::vector<std::string> argv;
  Env env;
  std::string cwd, stdout_path, stderr_path, stdin_data;
  bool append = false;
  uint64_t timeout_ms = 0;
  uint64_t capture_limit = 0;
};

namespace detail {
inline std::string str(const char* s) { return s ? std::string(s) : std::string(); }
inline std::string str(offload_bytes b) { return b.data ? std::string(b.data, b.size) : std::string(); }

/// Stable storage for a C view of argv/env built from C++ strings.
struct CommandView {
  std::vector<const char*> argv;
  std::vector<offload_env_var> env;
  offload_command cmd{};
  explicit CommandView(const Command& c) {
    for (auto& a : c.argv) argv.push_back(a.c_str());
    for (auto& e : c.env) env.push_back({e.first.c_str(), e.second.c_str()});
    cmd.struct_size = sizeof(offload_command);
    cmd.argv = argv.data();
    cmd.argc = argv.size();
    cmd.env = env.data();
    cmd.env_count = env.size();
    cmd.cwd = c.cwd ? c.cwd->c_str() : nullptr;
  }
};

inline void set_error(const offload_error_sink* err, offload_status code, const std::string& msg) {
  if (err && err->set) err->set(err, code, msg.c_str());
}

/// Runs f, turning exceptions into a status and an error message.
template <class F>
offload_status guard(const offload_error_sink* err, F&& f) noexcept {
  try {
    f();
    return OFFLOAD_OK;
  } catch (const Error& e) {
    set_error(err, e.code(), e.what());
    return e.code();
  } catch (const std::exception& e) {
    set_error(err, OFFLOAD_E_PLUGIN, e.what());
    return OFFLOAD_E_PLUGIN;
  } catch (...) {
    set_error(err, OFFLOAD_E_PLUGIN, "unknown exception");
    return OFFLOAD_E_PLUGIN;
  }
}
} // namespace detail

/// The host, as seen from a plugin. Copyable handle; valid until deinit.
class Host {
public:
  Host() = default;
  explicit Host(const offload_host* h) : m_host(h) {
    if (h && h->get_extension) {
      m_log = static_cast<const offload_host_log*>(h->get_extension(h, OFFLOAD_HOST_LOG_ID));
      m_proc = static_cast<const offload_host_process*>(h->get_extension(h, OFFLOAD_HOST_PROCESS_ID));
      m_junit = static_cast<const offload_host_junit*>(h->get_extension(h, OFFLOAD_HOST_JUNIT_ID));
    }
  }
  const offload_host* raw() const { return m_host; }
  bool can_log() const { return m_log != nullptr; }
  bool can_spawn() const { return m_proc != nullptr; }
  bool can_parse_junit() const { return m_junit != nullptr; }

  void log(offload_log_level level, const std::string& msg) const {
    if (m_log) m_log->log(m_host, level, msg.c_str());
  }
  void debug(const std::string& m) const { log(OFFLOAD_LOG_DEBUG, m); }
  void info(const std::string& m) const { log(OFFLOAD_LOG_INFO, m); }
  void warn(const std::string& m) const { log(OFFLOAD_LOG_WARN, m); }

  /// Start a process on the host's runner; done is called once on the host thread.
  offload_op_id spawn(const ProcessSpec& spec, std::function<void(ProcessResult)> done,
                      std::function<void(int, const char*, size_t)> on_output = {}) const {
    if (!m_proc) throw Error(OFFLOAD_E_UNSUPPORTED, "host offers no process service");
    struct Ctx {
      std::function<void(ProcessResult)> done;
      std::function<void(int, const char*, size_t)> on_output;
    };
    auto* ctx = new Ctx{std::move(done), std::move(on_output)};
    std::vector<const char*> argv;
    for (auto& a : spec.argv) argv.push_back(a.c_str());
    std::vector<offload_env_var> env;
    for (auto& e : spec.env) env.push_back({e.first.c_str(), e.second.c_str()});
    offload_process_spec s{};
    s.struct_size = sizeof s;
    s.argv = argv.data();
    s.argc = argv.size();
    s.env = env.data();
    s.env_count = env.size();
    s.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
    s.stdout_path = spec.stdout_path.empty() ? nullptr : spec.stdout_path.c_str();
    s.stderr_path = spec.stderr_path.empty() ? nullptr : spec.stderr_path.c_str();
    s.append = spec.append ? 1 : 0;
    s.timeout_ms = spec.timeout_ms;
    s.capture_limit = spec.capture_limit;
    s.stdin_data = spec.stdin_data.empty() ? nullptr : spec.stdin_data.data();
    s.stdin_size = spec.stdin_data.size();
    offload_process_callbacks cb{};
    cb.struct_size = sizeof cb;
    cb.ctx = ctx;
    cb.on_output = [](void* c, int32_t stream, const char* data, size_t size) {
      auto* x = static_cast<Ctx*>(c);
      if (x->on_output) {
        try {
          x->on_output(stream, data, size);
        } catch (...) {
        }
      }
    };
    cb.on_exit = [](void* c, offload_status st, const offload_process_result* r, const char* msg) {
      std::unique_ptr<Ctx> x(static_cast<Ctx*>(c));
      ProcessResult pr;
      pr.status = st;
      pr.message = detail::str(msg);
      if (r) {
        pr.exit_code = r->exit_code;
        pr.term_signal = r->term_signal;
        pr.timed_out = r->timed_out != 0;
        pr.cancelled = r->cancelled != 0;
        pr.duration_ms = r->duration_ms;
        pr.out = detail::str(r->out);
        pr.err = detail::str(r->err);
        pr.describe = detail::str(r->describe);
      }
      try {
        x->done(std::move(pr));
      } catch (...) {
      }
    };
    return m_proc->spawn(m_host, &s, &cb);
  }
  void cancel(offload_op_id id) const {
    if (m_proc) m_proc->cancel(m_host, id);
  }

  /// Parse JUnit XML with the host's parser. Throws Error(OFFLOAD_E_PARSE) on malformed input.
  std::vector<JunitCase> parse_junit(const std::string& xml) const {
    if (!m_junit) throw Error(OFFLOAD_E_UNSUPPORTED, "host offers no JUnit parser");
    std::vector<JunitCase> cases;
    std::string error;
    offload_error_sink err{sizeof(offload_error_sink), &error,
                           [](const offload_error_sink* s, offload_status, const char* m) {
                             *static_cast<std::string*>(s->ctx) = detail::str(m);
                           }};
    auto st = m_junit->parse(m_host, offload_bytes{xml.data(), xml.size()}, &cases,
                             [](void* ctx, const offload_junit_case* c) {
                               JunitCase j;
                               j.name = detail::str(c->name);
                               j.classname = detail::str(c->classname);
                               j.file = detail::str(c->file);
                               j.time_secs = c->time_secs;
                               j.status = c->status;
                               j.message = detail::str(c->message);
                               j.type = detail::str(c->type);
                               j.text = detail::str(c->text);
                               j.system_out = detail::str(c->system_out);
                               j.system_err = detail::str(c->system_err);
                               static_cast<std::vector<JunitCase>*>(ctx)->push_back(std::move(j));
                             },
                             &err);
    if (st != OFFLOAD_OK) throw Error(st, error.empty() ? "JUnit parse failed" : error);
    return cases;
  }

private:
  const offload_host* m_host = nullptr;
  const offload_host_log* m_log = nullptr;
  const offload_host_process* m_proc = nullptr;
  const offload_host_junit* m_junit = nullptr;
};

struct DiscoverRequest {
  std::string group, filters, project_dir;
};
struct DiscoverOutput {
  int exit_code = 0;
  int term_signal = 0;
  std::string out, err;
};
struct RunRequest {
  std::vector<std::string> ids;
  std::string result_path;
  bool fail_fast = false;
  unsigned batch_index = 0;
  std::string project_dir;
  unsigned in_process_retries = 0; ///< reruns of a failed test allowed inside the batch's process (ABI 1.1)
};
struct RunOutput {
  std::vector<std::string> ids;
  int exit_code = 0;
  int term_signal = 0;
  bool timed_out = false;
  bool result_present = false;
  std::string result; ///< result file contents
  std::string stdout_path, stderr_path, project_dir;
  unsigned in_process_retries = 0; ///< what the batch's RunRequest allowed (ABI 1.1; 0 from a 1.0 host)
};

/// Base class of a framework plugin instance. Pure translation: build
/// commands, parse outputs. Exceptions become error statuses.
class Framework {
public:
  virtual ~Framework() = default;
  virtual Command discover_command(const DiscoverRequest& req) = 0;
  virtual std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) = 0;
  virtual Command run_command(const RunRequest& req) = 0;
  virtual std::vector<Result> parse_results(const RunOutput& out) = 0;
  /// OFFLOAD_FRAMEWORK_* bits (ABI 1.1), read once after construction.
  virtual uint32_t capabilities() const { return 0; }
};

/// Base class of a provider plugin instance. Each operation must call its
/// callback exactly once, from any thread (typically from a host process
/// completion). The wrapper gives every operation an id; cancel(id) is
/// forwarded to the implementation.
class Provider {
public:
  using StatusCb = std::function<void(offload_status, std::string message)>;
  using PrepareCb = std::function<void(offload_status, std::string image_id, std::string message)>;
  using CreateCb = std::function<void(offload_status, void* sandbox, std::string sandbox_id, std::string message)>;
  struct ExecResult {
    int exit_code = -1;
    int term_signal = 0;
    bool timed_out = false;
    uint64_t duration_ms = 0;
  };
  using ExecCb = std::function<void(offload_status, ExecResult, std::string message)>;
  struct PrepareRequest {
    bool no_cache = false;
    std::vector<std::string> copy_dirs;
    std::string base_image_id;    ///< empty: build a full image
    std::string patch_file;       ///< empty: no patch
    std::string context_dir;      ///< empty: the working tree
    std::string sandbox_init_cmd; ///< empty: none
    std::string post_patch_cmd;   ///< empty: none
  };
  struct SandboxSpec {
    unsigned index = 0;
    std::string image_id;
    Env env;
  };
  struct ExecRequest {
    Command command;
    std::string stdout_path, stderr_path;
    uint64_t timeout_ms = 0;
  };

  virtual ~Provider() = default;
  /// Default: nothing to prepare, succeeds with an empty image id.
  virtual void prepare(offload_op_id, const PrepareRequest&, PrepareCb done) { done(OFFLOAD_OK, "", ""); }
  virtual void create_sandbox(offload_op_id op, const SandboxSpec& spec, CreateCb done) = 0;
  virtual void exec(offload_op_id op, void* sandbox, const ExecRequest& req, ExecCb done) = 0;
  virtual void download(offload_op_id op, void* sandbox, const std::vector<std::pair<std::string, std::string>>& remote_local,
                        StatusCb done) = 0;
  virtual void destroy_sandbox(offload_op_id op, void* sandbox, StatusCb done) = 0;
  virtual void cancel(offload_op_id op) = 0;
  virtual std::string project_dir() const = 0;
};

using FrameworkCreator =
    std::function<std::unique_ptr<Framework>(const Host&, const std::string& type, const std::string& config_json)>;
struct ProviderConfig {
  std::string type, config_json, offload_json, config_dir, output_dir;
};
using ProviderCreator = std::function<std::unique_ptr<Provider>(const Host&, const ProviderConfig&)>;

/// What a plugin registers in OFFLOAD_PLUGIN's registration function.
class Registry {
public:
  void add_framework(const std::string& type, FrameworkCreator c) { m_frameworks[type] = std::move(c); }
  void add_provider(const std::string& type, ProviderCreator c) { m_providers[type] = std::move(c); }
  std::map<std::string, FrameworkCreator> m_frameworks;
  std::map<std::string, ProviderCreator> m_providers;
};

namespace detail {

struct FrameworkBox {
  offload_framework c{};
  std::unique_ptr<Framework> impl;
};

struct ProviderBox {
  offload_provider c{};
  std::unique_ptr<Provider> impl;
  std::atomic<offload_op_id> next_op{1};
  std::string project_dir;
};

struct PluginState {
  Host host;
  Registry registry;
  std::string framework_types, provider_types;
  offload_framework_factory framework_factory{};
  offload_provider_factory provider_factory{};
};

inline PluginState& state() {
  static PluginState s;
  return s;
}

inline void send_command(const offload_command_sink* out, const Command& cmd) {
  CommandView v(cmd);
  out->set(out, &v.cmd);
}

inline offload_framework* make_framework(std::unique_ptr<Framework> impl) {
  auto* box = new FrameworkBox;
  box->impl = std::move(impl);
  box->c.struct_size = sizeof(offload_framework);
  box->c.plugin_data = box;
  box->c.capabilities = box->impl->capabilities();
  box->c.destroy = [](offload_framework* fw) { delete static_cast<FrameworkBox*>(fw->plugin_data); };
  box->c.discover_command = [](offload_framework* fw, const offload_discover_request* req,
                               const offload_command_sink* out, const offload_error_sink* err) -> offload_status {
    return guard(err, [&] {
      auto* b = static_cast<FrameworkBox*>(fw->plugin_data);
      DiscoverRequest r{str(req->group), str(req->filters), str(req->project_dir)};
      send_command(out, b->impl->discover_command(r));
    });
  };
  box->c.parse_discovery = [](offload_framework* fw, const offload_discover_request* req,
                              const offload_discover_output* o, const offload_test_sink* tests,
                              const offload_error_sink* err) -> offload_status {
    return guard(err, [&] {
      auto* b = static_cast<FrameworkBox*>(fw->plugin_data);
      DiscoverRequest r{str(req->group), str(req->filters), str(req->project_dir)};
      DiscoverOutput d{o->exit_code, o->term_signal, str(o->out), str(o->err)};
      for (auto& t : b->impl->parse_discovery(r, d)) {
        offload_test_desc desc{};
        desc.struct_size = sizeof desc;
        desc.id = t.id.c_str();
        desc.name = t.name.empty() ? t.id.c_str() : t.name.c_str();
        desc.file = t.file.empty() ? nullptr : t.file.c_str();
        desc.line = t.line;
        if (!tests->add(tests, &desc)) break;
      }
    });
  };
  box->c.run_command = [](offload_framework* fw, const offload_run_request* req, const offload_command_sink* out,
                          const offload_error_sink* err) -> offload_status {
    return guard(err, [&] {
      auto* b = static_cast<FrameworkBox*>(fw->plugin_data);
      RunRequest r;
      for (size_t i = 0; i < req->count; ++i) r.ids.emplace_back(req->ids[i]);
      r.result_path = str(req->result_path);
      r.fail_fast = req->fail_fast != 0;
      r.batch_index = req->batch_index;
      r.project_dir = str(req->project_dir);
      if (OFFLOAD_HAS_FIELD(req, offload_run_request, in_process_retries)) r.in_process_retries = req->in_process_retries;
      send_command(out, b->impl->run_command(r));
    });
  };
  box->c.parse_results = [](offload_framework* fw, const offload_run_output* o, const offload_result_sink* results,
                            const offload_error_sink* err) -> offload_status {
    return guard(err, [&] {
      auto* b = static_cast<FrameworkBox*>(fw->plugin_data);
      RunOutput r;
      for (size_t i = 0; i < o->count; ++i) r.ids.emplace_back(o->ids[i]);
      r.exit_code = o->exit_code;
      r.term_signal = o->term_signal;
      r.timed_out = o->timed_out != 0;
      r.result_present = o->result_present != 0;
      r.result = str(o->result);
      r.stdout_path = str(o->stdout_path);
      r.stderr_path = str(o->stderr_path);
      r.project_dir = str(o->project_dir);
      if (OFFLOAD_HAS_FIELD(o, offload_run_output, in_process_retries)) r.in_process_retries = o->in_process_retries;
      for (auto& x : b->impl->parse_results(r)) {
        offload_test_result t{};
        t.struct_size = sizeof t;
        t.id = x.id.c_str();
        t.status = x.status;
        t.duration_secs = x.duration_secs;
        t.message = x.message.c_str();
        t.type = x.type.c_str();
        t.text = x.text.c_str();
        t.system_out = x.system_out.c_str();
        t.system_err = x.system_err.c_str();
        t.name = x.name.c_str();
        t.classname = x.classname.c_str();
        t.attempt = x.attempt;
        if (!results->add(results, &t)) break;
      }
    });
  };
  return &box->c;
}

inline Provider& provider_impl(offload_provider* p) { return *static_cast<ProviderBox*>(p->plugin_data)->impl; }
inline offload_op_id next_op(offload_provider* p) { return static_cast<ProviderBox*>(p->plugin_data)->next_op++; }

/// Calls a C completion exactly once even if the C++ side is careless.
template <class Done>
struct Once {
  Done done;
  std::shared_ptr<std::atomic<bool>> fired = std::make_shared<std::atomic<bool>>(false);
  bool claim() const { return !fired->exchange(true); }
};

inline offload_provider* make_provider(std::unique_ptr<Provider> impl) {
  auto* box = new ProviderBox;
  box->impl = std::move(impl);
  box->project_dir = box->impl->project_dir();
  box->c.struct_size = sizeof(offload_provider);
  box->c.plugin_data = box;
  box->c.destroy = [](offload_provider* p) { delete static_cast<ProviderBox*>(p->plugin_data); };
  box->c.prepare = [](offload_provider* p, const offload_prepare_request* req,
                      const offload_prepare_done* done) -> offload_op_id {
    auto op = next_op(p);
    Once<offload_prepare_done> once{*done};
    auto fail = [once](offload_status st, const std::string& m) {
      if (once.claim()) once.done.done(once.done.ctx, st, nullptr, m.c_str());
    };
    auto st = guard(nullptr, [&] {
      Provider::PrepareRequest r;
      r.no_cache = req->no_cache != 0;
      for (size_t i = 0; i < req->copy_dir_count; ++i) r.copy_dirs.emplace_back(req->copy_dirs[i]);
      if (OFFLOAD_HAS_FIELD(req, offload_prepare_request, post_patch_cmd)) {
        r.base_image_id = str(req->base_image_id);
        r.patch_file = str(req->patch_file);
        r.context_dir = str(req->context_dir);
        r.sandbox_init_cmd = str(req->sandbox_init_cmd);
        r.post_patch_cmd = str(req->post_patch_cmd);
      }
      provider_impl(p).prepare(op, r, [once](offload_status s, std::string image, std::string msg) {
        if (once.claim()) once.done.done(once.done.ctx, s, image.c_str(), msg.c_str());
      });
    });
    if (st != OFFLOAD_OK) fail(st, "prepare threw an exception");
    return op;
  };
  box->c.create_sandbox = [](offload_provider* p, const offload_sandbox_spec* spec,
                             const offload_create_done* done) -> offload_op_id {
    auto op = next_op(p);
    Once<offload_create_done> once{*done};
    std::string error;
    offload_error_sink es{sizeof(offload_error_sink), &error, [](const offload_error_sink* s, offload_status, const char* m) {
                            *static_cast<std::string*>(s->ctx) = str(m);
                          }};
    auto st = guard(&es, [&] {
      Provider::SandboxSpec s;
      s.index = spec->index;
      s.image_id = str(spec->image_id);
      for (size_t i = 0; i < spec->env_count; ++i) s.env.emplace_back(str(spec->env[i].name), str(spec->env[i].value));
      provider_impl(p).create_sandbox(op, s, [once](offload_status st2, void* sb, std::string id, std::string msg) {
        if (once.claim())
          once.done.done(once.done.ctx, st2, static_cast<offload_sandbox*>(sb), id.c_str(), msg.c_str());
      });
    });
    if (st != OFFLOAD_OK && once.claim()) once.done.done(once.done.ctx, st, nullptr, nullptr, error.c_str());
    return op;
  };
  box->c.exec = [](offload_provider* p, offload_sandbox* sb, const offload_exec_request* req,
                   const offload_exec_done* done) -> offload_op_id {
    auto op = next_op(p);
    Once<offload_exec_done> once{*done};
    std::string error;
    offload_error_sink es{sizeof(offload_error_sink), &error, [](const offload_error_sink* s, offload_status, const char* m) {
                            *static_cast<std::string*>(s->ctx) = str(m);
                          }};
    auto st = guard(&es, [&] {
      Provider::ExecRequest r;
      const offload_command* c = req->command;
      for (size_t i = 0; i < c->argc; ++i) r.command.argv.emplace_back(c->argv[i]);
      for (size_t i = 0; i < c->env_count; ++i) r.command.env.emplace_back(str(c->env[i].name), str(c->env[i].value));
      if (c->cwd) r.command.cwd = c->cwd;
      r.stdout_path = str(req->stdout_path);
      r.stderr_path = str(req->stderr_path);
      r.timeout_ms = req->timeout_ms;
      provider_impl(p).exec(op, sb, r, [once](offload_status s, Provider::ExecResult res, std::string msg) {
        if (!once.claim()) return;
        offload_exec_result er{};
        er.struct_size = sizeof er;
        er.exit_code = res.exit_code;
        er.term_signal = res.term_signal;
        er.timed_out = res.timed_out ? 1 : 0;
        er.duration_ms = res.duration_ms;
        once.done.done(once.done.ctx, s, &er, msg.c_str());
      });
    });
    if (st != OFFLOAD_OK && once.claim()) once.done.done(once.done.ctx, st, nullptr, error.c_str());
    return op;
  };
  box->c.download = [](offload_provider* p, offload_sandbox* sb, const offload_download_request* req,
                       const offload_status_done* done) -> offload_op_id {
    auto op = next_op(p);
    Once<offload_status_done> once{*done};
    std::string error;
    offload_error_sink es{sizeof(offload_error_sink), &error, [](const offload_error_sink* s, offload_status, const char* m) {
                            *static_cast<std::string*>(s->ctx) = str(m);
                          }};
    auto st = guard(&es, [&] {
      std::vector<std::pair<std::string, std::string>> pairs;
      for (size_t i = 0; i < req->count; ++i) pairs.emplace_back(str(req->paths[i].remote), str(req->paths[i].local));
      provider_impl(p).download(op, sb, pairs, [once](offload_status s, std::string msg) {
        if (once.claim()) once.done.done(once.done.ctx, s, msg.c_str());
      });
    });
    if (st != OFFLOAD_OK && once.claim()) once.done.done(once.done.ctx, st, error.c_str());
    return op;
  };
  box->c.destroy_sandbox = [](offload_provider* p, offload_sandbox* sb, const offload_status_done* done) -> offload_op_id {
    auto op = next_op(p);
    Once<offload_status_done> once{*done};
    std::string error;
    offload_error_sink es{sizeof(offload_error_sink), &error, [](const offload_error_sink* s, offload_status, const char* m) {
                            *static_cast<std::string*>(s->ctx) = str(m);
                          }};
    auto st = guard(&es, [&] {
      provider_impl(p).destroy_sandbox(op, sb, [once](offload_status s, std::string msg) {
        if (once.claim()) once.done.done(once.done.ctx, s, msg.c_str());
      });
    });
    if (st != OFFLOAD_OK && once.claim()) once.done.done(once.done.ctx, st, error.c_str());
    return op;
  };
  box->c.cancel = [](offload_provider* p, offload_op_id op) {
    guard(nullptr, [&] { provider_impl(p).cancel(op); });
  };
  box->c.project_dir = [](offload_provider* p) -> const char* {
    return static_cast<ProviderBox*>(p->plugin_data)->project_dir.c_str();
  };
  return &box->c;
}

inline std::string join_keys(const std::map<std::string, FrameworkCreator>& m) {
  std::string s;
  for (auto& kv : m) s += (s.empty() ? "" : ",") + kv.first;
  return s;
}
inline std::string join_keys(const std::map<std::string, ProviderCreator>& m) {
  std::string s;
  for (auto& kv : m) s += (s.empty() ? "" : ",") + kv.first;
  return s;
}

inline const offload_plugin_entry* make_entry(const char* id, const char* version, const char* description,
                                              void (*register_fn)(Registry&)) {
  static offload_plugin_entry entry{};
  static void (*reg)(Registry&) = nullptr;
  reg = register_fn;
  entry.struct_size = sizeof entry;
  entry.abi_major = OFFLOAD_ABI_MAJOR;
  entry.abi_minor = OFFLOAD_ABI_MINOR;
  entry.id = id;
  entry.version = version;
  entry.description = description;
  entry.init = [](const offload_host* host, const char*, const offload_error_sink* err) -> int32_t {
    auto st = guard(err, [&] {
      auto& s = state();
      s.host = Host(host);
      s.registry = Registry{};
      reg(s.registry);
      s.framework_types = join_keys(s.registry.m_frameworks);
      s.provider_types = join_keys(s.registry.m_providers);
      s.framework_factory.struct_size = sizeof(offload_framework_factory);
      s.framework_factory.types = s.framework_types.c_str();
      s.framework_factory.create = [](const offload_host*, const char* type, const char* json,
                                      const offload_error_sink* e) -> offload_framework* {
        offload_framework* out = nullptr;
        guard(e, [&] {
          auto& st2 = state();
          auto it = st2.registry.m_frameworks.find(str(type));
          if (it == st2.registry.m_frameworks.end()) throw Error(OFFLOAD_E_UNSUPPORTED, "unknown framework type " + str(type));
          auto fw = it->second(st2.host, str(type), json ? json : "{}");
          if (!fw) throw Error(OFFLOAD_E_PLUGIN, "framework creator returned nothing");
          out = make_framework(std::move(fw));
        });
        return out;
      };
      s.provider_factory.struct_size = sizeof(offload_provider_factory);
      s.provider_factory.types = s.provider_types.c_str();
      s.provider_factory.create = [](const offload_host*, const offload_provider_config* cfg,
                                     const offload_error_sink* e) -> offload_provider* {
        offload_provider* out = nullptr;
        guard(e, [&] {
          auto& st2 = state();
          auto it = st2.registry.m_providers.find(str(cfg->type));
          if (it == st2.registry.m_providers.end()) throw Error(OFFLOAD_E_UNSUPPORTED, "unknown provider type " + str(cfg->type));
          ProviderConfig pc{str(cfg->type), cfg->config_json ? cfg->config_json : "{}",
                            cfg->offload_json ? cfg->offload_json : "{}", str(cfg->config_dir), str(cfg->output_dir)};
          auto p = it->second(st2.host, pc);
          if (!p) throw Error(OFFLOAD_E_PLUGIN, "provider creator returned nothing");
          out = make_provider(std::move(p));
        });
        return out;
      };
    });
    return st == OFFLOAD_OK ? 1 : 0;
  };
  entry.deinit = [] { state().registry = Registry{}; };
  entry.get_factory = [](const char* fid) -> const void* {
    auto& s = state();
    std::string f = str(fid);
    if (f == OFFLOAD_FRAMEWORK_FACTORY_ID && !s.registry.m_frameworks.empty()) return &s.framework_factory;
    if (f == OFFLOAD_PROVIDER_FACTORY_ID && !s.registry.m_providers.empty()) return &s.provider_factory;
    return nullptr;
  };
  return &entry;
}

} // namespace detail

/// The host this plugin was initialised with.
inline const Host& host() { return detail::state().host; }

} // namespace plugin
} // namespace offload

/// Defines the entry symbol. REGISTER is a function or captureless lambda
/// taking offload::plugin::Registry&.
#define OFFLOAD_PLUGIN(ID, VERSION, DESCRIPTION, REGISTER)                                     \
  extern "C" OFFLOAD_EXPORT const offload_plugin_entry* offload_plugin_entry_v1(void) {        \
    static void (*const reg_fn)(offload::plugin::Registry&) = REGISTER;                        \
    return offload::plugin::detail::make_entry(ID, VERSION, DESCRIPTION, reg_fn);              \
  }

#endif // OFFLOAD_PLUGIN_HPP
