#pragma once
/// plugins/default offers two things from one library: the `default`
/// framework (shell-command test runners) and the `default` provider
/// (shell-command sandbox lifecycles).
#include <memory>
#include <string>

#include <offload/plugin.hpp>

namespace offload::default_plugin {

std::unique_ptr<offload::plugin::Framework> make_framework(const std::string& config_json);

} // namespace offload::default_plugin
