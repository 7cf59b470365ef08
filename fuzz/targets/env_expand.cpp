/// expand_env(): never crashes, text without '$' is returned unchanged, an
/// error always has a message, and values substituted from the environment
/// are data: they are never expanded again.
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("FUZZ_Q", "it's \"quoted\"", 1);
  setenv("FUZZ_NL", "line1\nline2", 1);
  setenv("FUZZ_EMPTY", "", 1);
  setenv("FUZZ_DOLLAR", "${FUZZ_Q}$$", 1);
  unsetenv("FUZZ_UNSET");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto out = offload::expand_env(in, &error);
  if (!out) {
    FUZZ_CHECK(!error.empty(), "expansion failed without a message");
    return 0;
  }
  if (in.find('$') == std::string::npos) {
    FUZZ_CHECK(*out == in, "text without '$' changed: [" + in + "] -> [" + *out + "]");
  }
  // A lone reference to FUZZ_DOLLAR yields its value verbatim.
  if (in == "${FUZZ_DOLLAR}") {
    FUZZ_CHECK(*out == "${FUZZ_Q}$$", *out);
  }
  // $$ escapes: doubling every '$' of a '$'-free-of-braces text gives it back.
  std::string doubled;
  for (char c : in) {
    doubled += c;
    if (c == '$') {
      doubled += '$';
    }
  }
  auto back = offload::expand_env(doubled, &error);
  FUZZ_CHECK(back && *back == in, "$$-escaped text did not expand to itself: [" + in + "]");
  return 0;
}
