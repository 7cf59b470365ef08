/// parse_config() on arbitrary text: never throws, never crashes; every
/// failure is a ConfigError with a message; a config that loads can be
/// described (offload validate) without crashing.
#include <cstdlib>

#include "config/config.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Values the fuzzer's ${...} references may hit: quotes, newlines, a $ that
  // must not be expanded again.
  setenv("FUZZ_Q", "it's \"quoted\"", 1);
  setenv("FUZZ_NL", "line1\nline2", 1);
  setenv("FUZZ_EMPTY", "", 1);
  setenv("FUZZ_DOLLAR", "${FUZZ_Q}$$", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = offload::parse_config(text, "fuzz.toml");
  for (const auto& e : r.errors) {
    FUZZ_CHECK(!e.message.empty() || !e.field.empty(), "an error without a message");
    (void)e.str();
  }
  if (r.ok()) {
    (void)offload::describe_config(*r.config);
  } else {
    FUZZ_CHECK(!r.errors.empty(), "a config that failed to load without saying why");
  }
  return 0;
}
