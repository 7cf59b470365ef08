#include "plugin/framework.hpp"

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
  offload_command_sink sink{sizeof(offload_command_sink), this, [](const offload_command_sink* k, const offload_command* c) {
                              auto* self = static_cast<CommandReceiver*>(k->ctx);
                              self->got = true;
                              self->out->argv.clear();
                              self->out->env.clear();
                              for (size_t i = 0; c && i < c->argc; ++i) self->out->argv.push_back(s(c->argv[i]));
                              for (size_t i = 0; c && i < c->env_count; ++i)
                                self->out->env.emplace_back(s(c->env[i].name), s(c->env[i].value));
                              self->out->cwd = c ? s(c->cwd) : std::string();
                            }};
  explicit CommandReceiver(CommandSpec* o) : out(o) {}
};

AttemptStatus from_c(offload_test_status st) {
  switch (st) {
  case OFFLOAD_TEST_PASSED: return AttemptStatus::Passed;
  case OFFLOAD_TEST_FAILED: return AttemptStatus::Failed;
  case OFFLOAD_TEST_SKIPPED: return AttemptStatus::Skipped;
  case OFFLOAD_TEST_NOT_RUN: return AttemptStatus::NotRun;
  default: return AttemptStatus::Error;
  }
}

} // namespace

FrameworkInstance::FrameworkInstance(std::shared_ptr<LoadedLibrary> lib, offload_framework* fw, std::string name)
    : m_lib(std::move(lib)), m_fw(fw), m_name(std::move(name)) {}

FrameworkInstance::~FrameworkInstance() {
  if (m_fw && m_fw->destroy) m_fw->destroy(m_fw);
}

std::string FrameworkInstance::discover_command(const std::string& group, const std::string& filters,
                                                const std::string& project_dir, CommandSpec* out) {
  offload_discover_request req{sizeof req, group.c_str(), filters.c_str(), project_dir.c_str()};
  CommandReceiver recv(out);
  ErrorText err;
  auto st = m_fw->discover_command(m_fw, &req, &recv.sink, &err.sink);
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
  offload_test_sink sink{sizeof sink, tests, [](const offload_test_sink* k, const offload_test_desc* t) -> int32_t {
                           auto* v = static_cast<std::vector<DiscoveredTest>*>(k->ctx);
                           if (!t || !t->id) return 1;
                           DiscoveredTest d;
                           d.id = t->id;
                           d.name = s(t->name);
                           if (OFFLOAD_HAS_FIELD(t, offload_test_desc, file)) d.file = s(t->file);
                           if (OFFLOAD_HAS_FIELD(t, offload_test_desc, line)) d.line = t->line;
                           v->push_back(std::move(d));
                           return 1;
                         }};
  ErrorText err;
  auto st = m_fw->parse_discovery(m_fw, &req, &o, &sink, &err.sink);
  if (st != OFFLOAD_OK) return err.text.empty() ? m_name + ": parse_discovery failed" : err.text;
  return {};
}

std::string FrameworkInstance::run_command(const std::vector<std::string>& ids, const std::string& result_path,
                                           bool fail_fast, unsigned batch_index, const std::string& project_dir,
                                           CommandSpec* out) {
  std::vector<const char*> cids;
  cids.reserve(ids.size());
  for (auto& id : ids) cids.push_back(id.c_str());
  offload_run_request req{sizeof req, cids.data(), cids.size(), result_path.c_str(), fail_fast ? 1 : 0, batch_index,
                          project_dir.c_str()};
  CommandReceiver recv(out);
  ErrorText err;
  auto st = m_fw->run_command(m_fw, &req, &recv.sink, &err.sink);
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
  offload_result_sink sink{sizeof sink, results, [](const offload_result_sink* k, const offload_test_result* r) -> int32_t {
                             auto* v = static_cast<std::vector<ReportedResult>*>(k->ctx);
                             if (!r || !r->id) return 1;
                             ReportedResult x;
                             x.id = r->id;
                             x.status = from_c(r->status);
                             x.duration_secs = r->duration_secs;
                             x.message = s(r->message);
                             x.type = s(r->type);
                             x.text = s(r->text);
                             x.system_out = s(r->system_out);
                             x.system_err = s(r->system_err);
                             if (OFFLOAD_HAS_FIELD(r, offload_test_result, classname)) {
                               x.name = s(r->name);
                               x.classname = s(r->classname);
                             }
                             v->push_back(std::move(x));
                             return 1;
                           }};
  ErrorText err;
  auto st = m_fw->parse_results(m_fw, &o, &sink, &err.sink);
  if (st != OFFLOAD_OK) return err.text.empty() ? m_name + ": parse_results failed" : err.text;
  return {};
}

} // namespace offload
