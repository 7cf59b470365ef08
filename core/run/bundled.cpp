#include "run/bundled.hpp"

#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>

#include "util/fs.hpp"
#include "util/shell.hpp"

namespace offload {

namespace {
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// Extract (or reuse) one script; returns its path or "" with *error set.
std::string extract(const BundledScript& s, std::string* error) {
  std::string dir = bundled_cache_dir();
  std::string path = dir + "/" + std::string(s.name);
  auto existing = read_file(path);
  if (!existing || *existing != s.content) {
    auto e = make_dirs(dir);
    if (e.empty()) e = write_file_atomic(path, s.content);
    if (!e.empty()) {
      *error = "cannot extract bundled script " + std::string(s.name) + ": " + e;
      return {};
    }
  }
  ::chmod(path.c_str(), 0755);
  return path;
}
} // namespace

std::string bundled_cache_dir() {
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = std::string(h) + "/.cache";
  } else {
    base = std::filesystem::temp_directory_path().string();
  }
  return base + "/offload/scripts/" OFFLOAD_VERSION;
}

std::optional<std::string> expand_bundled(const std::string& command, std::string* error) {
  std::string out;
  size_t i = 0;
  while (i < command.size()) {
    char c = command[i];
    bool at_word_start = i == 0 || command[i - 1] == ' ' || command[i - 1] == '\t' || command[i - 1] == '\n';
    if (c != '@' || !at_word_start) {
      out += c;
      ++i;
      continue;
    }
    // @name.ext: [\w-]+ '.' \w+
    size_t j = i + 1;
    while (j < command.size() && is_name_char(command[j])) ++j;
    size_t dot = j;
    if (dot == i + 1 || dot >= command.size() || command[dot] != '.') {
      out += c;
      ++i;
      continue;
    }
    size_t k = dot + 1;
    while (k < command.size() && (is_name_char(command[k]) && command[k] != '-')) ++k;
    if (k == dot + 1) {
      out += c;
      ++i;
      continue;
    }
    std::string name = command.substr(i + 1, k - i - 1);
    const BundledScript* found = nullptr;
    for (auto& s : bundled_scripts()) {
      if (s.name == name) found = &s;
    }
    if (!found) {
      std::string names;
      for (auto& s : bundled_scripts()) names += (names.empty() ? "" : ", ") + std::string(s.name);
      *error = "unknown bundled script '@" + name + "' (bundled: " + (names.empty() ? "none" : names) + ")";
      return std::nullopt;
    }
    auto path = extract(*found, error);
    if (path.empty()) return std::nullopt;
    out += shell_quote(path);
    i = k;
  }
  return out;
}

} // namespace offload
