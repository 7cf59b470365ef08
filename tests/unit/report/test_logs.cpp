#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "report/junit.hpp"
#include "report/logs.hpp"
#include "report_test_util.hpp"
#include "util/fs.hpp"

using namespace offload;
using namespace offload::testutil;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

/// The banners of an output, in order.
std::vector<std::string> banners(const std::string& out) {
  std::vector<std::string> b;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (line.rfind("=== ", 0) == 0) {
      b.push_back(line);
    }
    if (nl == std::string::npos) {
      break;
    }
    pos = nl + 1;
  }
  return b;
}

/// A merged report with one test of every status, written by render_junit.
struct Report {
  ScratchDir dir;
  std::string path = dir.file("junit.xml");
  Report() { REQUIRE(write_junit(path, sample_results(), JunitWriteOptions{}) == ""); }
};

const std::string kAdd = "=== tests/test_math.py::test_add [PASSED] ===";
const std::string kFlaky = "=== tests/test_math.py::test_flaky [FLAKY] ===";
const std::string kSkip = "=== tests/test_math.py::test_skip [SKIPPED] ===";
const std::string kBig = "=== tests/test_slow.py::test_big [FAILED] ===";
const std::string kHang = "=== tests/test_slow.py::test_hang [ERROR] ===";

int logs(const std::string& path, const LogsFilter& f, std::string& out) {
  out.clear();
  return show_logs(path, f, out);
}

} // namespace

TEST_CASE("logs: no filters prints every test sorted by id, each followed by a blank line") {
  Report r;
  std::string out;
  CHECK(logs(r.path, {}, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kAdd, kFlaky, kSkip, kBig, kHang});

  // Failed: message, then the trace, then the final attempt's output.
  std::string failed_block = kBig + "\n"
                             "AssertionError: second\n"
                             "trace two\n"
                             "  at line 2\n"
                             "--- system-out ---\n"
                             "out two\n"
                             "--- system-err ---\n"
                             "err two\n"
                             "\n";
  CHECK_MESSAGE(contains(out, failed_block), out);
  CHECK(contains(out, kAdd + "\n--- system-out ---\nadd ok\n\n"));
  CHECK(contains(out, kSkip + "\nnot today\n\n"));
  CHECK(contains(out, kHang + "\nnot run: batch 4 crashed (signal 9)\n\n"));

  // Flaky: why, then each failed attempt's text, then the passing attempt's output.
  CHECK_MESSAGE(contains(out, kFlaky + "\n"
                                       "passed on attempt 2 after 1 failure\n"
                                       "--- failed attempt 1 of 1 ---\n"
                                       "boom\n"
                                       "Traceback: boom\n"
                                       "--- system-out ---\n"
                                       "flaky out\n"
                                       "--- system-err ---\n"
                                       "flaky err\n"
                                       "--- passing attempt ---\n"
                                       "--- system-out ---\n"
                                       "second time lucky\n"
                                       "\n"),
                out);
  CHECK(out.size() >= 2);
  CHECK(out.substr(out.size() - 2) == "\n\n");
}

TEST_CASE("logs: --failures shows failed and flaky tests") {
  Report r;
  std::string out;
  LogsFilter f;
  f.failures = true;
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kFlaky, kBig});
}

TEST_CASE("logs: --errors shows errored (not run) tests") {
  Report r;
  std::string out;
  LogsFilter f;
  f.errors = true;
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kHang});
}

TEST_CASE("logs: --failures --errors shows either") {
  Report r;
  std::string out;
  LogsFilter f;
  f.failures = true;
  f.errors = true;
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kFlaky, kBig, kHang});
}

TEST_CASE("logs: --test is exact and repeatable") {
  Report r;
  std::string out;
  LogsFilter f;
  f.tests = {"tests/test_slow.py::test_hang", "tests/test_math.py::test_add"};
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kAdd, kHang});

  f.tests = {"test_add"}; // not a substring match
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out).empty());
  CHECK(out == "No tests matched the given filters.\n");
}

TEST_CASE("logs: --test-regex is a substring search") {
  Report r;
  std::string out;
  LogsFilter f;
  f.regex = "test_math";
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kAdd, kFlaky, kSkip});

  f.regex = "t_(big|hang)$";
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kBig, kHang});
}

TEST_CASE("logs: filters compose with AND") {
  Report r;
  std::string out;
  LogsFilter f;
  f.failures = true;
  f.regex = "test_math";
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kFlaky});

  f = {};
  f.errors = true;
  f.tests = {"tests/test_slow.py::test_hang", "tests/test_slow.py::test_big"};
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kHang});

  f = {};
  f.tests = {"tests/test_slow.py::test_hang", "tests/test_slow.py::test_big"};
  f.regex = "big";
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kBig});

  f.failures = true;
  f.errors = true;
  CHECK(logs(r.path, f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{kBig});

  f.regex = "add";
  CHECK(logs(r.path, f, out) == 0);
  CHECK(out == "No tests matched the given filters.\n");
}

TEST_CASE("logs: missing file, bad regex, unreadable and empty reports") {
  ScratchDir dir;
  std::string out;
  std::string missing = dir.file("test-results/junit.xml");
  CHECK(logs(missing, {}, out) == 1);
  CHECK(out == "No test results found at " + missing + ". Run `offload run` first.\n");

  Report r;
  LogsFilter f;
  f.regex = "([unclosed";
  CHECK(logs(r.path, f, out) == 1);
  CHECK(out.rfind("Invalid --test-regex '([unclosed': ", 0) == 0);

  std::string broken = dir.file("broken.xml");
  REQUIRE(write_file_atomic(broken, "<testsuites><testsuite>") == "");
  CHECK(logs(broken, {}, out) == 1);
  CHECK(contains(out, "broken.xml"));

  std::string empty = dir.file("empty.xml");
  REQUIRE(write_file_atomic(empty, "<testsuites name=\"offload\"/>") == "");
  CHECK(logs(empty, {}, out) == 0);
  CHECK(out == "No test results in " + empty + ".\n");
}

TEST_CASE("logs: foreign reports; a failing copy of a duplicated id wins") {
  ScratchDir dir;
  std::string path = dir.file("foreign.xml");
  REQUIRE(write_file_atomic(path, R"(<testsuites>
  <testsuite name="batch-1"><testcase name="t::a"/><testcase name="t::b"/></testsuite>
  <testsuite name="batch-2"><testcase name="t::a"><failure message="first try">tb</failure></testcase>
    <testcase name="t::b"/><testcase name="t::c"><error message="setup">err tb</error></testcase></testsuite>
</testsuites>)") == "");
  std::string out;
  CHECK(logs(path, {}, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{"=== t::a [FAILED] ===", "=== t::b [PASSED] ===",
                                                 "=== t::c [ERROR] ==="});
  CHECK(contains(out, "=== t::a [FAILED] ===\nfirst try\ntb\n\n"));
}

TEST_CASE("logs: real framework reports") {
  std::string out;
  LogsFilter f;
  f.failures = true;
  CHECK(logs(fixture("pytest.xml"), f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{"=== test_div [FAILED] ===", "=== test_fail [FAILED] ==="});
  CHECK(contains(out, "some stdout from test_fail"));

  f = {};
  f.errors = true;
  CHECK(logs(fixture("pytest.xml"), f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{"=== test_error_in_fixture [ERROR] ==="});

  f = {};
  f.failures = true;
  CHECK(logs(fixture("nextest.xml"), f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{"=== tests::always_fails [FAILED] ===",
                                                 "=== tests::flaky_network [FLAKY] ==="});
  CHECK(contains(out, "connection refused"));

  f = {};
  f.regex = "nested";
  CHECK(logs(fixture("vitest.xml"), f, out) == 0);
  CHECK(banners(out) == std::vector<std::string>{"=== math > nested > inc 1 -> 2 [PASSED] ===",
                                                 "=== math > nested > inc 5 -> 6 [PASSED] ==="});

  CHECK(logs(fixture("truncated.xml"), {}, out) == 1);
  CHECK(logs(fixture("empty.xml"), {}, out) == 1);
  CHECK(logs(fixture("not-xml.txt"), {}, out) == 1);
}
