#include "process/runner.hpp"

#include "process/asio_loop.hpp"
#include "util/strings.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <system_error>
#include <unordered_map>

extern "C" {
extern char** environ;
}

namespace offload {

namespace asio = boost::asio;

namespace {

/// One read() into the shared buffer; the pipe buffer is 64 KiB too.
constexpr size_t kReadBufferSize = 64 * 1024;
/// Reads per wake-up before yielding to other children (fairness).
constexpr int kReadsPerWakeup = 16;
/// Once the direct child exited, how long its descendants may keep the
/// output pipes open before the group is killed and the child is finished.
constexpr std::chrono::milliseconds kEofGrace{200};

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

/// Owns one file descriptor.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return m_fd; }
  int release() { return std::exchange(m_fd, -1); }
  void reset() {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }
  explicit operator bool() const { return m_fd >= 0; }

private:
  int m_fd = -1;
};

/// Process-wide settings a runner needs, applied once: SIGPIPE is ignored (a
/// child that closes its stdin early must not kill us; write() returns EPIPE
/// instead), and the soft fd limit is raised so that 1,000 concurrent
/// children (several descriptors each) fit.
void process_wide_setup() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::signal(SIGPIPE, SIG_IGN);
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      const rlim_t want = std::min<rlim_t>(rl.rlim_max, 65536);
      if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        ::setrlimit(RLIMIT_NOFILE, &rl);
      }
    }
  });
}

/// Both ends close-on-exec, so no child inherits another child's pipes.
bool make_pipe(Fd& read_end, Fd& write_end, std::string& error) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    error = "pipe: " + errno_text(errno);
    return false;
  }
  read_end = Fd(p[0]);
  write_end = Fd(p[1]);
  return true;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) {
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
}

/// Write all of data to a blocking fd (an output file). False on error.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// base environment (ours or empty) with spec.env set on top; last one wins.
std::vector<std::string> build_env(const ProcessSpec& spec) {
  std::vector<std::string> env;
  if (spec.inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      env.emplace_back(*e);
    }
  }
  for (const auto& [key, value] : spec.env) {
    std::string entry = key + "=" + value;
    auto it = std::find_if(env.begin(), env.end(), [&key = key](const std::string& s) {
      return s.size() > key.size() && s.compare(0, key.size(), key) == 0 && s[key.size()] == '=';
    });
    if (it != env.end()) {
      *it = std::move(entry);
    } else {
      env.push_back(std::move(entry));
    }
  }
  return env;
}

/// PATH the child will see, else ours, else the usual default.
std::string search_path(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) {
      return e.substr(5);
    }
  }
  const char* ours = ::getenv("PATH");
  return ours != nullptr ? ours : "/usr/local/bin:/usr/bin:/bin";
}

/// First executable regular file named name in path ("" if none).
std::string find_in_path(const std::string& name, const std::string& path) {
  for (const auto& dir : split(path, ':')) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

/// Starts exe in a new process group with fds[0..2] as its stdin/stdout/
/// stderr, in cwd (nullptr: ours), every signal at its default disposition
/// and unblocked, and no other descriptor open. posix_spawn: glibc runs the
/// child on our memory until it execs (clone with CLONE_VM | CLONE_VFORK),
/// so a launch costs no page-table copy (which fork paid per child, visible
/// at 1,000 sandboxes), and an exec failure comes back as the return value.
/// Returns 0 or an errno value.
int spawn_child(const std::string& exe, const char* const* argv, const char* const* envp, const int (&fds)[3],
                const char* cwd, int* pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  if (int e = ::posix_spawn_file_actions_init(&fa)) return e;
  if (int e = ::posix_spawnattr_init(&attr)) {
    ::posix_spawn_file_actions_destroy(&fa);
    return e;
  }
  int err = 0;
  auto step = [&err](int e) {
    if (err == 0) err = e;
  };
  // dup2 onto the same number clears FD_CLOEXEC (POSIX 2017, glibc >= 2.29).
  for (int target = 0; target < 3; ++target) step(::posix_spawn_file_actions_adddup2(&fa, fds[target], target));
  step(::posix_spawn_file_actions_addclosefrom_np(&fa, 3));
  if (cwd != nullptr) step(::posix_spawn_file_actions_addchdir_np(&fa, cwd));
  sigset_t none, all;
  ::sigemptyset(&none);
  ::sigfillset(&all);
  step(::posix_spawnattr_setsigmask(&attr, &none));
  step(::posix_spawnattr_setsigdefault(&attr, &all)); // our handlers and SIGPIPE ignore do not apply to it
  step(::posix_spawnattr_setpgroup(&attr, 0));
  step(::posix_spawnattr_setflags(
      &attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)));
  if (err == 0) {
    pid_t p = -1;
    err = ::posix_spawn(&p, exe.c_str(), &fa, &attr, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    if (err == 0) *pid = p;
  }
  ::posix_spawnattr_destroy(&attr);
  ::posix_spawn_file_actions_destroy(&fa);
  return err;
}

} // namespace

// ---------------------------------------------------------------------------

/// One launched child. Owned by RunnerCore::children; asynchronous handlers
/// refer to it by id only, so a finished child is simply not found.
struct RunnerChild {
  explicit RunnerChild(asio::io_context& ctx)
      : out(ctx), err(ctx), in(ctx), pidfd(ctx), timeout_timer(ctx), kill_timer(ctx), eof_timer(ctx) {}

  ProcessRunner::Id id = 0;
  ProcessSpec spec;
  ProcessRunner::Done done;
  ProcessRunner::Output on_output;
  int pid = -1; ///< also the process group id
  asio::posix::stream_descriptor out;
  asio::posix::stream_descriptor err;
  asio::posix::stream_descriptor in;
  asio::posix::stream_descriptor pidfd;
  Fd out_file;
  Fd err_file;
  asio::steady_timer timeout_timer;
  asio::steady_timer kill_timer;
  asio::steady_timer eof_timer;
  bool exited = false;
  bool out_eof = false;
  bool err_eof = false;
  bool term_sent = false;
  bool forced = false; ///< finished without EOF after the grace period
  std::chrono::steady_clock::time_point start;
  ProcessResult result;
};

/// The runner's state. Shared so that queued handlers can hold a weak
/// reference and do nothing once the runner is gone.
struct RunnerCore {
  explicit RunnerCore(EventLoop& loop) : ctx(loop.impl().ctx), buffer(kReadBufferSize) {}

  asio::io_context& ctx;
  std::unordered_map<ProcessRunner::Id, std::unique_ptr<RunnerChild>> children;
  std::atomic<ProcessRunner::Id> next_id{1};
  std::atomic<size_t> pending{0}; ///< spawned, done not called yet
  std::vector<char> buffer;       ///< shared by all reads (loop thread only)
  std::weak_ptr<RunnerCore> self;

  RunnerChild* find(ProcessRunner::Id id) {
    auto it = children.find(id);
    return it == children.end() ? nullptr : it->second.get();
  }

  /// Run fn(core, child) later if both still exist.
  template <typename Fn>
  auto with_child(ProcessRunner::Id id, Fn fn) {
    return [weak = self, id, fn = std::move(fn)](auto&&... args) mutable {
      auto core = weak.lock();
      if (!core) {
        return;
      }
      RunnerChild* child = core->find(id);
      if (child == nullptr) {
        return;
      }
      fn(*core, *child, std::forward<decltype(args)>(args)...);
    };
  }

  // -- start -----------------------------------------------------------------

  void start(ProcessRunner::Id id, ProcessSpec spec, ProcessRunner::Done done, ProcessRunner::Output on_output) {
    auto owned = std::make_unique<RunnerChild>(ctx);
    RunnerChild& c = *owned;
    c.id = id;
    c.spec = std::move(spec);
    c.done = std::move(done);
    c.on_output = std::move(on_output);
    c.start = std::chrono::steady_clock::now();
    c.result.timeout = c.spec.timeout;

    Fd in_child;
    std::string error;
    try {
      error = launch(c, in_child);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      ProcessResult result;
      result.spawn_error = std::move(error);
      result.timeout = c.spec.timeout;
      ProcessRunner::Done cb = std::move(c.done);
      owned.reset();
      --pending;
      if (cb) {
        cb(std::move(result));
      }
      return;
    }
    children.emplace(id, std::move(owned));

    if (c.in.is_open()) {
      asio::async_write(c.in, asio::buffer(c.spec.stdin_data),
                        with_child(id, [](RunnerCore&, RunnerChild& child, const boost::system::error_code&, size_t) {
                          boost::system::error_code ignored;
                          child.in.close(ignored); // EOF for the child (EPIPE if it stopped reading)
                        }));
    }
    if (c.spec.timeout.count() > 0) {
      c.timeout_timer.expires_after(c.spec.timeout);
      c.timeout_timer.async_wait(with_child(id, [](RunnerCore& core, RunnerChild& child, const boost::system::error_code& ec) {
        if (ec || child.exited) {
          return;
        }
        child.result.timed_out = true;
        core.terminate(child, false);
      }));
    }
    // The pipes can reach EOF here but the child only finishes once its exit
    // is seen, which check_exit (last) may do, destroying c.
    pump(c, 1);
    pump(c, 2);
    check_exit(c);
  }

  /// Everything that can fail before the child runs. "" on success.
  std::string launch(RunnerChild& c, Fd& in_child) {
    const ProcessSpec& spec = c.spec;
    if (spec.argv.empty()) {
      return "empty command";
    }
    const std::vector<std::string> env = build_env(spec);
    std::string exe = spec.argv[0];
    if (exe.find('/') == std::string::npos) {
      exe = find_in_path(spec.argv[0], search_path(env));
      if (exe.empty()) {
        return "command not found: " + spec.argv[0];
      }
    }
    if (!spec.cwd.empty()) {
      struct stat st {};
      if (::stat(spec.cwd.c_str(), &st) != 0) {
        return "cannot change directory to " + spec.cwd + ": " + errno_text(errno);
      }
      if (!S_ISDIR(st.st_mode)) {
        return "cannot change directory to " + spec.cwd + ": " + errno_text(ENOTDIR);
      }
    }
    const int file_flags = O_WRONLY | O_CREAT | O_CLOEXEC | (spec.append ? O_APPEND : O_TRUNC);
    if (!spec.stdout_path.empty()) {
      c.out_file = Fd(::open(spec.stdout_path.c_str(), file_flags, 0644));
      if (!c.out_file) {
        return "cannot open " + spec.stdout_path + ": " + errno_text(errno);
      }
    }
    if (!spec.stderr_path.empty()) {
      if (spec.stderr_path == spec.stdout_path) {
        c.err_file = Fd(::fcntl(c.out_file.get(), F_DUPFD_CLOEXEC, 0)); // one file offset, no overwrites
      } else {
        c.err_file = Fd(::open(spec.stderr_path.c_str(), file_flags, 0644));
      }
      if (!c.err_file) {
        return "cannot open " + spec.stderr_path + ": " + errno_text(errno);
      }
    }

    std::string error;
    Fd out_r, out_w, err_r, err_w, in_w;
    if (!make_pipe(out_r, out_w, error) || !make_pipe(err_r, err_w, error)) {
      return error;
    }
    if (!spec.stdin_data.empty()) {
      if (!make_pipe(in_child, in_w, error)) {
        return error;
      }
    } else {
      in_child = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!in_child) {
        return "/dev/null: " + errno_text(errno);
      }
    }

    std::vector<const char*> argv;
    argv.reserve(spec.argv.size() + 1);
    for (const auto& a : spec.argv) {
      argv.push_back(a.c_str());
    }
    argv.push_back(nullptr);
    std::vector<const char*> envp;
    envp.reserve(env.size() + 1);
    for (const auto& e : env) {
      envp.push_back(e.c_str());
    }
    envp.push_back(nullptr);

    int pid = -1;
    if (int err = spawn_child(exe, argv.data(), envp.data(), {in_child.get(), out_w.get(), err_w.get()},
                              spec.cwd.empty() ? nullptr : spec.cwd.c_str(), &pid)) {
      return spec.argv[0] + ": " + errno_text(err);
    }
    c.pid = pid;

    auto fail_after_fork = [&](const std::string& what, int err) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      c.pid = -1;
      return what + ": " + errno_text(err);
    };
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      return fail_after_fork("pidfd_open", errno);
    }
    boost::system::error_code aec;
    c.pidfd.assign(pidfd, aec);
    if (aec) {
      ::close(pidfd);
      return fail_after_fork("pidfd", aec.value());
    }
    set_nonblocking(out_r.get());
    set_nonblocking(err_r.get());
    c.out.assign(out_r.get(), aec);
    if (!aec) {
      out_r.release();
      c.err.assign(err_r.get(), aec);
    }
    if (!aec) {
      err_r.release();
      if (in_w) {
        set_nonblocking(in_w.get());
        c.in.assign(in_w.get(), aec);
        if (!aec) {
          in_w.release();
        }
      }
    }
    if (aec) {
      return fail_after_fork("pipe", aec.value());
    }
    return {}; // the child's ends (out_w, err_w, in_child) close here
  }

  // -- output ----------------------------------------------------------------

  void deliver(RunnerChild& c, int stream, const char* data, size_t size) {
    Fd& file = stream == 1 ? c.out_file : c.err_file;
    if (file && !write_all(file.get(), data, size)) {
      file.reset(); // disk full or similar: stop writing, keep the rest going
    }
    if (c.spec.capture_limit > 0) {
      std::string& cap = stream == 1 ? c.result.out : c.result.err;
      bool& truncated = stream == 1 ? c.result.out_truncated : c.result.err_truncated;
      const size_t room = c.spec.capture_limit > cap.size() ? c.spec.capture_limit - cap.size() : 0;
      if (size > room) {
        truncated = true;
      }
      cap.append(data, std::min(size, room));
    }
    if (c.on_output) {
      c.on_output(stream, std::string_view(data, size));
    }
  }

  /// Read what the pipe holds (up to a budget), then wait for more. The
  /// descriptor is edge-triggered in Asio's reactor, so we always read until
  /// EAGAIN before waiting: on the single loop thread no edge is lost between
  /// the EAGAIN and the wait. With rearm = false (final drain) never waits.
  /// Returns true if the child finished (and was destroyed).
  bool pump(RunnerChild& c, int stream, bool rearm = true) {
    auto& desc = stream == 1 ? c.out : c.err;
    bool& eof = stream == 1 ? c.out_eof : c.err_eof;
    if (eof) {
      return false;
    }
    for (int i = 0; i < kReadsPerWakeup; ++i) {
      const ssize_t n = ::read(desc.native_handle(), buffer.data(), buffer.size());
      if (n > 0) {
        deliver(c, stream, buffer.data(), static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (rearm) {
          desc.async_wait(asio::posix::descriptor_base::wait_read,
                          with_child(c.id, [stream](RunnerCore& core, RunnerChild& child, const boost::system::error_code& ec) {
                            if (!ec) {
                              core.pump(child, stream);
                            }
                          }));
        }
        return false;
      }
      // EOF (or a read error, which we treat the same)
      eof = true;
      boost::system::error_code ignored;
      desc.close(ignored);
      return rearm && maybe_finish(c);
    }
    if (rearm) {
      // Budget used: let other children's handlers run, then continue.
      asio::post(ctx, with_child(c.id, [stream](RunnerCore& core, RunnerChild& child) { core.pump(child, stream); }));
    }
    return false;
  }

  // -- exit ------------------------------------------------------------------

  /// Has the direct child exited? Peeks with WNOWAIT: the child stays a
  /// zombie until finish(), which pins its pid (= our process group id) so
  /// that killing the group can never hit a recycled id.
  void check_exit(RunnerChild& c) {
    siginfo_t info{};
    int r;
    do {
      r = ::waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == 0 && info.si_pid == 0) {
      c.pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                         with_child(c.id, [](RunnerCore& core, RunnerChild& child, const boost::system::error_code& ec) {
                           if (!ec) {
                             core.check_exit(child);
                           }
                         }));
      return;
    }
    c.exited = true; // (or reaped behind our back: r < 0, ECHILD)
    c.timeout_timer.cancel();
    if (!(c.out_eof && c.err_eof)) {
      // Descendants still hold the pipes: give them a moment, then end it.
      c.eof_timer.expires_after(kEofGrace);
      c.eof_timer.async_wait(with_child(c.id, [](RunnerCore& core, RunnerChild& child, const boost::system::error_code& ec) {
        if (!ec) {
          child.forced = true;
          core.finish(child);
        }
      }));
    }
    maybe_finish(c);
  }

  bool maybe_finish(RunnerChild& c) {
    if (c.exited && c.out_eof && c.err_eof) {
      finish(c);
      return true;
    }
    return false;
  }

  /// Report and forget the child. c is destroyed on return.
  void finish(RunnerChild& c) {
    c.timeout_timer.cancel();
    c.kill_timer.cancel();
    c.eof_timer.cancel();
    if (c.forced || c.spec.kill_leftovers || c.result.timed_out || c.result.cancelled) {
      // The leader is an unreaped zombie, so -pid is still our group.
      ::kill(-c.pid, SIGKILL);
    }
    pump(c, 1, false); // whatever is still buffered in the pipes
    pump(c, 2, false);
    int status = 0;
    int r;
    do {
      r = ::waitpid(c.pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r == c.pid) {
      if (WIFSIGNALED(status)) {
        c.result.signal = WTERMSIG(status);
      } else if (WIFEXITED(status)) {
        c.result.exit_code = WEXITSTATUS(status);
      }
    }
    c.result.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c.start);
    ProcessResult result = std::move(c.result);
    ProcessRunner::Done done = std::move(c.done);
    children.erase(c.id); // closes pipes and files
    --pending;
    if (done) {
      done(std::move(result));
    }
  }

  // -- termination -----------------------------------------------------------

  /// SIGTERM the group, SIGKILL after kill_grace (or at once if hard).
  void terminate(RunnerChild& c, bool hard) {
    if (hard || c.spec.kill_grace.count() <= 0) {
      ::kill(-c.pid, SIGKILL);
      return;
    }
    if (c.term_sent) {
      return;
    }
    c.term_sent = true;
    ::kill(-c.pid, SIGTERM);
    c.kill_timer.expires_after(c.spec.kill_grace);
    c.kill_timer.async_wait(with_child(c.id, [](RunnerCore&, RunnerChild& child, const boost::system::error_code& ec) {
      if (!ec) {
        ::kill(-child.pid, SIGKILL);
      }
    }));
  }

  void cancel(RunnerChild& c, bool hard) {
    c.result.cancelled = true;
    // An exited leader only waits for its descendants: no reason to be gentle.
    terminate(c, hard || c.exited);
  }

  /// SIGKILL every group and reap every leader, synchronously. No done calls.
  void kill_all_sync() {
    for (auto& [id, c] : children) {
      ::kill(-c->pid, SIGKILL);
    }
    for (auto& [id, c] : children) {
      while (::waitpid(c->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    children.clear();
  }
};

struct ProcessRunner::Impl {
  std::shared_ptr<RunnerCore> core;
  EventLoop* loop = nullptr;
};

ProcessRunner::ProcessRunner(EventLoop& loop) : m_impl(std::make_unique<Impl>()) {
  process_wide_setup();
  m_impl->core = std::make_shared<RunnerCore>(loop);
  m_impl->core->self = m_impl->core;
  m_impl->loop = &loop;
}

ProcessRunner::~ProcessRunner() {
  m_impl->core->kill_all_sync();
}

ProcessRunner::Id ProcessRunner::spawn(ProcessSpec spec, Done done, Output on_output) {
  RunnerCore& core = *m_impl->core;
  const Id id = core.next_id++;
  ++core.pending;
  m_impl->loop->post([weak = core.self, id, spec = std::move(spec), done = std::move(done),
                      on_output = std::move(on_output)]() mutable {
    if (auto c = weak.lock()) {
      c->start(id, std::move(spec), std::move(done), std::move(on_output));
    }
  });
  return id;
}

void ProcessRunner::cancel(Id id) {
  m_impl->loop->post([weak = m_impl->core->self, id] {
    auto core = weak.lock();
    if (!core) {
      return;
    }
    if (RunnerChild* c = core->find(id)) {
      core->cancel(*c, false);
    }
  });
}

void ProcessRunner::cancel_all(bool hard) {
  m_impl->loop->post([weak = m_impl->core->self, hard] {
    auto core = weak.lock();
    if (!core) {
      return;
    }
    for (auto& [id, c] : core->children) {
      core->cancel(*c, hard);
    }
  });
}

size_t ProcessRunner::running() const {
  return m_impl->core->pending.load();
}

std::vector<int> ProcessRunner::process_groups() const {
  std::vector<int> groups;
  groups.reserve(m_impl->core->children.size());
  for (const auto& [id, c] : m_impl->core->children) {
    groups.push_back(c->pid);
  }
  std::sort(groups.begin(), groups.end());
  return groups;
}

ProcessResult run_process_sync(ProcessSpec spec) {
  EventLoop loop;
  ProcessResult result;
  {
    ProcessRunner runner(loop);
    runner.spawn(std::move(spec), [&result](ProcessResult r) { result = std::move(r); });
    loop.run();
  }
  return result;
}

} // namespace offload
