#include "image/notes.hpp"

#include <cstdint>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace offload {

std::optional<std::string> note_image_id(std::string_view note_text, const std::string& key, const std::string& inputs,
                                         std::string* why) {
  auto say = [&](std::string s) {
    if (why) *why = std::move(s);
    return std::nullopt;
  };
  auto j = nlohmann::json::parse(note_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return say("the note is not a JSON object");
  auto it = j.find(key);
  if (it == j.end()) return say("the note has no entry for " + key);
  if (!it->is_object()) return say("the note's entry for " + key + " is not an object");
  auto id = it->find("image_id");
  if (id == it->end() || !id->is_string() || id->get<std::string>().empty())
    return say("the note's entry for " + key + " has no image_id");
  auto in = it->find("inputs");
  if (in != it->end() && in->is_string() && in->get<std::string>() != inputs)
    return say("the cached image for " + key + " was built with another sandbox_init_cmd/copy_dirs");
  return id->get<std::string>();
}

std::string note_with_image(std::string_view note_text, const std::string& key, const std::string& image_id,
                            const std::string& inputs) {
  auto j = nlohmann::json::parse(note_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = nlohmann::json::object();
  auto& entry = j[key];
  if (!entry.is_object()) entry = nlohmann::json::object();
  entry["image_id"] = image_id;
  entry["inputs"] = inputs;
  return j.dump(2) + "\n";
}

std::string image_inputs_fingerprint(const std::string& sandbox_init_cmd, const std::vector<std::string>& copy_dirs) {
  uint64_t h = 1469598103934665603ull;
  auto feed = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff; // field separator: ("ab","c") != ("a","bc")
    h *= 1099511628211ull;
  };
  feed("v1");
  feed(sandbox_init_cmd);
  for (auto& d : copy_dirs) feed(d);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

} // namespace offload
