#pragma once
/// A provider plugin instance, wrapped for core. Completions from the plugin
/// (any thread, possibly inside the call) are re-posted to the EventLoop, so
/// core callbacks always run on the loop thread and never re-entrantly. A
/// plugin that completes an operation twice is reported, and the second
/// completion is dropped.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <offload/plugin.h>

#include "plugin/framework.hpp"

namespace offload {

class EventLoop;
struct LoadedLibrary;

struct ExecOutcome {
  offload_status status = OFFLOAD_OK; ///< not OK: the sandbox could not run the command
  std::string message;
  int exit_code = -1;
  int term_signal = 0;
  bool timed_out = false;
  uint64_t duration_ms = 0;
  bool framework_error = false; ///< set by core: the framework could not build the command (not the sandbox's fault)
};

class ProviderInstance {
public:
  using StatusCb = std::function<void(offload_status, std::string message)>;
  using PrepareCb = std::function<void(offload_status, std::string image_id, std::string message)>;
  using CreateCb = std::function<void(offload_status, offload_sandbox*, std::string sandbox_id, std::string message)>;
  using ExecCb = std::function<void(ExecOutcome)>;

  ProviderInstance(std::shared_ptr<LoadedLibrary> lib, offload_provider* p, std::string plugin_name, EventLoop& loop);
  ~ProviderInstance();
  ProviderInstance(const ProviderInstance&) = delete;
  ProviderInstance& operator=(const ProviderInstance&) = delete;

  struct PrepareSpec {
    bool no_cache = false;
    std::vector<std::string> copy_dirs;
    std::string base_image_id, patch_file, context_dir, sandbox_init_cmd, post_patch_cmd;
  };
  offload_op_id prepare(const PrepareSpec& spec, PrepareCb done);
  /// True when the plugin builds images (prepare is not NULL).
  bool has_prepare() const;
  offload_op_id create(unsigned index, const std::string& image_id,
                       const std::vector<std::pair<std::string, std::string>>& env, CreateCb done);
  offload_op_id exec(offload_sandbox* sb, const CommandSpec& cmd, const std::string& stdout_path,
                     const std::string& stderr_path, uint64_t timeout_ms, ExecCb done);
  offload_op_id download(offload_sandbox* sb, const std::vector<std::pair<std::string, std::string>>& remote_local,
                         StatusCb done);
  offload_op_id destroy(offload_sandbox* sb, StatusCb done);
  void cancel(offload_op_id op);
  std::string project_dir() const;
  const std::string& plugin_name() const { return m_name; }
  /// Contract violations seen so far ("completed operation 7 twice").
  std::vector<std::string> misbehaviour() const;

  struct Pending;

private:
  offload_op_id call(const std::shared_ptr<Pending>& pending, const std::function<offload_op_id()>& f,
                     const std::function<void(std::string)>& fail);
  std::shared_ptr<LoadedLibrary> m_lib;
  offload_provider* m_p;
  std::string m_name;
  EventLoop& m_loop;
  std::vector<std::shared_ptr<Pending>> m_pending; ///< completion contexts, kept until destruction
  std::shared_ptr<std::vector<std::string>> m_misbehaviour;
};

/// "" when the instance's table covers every function the host calls, else
/// why it does not (the host then refuses the instance).
std::string check_provider_table(const offload_provider* p);

} // namespace offload
