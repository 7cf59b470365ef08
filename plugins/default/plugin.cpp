/// Entry point of liboffload_default.so.
#include "default_plugin.hpp"

OFFLOAD_PLUGIN("dev.offload.default", "0.1.0", "Custom shell-command framework and provider",
               [](offload::plugin::Registry& r) {
                 r.add_framework("default", [](const offload::plugin::Host&, const std::string&,
                                               const std::string& json) {
                   return offload::default_plugin::make_framework(json);
                 });
               })
