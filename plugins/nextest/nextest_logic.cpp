#include "nextest_logic.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace offload::nextest {

namespace {

std::optional<std::string> opt_string(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_string()) throw std::invalid_argument(std::string("framework.") + key + " must be a string");
  auto v = j[key].get<std::string>();
  if (v.empty()) return std::nullopt;
  return v;
}

bool is_plain_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string head(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

bool failed(offload_test_status s) { return s == OFFLOAD_TEST_FAILED || s == OFFLOAD_TEST_ERROR; }

} // namespace

Settings parse_settings(const std::string& json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json.empty() ? std::string("{}") : json);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("framework settings are not JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("framework settings must be a JSON object");
  Settings s;
  s.package = opt_string(j, "package");
  s.bin = opt_string(j, "bin");
  if (j.contains("features") && !j["features"].is_null()) {
    if (!j["features"].is_array()) throw std::invalid_argument("framework.features must be a list of strings");
    for (auto& f : j["features"]) {
      if (!f.is_string()) throw std::invalid_argument("framework.features must be a list of strings");
      if (!f.get<std::string>().empty()) s.features.push_back(f.get<std::string>());
    }
  }
  if (j.contains("include_ignored") && !j["include_ignored"].is_null()) {
    if (!j["include_ignored"].is_boolean()) throw std::invalid_argument("framework.include_ignored must be a boolean");
    s.include_ignored = j["include_ignored"].get<bool>();
  }
  if (auto f = opt_string(j, "test_id_format")) s.test_id_format = *f;
  return s;
}

std::string shell_quote(std::string_view s) {
  if (s.empty()) return "''";
  bool plain = true;
  for (char c : s) plain = plain && is_plain_word_char(c);
  if (plain) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::optional<std::vector<std::string>> shell_split(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(cur)), cur.clear(), in_word = false;
    } else if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      cur.append(s.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      size_t k = i + 1;
      for (; k < s.size() && s[k] != '"'; ++k) {
        // Inside double quotes a backslash escapes only $ ` " \ and newline.
        if (s[k] == '\\' && k + 1 < s.size() && std::string_view("$`\"\\\n").find(s[k + 1]) != std::string_view::npos) ++k;
        cur += s[k];
      }
      if (k >= s.size()) return std::nullopt;
      i = k;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < s.size()) cur += s[++i];
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::vector<std::string> selection_args(const Settings& s) {
  std::vector<std::string> a;
  if (s.package) a.insert(a.end(), {"-p", *s.package});
  if (!s.features.empty()) a.insert(a.end(), {"--features", join(s.features, ",")});
  if (s.bin) a.insert(a.end(), {"--bin", *s.bin});
  // "all" runs ignored tests as well as the others; "only" (what the original
  // offload passed) would drop every non-ignored test.
  if (s.include_ignored) a.insert(a.end(), {"--run-ignored", "all"});
  return a;
}

std::vector<std::string> list_argv(const Settings& s, const std::string& filters) {
  std::vector<std::string> argv{"cargo", "nextest", "list", "--message-format", "json"};
  auto sel = selection_args(s);
  argv.insert(argv.end(), sel.begin(), sel.end());
  auto words = shell_split(filters);
  if (!words) throw std::invalid_argument("group filters have an unterminated quote: " + filters);
  argv.insert(argv.end(), words->begin(), words->end());
  return argv;
}

ListParse parse_list_json(std::string_view out) {
  ListParse r;
  // stdout should be exactly one JSON document; tolerate stray lines before it.
  size_t start = out.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && out[start] != '{') {
    auto nl = out.find("\n{");
    start = nl == std::string_view::npos ? std::string_view::npos : nl + 1;
  }
  if (start == std::string_view::npos) {
    r.error = out.find_first_not_of(" \t\r\n") == std::string_view::npos ? "stdout is empty"
                                                                          : "stdout holds no JSON object";
    return r;
  }
  auto j = nlohmann::json::parse(out.substr(start), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    r.error = "stdout is not valid JSON";
    return r;
  }
  if (!j.is_object() || !j.contains("rust-suites") || !j["rust-suites"].is_object()) {
    r.error = "the JSON has no \"rust-suites\" object (is this `cargo nextest list --message-format json` output?)";
    return r;
  }
  for (auto& [key, suite] : j["rust-suites"].items()) {
    if (!suite.is_object()) {
      r.error = "rust-suites[\"" + key + "\"] is not an object";
      return r;
    }
    std::string binary_id = key;
    if (suite.contains("binary-id") && suite["binary-id"].is_string()) binary_id = suite["binary-id"].get<std::string>();
    if (!suite.contains("testcases") || suite["testcases"].is_null()) continue; // e.g. a skipped binary
    if (!suite["testcases"].is_object()) {
      r.error = "rust-suites[\"" + key + "\"].testcases is not an object";
      return r;
    }
    for (auto& [name, tc] : suite["testcases"].items()) {
      bool keep = true;
      bool ignored = false;
      if (tc.is_object()) {
        if (tc.contains("ignored") && tc["ignored"].is_boolean()) ignored = tc["ignored"].get<bool>();
        if (tc.contains("filter-match") && tc["filter-match"].is_object()) {
          auto& fm = tc["filter-match"];
          keep = !fm.contains("status") || (fm["status"].is_string() && fm["status"].get<std::string>() == "matches");
        }
      }
      if (keep) r.tests.push_back({binary_id, name, ignored});
    }
  }
  return r;
}

std::string format_id(std::string_view format, std::string_view classname, std::string_view name) {
  std::string out;
  for (size_t i = 0; i < format.size();) {
    if (format.substr(i, 6) == "{name}") {
      out += name;
      i += 6;
    } else if (format.substr(i, 11) == "{classname}") {
      out += classname;
      i += 11;
    } else {
      out += format[i++];
    }
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> split_id(std::string_view format, std::string_view id) {
  auto c = format.find("{classname}");
  auto n = format.find("{name}");
  if (n == std::string_view::npos) return std::nullopt;
  auto strip = [&](std::string_view pre, std::string_view post) -> std::optional<std::string_view> {
    if (id.size() < pre.size() + post.size() || id.substr(0, pre.size()) != pre ||
        id.substr(id.size() - post.size()) != post)
      return std::nullopt;
    return id.substr(pre.size(), id.size() - pre.size() - post.size());
  };
  if (c == std::string_view::npos) {
    auto mid = strip(format.substr(0, n), format.substr(n + 6));
    if (!mid) return std::nullopt;
    return std::pair{std::string(), std::string(*mid)};
  }
  if (c < n) {
    auto sep = format.substr(c + 11, n - c - 11);
    auto mid = strip(format.substr(0, c), format.substr(n + 6));
    if (!mid || sep.empty()) return std::nullopt;
    auto k = mid->find(sep);
    if (k == std::string_view::npos) return std::nullopt;
    return std::pair{std::string(mid->substr(0, k)), std::string(mid->substr(k + sep.size()))};
  }
  auto sep = format.substr(n + 6, c - n - 6);
  auto mid = strip(format.substr(0, n), format.substr(c + 11));
  if (!mid || sep.empty()) return std::nullopt;
  auto k = mid->rfind(sep);
  if (k == std::string_view::npos) return std::nullopt;
  return std::pair{std::string(mid->substr(k + sep.size())), std::string(mid->substr(0, k))};
}

std::string filterset_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case ')': out += "\\)"; break;
    case ',': out += "\\,"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\u{%X}", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out;
}

std::string filterset_for(const std::vector<std::pair<std::string, std::string>>& tests) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> by_binary;
  for (auto& [binary, name] : tests) {
    auto& v = by_binary[binary];
    if (v.empty()) order.push_back(binary);
    v.push_back(name);
  }
  std::vector<std::string> terms;
  for (auto& binary : order) {
    std::vector<std::string> names;
    for (auto& n : by_binary[binary]) names.push_back("test(=" + filterset_escape(n) + ")");
    std::string t = names.size() == 1 ? names[0] : "(" + join(names, " | ") + ")";
    if (!binary.empty()) t = "binary_id(=" + filterset_escape(binary) + ") & " + t;
    terms.push_back(order.size() > 1 && !binary.empty() ? "(" + t + ")" : t);
  }
  return terms.empty() ? "none()" : join(terms, " | ");
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out + "\"";
}

std::string tool_config_text(const std::string& junit_path) {
  std::string p = kProfile;
  return "# Written by offload for one batch; passed as --tool-config-file, so the\n"
         "# repository's .config/nextest.toml still applies and takes precedence.\n"
         "[profile." + p + "]\n"
         "# offload retries failed tests itself: on other sandboxes, or in this\n"
         "# batch with --retries N (which beats this) when it grants that.\n"
         "retries = 0\n"
         "\n"
         "[profile." + p + ".junit]\n"
         "# Absolute: nextest joins this onto its store dir, and an absolute path wins.\n"
         "path = " + toml_string(junit_path) + "\n";
}

RunPlan run_plan(const Settings& s, const std::vector<std::string>& ids, const std::string& result_path,
                 bool fail_fast, const std::string& project_dir,
                 const std::map<std::string, std::pair<std::string, std::string>>& known, unsigned retries) {
  std::string rp = result_path;
  if (rp.empty()) throw std::invalid_argument("no result path for the batch");
  if (rp[0] != '/') rp = (project_dir.empty() ? std::string("/tmp") : project_dir) + "/" + rp;
  std::vector<std::pair<std::string, std::string>> tests;
  for (auto& id : ids) {
    auto it = known.find(id);
    if (it != known.end()) {
      tests.push_back(it->second);
      continue;
    }
    auto parts = split_id(s.test_id_format, id);
    if (!parts) throw std::invalid_argument("test ID does not fit test_id_format \"" + s.test_id_format + "\": " + id);
    tests.push_back(std::move(*parts));
  }
  RunPlan p;
  p.config_path = rp + ".nextest.toml";
  p.filterset = filterset_for(tests);
  p.run_args = {"cargo", "nextest", "run", "--tool-config-file", std::string(kToolName) + ":" + p.config_path,
                "--profile", kProfile, fail_fast ? "--fail-fast" : "--no-fail-fast"};
  if (retries > 0) {
    // The command line beats the tool config's retries = 0, the repository's
    // profiles, per-test overrides and NEXTEST_RETRIES (nextest's runner:
    // force_retries.unwrap_or_else(|| settings.retries())).
    p.run_args.insert(p.run_args.end(), {"--retries", std::to_string(retries)});
    p.retries = retries;
  }
  auto sel = selection_args(s);
  p.run_args.insert(p.run_args.end(), sel.begin(), sel.end());
  std::string run;
  for (auto& a : p.run_args) run += shell_quote(a) + " ";
  run += "-E " + shell_quote(p.filterset);
  const std::string q = shell_quote(rp);
  p.script = "rm -f " + q + "\n" +
             "printf '%s' " + shell_quote(tool_config_text(rp)) + " > " + shell_quote(p.config_path) + " || exit 1\n" +
             run + "\n" +
             "__offload_rc=$?\n"
             "rm -f " + shell_quote(p.config_path) + "\n"
             "[ -s " + q + " ] || echo \"offload: cargo nextest run (exit $__offload_rc) wrote no JUnit report at \"" + q +
             " >&2\n"
             "exit $__offload_rc\n";
  return p;
}

std::vector<plugin::Result> results_from_cases(const std::vector<plugin::JunitCase>& cases, const std::string& format,
                                               const std::vector<CaseRuns>& runs, unsigned retries) {
  // Recorded runs by (classname, name), consumed in document order: a name may
  // repeat (stress runs write one testsuite per sub-run).
  std::map<std::pair<std::string, std::string>, std::deque<const CaseRuns*>> recorded;
  if (retries > 0) {
    for (auto& c : runs) recorded[{c.classname, c.name}].push_back(&c);
  }
  std::vector<plugin::Result> out;
  out.reserve(cases.size());
  for (auto& c : cases) {
    plugin::Result r;
    r.id = format_id(format, c.classname, c.name);
    r.status = c.status;
    r.duration_secs = c.time_secs;
    r.message = c.message;
    r.type = c.type;
    r.text = c.text;
    r.system_out = c.system_out;
    r.system_err = c.system_err;
    r.name = c.name;
    r.classname = c.classname;

    const CaseRuns* rec = nullptr;
    if (auto it = recorded.find({c.classname, c.name}); it != recorded.end() && !it->second.empty()) {
      rec = it->second.front();
      it->second.pop_front();
    }
    if (!rec || rec->runs.empty()) {
      out.push_back(std::move(r));
      continue;
    }
    // nextest's order: flaky* runs came before the testcase's own run (its
    // last, passing one), rerun* runs after it (its own is the first failure).
    std::vector<plugin::Result> seq;
    auto add = [&](const RecordedRun& x) {
      plugin::Result e;
      e.id = r.id;
      e.status = x.status;
      e.duration_secs = x.time_secs;
      e.message = x.message;
      e.type = x.type;
      e.text = x.text;
      e.system_out = x.system_out;
      e.system_err = x.system_err;
      e.name = r.name;
      e.classname = r.classname;
      seq.push_back(std::move(e));
    };
    for (auto& x : rec->runs)
      if (x.flaky) add(x);
    seq.push_back(r);
    for (auto& x : rec->runs)
      if (!x.flaky) add(x);
    // More runs than granted (nextest was asked for --retries N): keep the
    // last N + 1, so the final outcome stays the last one.
    size_t keep = std::min<size_t>(seq.size(), size_t{retries} + 1);
    seq.erase(seq.begin(), seq.end() - static_cast<std::ptrdiff_t>(keep));
    bool shaped = std::all_of(seq.begin(), seq.end() - 1, [](const plugin::Result& x) { return failed(x.status); });
    if (seq.size() < 2 || !shaped) {
      out.push_back(std::move(r)); // not a retry sequence nextest writes: the final outcome once
      continue;
    }
    for (size_t i = 0; i < seq.size(); ++i) {
      seq[i].attempt = static_cast<unsigned>(i + 1);
      out.push_back(std::move(seq[i]));
    }
  }
  return out;
}

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

std::string discovery_error(const std::string& group, int exit_code, int term_signal, const std::string& out,
                            const std::string& err, const std::string& parse_error) {
  std::string m = "`cargo nextest list` for group '" + group + "' ";
  if (term_signal) {
    m += "was killed by signal " + std::to_string(term_signal);
  } else if (exit_code != 0) {
    m += "failed (exit code " + std::to_string(exit_code) + ")";
  } else {
    m += "printed output offload cannot read: " + parse_error;
    if (!out.empty()) m += "; stdout begins: " + head(out, 300);
  }
  if (err.find("no such command") != std::string::npos && err.find("nextest") != std::string::npos) {
    m += "; cargo-nextest is not installed (install it: cargo install cargo-nextest, or see https://nexte.st)";
  }
  if (!err.empty()) m += "\nstderr: " + tail(err, 2000);
  return m;
}

} // namespace offload::nextest
