#include <doctest/doctest.h>

#include <cstdlib>

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process/event_loop.hpp"
#include "process/runner.hpp"
#include "util/fs.hpp"

using namespace offload;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

/// A real temporary directory, removed (with its files) at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/offload-process-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path + "'";
    (void)std::system(cmd.c_str());
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

ProcessSpec sh(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"sh", "-c", script};
  return spec;
}

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

/// Is any live (non-zombie) process in group pgid? Zombies only wait for
/// their reaper (which may be a slow or absent init in a container).
bool group_alive(int pgid) {
  if (::kill(-pgid, 0) == -1 && errno == ESRCH) {
    return false;
  }
  DIR* d = ::opendir("/proc");
  if (d == nullptr) {
    return true;
  }
  bool alive = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') {
      continue;
    }
    // read(2), not an ifstream: a process that exits while we read makes the
    // read fail with ESRCH, which libstdc++'s streambuf turns into an exception.
    std::string stat;
    int fd = ::open((std::string("/proc/") + e->d_name + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n <= 0) {
      continue;
    }
    stat.assign(buf, static_cast<size_t>(n));
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(d);
  return alive;
}

/// Poll until the group has no live member (killed processes take a moment to die).
bool group_gone_within(int pgid, std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (!group_alive(pgid)) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return !group_alive(pgid);
}

/// Spawn one child on a fresh loop, remember its process group, run to completion.
struct Observed {
  ProcessResult result;
  int pgid = 0;
  int done_calls = 0;
  long long elapsed_ms = 0;
};

Observed run_observed(ProcessSpec spec) {
  Observed o;
  EventLoop loop;
  ProcessRunner runner(loop);
  const auto t0 = Clock::now();
  runner.spawn(std::move(spec), [&](ProcessResult r) {
    o.result = std::move(r);
    ++o.done_calls;
  });
  // Posted after the spawn, so it runs after the child started.
  loop.post([&] {
    auto groups = runner.process_groups();
    if (!groups.empty()) {
      o.pgid = groups.front();
    }
  });
  loop.run();
  o.elapsed_ms = ms_since(t0);
  return o;
}

} // namespace

TEST_CASE("exit codes are reported, 0 is ok") {
  auto r = run_process_sync(sh("exit 3"));
  CHECK(r.spawn_error == "");
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.ok());
  CHECK(r.describe() == "exit code 3");

  auto ok = run_process_sync(sh("exit 0"));
  CHECK(ok.exit_code == 0);
  CHECK(ok.ok());
}

TEST_CASE("death by signal is not an exit code") {
  auto r = run_process_sync(sh("kill -9 $$"));
  CHECK(r.signal == 9);
  CHECK(r.exit_code == -1);
  CHECK_FALSE(r.ok());
  CHECK(r.describe() == "killed by signal 9 (SIGKILL)");

  auto e = run_process_sync(sh("exit 9"));
  CHECK(e.signal == 0);
  CHECK(e.exit_code == 9);
}

TEST_CASE("timeout kills the whole process group promptly") {
  auto spec = sh("sleep 30 & sleep 30");
  spec.timeout = 300ms;
  auto o = run_observed(std::move(spec));
  CHECK(o.done_calls == 1);
  CHECK(o.result.timed_out);
  CHECK_FALSE(o.result.ok());
  CHECK(o.elapsed_ms < 3000);
  CHECK(o.elapsed_ms >= 250);
  CHECK(o.result.describe() == "timed out after 300ms");
  REQUIRE(o.pgid > 0);
  CHECK(group_gone_within(o.pgid, 8000ms));
}

TEST_CASE("timeout escalates to SIGKILL after kill_grace when SIGTERM is ignored") {
  auto spec = sh("trap '' TERM; sleep 30 & sleep 30");
  spec.timeout = 200ms;
  spec.kill_grace = 300ms;
  auto o = run_observed(std::move(spec));
  CHECK(o.result.timed_out);
  CHECK(o.elapsed_ms >= 450);
  CHECK(o.elapsed_ms < 3000);
  REQUIRE(o.pgid > 0);
  CHECK(group_gone_within(o.pgid, 8000ms));
}

TEST_CASE("cancel terminates the group and reports cancelled") {
  EventLoop loop;
  ProcessRunner runner(loop);
  ProcessResult result;
  int calls = 0;
  int pgid = 0;
  const auto t0 = Clock::now();
  auto spec = sh("sleep 30 & sleep 30");
  const auto id = runner.spawn(spec, [&](ProcessResult r) {
    result = std::move(r);
    ++calls;
  });
  loop.add_timer(100ms, [&] {
    pgid = runner.process_groups().at(0);
    CHECK(runner.running() == 1);
    runner.cancel(id);
    runner.cancel(id);       // twice is harmless
    runner.cancel(id + 999); // unknown ids are ignored
  });
  loop.run();
  CHECK(calls == 1);
  CHECK(result.cancelled);
  CHECK(result.describe() == "cancelled");
  CHECK(ms_since(t0) < 3000);
  CHECK(runner.running() == 0);
  REQUIRE(pgid > 0);
  CHECK(group_gone_within(pgid, 2000ms));
}

TEST_CASE("cancel_all(hard) SIGKILLs every child at once") {
  EventLoop loop;
  ProcessRunner runner(loop);
  std::vector<ProcessResult> results;
  for (int i = 0; i < 5; ++i) {
    auto spec = sh("trap '' TERM; sleep 30");
    spec.kill_grace = 10s; // hard must not wait for this
    runner.spawn(spec, [&](ProcessResult r) { results.push_back(std::move(r)); });
  }
  const auto t0 = Clock::now();
  loop.add_timer(100ms, [&] { runner.cancel_all(true); });
  loop.run();
  REQUIRE(results.size() == 5);
  for (const auto& r : results) {
    CHECK(r.cancelled);
    CHECK(r.signal == SIGKILL);
  }
  CHECK(ms_since(t0) < 3000);
}

TEST_CASE("stdout and stderr stream to files, truncating or appending") {
  TempDir dir;
  auto spec = sh("echo out-$N; echo err-$N >&2");
  spec.stdout_path = dir.file("out.txt");
  spec.stderr_path = dir.file("err.txt");

  spec.env = {{"N", "1"}};
  CHECK(run_process_sync(spec).ok());
  spec.append = true;
  spec.env = {{"N", "2"}};
  CHECK(run_process_sync(spec).ok());
  CHECK(read_file(dir.file("out.txt")).value_or("?") == "out-1\nout-2\n");
  CHECK(read_file(dir.file("err.txt")).value_or("?") == "err-1\nerr-2\n");

  spec.append = false;
  spec.env = {{"N", "3"}};
  CHECK(run_process_sync(spec).ok());
  CHECK(read_file(dir.file("out.txt")).value_or("?") == "out-3\n");
  CHECK(read_file(dir.file("err.txt")).value_or("?") == "err-3\n");

  SUBCASE("one file for both streams keeps both") {
    auto both = sh("echo a; echo b >&2; echo c");
    both.stdout_path = dir.file("both.txt");
    both.stderr_path = dir.file("both.txt");
    CHECK(run_process_sync(both).ok());
    const auto text = read_file(dir.file("both.txt")).value_or("");
    CHECK(text.size() == 6);
    CHECK(text.find("b\n") != std::string::npos);
  }

  SUBCASE("an unwritable path is a spawn error") {
    auto bad = sh("true");
    bad.stdout_path = dir.file("no/such/dir/out.txt");
    auto r = run_process_sync(bad);
    CHECK(r.spawn_error.find("no/such/dir/out.txt") != std::string::npos);
  }
}

TEST_CASE("capture keeps at most capture_limit bytes; on_output sees everything") {
  EventLoop loop;
  ProcessRunner runner(loop);
  auto spec = sh("head -c 300000 /dev/zero; echo tail >&2");
  spec.capture_limit = 1000;
  ProcessResult result;
  size_t streamed_out = 0;
  std::string streamed_err;
  runner.spawn(
      spec, [&](ProcessResult r) { result = std::move(r); },
      [&](int stream, std::string_view data) {
        if (stream == 1) {
          streamed_out += data.size();
        } else {
          streamed_err += data;
        }
      });
  loop.run();
  CHECK(result.ok());
  CHECK(result.out.size() == 1000);
  CHECK(result.out_truncated);
  CHECK(result.err == "tail\n");
  CHECK_FALSE(result.err_truncated);
  CHECK(streamed_out == 300000);
  CHECK(streamed_err == "tail\n");
}

TEST_CASE("without capture_limit nothing is kept") {
  auto r = run_process_sync(sh("echo hi"));
  CHECK(r.out.empty());
  CHECK_FALSE(r.out_truncated);
}

TEST_CASE("stdin_data is written then closed; otherwise stdin is /dev/null") {
  auto spec = ProcessSpec{};
  spec.argv = {"cat"};
  spec.stdin_data = "hello\nworld";
  spec.capture_limit = 100;
  auto r = run_process_sync(spec);
  CHECK(r.ok());
  CHECK(r.out == "hello\nworld");

  // More than a pipe buffer: needs the asynchronous writer and reader together.
  std::string big(1 << 20, 'x');
  spec.stdin_data = big;
  spec.capture_limit = 2 << 20;
  r = run_process_sync(spec);
  CHECK(r.ok());
  CHECK(r.out == big);

  spec.stdin_data.clear();
  r = run_process_sync(spec);
  CHECK(r.ok());
  CHECK(r.out.empty());

  // A child that never reads its stdin must not hurt us (EPIPE, not SIGPIPE).
  auto ignore = sh("exit 4");
  ignore.stdin_data = std::string(1 << 20, 'y');
  CHECK(run_process_sync(ignore).exit_code == 4);
}

TEST_CASE("env overrides the inherited environment; inherit_env=false starts empty") {
  ::setenv("OFFLOAD_TEST_INHERITED", "from-parent", 1);
  auto spec = sh("echo \"$OFFLOAD_TEST_INHERITED|$FOO\"");
  spec.env = {{"FOO", "bar"}};
  spec.capture_limit = 1000;
  auto r = run_process_sync(spec);
  CHECK(r.out == "from-parent|bar\n");

  spec.env = {{"OFFLOAD_TEST_INHERITED", "overridden"}, {"FOO", "x"}, {"FOO", "last"}};
  r = run_process_sync(spec);
  CHECK(r.out == "overridden|last\n");

  ProcessSpec clean;
  clean.argv = {"env"}; // found through our PATH, since the child has none
  clean.inherit_env = false;
  clean.env = {{"ONLY", "this"}};
  clean.capture_limit = 1000;
  r = run_process_sync(clean);
  CHECK(r.ok());
  CHECK(r.out == "ONLY=this\n");
  ::unsetenv("OFFLOAD_TEST_INHERITED");
}

TEST_CASE("argv[0] is looked up in the child's PATH") {
  TempDir dir;
  {
    std::ofstream script(dir.file("offload-test-tool"));
    script << "#!/bin/sh\necho tool:$1\n";
  }
  ::chmod(dir.file("offload-test-tool").c_str(), 0755);
  ProcessSpec spec;
  spec.argv = {"offload-test-tool", "arg"};
  spec.env = {{"PATH", "/nonexistent:" + dir.path + ":/usr/bin:/bin"}};
  spec.capture_limit = 100;
  auto r = run_process_sync(spec);
  CHECK(r.spawn_error == "");
  CHECK(r.out == "tool:arg\n");
}

TEST_CASE("cwd sets the working directory") {
  TempDir dir;
  char real[PATH_MAX];
  REQUIRE(::realpath(dir.path.c_str(), real) != nullptr);
  ProcessSpec spec;
  spec.argv = {"pwd", "-P"};
  spec.cwd = dir.path;
  spec.capture_limit = PATH_MAX;
  auto r = run_process_sync(spec);
  CHECK(r.ok());
  CHECK(r.out == std::string(real) + "\n");

  spec.cwd = dir.file("missing");
  r = run_process_sync(spec);
  CHECK(r.spawn_error.find("missing") != std::string::npos);
}

TEST_CASE("command not found is reported through done, asynchronously") {
  EventLoop loop;
  ProcessRunner runner(loop);
  int calls = 0;
  ProcessResult result;
  ProcessSpec spec;
  spec.argv = {"offload-no-such-command-xyz", "arg"};
  runner.spawn(spec, [&](ProcessResult r) {
    result = std::move(r);
    ++calls;
  });
  CHECK(calls == 0); // not from inside spawn()
  CHECK(runner.running() == 1);
  loop.run();
  CHECK(calls == 1);
  CHECK(runner.running() == 0);
  CHECK(result.spawn_error == "command not found: offload-no-such-command-xyz");
  CHECK_FALSE(result.ok());
  CHECK(result.describe() == "failed to start: command not found: offload-no-such-command-xyz");

  ProcessSpec empty;
  CHECK_FALSE(run_process_sync(empty).spawn_error.empty());

  ProcessSpec not_exec;
  not_exec.argv = {"/etc/hostname"};
  auto r = run_process_sync(not_exec);
  CHECK_FALSE(r.spawn_error.empty());
}

TEST_CASE("200 concurrent children run in parallel, each done exactly once") {
  EventLoop loop;
  ProcessRunner runner(loop);
  constexpr int n = 200;
  std::vector<int> calls(n, 0);
  int ok = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    runner.spawn(sh("sleep 0.2"), [&, i](ProcessResult r) {
      ++calls[i];
      ok += r.ok() ? 1 : 0;
    });
  }
  loop.run();
  const auto elapsed = ms_since(t0);
  MESSAGE("200 x sleep 0.2 took " << elapsed << " ms");
  CHECK(elapsed < 8000); // serially it would be 40 s
  CHECK(ok == n);
  for (int i = 0; i < n; ++i) {
    CHECK(calls[i] == 1);
  }
  CHECK(runner.running() == 0);
  CHECK(runner.process_groups().empty());
}

TEST_CASE("a background job holding the pipes does not delay done for long") {
  auto o = run_observed(sh("echo started; sleep 30 &"));
  CHECK(o.done_calls == 1);
  CHECK(o.result.ok());
  CHECK(o.elapsed_ms < 2000);
  REQUIRE(o.pgid > 0);
  CHECK(group_gone_within(o.pgid, 8000ms));
}

TEST_CASE("kill_leftovers=false leaves a detached background job alone") {
  // The shell prints its own pid, which is its process group (setpgid in the
  // child): sampling process_groups() would race with a child this quick.
  auto pgid_of = [](const ProcessResult& r) { return std::atoi(r.out.c_str()); };
  auto spec = sh("echo $$; sleep 5 </dev/null >/dev/null 2>&1 &");
  spec.kill_leftovers = false;
  spec.capture_limit = 64;
  auto o = run_observed(std::move(spec));
  CHECK(o.result.ok());
  int pgid = pgid_of(o.result);
  REQUIRE(pgid > 0);
  CHECK(group_alive(pgid));
  ::kill(-pgid, SIGKILL);
  // Generous limits: under a loaded sanitizer CI run, process teardown of a
  // killed orphan has been seen to take over 2 s on this 2-core machine.
  CHECK(group_gone_within(pgid, 8000ms));

  auto spec2 = sh("echo $$; sleep 5 </dev/null >/dev/null 2>&1 &");
  spec2.capture_limit = 64;
  auto killed = run_observed(std::move(spec2));
  CHECK(killed.result.ok());
  int pgid2 = pgid_of(killed.result);
  REQUIRE(pgid2 > 0);
  CHECK(group_gone_within(pgid2, 8000ms));
}

TEST_CASE("the destructor kills and reaps running children") {
  int pgid = 0;
  bool done_called = false;
  {
    EventLoop loop;
    ProcessRunner runner(loop);
    runner.spawn(sh("sleep 30 & sleep 30"), [&](ProcessResult) { done_called = true; });
    loop.add_timer(100ms, [&] {
      pgid = runner.process_groups().at(0);
      loop.stop();
    });
    loop.run();
    REQUIRE(pgid > 0);
    CHECK(group_alive(pgid));
  }
  CHECK_FALSE(done_called);
  CHECK(group_gone_within(pgid, 2000ms));
  // The direct child was reaped: no zombie of ours is left.
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("output arrives on the loop thread, per stream, as it is produced") {
  EventLoop loop;
  ProcessRunner runner(loop);
  const auto loop_thread = std::this_thread::get_id();
  std::string out;
  std::string err;
  bool other_thread = false;
  Clock::time_point first_out{};
  Clock::time_point done_at{};
  runner.spawn(
      sh("echo one; echo two >&2; sleep 0.3; echo three"),
      [&](ProcessResult) { done_at = Clock::now(); },
      [&](int stream, std::string_view data) {
        other_thread = other_thread || std::this_thread::get_id() != loop_thread;
        if (stream == 1 && out.empty()) {
          first_out = Clock::now();
        }
        (stream == 1 ? out : err) += data;
      });
  loop.run();
  CHECK_FALSE(other_thread);
  CHECK(out == "one\nthree\n");
  CHECK(err == "two\n");
  CHECK(done_at - first_out >= 200ms); // streamed, not delivered at the end
}

TEST_CASE("spawn and cancel from another thread") {
  EventLoop loop;
  ProcessRunner runner(loop);
  ProcessResult result;
  int calls = 0;
  auto keepalive = loop.add_timer(10s, [] {});
  std::thread t([&] {
    const auto id = runner.spawn(sh("sleep 30"), [&](ProcessResult r) {
      result = std::move(r);
      ++calls;
      loop.cancel_timer(keepalive);
    });
    std::this_thread::sleep_for(100ms);
    runner.cancel(id);
  });
  const auto t0 = Clock::now();
  loop.run();
  t.join();
  CHECK(calls == 1);
  CHECK(result.cancelled);
  CHECK(ms_since(t0) < 5000);
}

TEST_CASE("describe() wording") {
  ProcessResult r;
  r.exit_code = 0;
  CHECK(r.describe() == "exit code 0");
  r.signal = 15;
  CHECK(r.describe() == "killed by signal 15 (SIGTERM)");
  r.timed_out = true;
  r.timeout = 5000ms;
  CHECK(r.describe() == "timed out after 5s");
  r.timeout = 1500ms;
  CHECK(r.describe() == "timed out after 1.5s");
  r.cancelled = true;
  CHECK(r.describe() == "cancelled");
  r.spawn_error = "command not found: x";
  CHECK(r.describe() == "failed to start: command not found: x");
}
