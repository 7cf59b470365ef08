#include "config/config_reader.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <sstream>

namespace offload::config_detail {

int line_of(const toml::node& node) {
  return static_cast<int>(node.source().begin.line);
}

int line_of(const toml::key& key) {
  return static_cast<int>(key.source().begin.line);
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

nlohmann::json to_json(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json obj = nlohmann::json::object();
    for (auto&& [k, v] : *t) {
      obj[std::string(k.str())] = to_json(v);
    }
    return obj;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : *a) {
      arr.push_back(to_json(v));
    }
    return arr;
  }
  if (const auto* s = node.as_string()) {
    return s->get();
  }
  if (const auto* i = node.as_integer()) {
    return i->get();
  }
  if (const auto* f = node.as_floating_point()) {
    return f->get();
  }
  if (const auto* b = node.as_boolean()) {
    return b->get();
  }
  // Dates and times: their TOML spelling is the least surprising text form.
  std::ostringstream out;
  node.visit([&](const auto& v) {
    if constexpr (toml::is_date<decltype(v)> || toml::is_time<decltype(v)> ||
                  toml::is_date_time<decltype(v)>) {
      out << v;
    }
  });
  return out.str();
}

std::string dotted(const std::string& prefix, std::string_view key) {
  if (prefix.empty()) {
    return std::string(key);
  }
  return prefix + "." + std::string(key);
}

void Reader::error(int line, std::string field, std::string message) {
  m_errors.push_back(ConfigError{m_file, line, std::move(field), std::move(message)});
}

void Reader::warn(int line, const std::string& message) {
  std::string text = m_file;
  if (line > 0) {
    text += ":" + std::to_string(line);
  }
  text += ": " + message;
  m_warnings.emplace_back(line, std::move(text));
}

void Reader::type_error(const toml::node& node, const std::string& field, std::string_view expected) {
  error(line_of(node), field, "expected " + std::string(expected) + ", got " + std::string(type_name(node)));
}

void Reader::check_keys(const toml::table& table, const std::string& prefix,
                        std::initializer_list<std::string_view> known, std::string_view context) {
  for (auto&& [k, v] : table) {
    if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
      warn(line_of(k), "unknown key '" + dotted(prefix, k.str()) + "'" + std::string(context) + " (ignored)");
    }
  }
}

bool Reader::get_string(const toml::table& table, std::string_view key, const std::string& prefix,
                        std::string& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return false;
  }
  if (const auto* s = node->as_string()) {
    out = s->get();
    return true;
  }
  type_error(*node, dotted(prefix, key), "a string");
  return false;
}

bool Reader::get_string(const toml::table& table, std::string_view key, const std::string& prefix,
                        std::optional<std::string>& out) {
  std::string value;
  if (!get_string(table, key, prefix, value)) {
    return false;
  }
  out = std::move(value);
  return true;
}

bool Reader::get_int(const toml::table& table, std::string_view key, const std::string& prefix, int& out,
                     int minimum) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return false;
  }
  const auto* i = node->as_integer();
  if (i == nullptr) {
    type_error(*node, dotted(prefix, key), "an integer");
    return false;
  }
  const int64_t value = i->get();
  if (value < minimum || value > INT_MAX) {
    const std::string range = value > INT_MAX ? "<= " + std::to_string(INT_MAX) : ">= " + std::to_string(minimum);
    error(line_of(*node), dotted(prefix, key), "expected an integer " + range + ", got " + std::to_string(value));
    return false;
  }
  out = static_cast<int>(value);
  return true;
}

bool Reader::get_bool(const toml::table& table, std::string_view key, const std::string& prefix, bool& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return false;
  }
  if (const auto* b = node->as_boolean()) {
    out = b->get();
    return true;
  }
  type_error(*node, dotted(prefix, key), "a boolean");
  return false;
}

bool Reader::get_positive_double(const toml::table& table, std::string_view key, const std::string& prefix,
                                 double& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return false;
  }
  double value = 0.0;
  if (const auto* f = node->as_floating_point()) {
    value = f->get();
  } else if (const auto* i = node->as_integer()) {
    value = static_cast<double>(i->get());
  } else {
    type_error(*node, dotted(prefix, key), "a number");
    return false;
  }
  if (!(value > 0.0) || !std::isfinite(value)) {
    std::ostringstream text;
    text << "expected a number > 0, got " << value;
    error(line_of(*node), dotted(prefix, key), text.str());
    return false;
  }
  out = value;
  return true;
}

bool Reader::get_string_list(const toml::table& table, std::string_view key, const std::string& prefix,
                             std::vector<std::string>& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return false;
  }
  const auto* arr = node->as_array();
  if (arr == nullptr) {
    type_error(*node, dotted(prefix, key), "an array of strings");
    return false;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    if (const auto* s = item.as_string()) {
      values.push_back(s->get());
    } else {
      type_error(item, dotted(prefix, key) + "[" + std::to_string(i) + "]", "a string");
      ok = false;
    }
  }
  if (ok) {
    out = std::move(values);
  }
  return ok;
}

bool Reader::get_string_map(const toml::table& table, std::string_view key, const std::string& prefix,
                            std::map<std::string, std::string>& out) {
  const toml::table* sub = get_table(table, key, prefix);
  if (sub == nullptr) {
    return false;
  }
  bool ok = true;
  const std::string field = dotted(prefix, key);
  for (auto&& [k, v] : *sub) {
    if (const auto* s = v.as_string()) {
      out[std::string(k.str())] = s->get();
    } else {
      type_error(v, dotted(field, k.str()), "a string");
      ok = false;
    }
  }
  return ok;
}

const toml::table* Reader::get_table(const toml::table& table, std::string_view key, const std::string& prefix) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return nullptr;
  }
  if (const auto* t = node->as_table()) {
    return t;
  }
  type_error(*node, dotted(prefix, key), "a table");
  return nullptr;
}

void Reader::require(const toml::table& table, std::string_view key, const std::string& prefix) {
  if (!table.contains(key)) {
    error(line_of(table), dotted(prefix, key), "missing required key");
  }
}

void Reader::expand_strings(toml::node& node, const std::string& field) {
  if (auto* t = node.as_table()) {
    for (auto&& [k, v] : *t) {
      expand_strings(v, dotted(field, k.str()));
    }
  } else if (auto* a = node.as_array()) {
    for (size_t i = 0; i < a->size(); ++i) {
      expand_strings(*a->get(i), field + "[" + std::to_string(i) + "]");
    }
  } else if (auto* s = node.as_string()) {
    std::string problem;
    if (auto expanded = expand_env(s->get(), &problem)) {
      s->get() = std::move(*expanded);
    } else {
      error(line_of(node), field, problem);
    }
  }
}

std::vector<ConfigError> Reader::take_errors() {
  // File order; errors without a line (whole-file problems) last.
  std::stable_sort(m_errors.begin(), m_errors.end(), [](const ConfigError& a, const ConfigError& b) {
    const int la = a.line == 0 ? INT_MAX : a.line;
    const int lb = b.line == 0 ? INT_MAX : b.line;
    return la < lb;
  });
  return std::move(m_errors);
}

std::vector<std::string> Reader::take_warnings() {
  std::stable_sort(m_warnings.begin(), m_warnings.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  out.reserve(m_warnings.size());
  for (auto& w : m_warnings) {
    out.push_back(std::move(w.second));
  }
  return out;
}

} // namespace offload::config_detail
