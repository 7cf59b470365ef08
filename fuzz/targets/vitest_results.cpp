/// The vitest plugin's JSON-reporter parser on arbitrary data.
/// Input: "<format#>" @@@@ batch IDs, one a line @@@@ JSON.
/// Reports only the batch's IDs, or throws vitest::Failure; nothing else.
#include <set>

#include "fuzz_util.hpp"
#include "vitest_logic.hpp"

namespace {
const char* const kFormats[] = {"{classname} > {name}", "{name}", "{name} @ {classname}", "[{classname}]::{name}"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = offload::fuzz::fields(data, size, 3);
  int which = offload::fuzz::small_int(f[0]);
  offload::vitest::IdFormat fmt(kFormats[static_cast<unsigned>(which) % 4]);
  auto ids = offload::fuzz::lines(f[1]);
  std::set<std::string> batch(ids.begin(), ids.end());
  try {
    for (const auto& id : ids) {
      if (auto p = fmt.parse(id)) {
        FUZZ_CHECK(fmt.format(p->file, p->name) == id, "IdFormat::parse does not invert format: " + id);
      }
    }
    auto results = offload::vitest::parse_results(f[2], ids, "/proj", fmt);
    for (const auto& r : results) {
      FUZZ_CHECK(batch.count(r.id) == 1, "result for an ID outside the batch: " + r.id);
    }
  } catch (const offload::vitest::Failure& e) {
    FUZZ_CHECK(std::string(e.what()).size() > 0, "error without a message");
  }
  return 0;
}
