#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <unistd.h>

#include "report/junit.hpp"
#include "util/fs.hpp"

using namespace offload;

TEST_CASE("scan_junit_times reads name and time of each testcase without a DOM") {
  std::string path = "/tmp/offload-scan-" + std::to_string(::getpid()) + ".xml";
  std::vector<TestResult> results(2);
  results[0].id = "tests/a.py::t[x > y & \"q\"]";
  results[0].group = "g";
  results[0].outcome = Outcome::Passed;
  results[0].attempts.push_back(Attempt{});
  results[0].attempts[0].status = AttemptStatus::Passed;
  results[0].attempts[0].duration_secs = 1.5;
  results[1].id = "caf\xc3\xa9 test";
  results[1].group = "g";
  results[1].outcome = Outcome::Failed;
  results[1].attempts.push_back(Attempt{});
  results[1].attempts[0].status = AttemptStatus::Failed;
  results[1].attempts[0].duration_secs = 0.25;
  results[1].attempts[0].system_out = "<testcase name=\"fake\" time=\"99\">";
  REQUIRE(write_junit(path, results, {}).empty());
  auto times = scan_junit_times(path);
  REQUIRE(times.size() == 2);
  CHECK(times[0].first == results[0].id);
  CHECK(times[0].second == doctest::Approx(1.5));
  CHECK(times[1].first == results[1].id);
  CHECK(times[1].second == doctest::Approx(0.25));
  // Foreign shapes: single quotes, attributes in any order, no time, a <testcases> lookalike.
  write_file_atomic(path, "<testsuite><testcases/><testcase time='2' classname='c' name='n &amp; m'/>"
                          "<testcase name=\"no-time\"></testcase></testsuite>");
  times = scan_junit_times(path);
  REQUIRE(times.size() == 2);
  CHECK(times[0].first == "n & m");
  CHECK(times[0].second == doctest::Approx(2.0));
  CHECK(times[1].second == 0);
  CHECK(scan_junit_times("/nonexistent/junit.xml").empty());
  std::remove(path.c_str());
}
