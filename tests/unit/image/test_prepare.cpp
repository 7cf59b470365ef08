/// prepare_image end to end: real git repositories (with a bare "origin"),
/// and the real `default` provider plugin loaded from the build tree, whose
/// prepare_command is a small script that records what it was asked to build
/// (its OFFLOAD_* variables, the context's files, the patch) and prints an id.
#include "fixture.hpp"

#include <memory>

#include <nlohmann/json.hpp>

#include "image/image.hpp"
#include "image/notes.hpp"
#include "plugin/host.hpp"
#include "plugin/provider.hpp"

using namespace offload;
using namespace offload::test;

namespace {

const std::string kPlugin = std::string(OFFLOAD_PLUGIN_BUILD_DIR) + "/liboffload_default.so";

/// prepare_command: call N writes calls/N.env (+ N.files for a full image, N.patch
/// for a derived one) and prints im-N; a base image "im-gone" does not exist.
/// If $HOOK exists, it runs once during the first build (to race a push).
const char* kPrepareScript = R"(#!/bin/sh
set -e
d="$CALLS"
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$d/count"
env | grep '^OFFLOAD_' | sort > "$d/$n.env" || true
if [ -n "$OFFLOAD_CONTEXT_DIR" ]; then (cd "$OFFLOAD_CONTEXT_DIR" && find . -type f | sort) > "$d/$n.files"; fi
if [ -n "$OFFLOAD_PATCH_FILE" ]; then cp "$OFFLOAD_PATCH_FILE" "$d/$n.patch"; fi
if [ "$OFFLOAD_BASE_IMAGE" = im-gone ]; then echo "image im-gone not found" >&2; exit 1; fi
if [ -f "$d/hook" ]; then sh "$d/hook"; rm "$d/hook"; fi
echo "building..."
echo "im-$n"
)";

struct Harness {
  TempDir t;
  std::string calls = t / "calls";
  EventLoop loop;
  ProcessRunner runner{loop};
  HostServices host{loop, runner};
  PluginManager plugins{host};
  std::unique_ptr<ProviderInstance> provider;

  Harness() {
    fs::create_directories(calls);
    write(t / "prepare.sh", kPrepareScript);
    fs::permissions(t / "prepare.sh", fs::perms::owner_all, fs::perm_options::add);
    REQUIRE_MESSAGE(plugins.load(kPlugin), (plugins.errors().empty() ? "" : plugins.errors()[0].str()));
    nlohmann::json cfg{{"prepare_command", "CALLS=" + calls + " " + (t / "prepare.sh")},
                       {"create_command", "echo sb"},
                       {"exec_command", "true"},
                       {"destroy_command", "true"}};
    std::string err;
    provider = plugins.create_provider("default", cfg.dump(), R"({"sandbox_repo_root":"/app"})", t.str(), t / "out", &err);
    REQUIRE_MESSAGE(provider, err);
  }
  ~Harness() { provider.reset(); }

  ImageResult prepare(ImageRequest req) {
    std::optional<ImageResult> out;
    prepare_image(runner, *provider, req, [&](ImageResult r) { out = std::move(r); });
    CHECK_FALSE(out.has_value()); // never inside the call
    loop.run();
    REQUIRE(out.has_value());
    INFO("log:\n" << [&] {
      std::string s;
      for (auto& l : out->log) s += "  " + l + "\n";
      return s;
    }());
    CHECK(out->message == "");
    return std::move(*out);
  }
  int count() { return std::stoi(slurp(calls + "/count")); }
  std::string env(int n) { return slurp(calls + "/" + std::to_string(n) + ".env"); }
  std::string files(int n) { return slurp(calls + "/" + std::to_string(n) + ".files"); }
  std::string patch(int n) { return slurp(calls + "/" + std::to_string(n) + ".patch"); }
};

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
/// The provider passes every OFFLOAD_* variable, empty when unset.
bool unset(const std::string& env, const std::string& name) { return has("\n" + env, "\n" + name + "=\n"); }

ImageRequest request(const std::string& repo, const std::string& scratch) {
  ImageRequest r;
  r.repo_dir = repo;
  r.config_path = repo + "/offload.toml";
  r.scratch_dir = scratch;
  r.base.sandbox_init_cmd = "make deps";
  r.base.copy_dirs = {"data:/data"};
  return r;
}

} // namespace

TEST_CASE("prepare_image: miss builds the base commit, records and pushes the note; then hits with thin diffs") {
  if (!fs::exists(kPlugin)) {
    MESSAGE("skipped: build the offload_default target first (" << kPlugin << ")");
    return;
  }
  Harness h;
  auto& t = h.t;
  init_repo(t / "seed", {{"offload.toml", "[offload]\n"}, {"src/app.py", "v1\n"}, {".dockerignore", "secret.txt\n"}});
  sh(t.str(), "git clone -q --bare seed origin.git && git clone -q origin.git a && git clone -q origin.git b");
  std::string a = t / "a";
  std::string head = sh(a, "git rev-parse HEAD").substr(0, 40);
  write(a + "/src/app.py", "v2 dirty\n"); // the base image must not see this

  auto r1 = h.prepare(request(a, t / "scratch"));
  CHECK(r1.status == OFFLOAD_OK);
  CHECK_FALSE(r1.cache_hit);
  CHECK(r1.base_commit == head);
  CHECK(h.count() == 2);
  // call 1: the full image, from the exported base commit
  CHECK(has(h.env(1), "OFFLOAD_CONTEXT_DIR=" + (t / "scratch/base-tree")));
  CHECK(has(h.env(1), "OFFLOAD_SANDBOX_INIT_CMD=make deps"));
  CHECK(has(h.env(1), "OFFLOAD_COPY_DIRS=data:/data"));
  CHECK(unset(h.env(1), "OFFLOAD_BASE_IMAGE"));
  CHECK(h.files(1) == "./.dockerignore\n./offload.toml\n./src/app.py\n");
  CHECK_FALSE(fs::exists(t / "scratch/base-tree")); // removed once built
  // call 2: derived from it with the dirty change
  CHECK(has(h.env(2), "OFFLOAD_BASE_IMAGE=im-1"));
  CHECK(unset(h.env(2), "OFFLOAD_SANDBOX_INIT_CMD"));
  CHECK(has(h.patch(2), "+v2 dirty"));
  CHECK(r1.image_id == "im-2");
  CHECK(r1.patch_file == t / "scratch/offload.patch");
  // the note, locally and on origin, under the config's repo-relative path
  auto inputs = image_inputs_fingerprint("make deps", {"data:/data"});
  CHECK(note_image_id(sh(a, "git notes --ref=offload-images show HEAD"), "offload.toml", inputs) == "im-1");
  CHECK(note_image_id(sh(t / "origin.git", "git notes --ref=offload-images show " + head), "offload.toml", inputs) ==
        "im-1");
  CHECK(r1.warnings.empty());
  std::vector<std::string> spans;
  for (auto& s : r1.spans) spans.push_back(s.name);
  CHECK(spans == std::vector<std::string>{"image_cache_lookup", "export_tree", "base_prepare", "thin_diff",
                                          "image_prepare"});

  SUBCASE("a clean clone elsewhere fetches the note and reuses the base image as it is") {
    // a scratch dir inside the working tree would leak into the thin diff: .git is used instead
    auto r = h.prepare(request(t / "b", t / "b/test-results/image"));
    CHECK_FALSE(fs::exists(t / "b/test-results"));
    CHECK(fs::exists(t / "b/.git/offload-image"));
    CHECK(r.cache_hit);
    CHECK(r.image_id == "im-1");
    CHECK(h.count() == 2); // no build at all
    CHECK(r.patch_file.empty());
  }

  SUBCASE("a hit with changes builds only the thin image; .dockerignore'd changes stay out") {
    write(a + "/secret.txt", "do not ship\n");
    auto r = h.prepare(request(a, t / "scratch"));
    CHECK(r.cache_hit);
    CHECK(h.count() == 3);
    CHECK(has(h.env(3), "OFFLOAD_BASE_IMAGE=im-1"));
    CHECK(has(h.patch(3), "+v2 dirty"));
    CHECK_FALSE(has(h.patch(3), "do not ship"));
    CHECK(r.image_id == "im-3");
  }

  SUBCASE("post_patch_cmd runs even without changes") {
    sh(a, "git checkout -q -- src/app.py");
    auto req = request(a, t / "scratch");
    req.base.post_patch_cmd = "make generate-client";
    auto r = h.prepare(req);
    CHECK(r.cache_hit);
    CHECK(has(h.env(3), "OFFLOAD_BASE_IMAGE=im-1"));
    CHECK(has(h.env(3), "OFFLOAD_POST_PATCH_CMD=make generate-client"));
    CHECK(unset(h.env(3), "OFFLOAD_PATCH_FILE"));
    CHECK(r.image_id == "im-3");
  }

  SUBCASE("--no-cache rebuilds the base and leaves the note alone") {
    auto req = request(a, t / "scratch");
    req.no_cache = true;
    auto r = h.prepare(req);
    CHECK_FALSE(r.cache_hit);
    CHECK(h.count() == 4);
    CHECK(has(h.env(3), "OFFLOAD_NO_CACHE=1"));
    CHECK(has(h.env(3), "OFFLOAD_CONTEXT_DIR=" + (t / "scratch/base-tree")));
    CHECK(note_image_id(sh(a, "git notes --ref=offload-images show HEAD"), "offload.toml", inputs) == "im-1");
  }

  SUBCASE("another sandbox_init_cmd is a miss for the same commit") {
    auto req = request(a, t / "scratch");
    req.base.sandbox_init_cmd = "make other-deps";
    auto r = h.prepare(req);
    CHECK_FALSE(r.cache_hit);
    CHECK(has(h.env(3), "OFFLOAD_SANDBOX_INIT_CMD=make other-deps"));
  }

  SUBCASE("a cached image that no longer exists is rebuilt once, and the note fixed") {
    sh(a, "git notes --ref=offload-images add -f -m '{\"offload.toml\":{\"image_id\":\"im-gone\"}}' HEAD"
          " && git push -q -f origin refs/notes/offload-images"); // the fetch would restore origin's otherwise
    auto r = h.prepare(request(a, t / "scratch"));
    CHECK(r.status == OFFLOAD_OK);
    CHECK_FALSE(r.cache_hit);
    REQUIRE(r.warnings.size() == 1);
    CHECK(has(r.warnings[0], "im-gone"));
    // 3: derive from im-gone (fails), 4: base rebuilt, 5: derived from it
    CHECK(h.count() == 5);
    CHECK(has(h.env(5), "OFFLOAD_BASE_IMAGE=im-4"));
    CHECK(note_image_id(sh(a, "git notes --ref=offload-images show HEAD"), "offload.toml", inputs) == "im-4");
  }
}

TEST_CASE("prepare_image: a note pushed by someone else during the build is merged, not overwritten") {
  if (!fs::exists(kPlugin)) return;
  Harness h;
  auto& t = h.t;
  init_repo(t / "seed", {{"offload.toml", "x"}, {"ci/gpu.toml", "y"}});
  sh(t.str(), "git clone -q --bare seed origin.git && git clone -q origin.git a && git clone -q origin.git b");
  // While a builds, b records its own config's image and pushes first.
  write(h.calls + "/hook", "cd " + (t / "b") +
                               " && git -c user.name=b -c user.email=b@b notes --ref=offload-images add -f "
                               "-m '{\"ci/gpu.toml\":{\"image_id\":\"im-b\"}}' HEAD"
                               " && git push -q origin refs/notes/offload-images\n");
  auto r = h.prepare(request(t / "a", t / "scratch"));
  CHECK(r.image_id == "im-1");
  CHECK(r.warnings.empty());
  auto note = sh(t / "origin.git", "git notes --ref=offload-images show HEAD");
  CHECK(note_image_id(note, "ci/gpu.toml", "") == "im-b");
  CHECK(note_image_id(note, "offload.toml", image_inputs_fingerprint("make deps", {"data:/data"})) == "im-1");
}

TEST_CASE("prepare_image: outside a git repository, a full image of the working tree (plus post_patch_cmd)") {
  if (!fs::exists(kPlugin)) return;
  Harness h;
  auto& t = h.t;
  fs::create_directories(t / "plain");
  auto req = request(t / "plain", t / "scratch");
  req.base.context_dir = t / "plain";
  req.base.post_patch_cmd = "make generate-client";
  auto r = h.prepare(req);
  CHECK(r.status == OFFLOAD_OK);
  CHECK(r.warnings.empty()); // not being in git is no problem
  CHECK(r.base_commit.empty());
  CHECK(has(r.log[0], "not a git repository"));
  CHECK(h.count() == 2);
  CHECK(has(h.env(1), "OFFLOAD_CONTEXT_DIR=" + (t / "plain")));
  CHECK(has(h.env(2), "OFFLOAD_BASE_IMAGE=im-1"));
  CHECK(has(h.env(2), "OFFLOAD_POST_PATCH_CMD=make generate-client"));
  CHECK(r.image_id == "im-2");
}

TEST_CASE("prepare_image: a provider that fails the base build reports its message") {
  if (!fs::exists(kPlugin)) return;
  Harness h;
  auto& t = h.t;
  init_repo(t / "repo", {{"offload.toml", "x"}});
  write(h.calls + "/hook", "exit 3\n"); // the first build fails
  std::optional<ImageResult> out;
  prepare_image(h.runner, *h.provider, request(t / "repo", t / "scratch"), [&](ImageResult r) { out = std::move(r); });
  h.loop.run();
  REQUIRE(out);
  CHECK(out->status != OFFLOAD_OK);
  CHECK(out->message != "");
  CHECK(sh(t / "repo", "git notes --ref=offload-images list").empty()); // nothing cached
}

TEST_CASE("prepare_image: Ctrl-C (cancel_all) stops it without a fallback build") {
  if (!fs::exists(kPlugin)) return;
  Harness h;
  auto& t = h.t;
  init_repo(t / "repo", {{"offload.toml", "x"}});
  write(h.calls + "/hook", "sleep 30\n"); // the base build takes long
  std::optional<ImageResult> out;
  prepare_image(h.runner, *h.provider, request(t / "repo", t / "scratch"), [&](ImageResult r) { out = std::move(r); });
  h.loop.add_timer(std::chrono::milliseconds(500), [&] { h.runner.cancel_all(); });
  auto t0 = std::chrono::steady_clock::now();
  h.loop.run();
  REQUIRE(out);
  CHECK(out->status == OFFLOAD_E_CANCELLED);
  CHECK(h.count() == 1); // nothing started after the cancellation
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}
