/// The nextest plugin's `cargo nextest list --message-format json` parser on
/// arbitrary output: never throws; on success every (binary, name) survives
/// format_id -> split_id with the default "{classname} {name}" format
/// (binary IDs hold no spaces), and the filterset for them is built.
#include "fuzz_util.hpp"
#include "nextest_logic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view out(reinterpret_cast<const char*>(data), size);
  auto r = offload::nextest::parse_list_json(out);
  if (!r.ok()) {
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& t : r.tests) {
    std::string id = offload::nextest::format_id("{classname} {name}", t.binary_id, t.name);
    if (t.binary_id.find(' ') == std::string::npos) {
      auto back = offload::nextest::split_id("{classname} {name}", id);
      FUZZ_CHECK(back && back->first == t.binary_id && back->second == t.name, "split_id does not invert format_id: " + id);
    }
    pairs.emplace_back(t.binary_id, t.name);
  }
  (void)offload::nextest::filterset_for(pairs);
  return 0;
}
