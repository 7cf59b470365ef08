/// Entry point of liboffload_default.so: the `default` framework and the
/// `default` provider from one library.
#include "default_plugin.hpp"

namespace offload::default_plugin {
/// Defined in default_provider.cpp.
std::unique_ptr<offload::plugin::Provider> make_provider(const offload::plugin::Host& host,
                                                         const offload::plugin::ProviderConfig& cfg);
} // namespace offload::default_plugin

OFFLOAD_PLUGIN("dev.offload.default", "0.1.0", "Custom shell-command framework and provider",
               [](offload::plugin::Registry& r) {
                 r.add_framework("default", [](const offload::plugin::Host&, const std::string&,
                                               const std::string& json) {
                   return offload::default_plugin::make_framework(json);
                 });
                 r.add_provider("default", [](const offload::plugin::Host& h, const offload::plugin::ProviderConfig& c) {
                   return offload::default_plugin::make_provider(h, c);
                 });
               })
