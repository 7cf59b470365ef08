#pragma once
/// What the person at the terminal sees: discovery count, failures as they
/// happen, and the final summary; plus the exit code rule of the spec.
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "run/outcome.hpp"

namespace offload {

struct RunTotals {
  size_t total = 0, passed = 0, failed = 0, flaky = 0, skipped = 0, not_run = 0;
  double wall_secs = 0;
  double sandbox_secs = 0;
};

RunTotals tally(const std::vector<TestResult>& results);
/// 0 all passed (or skipped), 2 only flaky besides passes, 1 otherwise.
int exit_code_for(const RunTotals& t);

/// Price used by --show-estimated-cost (USD per CPU-core-second), the
/// original's Modal rate. Override with OFFLOAD_COST_PER_CORE_SECOND.
double cost_per_core_second();

class Reporter {
public:
  Reporter(std::ostream& out, bool ci);
  void discovered(size_t tests, size_t groups);
  void batch_started(size_t batch, const std::string& sandbox, size_t tests);
  void batch_finished(size_t batch, const std::string& outcome);
  void test_finished(const TestResult& r);
  void warning(const std::string& w);
  /// cpu_cores set: print the estimated cost too.
  void summary(const RunTotals& t, const std::vector<TestResult>& results, std::optional<double> cpu_cores);

private:
  std::ostream& m_out;
  bool m_ci;
  size_t m_total = 0;
  size_t m_done = 0;
  RunTotals m_live;
};

} // namespace offload
