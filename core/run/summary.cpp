#include "run/summary.hpp"

#include <algorithm>
#include <cstdlib>
#include <ostream>

#include <fmt/format.h>

namespace offload {

RunTotals tally(const std::vector<TestResult>& results) {
  RunTotals t;
  t.total = results.size();
  for (auto& r : results) {
    switch (r.outcome) {
    case Outcome::Passed: t.passed++; break;
    case Outcome::Failed: t.failed++; break;
    case Outcome::Flaky: t.flaky++; break;
    case Outcome::Skipped: t.skipped++; break;
    case Outcome::NotRun: t.not_run++; break;
    }
  }
  return t;
}

int exit_code_for(const RunTotals& t) {
  if (t.failed > 0 || t.not_run > 0) return 1;
  if (t.flaky > 0) return 2;
  return 0;
}

double cost_per_core_second() {
  if (const char* v = std::getenv("OFFLOAD_COST_PER_CORE_SECOND")) {
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (end != v && d >= 0) return d;
  }
  return 0.00003942;
}

Reporter::Reporter(std::ostream& out, bool ci) : m_out(out), m_ci(ci) {}

void Reporter::discovered(size_t tests, size_t groups) {
  m_total = tests;
  m_out << "Discovered " << tests << " test" << (tests == 1 ? "" : "s") << " in " << groups << " group"
        << (groups == 1 ? "" : "s") << "\n";
  m_out.flush();
}

void Reporter::clear_status() {
  if (m_status_shown) {
    m_out << "\r\033[K";
    m_status_shown = false;
  }
}

void Reporter::draw_status() {
  if (m_ci) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  std::string eta;
  if (m_done > 0 && m_done < m_total) {
    double rate = elapsed / static_cast<double>(m_done);
    eta = fmt::format(", ~{:.0f}s left", rate * static_cast<double>(m_total - m_done));
  }
  m_out << "\r\033[K"
        << fmt::format("\033[1m[{}/{}]\033[0m \033[32m{} passed\033[0m, \033[31m{} failed\033[0m, {} flaky, {} skipped"
                       " | {} running | {:.1f}s{}",
                       m_done, m_total, m_live.passed, m_live.failed, m_live.flaky, m_live.skipped, m_running, elapsed,
                       eta);
  m_status_shown = true;
  m_out.flush();
}

void Reporter::batch_started(size_t, const std::string&, size_t) {
  ++m_running;
  draw_status();
}

void Reporter::batch_finished(size_t, const std::string&) {
  if (m_running) --m_running;
  draw_status();
}

void Reporter::test_finished(const TestResult& r) {
  ++m_done;
  clear_status();
  switch (r.outcome) {
  case Outcome::Passed: m_live.passed++; break;
  case Outcome::Failed:
    m_live.failed++;
    m_out << "FAILED  " << r.id << "  (" << r.cause << ")\n";
    break;
  case Outcome::Flaky:
    m_live.flaky++;
    m_out << "FLAKY   " << r.id << "  (" << r.cause << ")\n";
    break;
  case Outcome::Skipped: m_live.skipped++; break;
  case Outcome::NotRun:
    m_live.not_run++;
    m_out << "NOT RUN " << r.id << "  (" << r.cause << ")\n";
    break;
  }
  if (m_ci && m_total > 0 && (m_done % std::max<size_t>(1, m_total / 10) == 0 || m_done == m_total)) {
    m_out << fmt::format("[ci] {}% | passed: {}, failed: {}, flaky: {}, awaiting: {}\n", m_done * 100 / m_total,
                         m_live.passed, m_live.failed, m_live.flaky, m_total - m_done);
  }
  draw_status();
  m_out.flush();
}

void Reporter::warning(const std::string& w) {
  clear_status();
  m_out << "warning: " << w << "\n";
  draw_status();
  m_out.flush();
}

void Reporter::summary(const RunTotals& t, const std::vector<TestResult>&, std::optional<double> cpu_cores) {
  clear_status();
  m_out << "\n";
  m_out << fmt::format("Total:    {}\n", t.total);
  m_out << fmt::format("Passed:   {}\n", t.passed + t.flaky);
  m_out << fmt::format("Failed:   {}\n", t.failed);
  if (t.skipped) m_out << fmt::format("Skipped:  {}\n", t.skipped);
  if (t.not_run) m_out << fmt::format("Not Run:  {}\n", t.not_run);
  if (t.flaky) m_out << fmt::format("Flaky:    {}\n", t.flaky);
  m_out << fmt::format("Duration: {:.2f}s\n", t.wall_secs);
  if (t.parallelism > 0 && t.exec_secs > 0) {
    double bound = std::max(t.busy_secs / t.parallelism, t.longest_secs);
    if (bound > 0) {
      m_out << fmt::format("Efficiency: execution took {:.2f}s; lower bound {:.2f}s = max({:.2f}s of batches / {} "
                           "sandboxes, longest test {:.2f}s); ratio {:.2f}x\n",
                           t.exec_secs, bound, t.busy_secs, t.parallelism, t.longest_secs, t.exec_secs / bound);
    }
  }
  if (cpu_cores) {
    double core_secs = t.sandbox_secs * *cpu_cores;
    m_out << fmt::format("Estimated cost: ${:.4f} ({:.1f} CPU-seconds)\n", core_secs * cost_per_core_second(), core_secs);
  }
  m_out << "\n";
  if (t.total == 0) {
    m_out << "No test results were collected.\n";
  } else if (t.failed || t.not_run) {
    m_out << "Some tests failed.\n";
  } else if (t.flaky) {
    m_out << "All tests passed, some only on retry (flaky).\n";
  } else {
    m_out << "All tests passed!\n";
  }
  m_out.flush();
}

} // namespace offload
