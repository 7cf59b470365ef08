#pragma once
/// POSIX shell quoting. Test IDs are data: whatever bytes they hold (spaces,
/// quotes, $(), backticks, newlines) must reach the test runner unchanged and
/// never be executed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offload {

/// 'single-quoted' form of s; embedded ' becomes '\''. Plain words
/// ([A-Za-z0-9_./:=@%+,-]) are returned unquoted. The empty string is ''.
std::string shell_quote(std::string_view s);
/// Each argument quoted, joined by spaces.
std::string shell_join(const std::vector<std::string>& argv);
/// Split a command line the way sh would split words (quotes, backslashes),
/// without expansion. nullopt on an unterminated quote.
std::optional<std::vector<std::string>> shell_split(std::string_view s);

} // namespace offload
