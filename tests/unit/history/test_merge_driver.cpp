#include <doctest/doctest.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "history/history.hpp"
#include "history_test_util.hpp"
#include "util/fs.hpp"
#include "util/shell.hpp"
#include "util/strings.hpp"

using namespace offload;
using namespace offload::test;

namespace {

constexpr const char* kDriverEnv = "OFFLOAD_HISTORY_TEST_DRIVER";
constexpr const char* kDriverCase = "history: merge driver entry point (no-op unless invoked by git)";

/// Changes the working directory for one scope.
class ChangeDir {
 public:
  explicit ChangeDir(const std::string& to) : m_old(std::filesystem::current_path()) {
    std::filesystem::current_path(to);
  }
  ~ChangeDir() {
    std::error_code ec;
    std::filesystem::current_path(m_old, ec);
  }
  ChangeDir(const ChangeDir&) = delete;
  ChangeDir& operator=(const ChangeDir&) = delete;

 private:
  std::filesystem::path m_old;
};

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

/// git in `repo` with a fixed identity and no user/system config.
int git(const std::string& repo, const std::string& args, std::string* out = nullptr) {
  return sh("cd " + shell_quote(repo) +
                " && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t "
                "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t git " +
                args,
            out);
}

std::string git_out(const std::string& repo, const std::string& args) {
  std::string out;
  int rc = git(repo, args, &out);
  REQUIRE_MESSAGE(rc == 0, "git " << args << ": " << out);
  return std::string(trim(out));
}

HistoryOptions opts(const std::string& path) {
  HistoryOptions o;
  o.path = path;
  o.config_key = "offload.toml";
  return o;
}

/// Load the repo's history, record, save: what an `offload run --record-history` does.
void run_and_save(const std::string& path, const std::vector<TestResult>& results, int64_t ts,
                  const std::string& run) {
  History h = History::load(opts(path));
  h.record(results, ts, run);
  REQUIRE(h.save() == "");
}

} // namespace

/// Stand-in for `offload history merge %O %A %B` until the CLI exists: the
/// script written by the git test re-enters this binary with the three
/// paths in the environment, runs the real merge function and exits with
/// its status. Run normally, it does nothing.
TEST_CASE("history: merge driver entry point (no-op unless invoked by git)") {
  const char* args = std::getenv(kDriverEnv);
  if (!args) {
    return;
  }
  auto paths = split(args, '\n');
  if (paths.size() != 3) {
    std::_Exit(3);
  }
  std::string err;
  int rc = history_merge_files(paths[0], paths[1], paths[2], 20, &err);
  std::fputs(err.c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(rc);
}

TEST_CASE("history: setup_merge_driver writes .gitattributes and git config, idempotently") {
  TempDir dir;
  const std::string repo = dir / "repo";
  REQUIRE(make_dirs(repo + "/sub") == "");
  REQUIRE(git(repo, "init -q") == 0);
  REQUIRE(write_file_atomic(repo + "/.gitattributes", "*.png binary") == "");  // no trailing newline

  {
    ChangeDir cd(repo + "/sub");  // found from a subdirectory; path relative to the cwd
    REQUIRE(setup_merge_driver("hist/offload-history.jsonl") == "");
    REQUIRE(setup_merge_driver("hist/offload-history.jsonl") == "");
    REQUIRE(setup_merge_driver(repo + "/sub/hist/offload-history.jsonl") == "");  // absolute, same file
  }
  CHECK(read_file(repo + "/.gitattributes").value_or("") ==
        "*.png binary\nsub/hist/offload-history.jsonl merge=offload-history\n");
  CHECK(git_out(repo, "config --get merge.offload-history.driver") == "offload history merge %O %A %B");
  CHECK_FALSE(git_out(repo, "config --get merge.offload-history.name").empty());
  CHECK(git_out(repo, "check-attr merge -- sub/hist/offload-history.jsonl") ==
        "sub/hist/offload-history.jsonl: merge: offload-history");

  {
    // Names with spaces and glob characters: git must still match exactly this file.
    ChangeDir cd(repo);
    REQUIRE(setup_merge_driver("my history [1].jsonl", "/opt/off load/bin/offload") == "");
  }
  CHECK(git_out(repo, "check-attr merge -- 'my history [1].jsonl'") ==
        "my history [1].jsonl: merge: offload-history");
  CHECK(git_out(repo, "check-attr merge -- 'my history 1.jsonl'") == "my history 1.jsonl: merge: unspecified");
  CHECK(git_out(repo, "config --get merge.offload-history.driver") ==
        "'/opt/off load/bin/offload' history merge %O %A %B");

  {
    ChangeDir cd(dir.path());  // not a repository
    CHECK(setup_merge_driver("offload-history.jsonl").find("not inside a git repository") == 0);
  }
  {
    ChangeDir cd(repo);
    CHECK(setup_merge_driver("../outside.jsonl").find("outside the git repository") != std::string::npos);
  }
}

TEST_CASE("history: diverged branches merge through the driver with a real git merge") {
  TempDir dir;
  const std::string repo = dir / "repo";
  const std::string rel = "ci/offload-history.jsonl";
  const std::string hist = repo + "/" + rel;
  REQUIRE(make_dirs(repo + "/ci") == "");
  REQUIRE(git(repo, "init -q") == 0);
  REQUIRE(git(repo, "checkout -q -b main") == 0);

  run_and_save(hist, {passed("t::shared", 1.0), passed("t::base", 1.0)}, 1000, "base");
  REQUIRE(git(repo, "add -A") == 0);
  REQUIRE(git(repo, "commit -qm base") == 0);

  REQUIRE(git(repo, "checkout -q -b feature") == 0);
  run_and_save(hist, {passed("t::shared", 2.0), passed("t::feature", 1.0)}, 2000, "feat");
  REQUIRE(git(repo, "commit -qam feature") == 0);

  REQUIRE(git(repo, "checkout -q main") == 0);
  run_and_save(hist, {failed("t::shared", 3.0), passed("t::main", 1.0)}, 3000, "main");
  REQUIRE(git(repo, "commit -qam main") == 0);

  // Without the driver the line-based merge conflicts on t::shared.
  std::string out;
  CHECK(git(repo, "merge --no-edit feature", &out) != 0);
  CHECK(out.find("CONFLICT") != std::string::npos);
  REQUIRE(git(repo, "merge --abort") == 0);

  // The three versions git would hand the driver, merged by the library directly.
  const std::string base_rev = git_out(repo, "merge-base main feature");
  REQUIRE(git(repo, "show " + base_rev + ":" + rel + " > ../O") == 0);
  REQUIRE(git(repo, "show main:" + rel + " > ../A") == 0);
  REQUIRE(git(repo, "show feature:" + rel + " > ../B") == 0);
  std::string err;
  REQUIRE(history_merge_files(dir / "O", dir / "A", dir / "B", 20, &err) == 0);

  // The real thing: setup_merge_driver, then `git merge` runs the driver. The
  // driver is a script standing in for the `offload` binary.
  const std::string script = dir / "fake offload";
  REQUIRE(write_file_atomic(script,
                            "#!/bin/sh\n"
                            "[ \"$1\" = history ] && [ \"$2\" = merge ] && [ $# -eq 5 ] || exit 3\n" +
                                std::string(kDriverEnv) + "=\"$3\n$4\n$5\" exec " + shell_quote(self_exe()) +
                                " --test-case=" + shell_quote(kDriverCase) + " >/dev/null\n") == "");
  REQUIRE(::chmod(script.c_str(), 0755) == 0);
  {
    ChangeDir cd(repo);
    REQUIRE(setup_merge_driver(rel, script) == "");
  }
  CHECK(git_out(repo, "config --get merge.offload-history.driver") ==
        shell_quote(script) + " history merge %O %A %B");
  REQUIRE_MESSAGE(git(repo, "merge --no-edit feature", &out) == 0, out);

  const std::string merged_text = read_file(hist).value_or("");
  CHECK(merged_text.find("<<<<<<<") == std::string::npos);
  CHECK(merged_text == read_file(dir / "A").value_or("?"));  // same as the direct merge
  History merged = History::load(opts(hist));
  CHECK(merged.warnings().empty());
  CHECK(merged.size() == 4);
  REQUIRE(merged.find("t::shared"));
  CHECK(merged.find("t::shared")->n == 3);  // 1 base + 1 on each branch
  CHECK(merged.find("t::shared")->f == 1);
  CHECK(merged.find("t::shared")->ok.size() == 2);
  CHECK(merged.find("t::shared")->fail.size() == 1);
  CHECK(merged.find("t::shared")->last_run == "main");
  CHECK(merged.find("t::base"));
  CHECK(merged.find("t::feature"));
  CHECK(merged.find("t::main"));
  CHECK(git_out(repo, "status --porcelain --untracked-files=no") == "");
}
