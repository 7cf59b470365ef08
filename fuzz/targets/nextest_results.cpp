/// The nextest plugin's result path: the host's JUnit parser, nextest's
/// recorded runs (flaky*/rerun* elements, parsed by the plugin itself), then
/// results_from_cases() with the input's test_id_format.
/// Input: test_id_format @@@@ JUnit XML; the format's length % 3 is the
/// --retries the batch ran with. Never throws but std::invalid_argument
/// from the recorded-runs reader (malformed XML that the host's parser took).
/// A test's results are one run (attempt 0) or runs 1..n, n <= retries + 1,
/// every one but the last failed or errored (the ABI's rule).
#include <stdexcept>

#include "fuzz_util.hpp"
#include "nextest_logic.hpp"
#include "report/junit.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 2);
  unsigned retries = static_cast<unsigned>(f[0].size() % 3);
  std::string format = f[0].empty() ? "{classname} {name}" : f[0];
  auto parsed = offload::parse_junit(f[1]);
  if (!parsed.ok()) {
    return 0;
  }
  std::vector<offload::plugin::JunitCase> cases;
  for (const auto& c : parsed.cases) {
    offload::plugin::JunitCase j;
    j.name = c.name;
    j.classname = c.classname;
    j.file = c.file;
    j.time_secs = c.time;
    j.message = c.message;
    j.text = c.text;
    j.status = c.status == offload::AttemptStatus::Failed  ? OFFLOAD_TEST_FAILED
               : c.status == offload::AttemptStatus::Error ? OFFLOAD_TEST_ERROR
               : c.status == offload::AttemptStatus::Skipped ? OFFLOAD_TEST_SKIPPED
                                                             : OFFLOAD_TEST_PASSED;
    cases.push_back(std::move(j));
  }
  std::vector<offload::nextest::CaseRuns> runs;
  try {
    runs = offload::nextest::parse_recorded_runs(f[1]);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  auto results = offload::nextest::results_from_cases(cases, format, runs, retries);
  size_t plain = 0;
  for (size_t i = 0; i < results.size();) {
    const auto& r = results[i];
    FUZZ_CHECK(r.attempt <= 1, "run " + std::to_string(r.attempt) + " without the runs before it: " + r.id);
    size_t n = 1; // a retried test's runs come together, in order
    while (r.attempt == 1 && i + n < results.size() && results[i + n].id == r.id && results[i + n].attempt == n + 1) {
      auto st = results[i + n - 1].status;
      FUZZ_CHECK(st == OFFLOAD_TEST_FAILED || st == OFFLOAD_TEST_ERROR, "a run before the last did not fail: " + r.id);
      ++n;
    }
    FUZZ_CHECK(r.attempt == 0 || n >= 2, "a lone numbered run: " + r.id);
    FUZZ_CHECK(n <= retries + 1, "more runs than --retries allows: " + r.id);
    plain += 1;
    i += n;
  }
  FUZZ_CHECK(plain <= cases.size(), "more tests than testcases");
  return 0;
}
