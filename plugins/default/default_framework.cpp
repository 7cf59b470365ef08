/// The `default` framework: any test runner, driven by shell command
/// templates. discover_command prints one test ID per line; run_command runs
/// {tests} (each ID shell-quoted, so IDs are data, never code) and writes JUnit
/// XML to {result_file}. Without result_file, each test of a batch takes the
/// batch's exit code (documented fallback).
#include <map>
#include <nlohmann/json.hpp>
#include <offload/plugin.hpp>

#include "default_plugin.hpp"

namespace {

using namespace offload::plugin;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

/// Replace each placeholder of `subs` in one left-to-right pass, so text
/// substituted in is never scanned for placeholders again.
std::string replace_placeholders(const std::string& s, const std::vector<std::pair<std::string, std::string>>& subs) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    bool hit = false;
    for (auto& [from, to] : subs) {
      if (s.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        hit = true;
        break;
      }
    }
    if (!hit) out += s[i++];
  }
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

std::string format_id(const std::string& fmt, const JunitCase& c) {
  // One pass: a name holding "{classname}" is not substituted again.
  return replace_placeholders(fmt, {{"{name}", c.name}, {"{classname}", c.classname}, {"{file}", c.file}});
}

/// Normalise for suffix matching as the original does: '/' and '::' become '.', '.py' dropped.
std::string normalise(std::string s) {
  s = replace_all(s, "::", ".");
  s = replace_all(s, "/", ".");
  s = replace_all(s, ".py", "");
  return s;
}

class DefaultFramework : public Framework {
public:
  explicit DefaultFramework(const std::string& json) {
    auto j = nlohmann::json::parse(json);
    m_discover = j.value("discover_command", std::string());
    m_run = j.value("run_command", std::string());
    m_format = j.value("test_id_format", std::string("{name}"));
    m_workdir = j.value("working_dir", std::string());
    if (j.contains("result_file") && j["result_file"].is_string()) m_result_file = j["result_file"].get<std::string>();
    if (m_discover.empty()) throw Error(OFFLOAD_E_INVALID, "framework.discover_command is required");
    if (m_run.empty()) throw Error(OFFLOAD_E_INVALID, "framework.run_command is required");
  }

  Command discover_command(const DiscoverRequest& req) override {
    Command c;
    c.argv = {"sh", "-c", replace_all(m_discover, "{filters}", req.filters)};
    if (!m_workdir.empty()) c.cwd = m_workdir;
    return c;
  }

  std::vector<Test> parse_discovery(const DiscoverRequest& req, const DiscoverOutput& out) override {
    if (out.term_signal != 0 || out.exit_code != 0) {
      throw Error(OFFLOAD_E_IO, "discover_command for group '" + req.group + "' failed (" +
                                    (out.term_signal ? "signal " + std::to_string(out.term_signal)
                                                     : "exit code " + std::to_string(out.exit_code)) +
                                    ")" + (out.err.empty() ? "" : ": " + tail(out.err, 2000)));
    }
    std::vector<Test> tests;
    size_t lineno = 0;
    size_t start = 0;
    const std::string& s = out.out;
    while (start <= s.size()) {
      auto end = s.find('\n', start);
      std::string line = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++lineno;
      auto b = line.find_first_not_of(" \t");
      if (line.find('\0') != std::string::npos) {
        // The ABI carries IDs as C strings: a NUL would silently cut the ID
        // (and merge "a\0x" and "a\0y" into one test "a").
        throw Error(OFFLOAD_E_PARSE, "discover_command for group '" + req.group + "' printed a NUL byte on line " +
                                         std::to_string(lineno) + "; test IDs are text, one per line");
      }
      if (b != std::string::npos && line[b] != '#') {
        auto e = line.find_last_not_of(" \t");
        tests.push_back({line.substr(b, e - b + 1), "", "", 0});
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return tests;
  }

  Command run_command(const RunRequest& req) override {
    std::string ids;
    for (auto& id : req.ids) {
      if (!ids.empty()) ids += ' ';
      ids += quote(id);
    }
    std::string cmd;
    if (m_result_file && m_run.find("{result_file}") != std::string::npos) {
      // One pass over the template: an ID holding the text "{result_file}"
      // is data and must not be substituted again.
      cmd = replace_placeholders(m_run, {{"{tests}", ids}, {"{result_file}", quote(req.result_path)}});
    } else {
      cmd = replace_all(m_run, "{tests}", ids);
      if (m_result_file) {
        // The runner writes a fixed path: copy it to the batch's own result path.
        cmd = "rm -f " + quote(*m_result_file) + "; " + cmd + "\n__offload_rc=$?; cp -f " + quote(*m_result_file) + " " +
              quote(req.result_path) + " 2>/dev/null; exit $__offload_rc";
      }
    }
    Command c;
    c.argv = {"sh", "-c", cmd};
    if (!m_workdir.empty()) c.cwd = m_workdir;
    return c;
  }

  std::vector<Result> parse_results(const RunOutput& out) override {
    std::vector<Result> results;
    if (!m_result_file) {
      // Exit-code fallback: the batch's exit code speaks for each of its tests.
      if (out.timed_out || out.term_signal) return results; // nothing is known: the host reports the cause
      for (auto& id : out.ids) {
        Result r;
        r.id = id;
        r.status = out.exit_code == 0 ? OFFLOAD_TEST_PASSED : OFFLOAD_TEST_FAILED;
        if (r.status != OFFLOAD_TEST_PASSED) {
          r.message = "batch exited with code " + std::to_string(out.exit_code) + " (no result_file: per-test results unknown)";
        }
        results.push_back(std::move(r));
      }
      return results;
    }
    if (!out.result_present) return results; // the host reports "result file missing"
    auto cases = host().parse_junit(out.result);
    std::map<std::string, bool> in_batch;
    for (auto& id : out.ids) in_batch[id] = true;
    std::map<std::string, std::string> by_norm;
    for (auto& id : out.ids) by_norm[normalise(id)] = id;
    for (auto& c : cases) {
      Result r;
      r.id = format_id(m_format, c);
      if (!in_batch.count(r.id)) {
        // Fall back to the original's suffix matching for runners whose names differ in separators.
        auto n = normalise(c.classname.empty() ? c.name : c.classname + "." + c.name);
        std::string best;
        size_t best_len = 0;
        bool tie = false;
        for (auto& [norm, id] : by_norm) {
          size_t k = 0;
          while (k < norm.size() && k < n.size() && norm[norm.size() - 1 - k] == n[n.size() - 1 - k]) ++k;
          if (k == norm.size() || k == n.size()) {
            if (k > best_len) {
              best = id;
              best_len = k;
              tie = false;
            } else if (k == best_len) {
              tie = true;
            }
          }
        }
        if (!best.empty() && !tie) r.id = best;
      }
      r.status = c.status;
      r.duration_secs = c.time_secs;
      r.message = c.message;
      r.type = c.type;
      r.text = c.text;
      r.system_out = c.system_out;
      r.system_err = c.system_err;
      r.name = c.name;
      r.classname = c.classname;
      results.push_back(std::move(r));
    }
    return results;
  }

private:
  std::string m_discover, m_run, m_format, m_workdir;
  std::optional<std::string> m_result_file;
};

} // namespace

namespace offload::default_plugin {
std::unique_ptr<offload::plugin::Framework> make_framework(const std::string& json) {
  return std::make_unique<DefaultFramework>(json);
}
} // namespace offload::default_plugin
