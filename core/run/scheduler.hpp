#pragma once
/// Batch planning. Pure functions: tests with expected durations in, batches
/// out, so the plan is unit-testable and benchmarkable without processes.
///
/// The plan weighs the framework's measured per-batch start-up cost against
/// balance: more batches balance better (a fast sandbox takes more of them
/// from the shared queue) but every batch pays start-up once. Tests are
/// assigned longest-first to the least-loaded batch (LPT); with no history
/// every test weighs the same and LPT degenerates to round-robin.
#include <cstddef>
#include <string>
#include <vector>

namespace offload {

struct PlannedTest {
  size_t index = 0;           ///< caller's index of the test
  double expected_secs = 1.0; ///< estimate used for balancing
  size_t id_bytes = 0;        ///< length of the ID as it will appear on the command line
  bool individual = false;    ///< schedule_individual: a batch of its own
  bool known = true;          ///< expected_secs comes from history or a previous report
};

struct PlannedBatch {
  std::vector<size_t> tests;  ///< caller's indices
  double expected_secs = 0;   ///< sum of estimates (start-up excluded)
};

struct PlanOptions {
  int parallelism = 1;                 ///< sandboxes that pull from the queue
  double batch_overhead_secs = 0.5;    ///< measured start-up cost of one batch
  size_t max_id_bytes = 100000;        ///< cap on summed ID length per batch (command-line limits)
  size_t max_tests_per_batch = 0;      ///< 0: no cap
};

/// Number of batches to aim for, given total expected work.
size_t choose_batch_count(double total_secs, size_t n_tests, const PlanOptions& opts);

/// The plan, heaviest batch first (the queue order).
std::vector<PlannedBatch> plan_batches(const std::vector<PlannedTest>& tests, const PlanOptions& opts);

} // namespace offload
