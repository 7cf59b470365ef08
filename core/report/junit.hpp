#pragma once
/// JUnit XML in and out.
///  - parse_junit(): reads the result file of one batch (pytest, nextest,
///    vitest, doctest, Surefire, ... flavours; nested testsuites; truncated or
///    garbage input is an error, never a crash).
///  - write_junit(): the canonical merged report: one testcase per test ID in
///    deterministic order, every attempt kept Surefire-style, valid XML whatever
///    the tests printed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "run/outcome.hpp"

namespace offload {

/// A retried attempt recorded inside a testcase (Surefire/nextest style):
/// <flakyFailure>/<flakyError> on a test that finally passed,
/// <rerunFailure>/<rerunError> on one that finally failed. These never change
/// the testcase's own status.
struct JunitRetry {
  std::string kind; ///< element name: flakyFailure, flakyError, rerunFailure, rerunError
  std::string message;
  std::string type;
  std::string text; ///< element text, or its <stackTrace> child
  std::string system_out;
  std::string system_err;
  bool flaky() const { return kind.rfind("flaky", 0) == 0; }
};

struct JunitCase {
  std::string name;
  std::string classname;
  std::string file;
  double time = 0;
  AttemptStatus status = AttemptStatus::Passed; ///< Passed, Failed (<failure>), Error (<error>), Skipped (<skipped>)
  std::string message;
  std::string type;
  std::string text;
  std::string system_out;
  std::string system_err;
  std::vector<std::pair<std::string, std::string>> properties; ///< <properties><property name= value=/>
  std::vector<JunitRetry> retries; ///< flakyFailure/rerunFailure/... children, in document order
};

struct JunitParse {
  std::vector<JunitCase> cases;
  std::string error; ///< non-empty: the file could not be parsed ("line 3: unexpected end of data")
  bool ok() const { return error.empty(); }
};

JunitParse parse_junit(std::string_view xml);
JunitParse parse_junit_file(const std::string& path); ///< error names the path; missing/empty files are errors

/// Apply a test_id_format ("{name}", "{classname} {name}", "{classname}::{name}", ...).
std::string format_test_id(std::string_view format, const JunitCase& c);

/// Just the (name, time) of every <testcase> start tag, for duration hints
/// from a previous report: a single pass over the text, no DOM, so reading a
/// 100k-test junit.xml costs a few megabytes, not a parse tree. Entities in
/// names are decoded; malformed tags are skipped. Missing file: empty.
std::vector<std::pair<std::string, double>> scan_junit_times(const std::string& path);

struct JunitWriteOptions {
  std::string suite_name = "offload";
  double total_secs = 0;
  size_t max_output_bytes = 1 << 20; ///< per system-out/err/text field; longer output is cut with a "[... N bytes truncated by offload ...]" marker; 0 = no limit
};

/// Write the merged report atomically (temp file + rename). Returns an error message or empty.
std::string write_junit(const std::string& path, const std::vector<TestResult>& results,
                        const JunitWriteOptions& opts);
/// Same, to a string (used by tests and write_junit).
std::string render_junit(const std::vector<TestResult>& results, const JunitWriteOptions& opts);

/// Make arbitrary bytes safe for XML 1.0 text: invalid UTF-8 becomes U+FFFD,
/// control characters other than \t \n \r become "\\xNN" text (lowercase hex),
/// and the non-characters U+FFFE/U+FFFF become U+FFFD. No markup escaping.
std::string xml_safe(std::string_view bytes);

/// xml_safe(), cut when the safe text exceeds max_bytes: whole characters from
/// the head and the tail (max_bytes in total) around a
/// "\n[... N bytes truncated by offload ...]\n" marker, N counting the input
/// bytes dropped. Costs O(max_bytes) however long the input. 0 = no limit.
std::string xml_safe_truncated(std::string_view bytes, size_t max_bytes);

} // namespace offload
