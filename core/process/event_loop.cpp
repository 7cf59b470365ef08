#include "process/asio_loop.hpp"

#include <boost/asio/post.hpp>

#include <csignal>

namespace offload {

EventLoop::EventLoop() : m_impl(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() {
  // Timers and the signal set must go before the io_context they belong to.
  m_impl->timers.clear();
  m_impl->signals.reset();
}

void EventLoop::post(std::function<void()> fn) {
  boost::asio::post(m_impl->ctx, std::move(fn));
}

uint64_t EventLoop::add_timer(std::chrono::milliseconds delay, std::function<void()> fn) {
  Impl& impl = *m_impl;
  const uint64_t id = impl.next_timer_id++;
  auto timer = std::make_unique<boost::asio::steady_timer>(impl.ctx, delay);
  timer->async_wait([&impl, id, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec) {
      return; // cancelled: the map entry is already gone
    }
    auto it = impl.timers.find(id);
    if (it == impl.timers.end()) {
      return;
    }
    impl.timers.erase(it);
    fn();
  });
  impl.timers.emplace(id, std::move(timer));
  return id;
}

void EventLoop::cancel_timer(uint64_t id) {
  auto it = m_impl->timers.find(id);
  if (it == m_impl->timers.end()) {
    return;
  }
  // Destroying the timer cancels its wait; the handler sees operation_aborted.
  m_impl->timers.erase(it);
}

void EventLoop::Impl::wait_signal() {
  if (!signals) {
    return;
  }
  signals->async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) {
      return; // cancelled by on_signal({}) or destruction
    }
    // Re-arm first so a handler that removes itself wins.
    wait_signal();
    if (signal_handler) {
      signal_handler(signo);
    }
  });
}

void EventLoop::on_signal(std::function<void(int)> fn) {
  Impl& impl = *m_impl;
  if (!fn) {
    impl.signal_handler = nullptr;
    if (impl.signals) {
      boost::system::error_code ignored;
      impl.signals->cancel(ignored);
      impl.signals.reset();
    }
    return;
  }
  impl.signal_handler = std::move(fn);
  if (!impl.signals) {
    impl.signals = std::make_unique<boost::asio::signal_set>(impl.ctx, SIGINT, SIGTERM);
    impl.wait_signal();
  }
}

void EventLoop::run() {
  m_impl->ctx.run();
  // run() leaves the context stopped (out of work or stop()); make the next
  // run() work again.
  m_impl->ctx.restart();
}

void EventLoop::stop() {
  m_impl->ctx.stop();
}

} // namespace offload
