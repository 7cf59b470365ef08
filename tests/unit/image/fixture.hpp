#pragma once
/// Real git repositories in temporary directories, for the image tests.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "process/event_loop.hpp"
#include "process/runner.hpp"

namespace offload::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "offload-image-test-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
  std::string operator/(const std::string& rel) const { return (path / rel).string(); }
};

/// Run a shell script in dir (with a fixed git identity); REQUIREs success.
inline std::string sh(const std::string& dir, const std::string& script) {
  ProcessSpec s;
  s.argv = {"sh", "-ec", script};
  s.cwd = dir;
  s.capture_limit = 1 << 24;
  s.env = {{"GIT_AUTHOR_NAME", "t"},         {"GIT_AUTHOR_EMAIL", "t@example.com"},
           {"GIT_COMMITTER_NAME", "t"},      {"GIT_COMMITTER_EMAIL", "t@example.com"},
           {"GIT_CONFIG_NOSYSTEM", "1"},     {"LC_ALL", "C"}};
  auto r = run_process_sync(s);
  INFO("script: " << script << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.ok());
  return r.out;
}

inline void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A fresh repository with one commit holding `files` ({path, content}).
inline void init_repo(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  fs::create_directories(dir);
  sh(dir, "git init -q -b main .");
  for (auto& [p, c] : files) write(dir + "/" + p, c);
  sh(dir, "git add -A && git commit -q -m base");
}

/// Run one asynchronous step to completion on a private loop.
template <class T>
T await(const std::function<void(ProcessRunner&, std::function<void(T)>)>& start) {
  EventLoop loop;
  ProcessRunner runner(loop);
  std::optional<T> out;
  start(runner, [&](T v) { out = std::move(v); });
  loop.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

} // namespace offload::test
