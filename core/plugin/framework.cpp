#include "plugin/framework.hpp"

#include <cstddef>
#include <exception>

#include <spdlog/spdlog.h>

#include "plugin/library.hpp"

namespace offload {

namespace {

struct ErrorText {
  std::string text;
  offload_status code = OFFLOAD_OK;
  offload_error_sink sink{sizeof(offload_error_sink), this,
                          [](const offload_error_sink* s, offload_status c, const char* m) {
                            auto* self = static_cast<ErrorText*>(s->ctx);
                            self->text = m ? m : "";
                            self->code = c;
                          }};
};

std::string s(const char* p) { return p ? std::string(p) : std::string(); }

struct CommandReceiver {
  CommandSpec* out;
  bool got = false;
  std::string violation; ///< set when the command struct was unusable
  offload_command_sink sink{sizeof(offload_command_sink), this, [](const offload_command_sink* k, const offload_command* c) {
                              auto* self = static_cast<CommandReceiver*>(k->ctx);
                              self->out->argv.clear();
                              self->out->env.clear();
                              self->out->cwd.clear();
                              if (!c || !OFFLOAD_HAS_FIELD(c, offload_command, argc) || (c->argc > 0 && !c->argv)) {
                                self->violation = c ? "sent a command whose struct_size (" + std::to_string(c->struct_size) +
                                                          ") does not cover argv"
                                                    : "sent a NULL command";
                                self->got = false;
                                return;
                              }
                              self->got = true;
                              for (size_t i = 0; i < c->argc; ++i) self->out->argv.push_back(s(c->argv[i]));
                              if (OFFLOAD_HAS_FIELD(c, offload_command, env_count) && c->env) {
                                for (size_t i = 0; i < c->env_count; ++i)
                                  self->out->env.emplace_back(s(c->env[i].name), s(c->env[i].value));
                              }
                              if (OFFLOAD_HAS_FIELD(c, offload_command, cwd)) self->out->cwd = s(c->cwd);
                            }};
  explicit CommandReceiver(CommandSpec* o) : out(o) {}
};

/// false for a status outside the v1 enum (the caller reports it).
bool from_c(offload_test_status st, AttemptStatus* out) {
  switch (st) {
  case OFFLOAD_TEST_PASSED: *out = AttemptStatus::Passed; return true;
  case OFFLOAD_TEST_FAILED: *out = AttemptStatus::Failed; return true;
  case OFFLOAD_TEST_ERROR: *out = AttemptStatus::Error; return true;
  case OFFLOAD_TEST_SKIPPED: *out = AttemptStatus::Skipped; return true;
  case OFFLOAD_TEST_NOT_RUN: *out = AttemptStatus::NotRun; return true;
  default: *out = AttemptStatus::Error; return false;
  }
}

/// Calls into a plugin: an exception that escapes a plugin written without
/// the C++ helper would otherwise unwind through the host (or terminate).
/// Catching it here turns it into an error that names the plugin.
template <class F>
offload_status guarded(const std::string& plugin, const char* what, std::string* error, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    *error = "plugin " + plugin + " misbehaved: a C++ exception escaped from " + what + ": " + e.what();
  } catch (...) {
    *error = "plugin " + plugin + " misbehaved: a C++ exception escaped from " + what;
  }
  spdlog::warn("{}", *error);
  return OFFLOAD_E_PLUGIN;
}

/// Name the plugin in a message that does not already.
std::string named(const std::string& plugin, const std::string& msg) {
  if (msg.find(plugin) != std::string::npos) return msg;
  return plugin + ": " + msg;
}

} // namespace

std::string check_framework_table(const offload_framework* fw) {
  if (!fw) return "create returned NULL";
  // The host calls every function up to parse_results: the table must cover them.
  constexpr size_t need = offsetof(offload_framework, parse_results) + sizeof(fw->parse_results);
  if (fw->struct_size < need) {
    return "framework table too small (struct_size " + std::to_string(fw->struct_size) + ", need " +
           std::to_string(need) + " for discover_command, parse_discovery, run_command and parse_results)";
  }
  std::string missing;
  if (!fw->discover_command) missing += " discover_command";
  if (!fw->parse_discovery) missing += " parse_discovery";
  if (!fw->run_command) missing += " run_command";
  if (!fw->parse_results) missing += " parse_results";
  if (!missing.empty()) return "framework table lacks" + missing;
  return {};
}

FrameworkInstance::FrameworkInstance(std::shared_ptr<LoadedLibrary> lib, offload_framework* fw, std::string name)
    : m_lib(std::move(lib)), m_fw(fw), m_name(std::move(name)) {}

FrameworkInstance::~FrameworkInstance() {
  if (m_fw && OFFLOAD_HAS_FIELD(m_fw, offload_framework, destroy) && m_fw->destroy) {
    std::string e;
    guarded(m_name, "destroy", &e, [&] {
      m_fw->destroy(m_fw);
      return OFFLOAD_OK;
    });
  }
}

void FrameworkInstance::misbehaved(const std::string& what) {
  std::string msg = "plugin " + m_name + " misbehaved: " + what;
  spdlog::warn("{}", msg);
  m_misbehaviour.push_back(std::move(msg));
}

std::string FrameworkInstance::discover_command(const std::string& group, const std::string& filters,
                                                const std::string& project_dir, CommandSpec* out) {
  offload_discover_request req{sizeof req, group.c_str(), filters.c_str(), project_dir.c_str()};
  CommandReceiver recv(out);
  ErrorText err;
  std::string thrown;
  auto st = guarded(m_name, "discover_command", &thrown,
                    [&] { return m_fw->discover_command(m_fw, &req, &recv.sink, &err.sink); });
  if (!thrown.empty()) return thrown;
  if (!recv.violation.empty()) misbehaved("discover_command " + recv.violation);
  if (st != OFFLOAD_OK) return m_name + ": " + (err.text.empty() ? "discover_command failed" : err.text);
  if (!recv.got || out->argv.empty()) return m_name + ": discover_command produced no command";
  return {};
}

std::string FrameworkInstance::parse_discovery(const std::string& group, const std::string& filters,
                                               const std::string& project_dir, const DiscoverOutputView& output,
                                               std::vector<DiscoveredTest>* tests) {
  offload_discover_request req{sizeof req, group.c_str(), filters.c_str(), project_dir.c_str()};
  offload_discover_output o{sizeof o, output.exit_code, output.term_signal, {output.out.data(), output.out.size()},
                            {output.err.data(), output.err.size()}};
  struct Ctx {
    std::vector<DiscoveredTest>* tests;
    int too_small = 0;
    uint32_t size = 0;
  } ctx{tests};
  offload_test_sink sink{sizeof sink, &ctx, [](const offload_test_sink* k, const offload_test_desc* t) -> int32_t {
                           auto* c = static_cast<Ctx*>(k->ctx);
                           if (!t) return 1;
                           if (!OFFLOAD_HAS_FIELD(t, offload_test_desc, id)) {
                             c->too_small++;
                             c->size = t->struct_size;
                             return 1;
                           }
                           if (!t->id) return 1;
                           DiscoveredTest d;
                           d.id = t->id;
                           if (OFFLOAD_HAS_FIELD(t, offload_test_desc, name)) d.name = s(t->name);
                           if (OFFLOAD_HAS_FIELD(t, offload_test_desc, file)) d.file = s(t->file);
                           if (OFFLOAD_HAS_FIELD(t, offload_test_desc, line)) d.line = t->line;
                           c->tests->push_back(std::move(d));
                           return 1;
                         }};
  ErrorText err;
  std::string thrown;
  auto st = guarded(m_name, "parse_discovery", &thrown, [&] { return m_fw->parse_discovery(m_fw, &req, &o, &sink, &err.sink); });
  if (ctx.too_small) {
    misbehaved("parse_discovery sent " + std::to_string(ctx.too_small) + " test(s) whose struct_size (" +
               std::to_string(ctx.size) + ") does not cover the id (ignored)");
  }
  if (!thrown.empty()) return thrown;
  if (st != OFFLOAD_OK) return err.text.empty() ? m_name + ": parse_discovery failed" : named(m_name, err.text);
  return {};
}

std::string FrameworkInstance::run_command(const std::vector<std::string>& ids, const std::string& result_path,
                                           bool fail_fast, unsigned batch_index, const std::string& project_dir,
                                           unsigned in_process_retries, CommandSpec* out) {
  std::vector<const char*> cids;
  cids.reserve(ids.size());
  for (auto& id : ids) cids.push_back(id.c_str());
  offload_run_request req{sizeof req,          cids.data(), cids.size(), result_path.c_str(), fail_fast ? 1 : 0,
                          batch_index,          project_dir.c_str(), in_process_retries};
  CommandReceiver recv(out);
  ErrorText err;
  std::string thrown;
  auto st = guarded(m_name, "run_command", &thrown, [&] { return m_fw->run_command(m_fw, &req, &recv.sink, &err.sink); });
  if (!thrown.empty()) return thrown;
  if (!recv.violation.empty()) misbehaved("run_command " + recv.violation);
  if (st != OFFLOAD_OK) return m_name + ": " + (err.text.empty() ? "run_command failed" : err.text);
  if (!recv.got || out->argv.empty()) return m_name + ": run_command produced no command";
  return {};
}

std::string FrameworkInstance::parse_results(const RunOutputView& output, std::vector<ReportedResult>* results) {
  std::vector<const char*> cids;
  for (auto& id : *output.ids) cids.push_back(id.c_str());
  offload_run_output o{};
  o.struct_size = sizeof o;
  o.ids = cids.data();
  o.count = cids.size();
  o.exit_code = output.exit_code;
  o.term_signal = output.term_signal;
  o.timed_out = output.timed_out ? 1 : 0;
  o.result = {output.result_present ? output.result.data() : nullptr, output.result.size()};
  o.result_present = output.result_present ? 1 : 0;
  o.stdout_path = output.stdout_path.c_str();
  o.stderr_path = output.stderr_path.c_str();
  o.project_dir = output.project_dir.c_str();
  o.in_process_retries = output.in_process_retries;
  struct Ctx {
    FrameworkInstance* self;
    std::vector<ReportedResult>* results;
  } ctx{this, results};
  offload_result_sink sink{sizeof sink, &ctx, [](const offload_result_sink* k, const offload_test_result* r) -> int32_t {
                             auto* c = static_cast<Ctx*>(k->ctx);
                             if (!r) {
                               c->self->misbehaved("parse_results sent a NULL result (ignored)");
                               return 1;
                             }
                             // id and status are what a result is; without them it is no result.
                             if (!OFFLOAD_HAS_FIELD(r, offload_test_result, status)) {
                               c->self->misbehaved("parse_results sent a result whose struct_size (" +
                                                   std::to_string(r->struct_size) +
                                                   ") does not cover its id and status (ignored)");
                               return 1;
                             }
                             if (!r->id) return 1;
                             ReportedResult x;
                             x.id = r->id;
                             bool known = from_c(r->status, &x.status);
                             // Everything after status is read only if the plugin's struct covers it.
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, duration_secs)) x.duration_secs = r->duration_secs;
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, message) && r->message) x.message = r->message;
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, type) && r->type) x.type = r->type;
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, text)) x.text = s(r->text);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, system_out)) x.system_out = s(r->system_out);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, system_err)) x.system_err = s(r->system_err);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, name)) x.name = s(r->name);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, classname)) x.classname = s(r->classname);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, attempt)) x.attempt = r->attempt;
                             if (!known) {
                               c->self->misbehaved("parse_results reported unknown status " + std::to_string(r->status) +
                                                   " for test '" + x.id + "' (treated as an error)");
                               x.type = "offload.PluginError";
                               x.message = "plugin " + c->self->m_name + " reported unknown status " +
                                           std::to_string(r->status) + (x.message.empty() ? "" : ": " + x.message);
                             }
                             c->results->push_back(std::move(x));
                             return 1;
                           }};
  ErrorText err;
  std::string thrown;
  auto st = guarded(m_name, "parse_results", &thrown, [&] { return m_fw->parse_results(m_fw, &o, &sink, &err.sink); });
  if (!thrown.empty()) return thrown;
  if (st != OFFLOAD_OK) return err.text.empty() ? m_name + ": parse_results failed" : named(m_name, err.text);
  return {};
}

std::vector<std::string> FrameworkInstance::misbehaviour() const { return m_misbehaviour; }

} // namespace offload
