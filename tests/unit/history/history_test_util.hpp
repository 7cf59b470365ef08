#pragma once
/// Helpers for the history tests: throwaway directories, shell commands,
/// hand-built TestResults.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "run/outcome.hpp"

namespace offload::test {

/// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "offload-history-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    m_path = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return m_path; }
  std::string operator/(const std::string& name) const { return m_path + "/" + name; }

 private:
  std::string m_path;
};

/// Run a shell command; returns its exit code and, if out is given, its stdout+stderr.
inline int sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    return -1;
  }
  std::string text;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  int st = ::pclose(p);
  if (out) {
    *out = text;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/// A test result with one attempt per (status, seconds) pair.
inline TestResult result(const std::string& id, std::vector<std::pair<AttemptStatus, double>> attempts) {
  TestResult r;
  r.id = id;
  for (auto [status, secs] : attempts) {
    Attempt a;
    a.status = status;
    a.duration_secs = secs;
    r.attempts.push_back(a);
  }
  return r;
}

inline TestResult passed(const std::string& id, double secs) {
  return result(id, {{AttemptStatus::Passed, secs}});
}
inline TestResult failed(const std::string& id, double secs) {
  return result(id, {{AttemptStatus::Failed, secs}});
}

} // namespace offload::test
