#include "util/fs.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace offload {

std::optional<std::string> read_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) {
      *error = path + ": " + std::strerror(errno);
    }
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::string write_file_atomic_streamed(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  namespace fs = std::filesystem;
  fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return tmp + ": " + std::strerror(errno);
  }
  std::string err;
  produce([&](std::string_view data) {
    while (err.empty() && !data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno != EINTR) {
          err = tmp + ": " + std::strerror(errno);
        }
        continue;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  });
  if (err.empty()) {
    ::fsync(fd);
  }
  ::close(fd);
  if (err.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = path + ": " + std::strerror(errno);
  }
  if (!err.empty()) {
    ::unlink(tmp.c_str());
  }
  return err;
}

std::string write_file_atomic(const std::string& path, std::string_view data) {
  return write_file_atomic_streamed(path, [&](const ByteSink& write) { write(data); });
}

std::string make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return path + ": " + ec.message();
  }
  return {};
}

} // namespace offload
