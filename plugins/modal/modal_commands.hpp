#pragma once
/// Pure translation for the modal provider: offload's requests -> the argv of
/// a modal_sandbox.py subcommand, and the script's output -> results. No
/// processes, no files: everything here is a function of its arguments.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace offload::modal {

using Env = std::vector<std::pair<std::string, std::string>>;

/// The [provider] table (type = "modal") and the [offload] roots, resolved.
struct Settings {
  std::string dockerfile; ///< absolute local path, or empty: Debian slim
  bool include_cwd = false;
  double cpu_cores = 0.125;
  std::optional<double> memory_gb;
  std::string experimental_json;     ///< "{}"-style JSON object text; empty or "{}": none
  Env env;                           ///< [provider.env]
  std::string repo_root = "/app";    ///< where include_cwd puts the project (sandbox path)
  std::string project_root = "/app"; ///< where commands run (OFFLOAD_ROOT)
  std::string context_dir;           ///< local working tree copied by include_cwd
  std::vector<std::string> ignore;   ///< extra patterns not to copy (e.g. the report dir)
  int sandbox_timeout_secs = 7200;   ///< lifetime of one sandbox
};

/// A prepare request, as the plugin received it.
struct PrepareArgs {
  bool no_cache = false;
  std::vector<std::string> copy_dirs; ///< "local:remote", local already absolute
  std::string base_image_id, patch_file, context_dir, sandbox_init_cmd, post_patch_cmd;
};

/// `prepare ...` (full image or thin derived image), after the launcher and script.
std::vector<std::string> prepare_args(const Settings& s, const PrepareArgs& p);

/// `create IMAGE ...`; the environment goes on stdin as JSON (see create_stdin),
/// so secret values never show in a process listing.
std::vector<std::string> create_args(const Settings& s, const std::string& image_id);
std::string create_stdin(const Env& env);

/// The shell command a sandbox runs for offload's {argv, env, cwd}:
/// `cd '<dir>' && K='v' ... 'arg0' 'arg1' ...`. A relative cwd is taken from
/// the project root. Environment names that are not shell identifiers are
/// dropped (they could not be set by `sh` anyway) and listed in *dropped.
std::string remote_command(const std::string& project_root, const std::vector<std::string>& argv, const Env& env,
                           const std::optional<std::string>& cwd, std::vector<std::string>* dropped = nullptr);

/// `exec ID [--timeout S] --status-file F -- CMD`.
std::vector<std::string> exec_args(const std::string& sandbox_id, const std::string& command, uint64_t timeout_ms,
                                   const std::string& status_file);

/// `download ID remote:local...`.
std::vector<std::string> download_args(const std::string& sandbox_id,
                                       const std::vector<std::pair<std::string, std::string>>& remote_local);

/// The last non-empty line of a script's stdout (its id), trimmed.
std::string last_line(const std::string& out);

/// The tail of a process's stderr, for error messages (at most max bytes, on a line start).
std::string tail(const std::string& text, size_t max = 2000);

/// What exec's --status-file said.
struct ExecStatus {
  bool present = false;          ///< the file existed and parsed
  std::optional<int> returncode; ///< the command's; negative: killed by that signal
  bool timed_out = false;
  std::string error; ///< the script could not run or follow the command
};
ExecStatus parse_exec_status(const std::optional<std::string>& file_text);

/// Launcher words: OFFLOAD_MODAL_LAUNCHER if set (whitespace-separated), else
/// `uv run --quiet --script` when uv_found, else `python3`.
std::vector<std::string> launcher(const char* env_value, bool uv_found);

} // namespace offload::modal
