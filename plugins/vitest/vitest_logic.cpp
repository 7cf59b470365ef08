#include "vitest_logic.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

namespace offload::vitest {

namespace {

using json = nlohmann::json;

constexpr std::string_view kSep = " > ";

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(s.size() - p.size()) == p; }

/// Drops ANSI colour sequences (vitest colours its error output).
std::string strip_ansi(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

/// The last `n` bytes of a process's output, for error messages.
std::string tail(const std::string& s, size_t n) {
  std::string t = strip_ansi(s);
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t.size() <= n ? t : "..." + t.substr(t.size() - n);
}

std::string first_line(std::string_view s) {
  auto nl = s.find('\n');
  return std::string(nl == std::string_view::npos ? s : s.substr(0, nl));
}

/// "TypeError: boom" -> "TypeError"; "" when the text does not start with an error name.
std::string error_type(std::string_view msg) {
  auto colon = msg.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 80) return {};
  auto name = msg.substr(0, colon);
  bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.';
  });
  return ok && !std::isdigit(static_cast<unsigned char>(name[0])) ? std::string(name) : std::string();
}

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::optional<std::string> under(const std::string& path, const std::string& root) {
  if (root.empty()) return std::nullopt;
  std::string prefix = root == "/" ? root : root + "/";
  if (starts_with(path, prefix) && path.size() > prefix.size()) return path.substr(prefix.size());
  return std::nullopt;
}

/// Finds the JSON array in `vitest list --json` stdout: normally all of it,
/// but tolerate lines printed before it (by a plugin or a setup file).
std::optional<json> find_json_array(const std::string& out) {
  size_t pos = 0;
  while (pos < out.size()) {
    size_t start = out.find('[', pos);
    if (start == std::string::npos) break;
    bool at_line_start = start == 0 || out[start - 1] == '\n';
    if (at_line_start) {
      auto j = json::parse(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(), nullptr, false);
      if (!j.is_discarded() && j.is_array()) return j;
    }
    pos = start + 1;
  }
  return std::nullopt;
}

std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// Sets a failed result's message, type and text from vitest's errors.
void set_failure(TestResult& r, const std::vector<std::string>& msgs) {
  r.text = join(msgs, "\n\n");
  r.message = msgs.empty() ? "failed" : first_line(msgs.front());
  r.type = msgs.empty() ? "" : error_type(msgs.front());
}

/// Adds `last` (passed or failed) as the runs vitest made with --retry=N
/// (see parse_results in the header for the counting rule): one result when
/// it ran once, else runs 1..n. The report has only the total duration
/// (vitest times a test from its first run to its last), so each run gets an
/// equal share.
void add_runs(TestResult last, const std::vector<std::string>& msgs, unsigned retries, std::vector<TestResult>& out) {
  bool passed = last.status == Status::Passed;
  // A skip on a rerun replaces the test's result, errors included: one result.
  size_t k = msgs.size(), runs = 1;
  if (passed) runs = std::min<size_t>(k, retries) + 1;
  if (last.status == Status::Failed) runs = std::clamp<size_t>(k, 1, size_t{retries} + 1);
  if (runs == 1) {
    out.push_back(std::move(last));
    return;
  }
  size_t failed_runs = passed ? runs - 1 : runs;
  bool one_each = k == failed_runs; // otherwise the errors cannot be told apart by run
  last.duration_secs /= static_cast<double>(runs);
  for (size_t i = 0; i + 1 < runs; ++i) {
    TestResult r = last;
    r.status = Status::Failed;
    set_failure(r, one_each ? std::vector<std::string>{msgs[i]} : msgs);
    r.attempt = static_cast<unsigned>(i + 1);
    out.push_back(std::move(r));
  }
  if (!passed && one_each) set_failure(last, {msgs.back()});
  last.attempt = static_cast<unsigned>(runs);
  out.push_back(std::move(last));
}

} // namespace

std::optional<std::vector<std::string>> shell_split(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      cur.append(s.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      ++i;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && std::string_view("$`\"\\\n").find(s[i + 1]) != std::string_view::npos) {
          ++i;
          if (s[i] == '\n') continue;
        }
        cur += s[i];
      }
      if (i >= s.size()) return std::nullopt;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < s.size()) {
        ++i;
        if (s[i] != '\n') cur += s[i];
      }
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

IdFormat::IdFormat(const std::string& format) {
  const std::string cls = "{classname}", nm = "{name}";
  auto n = format.find(nm);
  auto c = format.find(cls);
  auto bad = [&](const std::string& why) {
    return Failure(Failure::Kind::Config, "framework.test_id_format '" + format + "' " + why);
  };
  if (n == std::string::npos) throw bad("must contain {name} (vitest's describe chain and test title)");
  if (format.find(nm, n + 1) != std::string::npos) throw bad("must contain {name} only once");
  if (c != std::string::npos && format.find(cls, c + 1) != std::string::npos)
    throw bad("must contain {classname} only once");
  if (c == std::string::npos) {
    m_prefix = format.substr(0, n);
    m_suffix = format.substr(n + nm.size());
    return;
  }
  m_has_file = true;
  m_file_first = c < n;
  auto first = std::min(c, n), second = std::max(c, n);
  auto first_len = m_file_first ? cls.size() : nm.size();
  auto second_len = m_file_first ? nm.size() : cls.size();
  m_prefix = format.substr(0, first);
  m_middle = format.substr(first + first_len, second - first - first_len);
  m_suffix = format.substr(second + second_len);
  if (m_middle.empty()) throw bad("needs a separator between {classname} and {name}");
}

std::string IdFormat::format(const std::string& file, const std::string& name) const {
  if (!m_has_file) return m_prefix + name + m_suffix;
  return m_prefix + (m_file_first ? file + m_middle + name : name + m_middle + file) + m_suffix;
}

std::optional<IdFormat::Parts> IdFormat::parse(const std::string& id) const {
  if (id.size() < m_prefix.size() + m_suffix.size() || !starts_with(id, m_prefix) || !ends_with(id, m_suffix))
    return std::nullopt;
  std::string core = id.substr(m_prefix.size(), id.size() - m_prefix.size() - m_suffix.size());
  if (!m_has_file) return Parts{"", core};
  // File paths rarely hold the separator; test names often do (" > " joins
  // the describe chain), so split at the separator nearest the file.
  auto pos = m_file_first ? core.find(m_middle) : core.rfind(m_middle);
  if (pos == std::string::npos) return std::nullopt;
  std::string a = core.substr(0, pos), b = core.substr(pos + m_middle.size());
  Parts p = m_file_first ? Parts{a, b} : Parts{b, a};
  if (p.file.empty()) return std::nullopt;
  return p;
}

Settings parse_settings(const std::string& text) {
  Settings s;
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Failure(Failure::Kind::Config, "framework settings are not a JSON object");
  auto words = [&](const char* key) -> std::optional<std::vector<std::string>> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw Failure(Failure::Kind::Config, std::string("framework.") + key + " must be a string");
    auto w = shell_split(it->get<std::string>());
    if (!w) throw Failure(Failure::Kind::Config, std::string("framework.") + key + " has an unterminated quote");
    return w;
  };
  if (auto c = words("command")) {
    if (c->empty()) throw Failure(Failure::Kind::Config, "framework.command must not be empty");
    s.command = *c;
  }
  if (auto r = words("run_args")) s.run_args = *r;
  if (auto it = j.find("test_id_format"); it != j.end() && it->is_string()) s.id_format = it->get<std::string>();
  return s;
}

std::vector<std::pair<std::string, std::string>> command_env(const Settings& s) {
  auto prog = std::filesystem::path(s.command.front()).filename().string();
  if (prog == "npx" || prog == "npm") return {{"NPM_CONFIG_LOGLEVEL", "error"}};
  return {};
}

std::vector<std::string> discover_argv(const Settings& s, const std::string& filters) {
  std::vector<std::string> argv = s.command;
  argv.push_back("list");
  auto f = shell_split(filters);
  if (!f) throw Failure(Failure::Kind::Config, "group filters have an unterminated quote: " + filters);
  argv.insert(argv.end(), f->begin(), f->end());
  argv.push_back("--includeTaskLocation");
  argv.push_back("--json");
  return argv;
}

std::string relative_to(const std::string& path, const std::string& root_in, const std::vector<std::string>& known) {
  std::string root = strip_trailing_slashes(root_in);
  if (auto r = under(path, root)) return *r;
  std::error_code ec;
  if (!root.empty() && std::filesystem::exists(root, ec)) {
    auto canon = std::filesystem::canonical(root, ec);
    if (!ec) {
      if (auto r = under(path, canon.string())) return *r;
    }
  }
  const std::string* best = nullptr;
  for (auto& k : known) {
    if (k.empty() || !(path == k || ends_with(path, "/" + k))) continue;
    if (!best || k.size() > best->size()) best = &k;
  }
  return best ? *best : path;
}

std::vector<ListedTest> parse_list(const std::string& out, const std::string& err, int exit_code, int term_signal,
                                   const std::string& project_dir, const IdFormat& fmt) {
  auto how = term_signal ? "was killed by signal " + std::to_string(term_signal)
                         : "exited with code " + std::to_string(exit_code);
  auto j = term_signal ? std::nullopt : find_json_array(out);
  if (!j || exit_code != 0) {
    std::string detail = tail(err, 3000);
    if (detail.empty()) detail = tail(out, 3000);
    throw Failure(Failure::Kind::Discovery,
                  std::string("`vitest list --json` ") + (j ? how : how + " without printing a JSON test list") +
                      (detail.empty() ? "" : ":\n" + detail));
  }
  std::vector<ListedTest> tests;
  tests.reserve(j->size());
  struct Seen {
    size_t index;
    std::string project;
  };
  std::unordered_map<std::string, Seen> seen;
  std::vector<std::string> duplicates;
  for (auto& item : *j) {
    if (!item.is_object()) continue;
    ListedTest t;
    t.name = str_field(item, "name");
    auto file = str_field(item, "file");
    if (t.name.empty() || file.empty()) continue;
    t.file = relative_to(file, project_dir);
    if (auto loc = item.find("location"); loc != item.end() && loc->is_object()) {
      t.line = loc->value("line", 0);
    }
    t.id = fmt.format(t.file, t.name);
    auto project = str_field(item, "projectName");
    auto [it, fresh] = seen.try_emplace(t.id, Seen{tests.size(), project});
    if (!fresh) {
      auto& first = tests[it->second.index];
      auto where = [](const ListedTest& x) { return x.file + (x.line ? ":" + std::to_string(x.line) : ""); };
      std::string msg = "  '" + t.id + "'\n    first at " + where(first) + ", again at " + where(t);
      if (it->second.project != project) {
        msg += " (vitest projects '" + it->second.project + "' and '" + project +
               "': select one project with --project in the group's filters)";
      }
      duplicates.push_back(msg);
      continue;
    }
    tests.push_back(std::move(t));
  }
  if (!duplicates.empty()) {
    throw Failure(Failure::Kind::Discovery,
                  std::to_string(duplicates.size()) + " duplicate vitest test ID(s): two tests with the same file, " +
                      "describe chain and name cannot be run or reported apart:\n" + join(duplicates, "\n") +
                      "\nRename one of each pair (e.g. give it.each cases distinct titles with %s / $name).");
  }
  return tests;
}

std::string regex_escape(std::string_view s) {
  static constexpr std::string_view meta = "\\^$.*+?()[]{}|/";
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (meta.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string name_pattern(const std::vector<std::string>& names) {
  std::string alternatives;
  std::unordered_set<std::string> done;
  for (auto& name : names) {
    if (!done.insert(name).second) continue;
    if (!alternatives.empty()) alternatives += '|';
    size_t pos = 0;
    while (true) {
      auto next = name.find(kSep, pos);
      alternatives += regex_escape(std::string_view(name).substr(pos, next == std::string::npos ? next : next - pos));
      if (next == std::string::npos) break;
      alternatives += "(?: > | )";
      pos = next + kSep.size();
    }
  }
  return "^(?:" + alternatives + ")$";
}

bool has_own_retry(const std::vector<std::string>& run_args) {
  return std::any_of(run_args.begin(), run_args.end(), [](const std::string& a) {
    return a == "--retry" || starts_with(a, "--retry=") || starts_with(a, "--retry.");
  });
}

BatchCommand run_argv(const Settings& s, const IdFormat& fmt, const std::vector<std::string>& ids,
                      const std::string& result_path, bool fail_fast, unsigned retries) {
  std::vector<std::string> files, names;
  std::unordered_set<std::string> file_set;
  for (auto& id : ids) {
    auto parts = fmt.parse(id);
    if (!parts) {
      throw Failure(Failure::Kind::Config, "test ID '" + id + "' does not fit test_id_format '" + s.id_format + "'");
    }
    if (fmt.has_file() && file_set.insert(parts->file).second) files.push_back(parts->file);
    names.push_back(parts->name);
  }
  BatchCommand cmd;
  cmd.argv = s.command;
  cmd.argv.push_back("run");
  for (auto& f : files) cmd.argv.push_back(f[0] == '-' ? "./" + f : f);
  auto pattern = name_pattern(names);
  if (pattern.size() <= kMaxPatternBytes) {
    cmd.argv.push_back("--testNamePattern=" + pattern);
  } else {
    cmd.pattern_dropped = true;
  }
  cmd.argv.push_back("--reporter=verbose");
  cmd.argv.push_back("--hideSkippedTests"); // the log lists the batch's tests, not every test the pattern skipped
  cmd.argv.push_back("--reporter=json");
  cmd.argv.push_back("--outputFile.json=" + result_path);
  if (fail_fast) {
    cmd.argv.push_back("--bail");
    cmd.argv.push_back("1");
  }
  if (retries > 0) {
    // The user's own retry option stays in charge: vitest would merge the two
    // into one setting, and the runs could no longer be counted.
    cmd.own_retry = has_own_retry(s.run_args);
    if (!cmd.own_retry) {
      cmd.argv.push_back("--retry=" + std::to_string(retries));
      cmd.retries = retries;
    }
  }
  cmd.argv.insert(cmd.argv.end(), s.run_args.begin(), s.run_args.end());
  return cmd;
}

std::vector<TestResult> parse_results(const std::string& text, const std::vector<std::string>& batch_ids,
                                      const std::string& project_dir, const IdFormat& fmt, unsigned retries) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("testResults") || !j["testResults"].is_array()) {
    throw Failure(Failure::Kind::Parse, "the vitest JSON report is not valid JSON with a testResults array" +
                                            (text.empty() ? std::string(" (the file is empty)") : std::string()));
  }
  std::unordered_set<std::string> batch(batch_ids.begin(), batch_ids.end());
  // Batch tests per file, for file-level failures and for mapping a sandbox
  // path back to the batch's relative file when the root differs.
  std::map<std::string, std::vector<std::string>> by_file;
  std::vector<std::string> files;
  for (auto& id : batch_ids) {
    auto p = fmt.parse(id);
    if (!p || !fmt.has_file()) continue;
    auto& v = by_file[p->file];
    if (v.empty()) files.push_back(p->file);
    v.push_back(id);
  }
  std::vector<TestResult> results;
  for (auto& file : j["testResults"]) {
    if (!file.is_object()) continue;
    std::string rel = relative_to(str_field(file, "name"), project_dir, files);
    std::unordered_set<std::string> reported;
    if (auto a = file.find("assertionResults"); a != file.end() && a->is_array()) {
      for (auto& t : *a) {
        if (!t.is_object()) continue;
        std::vector<std::string> chain;
        if (auto anc = t.find("ancestorTitles"); anc != t.end() && anc->is_array()) {
          for (auto& x : *anc)
            if (x.is_string()) chain.push_back(x.get<std::string>());
        }
        chain.push_back(str_field(t, "title"));
        TestResult r;
        r.name = join(chain, kSep);
        r.classname = rel;
        r.id = fmt.format(rel, r.name);
        if (!batch.count(r.id)) continue; // outside the batch: skipped by the pattern, or an extra match
        auto dur = t.find("duration");
        bool started = dur != t.end() && dur->is_number();
        if (started) r.duration_secs = dur->get<double>() / 1000.0;
        auto status = str_field(t, "status");
        std::vector<std::string> msgs;
        if (auto fm = t.find("failureMessages"); fm != t.end() && fm->is_array()) {
          for (auto& m : *fm)
            if (m.is_string()) msgs.push_back(strip_ansi(m.get<std::string>()));
        }
        if (status == "passed") {
          r.status = Status::Passed;
        } else if (status == "failed") {
          r.status = Status::Failed;
          set_failure(r, msgs);
        } else if (status == "pending" && !started) {
          continue; // never started (vitest stopped early, e.g. --bail): the host reports it not run
        } else if (status == "skipped" || status == "pending" || status == "todo" || status == "disabled") {
          r.status = Status::Skipped;
          r.message = status == "todo" ? "todo" : started ? "skipped itself while running" : "skipped by vitest";
        } else {
          r.status = Status::Error;
          r.message = "unknown vitest status '" + status + "'";
        }
        reported.insert(r.id);
        add_runs(std::move(r), msgs, retries, results);
      }
    }
    // A file that failed as a whole (syntax or import error, a failing
    // beforeAll outside any describe): its batch tests without a result get
    // the file's error.
    auto message = strip_ansi(str_field(file, "message"));
    if (str_field(file, "status") == "failed" && !message.empty()) {
      auto it = by_file.find(rel);
      if (it == by_file.end()) continue;
      for (auto& id : it->second) {
        if (reported.count(id)) continue;
        TestResult r;
        r.id = id;
        r.status = Status::Error;
        r.message = first_line(message);
        r.type = error_type(message);
        if (r.type.empty()) r.type = "vitest.FileError";
        r.text = "the test file " + rel + " failed before this test could run:\n" + message;
        auto p = fmt.parse(id);
        r.name = p ? p->name : id;
        r.classname = rel;
        results.push_back(std::move(r));
        reported.insert(id);
      }
    }
  }
  return results;
}

} // namespace offload::vitest
