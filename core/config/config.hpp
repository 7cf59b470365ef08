#pragma once
/// offload.toml as typed structs. load_config() parses with toml++, applies the
/// spec's defaults, expands ${VAR} / ${VAR:-default} / $$ in string values,
/// validates, and reports every problem with file, line and the dotted field
/// name ("offload.toml:12: groups.unit.retry_count: expected an integer >= 0").
/// Unknown keys are warnings (kept in Config::warnings), not errors.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace offload {

struct OffloadSection {
  int max_parallel = 10;
  int test_timeout_secs = 900;
  std::string working_dir;                       ///< empty: cwd
  std::optional<std::string> sandbox_repo_root;
  std::optional<std::string> sandbox_project_root;
  std::optional<std::string> sandbox_init_cmd;
  std::optional<std::string> post_patch_cmd;
  int max_parallel_collection = 0;              ///< 0: number of CPUs
  bool impatiently_requeue_batches = true;      ///< the original's hedging switch; accepted for compatibility
};

struct CopyDir {
  std::string local;
  std::string remote;
};

/// [provider]. `type` selects the plugin; fields of the built-in types are
/// typed below, and `raw` holds the whole table (after env expansion) as JSON
/// so any provider plugin, built-in or third-party, receives its own settings.
struct ProviderSection {
  std::string type = "local";
  // local
  std::string working_dir;
  std::map<std::string, std::string> env;
  std::string shell = "/bin/sh";
  // default
  std::optional<std::string> prepare_command;
  std::string create_command, exec_command, destroy_command;
  std::optional<std::string> download_command;
  int timeout_secs = 3600;
  std::vector<CopyDir> copy_dirs;
  double cpu_cores = 1.0;                       ///< modal default is 0.125
  // modal
  std::optional<std::string> dockerfile;
  bool include_cwd = false;
  std::optional<double> memory_gb;
  std::string experimental_options_json = "{}"; ///< [provider.experimental_options] as JSON text
  std::string raw_json = "{}";                  ///< the whole [provider] table as JSON text, with the
                                                ///< spec defaults filled in for built-in types
};

struct FrameworkSection {
  std::string type = "pytest";
  // pytest
  std::vector<std::string> paths;
  std::string command;                          ///< pytest: "python -m pytest"; vitest: "npx vitest"
  std::optional<std::string> run_args;
  std::string test_id_format;                   ///< pytest "{name}", nextest "{classname} {name}", vitest "{classname} > {name}", default: required
  // nextest
  std::optional<std::string> package;
  std::vector<std::string> features;
  std::optional<std::string> bin;
  bool include_ignored = false;
  // default
  std::string discover_command;
  std::string run_command;
  std::optional<std::string> result_file;
  std::string working_dir;
  std::string raw_json = "{}";                  ///< the whole [framework] table as JSON text, with the
                                                ///< spec defaults filled in for built-in types (command, test_id_format, ...)
};

struct GroupSection {
  std::string name;
  int retry_count = 0;
  /// How many of retry_count's attempts the framework may make at once, in
  /// the failing batch's own process (pytest); the rest run on other sandboxes.
  int in_process_retries = 1;
  std::string filters;
  bool schedule_individual = false;
};

struct ReportSection {
  std::string output_dir = "test-results";
  bool junit = true;
  std::string junit_file = "junit.xml";
  std::vector<std::string> download_globs;
  bool download_globs_failure_only = false;
};

struct HistorySection {
  std::string record_history = "flag";          ///< "always" | "flag"
  std::string path = "offload-history.jsonl";
  int reservoir_size = 20;
  double default_duration_secs = 1.0;
};

struct Config {
  std::string path;                             ///< the file it was loaded from, as given
  std::string dir;                              ///< absolute directory of that file
  OffloadSection offload;
  ProviderSection provider;
  FrameworkSection framework;
  std::vector<GroupSection> groups;             ///< in file order
  ReportSection report;
  std::optional<HistorySection> history;
  std::vector<std::string> checkpoint_build_inputs; ///< [checkpoint] build_inputs (the original's; accepted, unused)
  std::vector<std::string> warnings;            ///< "offload.toml:3: unknown key 'foo.bar' (ignored)"
};

/// An error with where it happened. `line` is 0 when not known.
struct ConfigError {
  std::string file;
  int line = 0;
  std::string field;
  std::string message;
  int column = 0;                               ///< set for TOML syntax errors only
  std::string str() const; ///< "file:line: field: message" ("file:line:col: message" for syntax errors)
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;              ///< all problems found, not just the first
  bool ok() const { return config.has_value() && errors.empty(); }
};

/// Load and validate a config file. Never throws.
ConfigResult load_config(const std::string& path);
/// Same from text (path is used in messages only).
ConfigResult parse_config(const std::string& text, const std::string& path);

/// Expand ${VAR}, ${VAR:-default} and $$ using getenv. On failure returns
/// nullopt and sets *error ("required variable FOO is not set", "unclosed ${").
std::optional<std::string> expand_env(const std::string& value, std::string* error);

/// Summary text for `offload validate` (settings, groups, warnings).
std::string describe_config(const Config& config);

/// The text `offload init -p PROVIDER -f FRAMEWORK` writes. Returns nullopt
/// for an unknown provider or framework.
std::optional<std::string> init_config_text(const std::string& provider, const std::string& framework);

} // namespace offload
