#include "report/logs.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>

#include "report/junit.hpp"
#include "util/strings.hpp"

namespace offload {

namespace {

enum class LogStatus { Passed, Skipped, Flaky, Error, Failed };

const char* label(LogStatus s) {
  switch (s) {
  case LogStatus::Passed: return "PASSED";
  case LogStatus::Skipped: return "SKIPPED";
  case LogStatus::Flaky: return "FLAKY";
  case LogStatus::Error: return "ERROR";
  case LogStatus::Failed: return "FAILED";
  }
  return "?";
}

LogStatus status_of(const JunitCase& c) {
  switch (c.status) {
  case AttemptStatus::Failed: return LogStatus::Failed;
  case AttemptStatus::Error:
  case AttemptStatus::NotRun: return LogStatus::Error;
  case AttemptStatus::Skipped: return LogStatus::Skipped;
  case AttemptStatus::Passed: break;
  }
  bool flaky = std::any_of(c.retries.begin(), c.retries.end(), [](const JunitRetry& r) { return r.flaky(); });
  return flaky ? LogStatus::Flaky : LogStatus::Passed;
}

/// How much a copy of a test says: when a foreign report holds one ID several
/// times (one per batch or retry), the worst copy is shown.
int severity(LogStatus s) { return static_cast<int>(s); }

std::string id_of(const JunitCase& c) { return c.name.empty() ? c.classname : c.name; }

/// Append a block of output without its leading blank lines and trailing
/// whitespace (frameworks pad their XML text); nothing if it is blank.
void append_block(std::string& out, std::string_view text) {
  size_t begin = text.find_first_not_of("\r\n");
  size_t end = text.find_last_not_of(" \t\r\n");
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return;
  }
  out.append(text.substr(begin, end - begin + 1));
  out += '\n';
}

void append_section(std::string& out, std::string_view header, std::string_view text) {
  if (trim(text).empty()) {
    return;
  }
  out += "--- ";
  out += header;
  out += " ---\n";
  append_block(out, text);
}

std::string property(const JunitCase& c, std::string_view name) {
  for (const auto& [k, v] : c.properties) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

void append_entry(std::string& out, const std::string& id, const JunitCase& c, LogStatus status) {
  out += "=== " + id + " [" + label(status) + "] ===\n";
  if (status == LogStatus::Flaky) {
    std::vector<const JunitRetry*> failures;
    for (const JunitRetry& r : c.retries) {
      if (r.flaky()) {
        failures.push_back(&r);
      }
    }
    std::string cause = property(c, "offload.cause");
    if (cause.empty()) {
      cause = "passed after " + std::to_string(failures.size()) + " failed attempt" +
              (failures.size() == 1 ? "" : "s");
    }
    append_block(out, cause);
    for (size_t i = 0; i < failures.size(); ++i) {
      const JunitRetry& r = *failures[i];
      out += "--- failed attempt " + std::to_string(i + 1) + " of " + std::to_string(failures.size()) + " ---\n";
      append_block(out, r.message);
      append_block(out, r.text);
      append_section(out, "system-out", r.system_out);
      append_section(out, "system-err", r.system_err);
    }
    if (!trim(c.system_out).empty() || !trim(c.system_err).empty()) {
      out += "--- passing attempt ---\n";
    }
  } else {
    append_block(out, c.message);
    append_block(out, c.text);
  }
  append_section(out, "system-out", c.system_out);
  append_section(out, "system-err", c.system_err);
  out += '\n';
}

} // namespace

int show_logs(const std::string& junit_path, const LogsFilter& filter, std::string& out) {
  std::optional<std::regex> re;
  if (!filter.regex.empty()) {
    try {
      re.emplace(filter.regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      out += "Invalid --test-regex '" + filter.regex + "': " + e.what() + "\n";
      return 1;
    }
  }

  std::error_code ec;
  if (!std::filesystem::exists(junit_path, ec)) {
    out += "No test results found at " + junit_path + ". Run `offload run` first.\n";
    return 1;
  }
  JunitParse parsed = parse_junit_file(junit_path);
  if (!parsed.ok()) {
    out += "Could not read test results: " + parsed.error + "\n";
    return 1;
  }

  // One entry per ID, sorted; the worst copy of a duplicated ID wins.
  std::map<std::string, std::pair<const JunitCase*, LogStatus>> entries;
  for (const JunitCase& c : parsed.cases) {
    LogStatus s = status_of(c);
    auto [it, inserted] = entries.try_emplace(id_of(c), &c, s);
    if (!inserted && severity(s) > severity(it->second.second)) {
      it->second = {&c, s};
    }
  }

  size_t shown = 0;
  for (const auto& [id, entry] : entries) {
    LogStatus s = entry.second;
    if (filter.failures || filter.errors) {
      bool wanted = (filter.failures && (s == LogStatus::Failed || s == LogStatus::Flaky)) ||
                    (filter.errors && s == LogStatus::Error);
      if (!wanted) {
        continue;
      }
    }
    if (!filter.tests.empty() && std::find(filter.tests.begin(), filter.tests.end(), id) == filter.tests.end()) {
      continue;
    }
    if (re && !std::regex_search(id, *re)) {
      continue;
    }
    append_entry(out, id, *entry.first, s);
    ++shown;
  }
  if (shown == 0) {
    out += entries.empty() ? "No test results in " + junit_path + ".\n" : "No tests matched the given filters.\n";
  }
  return 0;
}

} // namespace offload
