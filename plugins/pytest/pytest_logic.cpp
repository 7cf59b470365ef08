#include "pytest_logic.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace offload::pytest {

using plugin::Error;

namespace {

constexpr std::string_view kHeredoc = "__OFFLOAD_PYTEST_PLUGIN_EOF__";
constexpr size_t kErrorTextLimit = 4000;

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// Splits on '\n'; the bool says whether the line was terminated (a torn last
/// line of a killed writer is not).
std::vector<std::pair<std::string, bool>> lines_of(const std::string& s) {
  std::vector<std::pair<std::string, bool>> out;
  size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('\n', start);
    if (end == std::string::npos) {
      out.emplace_back(s.substr(start), false);
      break;
    }
    out.emplace_back(s.substr(start, end - start), true);
    start = end + 1;
  }
  return out;
}

std::string str_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Type-checked reads: json::value() throws on a field of another type.
bool bool_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

long long int_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

/// The sh prologue shared by both commands: the plugin in a private temp dir on PYTHONPATH.
std::string prologue() {
  auto src = plugin_source();
  // The here-doc ends at a line equal to its delimiter: the source must not hold one.
  if (src.find(std::string("\n") + std::string(kHeredoc) + "\n") != std::string_view::npos) {
    throw Error(OFFLOAD_E_PLUGIN, "embedded pytest plugin contains the here-doc delimiter");
  }
  std::string s;
  s.reserve(src.size() + 512);
  s += "d=$(mktemp -d \"${TMPDIR:-/tmp}/offload-pytest.XXXXXX\") || { echo 'offload: mktemp -d failed' >&2; exit 70; }\n";
  s += "cat > \"$d/offload_pytest_plugin.py\" <<'";
  s += kHeredoc;
  s += "' || { rm -rf \"$d\"; exit 70; }\n";
  s += src;
  if (!src.empty() && src.back() != '\n') s += '\n';
  s += kHeredoc;
  s += "\nPYTHONPATH=\"$d${PYTHONPATH:+:$PYTHONPATH}\"\nexport PYTHONPATH\n";
  return s;
}

std::string collect_errors_message(const std::vector<std::pair<std::string, std::string>>& errors) {
  std::string msg = "it could not collect " + std::to_string(errors.size()) + " item(s):";
  size_t shown = 0;
  for (auto& [nodeid, text] : errors) {
    if (shown == 5) {
      msg += "\n... and " + std::to_string(errors.size() - shown) + " more";
      break;
    }
    msg += "\n--- " + (nodeid.empty() ? std::string("<session>") : nodeid) + " ---\n" + tail(trim(text), kErrorTextLimit);
    ++shown;
  }
  return msg;
}

/// Fallback when the plugin's block is missing: pytest's `-q` listing, one
/// nodeid per line until the first blank line. Spaces are kept (pytest prints
/// IDs verbatim), unlike the original's filter.
std::vector<plugin::Test> parse_quiet_listing(const std::string& out) {
  std::vector<plugin::Test> tests;
  for (auto& [line, terminated] : lines_of(out)) {
    std::string l = line;
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (l.empty()) break;
    if (l.find("::") == std::string::npos || l[0] == '<' || l[0] == ' ') continue;
    plugin::Test t;
    t.id = l;
    t.file = l.substr(0, l.find("::"));
    tests.push_back(std::move(t));
  }
  return tests;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// Does collector `collector` (a collect_error's nodeid) contain test `id`?
bool collector_contains(const std::string& collector, const std::string& id) {
  if (collector.empty() || collector == ".") return true;
  if (id == collector) return true;
  if (id.size() > collector.size() && id.compare(0, collector.size(), collector) == 0) {
    char next = id[collector.size()];
    return next == '/' || (next == ':' && id.compare(collector.size(), 2, "::") == 0);
  }
  return false;
}

} // namespace

Settings parse_settings(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(OFFLOAD_E_INVALID, "pytest: framework config is not a JSON object");
  Settings s;
  if (auto it = j.find("command"); it != j.end()) {
    if (!it->is_string()) throw Error(OFFLOAD_E_INVALID, "framework.command must be a string");
    s.command = it->get<std::string>();
  }
  if (trim(s.command).empty()) throw Error(OFFLOAD_E_INVALID, "framework.command must not be empty");
  if (auto it = j.find("run_args"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw Error(OFFLOAD_E_INVALID, "framework.run_args must be a string");
    s.run_args = it->get<std::string>();
  }
  if (auto it = j.find("paths"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw Error(OFFLOAD_E_INVALID, "framework.paths must be a list of strings");
    for (auto& p : *it) {
      if (!p.is_string()) throw Error(OFFLOAD_E_INVALID, "framework.paths must be a list of strings");
      s.paths.push_back(p.get<std::string>());
    }
  }
  return s;
}

std::string sh_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

plugin::Command discover_command(const Settings& s, const std::string& filters) {
  std::string script = prologue();
  script += s.command;
  script += " --collect-only -q -p offload_pytest_plugin --offload-collect=\"$d/collected.jsonl\"";
  if (!trim(filters).empty()) script += " " + filters; // shell text, split like a shell (as documented)
  for (auto& p : s.paths) script += " " + sh_quote(p);
  script += "\nrc=$?\n";
  script += "printf '\\n%s\\n' '" + std::string(kCollectBegin) + "'\n";
  script += "cat \"$d/collected.jsonl\" 2>/dev/null\n";
  script += "printf '%s\\n' '" + std::string(kCollectEnd) + "'\n";
  script += "rm -rf \"$d\"\nexit $rc\n";
  plugin::Command c;
  c.argv = {"sh", "-c", std::move(script), "offload-pytest-discover"};
  return c;
}

Discovery parse_discovery(const std::string& group, int exit_code, int term_signal, const std::string& out,
                          const std::string& err) {
  const std::string where = "pytest (group '" + group + "')";
  if (term_signal != 0) {
    throw Error(OFFLOAD_E_IO, "pytest was killed by signal " + std::to_string(term_signal) +
                                  (err.empty() ? "" : ": " + tail(err, 2000)));
  }
  // The plugin's block: the last begin marker (a test module could print one) and its end.
  const std::string begin = "\n" + std::string(kCollectBegin) + "\n";
  auto b = out.rfind(begin);
  std::string pytest_out = b == std::string::npos ? out : out.substr(0, b);
  Discovery d;
  bool have_block = false;
  std::vector<std::pair<std::string, std::string>> errors;
  if (b != std::string::npos) {
    auto e = out.find(std::string(kCollectEnd), b + begin.size());
    std::string block = out.substr(b + begin.size(), e == std::string::npos ? std::string::npos : e - b - begin.size());
    for (auto& [line, terminated] : lines_of(block)) {
      if (trim(line).empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        d.warnings.push_back(where + ": ignored an unreadable line of the plugin's listing: " + tail(line, 200));
        continue;
      }
      auto ev = str_field(j, "event");
      if (ev == "collect") {
        have_block = true;
        auto root = str_field(j, "rootdir");
        d.rootdir = root.empty() ? "." : root;
      } else if (ev == "item") {
        plugin::Test t;
        t.id = str_field(j, "nodeid");
        if (t.id.empty()) continue;
        t.file = str_field(j, "file");
        auto ln = j.find("line");
        t.line = ln != j.end() && ln->is_number_integer() ? ln->get<int>() : 0;
        d.tests.push_back(std::move(t));
      } else if (ev == "collect_error") {
        errors.emplace_back(str_field(j, "nodeid"), str_field(j, "text"));
      }
    }
  }
  if (exit_code == 5) { // NO_TESTS_COLLECTED: the group's filters matched nothing
    d.tests.clear();
    return d;
  }
  if (exit_code != 0) {
    if (!errors.empty()) {
      throw Error(OFFLOAD_E_IO, "pytest exited with code " + std::to_string(exit_code) + ": " + collect_errors_message(errors));
    }
    std::string detail = trim(err);
    if (detail.empty()) detail = trim(pytest_out);
    throw Error(OFFLOAD_E_IO, "pytest exited with code " + std::to_string(exit_code) +
                                  (detail.empty() ? std::string() : ":\n" + tail(detail, kErrorTextLimit)));
  }
  if (!errors.empty()) {
    // Exit 0 with errors: the user asked for --continue-on-collection-errors.
    d.warnings.push_back(where + ": " + collect_errors_message(errors));
  }
  if (!have_block) {
    d.warnings.push_back(where + ": offload's pytest plugin did not report (does framework.command pass its "
                                 "arguments to pytest?); falling back to parsing the -q listing");
    d.tests = parse_quiet_listing(pytest_out);
  }
  for (const auto& t : d.tests) {
    if (t.id.find('\0') != std::string::npos) {
      // IDs cross the plugin ABI as C strings: a NUL would cut this one short
      // (and could merge two tests into one).
      throw Error(OFFLOAD_E_PARSE, where + ": a collected node ID holds a NUL byte: " + tail(t.id, 200));
    }
  }
  return d;
}

std::string node_arg(const std::string& rootdir, const std::string& id) {
  std::string arg = rootdir.empty() || rootdir == "." ? id : rootdir + "/" + id;
  if (!arg.empty() && arg[0] == '-') arg = "./" + arg;
  return arg;
}

plugin::Command run_command(const Settings& s, const std::vector<std::string>& args, const std::string& result_path,
                            bool fail_fast, unsigned reruns) {
  if (args.empty()) throw Error(OFFLOAD_E_INVALID, "pytest: a batch without tests would run the whole suite");
  std::string script = prologue();
  script += s.command;
  if (!trim(s.run_args).empty()) script += " " + s.run_args;
  script += " -p offload_pytest_plugin --offload-results=" + sh_quote(result_path);
  if (reruns > 0) script += " --offload-reruns=" + std::to_string(reruns);
  if (fail_fast) script += " -x";
  script += " \"$@\"\nrc=$?\nrm -rf \"$d\"\n";
  // A shell reports its child's fatal signal as 128+N; die of the same signal
  // so the host can tell a crash (and rerun the tests it never reached).
  script += "if [ \"$rc\" -gt 128 ] && [ \"$rc\" -lt 160 ]; then ulimit -c 0 2>/dev/null; "
            "trap - $((rc - 128)) 2>/dev/null; kill -$((rc - 128)) $$; fi\nexit $rc\n";
  plugin::Command c;
  c.argv.reserve(args.size() + 4);
  c.argv = {"sh", "-c", std::move(script), "offload-pytest"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return c;
}

std::pair<std::string, std::string> junit_names(const std::string& nodeid) {
  // Parameters may hold "::": split only the part before the first '[' after the path.
  auto first = nodeid.find("::");
  auto bracket = first == std::string::npos ? std::string::npos : nodeid.find('[', first);
  std::string head = bracket == std::string::npos ? nodeid : nodeid.substr(0, bracket);
  std::string params = bracket == std::string::npos ? std::string() : nodeid.substr(bracket);
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto p = head.find("::", start);
    parts.push_back(head.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 2;
  }
  std::string name = parts.back() + params;
  parts.pop_back();
  if (parts.empty()) return {"", name};
  std::string path = parts[0];
  if (ends_with(path, ".py")) path.resize(path.size() - 3);
  std::replace(path.begin(), path.end(), '/', '.');
  std::string classname = path;
  for (size_t i = 1; i < parts.size(); ++i) classname += "." + parts[i];
  return {classname, name};
}

std::vector<plugin::Result> parse_results(const std::vector<std::string>& ids, const std::string& data,
                                          const BatchEnd& end, std::vector<std::string>* warnings) {
  // One test's results: failed attempts that were rerun (with the file's attempt
  // number, to order them), then at most one final result.
  struct Reported {
    std::vector<std::pair<long long, plugin::Result>> reruns;
    std::optional<plugin::Result> final;
  };
  const std::set<std::string> in_batch(ids.begin(), ids.end());
  std::map<std::string, Reported> by_id;
  std::vector<std::string> order; // of first report
  std::vector<std::string> begun; // in order
  std::vector<std::pair<std::string, std::string>> collect_errors;
  bool finished = false;
  bool stopped_early = false;
  size_t foreign = 0, duplicates = 0;
  std::string first_foreign, first_duplicate;
  auto warn = [&](std::string m) {
    if (warnings) warnings->push_back(std::move(m));
  };
  auto entry = [&](const std::string& id) -> Reported& {
    auto [it, added] = by_id.try_emplace(id);
    if (added) order.push_back(id);
    return it->second;
  };
  auto has_final = [&](const std::string& id) {
    auto it = by_id.find(id);
    return it != by_id.end() && it->second.final.has_value();
  };
  for (auto& [line, terminated] : lines_of(data)) {
    if (trim(line).empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      // A torn last line is what a killed interpreter leaves: expected, not news.
      if (terminated) warn("pytest results: ignored an unreadable line: " + tail(line, 200));
      continue;
    }
    auto ev = str_field(j, "event");
    if (ev == "begin") {
      begun.push_back(str_field(j, "nodeid"));
    } else if (ev == "result") {
      plugin::Result r;
      r.id = str_field(j, "nodeid");
      if (!in_batch.count(r.id)) { // the ABI allows only the batch's IDs
        if (foreign++ == 0) first_foreign = r.id;
        continue;
      }
      bool rerun = bool_field(j, "rerun");
      auto outcome = str_field(j, "outcome");
      if (outcome == "passed") r.status = OFFLOAD_TEST_PASSED;
      else if (outcome == "failed") r.status = OFFLOAD_TEST_FAILED;
      else if (outcome == "skipped") r.status = OFFLOAD_TEST_SKIPPED;
      else r.status = OFFLOAD_TEST_ERROR;
      // An attempt that was rerun failed, whatever the line says (the ABI's rule).
      if (rerun && r.status != OFFLOAD_TEST_ERROR) r.status = OFFLOAD_TEST_FAILED;
      auto dur = j.find("duration");
      r.duration_secs = dur != j.end() && dur->is_number() ? dur->get<double>() : 0.0;
      r.message = str_field(j, "message");
      r.type = str_field(j, "type");
      r.text = str_field(j, "text");
      r.system_out = str_field(j, "stdout");
      r.system_err = str_field(j, "stderr");
      std::tie(r.classname, r.name) = junit_names(r.id);
      auto& rep = entry(r.id);
      if (rerun) {
        rep.reruns.emplace_back(int_field(j, "attempt"), std::move(r));
      } else if (!rep.final) {
        rep.final = std::move(r);
      } else if (duplicates++ == 0) {
        first_duplicate = r.id;
      }
    } else if (ev == "collect_error") {
      collect_errors.emplace_back(str_field(j, "nodeid"), str_field(j, "text"));
    } else if (ev == "finish") {
      finished = true;
      stopped_early = bool_field(j, "stopped") || int_field(j, "exitstatus") == 2; // 2: interrupted
    }
  }
  if (foreign > 0) {
    warn("pytest results: ignored " + std::to_string(foreign) + " result(s) for tests outside the batch (first: " +
         first_foreign + ")");
  }
  if (duplicates > 0) {
    warn("pytest results: ignored " + std::to_string(duplicates) + " repeated final result(s) (first: " +
         first_duplicate + "); kept the first");
  }
  // Tests whose collector failed in the sandbox never ran: say why, as an error.
  for (auto& [collector, text] : collect_errors) {
    for (auto& id : ids) {
      if (has_final(id) || !collector_contains(collector, id)) continue;
      plugin::Result r;
      r.id = id;
      r.status = OFFLOAD_TEST_ERROR;
      r.type = "CollectionError";
      r.message = "collecting " + (collector.empty() ? std::string("the session") : collector) + " failed in the sandbox";
      r.text = text;
      std::tie(r.classname, r.name) = junit_names(id);
      entry(id).final = std::move(r);
    }
  }
  if (!finished) {
    // pytest died mid-batch. A single test that had begun without a final
    // result (a failed attempt being rerun has none yet) is the culprit.
    std::vector<std::string> pending;
    std::set<std::string> seen;
    for (auto& id : begun) {
      if (!has_final(id) && seen.insert(id).second) pending.push_back(id);
    }
    if (pending.size() == 1 && in_batch.count(pending[0])) {
      plugin::Result r;
      r.id = pending[0];
      r.status = OFFLOAD_TEST_FAILED;
      if (end.timed_out) {
        r.type = "offload.Timeout";
        r.message = "the batch timed out while this test was running";
      } else if (end.term_signal != 0) {
        r.type = "offload.Crash";
        r.message = "the pytest process crashed (killed by signal " + std::to_string(end.term_signal) +
                    ") while this test was running";
      } else {
        r.type = "offload.Crash";
        r.message = "the pytest process exited (exit code " + std::to_string(end.exit_code) +
                    ") while this test was running, before pytest finished";
      }
      std::tie(r.classname, r.name) = junit_names(r.id);
      entry(r.id).final = std::move(r);
    }
  } else if (!stopped_early) {
    size_t missing = 0;
    std::string first;
    for (auto& id : ids) {
      if (!by_id.count(id)) {
        if (missing++ == 0) first = id;
      }
    }
    if (missing > 0) {
      warn("pytest finished but reported nothing for " + std::to_string(missing) + " of the batch's " +
           std::to_string(ids.size()) + " tests (first: " + first +
           "); the sandbox's test set may differ from local discovery");
    }
  }
  // Per test in attempt order. Attempts are numbered 1..n by that order, so
  // they stay consecutive whatever the file says; a test run once is attempt 0.
  std::vector<plugin::Result> results;
  for (auto& id : order) {
    auto& rep = by_id.at(id);
    std::stable_sort(rep.reruns.begin(), rep.reruns.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    unsigned attempt = 0;
    for (auto& [n, r] : rep.reruns) {
      r.attempt = ++attempt;
      results.push_back(std::move(r));
    }
    if (rep.final) {
      rep.final->attempt = attempt == 0 ? 0 : attempt + 1;
      results.push_back(std::move(*rep.final));
    }
  }
  return results;
}

} // namespace offload::pytest
