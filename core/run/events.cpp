#include "run/events.hpp"

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace offload {

EventStream::EventStream(const std::string& path) : m_start(std::chrono::steady_clock::now()) {
  if (path.empty()) return;
  if (path == "-") {
    m_file = stdout;
    return;
  }
  m_file = std::fopen(path.c_str(), "w");
  if (!m_file) {
    m_error = path + ": " + std::strerror(errno);
    return;
  }
  m_owned = true;
}

EventStream::~EventStream() {
  if (m_owned && m_file) std::fclose(m_file);
}

void EventStream::emit(const std::string& event, const nlohmann::json& fields) {
  if (!m_file) return;
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["v"] = 1;
  j["event"] = event;
  j["t"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) j[k] = v;
  }
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), m_file);
  std::fflush(m_file);
}

} // namespace offload
