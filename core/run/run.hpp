#pragma once
/// `offload run` and `offload collect`: the whole flow from a loaded Config
/// to an exit code. See docs/architecture.md for the data flow.
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace offload {

struct RunOptions {
  std::vector<std::string> plugin_dirs;
  std::optional<int> parallel;
  bool collect_only = false;
  std::vector<std::string> copy_dirs; ///< "LOCAL:REMOTE"
  std::vector<std::pair<std::string, std::string>> env;
  bool no_cache = false;
  bool trace = false;
  bool fail_fast = false;
  bool show_estimated_cost = false;
  bool record_history = false;
  bool ci = false;
  bool verbose = false;
  std::string events_path;             ///< --events FILE|- (NDJSON event stream)
  std::string collect_format = "text"; ///< for `offload collect`: text | json
};

/// Exit codes of the spec, plus the conventional ones for signals.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitFlaky = 2,
  kExitSigint = 130,
  kExitSigterm = 143,
};

/// Run the tests. Prints progress and the summary to `out`, problems to `err`.
int run_tests(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err);

/// Discover and print tests (`offload collect`, `offload run --collect-only`).
int collect_tests(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err);

/// `offload build`: prepare the provider's image and print its ID.
int build_image(const Config& config, const RunOptions& opts, std::ostream& out, std::ostream& err);

/// `offload plugins`: what was found where, and what was refused.
int list_plugins(const std::vector<std::string>& plugin_dirs, std::ostream& out);

} // namespace offload
