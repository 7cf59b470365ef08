/// The vitest plugin's JSON-reporter parser on arbitrary data.
/// Input: "<format#>" @@@@ batch IDs, one a line @@@@ JSON; format# / 4 % 3
/// is the --retry the batch ran with.
/// Reports only the batch's IDs, or throws vitest::Failure; nothing else.
/// A test's results are one run (attempt 0) or runs 1..n, n <= retries + 1,
/// every one but the last failed (the ABI's rule for in-process retries).
#include <set>
#include <string>

#include "fuzz_util.hpp"
#include "vitest_logic.hpp"

namespace {
const char* const kFormats[] = {"{classname} > {name}", "{name}", "{name} @ {classname}", "[{classname}]::{name}"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 3);
  int which = offload::fuzz::small_int(f[0]);
  offload::vitest::IdFormat fmt(kFormats[static_cast<unsigned>(which) % 4]);
  unsigned retries = static_cast<unsigned>(which) / 4 % 3;
  auto ids = offload::fuzz::lines(f[1]);
  std::set<std::string> batch(ids.begin(), ids.end());
  try {
    for (const auto& id : ids) {
      if (auto p = fmt.parse(id)) {
        FUZZ_CHECK(fmt.format(p->file, p->name) == id, "IdFormat::parse does not invert format: " + id);
      }
    }
    auto results = offload::vitest::parse_results(f[2], ids, "/proj", fmt, retries);
    for (size_t i = 0; i < results.size();) {
      const auto& r = results[i];
      FUZZ_CHECK(batch.count(r.id) == 1, "result for an ID outside the batch: " + r.id);
      FUZZ_CHECK(r.attempt <= 1, "run " + std::to_string(r.attempt) + " without the runs before it: " + r.id);
      size_t n = 1; // a retried test's runs come together, in order
      while (r.attempt == 1 && i + n < results.size() && results[i + n].id == r.id && results[i + n].attempt == n + 1) {
        FUZZ_CHECK(results[i + n - 1].status == offload::vitest::Status::Failed,
                   "a run before the last passed: " + r.id);
        ++n;
      }
      FUZZ_CHECK(r.attempt == 0 || (n >= 2 && n <= retries + 1), "a bad number of runs: " + r.id);
      i += n;
    }
  } catch (const offload::vitest::Failure& e) {
    FUZZ_CHECK(std::string(e.what()).size() > 0, "error without a message");
  }
  return 0;
}
