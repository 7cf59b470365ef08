#include "history/format.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace offload {

namespace {

/// ordered_json keeps the original's field order (k, v; n, f, last_run, ok, fail).
using Json = nlohmann::ordered_json;

bool parse_samples(const Json& j, const char* field, std::vector<HistorySample>* out,
                   std::string* error) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_array()) {
    *error = std::string("\"") + field + "\" must be an array";
    return false;
  }
  for (const auto& s : *it) {
    if (!s.is_array() || s.size() != 3 || !s[0].is_string() || !s[1].is_number_unsigned() ||
        !s[2].is_number()) {
      *error = std::string("\"") + field + "\" holds a sample that is not [run, ts_ms, secs]";
      return false;
    }
    HistorySample sample;
    sample.run = s[0].get<std::string>();
    sample.ts_ms = s[1].get<uint64_t>();
    sample.secs = s[2].get<double>();
    out->push_back(std::move(sample));
  }
  return true;
}

Json samples_json(const std::vector<HistorySample>& samples) {
  Json arr = Json::array();
  for (const auto& s : samples) {
    // Durations are data from test reports; keep the file valid JSON whatever they hold.
    const double secs = std::isfinite(s.secs) && s.secs > 0 ? s.secs : 0.0;
    arr.push_back(Json::array({s.run, s.ts_ms, secs}));
  }
  return arr;
}

uint64_t newest_ts(const HistoryValues& v) {
  uint64_t t = 0;
  for (const auto* r : {&v.ok, &v.fail}) {
    for (const auto& s : *r) {
      t = std::max(t, s.ts_ms);
    }
  }
  return t;
}

size_t shared_samples(const std::vector<HistorySample>& a, const std::vector<HistorySample>& b) {
  std::set<std::pair<std::string, uint64_t>> ids;
  for (const auto& s : a) {
    ids.emplace(s.run, s.ts_ms);
  }
  size_t n = 0;
  for (const auto& s : b) {
    n += ids.count({s.run, s.ts_ms});
  }
  return n;
}

uint64_t delta_merge(uint64_t base, uint64_t ours, uint64_t theirs) {
  const uint64_t d_ours = ours > base ? ours - base : 0;
  const uint64_t d_theirs = theirs > base ? theirs - base : 0;
  return base + d_ours + d_theirs;
}

uint64_t overlap_merge(uint64_t ours, uint64_t theirs, double overlap) {
  const uint64_t sum = ours + theirs;
  const auto shared = static_cast<uint64_t>(overlap * static_cast<double>(std::min(ours, theirs)));
  return std::clamp(sum - std::min(shared, sum), std::max(ours, theirs), sum);
}

} // namespace

std::optional<ParsedLine> parse_history_line(std::string_view line, std::string* error) {
  Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "not valid JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  auto k = j.find("k");
  if (k == j.end() || !k->is_array() || k->size() != 2 || !(*k)[0].is_string() ||
      !(*k)[1].is_string()) {
    *error = "\"k\" must be [config, test_id]";
    return std::nullopt;
  }
  auto v = j.find("v");
  if (v == j.end() || !v->is_object()) {
    *error = "\"v\" must be an object";
    return std::nullopt;
  }
  ParsedLine out;
  out.key.config = (*k)[0].get<std::string>();
  out.key.test = (*k)[1].get<std::string>();
  auto n = v->find("n");
  auto f = v->find("f");
  if (n == v->end() || !n->is_number_unsigned() || f == v->end() || !f->is_number_unsigned()) {
    *error = "\"n\" and \"f\" must be non-negative integers";
    return std::nullopt;
  }
  out.values.n = n->get<uint64_t>();
  out.values.f = f->get<uint64_t>();
  auto last = v->find("last_run");
  if (last == v->end() || !last->is_string()) {
    *error = "\"last_run\" must be a string";
    return std::nullopt;
  }
  out.values.last_run = last->get<std::string>();
  if (!parse_samples(*v, "ok", &out.values.ok, error) ||
      !parse_samples(*v, "fail", &out.values.fail, error)) {
    return std::nullopt;
  }
  return out;
}

std::string serialize_history_line(const HistoryKey& key, const HistoryValues& values) {
  Json v = Json::object();
  v["n"] = values.n;
  v["f"] = values.f;
  v["last_run"] = values.last_run;
  v["ok"] = samples_json(values.ok);
  v["fail"] = samples_json(values.fail);
  Json j = Json::object();
  j["k"] = Json::array({key.config, key.test});
  j["v"] = std::move(v);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HistoryMap parse_history(std::string_view text, const std::string& origin, size_t capacity,
                         std::vector<std::string>* warnings) {
  HistoryMap out;
  const auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (trim(line).empty()) {
      continue;
    }
    std::string err;
    auto parsed = parse_history_line(line, &err);
    const std::string where = origin + ":" + std::to_string(i + 1) + ": ";
    if (!parsed) {
      if (warnings) {
        warnings->push_back(where + "skipped corrupt history line (" + err + ")");
      }
      continue;
    }
    auto [it, inserted] = out.try_emplace(parsed->key);
    if (inserted) {
      it->second.v = std::move(parsed->values);
      it->second.raw = line;
      continue;
    }
    if (warnings) {
      warnings->push_back(where + "duplicate history entry for [" + parsed->key.config + ", " +
                          parsed->key.test + "] merged with the earlier one");
    }
    it->second.v = merge_history_values(nullptr, it->second.v, parsed->values, capacity);
    it->second.raw.clear();
  }
  return out;
}

std::string serialize_history(const HistoryMap& records) {
  std::string out;
  for (const auto& [key, rec] : records) {
    out += rec.raw.empty() ? serialize_history_line(key, rec.v) : rec.raw;
    out += '\n';
  }
  return out;
}

HistoryValues merge_history_values(const HistoryValues* base, const HistoryValues& ours,
                                   const HistoryValues& theirs, size_t capacity) {
  HistoryValues out;
  out.ok = reservoir_merge(base ? &base->ok : nullptr, ours.ok, theirs.ok, capacity);
  out.fail = reservoir_merge(base ? &base->fail : nullptr, ours.fail, theirs.fail, capacity);
  if (base) {
    out.n = delta_merge(base->n, ours.n, theirs.n);
    out.f = delta_merge(base->f, ours.f, theirs.f);
  } else {
    const size_t shared = shared_samples(ours.ok, theirs.ok) + shared_samples(ours.fail, theirs.fail);
    const size_t total = ours.ok.size() + ours.fail.size() + theirs.ok.size() + theirs.fail.size();
    const double overlap =
        total > 0 ? std::min(1.0, 2.0 * static_cast<double>(shared) / static_cast<double>(total)) : 0.0;
    out.n = overlap_merge(ours.n, theirs.n, overlap);
    out.f = overlap_merge(ours.f, theirs.f, overlap);
  }
  out.f = std::min(out.f, out.n);
  out.last_run = newest_ts(theirs) > newest_ts(ours) ? theirs.last_run : ours.last_run;
  return out;
}

HistoryMap merge_histories(const HistoryMap& base, const HistoryMap& ours, const HistoryMap& theirs,
                           size_t capacity) {
  HistoryMap out = theirs;
  for (const auto& [key, rec] : ours) {
    auto t = out.find(key);
    if (t == out.end()) {
      out.emplace(key, rec);
      continue;
    }
    const HistoryRecord& their_rec = t->second;
    if (rec.v == their_rec.v) {
      continue;
    }
    auto b = base.find(key);
    const HistoryValues* base_v = b == base.end() ? nullptr : &b->second.v;
    if (base_v && their_rec.v == *base_v) {
      t->second = rec;  // only we changed it
      continue;
    }
    if (base_v && rec.v == *base_v) {
      continue;  // only they changed it
    }
    t->second.v = merge_history_values(base_v, rec.v, their_rec.v, capacity);
    t->second.raw.clear();
  }
  return out;
}

} // namespace offload
