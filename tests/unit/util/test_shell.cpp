#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "util/shell.hpp"
#include "util/strings.hpp"

using namespace offload;

namespace {
/// Round-trip through a real sh: the quoted word must come back byte-identical.
std::string through_sh(const std::string& s) {
  std::string cmd = "printf %s " + shell_quote(s);
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  ::pclose(p);
  return out;
}
} // namespace

TEST_CASE("shell_quote keeps hostile test IDs as data") {
  for (std::string id : {"plain", "", "with space", "it's", "$(touch /tmp/pwned)", "`id`", "a\nb",
                         "tests/t.py::test[a-b\"c]", "x > y > z", "--flag", "*", "~root", "a;b|c&d"}) {
    CHECK(through_sh(id) == id);
  }
  CHECK(shell_quote("simple/path.py::t") == "simple/path.py::t");
  CHECK(shell_quote("it's") == "'it'\\''s'");
}

TEST_CASE("shell_split splits like sh without expanding") {
  auto v = shell_split("uv run  pytest -m 'not slow' -k \"a b\" x\\ y");
  REQUIRE(v);
  CHECK(*v == std::vector<std::string>{"uv", "run", "pytest", "-m", "not slow", "-k", "a b", "x y"});
  CHECK_FALSE(shell_split("a 'b"));
  CHECK(shell_split("")->empty());
}

TEST_CASE("split_lines drops CR and handles no trailing newline") {
  CHECK(split_lines("a\r\nb\nc") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_lines("a\n") == std::vector<std::string>{"a"});
  CHECK(trim("  x \n") == "x");
}
