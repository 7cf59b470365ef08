#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "process/event_loop.hpp"

using namespace offload;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("run() returns when there is nothing to do") {
  EventLoop loop;
  const auto t0 = Clock::now();
  loop.run();
  CHECK(Clock::now() - t0 < 1s);
}

TEST_CASE("posted functions run in order, never re-entrantly") {
  EventLoop loop;
  std::vector<std::string> trace;
  loop.post([&] {
    trace.push_back("a");
    loop.post([&] { trace.push_back("c"); });
    trace.push_back("b"); // the nested post did not run inside this one
  });
  loop.post([&] { trace.push_back("a2"); });
  loop.run();
  CHECK(trace == std::vector<std::string>{"a", "b", "a2", "c"});
}

TEST_CASE("timers fire in deadline order and keep run() alive") {
  EventLoop loop;
  std::vector<int> fired;
  const auto t0 = Clock::now();
  loop.add_timer(150ms, [&] { fired.push_back(150); });
  loop.add_timer(50ms, [&] { fired.push_back(50); });
  loop.add_timer(0ms, [&] { fired.push_back(0); });
  loop.run();
  const auto elapsed = Clock::now() - t0;
  CHECK(fired == std::vector<int>{0, 50, 150});
  CHECK(elapsed >= 150ms);
  CHECK(elapsed < 2s);
}

TEST_CASE("a cancelled timer never fires and does not keep run() alive") {
  EventLoop loop;
  bool fired = false;
  const auto t0 = Clock::now();
  const auto id = loop.add_timer(5s, [&] { fired = true; });
  loop.add_timer(20ms, [&] {
    loop.cancel_timer(id);
    loop.cancel_timer(id);     // twice: ignored
    loop.cancel_timer(123456); // unknown: ignored
  });
  loop.run();
  CHECK_FALSE(fired);
  CHECK(Clock::now() - t0 < 2s);
}

TEST_CASE("cancelling a timer that already fired is harmless") {
  EventLoop loop;
  int fired = 0;
  uint64_t id = 0;
  id = loop.add_timer(1ms, [&] {
    ++fired;
    loop.cancel_timer(id);
  });
  loop.run();
  CHECK(fired == 1);
}

TEST_CASE("post from another thread runs on the loop thread") {
  EventLoop loop;
  const auto loop_thread = std::this_thread::get_id();
  std::atomic<int> ran{0};
  bool on_loop_thread = true;
  const auto keepalive = loop.add_timer(10s, [] {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        loop.post([&] {
          on_loop_thread = on_loop_thread && std::this_thread::get_id() == loop_thread;
          if (++ran == 1000) {
            loop.cancel_timer(keepalive);
          }
        });
      }
    });
  }
  const auto t0 = Clock::now();
  loop.run();
  for (auto& t : threads) {
    t.join();
  }
  CHECK(ran == 1000);
  CHECK(on_loop_thread);
  CHECK(Clock::now() - t0 < 5s);
}

TEST_CASE("stop() from another thread ends run(); run() can be called again") {
  EventLoop loop;
  const auto long_timer = loop.add_timer(30s, [] {});
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    loop.stop();
  });
  const auto t0 = Clock::now();
  loop.run();
  t.join();
  CHECK(Clock::now() - t0 < 5s);

  bool second = false;
  loop.cancel_timer(long_timer);
  loop.add_timer(10ms, [&] { second = true; });
  loop.run();
  CHECK(second);
}

TEST_CASE("on_signal delivers SIGINT/SIGTERM on the loop; the handler keeps run() alive") {
  EventLoop loop;
  std::vector<int> got;
  loop.on_signal([&](int signo) {
    got.push_back(signo);
    if (got.size() == 2) {
      loop.on_signal({}); // removing the handler lets run() return by itself
    }
  });
  loop.post([] { ::raise(SIGTERM); });
  loop.add_timer(50ms, [] { ::raise(SIGINT); });
  const auto t0 = Clock::now();
  loop.run();
  CHECK(got == std::vector<int>{SIGTERM, SIGINT});
  CHECK(Clock::now() - t0 < 5s);
}

TEST_CASE("on_signal with stop()") {
  EventLoop loop;
  int got = 0;
  loop.on_signal([&](int) { loop.stop(); });
  loop.on_signal([&](int signo) { // replaces the first handler
    got = signo;
    loop.stop();
  });
  loop.post([] { ::raise(SIGINT); });
  loop.run();
  CHECK(got == SIGINT);
}
