/// `offload history setup-merge-driver`: wires the history file to the
/// `offload history merge` driver in the surrounding git repository.
#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

#include "history/history.hpp"
#include "util/fs.hpp"
#include "util/shell.hpp"
#include "util/strings.hpp"

namespace offload {

namespace {

constexpr const char* kDriverName = "offload-history";

struct CommandResult {
  int status = -1;  ///< exit code, or -1 if it did not exit normally
  std::string output;  ///< stdout and stderr together
};

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    r.output = "cannot run: " + cmd;
    return r;
  }
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    r.output.append(buf, n);
  }
  const int st = ::pclose(p);
  r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  return r;
}

/// A path as a gitattributes pattern: glob characters escaped, and C-quoted
/// when it holds whitespace, quotes or control characters.
std::string attribute_pattern(const std::string& path) {
  std::string escaped;
  bool needs_quotes = false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '*' || c == '?' || c == '[' || c == '\\') {
      escaped += '\\';
    }
    if (u <= ' ' || c == '"' || u == 0x7f) {
      needs_quotes = true;
    }
    escaped += c;
  }
  if (!needs_quotes) {
    return escaped;
  }
  std::string quoted = "\"";
  for (char c : escaped) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (u < ' ' || u == 0x7f) {
      char oct[8];
      std::snprintf(oct, sizeof oct, "\\%03o", u);
      quoted += oct;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

} // namespace

std::string setup_merge_driver(const std::string& history_path, const std::string& offload_exe) {
  namespace fs = std::filesystem;
  auto top = run_command("git rev-parse --show-toplevel");
  if (top.status != 0) {
    return "not inside a git repository: " + std::string(trim(top.output));
  }
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::path(std::string(trim(top.output))), ec);
  if (ec) {
    return "cannot resolve the repository root: " + ec.message();
  }
  const fs::path file = fs::weakly_canonical(fs::absolute(history_path, ec), ec);
  if (ec) {
    return history_path + ": " + ec.message();
  }
  const fs::path rel = file.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    return "history file " + file.string() + " is outside the git repository at " + root.string();
  }

  const std::string line = attribute_pattern(rel.generic_string()) + " merge=" + kDriverName;
  const std::string attributes = (root / ".gitattributes").string();
  std::string existing;
  if (fs::exists(attributes, ec)) {
    std::string err;
    auto text = read_file(attributes, &err);
    if (!text) {
      return err;
    }
    existing = std::move(*text);
  }
  bool present = false;
  for (const auto& l : split_lines(existing)) {
    if (trim(l) == line) {
      present = true;
    }
  }
  if (!present) {
    if (!existing.empty() && existing.back() != '\n') {
      existing += '\n';
    }
    existing += line + "\n";
    if (auto err = write_file_atomic(attributes, existing); !err.empty()) {
      return err;
    }
  }

  const std::string git = "git -C " + shell_quote(root.string()) + " config ";
  const std::string driver = shell_quote(offload_exe) + " history merge %O %A %B";
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{std::string("merge.") + kDriverName + ".name",
                                            "offload history merge driver"},
        std::pair<std::string, std::string>{std::string("merge.") + kDriverName + ".driver", driver}}) {
    auto r = run_command(git + shell_quote(key) + " " + shell_quote(value));
    if (r.status != 0) {
      return "git config " + key + " failed: " + std::string(trim(r.output));
    }
  }
  return {};
}

} // namespace offload
