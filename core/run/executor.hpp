#pragma once
/// The executor: sandboxes pull batches from one shared queue; each batch's
/// result is matched to its tests; failed tests get their retries at once,
/// in parallel on other sandboxes (first pass wins, the other copies are
/// cancelled); tests a crashed or timed-out batch never reported are run
/// again in smaller batches; every test ends with one outcome and a cause.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plugin/framework.hpp"
#include "run/outcome.hpp"

namespace offload {

class EventLoop;
class ProcessRunner;
class ProviderInstance;
class Trace;

/// A discovered test as the executor sees it.
struct ExecTest {
  std::string id;
  std::string group;
  std::string file;
  int retry_count = 0;
  bool individual = false;
  double expected_secs = 1.0;
  bool known = false;      ///< expected_secs is measured (history or previous report), not a fallback
  int pretries = 0;        ///< extra attempts started up front (history says flaky); taken from retry_count
  int in_process_retries = 0; ///< of retry_count, how many the framework may run in the failing batch's process
};

struct ExecOptions {
  int max_parallel = 1;
  uint64_t timeout_ms = 0;           ///< per batch
  bool fail_fast = false;
  std::string output_dir;            ///< absolute; logs/ and results/ live here
  std::string run_id;                ///< used in sandbox result paths
  std::string image_id;              ///< from prepare
  std::vector<std::pair<std::string, std::string>> sandbox_env;
  double batch_overhead_secs = 0.5;  ///< measured framework start-up
  int max_not_run_reruns = 2;        ///< reruns of tests a crashed/timed-out batch never reported
  std::vector<std::string> download_globs;  ///< artifacts to fetch per batch ([report] download_globs)
  bool download_globs_failure_only = false;
  ProcessRunner* local_runner = nullptr;    ///< for unpacking artifacts locally
};

/// Events the executor reports while it runs (loop thread).
struct ExecObserver {
  std::function<void(size_t batch, const std::string& sandbox, size_t n_tests)> batch_started;
  std::function<void(size_t batch, const std::string& outcome)> batch_finished;
  std::function<void(const std::string& id, const Attempt&)> attempt_finished;
  std::function<void(const TestResult&)> test_finished; ///< final outcome decided
  std::function<void(const std::string&)> warning;
};

struct ExecSummary {
  std::vector<TestResult> results;   ///< one per test, in input order
  double wall_secs = 0;
  double sandbox_secs = 0;           ///< sum of sandbox lifetimes (for cost)
  double busy_secs = 0;              ///< sum of batch wall times (work actually done)
  double longest_test_secs = 0;      ///< longest single attempt
  int parallelism = 1;
  size_t batches_run = 0;
  bool interrupted = false;
  int signal = 0;
  std::vector<std::string> warnings;
};

class Executor {
public:
  Executor(EventLoop& loop, ProviderInstance& provider, FrameworkInstance& framework, ExecOptions opts,
           ExecObserver observer, Trace* trace = nullptr);
  ~Executor();

  /// Start running; done is called once, on the loop thread, when every test
  /// has its final outcome and every sandbox was destroyed.
  void start(std::vector<ExecTest> tests, std::function<void(ExecSummary)> done);
  /// Stop early (Ctrl-C): cancel running batches, mark what did not finish as
  /// not run with `reason`, destroy sandboxes, then call done.
  void interrupt(int signo, const std::string& reason);

  struct State;

private:
  std::unique_ptr<State> m_state;
};

} // namespace offload
