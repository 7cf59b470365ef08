#include "history/format.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

namespace offload {

namespace {

/// Decay per age rank: weights 1.0, 0.90, 0.82, 0.74, ... (as the original).
constexpr double kLambda = 0.1;

/// splitmix64: a tiny, well-mixed PRNG step; one draw per timestamp is all we need.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Newest first; ties broken by run id so the order never depends on input order.
void sort_newest_first(std::vector<HistorySample>& samples) {
  std::stable_sort(samples.begin(), samples.end(), [](const HistorySample& a, const HistorySample& b) {
    if (a.ts_ms != b.ts_ms) {
      return a.ts_ms > b.ts_ms;
    }
    return a.run < b.run;
  });
}

void sort_oldest_first(std::vector<HistorySample>& samples) {
  std::stable_sort(samples.begin(), samples.end(), [](const HistorySample& a, const HistorySample& b) {
    if (a.ts_ms != b.ts_ms) {
      return a.ts_ms < b.ts_ms;
    }
    if (a.run != b.run) {
      return a.run < b.run;
    }
    return a.secs < b.secs;
  });
}

using SampleId = std::pair<std::string, uint64_t>;

std::set<SampleId> ids_of(const std::vector<HistorySample>& samples) {
  std::set<SampleId> out;
  for (const auto& s : samples) {
    out.emplace(s.run, s.ts_ms);
  }
  return out;
}

} // namespace

double reservoir_key(uint64_t ts_ms, size_t age_rank) {
  const double weight = std::exp(-kLambda * static_cast<double>(age_rank));
  const double r = static_cast<double>(splitmix64(ts_ms) >> 11) * 0x1.0p-53;
  return std::pow(r, 1.0 / weight);
}

void reservoir_insert(std::vector<HistorySample>& samples, HistorySample s, size_t capacity) {
  if (capacity == 0) {
    samples.clear();
    return;
  }
  if (samples.size() > capacity) {
    // The configured size shrank since these were written.
    reservoir_downsample(samples, capacity);
  }
  if (samples.size() < capacity) {
    samples.push_back(std::move(s));
    return;
  }
  sort_newest_first(samples);
  const double new_key = reservoir_key(s.ts_ms, 0);
  size_t min_idx = 0;
  double min_key = 2.0;
  for (size_t i = 0; i < samples.size(); ++i) {
    // The new sample takes rank 0, so existing ones age by one.
    const double k = reservoir_key(samples[i].ts_ms, i + 1);
    if (k < min_key) {
      min_key = k;
      min_idx = i;
    }
  }
  if (new_key > min_key) {
    samples[min_idx] = std::move(s);
  }
}

void reservoir_downsample(std::vector<HistorySample>& samples, size_t capacity) {
  if (samples.size() <= capacity) {
    return;
  }
  sort_newest_first(samples);
  std::vector<std::pair<double, size_t>> keyed;
  keyed.reserve(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    keyed.emplace_back(reservoir_key(samples[i].ts_ms, i), i);
  }
  // Largest keys win; equal keys prefer the newer sample (smaller index).
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<HistorySample> kept;
  kept.reserve(capacity);
  for (size_t i = 0; i < capacity; ++i) {
    kept.push_back(std::move(samples[keyed[i].second]));
  }
  sort_oldest_first(kept);
  samples = std::move(kept);
}

std::vector<HistorySample> reservoir_merge(const std::vector<HistorySample>* base,
                                           const std::vector<HistorySample>& ours,
                                           const std::vector<HistorySample>& theirs,
                                           size_t capacity) {
  const std::set<SampleId> in_base = base ? ids_of(*base) : std::set<SampleId>{};
  const std::set<SampleId> in_ours = ids_of(ours);
  const std::set<SampleId> in_theirs = ids_of(theirs);
  std::set<SampleId> seen;
  std::vector<HistorySample> out;
  // A base sample missing from one side was evicted there on purpose: drop it.
  auto take = [&](const HistorySample& s, const std::set<SampleId>& other) {
    SampleId id{s.run, s.ts_ms};
    if (in_base.count(id) && !other.count(id)) {
      return;
    }
    if (seen.insert(id).second) {
      out.push_back(s);
    }
  };
  for (const auto& s : ours) {
    take(s, in_theirs);
  }
  for (const auto& s : theirs) {
    take(s, in_ours);
  }
  sort_oldest_first(out);
  reservoir_downsample(out, capacity);
  return out;
}

} // namespace offload
