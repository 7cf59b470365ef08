#pragma once
/// Discovery: one local run of the framework's listing command per group,
/// all groups concurrently (bounded), results in group order.
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "plugin/framework.hpp"

namespace offload {

class ProcessRunner;

struct GroupDiscovery {
  std::string group;
  std::vector<DiscoveredTest> tests;
  std::string error;         ///< non-empty: discovery of this group failed
  double duration_secs = 0;  ///< wall time of the listing command (a measure of framework start-up)
  std::vector<std::string> warnings;
};

/// Starts discovery of every group; calls done once, on the loop thread,
/// when all groups finished. project_dir is the local directory it runs in.
void discover_groups(ProcessRunner& runner, FrameworkInstance& framework, const Config& config,
                     const std::string& project_dir, int max_concurrent,
                     std::function<void(std::vector<GroupDiscovery>)> done);

} // namespace offload
