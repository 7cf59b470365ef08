/// The nextest plugin's result path: the host's JUnit parser, then
/// results_from_cases() with the input's test_id_format.
/// Input: test_id_format @@@@ JUnit XML. Never throws.
#include "fuzz_util.hpp"
#include "nextest_logic.hpp"
#include "report/junit.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 2);
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
    cases.push_back(std::move(j));
  }
  auto results = offload::nextest::results_from_cases(cases, f[0].empty() ? "{classname} {name}" : f[0]);
  FUZZ_CHECK(results.size() <= cases.size(), "more results than testcases");
  return 0;
}
