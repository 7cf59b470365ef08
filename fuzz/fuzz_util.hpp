#pragma once
/// Helpers shared by the fuzz targets: splitting one input into several
/// fields, and a CHECK that aborts (so libFuzzer records the input as a crash
/// and the regression runner fails) when a stated property does not hold.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace offload::fuzz {

/// Separates the fields of one input. Readable in seed files, and short
/// enough for the fuzzer to discover and mutate (it is also in the dictionaries).
inline constexpr std::string_view kSep = "\n@@@@\n";

/// Splits `data` into exactly `n` fields at the first n-1 separators; missing
/// fields are empty, the last field takes the rest.
inline std::vector<std::string> fields(const uint8_t* data, size_t size, size_t n) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> out;
  while (out.size() + 1 < n) {
    size_t at = s.find(kSep);
    if (at == std::string_view::npos) {
      break;
    }
    out.emplace_back(s.substr(0, at));
    s.remove_prefix(at + kSep.size());
  }
  out.emplace_back(s);
  out.resize(n);
  return out;
}

/// A small integer from a header field ("0", "-9", "137"); anything else is 0.
inline int small_int(std::string_view s) {
  int v = 0;
  bool neg = false;
  size_t i = 0;
  if (!s.empty() && s[0] == '-') {
    neg = true;
    i = 1;
  }
  for (; i < s.size() && i < 6; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      break;
    }
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

/// Lines of `s` (without their '\n').
inline std::vector<std::string> lines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t at = s.find('\n');
    out.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) {
      break;
    }
    s.remove_prefix(at + 1);
  }
  return out;
}

[[noreturn]] inline void check_failed(const char* expr, const char* file, int line, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: property violated: %s\n%s\n", file, line, expr, detail.c_str());
  std::abort();
}

} // namespace offload::fuzz

#define FUZZ_CHECK(cond, detail)                                                                   \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ::offload::fuzz::check_failed(#cond, __FILE__, __LINE__, (detail));                          \
    }                                                                                              \
  } while (0)
