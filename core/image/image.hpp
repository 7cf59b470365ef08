#pragma once
/// Image preparation with the git-notes cache and thin diffs (docs/images.md).
///
///   base commit = HEAD; key = the config file's path relative to the repo root
///   fetch refs/notes/offload-images from origin (if there is an origin)
///   note on the base commit has an image for the key?
///     no  -> export the base commit (minus its .dockerignore) and build a full
///            image from it; record the image id in the note; push the notes
///     yes -> (use it)
///   thin diff = working tree minus .dockerignore, against the base image's tree
///   empty diff and no post_patch_cmd -> the base image as it is
///   else -> a derived image: apply the patch, run post_patch_cmd
///
/// Not a git repository, git missing, no commit yet, or a git step failing:
/// a full image of the working tree (then post_patch_cmd on top, if set),
/// with the reason in the log; never an error by itself. --no-cache: no note
/// is read or written, the base image is rebuilt.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <offload/plugin.h>

#include "plugin/provider.hpp"

namespace offload {

class ProcessRunner;

struct ImageRequest {
  std::string repo_dir;    ///< the local project directory (anywhere inside the repository)
  std::string config_path; ///< offload.toml; its path relative to the repo root is the cache key
  bool no_cache = false;
  /// copy_dirs, sandbox_init_cmd and post_patch_cmd as configured. context_dir
  /// is used only for the working-tree fallback ("" = the provider's default).
  ProviderInstance::PrepareSpec base;
  /// For the exported tree, patch, note and temporary indexes (created). ""
  /// or a directory inside the working tree: <git dir>/offload-image.
  std::string scratch_dir;
  std::chrono::milliseconds remote_timeout{std::chrono::seconds(30)}; ///< each fetch/push of the notes
};

/// A timed step, for trace.json.
struct ImageSpan {
  std::string name; ///< "image_cache_lookup", "export_tree", "base_prepare", "thin_diff", "image_prepare"
  std::chrono::steady_clock::time_point start, end;
};

struct ImageResult {
  offload_status status = OFFLOAD_OK;
  std::string image_id;    ///< "" when the provider builds no image
  std::string message;     ///< why it failed (status != OK)
  bool cache_hit = false;  ///< the base image came from the note
  std::string base_commit; ///< "" when git was not used
  std::string patch_file;  ///< the thin diff given to the provider ("" when none)
  std::vector<std::string> log;      ///< steps taken, one line each (for -v)
  std::vector<std::string> warnings; ///< problems worked around (notes not fetched/pushed, git failed...)
  std::vector<ImageSpan> spans;
};

/// Prepare the image. done is called exactly once, on the loop thread, never
/// inside this call. The runner and provider must outlive the operation.
/// With a provider that builds no image (no prepare), git is not touched.
void prepare_image(ProcessRunner& runner, ProviderInstance& provider, const ImageRequest& req,
                   std::function<void(ImageResult)> done);

// ---- Decisions, as pure functions (unit-tested without a provider) -------

/// The full-image request: context_dir ("" = the provider's working tree),
/// sandbox_init_cmd, copy_dirs; never a base image, patch or post_patch_cmd.
ProviderInstance::PrepareSpec full_image_spec(const ImageRequest& req, const std::string& context_dir);

/// What to do on top of a base image: nullopt = use the base image as it is
/// (no changes and no post_patch_cmd); else the derived-image request
/// (patch_file "" when the patch is empty).
std::optional<ProviderInstance::PrepareSpec> derived_image_spec(const ImageRequest& req, const std::string& base_image_id,
                                                                const std::string& patch_file, bool patch_empty);

/// The cache key: config_path relative to repo_root ('/'-separated). A config
/// outside the repository is keyed by its file name.
std::string image_cache_key(const std::string& repo_root, const std::string& config_path);

} // namespace offload
