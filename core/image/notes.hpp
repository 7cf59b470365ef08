#pragma once
/// The image cache's note format: one git note per base commit on
/// refs/notes/offload-images, holding a JSON object keyed by the config file's
/// path relative to the repository root (so several offload.toml files in one
/// repo share a commit's note):
///
///   {"offload.toml": {"image_id": "im-abc"}, "ci/offload-gpu.toml": {"image_id": "im-def", "inputs": "5f0c..."}}
///
/// This is the original's format. We add "inputs", a fingerprint of what else
/// shaped the base image (sandbox_init_cmd, copy_dirs); an entry whose
/// fingerprint differs is a miss. Entries without one (written by the
/// original) are trusted. Unknown fields and other keys are kept on rewrite.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offload {

inline constexpr const char* kImageNotesRef = "refs/notes/offload-images";

/// The image id cached for `key` in a note's text, or nullopt when the note
/// is not JSON, has no usable entry for the key, or the entry's "inputs"
/// differs from `inputs`. *why (optional) says which.
std::optional<std::string> note_image_id(std::string_view note_text, const std::string& key, const std::string& inputs,
                                         std::string* why = nullptr);

/// The note's new text with `key` set to {image_id, inputs}: read-merge-write,
/// other keys survive. A note that is not a JSON object is replaced.
std::string note_with_image(std::string_view note_text, const std::string& key, const std::string& image_id,
                            const std::string& inputs);

/// Stable fingerprint (FNV-1a 64, hex) of the image inputs besides the tree.
std::string image_inputs_fingerprint(const std::string& sandbox_init_cmd, const std::vector<std::string>& copy_dirs);

} // namespace offload
