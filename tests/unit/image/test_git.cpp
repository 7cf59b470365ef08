/// The git side of the image cache against real repositories: notes, the
/// origin round trip, the exported base tree and the thin diff (applied with
/// real `git apply` to check that base tree + patch == working tree).
#include "fixture.hpp"

#include "image/git.hpp"
#include "image/notes.hpp"

using namespace offload;
using namespace offload::test;

namespace {

std::optional<std::string> note_of(const std::string& repo, const std::string& commit) {
  using R = std::pair<std::optional<std::string>, std::string>;
  auto r = await<R>([&](ProcessRunner& run, std::function<void(R)> done) {
    read_image_note(run, repo, commit, [done](std::optional<std::string> t, std::string e) { done({t, e}); });
  });
  REQUIRE(r.second == "");
  return r.first;
}

void put_note(const std::string& repo, const std::string& commit, const std::string& key, const std::string& image,
              const std::string& scratch) {
  auto err = await<std::string>([&](ProcessRunner& run, std::function<void(std::string)> done) {
    write_image_note(run, repo, commit, key, image, "fp", scratch, done);
  });
  REQUIRE(err == "");
}

RepoInfo inspect(const std::string& dir) {
  return await<RepoInfo>([&](ProcessRunner& run, std::function<void(RepoInfo)> done) { inspect_repo(run, dir, done); });
}

std::string tree_of(const std::string& repo, const std::string& commit, const std::string& scratch) {
  using R = std::pair<std::string, std::string>;
  auto r = await<R>([&](ProcessRunner& run, std::function<void(R)> done) {
    image_tree_of(run, repo, commit, scratch, [done](std::string t, std::string e) { done({t, e}); });
  });
  REQUIRE(r.second == "");
  REQUIRE(r.first.size() == 40);
  return r.first;
}

void export_to(const std::string& repo, const std::string& tree, const std::string& dest, const std::string& scratch) {
  auto err = await<std::string>([&](ProcessRunner& run, std::function<void(std::string)> done) {
    export_tree(run, repo, tree, dest, scratch, done);
  });
  REQUIRE(err == "");
}

ThinPatch thin(const std::string& repo, const std::string& tree, const std::string& scratch) {
  auto p = await<ThinPatch>([&](ProcessRunner& run, std::function<void(ThinPatch)> done) {
    make_thin_patch(run, repo, tree, scratch, done);
  });
  REQUIRE(p.error == "");
  return p;
}

} // namespace

TEST_CASE("inspect_repo: root, HEAD and origin; a plain directory is not an error but a reason") {
  TempDir t;
  init_repo(t / "repo", {{"a.txt", "a\n"}});
  fs::create_directories(t / "repo/sub/dir");
  auto info = inspect(t / "repo/sub/dir");
  CHECK(info.error == "");
  CHECK(fs::equivalent(info.toplevel, t / "repo"));
  CHECK(info.head == sh(t / "repo", "git rev-parse HEAD").substr(0, 40));
  CHECK_FALSE(info.has_origin);

  fs::create_directories(t / "plain");
  auto none = inspect(t / "plain");
  CHECK(none.error.find("not a git repository") != std::string::npos);

  sh(t.str(), "mkdir empty && cd empty && git init -q .");
  CHECK(inspect(t / "empty").error == "the repository has no commit yet");
}

TEST_CASE("notes: two configs share one commit's note; the ref is refs/notes/offload-images") {
  TempDir t;
  init_repo(t / "repo", {{"offload.toml", "x"}});
  std::string repo = t / "repo";
  std::string head = sh(repo, "git rev-parse HEAD").substr(0, 40);
  CHECK_FALSE(note_of(repo, head).has_value());

  put_note(repo, head, "offload.toml", "im-1", t.str());
  put_note(repo, head, "ci/gpu.toml", "im-2", t.str());
  auto text = note_of(repo, head);
  REQUIRE(text);
  CHECK(note_image_id(*text, "offload.toml", "fp") == "im-1");
  CHECK(note_image_id(*text, "ci/gpu.toml", "fp") == "im-2");
  // stored where the original and other clones look for it
  auto shown = sh(repo, "git notes --ref=refs/notes/offload-images show HEAD");
  CHECK(shown.find("im-2") != std::string::npos);
  // the user's default notes ref is untouched
  CHECK(sh(repo, "git notes list").empty());
}

TEST_CASE("notes travel through origin: push from one clone, fetch in another") {
  TempDir t;
  init_repo(t / "seed", {{"offload.toml", "x"}});
  sh(t.str(), "git clone -q --bare seed origin.git && git clone -q origin.git a && git clone -q origin.git b");
  std::string a = t / "a", b = t / "b";
  std::string head = sh(a, "git rev-parse HEAD").substr(0, 40);
  CHECK(inspect(a).has_origin);

  using R = std::pair<std::string, bool>;
  auto fetch = [&](const std::string& repo) {
    return await<R>([&](ProcessRunner& run, std::function<void(R)> done) {
      fetch_image_notes(run, repo, std::chrono::seconds(30), [done](std::string e, bool absent) { done({e, absent}); });
    });
  };
  auto push = [&](const std::string& repo) {
    return await<R>([&](ProcessRunner& run, std::function<void(R)> done) {
      push_image_notes(run, repo, std::chrono::seconds(30), [done](std::string e, bool rej) { done({e, rej}); });
    });
  };

  // Nothing on origin yet: not an error, just absent.
  auto f0 = fetch(b);
  CHECK(f0.first == "");
  CHECK(f0.second);

  put_note(a, head, "offload.toml", "im-from-a", t.str());
  auto p = push(a);
  CHECK(p.first == "");
  CHECK(sh(t / "origin.git", "git notes --ref=offload-images show " + head).find("im-from-a") != std::string::npos);

  auto f1 = fetch(b);
  CHECK(f1.first == "");
  CHECK_FALSE(f1.second);
  auto text = note_of(b, head);
  REQUIRE(text);
  CHECK(note_image_id(*text, "offload.toml", "fp") == "im-from-a");

  SUBCASE("a push that would drop someone else's note is rejected, never forced") {
    // b writes on top of an older notes ref while a moves origin's on.
    sh(a, "git commit -q --allow-empty -m second");
    std::string second = sh(a, "git rev-parse HEAD").substr(0, 40);
    put_note(a, second, "offload.toml", "im-second", t.str());
    REQUIRE(push(a).first == "");
    put_note(b, head, "ci/gpu.toml", "im-gpu", t.str());
    auto rej = push(b);
    CHECK(rej.first != "");
    CHECK(rej.second);
    CHECK(sh(t / "origin.git", "git notes --ref=offload-images show " + second).find("im-second") != std::string::npos);
  }
}

TEST_CASE("a broken origin is an error value, not a hang") {
  TempDir t;
  init_repo(t / "repo", {{"a", "a"}});
  sh(t / "repo", "git remote add origin " + (t / "does-not-exist.git"));
  using R = std::pair<std::string, bool>;
  auto r = await<R>([&](ProcessRunner& run, std::function<void(R)> done) {
    fetch_image_notes(run, t / "repo", std::chrono::seconds(30), [done](std::string e, bool a) { done({e, a}); });
  });
  CHECK(r.first.find("git fetch") != std::string::npos);
  CHECK_FALSE(r.second);
}

TEST_CASE("export: the base commit exactly (minus its .dockerignore), not the dirty working tree") {
  TempDir t;
  std::string repo = t / "repo";
  init_repo(repo, {{"src/app.py", "v1\n"},
                   {"src/big.bin", std::string("\0\1\2\3", 4)},
                   {"secrets/key", "k"},
                   {"run.sh", "#!/bin/sh\n"},
                   {".dockerignore", "secrets\n"},
                   {".gitignore", "*.log\n"}});
  sh(repo, "chmod +x run.sh && git add run.sh && git commit -q -m exec");
  // dirty the working tree in every way
  write(repo + "/src/app.py", "v2 (uncommitted)\n");
  write(repo + "/untracked.txt", "new\n");
  write(repo + "/debug.log", "ignored by git\n");
  fs::remove(repo + "/src/big.bin");
  sh(repo, "git add src/app.py"); // even staged changes are not the commit

  std::string head = sh(repo, "git rev-parse HEAD").substr(0, 40);
  std::string tree = tree_of(repo, head, t.str());
  export_to(repo, tree, t / "export", t.str());

  CHECK(slurp(t / "export/src/app.py") == "v1\n");
  CHECK(slurp(t / "export/src/big.bin") == std::string("\0\1\2\3", 4));
  CHECK(fs::exists(t / "export/.dockerignore"));
  CHECK_FALSE(fs::exists(t / "export/secrets")); // the commit's .dockerignore applies
  CHECK_FALSE(fs::exists(t / "export/untracked.txt"));
  CHECK_FALSE(fs::exists(t / "export/debug.log"));
  CHECK((fs::status(t / "export/run.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
  // without a .dockerignore the image tree is the commit's own tree
  CHECK(tree != sh(repo, "git rev-parse HEAD^{tree}").substr(0, 40));
  sh(repo, "git rm -q --cached .dockerignore && git commit -q -m 'no dockerignore'");
  std::string head2 = sh(repo, "git rev-parse HEAD").substr(0, 40);
  CHECK(tree_of(repo, head2, t.str()) == sh(repo, "git rev-parse HEAD^{tree}").substr(0, 40));
  // the user's index and working tree were not touched by any of it
  CHECK(slurp(repo + "/src/app.py") == "v2 (uncommitted)\n");
}

TEST_CASE("thin diff: modified, new, deleted, renamed and binary files; .gitignore and .dockerignore respected") {
  TempDir t;
  std::string repo = t / "repo";
  std::string blob(3000, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 7919) % 251);
  std::string moved_text;
  for (int i = 0; i < 50; ++i) moved_text += "line " + std::to_string(i) + "\n";
  init_repo(repo, {{"src/app.py", "print('v1')\n"},
                   {"src/old_name.py", moved_text},
                   {"gone.txt", "bye\n"},
                   {"assets/logo.bin", blob},
                   {"local/settings.py", "committed\n"},
                   {".gitignore", "*.log\nbuild/\n"},
                   {".dockerignore", "local\n*.tmp\n"},
                   {"file with space.txt", "s\n"}});
  std::string head = sh(repo, "git rev-parse HEAD").substr(0, 40);
  std::string tree = tree_of(repo, head, t.str());
  export_to(repo, tree, t / "image", t.str());
  // the commit's .dockerignore left local/ out of the base image
  CHECK_FALSE(fs::exists(t / "image/local"));

  SUBCASE("a clean working tree gives an empty patch") {
    auto p = thin(repo, tree, t / "scratch");
    CHECK(p.empty);
    CHECK(p.files == 0);
    CHECK(fs::exists(p.path));
  }

  SUBCASE("every kind of change, applied with git apply, reproduces the working tree") {
    write(repo + "/src/app.py", "print('v2')\n");                  // modified (unstaged)
    write(repo + "/src/new_module.py", "NEW = 1\n");                // new, untracked
    fs::remove(repo + "/gone.txt");                                 // deleted
    fs::rename(repo + "/src/old_name.py", repo + "/src/new_name.py"); // renamed
    std::string blob2 = blob;
    blob2[10] = 'X';
    write(repo + "/assets/logo.bin", blob2);                        // binary, modified
    write(repo + "/assets/new.bin", std::string("\0\xff\0\xfe", 4)); // binary, new
    write(repo + "/file with space.txt", "s2\n");                   // awkward name
    write(repo + "/debug.log", "gitignored\n");                     // .gitignore: left out
    write(repo + "/build/out.o", "gitignored dir\n");
    write(repo + "/scratch.tmp", "dockerignored, untracked\n");     // .dockerignore: left out
    write(repo + "/local/settings.py", "changed but dockerignored\n");
    sh(repo, "git add src/app.py"); // a staged change is a change all the same

    auto p = thin(repo, tree, t / "scratch");
    REQUIRE_FALSE(p.empty);
    CHECK(p.dockerignored >= 1);
    auto patch = slurp(p.path);
    CHECK(patch.find("rename from src/old_name.py") != std::string::npos);
    CHECK(patch.find("GIT binary patch") != std::string::npos);
    CHECK(patch.find("deleted file mode") != std::string::npos);
    CHECK(patch.find("debug.log") == std::string::npos);
    CHECK(patch.find("build/out.o") == std::string::npos);
    CHECK(patch.find("scratch.tmp") == std::string::npos);
    CHECK(patch.find("local/settings.py") == std::string::npos);
    CHECK(p.files == 7);

    // base image + patch == the working tree, as the sandbox will see it
    sh(t / "image", "git apply --whitespace=nowarn " + p.path);
    CHECK(slurp(t / "image/src/app.py") == "print('v2')\n");
    CHECK(slurp(t / "image/src/new_module.py") == "NEW = 1\n");
    CHECK_FALSE(fs::exists(t / "image/gone.txt"));
    CHECK_FALSE(fs::exists(t / "image/src/old_name.py"));
    CHECK(slurp(t / "image/src/new_name.py") == moved_text);
    CHECK(slurp(t / "image/assets/logo.bin") == blob2);
    CHECK(slurp(t / "image/assets/new.bin") == std::string("\0\xff\0\xfe", 4));
    CHECK(slurp(t / "image/file with space.txt") == "s2\n");
    CHECK_FALSE(fs::exists(t / "image/debug.log"));
    CHECK_FALSE(fs::exists(t / "image/scratch.tmp"));
    CHECK_FALSE(fs::exists(t / "image/local"));

    // the user's index still holds exactly what they staged
    CHECK(sh(repo, "git diff --cached --name-only") == "src/app.py\n");
    CHECK(sh(repo, "git status --porcelain --untracked-files=no").find("gone.txt") != std::string::npos);
  }

  SUBCASE("a path the working tree's .dockerignore now excludes is removed from the image") {
    write(repo + "/.dockerignore", "local\n*.tmp\nassets\n");
    auto p = thin(repo, tree, t / "scratch");
    REQUIRE_FALSE(p.empty);
    sh(t / "image", "git apply " + p.path);
    CHECK_FALSE(fs::exists(t / "image/assets/logo.bin"));
    CHECK(slurp(t / "image/.dockerignore") == "local\n*.tmp\nassets\n");
  }

  SUBCASE("a path the working tree's .dockerignore no longer excludes is added to the image") {
    write(repo + "/.dockerignore", "*.tmp\n");
    auto p = thin(repo, tree, t / "scratch");
    sh(t / "image", "git apply " + p.path);
    CHECK(slurp(t / "image/local/settings.py") == "committed\n");
  }
}

TEST_CASE("thin diff without a usable real index (fresh clone state) still works") {
  TempDir t;
  std::string repo = t / "repo";
  init_repo(repo, {{"a.txt", "a\n"}});
  std::string head = sh(repo, "git rev-parse HEAD").substr(0, 40);
  std::string tree = tree_of(repo, head, t.str());
  fs::remove(repo + "/.git/index"); // git treats everything as deleted from the index, not from the tree
  write(repo + "/a.txt", "changed\n");
  auto p = thin(repo, tree, t / "scratch");
  CHECK(p.files == 1);
  CHECK(slurp(p.path).find("+changed") != std::string::npos);
}

TEST_CASE("thin diff sees a same-size edit made in the same second as the index (racy git)") {
  // What CI hit: the test file was rewritten with content of the same size
  // within the timestamp granularity of the last `git commit`. Git itself
  // catches this because the entry's mtime is not older than the index file
  // ("racily clean" entries are compared by content). A copy of the index
  // with a fresh mtime would lose that protection and call the file clean.
  TempDir t;
  std::string repo = t / "repo";
  init_repo(repo, {{"tests.txt", "a\tpass\nb\tfail\n"}});
  sh(repo, "git config core.trustctime false");  // ctime is the one thing a test cannot set back
  std::string head = sh(repo, "git rev-parse HEAD").substr(0, 40);
  std::string tree = tree_of(repo, head, t.str());
  // Same inode, same size, same mtime as recorded in the index; the index
  // file is exactly as old as the entry, so the entry is racily clean.
  // A fixed past second makes this independent of how fast the test runs.
  sh(repo, "touch -d '2020-01-01 00:00:00' ../stamp && touch -r ../stamp tests.txt && "
           "git update-index --refresh -q && touch -r ../stamp .git/index && "
           "printf 'a\\tpass\\nb\\tpass\\n' > tests.txt && touch -r ../stamp tests.txt");
  REQUIRE(sh(repo, "git diff-files --name-only") == "tests.txt\n");  // git's own view
  sh(repo, "touch -r ../stamp .git/index");
  auto p = thin(repo, tree, t / "scratch");
  CHECK(p.files == 1);
  CHECK(slurp(p.path).find("+b\tpass") != std::string::npos);
}
