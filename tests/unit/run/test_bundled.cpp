#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "run/bundled.hpp"
#include "util/fs.hpp"

using namespace offload;

TEST_CASE("bundled scripts are compiled in and expanded to extracted files") {
  auto tmp = std::filesystem::temp_directory_path() / ("offload-bundled-" + std::to_string(::getpid()));
  ::setenv("XDG_CACHE_HOME", tmp.c_str(), 1);
  REQUIRE_FALSE(bundled_scripts().empty());
  bool has_dir_sandbox = false;
  for (auto& s : bundled_scripts()) has_dir_sandbox = has_dir_sandbox || s.name == "dir_sandbox.sh";
  CHECK(has_dir_sandbox);

  std::string err;
  auto out = expand_bundled("sh @dir_sandbox.sh create {image_id}", &err);
  REQUIRE(out);
  std::string path = bundled_cache_dir() + "/dir_sandbox.sh";
  CHECK(*out == "sh " + path + " create {image_id}");
  auto content = read_file(path);
  REQUIRE(content);
  CHECK(content->rfind("#!/bin/sh", 0) == 0);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0111) != 0);

  // Not references: e-mail addresses, decorators inside words, bare '@'.
  CHECK(*expand_bundled("echo user@host.com a@b.c @ x", &err) == "echo user@host.com a@b.c @ x");
  CHECK_FALSE(expand_bundled("uv run @missing.py", &err));
  CHECK(err.find("unknown bundled script '@missing.py'") != std::string::npos);
  CHECK(err.find("dir_sandbox.sh") != std::string::npos);
  std::filesystem::remove_all(tmp);
  ::unsetenv("XDG_CACHE_HOME");
}
