#pragma once
/// The plugin host: finds plugin libraries, loads them through the C ABI,
/// refuses broken ones with a reason, and hands out framework and provider
/// instances wrapped in C++ (plugin/framework.hpp, plugin/provider.hpp).
#include <memory>
#include <string>
#include <vector>

#include <offload/plugin.h>

namespace offload {

class EventLoop;
class ProcessRunner;
class FrameworkInstance;
class ProviderInstance;
struct LoadedLibrary;

/// The services offered to plugins (offload_host + its extensions).
/// Lives as long as any plugin may call it.
class HostServices {
public:
  HostServices(EventLoop& loop, ProcessRunner& runner);
  ~HostServices();
  const offload_host* raw() const;
  EventLoop& loop();
  ProcessRunner& runner();

  struct Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

struct PluginInfo {
  std::string path;
  std::string id;
  std::string version;
  std::string description;
  std::vector<std::string> frameworks; ///< framework types offered
  std::vector<std::string> providers;  ///< provider types offered
};

struct PluginLoadError {
  std::string path;
  std::string reason;
  std::string str() const { return path + ": " + reason; }
};

/// Directories searched for plugins, in order: --plugin-dir values,
/// OFFLOAD_PLUGIN_PATH (':'-separated), then <exe>/../lib/offload/plugins.
std::vector<std::string> plugin_search_dirs(const std::vector<std::string>& cli_dirs);

class PluginManager {
public:
  explicit PluginManager(HostServices& host);
  ~PluginManager(); ///< deinit + unload; every instance must be gone first

  /// Load every lib*.so in the directories. A type offered by two plugins
  /// goes to the first one found (earlier directory wins). Never throws.
  void scan(const std::vector<std::string>& dirs);
  /// Load one library file; false (and an entry in errors()) if refused.
  bool load(const std::string& path);

  const std::vector<PluginInfo>& plugins() const { return m_infos; }
  const std::vector<PluginLoadError>& errors() const { return m_errors; }

  /// nullptr and *error set when no plugin offers the type or creation failed.
  std::unique_ptr<FrameworkInstance> create_framework(const std::string& type, const std::string& config_json,
                                                      std::string* error);
  std::unique_ptr<ProviderInstance> create_provider(const std::string& type, const std::string& config_json,
                                                    const std::string& offload_json, const std::string& config_dir,
                                                    const std::string& output_dir, std::string* error);

private:
  std::string missing_type_message(const std::string& kind, const std::string& type) const;
  HostServices& m_host;
  std::vector<std::shared_ptr<LoadedLibrary>> m_libs;
  std::vector<PluginInfo> m_infos;
  std::vector<PluginLoadError> m_errors;
};

} // namespace offload
