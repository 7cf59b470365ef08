#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "report/junit.hpp"
#include "report_test_util.hpp"

using namespace offload;
using offload::testutil::fixture;

namespace {

const JunitCase* find_case(const JunitParse& p, const std::string& name) {
  auto it = std::find_if(p.cases.begin(), p.cases.end(), [&](const JunitCase& c) { return c.name == name; });
  return it == p.cases.end() ? nullptr : &*it;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("parse real pytest xunit2 output") {
  JunitParse p = parse_junit_file(fixture("pytest.xml"));
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 11);

  const JunitCase* pass = find_case(p, "test_pass");
  REQUIRE(pass != nullptr);
  CHECK(pass->status == AttemptStatus::Passed);
  CHECK(pass->classname == "tests.test_sample");
  CHECK(pass->file.empty());

  const JunitCase* fail = find_case(p, "test_fail");
  REQUIRE(fail != nullptr);
  CHECK(fail->status == AttemptStatus::Failed);
  CHECK(fail->message == "AssertionError: math is broken\nassert (1 + 1) == 3");
  CHECK(contains(fail->text, "tests/test_sample.py:12: AssertionError"));
  CHECK(contains(fail->text, ">       assert 1 + 1 == 3"));
  CHECK(contains(fail->system_out, "some stdout from test_fail"));
  CHECK(contains(fail->system_err, "stderr line"));
  CHECK(fail->time >= 0);

  const JunitCase* skip = find_case(p, "test_skip");
  REQUIRE(skip != nullptr);
  CHECK(skip->status == AttemptStatus::Skipped);
  CHECK(skip->message == "not today");
  CHECK(skip->type == "pytest.skip");

  const JunitCase* xfail = find_case(p, "test_xfail");
  REQUIRE(xfail != nullptr);
  CHECK(xfail->status == AttemptStatus::Skipped);
  CHECK(xfail->type == "pytest.xfail");

  const JunitCase* xpass = find_case(p, "test_xpass");
  REQUIRE(xpass != nullptr);
  CHECK(xpass->status == AttemptStatus::Passed);

  const JunitCase* err = find_case(p, "test_error_in_fixture");
  REQUIRE(err != nullptr);
  CHECK(err->status == AttemptStatus::Error);
  CHECK(contains(err->message, "fixture exploded"));

  CHECK(find_case(p, "test_param[x-y z]") != nullptr);
  const JunitCase* odd = find_case(p, "test_param[<&>-\"q\"]");
  REQUIRE(odd != nullptr);
  CHECK(odd->status == AttemptStatus::Passed);

  const JunitCase* div = find_case(p, "test_div");
  REQUIRE(div != nullptr);
  CHECK(div->classname == "tests.test_sample.TestMath");
  CHECK(div->status == AttemptStatus::Failed);
  CHECK(format_test_id("{classname}::{name}", *div) == "tests.test_sample.TestMath::test_div");
}

TEST_CASE("parse real pytest xunit1 output keeps the file attribute") {
  JunitParse p = parse_junit_file(fixture("pytest-xunit1.xml"));
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 11);
  for (const JunitCase& c : p.cases) {
    CHECK(c.file == "tests/test_sample.py");
  }
  const JunitCase* pass = find_case(p, "test_pass");
  REQUIRE(pass != nullptr);
  CHECK(format_test_id("{file}::{name}", *pass) == "tests/test_sample.py::test_pass");
}

TEST_CASE("parse real vitest output") {
  JunitParse p = parse_junit_file(fixture("vitest.xml"));
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 6);
  std::vector<std::string> ids;
  for (const JunitCase& c : p.cases) {
    ids.push_back(format_test_id("{classname} > {name}", c));
  }
  CHECK(ids == std::vector<std::string>{
                   "src/math.test.ts > math > adds",
                   "src/math.test.ts > math > fails",
                   "src/math.test.ts > math > skipped one",
                   "src/math.test.ts > math > nested > inc 1 -> 2",
                   "src/math.test.ts > math > nested > inc 5 -> 6",
                   "src/math.test.ts > top level <&> \"quoted\"",
               });
  const JunitCase* fails = find_case(p, "math > fails");
  REQUIRE(fails != nullptr);
  CHECK(fails->status == AttemptStatus::Failed);
  CHECK(fails->type == "AssertionError");
  CHECK(fails->message == "expected 1 to be 2 // Object.is equality");
  CHECK(contains(fails->text, "src/math.test.ts:10:15"));
  CHECK(contains(fails->system_out, "stdout from fails"));
  CHECK(contains(fails->system_err, "stderr from fails"));
  CHECK(find_case(p, "math > skipped one")->status == AttemptStatus::Skipped);
  CHECK(find_case(p, "math > adds")->time == doctest::Approx(0.002671933));
}

TEST_CASE("parse nextest-style output: flaky and rerun elements do not change the status") {
  JunitParse p = parse_junit_file(fixture("nextest.xml"));
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 6);

  const JunitCase* flaky = find_case(p, "tests::flaky_network");
  REQUIRE(flaky != nullptr);
  CHECK(flaky->status == AttemptStatus::Passed);
  CHECK(format_test_id("{classname} {name}", *flaky) == "mycrate tests::flaky_network");
  REQUIRE(flaky->retries.size() == 1);
  CHECK(flaky->retries[0].kind == "flakyFailure");
  CHECK(flaky->retries[0].flaky());
  CHECK(flaky->retries[0].message == "test failure");
  CHECK(contains(flaky->retries[0].text, "connection refused"));
  CHECK(contains(flaky->retries[0].system_out, "FAILED"));
  CHECK(contains(flaky->retries[0].system_err, "panicked"));
  CHECK(contains(flaky->system_out, "test tests::flaky_network ... ok"));
  CHECK(!contains(flaky->system_out, "FAILED"));

  const JunitCase* fails = find_case(p, "tests::always_fails");
  REQUIRE(fails != nullptr);
  CHECK(fails->status == AttemptStatus::Failed);
  CHECK(fails->type == "test failure with exit code 101");
  CHECK(contains(fails->text, "right: 2"));
  REQUIRE(fails->retries.size() == 1);
  CHECK(fails->retries[0].kind == "rerunFailure");
  CHECK(!fails->retries[0].flaky());

  const JunitCase* hang = find_case(p, "hangs_forever");
  REQUIRE(hang != nullptr);
  CHECK(hang->status == AttemptStatus::Error);
  CHECK(hang->classname == "mycrate::bin/cli");
  CHECK(hang->time == doctest::Approx(1.3));
  CHECK(find_case(p, "ignored_one")->status == AttemptStatus::Skipped);
}

TEST_CASE("truncated, empty, missing and non-XML files are errors") {
  JunitParse t = parse_junit_file(fixture("truncated.xml"));
  CHECK(!t.ok());
  CHECK(t.cases.empty());
  CHECK(contains(t.error, "truncated.xml: line "));

  JunitParse e = parse_junit_file(fixture("empty.xml"));
  CHECK(!e.ok());
  CHECK(contains(e.error, "empty.xml"));

  JunitParse n = parse_junit_file(fixture("not-xml.txt"));
  CHECK(!n.ok());
  CHECK(contains(n.error, "not-xml.txt"));

  JunitParse m = parse_junit_file(fixture("does-not-exist.xml"));
  CHECK(!m.ok());
  CHECK(contains(m.error, "does-not-exist.xml"));

  CHECK(!parse_junit("").ok());
  CHECK(!parse_junit("   \n").ok());
  CHECK(!parse_junit("<html><body/></html>").ok());
}

TEST_CASE("parse errors carry pugixml's description and the line of the offset") {
  JunitParse p = parse_junit("<testsuites>\n<testsuite>\n<testcase name=\"x\"></testcase>\n</testsuites>\n");
  REQUIRE(!p.ok());
  CHECK(p.error == "line 4: Start-end tags mismatch");

  JunitParse q = parse_junit("<testsuites>\n  <testsuite name=\"a\">\n    <testcase name=\"x\"");
  REQUIRE(!q.ok());
  CHECK(q.error == "line 3: Error parsing start element tag");
}

TEST_CASE("bare testsuite, nested suites, properties, times") {
  const char* xml = R"(<?xml version="1.0"?>
<testsuite name="outer" file="suite_file.py">
  <testcase name="a" classname="C" time="1.5"/>
  <testsuite name="inner">
    <testsuite name="innermost">
      <testcase name="b" classname="C" time="not-a-number">
        <properties>
          <property name="k1" value="v1"/>
          <property name="k2">text value</property>
        </properties>
        <system-out>out</system-out>
        <system-err>err</system-err>
      </testcase>
    </testsuite>
  </testsuite>
  <testcase name="c" file="own.py"/>
  <testcase name="d" time="-3"/>
  <testcase name="e" time="2.5s"/>
</testsuite>)";
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 5);
  CHECK(p.cases[0].name == "a");
  CHECK(p.cases[0].time == doctest::Approx(1.5));
  CHECK(p.cases[0].file == "suite_file.py");
  CHECK(p.cases[1].name == "b");
  CHECK(p.cases[1].time == 0);
  CHECK(p.cases[1].system_out == "out");
  CHECK(p.cases[1].system_err == "err");
  REQUIRE(p.cases[1].properties.size() == 2);
  CHECK(p.cases[1].properties[0] == std::pair<std::string, std::string>{"k1", "v1"});
  CHECK(p.cases[1].properties[1] == std::pair<std::string, std::string>{"k2", "text value"});
  CHECK(p.cases[2].file == "own.py");
  CHECK(p.cases[2].time == 0);
  CHECK(p.cases[3].time == 0);
  CHECK(p.cases[4].time == 0);
}

TEST_CASE("result children: first wins, failure beats error, CDATA is text") {
  const char* xml = R"(<testsuites>
  <testsuite name="s">
    <testcase name="err_then_fail"><error message="teardown"/><failure message="assert" type="AE">body</failure></testcase>
    <testcase name="fail_then_err"><failure message="assert"/><error message="teardown"/></testcase>
    <testcase name="skip_first"><skipped message="why"/><system-out>x</system-out></testcase>
    <testcase name="cdata"><failure message="m"><![CDATA[<raw & text>]]></failure></testcase>
    <testcase name="flaky_error"><flakyError message="e" type="t"><stackTrace>st</stackTrace></flakyError></testcase>
  </testsuite>
</testsuites>)";
  JunitParse p = parse_junit(xml);
  REQUIRE_MESSAGE(p.ok(), p.error);
  REQUIRE(p.cases.size() == 5);
  CHECK(p.cases[0].status == AttemptStatus::Failed);
  CHECK(p.cases[0].message == "assert");
  CHECK(p.cases[0].type == "AE");
  CHECK(p.cases[0].text == "body");
  CHECK(p.cases[1].status == AttemptStatus::Failed);
  CHECK(p.cases[2].status == AttemptStatus::Skipped);
  CHECK(p.cases[2].message == "why");
  CHECK(p.cases[3].text == "<raw & text>");
  CHECK(p.cases[4].status == AttemptStatus::Passed);
  REQUIRE(p.cases[4].retries.size() == 1);
  CHECK(p.cases[4].retries[0].flaky());
  CHECK(p.cases[4].retries[0].text == "st");
}

TEST_CASE("a document without testcases is fine") {
  for (const char* xml : {"<testsuites/>", "<testsuites name=\"x\"><testsuite name=\"empty\"/></testsuites>",
                          "<testsuite name=\"x\" tests=\"0\"></testsuite>"}) {
    JunitParse p = parse_junit(xml);
    CHECK_MESSAGE(p.ok(), xml);
    CHECK(p.cases.empty());
  }
}

TEST_CASE("format_test_id substitutes placeholders once and keeps other text") {
  JunitCase c;
  c.name = "test_{classname}";
  c.classname = "pkg.Mod";
  c.file = "pkg/mod.py";
  CHECK(format_test_id("{name}", c) == "test_{classname}");
  CHECK(format_test_id("{classname} {name}", c) == "pkg.Mod test_{classname}");
  CHECK(format_test_id("{classname} > {name}", c) == "pkg.Mod > test_{classname}");
  CHECK(format_test_id("{file}::{name}", c) == "pkg/mod.py::test_{classname}");
  CHECK(format_test_id("{other} {name", c) == "{other} {name");
  CHECK(format_test_id("", c).empty());
}
