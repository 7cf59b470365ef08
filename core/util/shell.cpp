#include "util/shell.hpp"

namespace offload {

namespace {
bool is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
}
} // namespace

std::string shell_quote(std::string_view s) {
  if (s.empty()) {
    return "''";
  }
  bool plain = true;
  for (char c : s) {
    plain = plain && is_plain(c);
  }
  if (plain) {
    return std::string(s);
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) {
      out += ' ';
    }
    out += shell_quote(argv[i]);
  }
  return out;
}

std::optional<std::vector<std::string>> shell_split(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) {
        out.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      continue;
    }
    in_word = true;
    if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return std::nullopt;
      }
      cur.append(s.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            std::string_view("\"\\$`\n").find(s[j + 1]) != std::string_view::npos) {
          ++j;
        }
        cur += s[j];
      }
      if (j >= s.size()) {
        return std::nullopt;
      }
      i = j;
    } else if (c == '\\') {
      if (i + 1 < s.size()) {
        cur += s[++i];
      }
    } else {
      cur += c;
    }
  }
  if (in_word) {
    out.push_back(std::move(cur));
  }
  return out;
}

} // namespace offload
