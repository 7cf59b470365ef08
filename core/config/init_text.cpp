/// init_config_text(): the offload.toml that `offload init` writes. Every
/// combination is a complete, valid file (the unit tests load each one and
/// expect no errors and no warnings); settings a user is likely to change are
/// written out, the rest are shown commented with their defaults.
#include <string>

#include "config/config.hpp"

namespace offload {
namespace {

std::string header(const std::string& provider, const std::string& framework) {
  return "# offload.toml: settings for offload, a parallel test runner.\n"
         "# Written by `offload init --provider " +
         provider + " --framework " + framework +
         "`. Check it with `offload validate`.\n"
         "# String values may use ${VAR} (required), ${VAR:-default} and $$ (a literal $).\n\n";
}

std::string offload_section(bool remote) {
  std::string s =
      "[offload]\n"
      "# How many sandboxes run test batches at once.\n"
      "max_parallel = 4\n"
      "# Timeout for one batch of tests, in seconds.\n"
      "test_timeout_secs = 900\n";
  if (remote) {
    s += "# Where the repository lives inside each sandbox; tests run there (OFFLOAD_ROOT).\n"
         "# \".\" suits the placeholder commands below; a container usually wants \"/app\".\n"
         "sandbox_repo_root = \".\"\n"
         "# In a monorepo, the subdirectory tests run from (default: sandbox_repo_root).\n"
         "# sandbox_project_root = \"./mypackage\"\n";
  }
  return s + "\n";
}

std::string provider_local() {
  return "[provider]\n"
         "# Run each batch as a child process on this machine.\n"
         "type = \"local\"\n"
         "# Directory the test processes start in (default: the current directory).\n"
         "# working_dir = \".\"\n"
         "# Shell used to run commands.\n"
         "shell = \"/bin/sh\"\n"
         "\n"
         "# Environment variables for the test processes.\n"
         "# [provider.env]\n"
         "# PYTHONHASHSEED = \"0\"\n\n";
}

std::string provider_default() {
  return "[provider]\n"
         "# Your own shell commands create, use and destroy sandboxes. Placeholders:\n"
         "#   {image_id}   the last line prepare_command printed\n"
         "#   {sandbox_id} what create_command printed\n"
         "#   {command}    the whole test command, as one shell-quoted argument\n"
         "#   {paths}      download_command's 'remote':'local' pairs\n"
         "# EDIT THESE: the commands below are placeholders that \"sandbox\" on this\n"
         "# machine so the file works as written. With Docker, for example:\n"
         "#   prepare_command = \"docker build -q .\"\n"
         "#   create_command  = \"docker run -d --rm -w /app {image_id} sleep infinity\"\n"
         "#   exec_command    = \"docker exec {sandbox_id} sh -c {command}\"\n"
         "#   destroy_command = \"docker rm -f {sandbox_id}\"\n"
         "type = \"default\"\n"
         "# Runs once before sandboxes are created; must print an image ID as its last line.\n"
         "# prepare_command = \"docker build -q .\"\n"
         "# Creates a sandbox and prints its ID.\n"
         "create_command = \"echo local-sandbox\"\n"
         "# Runs one command inside a sandbox.\n"
         "exec_command = \"sh -c {command}\"\n"
         "# Destroys a sandbox.\n"
         "destroy_command = \"true\"\n"
         "# Copies files out of a sandbox (used by [report] download_globs).\n"
         "# download_command = \"./scripts/download.sh {sandbox_id} {paths}\"\n"
         "# Timeout for each of the commands above, in seconds.\n"
         "timeout_secs = 3600\n"
         "# Directories to copy into the image, as \"local:remote\".\n"
         "# copy_dirs = [\"./fixtures:/app/fixtures\"]\n"
         "# CPU cores per sandbox (used for cost estimates and as {cpu_cores}).\n"
         "# cpu_cores = 1.0\n"
         "\n"
         "# Environment variables for the test processes.\n"
         "# [provider.env]\n"
         "# PYTHONHASHSEED = \"0\"\n\n";
}

std::string framework_pytest() {
  return "[framework]\n"
         "type = \"pytest\"\n"
         "# Command prefix for discovery (--collect-only) and for running batches,\n"
         "# e.g. \"uv run pytest\".\n"
         "command = \"python3 -m pytest\"\n"
         "# Directories to search for tests (default: pytest's own discovery).\n"
         "# paths = [\"tests\"]\n"
         "# Extra arguments for test runs only, not discovery.\n"
         "# run_args = \"-p no:cacheprovider\"\n\n";
}

std::string framework_nextest() {
  return "[framework]\n"
         "# Needs cargo-nextest (cargo install cargo-nextest).\n"
         "type = \"nextest\"\n"
         "# package = \"my-crate\"\n"
         "# features = [\"some-feature\"]\n"
         "# bin = \"my-binary\"\n"
         "# include_ignored = false\n\n";
}

std::string framework_vitest() {
  return "[framework]\n"
         "type = \"vitest\"\n"
         "# Command prefix for discovery and for running batches.\n"
         "command = \"npx vitest\"\n"
         "# Extra arguments for test runs only, not discovery.\n"
         "# run_args = \"--pool=threads\"\n\n";
}

std::string framework_default() {
  return "[framework]\n"
         "# Your own commands discover and run tests. EDIT THESE placeholders.\n"
         "type = \"default\"\n"
         "# Prints one test ID per line (lines starting with # are skipped).\n"
         "# {filters} is replaced with the group's filters.\n"
         "discover_command = \"./scripts/list-tests.sh {filters}\"\n"
         "# Runs one batch: {tests} becomes the shell-quoted test IDs and\n"
         "# {result_file} the path where the runner must write JUnit XML.\n"
         "run_command = \"./scripts/run-tests.sh --junit-xml {result_file} {tests}\"\n"
         "result_file = \"results.xml\"\n"
         "# How a JUnit <testcase> maps back to a discovered ID ({name}, {classname}).\n"
         "test_id_format = \"{name}\"\n"
         "# Directory the commands run in (default: the current directory).\n"
         "# working_dir = \".\"\n\n";
}

std::string groups_section(const std::string& framework) {
  std::string example_filters = "-m slow";
  if (framework == "nextest") {
    example_filters = "-E 'test(slow_)'";
  } else if (framework == "vitest") {
    example_filters = "--project slow";
  } else if (framework == "default") {
    example_filters = "slow";
  }
  return "# Each group discovers its own tests (with its filters) and has its own\n"
         "# retry policy. At least one group is required.\n"
         "[groups.all]\n"
         "# Times a failing test is retried; a pass after a failure is \"flaky\" (exit 2).\n"
         "retry_count = 1\n"
         "# How many of those retries may run at once inside the failing test's own\n"
         "# process (pytest; default 1, 0 = every retry on another sandbox).\n"
         "# in_process_retries = 1\n"
         "# Extra arguments for discovery (default: none).\n"
         "filters = \"\"\n"
         "\n"
         "# [groups.slow]\n"
         "# retry_count = 2\n"
         "# filters = \"" +
         example_filters +
         "\"\n"
         "# schedule_individual = true   # one batch per test, for heavyweight tests\n\n";
}

std::string report_and_history() {
  return "[report]\n"
         "# Where junit.xml, logs/ and trace.json go.\n"
         "output_dir = \"test-results\"\n"
         "junit = true\n"
         "junit_file = \"junit.xml\"\n"
         "# Files to copy back from sandboxes after each batch.\n"
         "# download_globs = [\"**/*.log\"]\n"
         "# download_globs_failure_only = false\n"
         "\n"
         "# Uncomment to schedule by past test durations (longest first).\n"
         "# [history]\n"
         "# record_history = \"flag\"   # \"always\", or \"flag\": only with --record-history\n"
         "# path = \"offload-history.jsonl\"\n"
         "# reservoir_size = 20\n"
         "# default_duration_secs = 1.0\n";
}

} // namespace

std::optional<std::string> init_config_text(const std::string& provider, const std::string& framework) {
  std::string provider_text;
  if (provider == "local") {
    provider_text = provider_local();
  } else if (provider == "default") {
    provider_text = provider_default();
  } else {
    return std::nullopt;
  }
  std::string framework_text;
  if (framework == "pytest") {
    framework_text = framework_pytest();
  } else if (framework == "nextest") {
    framework_text = framework_nextest();
  } else if (framework == "vitest") {
    framework_text = framework_vitest();
  } else if (framework == "default") {
    framework_text = framework_default();
  } else {
    return std::nullopt;
  }
  return header(provider, framework) + offload_section(provider == "default") + provider_text + framework_text +
         groups_section(framework) + report_and_history();
}

} // namespace offload
