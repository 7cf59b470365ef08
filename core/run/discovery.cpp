#include "run/discovery.hpp"

#include <chrono>
#include <memory>
#include <set>

#include "process/runner.hpp"
#include "util/strings.hpp"

namespace offload {

namespace {

struct DiscoveryState {
  ProcessRunner* runner;
  FrameworkInstance* framework;
  const Config* config;
  std::string project_dir;
  std::vector<GroupDiscovery> results;
  size_t next = 0;
  size_t finished = 0;
  std::function<void(std::vector<GroupDiscovery>)> done;
};

void start_next(const std::shared_ptr<DiscoveryState>& st);

void finish_group(const std::shared_ptr<DiscoveryState>& st, size_t i, const CommandSpec& cmd, ProcessResult r) {
  auto& g = st->results[i];
  const auto& group = st->config->groups[i];
  g.duration_secs = std::chrono::duration<double>(r.duration).count();
  if (!r.spawn_error.empty()) {
    g.error = "discovery command for group '" + group.name + "' could not start: " + r.spawn_error + " (command: " +
              join(cmd.argv, " ") + ")";
  } else if (r.timed_out) {
    g.error = "discovery for group '" + group.name + "' timed out: " + r.describe();
  } else {
    DiscoverOutputView view{r.exit_code, r.signal, std::move(r.out), std::move(r.err)};
    if (r.out_truncated) {
      g.error = "discovery output of group '" + group.name + "' exceeded the capture limit";
    } else {
      std::vector<DiscoveredTest> tests;
      auto e = st->framework->parse_discovery(group.name, group.filters, st->project_dir, view, &tests);
      if (!e.empty()) {
        g.error = "discovery for group '" + group.name + "' failed: " + e;
      } else {
        std::set<std::string> seen;
        for (auto& t : tests) {
          if (!seen.insert(t.id).second) {
            g.warnings.push_back("group '" + group.name + "': test ID discovered twice, kept once: " + t.id);
            continue;
          }
          g.tests.push_back(std::move(t));
        }
      }
    }
  }
  ++st->finished;
  if (st->finished == st->results.size()) {
    st->done(std::move(st->results));
    return;
  }
  start_next(st);
}

void start_next(const std::shared_ptr<DiscoveryState>& st) {
  if (st->next >= st->results.size()) {
    return;
  }
  size_t i = st->next++;
  const auto& group = st->config->groups[i];
  st->results[i].group = group.name;
  CommandSpec cmd;
  auto e = st->framework->discover_command(group.name, group.filters, st->project_dir, &cmd);
  if (!e.empty()) {
    ProcessResult r;
    r.spawn_error = e;
    st->results[i].error = "discovery for group '" + group.name + "': " + e;
    // Count it as finished without running anything.
    ++st->finished;
    if (st->finished == st->results.size()) {
      st->done(std::move(st->results));
    } else {
      start_next(st);
    }
    return;
  }
  ProcessSpec spec;
  spec.argv = cmd.argv;
  spec.env = cmd.env;
  spec.cwd = cmd.cwd.empty() ? st->project_dir : (cmd.cwd[0] == '/' ? cmd.cwd : st->project_dir + "/" + cmd.cwd);
  spec.capture_limit = size_t(1) << 30;
  spec.timeout = std::chrono::seconds(st->config->offload.test_timeout_secs);
  st->runner->spawn(std::move(spec), [st, i, cmd](ProcessResult r) { finish_group(st, i, cmd, std::move(r)); });
}

} // namespace

void discover_groups(ProcessRunner& runner, FrameworkInstance& framework, const Config& config,
                     const std::string& project_dir, int max_concurrent,
                     std::function<void(std::vector<GroupDiscovery>)> done) {
  auto st = std::make_shared<DiscoveryState>();
  st->runner = &runner;
  st->framework = &framework;
  st->config = &config;
  st->project_dir = project_dir;
  st->results.resize(config.groups.size());
  st->done = std::move(done);
  for (size_t i = 0; i < config.groups.size(); ++i) {
    st->results[i].group = config.groups[i].name;
  }
  if (config.groups.empty()) {
    st->done({});
    return;
  }
  size_t n = static_cast<size_t>(std::max(1, max_concurrent));
  for (size_t i = 0; i < n && i < config.groups.size(); ++i) {
    start_next(st);
  }
}

} // namespace offload
