#pragma once
/// ProcessRunner: asynchronous child processes on the EventLoop.
/// Every child runs in its own process group (setpgid in the child), so a
/// timeout or a cancellation kills the whole tree (kill(-pgid, SIGKILL)) and no
/// grandchild keeps a pipe open. Output goes to files and/or to an on_output
/// callback, never buffered without bound (capture has a cap).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <memory>
#include <vector>

namespace offload {

class EventLoop;

struct ProcessSpec {
  std::vector<std::string> argv;                          ///< argv[0] is looked up in PATH if it has no '/'
  std::vector<std::pair<std::string, std::string>> env;   ///< set (override) on top of the base environment
  bool inherit_env = true;                                ///< base = this process's environment; else empty
  std::string cwd;                                        ///< empty: inherit
  std::string stdout_path;                                ///< empty: not written to a file
  std::string stderr_path;                                ///< empty: not written to a file
  bool append = false;                                    ///< append to the files instead of truncating
  std::chrono::milliseconds timeout{0};                   ///< 0: none. On expiry the group gets SIGTERM, then SIGKILL after kill_grace
  std::chrono::milliseconds kill_grace{2000};
  size_t capture_limit = 0;                               ///< >0: keep the first this many bytes of stdout/stderr in Result::out/err (out_truncated/err_truncated note truncation)
  std::string stdin_data;                                 ///< written to the child's stdin, then closed (empty: stdin is /dev/null)
  bool kill_leftovers = true;                             ///< when the child has finished, SIGKILL what is left of its process group (background jobs it left behind)
};

struct ProcessResult {
  int exit_code = -1;        ///< valid when signal == 0 and spawn_error is empty
  int signal = 0;            ///< terminating signal, 0 if it exited normally
  bool timed_out = false;
  bool cancelled = false;
  std::string spawn_error;   ///< non-empty when the child could not be started (e.g. "No such file or directory: foo")
  std::chrono::milliseconds duration{0};
  std::string out;           ///< captured stdout (capture_limit > 0)
  std::string err;           ///< captured stderr
  bool out_truncated = false;
  bool err_truncated = false;
  std::chrono::milliseconds timeout{0}; ///< the spec's timeout (for describe())

  bool ok() const { return spawn_error.empty() && signal == 0 && !timed_out && !cancelled && exit_code == 0; }
  /// Human readable: "exit code 3", "killed by signal 9 (SIGKILL)", "timed out after 5s", "cancelled", "failed to start: ...".
  std::string describe() const;
};

class ProcessRunner {
public:
  using Id = uint64_t;
  using Done = std::function<void(ProcessResult)>;
  using Output = std::function<void(int stream /*1 stdout, 2 stderr*/, std::string_view data)>;

  /// loop must outlive the runner. The first runner ignores SIGPIPE for the
  /// whole process (children get the default back) and raises the soft
  /// RLIMIT_NOFILE (up to 65536) so that many children fit.
  explicit ProcessRunner(EventLoop& loop);
  /// SIGKILLs every running group and reaps the children, synchronously;
  /// their done callbacks are not called. [loop thread, or loop not running]
  ~ProcessRunner();
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  /// Start a child. done is called exactly once on the loop thread, after the
  /// child exited AND its output pipes reached EOF (or the group was killed).
  /// Descendants that keep the pipes open after the child exited get 200ms,
  /// then the group is killed and done is called. on_output is called on the
  /// loop thread as data arrives (after it was written to the files).
  /// Even a spawn failure is reported through done (asynchronously), never thrown.
  /// Safe from any thread.
  Id spawn(ProcessSpec spec, Done done, Output on_output = {});
  /// Kill the process group (SIGTERM, then SIGKILL after kill_grace); done is
  /// then called with cancelled = true. Unknown or finished ids are ignored.
  /// Safe from any thread.
  void cancel(Id id);
  /// cancel() every running child; with hard = true send SIGKILL at once.
  /// Safe from any thread (queued like cancel()).
  void cancel_all(bool hard = false);
  /// Number of children whose done has not been called yet. [loop thread]
  size_t running() const;
  /// Process group ids of running children (for tests and diagnostics). [loop thread]
  std::vector<int> process_groups() const;

  struct Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

/// Run a child synchronously on a private loop (for CLI commands outside a run).
ProcessResult run_process_sync(ProcessSpec spec);

} // namespace offload
