/// describe_config(): the summary `offload validate` prints. Plain text, one
/// setting per line, so users can see the effective values (defaults filled in,
/// environment expanded) rather than what they typed.
#include <sstream>

#include "config/config.hpp"
#include "util/strings.hpp"

namespace offload {
namespace {

void line(std::ostringstream& out, int indent, const std::string& key, const std::string& value) {
  out << std::string(static_cast<size_t>(indent), ' ') << key << ": " << value << '\n';
}

void heading(std::ostringstream& out, const std::string& title) {
  out << title << ":\n";
}

void optional_line(std::ostringstream& out, int indent, const std::string& key, const std::optional<std::string>& value) {
  if (value) {
    line(out, indent, key, *value);
  }
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string number(double value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

std::string env_text(const std::map<std::string, std::string>& env) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : env) {
    keys.push_back(k);
  }
  return keys.empty() ? "(none)" : join(keys, ", ");
}

std::string copy_dirs_text(const std::vector<CopyDir>& dirs) {
  std::vector<std::string> parts;
  for (const auto& d : dirs) {
    parts.push_back(d.local + " -> " + d.remote);
  }
  return parts.empty() ? "(none)" : join(parts, ", ");
}

void describe_provider(std::ostringstream& out, const ProviderSection& p) {
  if (p.type == "local") {
    line(out, 0, "Provider", "local (child processes on this machine)");
    line(out, 2, "working_dir", p.working_dir.empty() ? "(current directory)" : p.working_dir);
    line(out, 2, "shell", p.shell);
    line(out, 2, "env", env_text(p.env));
  } else if (p.type == "default") {
    line(out, 0, "Provider", "default (custom shell commands)");
    optional_line(out, 2, "prepare_command", p.prepare_command);
    line(out, 2, "create_command", p.create_command);
    line(out, 2, "exec_command", p.exec_command);
    line(out, 2, "destroy_command", p.destroy_command);
    optional_line(out, 2, "download_command", p.download_command);
    line(out, 2, "timeout_secs", std::to_string(p.timeout_secs));
    line(out, 2, "cpu_cores", number(p.cpu_cores));
    line(out, 2, "copy_dirs", copy_dirs_text(p.copy_dirs));
    line(out, 2, "env", env_text(p.env));
  } else if (p.type == "modal") {
    line(out, 0, "Provider", "modal");
    line(out, 2, "dockerfile", p.dockerfile.value_or("(none)"));
    line(out, 2, "include_cwd", p.include_cwd ? "true" : "false");
    line(out, 2, "cpu_cores", number(p.cpu_cores));
    line(out, 2, "memory_gb", p.memory_gb ? number(*p.memory_gb) : "(provider default)");
    line(out, 2, "copy_dirs", copy_dirs_text(p.copy_dirs));
    line(out, 2, "env", env_text(p.env));
    if (p.experimental_options_json != "{}") {
      line(out, 2, "experimental_options", p.experimental_options_json);
    }
  } else {
    line(out, 0, "Provider", p.type + " (plugin)");
    line(out, 2, "settings", p.raw_json);
  }
}

void describe_framework(std::ostringstream& out, const FrameworkSection& f) {
  if (f.type == "pytest" || f.type == "vitest") {
    line(out, 0, "Framework", f.type);
    line(out, 2, "command", f.command);
    if (f.type == "pytest") {
      line(out, 2, "paths", f.paths.empty() ? "(pytest's own discovery)" : join(f.paths, ", "));
    }
    optional_line(out, 2, "run_args", f.run_args);
    line(out, 2, "test_id_format", quoted(f.test_id_format));
  } else if (f.type == "nextest") {
    line(out, 0, "Framework", "nextest");
    optional_line(out, 2, "package", f.package);
    if (!f.features.empty()) {
      line(out, 2, "features", join(f.features, ", "));
    }
    optional_line(out, 2, "bin", f.bin);
    line(out, 2, "include_ignored", f.include_ignored ? "true" : "false");
    line(out, 2, "test_id_format", quoted(f.test_id_format));
  } else if (f.type == "default") {
    line(out, 0, "Framework", "default (custom shell commands)");
    line(out, 2, "discover_command", f.discover_command);
    line(out, 2, "run_command", f.run_command);
    optional_line(out, 2, "result_file", f.result_file);
    if (!f.working_dir.empty()) {
      line(out, 2, "working_dir", f.working_dir);
    }
    line(out, 2, "test_id_format", quoted(f.test_id_format));
  } else {
    line(out, 0, "Framework", f.type + " (plugin)");
    line(out, 2, "settings", f.raw_json);
  }
}

} // namespace

std::string describe_config(const Config& config) {
  std::ostringstream out;
  line(out, 0, "Config", config.path);
  describe_provider(out, config.provider);
  describe_framework(out, config.framework);

  const OffloadSection& o = config.offload;
  heading(out, "Run");
  line(out, 2, "max_parallel", std::to_string(o.max_parallel));
  line(out, 2, "test_timeout_secs", std::to_string(o.test_timeout_secs));
  if (!o.working_dir.empty()) {
    line(out, 2, "working_dir", o.working_dir);
  }
  optional_line(out, 2, "sandbox_repo_root", o.sandbox_repo_root);
  optional_line(out, 2, "sandbox_project_root", o.sandbox_project_root);
  optional_line(out, 2, "sandbox_init_cmd", o.sandbox_init_cmd);
  optional_line(out, 2, "post_patch_cmd", o.post_patch_cmd);

  out << "Groups (" << config.groups.size() << "):\n";
  for (const GroupSection& g : config.groups) {
    out << "  " << g.name << ": retry_count=" << g.retry_count
        << ", in_process_retries=" << std::min(g.in_process_retries, g.retry_count) << ", filters="
        << (g.filters.empty() ? "(none)" : quoted(g.filters))
        << ", schedule_individual=" << (g.schedule_individual ? "true" : "false") << '\n';
  }

  const ReportSection& r = config.report;
  heading(out, "Report");
  line(out, 2, "output_dir", r.output_dir);
  line(out, 2, "junit", r.junit ? r.output_dir + "/" + r.junit_file : "off");
  if (!r.download_globs.empty()) {
    line(out, 2, "download_globs",
         join(r.download_globs, ", ") + (r.download_globs_failure_only ? " (failed batches only)" : ""));
  }

  if (config.history) {
    const HistorySection& h = *config.history;
    heading(out, "History");
    line(out, 2, "path", h.path);
    line(out, 2, "record_history", h.record_history);
    line(out, 2, "reservoir_size", std::to_string(h.reservoir_size));
    line(out, 2, "default_duration_secs", number(h.default_duration_secs));
  } else {
    line(out, 0, "History", "off (no [history] section)");
  }

  if (!config.warnings.empty()) {
    out << "Warnings (" << config.warnings.size() << "):\n";
    for (const std::string& w : config.warnings) {
      out << "  " << w << '\n';
    }
  }
  return out.str();
}

} // namespace offload
