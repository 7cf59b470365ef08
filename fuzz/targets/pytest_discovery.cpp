/// The pytest plugin's discovery parser on arbitrary command output.
/// Input: "<exit code> <signal>" @@@@ stdout @@@@ stderr.
/// It either yields tests with non-empty, NUL-free IDs or throws
/// plugin::Error with a message; nothing else.
#include "fuzz_util.hpp"
#include "pytest_logic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 3);
  auto head = offload::fuzz::lines(f[0]);
  int exit_code = head.empty() ? 0 : offload::fuzz::small_int(head[0]);
  int sig = head.size() > 1 ? offload::fuzz::small_int(head[1]) : 0;
  try {
    auto d = offload::pytest::parse_discovery("g", exit_code, sig, f[1], f[2]);
    for (const auto& t : d.tests) {
      FUZZ_CHECK(!t.id.empty(), "empty test ID");
      FUZZ_CHECK(t.id.find('\0') == std::string::npos, "test ID with a NUL byte (the ABI forbids it): " + t.id);
      (void)offload::pytest::node_arg(d.rootdir, t.id);
      (void)offload::pytest::junit_names(t.id);
    }
  } catch (const offload::plugin::Error& e) {
    FUZZ_CHECK(std::string(e.what()).size() > 0, "error without a message");
  }
  return 0;
}
