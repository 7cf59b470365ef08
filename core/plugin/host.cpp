#include "plugin/host.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "plugin/framework.hpp"
#include "plugin/library.hpp"
#include "plugin/provider.hpp"
#include "process/event_loop.hpp"
#include "process/runner.hpp"
#include "report/junit_abi.hpp"
#include "util/strings.hpp"

namespace offload {

LoadedLibrary::~LoadedLibrary() {
  if (initialised && entry && entry->deinit) {
    entry->deinit();
  }
}

// ---------------------------------------------------------------------------
// Host services
// ---------------------------------------------------------------------------

struct HostServices::Impl {
  EventLoop& loop;
  ProcessRunner& runner;
  offload_host host{};
  offload_host_log log{};
  offload_host_process process{};
  offload_host_junit junit{};
};

namespace {

HostServices::Impl& impl_of(const offload_host* h) { return *static_cast<HostServices::Impl*>(h->host_data); }

void host_log(const offload_host*, offload_log_level level, const char* msg) {
  const char* m = msg ? msg : "";
  switch (level) {
  case OFFLOAD_LOG_DEBUG: spdlog::debug("{}", m); break;
  case OFFLOAD_LOG_INFO: spdlog::info("{}", m); break;
  case OFFLOAD_LOG_WARN: spdlog::warn("{}", m); break;
  default: spdlog::error("{}", m); break;
  }
}

offload_op_id host_spawn(const offload_host* h, const offload_process_spec* spec, const offload_process_callbacks* cb) {
  auto& impl = impl_of(h);
  ProcessSpec ps;
  for (size_t i = 0; i < spec->argc; ++i) {
    ps.argv.emplace_back(spec->argv[i] ? spec->argv[i] : "");
  }
  for (size_t i = 0; i < spec->env_count; ++i) {
    ps.env.emplace_back(spec->env[i].name ? spec->env[i].name : "", spec->env[i].value ? spec->env[i].value : "");
  }
  if (spec->cwd) ps.cwd = spec->cwd;
  if (spec->stdout_path) ps.stdout_path = spec->stdout_path;
  if (spec->stderr_path) ps.stderr_path = spec->stderr_path;
  ps.append = spec->append != 0;
  ps.timeout = std::chrono::milliseconds(spec->timeout_ms);
  ps.capture_limit = spec->capture_limit;
  if (OFFLOAD_HAS_FIELD(spec, offload_process_spec, stdin_size) && spec->stdin_data) {
    ps.stdin_data.assign(spec->stdin_data, spec->stdin_size);
  }
  offload_process_callbacks c = *cb;
  ProcessRunner::Output on_output;
  if (c.on_output) {
    on_output = [c](int stream, std::string_view data) { c.on_output(c.ctx, stream, data.data(), data.size()); };
  }
  return impl.runner.spawn(std::move(ps), [c](ProcessResult r) {
    if (!r.spawn_error.empty()) {
      c.on_exit(c.ctx, OFFLOAD_E_IO, nullptr, r.spawn_error.c_str());
      return;
    }
    std::string desc = r.describe();
    offload_process_result res{};
    res.struct_size = sizeof res;
    res.exit_code = r.exit_code;
    res.term_signal = r.signal;
    res.timed_out = r.timed_out ? 1 : 0;
    res.cancelled = r.cancelled ? 1 : 0;
    res.duration_ms = static_cast<uint64_t>(r.duration.count());
    res.out = {r.out.data(), r.out.size()};
    res.err = {r.err.data(), r.err.size()};
    res.describe = desc.c_str();
    c.on_exit(c.ctx, OFFLOAD_OK, &res, nullptr);
  }, std::move(on_output));
}

void host_cancel(const offload_host* h, offload_op_id id) { impl_of(h).runner.cancel(id); }

offload_status host_junit_parse(const offload_host*, offload_bytes xml, void* ctx,
                                void (*on_case)(void*, const offload_junit_case*), const offload_error_sink* err) {
  return parse_junit_abi(xml, ctx, on_case, err);
}

const void* host_get_extension(const offload_host* h, const char* id) {
  if (!id) return nullptr;
  auto& impl = impl_of(h);
  std::string_view s(id);
  if (s == OFFLOAD_HOST_LOG_ID) return &impl.log;
  if (s == OFFLOAD_HOST_PROCESS_ID) return &impl.process;
  if (s == OFFLOAD_HOST_JUNIT_ID) return &impl.junit;
  return nullptr;
}

} // namespace

HostServices::HostServices(EventLoop& loop, ProcessRunner& runner) : m_impl(new Impl{loop, runner}) {
  auto& i = *m_impl;
  i.host.struct_size = sizeof i.host;
  i.host.abi_major = OFFLOAD_ABI_MAJOR;
  i.host.abi_minor = OFFLOAD_ABI_MINOR;
  i.host.host_version = OFFLOAD_VERSION;
  i.host.host_data = m_impl.get();
  i.host.get_extension = host_get_extension;
  i.log = {sizeof i.log, host_log};
  i.process = {sizeof i.process, host_spawn, host_cancel};
  i.junit = {sizeof i.junit, host_junit_parse};
}
HostServices::~HostServices() = default;
const offload_host* HostServices::raw() const { return &m_impl->host; }
EventLoop& HostServices::loop() { return m_impl->loop; }
ProcessRunner& HostServices::runner() { return m_impl->runner; }

// ---------------------------------------------------------------------------
// Search and loading
// ---------------------------------------------------------------------------

std::vector<std::string> plugin_search_dirs(const std::vector<std::string>& cli_dirs) {
  std::vector<std::string> dirs = cli_dirs;
  if (const char* env = std::getenv("OFFLOAD_PLUGIN_PATH")) {
    for (auto& d : split(env, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  boost::system::error_code ec;
  auto exe = boost::dll::program_location(ec);
  if (!ec) {
    auto dir = exe.parent_path().parent_path() / "lib" / "offload" / "plugins";
    dirs.push_back(dir.string());
  }
  return dirs;
}

namespace {
std::vector<std::string> split_types(const char* types) {
  std::vector<std::string> out;
  if (!types) return out;
  for (auto& t : split(types, ',')) {
    auto v = std::string(trim(t));
    if (!v.empty()) out.push_back(v);
  }
  return out;
}

struct ErrorText {
  std::string text;
  offload_error_sink sink{sizeof(offload_error_sink), this, [](const offload_error_sink* s, offload_status, const char* m) {
                            static_cast<ErrorText*>(s->ctx)->text = m ? m : "";
                          }};
};
} // namespace

PluginManager::PluginManager(HostServices& host) : m_host(host) {}
PluginManager::~PluginManager() = default;

void PluginManager::scan(const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  std::set<std::string> seen;
  for (auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      continue;
    }
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(dir, ec)) {
      auto name = e.path().filename().string();
      if (e.path().extension() == ".so" || e.path().extension() == ".dylib") {
        files.push_back(e.path().string());
      }
      (void)name;
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      auto canon = fs::weakly_canonical(f, ec).string();
      if (!seen.insert(canon).second) continue;
      load(f);
    }
  }
}

bool PluginManager::load(const std::string& path) {
  auto lib = std::make_shared<LoadedLibrary>();
  lib->path = path;
  offload_plugin_entry_fn entry_fn = nullptr;
  try {
    auto sl = std::make_shared<boost::dll::shared_library>(
        path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    if (!sl->has(OFFLOAD_ENTRY_SYMBOL)) {
      std::string reason = "not an offload plugin: no '" OFFLOAD_ENTRY_SYMBOL "' symbol";
      if (sl->has("offload_plugin_entry_v2") || sl->has("offload_plugin_entry_v0")) {
        reason = "built for another plugin ABI major version (this offload supports ABI 1)";
      }
      m_errors.push_back({path, reason});
      return false;
    }
    entry_fn = sl->get<const offload_plugin_entry*()>(OFFLOAD_ENTRY_SYMBOL);
    lib->handle = sl;
  } catch (const std::exception& e) {
    std::string what = e.what();
    // Boost appends a stale errno text ("Illegal seek"); keep dlerror's part.
    auto pos = what.find("(dlerror system message: ");
    if (pos != std::string::npos) {
      auto end = what.find(')', pos);
      what = what.substr(pos + 25, end == std::string::npos ? std::string::npos : end - pos - 25);
    }
    m_errors.push_back({path, "cannot load library: " + what});
    return false;
  }
  const offload_plugin_entry* entry = entry_fn ? entry_fn() : nullptr;
  if (!entry) {
    m_errors.push_back({path, OFFLOAD_ENTRY_SYMBOL "() returned NULL"});
    return false;
  }
  if (entry->struct_size < offsetof(offload_plugin_entry, get_factory) + sizeof(entry->get_factory)) {
    m_errors.push_back({path, "entry descriptor too small (struct_size " + std::to_string(entry->struct_size) + ")"});
    return false;
  }
  if (entry->abi_major != OFFLOAD_ABI_MAJOR) {
    m_errors.push_back({path, "built for plugin ABI " + std::to_string(entry->abi_major) + ", this offload supports ABI " +
                                  std::to_string(OFFLOAD_ABI_MAJOR)});
    return false;
  }
  if (!entry->init || !entry->get_factory) {
    m_errors.push_back({path, "entry descriptor lacks init or get_factory"});
    return false;
  }
  lib->entry = entry;
  ErrorText err;
  int32_t ok = 0;
  try {
    ok = entry->init(m_host.raw(), path.c_str(), &err.sink);
  } catch (...) {
    err.text = "a C++ exception escaped from init";
  }
  if (!ok) {
    m_errors.push_back({path, "init failed" + (err.text.empty() ? std::string() : ": " + err.text)});
    return false;
  }
  lib->initialised = true;

  PluginInfo info;
  info.path = path;
  info.id = entry->id ? entry->id : "";
  info.version = entry->version ? entry->version : "";
  info.description = entry->description ? entry->description : "";
  // Factory tables: the host reads `types` and calls `create`, so the table
  // must cover both; a short or incomplete table is refused, not read past.
  auto* ff = static_cast<const offload_framework_factory*>(entry->get_factory(OFFLOAD_FRAMEWORK_FACTORY_ID));
  if (ff && (!OFFLOAD_HAS_FIELD(ff, offload_framework_factory, create) || !ff->create)) {
    m_errors.push_back({path, "framework factory table too small or without create (struct_size " +
                                  std::to_string(ff->struct_size) + ")"});
    return false;
  }
  if (ff) info.frameworks = split_types(ff->types);
  auto* pf = static_cast<const offload_provider_factory*>(entry->get_factory(OFFLOAD_PROVIDER_FACTORY_ID));
  if (pf && (!OFFLOAD_HAS_FIELD(pf, offload_provider_factory, create) || !pf->create)) {
    m_errors.push_back({path, "provider factory table too small or without create (struct_size " +
                                  std::to_string(pf->struct_size) + ")"});
    return false;
  }
  if (pf) info.providers = split_types(pf->types);
  for (auto& other : m_infos) {
    if (other.id == info.id && !info.id.empty()) {
      m_errors.push_back({path, "plugin id '" + info.id + "' already loaded from " + other.path + " (ignored)"});
      return false;
    }
  }
  m_libs.push_back(lib);
  m_infos.push_back(std::move(info));
  return true;
}

std::string PluginManager::missing_type_message(const std::string& kind, const std::string& type) const {
  std::string msg = "no plugin offers " + kind + " type '" + type + "'";
  std::vector<std::string> offered;
  for (auto& i : m_infos) {
    for (auto& t : kind == "framework" ? i.frameworks : i.providers) offered.push_back(t);
  }
  msg += offered.empty() ? " (no plugins found)" : " (available: " + join(offered, ", ") + ")";
  for (auto& e : m_errors) {
    msg += "\n  refused plugin " + e.str();
  }
  return msg;
}

std::unique_ptr<FrameworkInstance> PluginManager::create_framework(const std::string& type, const std::string& config_json,
                                                                   std::string* error) {
  for (size_t i = 0; i < m_infos.size(); ++i) {
    auto& info = m_infos[i];
    if (std::find(info.frameworks.begin(), info.frameworks.end(), type) == info.frameworks.end()) continue;
    auto* factory = static_cast<const offload_framework_factory*>(m_libs[i]->entry->get_factory(OFFLOAD_FRAMEWORK_FACTORY_ID));
    ErrorText err;
    std::string name = info.id.empty() ? info.path : info.id;
    offload_framework* fw = nullptr;
    try {
      fw = factory->create(m_host.raw(), type.c_str(), config_json.c_str(), &err.sink);
    } catch (...) {
      err.text = "plugin " + name + " misbehaved: a C++ exception escaped from create";
    }
    if (!fw) {
      *error = "framework '" + type + "' (" + info.path + "): " + (err.text.empty() ? "create failed" : err.text);
      return nullptr;
    }
    auto bad = check_framework_table(fw);
    if (!bad.empty()) {
      // Refused: call destroy only if the table reaches it.
      if (OFFLOAD_HAS_FIELD(fw, offload_framework, destroy) && fw->destroy) fw->destroy(fw);
      *error = "framework '" + type + "' (" + info.path + "): plugin " + name + " misbehaved: " + bad;
      return nullptr;
    }
    return std::make_unique<FrameworkInstance>(m_libs[i], fw, name);
  }
  *error = missing_type_message("framework", type);
  return nullptr;
}

std::unique_ptr<ProviderInstance> PluginManager::create_provider(const std::string& type, const std::string& config_json,
                                                                 const std::string& offload_json,
                                                                 const std::string& config_dir,
                                                                 const std::string& output_dir, std::string* error) {
  for (size_t i = 0; i < m_infos.size(); ++i) {
    auto& info = m_infos[i];
    if (std::find(info.providers.begin(), info.providers.end(), type) == info.providers.end()) continue;
    auto* factory = static_cast<const offload_provider_factory*>(m_libs[i]->entry->get_factory(OFFLOAD_PROVIDER_FACTORY_ID));
    offload_provider_config cfg{};
    cfg.struct_size = sizeof cfg;
    cfg.type = type.c_str();
    cfg.config_json = config_json.c_str();
    cfg.offload_json = offload_json.c_str();
    cfg.config_dir = config_dir.c_str();
    cfg.output_dir = output_dir.c_str();
    ErrorText err;
    std::string name = info.id.empty() ? info.path : info.id;
    offload_provider* p = nullptr;
    try {
      p = factory->create(m_host.raw(), &cfg, &err.sink);
    } catch (...) {
      err.text = "plugin " + name + " misbehaved: a C++ exception escaped from create";
    }
    if (!p) {
      *error = "provider '" + type + "' (" + info.path + "): " + (err.text.empty() ? "create failed" : err.text);
      return nullptr;
    }
    auto bad = check_provider_table(p);
    if (!bad.empty()) {
      if (OFFLOAD_HAS_FIELD(p, offload_provider, destroy) && p->destroy) p->destroy(p);
      *error = "provider '" + type + "' (" + info.path + "): plugin " + name + " misbehaved: " + bad;
      return nullptr;
    }
    return std::make_unique<ProviderInstance>(m_libs[i], p, name, m_host.loop());
  }
  *error = missing_type_message("provider", type);
  return nullptr;
}

} // namespace offload
