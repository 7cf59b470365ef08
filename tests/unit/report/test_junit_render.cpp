#include <doctest/doctest.h>

#include <pugixml.hpp>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <sys/wait.h>
#include <map>
#include <string>

#include "report/junit.hpp"
#include "report_test_util.hpp"
#include "util/fs.hpp"

using namespace offload;
using namespace offload::testutil;
using namespace std::string_literals;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::map<std::string, std::string> props_of(const JunitCase& c) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : c.properties) {
    m[k] = v;
  }
  return m;
}

/// Run a shell command, returning its exit status and combined output.
int run(const std::string& cmd, std::string& output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    output.append(buf, n);
  }
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_xmllint() {
  std::string ignored;
  return run("command -v xmllint", ignored) == 0;
}

} // namespace

TEST_CASE("render: header, suites in first-seen order, counts agree with outcomes") {
  std::vector<TestResult> rs = sample_results();
  JunitWriteOptions opts;
  opts.total_secs = 12.3456;
  std::string xml = render_junit(rs, opts);
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"offload\" ", 0) == 0);

  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  pugi::xml_node root = doc.child("testsuites");
  CHECK(std::string(root.attribute("name").value()) == "offload");
  CHECK(root.attribute("tests").as_int() == 5);
  CHECK(root.attribute("failures").as_int() == 1);
  CHECK(root.attribute("errors").as_int() == 1);
  CHECK(root.attribute("skipped").as_int() == 1);
  CHECK(std::string(root.attribute("time").value()) == "12.346");

  std::vector<std::string> suites;
  for (pugi::xml_node s : root.children("testsuite")) {
    suites.push_back(s.attribute("name").value());
  }
  CHECK(suites == std::vector<std::string>{"unit", "slow"});

  pugi::xml_node unit = root.find_child_by_attribute("testsuite", "name", "unit");
  CHECK(unit.attribute("tests").as_int() == 3);
  CHECK(unit.attribute("failures").as_int() == 0);
  CHECK(unit.attribute("errors").as_int() == 0);
  CHECK(unit.attribute("skipped").as_int() == 1);
  CHECK(std::string(unit.attribute("time").value()) == "0.375"); // 0.25 + 0.125 + 0
  pugi::xml_node slow = root.find_child_by_attribute("testsuite", "name", "slow");
  CHECK(slow.attribute("tests").as_int() == 2);
  CHECK(slow.attribute("failures").as_int() == 1);
  CHECK(slow.attribute("errors").as_int() == 1);
  CHECK(slow.attribute("skipped").as_int() == 0);

  // Within a suite, the given order; classname is the group.
  std::vector<std::string> unit_ids;
  for (pugi::xml_node tc : unit.children("testcase")) {
    unit_ids.push_back(tc.attribute("name").value());
    CHECK(std::string(tc.attribute("classname").value()) == "unit");
  }
  CHECK(unit_ids == std::vector<std::string>{"tests/test_math.py::test_add", "tests/test_math.py::test_flaky",
                                             "tests/test_math.py::test_skip"});
}

TEST_CASE("render: the sum of an empty run is a valid empty document") {
  std::string xml = render_junit({}, JunitWriteOptions{});
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  CHECK(p.cases.empty());
  CHECK(contains(xml, "tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.000\""));
}

TEST_CASE("render -> parse round trip keeps ids, statuses, attempts and output") {
  std::vector<TestResult> rs = sample_results();
  std::string xml = render_junit(rs, JunitWriteOptions{});
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == rs.size());

  std::map<std::string, const JunitCase*> by_id;
  for (const JunitCase& c : p.cases) {
    by_id[format_test_id("{name}", c)] = &c;
  }
  REQUIRE(by_id.size() == rs.size());

  const JunitCase& pass = *by_id.at("tests/test_math.py::test_add");
  CHECK(pass.status == AttemptStatus::Passed);
  CHECK(pass.retries.empty());
  CHECK(pass.system_out == "add ok\n");
  CHECK(pass.time == doctest::Approx(0.25));
  auto pp = props_of(pass);
  CHECK(pp["offload.outcome"] == "passed");
  CHECK(pp["offload.cause"] == "passed");
  CHECK(pp["offload.attempts"] == "1");
  CHECK(pp["offload.attempt.1.batch"] == "0");
  CHECK(pp["offload.attempt.1.sandbox"] == "local-0");
  CHECK(pp["offload.attempt.1.status"] == "passed");
  CHECK(pp["offload.attempt.1.duration"] == "0.250");

  const JunitCase& failed = *by_id.at("tests/test_slow.py::test_big");
  CHECK(failed.status == AttemptStatus::Failed);
  CHECK(failed.message == "AssertionError: second"); // the last failing attempt
  CHECK(failed.type == "AssertionError");
  CHECK(failed.text == "trace two\n  at line 2");
  CHECK(failed.system_out == "out two");
  CHECK(failed.system_err == "err two");
  CHECK(failed.time == doctest::Approx(1.25));
  REQUIRE(failed.retries.size() == 1);
  CHECK(failed.retries[0].kind == "rerunFailure");
  CHECK(failed.retries[0].message == "AssertionError: first");
  CHECK(failed.retries[0].text == "trace one");
  CHECK(failed.retries[0].system_out == "out one");
  auto fp = props_of(failed);
  CHECK(fp["offload.outcome"] == "failed");
  CHECK(fp["offload.attempts"] == "2");
  CHECK(fp["offload.attempt.2.batch"] == "3");
  CHECK(fp["offload.attempt.2.status"] == "failed");

  const JunitCase& flaky = *by_id.at("tests/test_math.py::test_flaky");
  CHECK(flaky.status == AttemptStatus::Passed);
  REQUIRE(flaky.retries.size() == 1);
  CHECK(flaky.retries[0].kind == "flakyFailure");
  CHECK(flaky.retries[0].message == "boom");
  CHECK(flaky.retries[0].type == "RuntimeError");
  CHECK(flaky.retries[0].text == "Traceback: boom");
  CHECK(flaky.retries[0].system_out == "flaky out");
  CHECK(flaky.retries[0].system_err == "flaky err");
  CHECK(flaky.system_out == "second time lucky");
  CHECK(flaky.time == doctest::Approx(0.125));
  CHECK(props_of(flaky)["offload.outcome"] == "flaky");
  CHECK(props_of(flaky)["offload.cause"] == "passed on attempt 2 after 1 failure");

  const JunitCase& skip = *by_id.at("tests/test_math.py::test_skip");
  CHECK(skip.status == AttemptStatus::Skipped);
  CHECK(skip.message == "not today");

  const JunitCase& notrun = *by_id.at("tests/test_slow.py::test_hang");
  CHECK(notrun.status == AttemptStatus::Error);
  CHECK(notrun.message == "not run: batch 4 crashed (signal 9)");
  CHECK(notrun.type == "offload.NotRun");
  CHECK(props_of(notrun)["offload.attempt.1.cause"] == "batch 4 crashed (signal 9)");
  CHECK(props_of(notrun)["offload.attempt.1.duration"] == "900.000");
  CHECK(notrun.time == 0); // a batch's wall time is not the test's duration
}

TEST_CASE("render: a cause that already says 'not run' is not doubled") {
  TestResult r;
  r.id = "t";
  r.group = "g";
  r.outcome = Outcome::NotRun;
  r.cause = "not run: result file missing";
  JunitParse p = parse_junit(render_junit({r}, JunitWriteOptions{}));
  REQUIRE(p.ok());
  REQUIRE(p.cases.size() == 1);
  CHECK(p.cases[0].message == "not run: result file missing");
}

TEST_CASE("render: failed with several attempts keeps each earlier one as rerunFailure") {
  TestResult r;
  r.id = "t";
  r.group = "g";
  r.outcome = Outcome::Failed;
  for (int i = 1; i <= 3; ++i) {
    Attempt a = attempt(AttemptStatus::Failed, i, i, "s");
    a.message = "fail " + std::to_string(i);
    r.attempts.push_back(a);
  }
  Attempt timeout = attempt(AttemptStatus::Error, 900, 9, "s");
  timeout.cause = "batch timed out after 900s";
  r.attempts.push_back(timeout);
  JunitParse p = parse_junit(render_junit({r}, JunitWriteOptions{}));
  REQUIRE(p.ok());
  REQUIRE(p.cases.size() == 1);
  CHECK(p.cases[0].status == AttemptStatus::Failed);
  CHECK(p.cases[0].message == "batch timed out after 900s"); // message falls back to the cause
  CHECK(p.cases[0].type == "error");
  REQUIRE(p.cases[0].retries.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(p.cases[0].retries[i].kind == "rerunFailure");
    CHECK(p.cases[0].retries[i].message == "fail " + std::to_string(i + 1));
  }
}

TEST_CASE("render: hostile text stays well-formed and readable") {
  TestResult r;
  r.id = "tests/t.py::test[a<b&\"c\"]\x01";
  r.group = "g]]>";
  r.outcome = Outcome::Failed;
  Attempt a = attempt(AttemptStatus::Failed, 0.1, 0, "s");
  a.message = "bad \x1b[31mred\x1b[0m \xff\xfe end";
  a.text = "nul:\0:bel\x07 cdata ]]> lt < amp & crlf\r\n"s;
  a.system_out = "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 tab\tok";
  a.system_err = "\xed\xa0\x80 surrogate \xc0\xaf overlong \xef\xbf\xbf nonchar";
  r.attempts.push_back(a);

  std::string xml = render_junit({r}, JunitWriteOptions{});
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 1);
  const JunitCase& c = p.cases[0];
  CHECK(c.name == "tests/t.py::test[a<b&\"c\"]\\x01");
  CHECK(c.classname == "g]]>");
  CHECK(c.message == "bad \\x1b[31mred\\x1b[0m \xef\xbf\xbd\xef\xbf\xbd end");
  CHECK(c.text == "nul:\\x00:bel\\x07 cdata ]]> lt < amp & crlf\r\n");
  CHECK(c.system_out == "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 tab\tok");
  CHECK(c.system_err.find("surrogate") != std::string::npos);
  CHECK(c.system_err.find('\xed') == std::string::npos);
  CHECK(c.system_err.find('\xc0') == std::string::npos);
}

TEST_CASE("xml_safe") {
  CHECK(xml_safe("plain text\n\t\r") == "plain text\n\t\r");
  CHECK(xml_safe(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(xml_safe("\x1b[0m\x7f") == "\\x1b[0m\x7f");
  CHECK(xml_safe("\x0b\x0c\x1f") == "\\x0b\\x0c\\x1f");
  CHECK(xml_safe("\xc3\xa9") == "\xc3\xa9");                  // é
  CHECK(xml_safe("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");  // emoji
  CHECK(xml_safe("\xff") == "\xef\xbf\xbd");                  // never valid
  CHECK(xml_safe("\xc3") == "\xef\xbf\xbd");                  // cut short
  CHECK(xml_safe("\xc3(") == "\xef\xbf\xbd(");                // bad continuation
  CHECK(xml_safe("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
  CHECK(xml_safe("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); // surrogate
  CHECK(xml_safe("\xf4\x90\x80\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); // > U+10FFFF
  CHECK(xml_safe("\xef\xbf\xbe") == "\xef\xbf\xbd");          // U+FFFE is not an XML char
  CHECK(xml_safe("") == "");
}

TEST_CASE("xml_safe_truncated keeps head and tail around a marker") {
  std::string s(1000, 'a');
  s.replace(900, 100, std::string(100, 'z'));
  std::string t = xml_safe_truncated(s, 100);
  CHECK(t.rfind(std::string(50, 'a'), 0) == 0);
  CHECK(t.size() < 200);
  CHECK(t.find("[... 900 bytes truncated by offload ...]") != std::string::npos);
  CHECK(t.substr(t.size() - 50) == std::string(50, 'z'));
  CHECK(xml_safe_truncated(s, 0) == s);
  CHECK(xml_safe_truncated(s, 1000) == s);

  // Cuts land on character boundaries.
  std::string e;
  for (int i = 0; i < 100; ++i) {
    e += "\xe2\x9c\x93"; // ✓
  }
  std::string te = xml_safe_truncated(e, 31);
  CHECK(xml_safe(te) == te);
  CHECK(te == "\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
              "\n[... 270 bytes truncated by offload ...]\n"
              "\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93");

  // Short input that grows past the limit once escaped is cut too (80 raw bytes -> 320).
  std::string ctl(80, '\x01');
  std::string tc = xml_safe_truncated(ctl, 100);
  std::string twelve;
  for (int i = 0; i < 12; ++i) {
    twelve += "\\x01";
  }
  CHECK(tc == twelve + "\n[... 56 bytes truncated by offload ...]\n" + twelve);

  // Invalid bytes at the cut points never leak through.
  std::string junk = std::string(500, '\xff') + std::string(500, '\x80');
  std::string tj = xml_safe_truncated(junk, 64);
  CHECK(xml_safe(tj) == tj);
  CHECK(tj.find("bytes truncated by offload") != std::string::npos);
}

TEST_CASE("render: 5 MB of output is cut and stays parseable") {
  std::string big;
  big.reserve(5 << 20);
  while (big.size() < (5u << 20)) {
    big += "line of output \x01\x1b[0m \xff\xfe <&> ]]>\n";
  }
  TestResult r;
  r.id = "big";
  r.group = "g";
  r.outcome = Outcome::Failed;
  Attempt a = attempt(AttemptStatus::Failed, 1, 0, "s");
  a.text = big;
  a.system_out = big;
  a.system_err = big;
  a.message = big;
  r.attempts.push_back(a);
  JunitWriteOptions opts;
  opts.max_output_bytes = 64 * 1024;
  std::string xml = render_junit({r}, opts);
  CHECK(xml.size() < 1u << 20);
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 1);
  CHECK(p.cases[0].system_out.size() < 70 * 1024);
  CHECK(p.cases[0].system_out.find("bytes truncated by offload ...]") != std::string::npos);
  CHECK(p.cases[0].text.find("bytes truncated by offload ...]") != std::string::npos);
  CHECK(p.cases[0].message.find("bytes truncated by offload ...]") != std::string::npos);

  // Default limit (1 MiB per field) also yields a document pugixml re-parses.
  std::string full = render_junit({r}, JunitWriteOptions{});
  pugi::xml_document doc;
  CHECK(doc.load_buffer(full.data(), full.size()));
}

TEST_CASE("render is deterministic") {
  std::string a = render_junit(sample_results(), JunitWriteOptions{});
  std::string b = render_junit(sample_results(), JunitWriteOptions{});
  CHECK(a == b);
  // The order given is the order written: reversing the input changes the output.
  std::vector<TestResult> rev = sample_results();
  std::reverse(rev.begin(), rev.end());
  CHECK(render_junit(rev, JunitWriteOptions{}) != a);
}

TEST_CASE("times are written with three decimals whatever the value") {
  TestResult r;
  r.id = "t";
  r.group = "g";
  r.outcome = Outcome::Passed;
  r.attempts.push_back(attempt(AttemptStatus::Passed, 1.0 / 3.0, 0, "s"));
  std::string xml = render_junit({r}, JunitWriteOptions{});
  CHECK(contains(xml, "<testcase name=\"t\" classname=\"g\" time=\"0.333\">"));
  r.attempts[0].duration_secs = -5;
  CHECK(contains(render_junit({r}, JunitWriteOptions{}), "time=\"0.000\">"));
}

TEST_CASE("write_junit writes atomically to a path") {
  ScratchDir dir;
  REQUIRE(!dir.path().empty());
  std::string path = dir.file("out/junit.xml");
  CHECK(write_junit(path, sample_results(), JunitWriteOptions{}) == "");
  JunitParse p = parse_junit_file(path);
  REQUIRE_MESSAGE(p.ok(), p.error);
  CHECK(p.cases.size() == 5);
  CHECK(read_file(path).value() == render_junit(sample_results(), JunitWriteOptions{}));
  CHECK(write_junit("/proc/definitely/not/writable/junit.xml", {}, JunitWriteOptions{}) != "");
}

TEST_CASE("rendered output validates against tests/fixtures/junit/junit.xsd") {
  if (!have_xmllint()) {
    MESSAGE("xmllint not found (apt-get install libxml2-utils); schema validation skipped");
    return;
  }
  ScratchDir dir;
  std::string xsd = fixture("junit.xsd");

  std::vector<TestResult> rs = sample_results();
  TestResult hostile;
  hostile.id = std::string("x\x01y\xff", 4);
  hostile.group = "g";
  hostile.outcome = Outcome::Flaky;
  hostile.attempts.push_back(attempt(AttemptStatus::Failed, 1, 0, "s"));
  hostile.attempts.back().text = std::string("\0\x02", 2);
  hostile.attempts.push_back(attempt(AttemptStatus::Passed, 1, 1, "s"));
  std::string noise;
  for (int i = 0; noise.size() < (3u << 20); ++i) {
    noise += static_cast<char>(i % 256); // every byte value, over and over
  }
  hostile.attempts.back().system_out = noise; // cut to the default 1 MiB
  hostile.attempts.back().system_err = noise;
  rs.push_back(hostile);
  std::string good = dir.file("good.xml");
  REQUIRE(write_junit(good, rs, JunitWriteOptions{}) == "");
  std::string out;
  CHECK_MESSAGE(run("xmllint --noout --schema '" + xsd + "' '" + good + "'", out) == 0, out);

  // The schema is strict enough to reject a wrong shape (proves the check can fail).
  std::string bad = dir.file("bad.xml");
  REQUIRE(write_file_atomic(bad, "<testsuites name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" "
                                 "time=\"1.5\"><testsuite name=\"s\"/></testsuites>") == "");
  std::string out2;
  CHECK(run("xmllint --noout --schema '" + xsd + "' '" + bad + "'", out2) != 0);
}
