#pragma once
/// File helpers. Reports and history are written atomically: a temp file in
/// the same directory, fsync, then rename, so a reader never sees half a file.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace offload {

/// Whole file, or nullopt (with *error set to "path: reason") if it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string* error = nullptr);
/// Write atomically; returns "" or an error message naming the path.
std::string write_file_atomic(const std::string& path, std::string_view data);
/// Receives the next bytes of a file being written.
using ByteSink = std::function<void(std::string_view)>;
/// The same for a file too big to hold in memory: `produce` writes it in
/// pieces through the sink it is given (after a write error, further pieces
/// are dropped and the error is returned).
std::string write_file_atomic_streamed(const std::string& path, const std::function<void(const ByteSink&)>& produce);
/// mkdir -p; returns "" or an error message.
std::string make_dirs(const std::string& path);

} // namespace offload
