#include "run/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>

namespace offload {

size_t choose_batch_count(double total_secs, size_t n_tests, const PlanOptions& opts) {
  if (n_tests == 0) {
    return 0;
  }
  const double p = std::max(1, opts.parallelism);
  const double c = std::max(0.01, opts.batch_overhead_secs);
  // With B batches over p sandboxes the makespan is roughly
  //   (W + B*c)/p  +  W/B   (the last batch to start is the tail),
  // minimised at B = sqrt(p*W/c). Never fewer batches than sandboxes (so all
  // of them work), never more than tests.
  double b = std::sqrt(p * total_secs / c);
  size_t count = static_cast<size_t>(std::ceil(b));
  count = std::max(count, static_cast<size_t>(p));
  count = std::min(count, n_tests);
  return std::max<size_t>(count, 1);
}

namespace {

/// LPT of `tests` (sorted longest first) into `count` batches, honouring the
/// per-batch limits (a batch that is full makes room for a new one).
std::vector<PlannedBatch> lpt(const std::vector<const PlannedTest*>& tests, size_t count, const PlanOptions& opts) {
  std::vector<PlannedBatch> batches(count);
  std::vector<size_t> bytes(count, 0);
  using Slot = std::pair<double, size_t>; // (load, batch): least loaded first, lowest index on ties
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> heap;
  for (size_t i = 0; i < count; ++i) {
    heap.push({0.0, i});
  }
  auto full = [&](size_t b, const PlannedTest* t) {
    return !batches[b].tests.empty() &&
           (bytes[b] + t->id_bytes > opts.max_id_bytes ||
            (opts.max_tests_per_batch && batches[b].tests.size() >= opts.max_tests_per_batch));
  };
  for (auto* t : tests) {
    std::vector<Slot> skipped;
    Slot slot = heap.top();
    heap.pop();
    while (full(slot.second, t)) {
      skipped.push_back(slot);
      if (heap.empty()) {
        batches.emplace_back();
        bytes.push_back(0);
        slot = {0.0, batches.size() - 1};
        break;
      }
      slot = heap.top();
      heap.pop();
    }
    for (auto& s : skipped) {
      heap.push(s);
    }
    auto& b = batches[slot.second];
    b.tests.push_back(t->index);
    b.expected_secs += t->expected_secs;
    bytes[slot.second] += t->id_bytes + 1;
    heap.push({b.expected_secs, slot.second});
  }
  std::vector<PlannedBatch> out;
  for (auto& b : batches) {
    if (!b.tests.empty()) {
      out.push_back(std::move(b));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PlannedBatch& a, const PlannedBatch& b) { return a.expected_secs > b.expected_secs; });
  return out;
}

} // namespace

std::vector<PlannedBatch> plan_batches(const std::vector<PlannedTest>& tests, const PlanOptions& opts) {
  std::vector<PlannedBatch> individual;
  std::vector<const PlannedTest*> shared;
  double total = 0;
  for (auto& t : tests) {
    if (t.individual) {
      individual.push_back({{t.index}, t.expected_secs});
    } else {
      shared.push_back(&t);
      total += t.expected_secs;
    }
  }
  // Longest first; ties keep discovery order so the plan is deterministic.
  std::stable_sort(shared.begin(), shared.end(),
                   [](const PlannedTest* a, const PlannedTest* b) { return a->expected_secs > b->expected_secs; });
  const size_t p = static_cast<size_t>(std::max(1, opts.parallelism));
  const double c = std::max(0.01, opts.batch_overhead_secs);
  std::vector<PlannedBatch> head, tail;
  const bool nothing_known = std::none_of(shared.begin(), shared.end(), [](const PlannedTest* t) { return t->known; });
  if (nothing_known || total / static_cast<double>(p) <= 4 * c || shared.size() <= p) {
    // Also when nothing is known: equal weights make LPT a round-robin over
    // one batch per sandbox, the cheapest plan until history says otherwise.
    // Little work per sandbox: one batch each, start-up paid once.
    head = lpt(shared, std::min(p, std::max<size_t>(shared.size(), 1)), opts);
  } else {
    // Guided: p large batches take ~80% of the work (the heavy tests, LPT);
    // the rest becomes many small batches that even out the finish.
    const double cap = 0.8 * total / static_cast<double>(p);
    std::vector<double> load(p, 0.0);
    std::vector<const PlannedTest*> head_tests, tail_tests;
    std::vector<std::vector<const PlannedTest*>> bins(p);
    for (auto* t : shared) {
      auto it = std::min_element(load.begin(), load.end());
      if (*it == 0.0 || *it + t->expected_secs <= cap) {
        *it += t->expected_secs;
        bins[static_cast<size_t>(it - load.begin())].push_back(t);
      } else {
        tail_tests.push_back(t);
      }
    }
    for (auto& bin : bins) {
      if (bin.empty()) {
        continue;
      }
      auto part = lpt(bin, 1, opts); // may split on the byte/test caps
      head.insert(head.end(), part.begin(), part.end());
    }
    double tail_total = 0;
    for (auto* t : tail_tests) {
      tail_total += t->expected_secs;
    }
    if (!tail_tests.empty()) {
      size_t n = static_cast<size_t>(std::ceil(std::sqrt(static_cast<double>(p) * tail_total / c)));
      n = std::clamp(n, std::min(p, tail_tests.size()), tail_tests.size());
      if (opts.max_tests_per_batch > 0) {
        n = std::max(n, (tail_tests.size() + opts.max_tests_per_batch - 1) / opts.max_tests_per_batch);
      }
      tail = lpt(tail_tests, n, opts);
    }
  }
  // Queue order: individual heavy tests and big batches first, small ones last.
  std::vector<PlannedBatch> out = std::move(individual);
  out.insert(out.end(), head.begin(), head.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const PlannedBatch& a, const PlannedBatch& b) { return a.expected_secs > b.expected_secs; });
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

} // namespace offload
