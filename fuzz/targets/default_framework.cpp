/// The `default` framework (plugins/default/default_framework.cpp, compiled
/// in) driven the way the host drives it: through the C ABI trampolines, with
/// a host that offers offload's own JUnit parser.
/// Input: "<exit code> <signal>" @@@@ test_id_format @@@@ discovery stdout @@@@ result file.
/// Properties: discovered IDs are non-empty, NUL-free and trimmed; the batch
/// command built for them reads back (sh_model.hpp) as exactly
/// ./run <result path> <id>...; results parse without crashing.
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>
#include <offload/plugin.hpp>

#include "default_plugin.hpp"
#include "fuzz_util.hpp"
#include "report/junit_abi.hpp"
#include "sh_model.hpp"

namespace {

// The host's JUnit service, exactly as core/plugin/host.cpp offers it.
offload_status junit_parse(const offload_host*, offload_bytes xml, void* ctx,
                           void (*on_case)(void*, const offload_junit_case*), const offload_error_sink* err) {
  return offload::parse_junit_abi(xml, ctx, on_case, err);
}

offload_host_junit g_junit{sizeof(offload_host_junit), junit_parse};

const void* get_extension(const offload_host*, const char* id) {
  return std::strcmp(id, OFFLOAD_HOST_JUNIT_ID) == 0 ? &g_junit : nullptr;
}

offload_host g_host{sizeof(offload_host), OFFLOAD_ABI_MAJOR, OFFLOAD_ABI_MINOR, "fuzz", nullptr, get_extension};

void ignore_error(const offload_error_sink*, offload_status, const char*) {}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  offload::plugin::detail::state().host = offload::plugin::Host(&g_host);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = (LLVMFuzzerInitialize(nullptr, nullptr), true);
  (void)init;
  auto f = offload::fuzz::fields(data, size, 4);
  auto head = offload::fuzz::lines(f[0]);
  nlohmann::json cfg = {{"discover_command", "list {filters}"},
                        {"run_command", "./run {result_file} {tests}"},
                        {"result_file", "results.xml"},
                        {"test_id_format", f[1].empty() ? std::string("{name}") : f[1]}};
  std::unique_ptr<offload::plugin::Framework> impl;
  try {
    impl = offload::default_plugin::make_framework(cfg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } catch (const std::exception&) {
    return 0;
  }

  // Discovery, on the C++ object (the ABI carries IDs as C strings, so a NUL
  // would be cut there: check before).
  offload::plugin::DiscoverOutput dout;
  dout.exit_code = head.empty() ? 0 : offload::fuzz::small_int(head[0]);
  dout.term_signal = head.size() > 1 ? offload::fuzz::small_int(head[1]) : 0;
  dout.out = f[2];
  std::vector<std::string> ids;
  try {
    for (auto& t : impl->parse_discovery({"g", "", "/proj"}, dout)) {
      FUZZ_CHECK(!t.id.empty(), "empty test ID");
      FUZZ_CHECK(t.id.find('\0') == std::string::npos, "test ID with a NUL byte (the ABI forbids it)");
      FUZZ_CHECK(t.id.front() != ' ' && t.id.back() != ' ', "untrimmed test ID [" + t.id + "]");
      ids.push_back(t.id);
    }
  } catch (const offload::plugin::Error& e) {
    FUZZ_CHECK(std::strlen(e.what()) > 0, "error without a message");
    ids.clear();
  }

  // The batch command, through the C ABI.
  offload_framework* fw = offload::plugin::detail::make_framework(std::move(impl));
  std::vector<const char*> cids;
  for (auto& id : ids) cids.push_back(id.c_str());
  offload_run_request rq{};
  rq.struct_size = sizeof rq;
  rq.ids = cids.data();
  rq.count = cids.size();
  rq.result_path = "/tmp/offload batch's \"result\".xml";
  rq.project_dir = "/proj";
  std::vector<std::string> argv;
  offload_command_sink cs{sizeof cs, &argv, [](const offload_command_sink* s, const offload_command* c) {
                            auto* v = static_cast<std::vector<std::string>*>(s->ctx);
                            for (size_t i = 0; i < c->argc; ++i) v->push_back(c->argv[i]);
                          }};
  offload_error_sink es{sizeof es, nullptr, ignore_error};
  if (!ids.empty() && fw->run_command(fw, &rq, &cs, &es) == OFFLOAD_OK) {
    FUZZ_CHECK(argv.size() == 3, "run command is not sh -c SCRIPT");
    auto words = offload::fuzz::sh_words(argv[2]);
    FUZZ_CHECK(words.ok(), "batch script [" + argv[2] + "]: " + words.refusal);
    std::vector<std::string> want{"./run", rq.result_path};
    want.insert(want.end(), ids.begin(), ids.end());
    FUZZ_CHECK(words.words == want, "batch script does not pass the IDs as data: " + argv[2]);
  }

  // Results, through the C ABI.
  offload_run_output ro{};
  ro.struct_size = sizeof ro;
  ro.ids = cids.data();
  ro.count = cids.size();
  ro.result = {f[3].data(), f[3].size()};
  ro.result_present = 1;
  ro.stdout_path = "/dev/null";
  ro.stderr_path = "/dev/null";
  ro.project_dir = "/proj";
  size_t n = 0;
  offload_result_sink rs{sizeof rs, &n, [](const offload_result_sink* s, const offload_test_result* r) -> int32_t {
                           FUZZ_CHECK(r->id != nullptr, "result without an ID");
                           ++*static_cast<size_t*>(s->ctx);
                           return 1;
                         }};
  (void)fw->parse_results(fw, &ro, &rs, &es);
  fw->destroy(fw);
  return 0;
}
