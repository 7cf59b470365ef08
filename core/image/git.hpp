#pragma once
/// The git side of the image cache, as asynchronous steps on the ProcessRunner
/// (so they overlap with test discovery). Every step calls its completion
/// exactly once on the loop thread; errors are values ("" = success).
/// Nothing here touches the user's index, working tree or HEAD: the thin diff
/// is computed in a temporary index (GIT_INDEX_FILE in the scratch dir). The
/// only writes to the repository are the notes ref and the blobs `git add`
/// stores for changed files (unreferenced, collected by `git gc`).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "process/runner.hpp"

namespace offload {

struct GitOutcome {
  bool ok = false;
  std::string out;   ///< captured stdout (up to 16 MiB; use stdout_path for more)
  std::string error; ///< "" when ok, else "git <sub>: <how it ended>: <first stderr line>"
  ProcessResult raw;
};
using GitDone = std::function<void(GitOutcome)>;
using GitErrDone = std::function<void(std::string error)>;

struct GitOptions {
  std::vector<std::pair<std::string, std::string>> env; ///< e.g. GIT_INDEX_FILE
  std::string stdout_path;                              ///< stdout to this file instead of capturing it
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

/// True when a step's error says its process was cancelled (Ctrl-C:
/// ProcessRunner::cancel_all); such errors read "<what>: cancelled".
bool step_cancelled(std::string_view error);

/// `git -C dir args...` with GIT_TERMINAL_PROMPT=0 (never wait for a password)
/// and LC_ALL=C (messages we can recognise).
void run_git(ProcessRunner& runner, const std::string& dir, std::vector<std::string> args, GitDone done,
             GitOptions opts = {});

struct RepoInfo {
  std::string error;    ///< non-empty: not usable (git missing, not a repository, no commit yet)
  std::string toplevel; ///< absolute repository root
  std::string git_dir;  ///< absolute .git directory (of this worktree)
  std::string head;     ///< full id of HEAD
  bool has_origin = false;
};
/// Find the repository containing dir, its HEAD commit, and whether it has a
/// remote named "origin".
void inspect_repo(ProcessRunner& runner, const std::string& dir, std::function<void(RepoInfo)> done);

/// `git fetch origin +refs/notes/offload-images:refs/notes/offload-images`.
/// A remote without the ref yet is not an error (*absent set instead).
void fetch_image_notes(ProcessRunner& runner, const std::string& repo, std::chrono::milliseconds timeout,
                       std::function<void(std::string error, bool absent)> done);
/// `git push origin refs/notes/offload-images` (fast-forward only: a note
/// pushed meanwhile by another machine is never overwritten). *rejected is
/// set when the remote moved on; the caller fetches, re-merges and retries.
void push_image_notes(ProcessRunner& runner, const std::string& repo, std::chrono::milliseconds timeout,
                      std::function<void(std::string error, bool rejected)> done);

/// The note text on `commit`, nullopt when there is none.
void read_image_note(ProcessRunner& runner, const std::string& repo, const std::string& commit,
                     std::function<void(std::optional<std::string> text, std::string error)> done);
/// Read-merge-write the note on `commit` so that key -> image_id. Uses the
/// identity offload <offload@localhost> when git has none configured.
void write_image_note(ProcessRunner& runner, const std::string& repo, const std::string& commit, const std::string& key,
                      const std::string& image_id, const std::string& inputs, const std::string& scratch_dir,
                      GitErrDone done);

/// The tree a base image is built from: `commit`'s tree minus the paths its
/// own .dockerignore excludes (written to the object store with write-tree).
void image_tree_of(ProcessRunner& runner, const std::string& repo, const std::string& commit,
                   const std::string& scratch_dir, std::function<void(std::string tree, std::string error)> done);

/// Write `tree` into dest_dir (emptied first) with `git archive | tar -x`:
/// exactly the committed content, nothing from the working tree.
void export_tree(ProcessRunner& runner, const std::string& repo, const std::string& tree, const std::string& dest_dir,
                 const std::string& scratch_dir, GitErrDone done);

struct ThinPatch {
  std::string error;
  std::string path;        ///< the patch file (written even when empty)
  bool empty = true;
  size_t bytes = 0;
  size_t files = 0;        ///< files the patch touches
  size_t dockerignored = 0; ///< working-tree paths left out because .dockerignore excludes them
};
/// The working tree (tracked files as they are now, deletions, untracked files
/// that .gitignore does not exclude), minus what the working tree's
/// .dockerignore excludes, as a `git diff --binary` against `tree` (the base
/// image's tree). Paths are relative to the repository root ("a/" and "b/"
/// prefixes, renames detected), for `git apply` in the sandbox's repo root.
void make_thin_patch(ProcessRunner& runner, const std::string& repo, const std::string& tree,
                     const std::string& scratch_dir, std::function<void(ThinPatch)> done);

} // namespace offload
