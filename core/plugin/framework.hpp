#pragma once
/// A framework plugin instance, wrapped for core: C sinks in, C++ values out.
/// Every call returns an error string ("" on success) that names the plugin.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <offload/plugin.h>

#include "run/outcome.hpp"

namespace offload {

struct LoadedLibrary;

struct CommandSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd; ///< empty: provider's project root
};

struct DiscoveredTest {
  std::string id;
  std::string name;
  std::string file;
  int line = 0;
};

struct ReportedResult {
  std::string id;
  AttemptStatus status = AttemptStatus::Passed;
  double duration_secs = 0;
  std::string message, type, text, system_out, system_err, name, classname;
  unsigned attempt = 0; ///< 0: ran once; N >= 1: attempt N of an in-process rerun (ABI 1.1)
};

struct DiscoverOutputView {
  int exit_code = 0;
  int term_signal = 0;
  std::string out, err;
};

struct RunOutputView {
  const std::vector<std::string>* ids = nullptr;
  int exit_code = 0;
  int term_signal = 0;
  bool timed_out = false;
  bool result_present = false;
  std::string result;
  std::string stdout_path, stderr_path, project_dir;
  unsigned in_process_retries = 0; ///< what the batch's command was granted
};

class FrameworkInstance {
public:
  FrameworkInstance(std::shared_ptr<LoadedLibrary> lib, offload_framework* fw, std::string plugin_name);
  ~FrameworkInstance();
  FrameworkInstance(const FrameworkInstance&) = delete;
  FrameworkInstance& operator=(const FrameworkInstance&) = delete;

  std::string discover_command(const std::string& group, const std::string& filters, const std::string& project_dir,
                               CommandSpec* out);
  std::string parse_discovery(const std::string& group, const std::string& filters, const std::string& project_dir,
                              const DiscoverOutputView& output, std::vector<DiscoveredTest>* tests);
  /// in_process_retries: how often the command may rerun a failed test in its own process (ABI 1.1).
  std::string run_command(const std::vector<std::string>& ids, const std::string& result_path, bool fail_fast,
                          unsigned batch_index, const std::string& project_dir, unsigned in_process_retries,
                          CommandSpec* out);
  std::string parse_results(const RunOutputView& output, std::vector<ReportedResult>* results);
  const std::string& plugin_name() const { return m_name; }
  /// The plugin declared OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES (ABI 1.1).
  bool in_process_retries() const {
    return OFFLOAD_HAS_FIELD(m_fw, offload_framework, capabilities) &&
           (m_fw->capabilities & OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES) != 0;
  }
  /// Contract violations seen so far ("plugin X misbehaved: ...").
  std::vector<std::string> misbehaviour() const;

private:
  void misbehaved(const std::string& what);
  std::shared_ptr<LoadedLibrary> m_lib;
  offload_framework* m_fw;
  std::string m_name;
  std::vector<std::string> m_misbehaviour;
};

/// "" when the instance's table covers every function the host calls, else
/// why it does not (the host then refuses the instance).
std::string check_framework_table(const offload_framework* fw);

} // namespace offload
