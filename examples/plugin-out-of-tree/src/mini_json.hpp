// A deliberately tiny JSON reader: enough to read the flat [framework] table
// offload hands to a framework plugin as JSON text (strings, numbers, booleans,
// nested arrays/objects are skipped). It keeps this example free of any
// dependency other than the installed <offload/plugin.hpp>; a real plugin is
// free to use nlohmann/json, RapidJSON or anything else.
#pragma once

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>

namespace tap {

/// Top-level string members of a JSON object ("key": "value"). Non-string
/// members are skipped. Throws std::runtime_error on malformed input.
inline std::map<std::string, std::string> json_string_members(const std::string& s) {
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  };
  auto fail = [&](const char* what) { throw std::runtime_error(std::string("bad config JSON: ") + what); };
  auto string = [&]() -> std::string {
    if (i >= s.size() || s[i] != '"') fail("expected a string");
    ++i;
    std::string out;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) fail("unterminated escape");
      char e = s[i++];
      switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (i + 4 > s.size()) fail("short \\u escape");
        unsigned cp = static_cast<unsigned>(std::stoul(s.substr(i, 4), nullptr, 16));
        i += 4;
        // BMP only (surrogate pairs are not needed for config keys and commands here).
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: out += e; // \" \\ \/
      }
    }
    if (i >= s.size()) fail("unterminated string");
    ++i;
    return out;
  };
  // Skip any value (used for non-string members).
  auto skip = [&](auto& self) -> void {
    ws();
    if (i >= s.size()) fail("unexpected end");
    if (s[i] == '"') {
      string();
    } else if (s[i] == '{' || s[i] == '[') {
      char close = s[i] == '{' ? '}' : ']';
      ++i;
      ws();
      if (i < s.size() && s[i] == close) {
        ++i;
        return;
      }
      while (true) {
        if (close == '}') {
          ws();
          string();
          ws();
          if (i >= s.size() || s[i] != ':') fail("expected ':'");
          ++i;
        }
        self(self);
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == close) {
          ++i;
          return;
        }
        fail("expected ',' or a closing bracket");
      }
    } else {
      while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i; // number, true, false, null
    }
  };

  std::map<std::string, std::string> out;
  ws();
  if (i >= s.size() || s[i] != '{') fail("expected an object");
  ++i;
  ws();
  if (i < s.size() && s[i] == '}') return out;
  while (true) {
    ws();
    std::string key = string();
    ws();
    if (i >= s.size() || s[i] != ':') fail("expected ':'");
    ++i;
    ws();
    if (i < s.size() && s[i] == '"') {
      out[key] = string();
    } else {
      skip(skip);
    }
    ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') break;
    fail("expected ',' or '}'");
  }
  return out;
}

} // namespace tap
