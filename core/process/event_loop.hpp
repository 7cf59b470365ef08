#pragma once
/// The one event loop of an offload run. Everything the orchestrator does
/// (process completions, plugin completions, timers, signals) is delivered as a
/// callback on the thread that calls run(). Asio stays out of this header so
/// that most of core compiles without it; process/asio_loop.hpp exposes the
/// io_context to the few files that need it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace offload {

class EventLoop {
public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Queue fn to run on the loop thread. Safe from any thread, including
  /// from inside a callback (fn then runs later, never re-entrantly).
  void post(std::function<void()> fn);

  /// Run fn after delay on the loop thread. Returns an id for cancel_timer.
  /// [loop thread only]
  uint64_t add_timer(std::chrono::milliseconds delay, std::function<void()> fn);
  /// Cancel a pending timer; a timer that already fired is ignored. [loop thread only]
  void cancel_timer(uint64_t id);

  /// Call fn(signo) on the loop thread for each SIGINT/SIGTERM received while
  /// the loop runs. Replaces any earlier handler; on_signal({}) removes it
  /// (and with it the work that keeps run() alive). [loop thread only]
  void on_signal(std::function<void(int)> fn);

  /// Run until stop() or until there is no more work (no timers, no processes,
  /// nothing posted, no signal handler). A signal handler keeps the loop alive,
  /// so callers that installed one must call stop() when done. Call from one
  /// thread only; run() may be called again after it returned.
  void run();
  /// Ask run() to return. Safe from any thread.
  void stop();

  struct Impl;
  Impl& impl() { return *m_impl; }

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace offload
