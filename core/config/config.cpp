/// load_config / parse_config: offload.toml -> Config.
///
/// Order of work: parse (syntax errors stop here) -> expand environment
/// references in EVERY string value of the document, wherever it sits
/// (commands, env tables, lists, group filters, paths; keys are not expanded)
/// -> read each section with type checks -> cross-field validation. Every
/// problem is collected; nothing stops at the first error. Unknown keys are
/// warnings. Provider and framework types other than the built-in ones are
/// third-party plugins: their tables are passed through as JSON unchecked.
#include "config/config.hpp"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "config/config_reader.hpp"
#include "util/fs.hpp"

namespace offload {
namespace {

using config_detail::dotted;
using config_detail::line_of;
using config_detail::Reader;
using config_detail::to_json;

bool is_builtin_provider(const std::string& type) {
  return type == "local" || type == "default" || type == "modal";
}

bool is_builtin_framework(const std::string& type) {
  return type == "pytest" || type == "nextest" || type == "vitest" || type == "default";
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

void read_offload(Reader& r, const toml::table& t, OffloadSection& o) {
  const std::string p = "offload";
  r.check_keys(t, p,
               {"max_parallel", "test_timeout_secs", "working_dir", "sandbox_repo_root", "sandbox_project_root",
                "sandbox_init_cmd", "post_patch_cmd", "max_parallel_collection", "impatiently_requeue_batches"});
  r.get_int(t, "max_parallel", p, o.max_parallel, 1);
  r.get_int(t, "test_timeout_secs", p, o.test_timeout_secs, 1);
  r.get_string(t, "working_dir", p, o.working_dir);
  r.get_string(t, "sandbox_repo_root", p, o.sandbox_repo_root);
  r.get_string(t, "sandbox_project_root", p, o.sandbox_project_root);
  r.get_string(t, "sandbox_init_cmd", p, o.sandbox_init_cmd);
  r.get_string(t, "post_patch_cmd", p, o.post_patch_cmd);
  r.get_int(t, "max_parallel_collection", p, o.max_parallel_collection, 0);
  r.get_bool(t, "impatiently_requeue_batches", p, o.impatiently_requeue_batches);
}

/// "local:remote" entries, split at the first ':'; both sides non-empty.
void read_copy_dirs(Reader& r, const toml::table& t, const std::string& p, std::vector<CopyDir>& out) {
  std::vector<std::string> entries;
  if (!r.get_string_list(t, "copy_dirs", p, entries)) {
    return;
  }
  const toml::array& arr = *t.get("copy_dirs")->as_array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    const size_t colon = e.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == e.size()) {
      r.error(line_of(*arr.get(i)), p + ".copy_dirs[" + std::to_string(i) + "]",
              "expected \"local:remote\", got \"" + e + "\"");
      continue;
    }
    out.push_back(CopyDir{e.substr(0, colon), e.substr(colon + 1)});
  }
}

void read_provider(Reader& r, const toml::table& t, ProviderSection& prov, bool& type_ok) {
  const std::string p = "provider";
  type_ok = false;
  if (!t.contains("type")) {
    r.require(t, "type", p);
  } else if (r.get_string(t, "type", p, prov.type)) {
    if (prov.type.empty()) {
      r.error(line_of(*t.get("type")), "provider.type", "must not be empty (local, default, modal, or a plugin's name)");
    } else {
      type_ok = true;
    }
  }
  nlohmann::json raw = to_json(t);
  if (!type_ok || !is_builtin_provider(prov.type)) {
    prov.raw_json = raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  const std::string context = " for provider type '" + prov.type + "'";
  if (prov.type == "local") {
    r.check_keys(t, p, {"type", "working_dir", "env", "shell"}, context);
    r.get_string(t, "working_dir", p, prov.working_dir);
    r.get_string_map(t, "env", p, prov.env);
    if (r.get_string(t, "shell", p, prov.shell) && prov.shell.empty()) {
      r.error(line_of(*t.get("shell")), "provider.shell", "must not be empty");
    }
    raw["shell"] = prov.shell;
    raw["env"] = prov.env;
  } else if (prov.type == "default") {
    r.check_keys(t, p,
                 {"type", "prepare_command", "create_command", "exec_command", "destroy_command", "download_command",
                  "working_dir", "timeout_secs", "copy_dirs", "env", "cpu_cores"},
                 context);
    r.get_string(t, "prepare_command", p, prov.prepare_command);
    for (auto [key, field] : {std::pair{"create_command", &prov.create_command},
                              std::pair{"exec_command", &prov.exec_command},
                              std::pair{"destroy_command", &prov.destroy_command}}) {
      if (!t.contains(key)) {
        r.require(t, key, p);
      } else if (r.get_string(t, key, p, *field) && field->empty()) {
        r.error(line_of(*t.get(key)), dotted(p, key), "must not be empty");
      }
    }
    if (!prov.exec_command.empty() && !contains(prov.exec_command, "{command}")) {
      r.warn(line_of(*t.get("exec_command")),
             "provider.exec_command has no {command} placeholder: the test command will not be passed to the sandbox");
    }
    r.get_string(t, "download_command", p, prov.download_command);
    r.get_string(t, "working_dir", p, prov.working_dir);
    r.get_int(t, "timeout_secs", p, prov.timeout_secs, 1);
    read_copy_dirs(r, t, p, prov.copy_dirs);
    r.get_string_map(t, "env", p, prov.env);
    r.get_positive_double(t, "cpu_cores", p, prov.cpu_cores);
    raw["timeout_secs"] = prov.timeout_secs;
    raw["env"] = prov.env;
    raw["cpu_cores"] = prov.cpu_cores;
    if (!raw.contains("copy_dirs")) {
      raw["copy_dirs"] = nlohmann::json::array();
    }
  } else { // modal
    prov.cpu_cores = 0.125;
    r.check_keys(t, p,
                 {"type", "dockerfile", "include_cwd", "copy_dirs", "env", "cpu_cores", "memory_gb",
                  "experimental_options"},
                 context);
    r.get_string(t, "dockerfile", p, prov.dockerfile);
    r.get_bool(t, "include_cwd", p, prov.include_cwd);
    read_copy_dirs(r, t, p, prov.copy_dirs);
    r.get_string_map(t, "env", p, prov.env);
    r.get_positive_double(t, "cpu_cores", p, prov.cpu_cores);
    double memory = 0.0;
    if (r.get_positive_double(t, "memory_gb", p, memory)) {
      prov.memory_gb = memory;
      raw["memory_gb"] = memory;
    }
    nlohmann::json options = nlohmann::json::object();
    if (const toml::table* opts = r.get_table(t, "experimental_options", p)) {
      options = to_json(*opts);
    }
    prov.experimental_options_json = options.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    raw["include_cwd"] = prov.include_cwd;
    raw["env"] = prov.env;
    raw["cpu_cores"] = prov.cpu_cores;
    raw["experimental_options"] = options;
    if (!raw.contains("copy_dirs")) {
      raw["copy_dirs"] = nlohmann::json::array();
    }
  }
  prov.raw_json = raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// test_id_format must name at least one JUnit attribute, or nothing matches.
void check_test_id_format(Reader& r, const toml::table& t, const FrameworkSection& f) {
  if (const toml::node* n = t.get("test_id_format"); n != nullptr && n->is_string()) {
    if (!contains(f.test_id_format, "{name}") && !contains(f.test_id_format, "{classname}")) {
      r.error(line_of(*n), "framework.test_id_format", "must contain {name} and/or {classname}, got \"" +
                                                           f.test_id_format + "\"");
    }
  }
}

void read_framework(Reader& r, const toml::table& t, FrameworkSection& f) {
  const std::string p = "framework";
  bool type_ok = false;
  if (!t.contains("type")) {
    r.require(t, "type", p);
  } else if (r.get_string(t, "type", p, f.type)) {
    if (f.type.empty()) {
      r.error(line_of(*t.get("type")), "framework.type",
              "must not be empty (pytest, nextest, vitest, default, or a plugin's name)");
    } else {
      type_ok = true;
    }
  }
  nlohmann::json raw = to_json(t);
  if (!type_ok || !is_builtin_framework(f.type)) {
    f.raw_json = raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  const std::string context = " for framework type '" + f.type + "'";
  if (f.type == "pytest") {
    f.command = "python -m pytest";
    f.test_id_format = "{name}";
    r.check_keys(t, p, {"type", "paths", "command", "run_args", "test_id_format"}, context);
    r.get_string_list(t, "paths", p, f.paths);
    r.get_string(t, "command", p, f.command);
    r.get_string(t, "run_args", p, f.run_args);
    r.get_string(t, "test_id_format", p, f.test_id_format);
    raw["command"] = f.command;
    raw["test_id_format"] = f.test_id_format;
  } else if (f.type == "nextest") {
    f.test_id_format = "{classname} {name}";
    r.check_keys(t, p, {"type", "package", "features", "bin", "include_ignored", "test_id_format"}, context);
    r.get_string(t, "package", p, f.package);
    r.get_string_list(t, "features", p, f.features);
    r.get_string(t, "bin", p, f.bin);
    r.get_bool(t, "include_ignored", p, f.include_ignored);
    r.get_string(t, "test_id_format", p, f.test_id_format);
    raw["features"] = f.features;
    raw["include_ignored"] = f.include_ignored;
    raw["test_id_format"] = f.test_id_format;
  } else if (f.type == "vitest") {
    f.command = "npx vitest";
    f.test_id_format = "{classname} > {name}";
    r.check_keys(t, p, {"type", "command", "run_args", "test_id_format"}, context);
    r.get_string(t, "command", p, f.command);
    r.get_string(t, "run_args", p, f.run_args);
    r.get_string(t, "test_id_format", p, f.test_id_format);
    raw["command"] = f.command;
    raw["test_id_format"] = f.test_id_format;
  } else { // default
    r.check_keys(t, p, {"type", "discover_command", "run_command", "result_file", "working_dir", "test_id_format"},
                 context);
    for (auto [key, field] : {std::pair{"discover_command", &f.discover_command},
                              std::pair{"run_command", &f.run_command},
                              std::pair{"test_id_format", &f.test_id_format}}) {
      if (!t.contains(key)) {
        r.require(t, key, p);
      } else if (r.get_string(t, key, p, *field) && field->empty()) {
        r.error(line_of(*t.get(key)), dotted(p, key), "must not be empty");
      }
    }
    if (!f.discover_command.empty() && !contains(f.discover_command, "{filters}")) {
      r.error(line_of(*t.get("discover_command")), "framework.discover_command",
              "must contain the {filters} placeholder");
    }
    if (!f.run_command.empty() && !contains(f.run_command, "{tests}")) {
      r.warn(line_of(*t.get("run_command")),
             "framework.run_command has no {tests} placeholder: every batch will run the same command");
    }
    r.get_string(t, "result_file", p, f.result_file);
    r.get_string(t, "working_dir", p, f.working_dir);
  }
  if (f.command.empty() && t.contains("command") && (f.type == "pytest" || f.type == "vitest")) {
    r.error(line_of(*t.get("command")), "framework.command", "must not be empty");
  }
  check_test_id_format(r, t, f);
  f.raw_json = raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void read_groups(Reader& r, const toml::table& root, std::vector<GroupSection>& groups) {
  const toml::node* node = root.get("groups");
  if (node == nullptr) {
    r.error(0, "groups", "at least one group is required (e.g. [groups.all])");
    return;
  }
  const toml::table* t = r.get_table(root, "groups", "");
  if (t == nullptr) {
    return;
  }
  if (t->empty()) {
    r.error(line_of(*t), "groups", "at least one group is required (e.g. [groups.all])");
    return;
  }
  std::vector<std::tuple<int, int, GroupSection>> found;
  for (auto&& [k, v] : *t) {
    const std::string p = dotted("groups", k.str());
    const toml::table* g = v.as_table();
    if (g == nullptr) {
      r.error(line_of(v), p, "expected a table, got " + std::string(config_detail::type_name(v)));
      continue;
    }
    GroupSection group;
    group.name = std::string(k.str());
    r.check_keys(*g, p, {"retry_count", "in_process_retries", "filters", "schedule_individual"});
    r.get_int(*g, "retry_count", p, group.retry_count, 0);
    if (r.get_int(*g, "in_process_retries", p, group.in_process_retries, 0) &&
        group.in_process_retries > group.retry_count) {
      r.error(line_of(*g->get("in_process_retries")), p + ".in_process_retries",
              std::to_string(group.in_process_retries) + " is more than retry_count (" +
                  std::to_string(group.retry_count) + "); in-process retries are part of retry_count");
    }
    r.get_string(*g, "filters", p, group.filters);
    r.get_bool(*g, "schedule_individual", p, group.schedule_individual);
    found.emplace_back(static_cast<int>(k.source().begin.line), static_cast<int>(k.source().begin.column),
                       std::move(group));
  }
  // toml++ keeps keys sorted; the spec runs groups in file order.
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  for (auto& entry : found) {
    groups.push_back(std::move(std::get<2>(entry)));
  }
}

void read_report(Reader& r, const toml::table& t, ReportSection& rep) {
  const std::string p = "report";
  r.check_keys(t, p, {"output_dir", "junit", "junit_file", "download_globs", "download_globs_failure_only"});
  if (r.get_string(t, "output_dir", p, rep.output_dir) && rep.output_dir.empty()) {
    r.error(line_of(*t.get("output_dir")), "report.output_dir", "must not be empty");
  }
  r.get_bool(t, "junit", p, rep.junit);
  if (r.get_string(t, "junit_file", p, rep.junit_file) && rep.junit_file.empty()) {
    r.error(line_of(*t.get("junit_file")), "report.junit_file", "must not be empty");
  }
  r.get_string_list(t, "download_globs", p, rep.download_globs);
  r.get_bool(t, "download_globs_failure_only", p, rep.download_globs_failure_only);
}

void read_history(Reader& r, const toml::table& t, HistorySection& h) {
  const std::string p = "history";
  r.check_keys(t, p, {"record_history", "path", "reservoir_size", "default_duration_secs"});
  if (r.get_string(t, "record_history", p, h.record_history) && h.record_history != "always" &&
      h.record_history != "flag") {
    r.error(line_of(*t.get("record_history")), "history.record_history",
            "expected \"always\" or \"flag\", got \"" + h.record_history + "\"");
  }
  if (r.get_string(t, "path", p, h.path) && h.path.empty()) {
    r.error(line_of(*t.get("path")), "history.path", "must not be empty");
  }
  r.get_int(t, "reservoir_size", p, h.reservoir_size, 1);
  r.get_positive_double(t, "default_duration_secs", p, h.default_duration_secs);
}

/// Both sandbox roots, or neither: one set copies it to the other (the
/// original's rule). Remote built-in providers need one of them.
void resolve_sandbox_roots(Reader& r, const toml::table& root, Config& c) {
  OffloadSection& o = c.offload;
  if (o.sandbox_repo_root && !o.sandbox_project_root) {
    o.sandbox_project_root = o.sandbox_repo_root;
  } else if (o.sandbox_project_root && !o.sandbox_repo_root) {
    o.sandbox_repo_root = o.sandbox_project_root;
  }
  if (o.sandbox_repo_root || (c.provider.type != "default" && c.provider.type != "modal")) {
    return;
  }
  const toml::node* section = root.get("offload");
  r.error(section != nullptr ? line_of(*section) : 0, "offload.sandbox_repo_root",
          "provider type '" + c.provider.type +
              "' needs offload.sandbox_repo_root or offload.sandbox_project_root (the repository's path inside "
              "the sandbox, e.g. \"/app\"); neither is set");
}

Config build(Reader& r, toml::table& root, const std::string& path) {
  Config c;
  c.path = path;
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(std::filesystem::path(path), ec);
  c.dir = ec ? std::string(".") : absolute.lexically_normal().parent_path().string();

  r.expand_strings(root, "");
  r.check_keys(root, "", {"offload", "provider", "framework", "groups", "report", "history", "checkpoint"});

  if (const toml::table* t = r.get_table(root, "offload", "")) {
    read_offload(r, *t, c.offload);
  }
  bool provider_ok = false;
  if (!root.contains("provider")) {
    r.error(0, "provider", "missing required section [provider] (type = \"local\", \"default\" or \"modal\")");
  } else if (const toml::table* t = r.get_table(root, "provider", "")) {
    read_provider(r, *t, c.provider, provider_ok);
  }
  if (!root.contains("framework")) {
    r.error(0, "framework",
            "missing required section [framework] (type = \"pytest\", \"nextest\", \"vitest\" or \"default\")");
  } else if (const toml::table* t = r.get_table(root, "framework", "")) {
    read_framework(r, *t, c.framework);
  }
  read_groups(r, root, c.groups);
  if (const toml::table* t = r.get_table(root, "report", "")) {
    read_report(r, *t, c.report);
  }
  if (const toml::table* t = r.get_table(root, "history", "")) {
    c.history.emplace();
    read_history(r, *t, *c.history);
  }
  if (const toml::table* t = r.get_table(root, "checkpoint", "")) {
    r.check_keys(*t, "checkpoint", {"build_inputs"});
    r.get_string_list(*t, "build_inputs", "checkpoint", c.checkpoint_build_inputs);
  }
  if (provider_ok) {
    resolve_sandbox_roots(r, root, c);
  }
  return c;
}

} // namespace

std::string ConfigError::str() const {
  std::string s = file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) {
      s += ":" + std::to_string(column);
    }
  }
  s += ": ";
  if (!field.empty()) {
    s += field + ": ";
  }
  return s + message;
}

ConfigResult parse_config(const std::string& text, const std::string& path) {
  ConfigResult result;
  try {
#if TOML_EXCEPTIONS
    toml::table root;
    try {
      root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      ConfigError err{path, static_cast<int>(e.source().begin.line), "", std::string(e.description())};
      err.column = static_cast<int>(e.source().begin.column);
      result.errors.push_back(std::move(err));
      return result;
    }
#else
    toml::parse_result parsed = toml::parse(text, path);
    if (!parsed) {
      const toml::parse_error& e = parsed.error();
      ConfigError err{path, static_cast<int>(e.source().begin.line), "", std::string(e.description())};
      err.column = static_cast<int>(e.source().begin.column);
      result.errors.push_back(std::move(err));
      return result;
    }
    toml::table root = std::move(parsed).table();
#endif
    Reader reader(path);
    Config config = build(reader, root, path);
    config.warnings = reader.take_warnings();
    result.errors = reader.take_errors();
    result.config = std::move(config);
  } catch (const std::exception& e) {
    result.config.reset();
    result.errors.push_back(ConfigError{path, 0, "", std::string("internal error while reading config: ") + e.what()});
  }
  return result;
}

ConfigResult load_config(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    ConfigResult result;
    result.errors.push_back(
        ConfigError{path, 0, "", "config file not found (create one with `offload init`, or pass -c PATH)"});
    return result;
  }
  std::string problem;
  auto text = read_file(path, &problem);
  if (!text) {
    ConfigResult result;
    result.errors.push_back(ConfigError{path, 0, "", "cannot read config file: " + problem});
    return result;
  }
  return parse_config(*text, path);
}

} // namespace offload
