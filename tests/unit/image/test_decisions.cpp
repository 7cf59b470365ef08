#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "image/image.hpp"
#include "image/notes.hpp"

using namespace offload;

TEST_CASE("notes: read-merge-write keeps other configs and unknown fields") {
  std::string note = note_with_image("", "offload.toml", "im-1", "fp1");
  note = note_with_image(note, "ci/gpu.toml", "im-2", "fp2");
  CHECK(note_image_id(note, "offload.toml", "fp1") == "im-1");
  CHECK(note_image_id(note, "ci/gpu.toml", "fp2") == "im-2");
  // overwrite one key, the other survives
  note = note_with_image(note, "offload.toml", "im-3", "fp1");
  CHECK(note_image_id(note, "offload.toml", "fp1") == "im-3");
  CHECK(note_image_id(note, "ci/gpu.toml", "fp2") == "im-2");

  auto j = nlohmann::json::parse(R"({"offload.toml":{"image_id":"old","built_by":"someone"},"x":1})");
  auto merged = nlohmann::json::parse(note_with_image(j.dump(), "offload.toml", "new", "fp"));
  CHECK(merged["offload.toml"]["image_id"] == "new");
  CHECK(merged["offload.toml"]["built_by"] == "someone");
  CHECK(merged["x"] == 1);
}

TEST_CASE("notes: the original's format (no inputs) is trusted; a different fingerprint is a miss") {
  std::string why;
  CHECK(note_image_id(R"({"offload.toml":{"image_id":"im-orig"}})", "offload.toml", "fp") == "im-orig");
  CHECK_FALSE(note_image_id(R"({"offload.toml":{"image_id":"im","inputs":"other"}})", "offload.toml", "fp", &why));
  CHECK(why.find("sandbox_init_cmd") != std::string::npos);
  CHECK_FALSE(note_image_id("not json", "offload.toml", "fp", &why));
  CHECK(why.find("not a JSON object") != std::string::npos);
  CHECK_FALSE(note_image_id(R"({"other.toml":{"image_id":"im"}})", "offload.toml", "fp", &why));
  CHECK_FALSE(note_image_id(R"({"offload.toml":{"image_id":""}})", "offload.toml", "fp"));
  CHECK_FALSE(note_image_id(R"({"offload.toml":"im"})", "offload.toml", "fp"));
  // a note that is not an object is replaced on write
  CHECK(note_image_id(note_with_image("[1,2]", "k", "im", "fp"), "k", "fp") == "im");
}

TEST_CASE("notes: the inputs fingerprint is stable and separates its fields") {
  auto a = image_inputs_fingerprint("make deps", {"a:/x"});
  CHECK(a == image_inputs_fingerprint("make deps", {"a:/x"}));
  CHECK(a.size() == 16);
  CHECK(a != image_inputs_fingerprint("make deps", {}));
  CHECK(a != image_inputs_fingerprint("make deps", {"a:/y"}));
  CHECK(image_inputs_fingerprint("ab", {"c"}) != image_inputs_fingerprint("a", {"bc"}));
}

TEST_CASE("cache key: the config path relative to the repository root") {
  CHECK(image_cache_key("/repo", "/repo/offload.toml") == "offload.toml");
  CHECK(image_cache_key("/repo", "/repo/ci/offload-gpu.toml") == "ci/offload-gpu.toml");
  CHECK(image_cache_key("/repo/", "/repo/./ci/../offload.toml") == "offload.toml");
  CHECK(image_cache_key("/repo", "/elsewhere/offload.toml") == "offload.toml");
}

TEST_CASE("decisions: full image from a context, derived image or the base as it is") {
  ImageRequest req;
  req.no_cache = true;
  req.base.copy_dirs = {"data:/data"};
  req.base.sandbox_init_cmd = "make deps";
  req.base.post_patch_cmd = "";

  auto full = full_image_spec(req, "/scratch/base-tree");
  CHECK(full.context_dir == "/scratch/base-tree");
  CHECK(full.sandbox_init_cmd == "make deps");
  CHECK(full.copy_dirs == std::vector<std::string>{"data:/data"});
  CHECK(full.base_image_id.empty());
  CHECK(full.patch_file.empty());
  CHECK(full.post_patch_cmd.empty()); // never run on a base image
  CHECK(full.no_cache);

  SUBCASE("no changes, no post_patch_cmd: reuse the base image") {
    CHECK_FALSE(derived_image_spec(req, "im-base", "/scratch/offload.patch", true));
  }
  SUBCASE("changes: apply the patch") {
    auto d = derived_image_spec(req, "im-base", "/scratch/offload.patch", false);
    REQUIRE(d);
    CHECK(d->base_image_id == "im-base");
    CHECK(d->patch_file == "/scratch/offload.patch");
    CHECK(d->sandbox_init_cmd.empty()); // only for base images
    CHECK(d->context_dir.empty());
    CHECK(d->copy_dirs == std::vector<std::string>{"data:/data"});
  }
  SUBCASE("no changes but a post_patch_cmd: derive without a patch") {
    req.base.post_patch_cmd = "make generate-client";
    auto d = derived_image_spec(req, "im-base", "/scratch/offload.patch", true);
    REQUIRE(d);
    CHECK(d->patch_file.empty());
    CHECK(d->post_patch_cmd == "make generate-client");
  }
}
