#pragma once
/// Small string helpers shared by every part of core.
#include <string>
#include <string_view>
#include <vector>

namespace offload {

std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
/// Split on '\n', dropping a trailing '\r' from each line.
std::vector<std::string> split_lines(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string replace_all(std::string s, std::string_view from, std::string_view to);

} // namespace offload
