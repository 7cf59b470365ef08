#pragma once
/// What happened to each test: every attempt, and one final outcome with a
/// stated cause. This is the model the orchestrator fills and every report
/// (junit.xml, summary, history, events) reads.
#include <string>
#include <vector>

namespace offload {

/// The result of one attempt of one test (one test in one batch).
enum class AttemptStatus { Passed, Failed, Error, Skipped, NotRun };

/// The final word on a test.
enum class Outcome { Passed, Failed, Flaky, Skipped, NotRun };

inline const char* to_string(AttemptStatus s) {
  switch (s) {
  case AttemptStatus::Passed: return "passed";
  case AttemptStatus::Failed: return "failed";
  case AttemptStatus::Error: return "error";
  case AttemptStatus::Skipped: return "skipped";
  case AttemptStatus::NotRun: return "not-run";
  }
  return "?";
}
inline const char* to_string(Outcome o) {
  switch (o) {
  case Outcome::Passed: return "passed";
  case Outcome::Failed: return "failed";
  case Outcome::Flaky: return "flaky";
  case Outcome::Skipped: return "skipped";
  case Outcome::NotRun: return "not-run";
  }
  return "?";
}

struct Attempt {
  AttemptStatus status = AttemptStatus::NotRun;
  double duration_secs = 0;
  std::string message;     ///< failure/error/skip message attribute
  std::string type;        ///< failure/error type attribute
  std::string text;        ///< failure/error body (traceback)
  std::string system_out;
  std::string system_err;
  int batch = -1;          ///< batch index (logs/batch-N.*)
  std::string sandbox;     ///< sandbox id
  double start_secs = 0;   ///< start of its batch, seconds since run start
  std::string cause;       ///< for NotRun/Error attempts: "batch timed out after 900s", "result file missing", ...
  int rerun = 0;           ///< 0: its batch ran it once; N >= 1: run N of the test inside one batch's process (in-process retries)
};

struct TestResult {
  std::string id;          ///< canonical ID from discovery
  std::string group;
  std::string name;        ///< junit name/classname as the framework reported them (for display)
  std::string classname;
  std::string file;
  Outcome outcome = Outcome::NotRun;
  std::string cause;       ///< why: "passed", "failed on all 3 attempts", "passed on attempt 2 after 1 failure", "not run: batch 4 crashed (signal 9)"
  std::vector<Attempt> attempts;
};

} // namespace offload
