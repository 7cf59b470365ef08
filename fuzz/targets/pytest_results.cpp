/// The pytest plugin's result parser on arbitrary JSON-lines data.
/// Input: "<exit code> <signal> <timed out>" @@@@ batch IDs, one a line @@@@ results data.
/// Never throws; reports only IDs of the batch, each at most once.
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
  std::set<std::string> seen;
  for (const auto& r : results) {
    FUZZ_CHECK(batch.count(r.id) == 1, "result for an ID outside the batch: " + r.id);
    FUZZ_CHECK(seen.insert(r.id).second, "two results for one ID: " + r.id);
  }
  return 0;
}
