#pragma once
/// Bundled scripts: commands in offload.toml may name a script shipped inside
/// the offload binary as `@name.ext` (e.g. `sh @dir_sandbox.sh create {image_id}`).
/// Each reference is replaced by the path of the script, extracted once per
/// version into a per-user cache directory.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offload {

struct BundledScript {
  std::string_view name;
  std::string_view content;
};

/// Every script compiled in from scripts/bundled/ (generated source).
const std::vector<BundledScript>& bundled_scripts();

/// $XDG_CACHE_HOME/offload/scripts/<version>, else ~/.cache/offload/scripts/<version>.
std::string bundled_cache_dir();

/// Replace each `@name.ext` that starts the string or follows whitespace with
/// the extracted script's path. nullopt and *error ("unknown bundled script
/// '@x.sh' (bundled: a.sh, b.py)") when a name is not bundled or the cache
/// cannot be written. A string without references is returned unchanged.
std::optional<std::string> expand_bundled(const std::string& command, std::string* error);

} // namespace offload
