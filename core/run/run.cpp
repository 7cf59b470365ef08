#include "run/run.hpp"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <map>
#include <ostream>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "history/history.hpp"
#include "image/image.hpp"
#include "plugin/host.hpp"
#include "plugin/provider.hpp"
#include "process/event_loop.hpp"
#include "process/runner.hpp"
#include "report/junit.hpp"
#include "run/bundled.hpp"
#include "run/discovery.hpp"
#include "run/events.hpp"
#include "run/executor.hpp"
#include "run/summary.hpp"
#include "run/trace.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace offload {

namespace fs = std::filesystem;

namespace {

std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty()) return fs::current_path().string();
  fs::path path(p);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (fs::path(base) / path).lexically_normal().string();
}

/// The local directory discovery runs in (and the local provider's root).
std::string local_project_dir(const Config& c) {
  std::string wd = c.offload.working_dir;
  if (wd.empty() && c.provider.type == "local") wd = c.provider.working_dir;
  if (wd.empty()) return fs::current_path().string();
  return resolve(c.dir, wd);
}

std::string output_dir_of(const Config& c) {
  fs::path p(c.report.output_dir);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::current_path() / p).lexically_normal().string();
}

std::string offload_json(const Config& c) {
  nlohmann::json j;
  j["max_parallel"] = c.offload.max_parallel;
  j["test_timeout_secs"] = c.offload.test_timeout_secs;
  j["working_dir"] = c.offload.working_dir;
  if (c.offload.sandbox_repo_root) j["sandbox_repo_root"] = *c.offload.sandbox_repo_root;
  if (c.offload.sandbox_project_root) j["sandbox_project_root"] = *c.offload.sandbox_project_root;
  if (c.offload.sandbox_init_cmd) j["sandbox_init_cmd"] = *c.offload.sandbox_init_cmd;
  if (c.offload.post_patch_cmd) j["post_patch_cmd"] = *c.offload.post_patch_cmd;
  return j.dump();
}

std::string config_key(const Config& c) { return fs::path(c.path).filename().string(); }

/// Everything one run needs, in destruction-safe order.
struct Session {
  EventLoop loop;
  ProcessRunner runner{loop};
  HostServices host{loop, runner};
  PluginManager plugins{host};
  std::unique_ptr<FrameworkInstance> framework;
  std::unique_ptr<ProviderInstance> provider;
  int signal = 0;          ///< first SIGINT/SIGTERM received before execution started
  std::function<void(int)> on_interrupt; ///< set while tests execute

  /// Ctrl-C at any phase: before execution, kill every child (discovery,
  /// image preparation) and remember the signal; during execution, let the
  /// executor stop batches and destroy sandboxes. A second signal forces exit.
  void install_signal_handler(std::ostream& err) {
    loop.on_signal([this, &err](int signo) {
      if (signal != 0) {
        // Kill every child's process group now (this runs on the loop
        // thread; cancel_all would only queue the kill behind _Exit).
        for (int pg : runner.process_groups()) ::kill(-pg, SIGKILL);
        err << "Forced exit: sandboxes still being destroyed may be left behind.\n" << std::flush;
        std::_Exit(signo == SIGINT ? 130 : 143);
      }
      signal = signo;
      err << "\n" << (signo == SIGINT ? "Interrupted" : "Terminated")
          << ": stopping (press Ctrl-C again to force)\n";
      if (on_interrupt) {
        on_interrupt(signo);
      } else {
        runner.cancel_all();
      }
    });
  }

  ~Session() {
    provider.reset();
    framework.reset();
  }
};

/// Expand @name.ext bundled-script references in every command field
/// ("command" and "*_command") of a plugin's JSON config.
std::optional<std::string> expand_commands(const std::string& json, const std::string& section, std::string* error) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return json;
  for (auto& [key, value] : j.items()) {
    bool is_command = key == "command" || (key.size() > 8 && key.compare(key.size() - 8, 8, "_command") == 0);
    if (!is_command || !value.is_string()) continue;
    std::string e;
    auto expanded = expand_bundled(value.get<std::string>(), &e);
    if (!expanded) {
      *error = section + "." + key + ": " + e;
      return std::nullopt;
    }
    value = *expanded;
  }
  return j.dump();
}

bool load_plugins(Session& s, const Config& config, const RunOptions& opts, bool need_provider, std::ostream& err) {
  s.plugins.scan(plugin_search_dirs(opts.plugin_dirs));
  for (auto& e : s.plugins.errors()) {
    spdlog::warn("refused plugin {}", e.str());
  }
  std::string error;
  auto fw_json = expand_commands(config.framework.raw_json, "framework", &error);
  auto prov_json = expand_commands(config.provider.raw_json, "provider", &error);
  if (!fw_json || !prov_json) {
    err << "error: " << config.path << ": " << error << "\n";
    return false;
  }
  s.framework = s.plugins.create_framework(config.framework.type, *fw_json, &error);
  if (!s.framework) {
    err << "error: " << error << "\n";
    return false;
  }
  if (need_provider) {
    std::string cfg_dir = config.dir.empty() ? fs::current_path().string() : config.dir;
    if (config.provider.type == "local") {
      if (!opts.copy_dirs.empty()) err << "warning: --copy-dir has no effect with the local provider (tests run in place)\n";
      if (opts.no_cache) err << "warning: --no-cache has no effect with the local provider (it builds no image)\n";
    }
    s.provider = s.plugins.create_provider(config.provider.type, *prov_json, offload_json(config), cfg_dir,
                                           output_dir_of(config), &error);
    if (!s.provider) {
      err << "error: " << error << "\n";
      return false;
    }
  }
  return true;
}

/// A full-image prepare request from the config (the image cache, when it
/// lands, turns hits into thin derived images).
ProviderInstance::PrepareSpec prepare_spec(const Config& config, const RunOptions& opts) {
  ProviderInstance::PrepareSpec p;
  p.no_cache = opts.no_cache;
  p.copy_dirs = opts.copy_dirs;
  for (auto& cd : config.provider.copy_dirs) p.copy_dirs.push_back(cd.local + ":" + cd.remote);
  p.sandbox_init_cmd = config.offload.sandbox_init_cmd.value_or("");
  p.post_patch_cmd = config.offload.post_patch_cmd.value_or("");
  return p;
}

/// The image request: the git-notes cache keyed by the config's path in the
/// repository, thin diffs on top of cached base images (core/image).
ImageRequest image_request(const Config& config, const RunOptions& opts) {
  ImageRequest r;
  r.repo_dir = local_project_dir(config);
  r.config_path = config.path;
  r.no_cache = opts.no_cache;
  r.base = prepare_spec(config, opts);
  return r;
}

/// Report what prepare_image did: warnings always, the steps with -v.
void report_image(const ImageResult& r, const RunOptions& opts, std::ostream& err) {
  for (auto& w : r.warnings) err << "warning: image cache: " << w << "\n";
  if (opts.verbose)
    for (auto& l : r.log) err << "image: " << l << "\n";
}

struct Discovered {
  std::vector<GroupDiscovery> groups;
  std::vector<std::string> errors;
};

Discovered discover(Session& s, const Config& config, Trace* trace) {
  Discovered d;
  int conc = config.offload.max_parallel_collection > 0 ? config.offload.max_parallel_collection
                                                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t t0 = trace ? trace->now_us() : 0;
  bool done = false;
  discover_groups(s.runner, *s.framework, config, local_project_dir(config), conc, [&](std::vector<GroupDiscovery> g) {
    d.groups = std::move(g);
    done = true;
    s.loop.stop();
  });
  while (!done) s.loop.run();
  for (auto& g : d.groups) {
    if (trace) trace->span("discovery:" + g.group, "local", 0, 0, t0, static_cast<int64_t>(g.duration_secs * 1e6));
    for (auto& w : g.warnings) spdlog::warn("{}", w);
    if (!g.error.empty()) d.errors.push_back(g.error);
  }
  return d;
}

/// Durations from the previous report, for when there is no history.
std::map<std::string, double> previous_durations(const std::string& junit_path) {
  std::map<std::string, double> out;
  for (auto& [name, time] : scan_junit_times(junit_path)) {
    auto& v = out[name];
    v = std::max(v, time);
  }
  return out;
}

/// One run per output directory at a time: an exclusive flock on
/// {output_dir}/.offload.lock, held (fd open, close-on-exec so no child
/// inherits it) until the process exits. The holder's PID is written into the
/// file so a second run can name it. Returns "" or the error to show.
std::string lock_output_dir(const std::string& dir, int* fd_out) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string path = dir + "/.offload.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    std::string holder;
    char buf[64] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) holder = std::string(trim(std::string(buf, static_cast<size_t>(n))));
    ::close(fd);
    if (e != EWOULDBLOCK) return "cannot lock " + path + ": " + std::strerror(e);
    return "another offload run" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
           " is using the output directory " + dir + "; wait for it to finish, or give this run another [report] output_dir";
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::debug("{}: could not record the pid: {}", path, std::strerror(errno));
  }
  *fd_out = fd;
  return {};
}

void clear_previous_outputs(const std::string& dir, const std::string& junit_file) {
  std::error_code ec;
  fs::remove_all(fs::path(dir) / "logs", ec);
  fs::remove_all(fs::path(dir) / "results", ec);
  fs::remove_all(fs::path(dir) / "artifacts", ec);
  fs::remove(fs::path(dir) / "trace.json", ec);
  (void)junit_file; // kept until the new one replaces it (its durations seed scheduling)
}

} // namespace

int list_plugins(const std::vector<std::string>& plugin_dirs, std::ostream& out) {
  EventLoop loop;
  ProcessRunner runner(loop);
  HostServices host(loop, runner);
  PluginManager pm(host);
  auto dirs = plugin_search_dirs(plugin_dirs);
  pm.scan(dirs);
  out << "Search path:\n";
  for (auto& d : dirs) out << "  " << d << (fs::is_directory(d) ? "" : " (missing)") << "\n";
  out << "Plugins:\n";
  for (auto& p : pm.plugins()) {
    out << "  " << p.id << " " << p.version << "  " << p.path << "\n";
    if (!p.frameworks.empty()) out << "    frameworks: " << join(p.frameworks, ", ") << "\n";
    if (!p.providers.empty()) out << "    providers:  " << join(p.providers, ", ") << "\n";
  }
  if (!pm.errors().empty()) {
    out << "Refused:\n";
    for (auto& e : pm.errors()) out << "  " << e.str() << "\n";
  }
  return 0;
}

int build_image(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err) {
  Session s;
  s.install_signal_handler(err);
  if (!load_plugins(s, config, opts, true, err)) return kExitFailed;
  std::optional<ImageResult> result;
  prepare_image(s.runner, *s.provider, image_request(config, opts), [&](ImageResult r) {
    result = std::move(r);
    s.loop.stop();
  });
  while (!result) s.loop.run();
  report_image(*result, opts, err);
  offload_status status = result->status;
  std::string image = result->image_id, msg = result->message;
  if (status != OFFLOAD_OK) {
    err << "error: preparing the sandbox image failed: " << msg << "\n";
    return kExitFailed;
  }
  if (image.empty()) {
    err << "provider '" << config.provider.type << "' needs no image\n";
  } else {
    out << image << "\n";
  }
  return kExitOk;
}

int collect_tests(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err) {
  Session s;
  s.install_signal_handler(err);
  if (!load_plugins(s, config, opts, false, err)) return kExitFailed;
  auto d = discover(s, config, nullptr);
  if (s.signal) return s.signal == SIGTERM ? kExitSigterm : kExitSigint;
  for (auto& e : d.errors) err << "error: " << e << "\n";
  if (!d.errors.empty()) return kExitFailed;
  if (opts.collect_format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (size_t gi = 0; gi < d.groups.size(); ++gi) {
      auto& g = d.groups[gi];
      for (auto& t : g.tests) {
        nlohmann::json j{{"id", t.id},
                         {"name", t.name.empty() ? t.id : t.name},
                         {"file", t.file.empty() ? nlohmann::json() : nlohmann::json(t.file)},
                         {"group", g.group},
                         {"retry_count", config.groups[gi].retry_count},
                         {"schedule_individual", config.groups[gi].schedule_individual}};
        if (t.line > 0) j["line"] = t.line;
        arr.push_back(std::move(j));
      }
    }
    out << arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    size_t total = 0;
    for (auto& g : d.groups) {
      for (auto& t : g.tests) out << t.id << "\n";
      total += g.tests.size();
    }
    err << total << " tests in " << d.groups.size() << " group(s)\n";
  }
  return kExitOk;
}

int run_tests(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err) {
  if (opts.collect_only) return collect_tests(config, opts, out, err);
  if (opts.record_history && !config.history) {
    err << "error: --record-history needs a [history] section in " << config.path << "\n";
    return kExitFailed;
  }
  Trace trace(opts.trace);
  trace.name_process(0, "Offload (Local)");
  trace.name_thread(0, 0, "Main");
  auto run_start = std::chrono::steady_clock::now();

  const std::string output_dir = output_dir_of(config);
  int lock_fd = -1;
  if (auto e = lock_output_dir(output_dir, &lock_fd); !e.empty()) {
    err << "error: " << e << "\n";
    return kExitFailed;
  }
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); } // releases the flock; the file stays (removing it would race)
  } lock_guard{lock_fd};

  Session s;
  s.install_signal_handler(err);
  {
    TraceScope scope(&trace, "plugin_loading");
    if (!load_plugins(s, config, opts, true, err)) return kExitFailed;
  }
  const std::string junit_path = output_dir + "/" + config.report.junit_file;
  Reporter reporter(out, opts.ci);
  EventStream events(opts.events_path);
  if (!events.error().empty()) {
    err << "error: --events: " << events.error() << "\n";
    return kExitFailed;
  }
  events.emit("run_started", {{"config", config.path},
                              {"parallel", opts.parallel.value_or(config.offload.max_parallel)}});

  // Prepare the image while discovery runs (both are slow for remote providers).
  bool prepared = false;
  offload_status prepare_status = OFFLOAD_OK;
  std::string image_id, prepare_msg;
  prepare_image(s.runner, *s.provider, image_request(config, opts), [&](ImageResult r) {
    prepared = true;
    s.loop.stop();
    report_image(r, opts, err);
    const auto now = std::chrono::steady_clock::now();
    for (auto& sp : r.spans) {
      using us = std::chrono::microseconds;
      const int64_t ago = std::chrono::duration_cast<us>(now - sp.start).count();
      trace.span(sp.name, "local", 0, 0, trace.now_us() - ago, std::chrono::duration_cast<us>(sp.end - sp.start).count());
    }
    prepare_status = r.status;
    image_id = std::move(r.image_id);
    prepare_msg = std::move(r.message);
  });
  auto d = discover(s, config, &trace);
  while (!prepared) s.loop.run();
  if (s.signal) {
    err << "Interrupted before any test ran; nothing was left running.\n";
    return s.signal == SIGTERM ? kExitSigterm : kExitSigint;
  }
  if (prepare_status != OFFLOAD_OK) {
    err << "error: preparing the sandbox image failed: " << prepare_msg << "\n";
    return kExitFailed;
  }
  for (auto& e : d.errors) err << "error: " << e << "\n";
  if (!d.errors.empty()) return kExitFailed;

  // Tests, with expected durations.
  std::optional<History> history;
  if (config.history) {
    HistoryOptions ho;
    ho.path = resolve(config.dir, config.history->path);
    ho.config_key = config_key(config);
    ho.reservoir_size = config.history->reservoir_size;
    ho.default_duration_secs = config.history->default_duration_secs;
    history = History::load(ho);
    for (auto& w : history->warnings()) spdlog::warn("{}", w);
  }
  auto previous = previous_durations(junit_path);
  std::vector<ExecTest> tests;
  std::map<std::string, std::string> first_group;
  double overhead = 5.0;
  for (size_t gi = 0; gi < d.groups.size(); ++gi) {
    auto& g = d.groups[gi];
    overhead = std::min(overhead, g.duration_secs);
    std::vector<size_t> unknown;
    double known_sum = 0;
    size_t known_n = 0;
    for (auto& t : g.tests) {
      auto [it, fresh] = first_group.emplace(t.id, g.group);
      if (!fresh) {
        reporter.warning("test " + t.id + " is in groups '" + it->second + "' and '" + g.group + "'; it runs in '" +
                         it->second + "' only");
        continue;
      }
      ExecTest et;
      et.id = t.id;
      et.group = g.group;
      et.file = t.file;
      et.retry_count = config.groups[gi].retry_count;
      // Only for a framework that declared it can (ABI 1.1); others retry elsewhere.
      et.in_process_retries =
          s.framework->in_process_retries() ? std::min(config.groups[gi].in_process_retries, et.retry_count) : 0;
      et.individual = config.groups[gi].schedule_individual;
      bool known = false;
      if (history) {
        auto e = history->estimate(t.id);
        if (e.known) {
          et.expected_secs = e.secs;
          known = true;
        }
        // Pretries: a test that failed often enough lately starts one extra
        // attempt up front (bounded by retry_count and by a run-wide cap).
        auto rate = history->failure_rate(t.id);
        // Not when its retry runs in-process anyway: that costs the test's
        // own time, a pretry a start-up and a sandbox.
        if (rate && *rate >= 0.1 && *rate < 1.0 && et.retry_count > 0 && et.in_process_retries == 0) et.pretries = 1;
      }
      if (!known) {
        auto p = previous.find(t.id);
        if (p != previous.end()) {
          et.expected_secs = p->second;
          known = true;
        }
      }
      et.known = known;
      if (known) {
        known_sum += et.expected_secs;
        known_n++;
      } else {
        unknown.push_back(tests.size());
      }
      tests.push_back(std::move(et));
    }
    double fallback = known_n ? known_sum / static_cast<double>(known_n)
                              : (config.history ? config.history->default_duration_secs : 1.0);
    for (auto i : unknown) tests[i].expected_secs = fallback;
  }
  size_t total_tests = tests.size();
  {
    // Never multiply the run's work: pretries for at most 10% of the tests.
    size_t budget = std::max<size_t>(1, total_tests / 10);
    for (auto& t : tests) {
      if (t.pretries > 0) {
        if (budget == 0) {
          t.pretries = 0;
        } else {
          --budget;
        }
      }
    }
  }
  reporter.discovered(total_tests, d.groups.size());
  for (auto& t : tests) {
    nlohmann::json f{{"id", t.id}, {"group", t.group}};
    if (!t.file.empty()) f["file"] = t.file;
    events.emit("test_discovered", f);
  }
  if (tests.empty()) {
    out << "No tests discovered.\n";
    return kExitOk;
  }

  clear_previous_outputs(output_dir, config.report.junit_file);
  ExecOptions eo;
  eo.max_parallel = opts.parallel.value_or(config.offload.max_parallel);
  eo.timeout_ms = static_cast<uint64_t>(config.offload.test_timeout_secs) * 1000;
  eo.fail_fast = opts.fail_fast;
  eo.output_dir = output_dir;
  eo.run_id = std::to_string(::getpid()) + "-" + new_run_id();
  eo.image_id = image_id;
  eo.sandbox_env = opts.env;
  // Discovery ran alone; batches of local sandboxes start together and share
  // this machine's cores, so each start-up effectively costs more.
  double contention = 1.0;
  if (config.provider.type == "local") {
    double cores = std::max(1u, std::thread::hardware_concurrency());
    contention = std::max(1.0, eo.max_parallel / cores);
  }
  eo.batch_overhead_secs = std::clamp(overhead * contention, 0.05, 30.0);
  eo.download_globs = config.report.download_globs;
  eo.download_globs_failure_only = config.report.download_globs_failure_only;
  eo.local_runner = &s.runner;

  ExecObserver obs;
  obs.batch_started = [&](size_t b, const std::string& sb, size_t n) {
    reporter.batch_started(b, sb, n);
    events.emit("batch_started", {{"batch", b}, {"sandbox", sb}, {"tests", n}});
  };
  obs.batch_finished = [&](size_t b, const std::string& outcome) {
    reporter.batch_finished(b, outcome);
    events.emit("batch_finished", {{"batch", b}, {"outcome", outcome}});
  };
  obs.attempt_finished = [&](const std::string& id, const Attempt& a) {
    nlohmann::json f{{"id", id}, {"status", to_string(a.status)}, {"duration", a.duration_secs},
                     {"batch", a.batch}, {"sandbox", a.sandbox}};
    if (!a.message.empty()) f["message"] = a.message;
    if (!a.cause.empty()) f["cause"] = a.cause;
    if (a.rerun > 0) f["in_process_run"] = a.rerun;
    events.emit("attempt_finished", f);
  };
  obs.test_finished = [&](const TestResult& r) {
    reporter.test_finished(r);
    events.emit("test_finished", {{"id", r.id}, {"group", r.group}, {"outcome", to_string(r.outcome)},
                                  {"cause", r.cause}, {"attempts", r.attempts.size()}});
  };
  obs.warning = [&](const std::string& w) { reporter.warning(w); };

  Executor exec(s.loop, *s.provider, *s.framework, eo, obs, &trace);
  ExecSummary summary;
  bool finished = false;
  s.on_interrupt = [&](int signo) {
    exec.interrupt(signo, std::string("not run: run interrupted by ") + (signo == SIGINT ? "SIGINT" : "SIGTERM"));
  };
  if (s.signal) return s.signal == SIGTERM ? kExitSigterm : kExitSigint;
  exec.start(std::move(tests), [&](ExecSummary sum) {
    summary = std::move(sum);
    finished = true;
    s.loop.stop();
  });
  while (!finished) s.loop.run();

  // Reports.
  std::vector<TestResult> results = std::move(summary.results);
  std::stable_sort(results.begin(), results.end(), [&](const TestResult& a, const TestResult& b) {
    // Group order of the config, then ID: deterministic whatever the timing.
    if (a.group != b.group) {
      auto ga = std::find_if(config.groups.begin(), config.groups.end(), [&](auto& g) { return g.name == a.group; });
      auto gb = std::find_if(config.groups.begin(), config.groups.end(), [&](auto& g) { return g.name == b.group; });
      return ga < gb;
    }
    return a.id < b.id;
  });
  {
    TraceScope scope(&trace, "result_aggregation");
    if (config.report.junit) {
      JunitWriteOptions wo;
      wo.total_secs = summary.wall_secs;
      auto e = write_junit(junit_path, results, wo);
      if (!e.empty()) err << "error: writing " << junit_path << ": " << e << "\n";
    }
  }
  bool record = history && (opts.record_history || config.history->record_history == "always");
  if (record) {
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    history->record(results, now_ms, eo.run_id.substr(eo.run_id.find('-') + 1));
    auto e = history->save();
    if (!e.empty()) err << "error: saving history: " << e << "\n";
  }
  RunTotals totals = tally(results);
  totals.wall_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  totals.sandbox_secs = summary.sandbox_secs;
  totals.exec_secs = summary.wall_secs;
  totals.busy_secs = summary.busy_secs;
  totals.longest_secs = summary.longest_test_secs;
  totals.parallelism = summary.parallelism;
  double cpu = config.provider.cpu_cores > 0 ? config.provider.cpu_cores : 1.0;
  reporter.summary(totals, results, opts.show_estimated_cost ? std::optional<double>(cpu) : std::nullopt);
  if (opts.trace) {
    auto e = trace.write(output_dir + "/trace.json");
    if (!e.empty()) err << "error: writing trace: " << e << "\n";
  }
  {
    // Name misbehaving plugins once more at the end (the warnings scrolled by).
    auto misbehaved = s.provider->misbehaviour();
    for (auto& m : s.framework->misbehaviour()) misbehaved.push_back(m);
    for (auto& w : summary.warnings)
      if (w.find(" misbehaved: ") != std::string::npos) misbehaved.push_back(w); // the executor's watchdogs
    if (!misbehaved.empty()) {
      std::map<std::string, int> counts;
      for (auto& m : misbehaved) counts[m]++;
      err << "warning: plugin contract violations during this run (handled; see docs/reliability.md):\n";
      for (auto& [m, n] : counts) err << "  " << m << (n > 1 ? " (" + std::to_string(n) + " times)" : "") << "\n";
    }
  }
  int code = summary.interrupted ? (summary.signal == SIGTERM ? kExitSigterm : kExitSigint) : exit_code_for(totals);
  events.emit("run_finished", {{"total", totals.total}, {"passed", totals.passed}, {"failed", totals.failed},
                               {"flaky", totals.flaky}, {"skipped", totals.skipped}, {"not_run", totals.not_run},
                               {"exit_code", code}, {"duration", totals.wall_secs}});
  return code;
}

} // namespace offload
