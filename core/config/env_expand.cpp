/// expand_env(): the ${VAR} / ${VAR:-default} / $$ syntax of config values.
///
/// Rules (the spec's, plus the original's $$ escape):
/// - `${VAR}` is VAR's value; an error if VAR is not set (set but empty is "").
/// - `${VAR:-default}` is VAR's value if VAR is set, else `default`, which may
///   itself contain references (expanded only when used).
/// - `$$` is a literal `$`.
/// - Any other `$` (followed by anything but `{` or `$`, or at the end) is kept
///   literally, so shell text like `$HOME` or `a$` passes through untouched.
/// - Errors: `${` without its `}`, an empty name, a name that is not
///   [A-Za-z_][A-Za-z0-9_]*, defaults nested deeper than kMaxDepth (a
///   hostile value like 1 MB of `${X:-` would otherwise recurse a million
///   frames deep and rescan the rest of the value at every level).
#include <cstdlib>

#include "config/config.hpp"

namespace offload {
namespace {

bool valid_name(const std::string& name) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) {
      return false;
    }
  }
  return true;
}

/// Index of the `}` closing the `${` whose body starts at `start`, honouring
/// nested `${...}` in defaults; npos if unclosed.
size_t find_close(const std::string& s, size_t start) {
  int depth = 1;
  for (size_t i = start; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (s[i] == '}') {
      if (--depth == 0) {
        return i;
      }
    }
  }
  return std::string::npos;
}

/// Defaults nest at most this deep: `${A:-${B:-${C:-...}}}`.
constexpr int kMaxDepth = 32;

std::optional<std::string> expand(const std::string& value, std::string* error, int depth) {
  auto fail = [&](std::string message) -> std::optional<std::string> {
    if (error != nullptr) {
      *error = std::move(message);
    }
    return std::nullopt;
  };
  std::string out;
  out.reserve(value.size());
  size_t i = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c != '$' || i + 1 >= value.size()) {
      out += c;
      ++i;
      continue;
    }
    const char next = value[i + 1];
    if (next == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next != '{') {
      out += c;
      ++i;
      continue;
    }
    const size_t body = i + 2;
    const size_t close = find_close(value, body);
    if (close == std::string::npos) {
      return fail("unclosed ${ at offset " + std::to_string(i));
    }
    const std::string inner = value.substr(body, close - body);
    const size_t sep = inner.find(":-");
    const std::string name = inner.substr(0, sep);
    if (name.empty()) {
      return fail("empty variable name in ${}");
    }
    if (!valid_name(name)) {
      return fail("invalid variable name '" + name + "' in ${...}");
    }
    if (const char* env = std::getenv(name.c_str())) {
      out += env;
    } else if (sep != std::string::npos) {
      if (depth >= kMaxDepth) {
        return fail("${...:-default} nested more than " + std::to_string(kMaxDepth) + " levels deep");
      }
      auto fallback = expand(inner.substr(sep + 2), error, depth + 1);
      if (!fallback) {
        return std::nullopt;
      }
      out += *fallback;
    } else {
      return fail("required variable " + name + " is not set");
    }
    i = close + 1;
  }
  return out;
}

} // namespace

std::optional<std::string> expand_env(const std::string& value, std::string* error) {
  return expand(value, error, 0);
}

} // namespace offload
