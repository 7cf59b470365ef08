#pragma once
/// Shared helpers for the report unit tests: fixture paths, a scratch
/// directory, and a small set of TestResults covering every outcome.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "run/outcome.hpp"

namespace offload::testutil {

inline std::string fixture(const std::string& name) {
  return std::string(OFFLOAD_TEST_FIXTURES) + "/junit/" + name;
}

/// A fresh directory under /tmp, removed when the object goes away.
class ScratchDir {
public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "offload-report-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    m_path = made != nullptr ? std::string(made) : std::string();
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!m_path.empty()) {
      std::filesystem::remove_all(m_path, ec);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return m_path + "/" + name; }
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

inline Attempt attempt(AttemptStatus status, double secs, int batch, const std::string& sandbox) {
  Attempt a;
  a.status = status;
  a.duration_secs = secs;
  a.batch = batch;
  a.sandbox = sandbox;
  return a;
}

/// One result of each outcome, in two groups (interleaved to test first-seen grouping).
inline std::vector<TestResult> sample_results() {
  std::vector<TestResult> rs;

  TestResult pass;
  pass.id = "tests/test_math.py::test_add";
  pass.group = "unit";
  pass.outcome = Outcome::Passed;
  pass.cause = "passed";
  pass.attempts.push_back(attempt(AttemptStatus::Passed, 0.25, 0, "local-0"));
  pass.attempts.back().system_out = "add ok\n";
  rs.push_back(pass);

  TestResult slow;
  slow.id = "tests/test_slow.py::test_big";
  slow.group = "slow";
  slow.outcome = Outcome::Failed;
  slow.cause = "failed on all 2 attempts";
  Attempt f1 = attempt(AttemptStatus::Failed, 1.5, 1, "local-1");
  f1.message = "AssertionError: first";
  f1.type = "AssertionError";
  f1.text = "trace one";
  f1.system_out = "out one";
  Attempt f2 = attempt(AttemptStatus::Failed, 1.25, 3, "local-0");
  f2.message = "AssertionError: second";
  f2.type = "AssertionError";
  f2.text = "trace two\n  at line 2";
  f2.system_out = "out two";
  f2.system_err = "err two";
  slow.attempts = {f1, f2};
  rs.push_back(slow);

  TestResult flaky;
  flaky.id = "tests/test_math.py::test_flaky";
  flaky.group = "unit";
  flaky.outcome = Outcome::Flaky;
  flaky.cause = "passed on attempt 2 after 1 failure";
  Attempt ff = attempt(AttemptStatus::Failed, 0.5, 0, "local-0");
  ff.message = "boom";
  ff.type = "RuntimeError";
  ff.text = "Traceback: boom";
  ff.system_out = "flaky out";
  ff.system_err = "flaky err";
  flaky.attempts = {ff, attempt(AttemptStatus::Passed, 0.125, 2, "local-1")};
  flaky.attempts.back().system_out = "second time lucky";
  rs.push_back(flaky);

  TestResult skip;
  skip.id = "tests/test_math.py::test_skip";
  skip.group = "unit";
  skip.outcome = Outcome::Skipped;
  skip.cause = "skipped";
  skip.attempts.push_back(attempt(AttemptStatus::Skipped, 0, 0, "local-0"));
  skip.attempts.back().message = "not today";
  rs.push_back(skip);

  TestResult notrun;
  notrun.id = "tests/test_slow.py::test_hang";
  notrun.group = "slow";
  notrun.outcome = Outcome::NotRun;
  notrun.cause = "batch 4 crashed (signal 9)";
  Attempt nr = attempt(AttemptStatus::NotRun, 900, 4, "local-1");
  nr.cause = "batch 4 crashed (signal 9)";
  notrun.attempts.push_back(nr);
  rs.push_back(notrun);

  return rs;
}

} // namespace offload::testutil
