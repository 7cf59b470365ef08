#include "modal_commands.hpp"

#include <cstdint>
#include <sstream>

#include <nlohmann/json.hpp>

namespace offload::modal {

namespace {

/// 'single-quoted' for sh; plain words stay bare.
std::string quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '/' || c == ':' || c == '=' || c == '@' || c == '%' || c == '+' || c == ',';
    if (!ok) {
      plain = false;
      break;
    }
  }
  if (plain)
    return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool is_identifier(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

/// Shortest text that reads back as the same double ("0.125", "2").
std::string number(double v) {
  std::ostringstream o;
  o.precision(15);
  o << v;
  return o.str();
}

std::string join_path(const std::string& base, const std::string& rel) {
  if (rel.empty() || rel == ".")
    return base;
  if (rel[0] == '/')
    return rel;
  std::string r = rel;
  while (r.rfind("./", 0) == 0)
    r = r.substr(2);
  return base.back() == '/' ? base + r : base + "/" + r;
}

} // namespace

std::vector<std::string> prepare_args(const Settings& s, const PrepareArgs& p) {
  std::vector<std::string> a{"prepare"};
  if (!p.base_image_id.empty()) {
    // A thin image derived from a cached one.
    a.insert(a.end(), {"--from-base-image", p.base_image_id, "--sandbox-project-root", s.repo_root});
    if (!p.patch_file.empty())
      a.insert(a.end(), {"--patch-file", p.patch_file});
    if (!p.post_patch_cmd.empty())
      a.insert(a.end(), {"--post-patch-cmd", p.post_patch_cmd});
    return a;
  }
  if (!s.dockerfile.empty())
    a.push_back(s.dockerfile);
  a.insert(a.end(), {"--context-dir", p.context_dir.empty() ? s.context_dir : p.context_dir});
  a.insert(a.end(), {"--sandbox-repo-root", s.repo_root});
  if (s.include_cwd)
    a.push_back("--include-cwd");
  for (auto& i : s.ignore)
    a.insert(a.end(), {"--ignore", i});
  for (auto& d : p.copy_dirs)
    a.insert(a.end(), {"--copy-dir", d});
  if (!p.sandbox_init_cmd.empty())
    a.insert(a.end(), {"--sandbox-init-cmd", p.sandbox_init_cmd});
  if (p.no_cache)
    a.push_back("--no-cache");
  return a;
}

std::vector<std::string> create_args(const Settings& s, const std::string& image_id) {
  std::vector<std::string> a{"create", image_id, "--cpu", number(s.cpu_cores)};
  if (s.memory_gb)
    a.insert(a.end(), {"--memory-gb", number(*s.memory_gb)});
  if (!s.experimental_json.empty() && s.experimental_json != "{}") {
    a.insert(a.end(), {"--experimental-options", s.experimental_json});
  }
  a.insert(a.end(), {"--workdir", s.project_root, "--timeout", std::to_string(s.sandbox_timeout_secs), "--env-stdin"});
  return a;
}

std::string create_stdin(const Env& env) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [k, v] : env)
    j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string remote_command(const std::string& project_root, const std::vector<std::string>& argv, const Env& env,
                           const std::optional<std::string>& cwd, std::vector<std::string>* dropped) {
  std::string dir = cwd ? join_path(project_root, *cwd) : project_root;
  std::string out = "cd " + quote(dir) + " &&";
  for (auto& [k, v] : env) {
    if (!is_identifier(k)) {
      if (dropped)
        dropped->push_back(k);
      continue;
    }
    out += " " + k + "=" + quote(v);
  }
  for (auto& w : argv)
    out += " " + quote(w);
  return out;
}

std::vector<std::string> exec_args(const std::string& sandbox_id, const std::string& command, uint64_t timeout_ms,
                                   const std::string& status_file) {
  std::vector<std::string> a{"exec", sandbox_id};
  if (timeout_ms > 0)
    a.insert(a.end(), {"--timeout", std::to_string((timeout_ms + 999) / 1000)});
  a.insert(a.end(), {"--status-file", status_file, "--", command});
  return a;
}

std::vector<std::string> download_args(const std::string& sandbox_id,
                                       const std::vector<std::pair<std::string, std::string>>& remote_local) {
  std::vector<std::string> a{"download", sandbox_id};
  for (auto& [r, l] : remote_local)
    a.push_back(r + ":" + l);
  return a;
}

std::string last_line(const std::string& out) {
  size_t end = out.size();
  while (end > 0) {
    size_t start = out.rfind('\n', end - 1);
    size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = out.substr(from, end - from);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos)
      return line.substr(first);
    if (start == std::string::npos)
      break;
    end = start;
  }
  return {};
}

std::string tail(const std::string& text, size_t max) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r'))
    t.pop_back();
  if (t.size() <= max)
    return t;
  size_t from = t.size() - max;
  size_t nl = t.find('\n', from);
  return "..." + t.substr(nl == std::string::npos ? from : nl);
}

ExecStatus parse_exec_status(const std::optional<std::string>& file_text) {
  ExecStatus st;
  if (!file_text)
    return st;
  auto j = nlohmann::json::parse(*file_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return st;
  st.present = true;
  if (j.contains("returncode") && j["returncode"].is_number_integer())
    st.returncode = j["returncode"].get<int>();
  st.timed_out = j.value("timed_out", false);
  if (j.contains("error") && j["error"].is_string())
    st.error = j["error"].get<std::string>();
  if (!st.returncode && st.error.empty())
    st.error = "the status file names no return code";
  return st;
}

std::vector<std::string> launcher(const char* env_value, bool uv_found) {
  if (env_value && *env_value) {
    std::vector<std::string> words;
    std::istringstream in(env_value);
    for (std::string w; in >> w;)
      words.push_back(w);
    if (!words.empty())
      return words;
  }
  if (uv_found)
    return {"uv", "run", "--quiet", "--script"};
  return {"python3"};
}

} // namespace offload::modal
