#pragma once
/// A model of how POSIX sh reads a command's argument words, for checking
/// shell quoting in-process (a fuzzer cannot fork sh per input).
///
/// It accepts only text whose meaning it knows exactly: words of plain
/// characters ([A-Za-z0-9_./:=@%+,-]), single-quoted strings (everything up
/// to the next ' is literal, newlines and bytes >= 0x80 included), and
/// backslash-escaped characters, separated by spaces. Anything sh would
/// interpret (unquoted $ ` " ; & | < > ( ) * ? [ ~ # ! { }, tabs, newlines, an
/// unterminated quote, a trailing backslash or a backslash-newline) makes it
/// refuse, so "the model parsed it into these words" implies "sh takes these
/// exact words, with no expansion".
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offload::fuzz {

inline bool sh_plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_./:=@%+,-").find(static_cast<char>(c)) != std::string_view::npos;
}

struct ShWords {
  std::vector<std::string> words;
  std::string refusal; ///< non-empty: not in the modelled subset (says why)
  bool ok() const { return refusal.empty(); }
};

inline ShWords sh_words(std::string_view s) {
  ShWords r;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ') {
      if (in_word) {
        r.words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      continue;
    }
    if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string_view::npos) {
        r.refusal = "unterminated single quote at offset " + std::to_string(i);
        return r;
      }
      cur.append(s.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= s.size()) {
        r.refusal = "trailing backslash";
        return r;
      }
      if (s[i + 1] == '\n') {
        r.refusal = "backslash-newline (line continuation) at offset " + std::to_string(i);
        return r;
      }
      cur += s[++i];
      in_word = true;
      continue;
    }
    if (!sh_plain(c)) {
      r.refusal = "unquoted character 0x" + std::string(1, "0123456789abcdef"[c >> 4]) +
                  std::string(1, "0123456789abcdef"[c & 15]) + " at offset " + std::to_string(i) +
                  " would be interpreted by sh";
      return r;
    }
    cur += static_cast<char>(c);
    in_word = true;
  }
  if (in_word) {
    r.words.push_back(std::move(cur));
  }
  return r;
}

} // namespace offload::fuzz
