#pragma once
/// The nextest framework's translation logic, free of the plugin ABI so that
/// unit tests drive it from fixtures: settings from the [framework] JSON, the
/// `cargo nextest list` command and its JSON, the batch script (tool config
/// file + `cargo nextest run -E <filterset>`), and JUnit cases -> results.
/// JUnit parsing itself is injected: the plugin uses the host's parser.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <offload/plugin.hpp>

namespace offload::nextest {

/// The nextest profile offload defines in its tool config file. Not named
/// default-* (reserved by nextest); a repository may define its own
/// [profile.offload] in .config/nextest.toml to override our settings.
inline constexpr const char* kProfile = "offload";
/// Tool name for --tool-config-file (must be a Unicode identifier).
inline constexpr const char* kToolName = "offload";

struct Settings {
  std::optional<std::string> package;  ///< -p
  std::vector<std::string> features;   ///< --features a,b
  std::optional<std::string> bin;      ///< --bin
  bool include_ignored = false;        ///< --run-ignored all (run ignored tests too)
  std::string test_id_format = "{classname} {name}";
};

/// Settings from the [framework] table as JSON. Throws std::invalid_argument
/// naming the field on a wrong type.
Settings parse_settings(const std::string& json);

/// POSIX-sh single-quoting; plain words stay unquoted.
std::string shell_quote(std::string_view s);
/// Split words like sh (quotes, backslashes), no expansion. nullopt on an unterminated quote.
std::optional<std::vector<std::string>> shell_split(std::string_view s);

/// Package/feature/binary/ignored selection flags, shared by list and run.
std::vector<std::string> selection_args(const Settings& s);

/// argv of `cargo nextest list --message-format json ...` with the group's
/// filters split like a shell and appended. Throws std::invalid_argument on an
/// unterminated quote in filters.
std::vector<std::string> list_argv(const Settings& s, const std::string& filters);

/// One test from the listing.
struct ListedTest {
  std::string binary_id;
  std::string name;
  bool ignored = false;
};

struct ListParse {
  std::vector<ListedTest> tests; ///< only tests whose filter-match is absent or "matches"
  std::string error;             ///< non-empty: not a nextest JSON listing (says why)
  bool ok() const { return error.empty(); }
};

/// Parse `cargo nextest list --message-format json` stdout ("rust-suites").
ListParse parse_list_json(std::string_view out);

/// test_id_format applied to a binary ID ({classname}) and test name ({name}),
/// in one pass (a name containing "{name}" is not substituted again).
std::string format_id(std::string_view format, std::string_view classname, std::string_view name);

/// Recover (binary ID, test name) from an ID made with format_id, for formats
/// of the shape "<pre>{classname}<sep>{name}<post>" (binary IDs never hold
/// spaces, so the default "{classname} {name}" is unambiguous) or holding only
/// {name} (binary ID empty). nullopt when the ID does not fit the format.
std::optional<std::pair<std::string, std::string>> split_id(std::string_view format, std::string_view id);

/// Escape a string for an `=` (equality) name matcher in nextest's filterset
/// DSL: backslash, ')' and ',' and control characters use the documented
/// escape sequences, so names are data whatever they hold.
std::string filterset_escape(std::string_view s);

/// A filterset selecting exactly the given tests:
/// `(binary_id(=b1) & (test(=t1) | test(=t2))) | ...`, binaries in first-seen
/// order. An empty binary ID selects by test name only.
std::string filterset_for(const std::vector<std::pair<std::string, std::string>>& tests);

/// TOML basic string ("..." with escapes).
std::string toml_string(std::string_view s);

/// The tool config file written next to the result: [profile.offload] with
/// retries = 0 (offload retries across sandboxes itself) and the JUnit path.
std::string tool_config_text(const std::string& junit_path);

/// Everything run_command needs for one batch.
struct RunPlan {
  std::string script;      ///< for sh -c
  std::string config_path; ///< the tool config file it writes
  std::string filterset;
  std::vector<std::string> run_args; ///< cargo nextest run ... (before -E)
};

/// Build the batch script. result_path must be absolute (nextest requires an
/// absolute --tool-config-file and joins the JUnit path onto its store dir);
/// a relative one is made absolute against project_dir. Throws
/// std::invalid_argument if an ID cannot be mapped to a (binary, test) pair.
RunPlan run_plan(const Settings& s, const std::vector<std::string>& ids, const std::string& result_path,
                 bool fail_fast, const std::string& project_dir,
                 const std::map<std::string, std::pair<std::string, std::string>>& known);

/// JUnit cases (already parsed) -> results, IDs made with test_id_format.
std::vector<plugin::Result> results_from_cases(const std::vector<plugin::JunitCase>& cases, const std::string& format);

/// Last n bytes of s, prefixed with "..." when cut.
std::string tail(const std::string& s, size_t n);

/// The error message for a failed or unreadable `cargo nextest list`.
std::string discovery_error(const std::string& group, int exit_code, int term_signal, const std::string& out,
                            const std::string& err, const std::string& parse_error);

} // namespace offload::nextest
