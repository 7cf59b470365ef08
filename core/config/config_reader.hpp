#pragma once
/// Internal to core/config: typed, position-aware access to a parsed toml++
/// table. Every getter checks the value's type, records a ConfigError naming
/// the file, line and dotted field on mismatch, and leaves the output at its
/// default. Nothing here throws.
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "config/config.hpp"

namespace offload::config_detail {

/// 1-based line where a node (or key) starts; 0 when toml++ has no position.
int line_of(const toml::node& node);
int line_of(const toml::key& key);

/// "string", "integer", "float", "boolean", "array", "table", "date", ...
std::string_view type_name(const toml::node& node);

/// A TOML value as JSON (dates and times become their TOML text).
nlohmann::json to_json(const toml::node& node);

/// Collects errors and warnings for one file and reads typed values.
class Reader {
public:
  explicit Reader(std::string file) : m_file(std::move(file)) {}

  void error(int line, std::string field, std::string message);
  void warn(int line, const std::string& message);

  /// Warn about every key of `table` not in `known`; `context` is appended to
  /// the message (e.g. " for provider type 'local'"). Field names are
  /// `prefix.key`.
  void check_keys(const toml::table& table, const std::string& prefix,
                  std::initializer_list<std::string_view> known, std::string_view context = {});

  /// Each getter returns true only when the key is present with the right type
  /// (and in range); a missing key returns false without an error.
  bool get_string(const toml::table& table, std::string_view key, const std::string& prefix,
                  std::string& out);
  bool get_string(const toml::table& table, std::string_view key, const std::string& prefix,
                  std::optional<std::string>& out);
  bool get_int(const toml::table& table, std::string_view key, const std::string& prefix, int& out,
               int minimum);
  bool get_bool(const toml::table& table, std::string_view key, const std::string& prefix, bool& out);
  /// Accepts integers too (cpu_cores = 1). Requires value > 0.
  bool get_positive_double(const toml::table& table, std::string_view key, const std::string& prefix,
                           double& out);
  bool get_string_list(const toml::table& table, std::string_view key, const std::string& prefix,
                       std::vector<std::string>& out);
  /// A table whose values are all strings (env tables).
  bool get_string_map(const toml::table& table, std::string_view key, const std::string& prefix,
                      std::map<std::string, std::string>& out);
  /// A nested table; type error if the key holds anything else.
  const toml::table* get_table(const toml::table& table, std::string_view key, const std::string& prefix);

  /// Report a required key that is absent (line of the enclosing table).
  void require(const toml::table& table, std::string_view key, const std::string& prefix);

  /// Expand environment references in every string of the tree, in place.
  void expand_strings(toml::node& node, const std::string& field);

  const std::string& file() const { return m_file; }
  std::vector<ConfigError> take_errors();
  std::vector<std::string> take_warnings();

private:
  void type_error(const toml::node& node, const std::string& field, std::string_view expected);

  std::string m_file;
  std::vector<ConfigError> m_errors;
  std::vector<std::pair<int, std::string>> m_warnings; ///< (line, text), sorted on take
};

/// `prefix.key`, or `key` when prefix is empty.
std::string dotted(const std::string& prefix, std::string_view key);

} // namespace offload::config_detail
