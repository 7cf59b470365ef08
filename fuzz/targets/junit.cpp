/// parse_junit() on arbitrary bytes: never crashes; an error has a message.
/// What it parsed survives a render_junit() round trip: the rendered report
/// is well-formed, parses back to the same number of testcases, and keeps
/// every ID (as xml_safe() makes it) and group.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "report/junit.hpp"

namespace {

offload::Outcome outcome_of(offload::AttemptStatus s) {
  switch (s) {
  case offload::AttemptStatus::Passed: return offload::Outcome::Passed;
  case offload::AttemptStatus::Failed:
  case offload::AttemptStatus::Error: return offload::Outcome::Failed;
  case offload::AttemptStatus::Skipped: return offload::Outcome::Skipped;
  case offload::AttemptStatus::NotRun: return offload::Outcome::NotRun;
  }
  return offload::Outcome::NotRun;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto parsed = offload::parse_junit(xml);
  if (!parsed.ok()) {
    return 0;
  }
  std::vector<offload::TestResult> results;
  for (const auto& c : parsed.cases) {
    (void)offload::format_test_id("{classname}::{name} [{file}]", c);
    offload::TestResult r;
    r.id = c.name;
    r.group = c.classname;
    r.name = c.name;
    r.classname = c.classname;
    r.file = c.file;
    r.outcome = outcome_of(c.status);
    r.cause = c.message;
    offload::Attempt a;
    a.status = c.status;
    a.duration_secs = c.time;
    a.message = c.message;
    a.type = c.type;
    a.text = c.text;
    a.system_out = c.system_out;
    a.system_err = c.system_err;
    a.batch = 0;
    r.attempts.push_back(a);
    if (!c.retries.empty()) {
      offload::Attempt b = a;
      b.status = offload::AttemptStatus::Failed;
      b.message = c.retries.front().message;
      b.text = c.retries.front().text;
      r.attempts.insert(r.attempts.begin(), b);
      if (r.outcome == offload::Outcome::Passed) {
        r.outcome = offload::Outcome::Flaky;
      }
    }
    results.push_back(std::move(r));
  }
  offload::JunitWriteOptions opts;
  opts.max_output_bytes = 256;
  std::string rendered = offload::render_junit(results, opts);
  auto again = offload::parse_junit(rendered);
  FUZZ_CHECK(again.ok(), "render_junit produced a report parse_junit rejects: " + again.error + "\n" + rendered);
  FUZZ_CHECK(again.cases.size() == results.size(),
             "testcases lost in the round trip: " + std::to_string(results.size()) + " -> " +
                 std::to_string(again.cases.size()));
  // render_junit groups testcases by group (first-seen order), so compare
  // (group, ID) pairs as sorted lists.
  std::vector<std::pair<std::string, std::string>> want, got;
  for (size_t i = 0; i < results.size(); ++i) {
    want.emplace_back(offload::xml_safe(results[i].group), offload::xml_safe(results[i].id));
    got.emplace_back(again.cases[i].classname, again.cases[i].name);
  }
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  for (size_t i = 0; i < want.size(); ++i) {
    FUZZ_CHECK(want[i] == got[i], "(group, ID) changed in the round trip: [" + want[i].first + "|" + want[i].second +
                                      "] -> [" + got[i].first + "|" + got[i].second + "]");
  }
  return 0;
}
