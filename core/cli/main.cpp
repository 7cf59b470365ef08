/// offload's command line: CLI11 parsing only; every command's work lives in
/// the modules (run/, config/, report/, history/).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "history/history.hpp"
#include "report/logs.hpp"
#include "run/run.hpp"

namespace {

using namespace offload;

/// Load the config or print every problem; nullopt means exit 1.
std::optional<Config> load_or_report(const std::string& path) {
  auto r = load_config(path);
  if (!r.ok()) {
    std::cerr << "Configuration error:\n";
    for (auto& e : r.errors) std::cerr << "  " << e.str() << "\n";
    return std::nullopt;
  }
  for (auto& w : r.config->warnings) std::cerr << "warning: " << w << "\n";
  return r.config;
}

bool env_truthy(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  std::string s(v);
  return s == "1" || s == "true" || s == "TRUE" || s == "True" || s == "yes";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"offload: run a test suite in parallel across local processes or remote sandboxes"};
  app.set_version_flag("-V,--version", std::string("offload ") + OFFLOAD_VERSION);
  app.require_subcommand(1);
  app.fallthrough(); // global options (-c, -v, --plugin-dir) also after the subcommand

  std::string config_path = "offload.toml";
  bool verbose = false;
  std::vector<std::string> plugin_dirs;
  app.add_option("-c,--config", config_path, "Configuration file path")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "Enable verbose output");
  app.add_option("--plugin-dir", plugin_dirs, "Extra directory to load plugins from (repeatable)");

  // run
  RunOptions ro;
  int parallel = 0;
  std::vector<std::string> env_pairs;
  auto* run = app.add_subcommand("run", "Run tests in parallel");
  run->add_option("-p,--parallel", parallel, "Override maximum parallel sandboxes")->check(CLI::PositiveNumber);
  run->add_flag("--collect-only", ro.collect_only, "Discover tests without running them");
  run->add_option("--copy-dir", ro.copy_dirs, "Copy a directory into each sandbox, LOCAL:REMOTE (repeatable)");
  run->add_option("--env", env_pairs, "Set an environment variable in sandboxes, KEY=VALUE (repeatable)");
  run->add_flag("--no-cache", ro.no_cache, "Skip cached image lookup during prepare (forces fresh build)");
  run->add_flag("--trace", ro.trace, "Write a Perfetto trace to {output_dir}/trace.json");
  run->add_flag("--fail-fast", ro.fail_fast, "Stop on the first test failure that retries cannot save");
  run->add_flag("--show-estimated-cost", ro.show_estimated_cost, "Show estimated sandbox cost after the run");
  run->add_flag("--record-history", ro.record_history, "Record results to the history file (needs [history])");
  run->add_flag("--ci", ro.ci, "Plain progress lines for CI logs (also when CI=true)");
  run->add_option("--events", ro.events_path, "Write a newline-delimited JSON event stream to FILE (- for stdout)");

  // collect
  auto* collect = app.add_subcommand("collect", "Discover tests without running them");
  collect->add_option("-f,--format", ro.collect_format, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  // validate, plugins
  auto* validate = app.add_subcommand("validate", "Validate the configuration file and print a summary");
  auto* plugins = app.add_subcommand("plugins", "List plugins found, with their types, and refused libraries");

  // init
  std::string init_provider = "local", init_framework = "pytest";
  auto* init = app.add_subcommand("init", "Generate a new offload.toml");
  init->add_option("-p,--provider", init_provider, "Provider type: local, default")
      ->check(CLI::IsMember({"local", "default"}))
      ->capture_default_str();
  init->add_option("-f,--framework", init_framework, "Framework type: pytest, nextest, vitest, default")
      ->check(CLI::IsMember({"pytest", "nextest", "vitest", "default"}))
      ->capture_default_str();

  // build / prepare
  bool build_no_cache = false;
  auto* build = app.add_subcommand("build", "Build the sandbox image without running tests; prints the image ID");
  build->alias("prepare");
  build->add_flag("--no-cache", build_no_cache, "Skip cached image lookup (forces fresh build)");

  // logs
  LogsFilter lf;
  auto* logs = app.add_subcommand("logs", "View per-test results from the most recent run");
  logs->add_flag("--failures", lf.failures, "Show only failed tests");
  logs->add_flag("--errors", lf.errors, "Show only errored tests");
  logs->add_option("--test", lf.tests, "Show only the test with this exact ID (repeatable)");
  logs->add_option("--test-regex", lf.regex, "Show only tests whose ID matches this regex (substring match)");

  // history
  auto* history = app.add_subcommand("history", "History file tools");
  history->require_subcommand(1);
  std::string h_base, h_ours, h_theirs;
  int h_reservoir = 20;
  auto* hmerge = history->add_subcommand("merge", "Git merge driver for history files: merge <base> <ours> <theirs>");
  hmerge->add_option("base", h_base)->required();
  hmerge->add_option("ours", h_ours)->required();
  hmerge->add_option("theirs", h_theirs)->required();
  hmerge->add_option("--reservoir-size", h_reservoir, "Samples kept per outcome")->capture_default_str();
  auto* hsetup = history->add_subcommand("setup-merge-driver", "Configure git to merge the history file automatically");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1; // usage errors exit 1 (2 means "flaky" in offload)
  }

  auto logger = spdlog::stderr_color_mt("offload");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  if (*init) {
    if (std::filesystem::exists(config_path)) {
      std::cerr << "error: " << config_path << " already exists; not overwriting it\n";
      return 1;
    }
    auto text = init_config_text(init_provider, init_framework);
    std::ofstream f(config_path);
    f << *text;
    if (!f) {
      std::cerr << "error: cannot write " << config_path << "\n";
      return 1;
    }
    std::cout << "Wrote " << config_path << " (provider " << init_provider << ", framework " << init_framework
              << "). Check it with: offload validate\n";
    return 0;
  }
  if (*plugins) return list_plugins(plugin_dirs, std::cout);
  if (*hmerge) {
    std::string error;
    int rc = history_merge_files(h_base, h_ours, h_theirs, h_reservoir, &error);
    if (!error.empty()) std::cerr << (rc == 0 ? "warning: " : "error: ") << error << "\n";
    return rc;
  }
  if (*logs) {
    // Reads the report of the configured output dir; defaults when there is no config.
    std::string junit = "test-results/junit.xml";
    if (std::filesystem::exists(config_path)) {
      auto r = load_config(config_path);
      if (r.config) junit = r.config->report.output_dir + "/" + r.config->report.junit_file;
    }
    std::string out;
    int rc = show_logs(junit, lf, out);
    (rc == 0 ? std::cout : std::cerr) << out;
    return rc;
  }

  auto config = load_or_report(config_path);
  if (!config) return 1;

  if (*validate) {
    std::cout << describe_config(*config) << "\nConfiguration is valid!\n";
    return 0;
  }
  if (*hsetup) {
    std::string path = config->history ? config->history->path : "offload-history.jsonl";
    std::filesystem::path p(path);
    if (p.is_relative() && !config->dir.empty()) p = std::filesystem::path(config->dir) / p;
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::string self = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "offload";
    auto e = setup_merge_driver(p.string(), self);
    if (!e.empty()) {
      std::cerr << "error: " << e << "\n";
      return 1;
    }
    std::cout << "Configured the offload-history merge driver for " << path << "\n";
    return 0;
  }

  ro.plugin_dirs = plugin_dirs;
  ro.verbose = verbose;
  ro.ci = ro.ci || env_truthy("CI") || !::isatty(STDOUT_FILENO);
  if (parallel > 0) ro.parallel = parallel;
  for (auto& kv : env_pairs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "error: --env expects KEY=VALUE, got '" << kv << "'\n";
      return 1;
    }
    ro.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (auto& cd : ro.copy_dirs) {
    if (cd.find(':') == std::string::npos) {
      std::cerr << "error: --copy-dir expects LOCAL:REMOTE, got '" << cd << "'\n";
      return 1;
    }
  }
  if (*collect) return collect_tests(*config, ro, std::cout, std::cerr);
  if (*build) {
    ro.no_cache = build_no_cache;
    return build_image(*config, ro, std::cout, std::cerr);
  }
  if (*run) return run_tests(*config, ro, std::cout, std::cerr);
  return 1;
}
