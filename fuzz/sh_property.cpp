/// The shell-quoting property against the real /bin/sh: for 2,000 random
/// byte strings (every byte but NUL, which no argv can hold), the output of
///   sh -c "printf %s <shell_quote(s)>"
/// is s, byte for byte; likewise for pytest::sh_quote and
/// nextest::shell_quote, and for shell_join of several words through
///   sh -c 'for a in "$@"...' style word counting.
/// Deterministic (fixed seed) so a failure reproduces; the failing input is
/// printed as hex.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "nextest_logic.hpp"
#include "pytest_logic.hpp"
#include "util/shell.hpp"

extern char** environ;

namespace {

/// stdout of `sh -c script`, or nullopt-ish "\x01failed" on a spawn error.
bool run_sh(const std::string& script, std::string* out, int* status) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::string sh = "/bin/sh", c = "-c";
  char* argv[] = {sh.data(), c.data(), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return false;
  }
  out->clear();
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, status, 0);
  return true;
}

std::string hex(const std::string& s) {
  std::string h;
  char b[4];
  for (unsigned char c : s) {
    std::snprintf(b, sizeof b, "%02x", c);
    h += b;
  }
  return h;
}

std::string random_bytes(std::mt19937& rng) {
  // Mostly short strings rich in shell metacharacters, sometimes any byte.
  static const std::string meta = "'\"\\$`!*?[]{}()<>|&;#~ \t\n\r=%@:,.-_/aZ09";
  std::uniform_int_distribution<int> len(0, 40), kind(0, 3), any(1, 255);
  std::uniform_int_distribution<size_t> pick(0, meta.size() - 1);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) s += kind(rng) == 0 ? static_cast<char>(any(rng)) : meta[pick(rng)];
  return s;
}

int failures = 0;

void expect_printf(const char* who, const std::string& s, const std::string& quoted) {
  std::string out;
  int status = 0;
  if (!run_sh("printf %s " + quoted, &out, &status) || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || out != s) {
    ++failures;
    std::fprintf(stderr, "FAIL %s: input hex %s\n  quoted: %s\n  sh printed hex %s (status %d)\n", who,
                 hex(s).c_str(), quoted.c_str(), hex(out).c_str(), status);
  }
}

} // namespace

int main(int argc, char** argv) {
  int count = argc > 1 ? std::stoi(argv[1]) : 2000;
  std::mt19937 rng(20240611);
  for (int i = 0; i < count && failures < 10; ++i) {
    std::string s = random_bytes(rng);
    switch (i % 4) {
    case 0: expect_printf("shell_quote", s, offload::shell_quote(s)); break;
    case 1: expect_printf("pytest::sh_quote", s, offload::pytest::sh_quote(s)); break;
    case 2: expect_printf("nextest::shell_quote", s, offload::nextest::shell_quote(s)); break;
    case 3: {
      // Three words joined: each arrives as its own argument, unchanged.
      std::vector<std::string> words{s, random_bytes(rng), ""};
      std::string want;
      for (auto& w : words) want += "<" + w + ">";
      std::string out;
      int status = 0;
      std::string script = "for a in " + offload::shell_join(words) + "; do printf '<%s>' \"$a\"; done";
      if (!run_sh(script, &out, &status) || out != want) {
        ++failures;
        std::fprintf(stderr, "FAIL shell_join: script %s\n  want hex %s\n  got  hex %s\n", script.c_str(),
                     hex(want).c_str(), hex(out).c_str());
      }
      break;
    }
    }
  }
  std::printf("%d random strings through /bin/sh, %d failures\n", count, failures);
  return failures == 0 ? 0 : 1;
}
