#pragma once
/// What the person at the terminal sees: discovery count, failures as they
/// happen, and the final summary; plus the exit code rule of the spec.
#include <chrono>
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
  // How close execution came to the lower bound max(work / parallelism, longest test).
  double exec_secs = 0;     ///< execution phase wall time (first sandbox to last result)
  double busy_secs = 0;     ///< summed batch wall time
  double longest_secs = 0;  ///< longest single test attempt
  int parallelism = 0;
};

RunTotals tally(const std::vector<TestResult>& results);
/// 0 all passed (or skipped), 2 only flaky besides passes, 1 otherwise.
int exit_code_for(const RunTotals& t);

/// Price used by --show-estimated-cost (USD per CPU-core-second), the
/// original's Modal rate. Override with OFFLOAD_COST_PER_CORE_SECOND.
double cost_per_core_second();

class Reporter {
public:
  /// ci: plain lines, no escape codes. Otherwise a live status line is kept
  /// at the bottom (the terminal case).
  Reporter(std::ostream& out, bool ci);
  void discovered(size_t tests, size_t groups);
  void batch_started(size_t batch, const std::string& sandbox, size_t tests);
  void batch_finished(size_t batch, const std::string& outcome);
  void test_finished(const TestResult& r);
  /// Expected remaining work in seconds (from history) for the estimate shown live.
  void set_expected_total(double secs) { m_expected_total = secs; }
  void warning(const std::string& w);
  /// cpu_cores set: print the estimated cost too.
  void summary(const RunTotals& t, const std::vector<TestResult>& results, std::optional<double> cpu_cores);

private:
  void clear_status();
  void draw_status();
  std::ostream& m_out;
  bool m_ci;
  size_t m_total = 0;
  size_t m_done = 0;
  size_t m_running = 0;
  double m_expected_total = 0;
  bool m_status_shown = false;
  RunTotals m_live;
  std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

} // namespace offload
