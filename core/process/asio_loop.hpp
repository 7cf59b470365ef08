#pragma once
/// The Asio side of EventLoop, for the few files that need the io_context
/// (the process runner, plugin services that wait on descriptors). Everything
/// else talks to EventLoop through event_loop.hpp and never sees Asio.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "process/event_loop.hpp"

namespace offload {

struct EventLoop::Impl {
  /// Concurrency hint 1: one thread runs the loop; post() from other threads
  /// still locks, so it stays safe.
  boost::asio::io_context ctx{1};
  /// Pending timers by id. A timer in this map is outstanding work for ctx.
  std::unordered_map<uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers;
  uint64_t next_timer_id = 1;
  /// SIGINT/SIGTERM watcher, created by the first on_signal(); its pending
  /// wait keeps run() alive until stop() (or until on_signal({}) removes it).
  std::unique_ptr<boost::asio::signal_set> signals;
  std::function<void(int)> signal_handler;

  /// Arm the next signal wait (loop thread).
  void wait_signal();
};

} // namespace offload
