// TAP (Test Anything Protocol, versions 12-14) to offload results.
//
// A pure function of the text, so it is tested without offload or processes
// (see tests/tap_parse_test.cpp). Understood:
//   ok 1 - name                      passed
//   not ok 2 - name                  failed
//   ok 3 - name # SKIP reason        skipped (message = reason)
//   not ok 4 - name # TODO reason    skipped: a TODO test is not a failure in TAP
//   ok 5 - name # TODO reason        passed
//   # diagnostic                     the previous test's text (and, for a
//                                    failure, the first line its message)
//     ---  ...  (YAML block)         appended to the previous test's text;
//                                    duration_ms: N and message: M are read
//   Bail out! reason                 stops parsing: later tests are unreported
// The plan line (1..N), "TAP version N", pragmas and indented subtests are
// ignored. The test's description is its ID, so the runner must print the
// same names it lists at discovery. Unescapes \# and \\ in descriptions.
#pragma once

#include <offload/plugin.hpp>

#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

namespace tap {

struct Report {
  std::vector<offload::plugin::Result> results;
  bool bailed_out = false;
  std::string bail_reason;
};

namespace detail {

inline std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

inline bool starts_with_nocase(const std::string& s, const char* prefix) {
  size_t i = 0;
  for (; prefix[i]; ++i) {
    if (i >= s.size() || std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

/// Splits "desc # directive" at the first unescaped '#'; unescapes the description.
inline void split_directive(const std::string& rest, std::string& desc, std::string& directive) {
  desc.clear();
  directive.clear();
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '\\' && i + 1 < rest.size() && (rest[i + 1] == '#' || rest[i + 1] == '\\')) {
      desc += rest[++i];
    } else if (c == '#') {
      directive = trim(rest.substr(i + 1));
      break;
    } else {
      desc += c;
    }
  }
  desc = trim(desc);
}

} // namespace detail

inline Report parse(const std::string& text) {
  using offload::plugin::Result;
  Report report;
  Result* last = nullptr;
  bool in_yaml = false;
  std::vector<std::string> diag, yaml; // per result: '#' lines and YAML block
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();

    if (in_yaml) {
      std::string t = detail::trim(line);
      if (t == "...") {
        in_yaml = false;
        continue;
      }
      if (last) {
        yaml.back() += t + "\n";
        if (t.rfind("duration_ms:", 0) == 0) last->duration_secs = std::atof(t.c_str() + 12) / 1000.0;
        if (t.rfind("message:", 0) == 0 && last->message.empty()) {
          std::string m = detail::trim(t.substr(8));
          if (m.size() >= 2 && (m.front() == '"' || m.front() == '\'') && m.back() == m.front()) m = m.substr(1, m.size() - 2);
          last->message = m;
        }
      }
      continue;
    }
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (detail::trim(line) == "---" && last) in_yaml = true;
      continue; // indented: YAML start or a subtest
    }
    if (line.rfind("Bail out!", 0) == 0) {
      report.bailed_out = true;
      report.bail_reason = detail::trim(line.substr(9));
      break;
    }
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (last) diag.back() += detail::trim(line.substr(1)) + "\n";
      continue;
    }
    bool ok = line.rfind("ok", 0) == 0;
    bool not_ok = line.rfind("not ok", 0) == 0;
    if (!ok && !not_ok) continue; // plan, version, pragma, anything else
    std::string rest = line.substr(not_ok ? 6 : 2);
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') continue; // "okay", "ok1": not a test line
    rest = detail::trim(rest);
    size_t d = 0;
    while (d < rest.size() && std::isdigit(static_cast<unsigned char>(rest[d]))) ++d; // test number (optional)
    rest = detail::trim(rest.substr(d));
    if (rest.rfind("- ", 0) == 0 || rest == "-") rest = rest.substr(1);
    std::string desc, directive;
    detail::split_directive(rest, desc, directive);
    if (desc.empty()) continue; // an unnamed test cannot be matched to an ID

    Result r;
    r.id = desc;
    r.name = desc;
    if (detail::starts_with_nocase(directive, "skip")) {
      r.status = OFFLOAD_TEST_SKIPPED;
      size_t sp = directive.find_first_of(" \t");
      r.message = sp == std::string::npos ? "" : detail::trim(directive.substr(sp));
    } else if (detail::starts_with_nocase(directive, "todo")) {
      r.status = ok ? OFFLOAD_TEST_PASSED : OFFLOAD_TEST_SKIPPED;
      r.message = "TODO" + (directive.size() > 4 ? ": " + detail::trim(directive.substr(4)) : std::string());
    } else {
      r.status = ok ? OFFLOAD_TEST_PASSED : OFFLOAD_TEST_FAILED;
    }
    report.results.push_back(std::move(r));
    last = &report.results.back();
    diag.emplace_back();
    yaml.emplace_back();
  }
  // The text: diagnostics, then the YAML block. A failure's message: the
  // YAML message, else its first diagnostic line.
  for (size_t i = 0; i < report.results.size(); ++i) {
    auto& r = report.results[i];
    r.text = diag[i] + (yaml[i].empty() ? "" : "---\n" + yaml[i] + "...\n");
    if (r.status != OFFLOAD_TEST_FAILED || !r.message.empty()) continue;
    r.message = diag[i].empty() ? "not ok" : diag[i].substr(0, diag[i].find('\n'));
  }
  return report;
}

} // namespace tap
