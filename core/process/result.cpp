#include "process/runner.hpp"

#include <csignal>
#include <string>

namespace offload {

namespace {

const char* signal_name(int signo) {
  switch (signo) {
  case SIGHUP: return "SIGHUP";
  case SIGINT: return "SIGINT";
  case SIGQUIT: return "SIGQUIT";
  case SIGILL: return "SIGILL";
  case SIGTRAP: return "SIGTRAP";
  case SIGABRT: return "SIGABRT";
  case SIGBUS: return "SIGBUS";
  case SIGFPE: return "SIGFPE";
  case SIGKILL: return "SIGKILL";
  case SIGUSR1: return "SIGUSR1";
  case SIGSEGV: return "SIGSEGV";
  case SIGUSR2: return "SIGUSR2";
  case SIGPIPE: return "SIGPIPE";
  case SIGALRM: return "SIGALRM";
  case SIGTERM: return "SIGTERM";
  case SIGCHLD: return "SIGCHLD";
  case SIGCONT: return "SIGCONT";
  case SIGSTOP: return "SIGSTOP";
  case SIGTSTP: return "SIGTSTP";
  case SIGTTIN: return "SIGTTIN";
  case SIGTTOU: return "SIGTTOU";
  case SIGXCPU: return "SIGXCPU";
  case SIGXFSZ: return "SIGXFSZ";
  case SIGSYS: return "SIGSYS";
  default: return nullptr;
  }
}

/// "5s", "1.5s", "250ms".
std::string format_duration(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms < 1000) {
    return std::to_string(ms) + "ms";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  std::string frac = std::to_string(ms % 1000);
  frac.insert(0, 3 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') {
    frac.pop_back();
  }
  return std::to_string(ms / 1000) + "." + frac + "s";
}

} // namespace

std::string ProcessResult::describe() const {
  if (!spawn_error.empty()) {
    return "failed to start: " + spawn_error;
  }
  if (cancelled) {
    return "cancelled";
  }
  if (timed_out) {
    return "timed out after " + format_duration(timeout.count() > 0 ? timeout : duration);
  }
  if (signal != 0) {
    const char* name = signal_name(signal);
    return "killed by signal " + std::to_string(signal) + (name != nullptr ? std::string(" (") + name + ")" : "");
  }
  return "exit code " + std::to_string(exit_code);
}

} // namespace offload
