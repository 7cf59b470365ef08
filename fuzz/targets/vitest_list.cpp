/// The vitest plugin's `vitest list --json` parser on arbitrary output.
/// Input: "<exit code> <signal> <format#>" @@@@ stdout @@@@ stderr.
/// It yields unique, non-empty, NUL-free IDs that its IdFormat takes apart
/// again, or throws vitest::Failure; nothing else.
#include <set>

#include "fuzz_util.hpp"
#include "vitest_logic.hpp"

namespace {
const char* const kFormats[] = {"{classname} > {name}", "{name}", "{name} @ {classname}", "[{classname}]::{name}"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 3);
  auto head = offload::fuzz::lines(f[0]);
  int exit_code = head.empty() ? 0 : offload::fuzz::small_int(head[0]);
  int sig = head.size() > 1 ? offload::fuzz::small_int(head[1]) : 0;
  int which = head.size() > 2 ? offload::fuzz::small_int(head[2]) : 0;
  offload::vitest::IdFormat fmt(kFormats[static_cast<unsigned>(which) % 4]);
  try {
    auto tests = offload::vitest::parse_list(f[1], f[2], exit_code, sig, "/proj", fmt);
    std::set<std::string> ids;
    for (const auto& t : tests) {
      FUZZ_CHECK(!t.id.empty(), "empty test ID");
      FUZZ_CHECK(t.id.find('\0') == std::string::npos, "test ID with a NUL byte (the ABI forbids it)");
      FUZZ_CHECK(ids.insert(t.id).second, "duplicate ID not refused: " + t.id);
    }
  } catch (const offload::vitest::Failure& e) {
    FUZZ_CHECK(std::string(e.what()).size() > 0, "error without a message");
  }
  return 0;
}
