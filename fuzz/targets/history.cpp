/// History lines and files: parse_history_line() never crashes; a line it
/// accepts serializes to a line that parses back to the same record; a whole
/// file parses (corrupt lines skipped with a warning) and its serialization
/// parses back to the same records.
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "history/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Each line on its own.
  for (const std::string& line : offload::fuzz::lines(text)) {
    std::string error;
    auto p = offload::parse_history_line(line, &error);
    if (!p) {
      FUZZ_CHECK(!error.empty(), "rejected line without a reason: " + line);
      continue;
    }
    std::string out = offload::serialize_history_line(p->key, p->values);
    FUZZ_CHECK(out.find('\n') == std::string::npos, "serialized line holds a newline: " + out);
    auto q = offload::parse_history_line(out, &error);
    FUZZ_CHECK(q.has_value(), "serialized line does not parse back: " + error + "\n in:  " + line + "\n out: " + out);
    // Invalid UTF-8 in ids is replaced on write, so compare after one round trip.
    std::string out2 = offload::serialize_history_line(q->key, q->values);
    FUZZ_CHECK(out2 == out, "serialization not stable:\n " + out + "\n " + out2);
  }
  // The whole text as a file.
  std::vector<std::string> warnings;
  auto map = offload::parse_history(text, "fuzz.jsonl", 5, &warnings);
  std::string file = offload::serialize_history(map);
  std::vector<std::string> warnings2;
  auto map2 = offload::parse_history(file, "fuzz.jsonl", 5, &warnings2);
  FUZZ_CHECK(map2.size() == map.size(), "records lost re-reading a written history file");
  for (const auto& w : warnings2) {
    FUZZ_CHECK(false, "a written history file warns when read back: " + w);
  }
  return 0;
}
