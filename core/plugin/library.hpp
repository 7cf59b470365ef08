#pragma once
/// A loaded plugin library. Shared by every instance created from it, so the
/// code stays mapped until the last instance is gone.
#include <memory>
#include <string>

#include <offload/plugin.h>

namespace offload {

struct LoadedLibrary {
  std::string path;
  const offload_plugin_entry* entry = nullptr;
  bool initialised = false;
  std::shared_ptr<void> handle; ///< type-erased boost::dll::shared_library
  ~LoadedLibrary();
};

} // namespace offload
