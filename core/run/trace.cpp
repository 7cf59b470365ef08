#include "run/trace.hpp"

#include <nlohmann/json.hpp>

#include "util/fs.hpp"

namespace offload {

Trace::Trace(bool enabled) : m_enabled(enabled), m_start(std::chrono::steady_clock::now()) {}

int64_t Trace::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - m_start).count();
}

void Trace::span(const std::string& name, const std::string& cat, int pid, int tid, int64_t start_us, int64_t dur_us,
                 const std::string& args_json) {
  if (!m_enabled) return;
  nlohmann::json e{{"name", name}, {"cat", cat}, {"ph", "X"}, {"ts", start_us}, {"dur", dur_us}, {"pid", pid}, {"tid", tid}};
  if (!args_json.empty()) e["args"] = nlohmann::json::parse(args_json, nullptr, false);
  m_events.push_back(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Trace::name_process(int pid, const std::string& name) {
  if (!m_enabled) return;
  nlohmann::json e{{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", name}}}};
  m_events.push_back(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Trace::name_thread(int pid, int tid, const std::string& name) {
  if (!m_enabled) return;
  nlohmann::json e{{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}};
  m_events.push_back(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string Trace::write(const std::string& path) const {
  std::string out = "[\n";
  for (size_t i = 0; i < m_events.size(); ++i) {
    out += m_events[i];
    out += i + 1 < m_events.size() ? ",\n" : "\n";
  }
  out += "]\n";
  return write_file_atomic(path, out);
}

} // namespace offload
