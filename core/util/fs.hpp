#pragma once
/// File helpers. Reports and history are written atomically: a temp file in
/// the same directory, fsync, then rename, so a reader never sees half a file.
#include <optional>
#include <string>
#include <string_view>

namespace offload {

/// Whole file, or nullopt (with *error set to "path: reason") if it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string* error = nullptr);
/// Write atomically; returns "" or an error message naming the path.
std::string write_file_atomic(const std::string& path, std::string_view data);
/// mkdir -p; returns "" or an error message.
std::string make_dirs(const std::string& path);

} // namespace offload
