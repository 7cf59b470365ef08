#include "run/executor.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "plugin/provider.hpp"
#include "process/event_loop.hpp"
#include "process/runner.hpp"
#include "run/scheduler.hpp"
#include "run/trace.hpp"
#include "util/fs.hpp"
#include "util/shell.hpp"

namespace offload {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct TestState {
  ExecTest test;
  std::vector<Attempt> attempts;
  int failures = 0;          ///< failed or errored attempts
  int not_run = 0;           ///< attempts that produced no result
  int retries_scheduled = 0; ///< extra attempts queued after failures
  int in_process_used = 0;   ///< extra attempts the framework made inside a batch's process
  int in_process_reserved = 0; ///< in-process attempts granted to batches still running
  int in_flight = 0;         ///< queued or running copies
  bool decided = false;
  Outcome outcome = Outcome::NotRun;
  std::string cause;
  std::string name, classname;
};

struct BatchState {
  size_t id = 0;             ///< position in m_batches
  std::vector<size_t> tests;
  bool retry = false;
  bool mergeable = false;    ///< a retry after failures: may share a start-up with other such retries
  int in_process = 0;        ///< in-process retries granted to its command (reserved on its tests)
  bool running = false;
  bool finished = false;
  bool cancel_requested = false;
  int log_index = -1;        ///< N of logs/batch-N.*, assigned when it starts
  size_t sandbox = 0;
  offload_op_id op = 0;
  uint64_t watchdog = 0;
  double start_secs = 0;
  int64_t start_us = 0;
};

struct SandboxState {
  size_t index = 0;
  offload_sandbox* handle = nullptr;
  std::string id;
  bool ready = false;
  bool busy = false;
  bool dead = false;
  bool retired = false;      ///< destroyed early: the queue was empty while others still ran
  bool destroying = false;
  bool destroyed = false;
  bool abandoned = false;    ///< its create never completed; a late completion is ignored
  offload_op_id destroy_op = 0;
  Clock::time_point created;
  std::optional<Clock::time_point> ended; ///< when its destroy completed
};

/// A positive number of seconds from an environment variable, else fallback.
double env_secs(const char* name, double fallback) {
  if (const char* v = std::getenv(name)) {
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (end != v && d > 0) return d;
  }
  return fallback;
}

std::string secs_text(double s) {
  auto t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t + "s";
}

std::string describe_exec(const ExecOutcome& e) {
  if (e.timed_out) return "timed out";
  if (e.term_signal) return "killed by signal " + std::to_string(e.term_signal);
  return "exit code " + std::to_string(e.exit_code);
}

} // namespace

/// Longest test ID offload will put on a command line.
constexpr size_t k_max_id_bytes = 64 * 1024;

struct Executor::State {
  EventLoop& loop;
  ProviderInstance& provider;
  FrameworkInstance& framework;
  ExecOptions opts;
  ExecObserver obs;
  Trace* trace;

  std::vector<TestState> tests;
  std::deque<BatchState> batches;  ///< deque: references stay valid while retries are added
  std::deque<size_t> queue;        ///< batch ids waiting
  std::deque<SandboxState> sandboxes;  ///< deque: the pool grows while references are live
  size_t undecided = 0;
  int next_log_index = 0;
  size_t creating = 0;
  bool stopping = false;           ///< no new batches start
  bool finishing = false;
  bool done_called = false;
  bool interrupted = false;
  int signal = 0;
  std::string interrupt_reason;
  Clock::time_point t0 = Clock::now();
  std::function<void(ExecSummary)> done;
  std::vector<std::string> warnings;
  std::string project_dir;
  double busy = 0;     ///< summed batch wall time
  double longest = 0;  ///< longest single attempt
  uint64_t teardown_timer = 0;
  uint64_t create_timer = 0;

  /// How long past its timeout (or past a cancel) an exec may stay
  /// uncompleted before the host gives up on the plugin: min(60, max(5,
  /// timeout/2)) seconds; OFFLOAD_PLUGIN_GRACE_SECS overrides (tests).
  double plugin_grace_secs() const {
    double t = static_cast<double>(opts.timeout_ms) / 1000.0;
    return env_secs("OFFLOAD_PLUGIN_GRACE_SECS", std::min(60.0, std::max(5.0, t / 2)));
  }
  /// Overall limit on destroying the sandboxes at the end (60 s;
  /// OFFLOAD_TEARDOWN_SECS overrides). Destroys still running then are
  /// cancelled and abandoned with a warning.
  double teardown_limit_secs() const { return env_secs("OFFLOAD_TEARDOWN_SECS", 60.0); }
  static std::chrono::milliseconds ms(double secs) {
    return std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }

  State(EventLoop& l, ProviderInstance& p, FrameworkInstance& f, ExecOptions o, ExecObserver ob, Trace* t)
      : loop(l), provider(p), framework(f), opts(std::move(o)), obs(std::move(ob)), trace(t) {}

  double now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  /// Attempts of retry_count not yet spent, queued or granted.
  static int retries_left(const TestState& ts) {
    return ts.test.retry_count - ts.retries_scheduled - ts.in_process_used - ts.in_process_reserved;
  }

  /// In-process retries for a batch's command: what every test in it may
  /// still spend. Copies queued after failures get none (their attempts are
  /// already counted), so a test never runs more than 1 + retry_count times.
  int grant_in_process(const BatchState& b) const {
    if (b.mergeable || b.tests.empty()) return 0;
    int g = std::numeric_limits<int>::max();
    for (auto t : b.tests) {
      auto& ts = tests[t];
      g = std::min({g, ts.test.in_process_retries - ts.in_process_used, retries_left(ts)});
    }
    return std::max(0, g);
  }

  void warn(const std::string& w) {
    spdlog::warn("{}", w);
    warnings.push_back(w);
    if (obs.warning) obs.warning(w);
  }

  // ---- planning -----------------------------------------------------------

  size_t add_batch(std::vector<size_t> ids, bool retry, bool front) {
    BatchState b;
    b.id = batches.size();
    b.tests = std::move(ids);
    b.retry = retry;
    for (auto t : b.tests) tests[t].in_flight++;
    batches.push_back(std::move(b));
    if (front) {
      queue.push_front(batches.back().id);
    } else {
      queue.push_back(batches.back().id);
    }
    return batches.back().id;
  }

  void plan(std::vector<ExecTest> input) {
    std::vector<PlannedTest> planned;
    for (size_t i = 0; i < input.size(); ++i) {
      TestState ts;
      ts.test = std::move(input[i]);
      tests.push_back(std::move(ts));
    }
    undecided = tests.size();
    for (size_t i = 0; i < tests.size(); ++i) {
      auto& ts = tests[i];
      if (ts.test.id.size() > k_max_id_bytes) {
        // No command line can carry it (Linux caps one argument at 128 KiB):
        // say so instead of letting every sandbox fail on it.
        ts.test.pretries = 0;
        decide(i, Outcome::NotRun,
               "not run: the test ID is " + std::to_string(ts.test.id.size()) + " bytes long; IDs longer than " +
                   std::to_string(k_max_id_bytes) + " bytes cannot be passed on a command line");
        continue;
      }
      planned.push_back({i, ts.test.expected_secs, ts.test.id.size() + 3, ts.test.individual, ts.test.known});
    }
    PlanOptions po;
    po.parallelism = opts.max_parallel;
    po.batch_overhead_secs = opts.batch_overhead_secs;
    for (auto& b : plan_batches(planned, po)) {
      add_batch(b.tests, false, false);
    }
    // Pretries: a test history calls flaky starts its extra attempts together
    // with the first, on other sandboxes, right after the first wave.
    std::vector<size_t> pre;
    for (size_t i = 0; i < tests.size(); ++i) {
      auto& ts = tests[i];
      int n = ts.decided ? 0 : std::min(ts.test.pretries, ts.test.retry_count);
      for (int k = 0; k < n; ++k) {
        pre.push_back(i);
        ts.retries_scheduled++;
      }
    }
    size_t pos = std::min(queue.size(), static_cast<size_t>(std::max(1, opts.max_parallel)));
    for (auto t : pre) {
      BatchState b;
      b.id = batches.size();
      b.tests = {t};
      b.retry = true;
      b.mergeable = true; // adjacent pretries share a start-up like retries do
      tests[t].in_flight++;
      batches.push_back(std::move(b));
      queue.insert(queue.begin() + static_cast<long>(pos++), batches.back().id);
    }
  }

  // ---- sandboxes ----------------------------------------------------------

  void create_sandboxes() {
    size_t want = std::min(static_cast<size_t>(std::max(1, opts.max_parallel)), queue.size());
    for (size_t i = 0; i < want; ++i) {
      create_one();
    }
  }

  void create_one() {
    size_t i = sandboxes.size();
    sandboxes.emplace_back();
    sandboxes[i].index = i;
    ++creating;
    int64_t start_us = trace ? trace->now_us() : 0;
    provider.create(static_cast<unsigned>(i), opts.image_id, opts.sandbox_env,
                    [this, i, start_us](offload_status st, offload_sandbox* sb, std::string id, std::string msg) {
                      on_created(i, st, sb, std::move(id), std::move(msg), start_us);
                    });
  }

  /// More queued work than idle sandboxes (retries, reruns) and room under
  /// max_parallel: add sandboxes, so parallel retries really run in parallel.
  void grow_pool() {
    if (stopping || finishing) return;
    size_t cap = static_cast<size_t>(std::max(1, opts.max_parallel));
    size_t idle = creating;
    size_t used = 0; // sandboxes counting against max_parallel: all but the retired (failed ones too, so they are not recreated forever)
    for (auto& sb : sandboxes) {
      if (sb.ready && !sb.busy && !sb.dead && !sb.retired) ++idle;
      if (!sb.retired) ++used;
    }
    while (used < cap && queue.size() > idle) {
      create_one();
      ++idle;
      ++used;
    }
  }

  void on_created(size_t i, offload_status st, offload_sandbox* sb, std::string id, std::string msg, int64_t start_us) {
    auto& s = sandboxes[i];
    if (s.abandoned) {
      // Completed after the host stopped waiting: destroy what it made.
      if (st == OFFLOAD_OK && sb) provider.destroy(sb, [](offload_status, std::string) {});
      return;
    }
    --creating;
    if (st != OFFLOAD_OK || !sb) {
      s.dead = true;
      s.destroyed = true;
      warn("sandbox " + std::to_string(i) + " could not be created: " + (msg.empty() ? "status " + std::to_string(st) : msg) +
           " (continuing with the others)");
      maybe_finish();
      return;
    }
    s.handle = sb;
    s.id = id.empty() ? "sandbox-" + std::to_string(i) : id;
    s.ready = true;
    s.created = Clock::now();
    if (trace && trace->enabled()) {
      trace->name_process(static_cast<int>(i) + 1, "Sandbox " + s.id);
      trace->name_thread(static_cast<int>(i) + 1, 0, "API");
      trace->name_thread(static_cast<int>(i) + 1, 1, "Exec");
      trace->span("create_sandbox", "sandbox", static_cast<int>(i) + 1, 0, start_us, trace->now_us() - start_us);
    }
    if (stopping) {
      maybe_finish();
      return;
    }
    pull(i);
  }

  // ---- the queue ----------------------------------------------------------

  /// Give sandbox i its next batch, skipping tests that were decided meanwhile.
  void pull(size_t i) {
    auto& s = sandboxes[i];
    if (s.busy || s.dead || s.retired || !s.ready) return;
    while (!stopping && !queue.empty()) {
      size_t bid = queue.front();
      queue.pop_front();
      auto& b = batches[bid];
      std::vector<size_t> live;
      for (auto t : b.tests) {
        if (tests[t].decided) {
          tests[t].in_flight--;
        } else {
          live.push_back(t);
        }
      }
      b.tests = std::move(live);
      if (b.tests.empty()) {
        b.finished = true;
        continue;
      }
      if (b.mergeable) absorb_waiting_retries(b);
      run_batch(i, bid);
      return;
    }
    maybe_finish();
  }

  /// Retries that queued up while every sandbox was busy ride in one batch:
  /// each separate retry batch would pay the framework's start-up again.
  /// Copies of the same test are never merged (they must run in parallel on
  /// different sandboxes), and a merged batch stays small.
  void absorb_waiting_retries(BatchState& b) {
    const size_t cap = 16;
    // Merge only while the batch is short next to one start-up: past that,
    // serialising retries on one sandbox costs more than another start-up.
    auto expected = [&](const std::vector<size_t>& ts) {
      double sum = 0;
      for (auto t : ts) sum += tests[t].test.expected_secs;
      return sum;
    };
    double load = expected(b.tests);
    std::set<size_t> in_batch(b.tests.begin(), b.tests.end());
    for (auto it = queue.begin(); it != queue.end() && b.tests.size() < cap && load < opts.batch_overhead_secs;) {
      auto& other = batches[*it];
      if (!other.retry) {
        break; // retries sit at the front; stop at the first planned batch
      }
      if (!other.mergeable) {
        ++it; // reruns split to isolate a hang or crash stay apart
        continue;
      }
      bool overlaps = std::any_of(other.tests.begin(), other.tests.end(),
                                  [&](size_t t) { return in_batch.count(t) > 0; });
      if (overlaps || b.tests.size() + other.tests.size() > cap) {
        ++it;
        continue;
      }
      load += expected(other.tests);
      for (auto t : other.tests) {
        if (tests[t].decided) {
          tests[t].in_flight--;
          continue;
        }
        b.tests.push_back(t);
        in_batch.insert(t);
      }
      other.tests.clear();
      other.finished = true;
      it = queue.erase(it);
    }
  }

  std::string log_path(const BatchState& b, const std::string& stream, const std::string& outcome) const {
    return opts.output_dir + "/logs/batch-" + std::to_string(b.log_index) + "." + stream + "." + outcome;
  }

  std::string remote_result_path(const BatchState& b) const {
    return "/tmp/offload-" + opts.run_id + "-batch-" + std::to_string(b.log_index) + ".result";
  }

  std::string artifact_marker(const BatchState& b) const {
    return "/tmp/offload-" + opts.run_id + "-batch-" + std::to_string(b.log_index) + ".start";
  }

  std::string local_result_path(const BatchState& b) const {
    return opts.output_dir + "/results/batch-" + std::to_string(b.log_index) + ".result";
  }

  void run_batch(size_t si, size_t bid) {
    auto& s = sandboxes[si];
    auto& b = batches[bid];
    s.busy = true;
    b.running = true;
    b.sandbox = si;
    b.log_index = next_log_index++;
    b.start_secs = now();
    b.start_us = trace ? trace->now_us() : 0;
    std::vector<std::string> ids;
    for (auto t : b.tests) ids.push_back(tests[t].test.id);
    if (obs.batch_started) obs.batch_started(static_cast<size_t>(b.log_index), s.id, ids.size());
    b.in_process = grant_in_process(b);
    for (auto t : b.tests) tests[t].in_process_reserved += b.in_process;
    CommandSpec cmd;
    auto e = framework.run_command(ids, remote_result_path(b), opts.fail_fast, static_cast<unsigned>(b.log_index),
                                   provider.project_dir(), static_cast<unsigned>(b.in_process), &cmd);
    if (!e.empty()) {
      loop.post([this, bid, e] {
        ExecOutcome o;
        o.status = OFFLOAD_E_PLUGIN;
        o.message = "could not build the batch command: " + e;
        o.framework_error = true;
        on_exec_done(bid, o);
      });
      return;
    }
    if (!opts.download_globs.empty()) {
      // Mark the batch's start inside the sandbox, so that only files this
      // batch wrote are collected as its artifacts (no leaks between batches).
      std::vector<std::string> wrapped{"sh", "-c", "touch " + shell_quote(artifact_marker(b)) + " && exec \"$@\"", "sh"};
      wrapped.insert(wrapped.end(), cmd.argv.begin(), cmd.argv.end());
      cmd.argv = std::move(wrapped);
    }
    spdlog::debug("batch {} on {}: {}", b.log_index, s.id, cmd.argv.empty() ? "" : cmd.argv.back().substr(0, 300));
    b.op = provider.exec(s.handle, cmd, log_path(b, "stdout", "running"), log_path(b, "stderr", "running"),
                         opts.timeout_ms, [this, bid](ExecOutcome o) { on_exec_done(bid, std::move(o)); });
    if (opts.timeout_ms > 0) {
      // Watchdog for a provider that never completes: the provider enforces
      // the timeout itself; this only catches a plugin that breaks its contract.
      double grace = plugin_grace_secs();
      b.watchdog = loop.add_timer(std::chrono::milliseconds(opts.timeout_ms) + ms(grace),
                                  [this, bid, grace] { abandon_exec(bid, "did not complete " + secs_text(grace) + " after its timeout"); });
    }
  }

  /// The provider never completed a batch's exec: stop waiting, retire the
  /// sandbox (its tests run again elsewhere) and name the plugin.
  void abandon_exec(size_t bid, const std::string& why) {
    auto& bb = batches[bid];
    bb.watchdog = 0;
    if (!bb.running) return;
    warn("plugin " + provider.plugin_name() + " misbehaved: exec of batch " + std::to_string(bb.log_index) + " " + why +
         "; giving up on sandbox " + sandboxes[bb.sandbox].id);
    sandboxes[bb.sandbox].dead = true;
    ExecOutcome o;
    o.status = bb.cancel_requested ? OFFLOAD_E_CANCELLED : OFFLOAD_E_PLUGIN;
    o.message = "provider " + provider.plugin_name() + " never completed the batch";
    o.timed_out = !bb.cancel_requested;
    on_exec_done(bid, o, true);
  }

  void on_exec_done(size_t bid, ExecOutcome o, bool from_watchdog = false) {
    auto& b = batches[bid];
    if (!b.running) return; // late completion after the watchdog gave up
    if (b.watchdog && !from_watchdog) {
      loop.cancel_timer(b.watchdog);
      b.watchdog = 0;
    }
    if (trace && trace->enabled()) {
      trace->span("exec_batch", "sandbox", static_cast<int>(b.sandbox) + 1, 1, b.start_us, trace->now_us() - b.start_us,
                  "{\"batch\":" + std::to_string(b.log_index) + ",\"tests\":" + std::to_string(b.tests.size()) + "}");
    }
    auto& s = sandboxes[b.sandbox];
    if (o.status != OFFLOAD_OK || b.cancel_requested || s.dead) {
      finish_batch(bid, o, false, {});
      return;
    }
    // Fetch the result file, then parse.
    std::string local = local_result_path(b);
    std::error_code ec;
    fs::remove(local, ec);
    int64_t dl_start = trace ? trace->now_us() : 0;
    provider.download(s.handle, {{remote_result_path(b), local}},
                      [this, bid, o, local, dl_start](offload_status st, std::string msg) {
                        auto& bb = batches[bid];
                        if (trace && trace->enabled()) {
                          trace->span("download_results", "sandbox", static_cast<int>(bb.sandbox) + 1, 0, dl_start,
                                      trace->now_us() - dl_start);
                        }
                        if (st != OFFLOAD_OK) {
                          warn("batch " + std::to_string(bb.log_index) + ": downloading the result file failed: " + msg);
                        }
                        std::string err;
                        auto data = read_file(local, &err);
                        // The local provider's sandbox is this machine: remove our temp file.
                        std::error_code ec2;
                        if (fs::exists(remote_result_path(bb), ec2) && remote_result_path(bb) != local) {
                          fs::remove(remote_result_path(bb), ec2);
                        }
                        finish_batch(bid, o, data.has_value(), data.value_or(""));
                      });
  }

  /// A test the framework reran inside the batch's process: its runs in
  /// order; the last one goes to by_id, the failed ones before it to
  /// earlier. Runs after a non-failure, or beyond what the batch was
  /// granted, do not count (with a warning: the plugin broke the contract).
  void split_in_process_runs(const BatchState& b, const std::string& id, std::vector<ReportedResult> runs,
                             std::map<std::string, ReportedResult>& by_id,
                             std::map<std::string, std::vector<ReportedResult>>& earlier) {
    auto where = "batch " + std::to_string(b.log_index) + ": test " + id + ": ";
    std::stable_sort(runs.begin(), runs.end(), [](auto& x, auto& y) { return x.attempt < y.attempt; });
    if (by_id.count(id)) warn(where + "the framework reported a plain result beside numbered runs; the runs count");
    size_t keep = runs.size();
    for (size_t i = 0; i + 1 < runs.size(); ++i) {
      if (runs[i].status != AttemptStatus::Failed && runs[i].status != AttemptStatus::Error) {
        warn(where + "run " + std::to_string(runs[i].attempt) + " was " + to_string(runs[i].status) +
             ", yet the framework ran it again; later runs ignored");
        keep = i + 1;
        break;
      }
    }
    if (keep > static_cast<size_t>(b.in_process) + 1) {
      warn(where + "the framework ran it " + std::to_string(keep) + " times, but only " +
           std::to_string(b.in_process) + " in-process retr" + (b.in_process == 1 ? "y was" : "ies were") +
           " allowed; later runs ignored");
      keep = static_cast<size_t>(b.in_process) + 1;
    }
    runs.resize(keep);
    if (keep == 1) runs.back().attempt = 0; // what counts is one plain run
    by_id[id] = std::move(runs.back());
    runs.pop_back();
    if (!runs.empty()) earlier[id] = std::move(runs);
  }

  /// Copies what the framework reported into an attempt.
  static void fill_attempt(Attempt& a, const ReportedResult& r) {
    a.status = r.status;
    a.duration_secs = r.duration_secs;
    a.message = r.message;
    a.type = r.type;
    a.text = r.text;
    a.system_out = r.system_out;
    a.system_err = r.system_err;
    a.rerun = static_cast<int>(r.attempt);
  }

  /// Turn a finished (or failed) batch into attempts and decisions.
  void finish_batch(size_t bid, const ExecOutcome& o, bool result_present, const std::string& result) {
    auto& b = batches[bid];
    b.running = false;
    b.finished = true;
    busy += now() - b.start_secs;
    auto& s = sandboxes[b.sandbox];
    for (auto t : b.tests) {
      tests[t].in_flight--;
      tests[t].in_process_reserved -= b.in_process;
    }

    std::string outcome;
    bool infra_error = o.status != OFFLOAD_OK && o.status != OFFLOAD_E_CANCELLED;
    bool cancelled = b.cancel_requested || o.status == OFFLOAD_E_CANCELLED;

    std::map<std::string, ReportedResult> by_id;                 ///< each test's (last) result
    std::map<std::string, std::vector<ReportedResult>> earlier;  ///< failed runs before it, in-process
    std::string parse_error;
    if (!cancelled && !infra_error) {
      std::vector<std::string> ids;
      for (auto t : b.tests) ids.push_back(tests[t].test.id);
      RunOutputView view;
      view.ids = &ids;
      view.exit_code = o.exit_code;
      view.term_signal = o.term_signal;
      view.timed_out = o.timed_out;
      view.result_present = result_present;
      view.result = result;
      view.stdout_path = log_path(b, "stdout", "running");
      view.stderr_path = log_path(b, "stderr", "running");
      view.project_dir = provider.project_dir();
      view.in_process_retries = static_cast<unsigned>(b.in_process);
      std::vector<ReportedResult> reported;
      parse_error = framework.parse_results(view, &reported);
      std::set<std::string> in_batch(ids.begin(), ids.end());
      std::map<std::string, std::vector<ReportedResult>> numbered;
      for (auto& r : reported) {
        if (!in_batch.count(r.id)) {
          warn("batch " + std::to_string(b.log_index) + " reported a result for a test it was not asked to run: " + r.id +
               " (test-set mismatch between discovery and the sandbox?)");
          continue;
        }
        if (r.attempt > 0) {
          numbered[r.id].push_back(std::move(r));
          continue;
        }
        auto it = by_id.find(r.id);
        if (it == by_id.end()) {
          by_id.emplace(r.id, std::move(r));
        } else if (r.status == AttemptStatus::Failed || r.status == AttemptStatus::Error) {
          it->second = std::move(r); // a failure among duplicates wins
        }
      }
      for (auto& [id, runs] : numbered) split_in_process_runs(b, id, std::move(runs), by_id, earlier);
      if (!parse_error.empty()) {
        warn("batch " + std::to_string(b.log_index) + ": " + parse_error);
      }
    }

    // Why tests without a result have none.
    // A shell wrapper reports a child killed by signal N as exit code 128+N.
    const int crash_signal = o.term_signal ? o.term_signal
                             : (!result_present && o.exit_code > 128 && o.exit_code < 128 + 65) ? o.exit_code - 128
                                                                                               : 0;
    std::string missing_cause;
    bool rerun_missing = true;
    if (cancelled) {
      missing_cause = !interrupt_reason.empty() ? interrupt_reason : "cancelled";
      rerun_missing = false;
    } else if (o.framework_error) {
      // The framework, not the sandbox: the same command would fail anywhere.
      missing_cause = "not run: framework " + framework.plugin_name() + " " + o.message;
      rerun_missing = false;
    } else if (infra_error) {
      missing_cause = "sandbox " + s.id + " could not run the batch: " + o.message;
    } else if (o.timed_out) {
      missing_cause = "batch " + std::to_string(b.log_index) + " timed out after " +
                      std::to_string(opts.timeout_ms / 1000) + "s before this test reported";
    } else if (crash_signal) {
      missing_cause = "batch " + std::to_string(b.log_index) + " crashed (killed by signal " +
                      std::to_string(crash_signal) + ") before this test reported";
    } else if (!parse_error.empty()) {
      missing_cause = "result file of batch " + std::to_string(b.log_index) + " unusable: " + parse_error;
    } else if (!result_present && by_id.empty()) {
      missing_cause = "result file missing (batch " + std::to_string(b.log_index) + " " + describe_exec(o) + ")";
    } else if (opts.fail_fast && std::any_of(by_id.begin(), by_id.end(), [](const auto& kv) {
                 return kv.second.status == AttemptStatus::Failed || kv.second.status == AttemptStatus::Error;
               })) {
      missing_cause = "not run: batch " + std::to_string(b.log_index) + " stopped at its first failure (--fail-fast)";
      rerun_missing = false;
    } else {
      missing_cause = "no result for this test in batch " + std::to_string(b.log_index) +
                      "'s result file (the runner stopped early, or its test names differ from discovery: "
                      "check test_id_format)";
      // Some tests matched: the runner probably stopped early, so run the rest
      // again. None matched: the names differ; rerunning would not help.
      rerun_missing = !by_id.empty();
    }

    bool any_failed = false;
    std::vector<size_t> need_retry;
    std::vector<size_t> need_rerun;
    for (auto t : b.tests) {
      auto& ts = tests[t];
      Attempt a;
      a.batch = b.log_index;
      a.sandbox = s.id;
      a.start_secs = b.start_secs;
      if (auto e = earlier.find(ts.test.id); e != earlier.end()) {
        // Failed runs inside this batch's process before its last one: each
        // is an attempt, spent from retry_count.
        for (auto& r : e->second) {
          Attempt f = a;
          fill_attempt(f, r);
          if (obs.attempt_finished) obs.attempt_finished(ts.test.id, f);
          longest = std::max(longest, std::min(f.duration_secs, now() - b.start_secs));
          ts.attempts.push_back(std::move(f));
          ts.in_process_used++;
          if (!ts.decided) {
            ts.failures++;
            any_failed = true;
          }
        }
      }
      auto it = by_id.find(ts.test.id);
      if (it != by_id.end() && it->second.status == AttemptStatus::NotRun) {
        // The framework says why it did not run (collection error, bail-out, ...).
        a.status = AttemptStatus::NotRun;
        a.cause = it->second.message.empty()
                      ? "not run: framework " + framework.plugin_name() + " reported it as not run, without a reason"
                      : "not run: " + it->second.message;
        a.text = it->second.text;
      } else if (it != by_id.end()) {
        auto& r = it->second;
        fill_attempt(a, r);
        if ((o.timed_out || crash_signal) && a.duration_secs <= 0 && a.status != AttemptStatus::Passed) {
          // The test that was running when the batch was stopped: its time is
          // at least the batch's (history must not learn that a hang is fast).
          a.duration_secs = now() - b.start_secs;
        }
        if (ts.name.empty()) {
          ts.name = r.name;
          ts.classname = r.classname;
        }
      } else if (b.tests.size() == 1 && !cancelled && !infra_error && (o.timed_out || crash_signal)) {
        // The only test of the batch: we know who hung or crashed.
        a.status = AttemptStatus::Failed;
        a.type = o.timed_out ? "offload.Timeout" : "offload.Crash";
        a.message = o.timed_out ? "timed out after " + std::to_string(opts.timeout_ms / 1000) + "s"
                                : "crashed (killed by signal " + std::to_string(crash_signal) + ")";
        a.duration_secs = now() - b.start_secs;
      } else {
        a.status = AttemptStatus::NotRun;
        a.cause = missing_cause;
      }
      if (obs.attempt_finished) obs.attempt_finished(ts.test.id, a);
      longest = std::max(longest, std::min(a.duration_secs, now() - b.start_secs));
      if (ts.decided) {
        // A redundant copy: keep the attempt for the record only.
        ts.attempts.push_back(std::move(a));
        continue;
      }
      ts.attempts.push_back(a);
      switch (a.status) {
      case AttemptStatus::Passed:
        decide(t, ts.failures > 0 ? Outcome::Flaky : Outcome::Passed,
               ts.failures > 0 ? "passed on attempt " + std::to_string(ts.attempts.size()) + " after " +
                                     std::to_string(ts.failures) + " failure(s)"
                               : "passed");
        break;
      case AttemptStatus::Skipped:
        decide(t, Outcome::Skipped, a.message.empty() ? "skipped" : "skipped: " + a.message);
        break;
      case AttemptStatus::Failed:
      case AttemptStatus::Error:
        any_failed = true;
        ts.failures++;
        if (ts.failures + ts.in_flight <= ts.test.retry_count && retries_left(ts) > 0) {
          need_retry.push_back(t);
        } else if (ts.in_flight == 0 && ts.failures >= ts.test.retry_count + 1) {
          // Name what offload itself saw (a timeout, a crash) in the cause.
          std::string detail = a.type.rfind("offload.", 0) == 0 && !a.message.empty() ? ": " + a.message : "";
          decide(t, Outcome::Failed,
                 (ts.failures == 1 ? "failed" : "failed on all " + std::to_string(ts.failures) + " attempts") + detail);
        } else if (ts.in_flight == 0) {
          decide(t, Outcome::Failed, "failed (" + std::to_string(ts.failures) + " attempts)");
        }
        break;
      case AttemptStatus::NotRun:
        ts.not_run++;
        if (rerun_missing && !stopping && ts.not_run <= opts.max_not_run_reruns) {
          need_rerun.push_back(t);
        } else if (ts.in_flight == 0) {
          if (ts.failures > 0) {
            decide(t, Outcome::Failed, "failed; a later attempt did not run: " + a.cause);
          } else {
            decide(t, Outcome::NotRun, a.cause);
          }
        }
        break;
      }
    }

    // Parallel retries: all of a test's remaining attempts at once, each in
    // its own batch so they land on different sandboxes. Front of the queue.
    if (!need_retry.empty() && !stopping) {
      int copies = 0;
      for (auto t : need_retry) copies = std::max(copies, retries_left(tests[t]));
      for (int k = 0; k < copies; ++k) {
        std::vector<size_t> ids;
        for (auto t : need_retry) {
          if (retries_left(tests[t]) > 0) {
            ids.push_back(t);
            tests[t].retries_scheduled++;
          }
        }
        if (!ids.empty()) batches[add_batch(std::move(ids), true, true)].mergeable = true;
      }
    } else if (!need_retry.empty()) {
      for (auto t : need_retry) decide(t, Outcome::Failed, "failed (run stopped before its retries)");
    }
    // Tests a crashed/timed-out batch never reached: run again, split so a
    // hanging test ends up alone (and is then identified).
    if (!need_rerun.empty()) {
      size_t parts = need_rerun.size() <= static_cast<size_t>(std::max(1, opts.max_parallel)) * 2 ? need_rerun.size() : 2;
      size_t per = (need_rerun.size() + parts - 1) / parts;
      for (size_t i = 0; i < need_rerun.size(); i += per) {
        std::vector<size_t> ids(need_rerun.begin() + static_cast<long>(i),
                                need_rerun.begin() + static_cast<long>(std::min(need_rerun.size(), i + per)));
        add_batch(std::move(ids), true, true);
      }
    }

    outcome = cancelled ? "cancelled" : infra_error ? "error" : any_failed || o.exit_code != 0 || o.term_signal || o.timed_out ? "failure" : "success";
    if (!any_failed && !cancelled && !infra_error && by_id.empty() && !b.tests.empty()) outcome = "error";
    for (const char* stream : {"stdout", "stderr"}) {
      std::error_code ec;
      auto from = log_path(b, stream, "running");
      if (fs::exists(from, ec)) {
        fs::rename(from, log_path(b, stream, outcome), ec);
      } else {
        // Always leave a log file per stream, even if the provider wrote none.
        write_file_atomic(log_path(b, stream, outcome), "");
      }
    }
    if (obs.batch_finished) obs.batch_finished(static_cast<size_t>(b.log_index), outcome);

    if (infra_error && !s.dead && o.status != OFFLOAD_E_TRANSIENT && !o.framework_error) {
      // A sandbox that cannot run a command is not trusted with more work.
      s.dead = true;
      warn("sandbox " + s.id + " removed from the pool after an error: " + o.message);
      destroy_sandbox(b.sandbox);
    }
    if (opts.fail_fast && any_failed) {
      bool real_failure = false;
      for (auto t : b.tests) real_failure = real_failure || (tests[t].decided && tests[t].outcome == Outcome::Failed);
      if (real_failure) stop_all("not run: --fail-fast stopped the run after a failure");
    }
    bool want_artifacts = !opts.download_globs.empty() && !s.dead && !cancelled && !infra_error &&
                          (!opts.download_globs_failure_only || outcome != "success");
    if (want_artifacts) {
      collect_artifacts(bid);
    } else {
      release(b.sandbox);
    }
    // Other idle sandboxes may now have work (retries).
    for (size_t i = 0; i < sandboxes.size(); ++i) {
      if (!sandboxes[i].busy && sandboxes[i].ready && !sandboxes[i].dead && !queue.empty()) pull(i);
    }
    grow_pool();
    maybe_finish();
  }

  /// The sandbox is free again: give it the next batch.
  void release(size_t si) {
    auto& s = sandboxes[si];
    s.busy = false;
    if (!s.dead) pull(si);
    if (!s.busy && !s.dead && s.ready && queue.empty() && !stopping && !finishing && anything_running()) {
      // Nothing left to hand out: destroy it now, overlapping teardown with
      // the batches still running (a retry that shows up later gets a fresh
      // sandbox from grow_pool).
      s.retired = true;
      destroy_sandbox(si);
    }
    maybe_finish();
  }

  /// download_globs: archive the files this batch wrote that match, fetch the
  /// archive, unpack it into {output_dir}/artifacts/batch-N/, then release the
  /// sandbox. Problems are warnings; they never change test outcomes.
  void collect_artifacts(size_t bid) {
    auto& b = batches[bid];
    auto& s = sandboxes[b.sandbox];
    std::string n = std::to_string(b.log_index);
    std::string remote = "/tmp/offload-" + opts.run_id + "-batch-" + n + "-artifacts.tar.gz";
    std::string local_dir = opts.output_dir + "/artifacts/batch-" + n;
    std::string local_tar = opts.output_dir + "/artifacts/batch-" + n + ".tar.gz";
    std::string expr;
    for (auto& g : opts.download_globs) {
      std::string pat = g.rfind("./", 0) == 0 || g.rfind("/", 0) == 0 ? g : "./" + g;
      expr += (expr.empty() ? "" : " -o ") + std::string("-path ") + shell_quote(pat);
    }
    std::string script = "find . -type f -newer " + shell_quote(artifact_marker(b)) + " \\( " + expr +
                         " \\) -print0 | tar czf " + shell_quote(remote) + " --null -T -; rm -f " +
                         shell_quote(artifact_marker(b));
    CommandSpec cmd;
    cmd.argv = {"sh", "-c", script};
    make_dirs(opts.output_dir + "/artifacts");
    std::string log = opts.output_dir + "/logs/batch-" + n + ".artifacts.log";
    b.op = provider.exec(s.handle, cmd, log, log, 120000, [this, bid, remote, local_dir, local_tar](ExecOutcome o) {
      auto& bb = batches[bid];
      auto& sb = sandboxes[bb.sandbox];
      if (o.status != OFFLOAD_OK || o.exit_code != 0) {
        warn("batch " + std::to_string(bb.log_index) + ": collecting artifacts failed (" +
             (o.message.empty() ? describe_exec(o) : o.message) + ")");
        release(bb.sandbox);
        return;
      }
      provider.download(sb.handle, {{remote, local_tar}}, [this, bid, local_dir, local_tar](offload_status st, std::string msg) {
        auto& b2 = batches[bid];
        std::error_code ec;
        if (st != OFFLOAD_OK || !fs::exists(local_tar, ec) || !opts.local_runner) {
          if (st != OFFLOAD_OK) warn("batch " + std::to_string(b2.log_index) + ": downloading artifacts failed: " + msg);
          release(b2.sandbox);
          return;
        }
        make_dirs(local_dir);
        ProcessSpec ps;
        ps.argv = {"tar", "xzf", local_tar, "-C", local_dir};
        opts.local_runner->spawn(std::move(ps), [this, bid, local_tar](ProcessResult r) {
          auto& b3 = batches[bid];
          if (!r.ok()) warn("batch " + std::to_string(b3.log_index) + ": unpacking artifacts failed: " + r.describe());
          std::error_code ec2;
          fs::remove(local_tar, ec2);
          release(b3.sandbox);
        });
      });
    });
  }

  void decide(size_t t, Outcome outcome, std::string cause) {
    auto& ts = tests[t];
    if (ts.decided) return;
    ts.decided = true;
    ts.outcome = outcome;
    ts.cause = std::move(cause);
    --undecided;
    if (obs.test_finished) obs.test_finished(result_of(t));
    // Copies of this test still running are now redundant: cancel batches
    // in which nothing is left to decide.
    for (auto& b : batches) {
      if (!b.running || b.cancel_requested) continue;
      bool all_decided = std::all_of(b.tests.begin(), b.tests.end(), [&](size_t x) { return tests[x].decided; });
      if (all_decided) {
        b.cancel_requested = true;
        provider.cancel(b.op);
      }
    }
  }

  /// A test's result: copied while the run goes on (observers), moved out at
  /// the end (at 100k tests a copy of every attempt is tens of megabytes).
  template <class TS>
  static TestResult make_result(TS&& ts) {
    TestResult r;
    r.id = std::forward<TS>(ts).test.id;
    r.group = std::forward<TS>(ts).test.group;
    r.file = std::forward<TS>(ts).test.file;
    r.name = std::forward<TS>(ts).name;
    r.classname = std::forward<TS>(ts).classname;
    r.outcome = ts.outcome;
    r.cause = std::forward<TS>(ts).cause;
    r.attempts = std::forward<TS>(ts).attempts;
    return r;
  }
  TestResult result_of(size_t t) const { return make_result(tests[t]); }
  TestResult take_result(size_t t) { return make_result(std::move(tests[t])); }

  /// Stop starting batches; cancel the running ones; undecided tests become not run.
  void stop_all(const std::string& reason) {
    if (stopping) return;
    stopping = true;
    interrupt_reason = reason;
    for (auto bid : queue) {
      for (auto t : batches[bid].tests) tests[t].in_flight--;
      batches[bid].finished = true;
    }
    queue.clear();
    double grace = plugin_grace_secs();
    for (auto& b : batches) {
      if (b.running && !b.cancel_requested) {
        b.cancel_requested = true;
        provider.cancel(b.op);
      }
      if (b.running) {
        // A cancellation always completes (contract); if it does not within
        // the grace, the batch is abandoned so the run can end.
        if (b.watchdog) loop.cancel_timer(b.watchdog);
        size_t bid = b.id;
        b.watchdog = loop.add_timer(ms(grace), [this, bid, grace] {
          abandon_exec(bid, "was cancelled but did not complete within " + secs_text(grace));
        });
      }
    }
    if (creating > 0 && !create_timer) {
      create_timer = loop.add_timer(ms(grace), [this, grace] {
        create_timer = 0;
        for (auto& sb : sandboxes) {
          if (sb.ready || sb.dead || sb.abandoned) continue;
          sb.abandoned = sb.dead = sb.destroyed = true;
          --creating;
          warn("plugin " + provider.plugin_name() + " misbehaved: creating sandbox " + std::to_string(sb.index) +
               " did not complete within " + secs_text(grace) + " of the stop; abandoned");
        }
        maybe_finish();
      });
    }
    maybe_finish();
  }

  void destroy_sandbox(size_t i) {
    auto& s = sandboxes[i];
    if (s.destroying || s.destroyed || !s.handle) return;
    s.destroying = true;
    int64_t start_us = trace ? trace->now_us() : 0;
    s.destroy_op = provider.destroy(s.handle, [this, i, start_us](offload_status st, std::string msg) {
      auto& sb = sandboxes[i];
      if (sb.destroyed) return; // abandoned by the teardown limit meanwhile
      sb.destroyed = true;
      sb.ended = Clock::now();
      if (trace && trace->enabled()) {
        trace->span("destroy_sandbox", "sandbox", static_cast<int>(i) + 1, 0, start_us, trace->now_us() - start_us);
      }
      if (st != OFFLOAD_OK) warn("destroying sandbox " + sb.id + " failed: " + msg);
      maybe_finish();
    });
  }

  bool anything_running() const {
    return std::any_of(batches.begin(), batches.end(), [](const BatchState& b) { return b.running; }) ||
           std::any_of(sandboxes.begin(), sandboxes.end(), [](const SandboxState& s) { return s.busy; });
  }

  void maybe_finish() {
    if (done_called || creating > 0) return;
    if (anything_running()) return;
    bool work_left = !queue.empty() && !stopping;
    bool usable = std::any_of(sandboxes.begin(), sandboxes.end(),
                              [](const SandboxState& s) { return !s.dead && !s.retired; });
    if (work_left && !usable) {
      grow_pool(); // replace sandboxes that were retired early
      if (creating > 0) return;
    }
    if (work_left && usable) return;
    if (work_left && !usable) {
      stop_all("not run: no sandbox could be created or all sandboxes failed");
      if (anything_running()) return;
    }
    // Everything has run: tear down, within an overall limit.
    if (!finishing) {
      double limit = teardown_limit_secs();
      teardown_timer = loop.add_timer(ms(limit), [this, limit] {
        teardown_timer = 0;
        for (auto& sb : sandboxes) {
          if (sb.destroyed) continue;
          warn("destroying sandbox " + sb.id + " did not finish within the " + secs_text(limit) +
               " teardown limit; abandoned (it may still exist)");
          if (sb.destroy_op) provider.cancel(sb.destroy_op);
          sb.destroyed = true;
        }
        maybe_finish();
      });
    }
    finishing = true;
    bool pending_destroy = false;
    for (size_t i = 0; i < sandboxes.size(); ++i) {
      if (!sandboxes[i].destroyed) {
        pending_destroy = true;
        destroy_sandbox(i);
      }
    }
    if (pending_destroy) return;
    if (!std::all_of(sandboxes.begin(), sandboxes.end(), [](const SandboxState& s) { return s.destroyed; })) return;
    done_called = true;
    if (teardown_timer) loop.cancel_timer(teardown_timer);
    if (create_timer) loop.cancel_timer(create_timer);
    teardown_timer = create_timer = 0;
    ExecSummary sum;
    for (size_t t = 0; t < tests.size(); ++t) {
      if (!tests[t].decided) {
        auto& ts = tests[t];
        if (ts.failures > 0) {
          decide(t, Outcome::Failed, "failed (" + std::to_string(ts.failures) + " attempt(s)); " +
                                         (interrupt_reason.empty() ? "no further attempt ran" : interrupt_reason));
        } else {
          std::string cause = interrupt_reason.empty() ? "not run: no batch reported it" : interrupt_reason;
          if (!ts.attempts.empty() && !ts.attempts.back().cause.empty() && interrupt_reason.empty()) {
            cause = ts.attempts.back().cause;
          }
          decide(t, Outcome::NotRun, cause);
        }
      }
      sum.results.push_back(take_result(t));
    }
    sum.wall_secs = now();
    for (auto& s : sandboxes) {
      if (s.ready) sum.sandbox_secs += std::chrono::duration<double>(s.ended.value_or(Clock::now()) - s.created).count();
    }
    sum.batches_run = static_cast<size_t>(next_log_index);
    sum.busy_secs = busy;
    sum.longest_test_secs = longest;
    sum.parallelism = static_cast<int>(std::count_if(sandboxes.begin(), sandboxes.end(), [](const SandboxState& s) { return s.ready; }));
    sum.interrupted = interrupted;
    sum.signal = signal;
    sum.warnings = warnings;
    auto cb = std::move(done);
    loop.post([cb, sum = std::move(sum)]() mutable { cb(std::move(sum)); });
  }
};

Executor::Executor(EventLoop& loop, ProviderInstance& provider, FrameworkInstance& framework, ExecOptions opts,
                   ExecObserver observer, Trace* trace)
    : m_state(std::make_unique<State>(loop, provider, framework, std::move(opts), std::move(observer), trace)) {}

Executor::~Executor() = default;

void Executor::start(std::vector<ExecTest> tests, std::function<void(ExecSummary)> done) {
  auto& s = *m_state;
  s.done = std::move(done);
  s.t0 = Clock::now();
  make_dirs(s.opts.output_dir + "/logs");
  make_dirs(s.opts.output_dir + "/results");
  {
    TraceScope scope(s.trace, "scheduling");
    s.plan(std::move(tests));
  }
  if (s.queue.empty()) {
    s.maybe_finish();
    return;
  }
  s.create_sandboxes();
}

void Executor::interrupt(int signo, const std::string& reason) {
  auto& s = *m_state;
  s.interrupted = true;
  s.signal = signo;
  s.stop_all(reason);
}

} // namespace offload
