#pragma once
/// .dockerignore matching, with Docker's semantics (moby/patternmatcher), so
/// that what offload leaves out of an image is what `docker build` (and
/// Modal's include-cwd) would leave out of the same context:
///  - one pattern per line; blank lines and lines starting with '#' are skipped;
///    surrounding whitespace is trimmed;
///  - patterns are anchored at the context root ("*.pyc" matches only at the
///    top; "**/*.pyc" matches at any depth); a leading '/' is dropped and the
///    pattern is cleaned ("a//b/./c/" -> "a/b/c"), so a trailing '/' is
///    accepted and means the same as without it;
///  - '*' matches any run of characters except '/', '?' one character except
///    '/', "[a-z]" / "[!a-z]" / "[^a-z]" a character class, '\' escapes the
///    next character; "**" matches any number of directories (also none):
///    "**/x", "a/**/x", "a/**";
///  - a pattern that matches a directory excludes everything below it;
///  - "!pattern" re-includes what an earlier pattern excluded; the last
///    matching pattern wins.
#include <string>
#include <string_view>
#include <vector>

namespace offload {

class DockerIgnore {
public:
  /// Parse the text of a .dockerignore file. Never fails: a pattern with an
  /// unterminated '[' class matches nothing (Docker rejects the file; we
  /// would rather build than stop) and is listed in warnings().
  static DockerIgnore parse(std::string_view text);

  /// True when `path` (relative to the context root, '/'-separated, no
  /// leading "./") is excluded from the context.
  bool ignored(std::string_view path) const;
  bool empty() const { return m_rules.empty(); }
  const std::vector<std::string>& warnings() const { return m_warnings; }

  struct Rule {
    std::string pattern; ///< cleaned, without '!'
    bool negate = false;
    bool valid = true;
  };

private:
  std::vector<Rule> m_rules;
  std::vector<std::string> m_warnings;
};

/// Docker's glob match of one cleaned pattern against a whole path (no
/// parent-directory rule). Exposed for tests.
bool dockerignore_glob(std::string_view pattern, std::string_view path);

} // namespace offload
