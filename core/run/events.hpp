#pragma once
/// `offload run --events FILE` (or `-` for stdout): a newline-delimited JSON
/// stream for tools. Every line is an object with "v" (schema version, 1),
/// "event", and "t" (seconds since the run started). Events, in order:
///   run_started {config, parallel}
///   test_discovered {id, group, file?}            (one per test)
///   batch_started {batch, sandbox, tests}
///   attempt_finished {id, status, duration, batch, sandbox, message?, cause?}
///   batch_finished {batch, outcome}
///   test_finished {id, group, outcome, cause, attempts}
///   run_finished {total, passed, failed, flaky, skipped, not_run, exit_code, duration}
/// Schema documented in docs/results.md; new fields may be added, none removed.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "run/outcome.hpp"

namespace offload {

class EventStream {
public:
  /// Empty path: disabled. "-": stdout. Otherwise the file is truncated.
  explicit EventStream(const std::string& path);
  ~EventStream();
  bool enabled() const { return m_file != nullptr; }
  std::string error() const { return m_error; }
  /// Write one event; `fields` is a JSON object (may be empty).
  void emit(const std::string& event, const nlohmann::json& fields);

private:
  FILE* m_file = nullptr;
  bool m_owned = false;
  std::string m_error;
  std::chrono::steady_clock::time_point m_start;
};

} // namespace offload
