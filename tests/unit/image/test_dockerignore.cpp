#include <doctest/doctest.h>

#include "image/dockerignore.hpp"

using namespace offload;

TEST_CASE("dockerignore globs: *, ?, classes, escapes") {
  CHECK(dockerignore_glob("*.pyc", "a.pyc"));
  CHECK_FALSE(dockerignore_glob("*.pyc", "dir/a.pyc")); // '*' never crosses '/'
  CHECK(dockerignore_glob("dir/*.pyc", "dir/a.pyc"));
  CHECK(dockerignore_glob("a?c", "abc"));
  CHECK_FALSE(dockerignore_glob("a?c", "a/c"));
  CHECK(dockerignore_glob("file[0-9].txt", "file7.txt"));
  CHECK_FALSE(dockerignore_glob("file[0-9].txt", "filex.txt"));
  CHECK(dockerignore_glob("file[!0-9].txt", "filex.txt"));
  CHECK(dockerignore_glob("file[^0-9].txt", "filex.txt"));
  CHECK_FALSE(dockerignore_glob("file[!0-9].txt", "file1.txt"));
  CHECK(dockerignore_glob("lit\\*eral", "lit*eral"));
  CHECK_FALSE(dockerignore_glob("lit\\*eral", "litXeral"));
  CHECK(dockerignore_glob("*", "anything"));
  CHECK_FALSE(dockerignore_glob("*", "a/b"));
}

TEST_CASE("dockerignore globs: ** matches any number of directories") {
  CHECK(dockerignore_glob("**/*.pyc", "a.pyc"));
  CHECK(dockerignore_glob("**/*.pyc", "x/y/a.pyc"));
  CHECK(dockerignore_glob("a/**/b", "a/b"));
  CHECK(dockerignore_glob("a/**/b", "a/x/y/b"));
  CHECK_FALSE(dockerignore_glob("a/**/b", "a/xb"));
  CHECK(dockerignore_glob("a/**", "a/x/y"));
  CHECK_FALSE(dockerignore_glob("a/**", "b/x"));
  CHECK(dockerignore_glob("**", "any/thing/at/all"));
}

TEST_CASE("dockerignore files: comments, blanks, anchoring, directories, negation") {
  auto d = DockerIgnore::parse("# build output\n"
                               "\n"
                               "  build/  \n"
                               "/dist\n"
                               "*.log\n"
                               "**/__pycache__\n"
                               "secrets/**\n"
                               "!secrets/public.pem\n"
                               "node_modules\n"
                               "!node_modules/keep-me\n"
                               "docs/*.md\n"
                               "!docs/README.md\n");
  CHECK(d.warnings().empty());
  // trailing '/' and leading '/' are accepted; a directory takes its contents with it
  CHECK(d.ignored("build"));
  CHECK(d.ignored("build/out/app.o"));
  CHECK(d.ignored("dist/app.js"));
  CHECK_FALSE(d.ignored("src/build/x")); // anchored at the root
  CHECK_FALSE(d.ignored("src/dist"));
  // '*' at the top only; '**' anywhere
  CHECK(d.ignored("server.log"));
  CHECK_FALSE(d.ignored("logs/server.log"));
  CHECK(d.ignored("__pycache__/m.pyc"));
  CHECK(d.ignored("pkg/sub/__pycache__/m.pyc"));
  // negation: the last matching rule wins
  CHECK(d.ignored("secrets/key"));
  CHECK_FALSE(d.ignored("secrets/public.pem"));
  CHECK(d.ignored("node_modules/left-pad/index.js"));
  CHECK_FALSE(d.ignored("node_modules/keep-me"));
  CHECK(d.ignored("docs/guide.md"));
  CHECK_FALSE(d.ignored("docs/README.md"));
  CHECK_FALSE(d.ignored("docs/img/a.png"));
  // comments are not patterns; "./x" paths are accepted
  CHECK_FALSE(d.ignored("# build output"));
  CHECK(d.ignored("./server.log"));
  CHECK_FALSE(d.ignored("src/main.cpp"));
}

TEST_CASE("dockerignore: patterns are cleaned like Docker does") {
  auto d = DockerIgnore::parse("a//b/./c/\nx/../y\n/\n.\n");
  CHECK(d.ignored("a/b/c"));
  CHECK(d.ignored("a/b/c/d"));
  CHECK(d.ignored("y"));
  CHECK_FALSE(d.ignored("x"));
  CHECK_FALSE(d.ignored("other")); // "/" and "." are no patterns
}

TEST_CASE("dockerignore: an empty file ignores nothing; a broken class is reported, not fatal") {
  CHECK(DockerIgnore::parse("").empty());
  CHECK(DockerIgnore::parse("# only a comment\n\n").empty());
  auto d = DockerIgnore::parse("file[0-9\n*.tmp\n");
  REQUIRE(d.warnings().size() == 1);
  CHECK(d.warnings()[0].find("line 1") != std::string::npos);
  CHECK_FALSE(d.ignored("file1"));
  CHECK(d.ignored("x.tmp"));
}
