#pragma once
/// Chrome trace events (Perfetto loads them): `offload run --trace` writes
/// {output_dir}/trace.json. pid 0 is the local process (tid 0 main); sandbox
/// i is pid i+1. When disabled every call returns at once.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace offload {

class Trace {
public:
  explicit Trace(bool enabled);
  bool enabled() const { return m_enabled; }
  /// Microseconds since the trace started.
  int64_t now_us() const;
  void span(const std::string& name, const std::string& cat, int pid, int tid, int64_t start_us, int64_t dur_us,
            const std::string& args_json = "");
  void name_process(int pid, const std::string& name);
  void name_thread(int pid, int tid, const std::string& name);
  /// Write the JSON array; returns "" or an error.
  std::string write(const std::string& path) const;

private:
  bool m_enabled;
  std::chrono::steady_clock::time_point m_start;
  std::vector<std::string> m_events;
};

/// RAII span on pid 0 / tid 0.
class TraceScope {
public:
  TraceScope(Trace* t, std::string name, std::string cat = "local")
      : m_t(t), m_name(std::move(name)), m_cat(std::move(cat)), m_start(t ? t->now_us() : 0) {}
  ~TraceScope() {
    if (m_t && m_t->enabled()) m_t->span(m_name, m_cat, 0, 0, m_start, m_t->now_us() - m_start);
  }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

private:
  Trace* m_t;
  std::string m_name, m_cat;
  int64_t m_start;
};

} // namespace offload
