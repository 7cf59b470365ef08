/// The pytest plugin's result parser on arbitrary JSON-lines data.
/// Input: "<exit code> <signal> <timed out>" @@@@ batch IDs, one a line @@@@ results data.
/// Never throws; reports only IDs of the batch; per ID either one result with
/// attempt 0, or attempts 1..n in order, each but the last failed or errored
/// (the ABI's rule for in-process reruns).
#include <map>
#include <set>

#include "fuzz_util.hpp"
#include "pytest_logic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 3);
  auto head = offload::fuzz::lines(f[0]);
  offload::pytest::BatchEnd end;
  end.exit_code = head.empty() ? 0 : offload::fuzz::small_int(head[0]);
  end.term_signal = head.size() > 1 ? offload::fuzz::small_int(head[1]) : 0;
  end.timed_out = head.size() > 2 && offload::fuzz::small_int(head[2]) != 0;
  auto ids = offload::fuzz::lines(f[1]);
  std::set<std::string> batch(ids.begin(), ids.end());
  std::vector<std::string> warnings;
  auto results = offload::pytest::parse_results(ids, f[2], end, &warnings);
  std::map<std::string, const offload::plugin::Result*> last; // per ID, its latest result
  for (const auto& r : results) {
    FUZZ_CHECK(batch.count(r.id) == 1, "result for an ID outside the batch: " + r.id);
    auto [it, first] = last.try_emplace(r.id, &r);
    if (first) {
      FUZZ_CHECK(r.attempt <= 1, "first result of an ID is attempt " + std::to_string(r.attempt) + ": " + r.id);
      continue;
    }
    const auto& prev = *it->second;
    FUZZ_CHECK(prev.attempt != 0, "two results for one ID: " + r.id);
    FUZZ_CHECK(r.attempt == prev.attempt + 1, "attempts out of order: " + r.id);
    FUZZ_CHECK(prev.status == OFFLOAD_TEST_FAILED || prev.status == OFFLOAD_TEST_ERROR,
               "an attempt before the last did not fail: " + r.id);
    it->second = &r;
  }
  return 0;
}
