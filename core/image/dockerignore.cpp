#include "image/dockerignore.hpp"

#include "util/strings.hpp"

namespace offload {

namespace {

/// Go's filepath.Clean on '/'-separated paths: collapse "//", drop ".",
/// resolve "..", drop the trailing '/'. "" becomes ".".
std::string clean_path(std::string_view p) {
  const bool rooted = !p.empty() && p[0] == '/';
  std::vector<std::string> out;
  for (auto& part : split(p, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(part);
      }
      continue;
    }
    out.push_back(part);
  }
  std::string s = (rooted ? "/" : "") + join(out, "/");
  return s.empty() ? "." : s;
}

enum class Tok { Lit, Star, QMark, Class, AnyDirs, Any };

struct Token {
  Tok kind = Tok::Lit;
  char c = 0;
  bool negate = false;                        ///< Class: [!...] / [^...]
  std::vector<std::pair<char, char>> ranges;  ///< Class: inclusive ranges
};

/// Pattern -> tokens; false when a '[' class is not closed.
bool compile(std::string_view p, std::vector<Token>& out) {
  size_t i = 0;
  while (i < p.size()) {
    char ch = p[i++];
    Token t;
    if (ch == '*') {
      if (i < p.size() && p[i] == '*') {
        ++i;
        if (i < p.size() && p[i] == '/') ++i; // "**/" is "**"
        t.kind = i == p.size() ? Tok::Any : Tok::AnyDirs;
      } else {
        t.kind = Tok::Star;
      }
    } else if (ch == '?') {
      t.kind = Tok::QMark;
    } else if (ch == '[') {
      t.kind = Tok::Class;
      if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
        t.negate = true;
        ++i;
      }
      bool closed = false;
      bool first = true;
      while (i < p.size()) {
        char a = p[i++];
        if (a == ']' && !first) {
          closed = true;
          break;
        }
        first = false;
        if (a == '\\' && i < p.size()) a = p[i++];
        char b = a;
        if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
          b = p[i + 1];
          i += 2;
          if (b == '\\' && i < p.size()) b = p[i++];
        }
        t.ranges.emplace_back(a, b);
      }
      if (!closed) return false;
    } else if (ch == '\\' && i < p.size()) {
      t.c = p[i++];
    } else {
      t.c = ch;
    }
    out.push_back(std::move(t));
  }
  return true;
}

bool match_from(const std::vector<Token>& toks, size_t ti, std::string_view s, size_t si) {
  while (ti < toks.size()) {
    const Token& t = toks[ti];
    switch (t.kind) {
    case Tok::Lit:
      if (si >= s.size() || s[si] != t.c) return false;
      ++ti, ++si;
      break;
    case Tok::QMark:
      if (si >= s.size() || s[si] == '/') return false;
      ++ti, ++si;
      break;
    case Tok::Class: {
      if (si >= s.size() || s[si] == '/') return false;
      bool in = false;
      for (auto& [a, b] : t.ranges) in = in || (s[si] >= a && s[si] <= b);
      if (in == t.negate) return false;
      ++ti, ++si;
      break;
    }
    case Tok::Star:
      for (size_t k = si;; ++k) {
        if (match_from(toks, ti + 1, s, k)) return true;
        if (k >= s.size() || s[k] == '/') return false;
      }
    case Tok::Any:
      return true; // only ever last
    case Tok::AnyDirs:
      // "(.*/)?": nothing, or anything that ends with '/'.
      if (match_from(toks, ti + 1, s, si)) return true;
      for (size_t k = si; k < s.size(); ++k) {
        if (s[k] == '/' && match_from(toks, ti + 1, s, k + 1)) return true;
      }
      return false;
    }
  }
  return si == s.size();
}

} // namespace

bool dockerignore_glob(std::string_view pattern, std::string_view path) {
  std::vector<Token> toks;
  if (!compile(pattern, toks)) return false;
  return match_from(toks, 0, path, 0);
}

DockerIgnore DockerIgnore::parse(std::string_view text) {
  DockerIgnore d;
  int lineno = 0;
  for (auto& raw : split_lines(text)) {
    ++lineno;
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    Rule r;
    if (line[0] == '!') {
      r.negate = true;
      line = trim(line.substr(1));
      if (line.empty()) continue;
    }
    std::string p = clean_path(line);
    if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
    if (p == "." || p == "/") continue; // the context root itself: Docker ignores it too
    std::vector<Token> toks;
    if (!compile(p, toks)) {
      r.valid = false;
      d.m_warnings.push_back(".dockerignore line " + std::to_string(lineno) + ": unterminated '[' in '" +
                             std::string(line) + "' (pattern ignored)");
    }
    r.pattern = std::move(p);
    d.m_rules.push_back(std::move(r));
  }
  return d;
}

bool DockerIgnore::ignored(std::string_view path) const {
  while (path.size() > 2 && path.substr(0, 2) == "./") path.remove_prefix(2);
  bool excluded = false;
  for (auto& r : m_rules) {
    if (!r.valid) continue;
    bool m = dockerignore_glob(r.pattern, path);
    // A pattern that matches a parent directory matches everything below it.
    for (size_t slash = path.find('/'); !m && slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
      m = dockerignore_glob(r.pattern, path.substr(0, slash));
    }
    if (m) excluded = !r.negate;
  }
  return excluded;
}

} // namespace offload
