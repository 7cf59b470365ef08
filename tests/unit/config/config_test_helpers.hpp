#pragma once
/// Shared helpers for the config unit tests.
#include <string>

#include "config/config.hpp"

namespace offload::test {

/// A minimal valid config body: local provider, pytest, one group.
inline const char* kMinimal = "[provider]\ntype = \"local\"\n[framework]\ntype = \"pytest\"\n[groups.all]\n";

/// All errors joined by newlines (for CHECK messages).
inline std::string all_errors(const ConfigResult& r) {
  std::string out;
  for (const auto& e : r.errors) {
    out += e.str() + "\n";
  }
  return out;
}

inline std::string all_warnings(const ConfigResult& r) {
  std::string out;
  if (r.config) {
    for (const auto& w : r.config->warnings) {
      out += w + "\n";
    }
  }
  return out;
}

/// The error whose str() contains `needle`, or nullptr.
inline const ConfigError* find_error(const ConfigResult& r, const std::string& needle) {
  for (const auto& e : r.errors) {
    if (e.str().find(needle) != std::string::npos) {
      return &e;
    }
  }
  return nullptr;
}

inline bool has_warning(const ConfigResult& r, const std::string& needle) {
  return all_warnings(r).find(needle) != std::string::npos;
}

} // namespace offload::test
