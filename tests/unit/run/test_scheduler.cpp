#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "run/scheduler.hpp"

using namespace offload;

namespace {
std::vector<PlannedTest> tests_with(const std::vector<double>& secs) {
  std::vector<PlannedTest> v;
  for (size_t i = 0; i < secs.size(); ++i) {
    v.push_back({i, secs[i], 10, false});
  }
  return v;
}

double makespan_of(const std::vector<PlannedBatch>& batches, int p, double overhead) {
  // Simulate sandboxes pulling from the queue in order.
  std::vector<double> free_at(static_cast<size_t>(p), 0.0);
  for (auto& b : batches) {
    auto it = std::min_element(free_at.begin(), free_at.end());
    *it += b.expected_secs + overhead;
  }
  return *std::max_element(free_at.begin(), free_at.end());
}
} // namespace

TEST_CASE("every test is planned exactly once") {
  auto tests = tests_with(std::vector<double>(1000, 0.01));
  tests[5].individual = true;
  auto plan = plan_batches(tests, {4, 0.4, 100000, 0});
  std::multiset<size_t> seen;
  for (auto& b : plan) {
    CHECK_FALSE(b.tests.empty());
    seen.insert(b.tests.begin(), b.tests.end());
  }
  CHECK(seen.size() == 1000);
  CHECK(std::set<size_t>(seen.begin(), seen.end()).size() == 1000);
}

TEST_CASE("many tiny tests do not pay one start-up each") {
  auto plan = plan_batches(tests_with(std::vector<double>(2000, 0.001)), {2, 0.4, 1000000, 0});
  CHECK(plan.size() == 2);
}

TEST_CASE("heavy skewed suite is balanced near the lower bound") {
  std::vector<double> secs;
  for (int i = 0; i < 200; ++i) {
    secs.push_back(i % 10 == 0 ? 8.0 : 0.5 + (i % 7) * 0.3);
  }
  double total = std::accumulate(secs.begin(), secs.end(), 0.0);
  double lower = std::max(total / 16, 8.0);
  auto plan = plan_batches(tests_with(secs), {16, 0.4, 1000000, 0});
  CHECK(plan.size() >= 16);
  // Within 10% of the lower bound plus start-up paid a few times per sandbox.
  double batches_per_sandbox = static_cast<double>(plan.size()) / 16.0;
  CHECK(makespan_of(plan, 16, 0.4) <= 1.10 * lower + 0.4 * (1 + batches_per_sandbox));
}

TEST_CASE("schedule_individual tests get batches of their own") {
  auto tests = tests_with({1, 1, 1, 1});
  tests[0].individual = tests[2].individual = true;
  auto plan = plan_batches(tests, {2, 0.1, 1000, 0});
  int singles = 0;
  for (auto& b : plan) {
    if (b.tests.size() == 1 && (b.tests[0] == 0 || b.tests[0] == 2)) {
      ++singles;
    }
  }
  CHECK(singles == 2);
}

TEST_CASE("ID length cap splits batches") {
  auto tests = tests_with(std::vector<double>(100, 1.0));
  for (auto& t : tests) {
    t.id_bytes = 1000;
  }
  for (int p : {1, 4}) {
    auto plan = plan_batches(tests, {p, 100.0, 10000, 0});
    size_t n = 0;
    for (auto& b : plan) {
      CHECK(b.tests.size() <= 10);
      n += b.tests.size();
    }
    CHECK(n == 100);
  }
}

TEST_CASE("with nothing known, one batch per sandbox (round-robin)") {
  auto tests = tests_with(std::vector<double>(85, 1.0));
  for (auto& t : tests) {
    t.known = false;
  }
  auto plan = plan_batches(tests, {4, 0.5, 1000000, 0});
  CHECK(plan.size() == 4);
  for (auto& b : plan) {
    CHECK(b.tests.size() >= 21);
    CHECK(b.tests.size() <= 22);
  }
}
