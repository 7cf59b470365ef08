#pragma once
/// `offload logs`: per-test results of the last run, read back from the merged
/// junit.xml and printed one banner per test ID.
#include <string>
#include <vector>

namespace offload {

/// Which tests to show. The status flags select a set of statuses
/// (--failures: FAILED and FLAKY, --errors: ERROR; both: either); that set,
/// the --test IDs (any of them) and the --test-regex are ANDed.
struct LogsFilter {
  bool failures = false;
  bool errors = false;
  std::vector<std::string> tests; ///< exact IDs; empty = any
  std::string regex;              ///< ECMAScript regex searched within the ID; empty = any
};

/// Render the matching entries into `out` and return the exit code:
/// 0 (printed, or nothing matched), 1 (no/unreadable report, bad regex).
/// Every message, including errors, goes to `out`.
int show_logs(const std::string& junit_path, const LogsFilter& filter, std::string& out);

} // namespace offload
