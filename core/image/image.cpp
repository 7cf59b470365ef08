#include "image/image.hpp"

#include <filesystem>
#include <memory>
#include <utility>

#include "image/git.hpp"
#include "image/notes.hpp"
#include "process/runner.hpp"
#include "util/fs.hpp"

namespace offload {

namespace fs = std::filesystem;

ProviderInstance::PrepareSpec full_image_spec(const ImageRequest& req, const std::string& context_dir) {
  ProviderInstance::PrepareSpec s;
  s.no_cache = req.no_cache;
  s.copy_dirs = req.base.copy_dirs;
  s.context_dir = context_dir;
  s.sandbox_init_cmd = req.base.sandbox_init_cmd;
  return s;
}

std::optional<ProviderInstance::PrepareSpec> derived_image_spec(const ImageRequest& req, const std::string& base_image_id,
                                                                const std::string& patch_file, bool patch_empty) {
  if (patch_empty && req.base.post_patch_cmd.empty()) return std::nullopt;
  ProviderInstance::PrepareSpec s;
  s.no_cache = req.no_cache;
  s.copy_dirs = req.base.copy_dirs;
  s.base_image_id = base_image_id;
  s.patch_file = patch_empty ? "" : patch_file;
  s.post_patch_cmd = req.base.post_patch_cmd;
  return s;
}

std::string image_cache_key(const std::string& repo_root, const std::string& config_path) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(repo_root, ec);
  if (ec) root = fs::path(repo_root);
  fs::path cfg = fs::weakly_canonical(fs::absolute(config_path, ec), ec);
  if (ec) cfg = fs::path(config_path);
  fs::path rel = cfg.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return cfg.filename().generic_string();
  return rel.generic_string();
}

namespace {

using Clock = std::chrono::steady_clock;

/// One prepare_image operation. Owns itself through the callbacks it hands out.
struct Flow : std::enable_shared_from_this<Flow> {
  ProcessRunner& runner;
  ProviderInstance& provider;
  ImageRequest req;
  std::function<void(ImageResult)> done;
  ImageResult res;
  RepoInfo repo;
  std::string key, inputs, tree, export_dir;
  bool rebuilt = false;      ///< a derived image failed on a cached base: rebuilt the base once
  int pushes = 0;            ///< note writes/pushes still running; delivering waits for them
  bool finished = false, delivered = false;

  Flow(ProcessRunner& r, ProviderInstance& p, ImageRequest q, std::function<void(ImageResult)> d)
      : runner(r), provider(p), req(std::move(q)), done(std::move(d)) {}

  /// A step was cancelled (Ctrl-C): stop without starting anything new.
  bool stop_if_cancelled(const std::string& error) {
    if (!step_cancelled(error)) return false;
    log("cancelled: " + error);
    finish(OFFLOAD_E_CANCELLED, "", "image preparation cancelled");
    return true;
  }

  void log(std::string s) { res.log.push_back(std::move(s)); }
  void warn(std::string s) {
    res.log.push_back("warning: " + s);
    res.warnings.push_back(std::move(s));
  }
  void span(const char* name, Clock::time_point start) { res.spans.push_back({name, start, Clock::now()}); }

  void finish(offload_status st, std::string image, std::string message) {
    if (finished) return;
    res.status = st;
    res.image_id = std::move(image);
    res.message = std::move(message);
    finished = true;
    if (pushes == 0) deliver();
  }
  void deliver() {
    if (delivered) return;
    delivered = true;
    auto d = std::move(done);
    d(std::move(res));
  }

  void start() {
    auto self = shared_from_this();
    if (!provider.has_prepare()) {
      log("the provider builds no image; the image cache is not used");
      provider.prepare(full_image_spec(req, req.base.context_dir),
                       [self](offload_status st, std::string image, std::string msg) {
                         self->finish(st, std::move(image), std::move(msg));
                       });
      return;
    }
    std::string dir = req.repo_dir.empty() ? fs::current_path().string() : req.repo_dir;
    inspect_repo(runner, dir, [self](RepoInfo info) {
      self->repo = std::move(info);
      if (!self->repo.error.empty()) return self->working_tree(self->repo.error, false);
      if (!self->choose_scratch()) return;
      self->res.base_commit = self->repo.head;
      self->key = image_cache_key(self->repo.toplevel, self->req.config_path);
      self->inputs = image_inputs_fingerprint(self->req.base.sandbox_init_cmd, self->req.base.copy_dirs);
      self->log("base commit " + self->repo.head + ", cache key " + self->key);
      if (self->req.no_cache) {
        self->log("--no-cache: the note is neither read nor written; building the base image");
        return self->build_base();
      }
      self->lookup();
    });
  }

  /// The scratch directory must not be in the working tree, or the exported
  /// tree and the patch would end up in the next thin diff. Default: inside
  /// the .git directory.
  bool choose_scratch() {
    auto inside = [](const fs::path& p, const fs::path& dir) {
      auto rel = p.lexically_relative(dir);
      return !rel.empty() && *rel.begin() != "..";
    };
    fs::path fallback = fs::path(repo.git_dir) / "offload-image";
    if (!req.scratch_dir.empty()) {
      std::error_code ec;
      fs::path s = fs::weakly_canonical(fs::absolute(req.scratch_dir), ec);
      fs::path top = fs::weakly_canonical(repo.toplevel, ec);
      fs::path git = fs::weakly_canonical(repo.git_dir, ec);
      if (inside(s, top) && !inside(s, git)) {
        log("scratch dir " + s.string() + " is inside the working tree; using " + fallback.string());
        req.scratch_dir.clear();
      } else {
        req.scratch_dir = s.string();
      }
    }
    if (req.scratch_dir.empty()) req.scratch_dir = fallback.string();
    if (auto e = make_dirs(req.scratch_dir); !e.empty()) {
      working_tree("no scratch directory for the image cache: " + e, true);
      return false;
    }
    export_dir = req.scratch_dir + "/base-tree";
    return true;
  }

  /// Fetch the notes (when there is an origin), then read the base commit's note.
  void lookup() {
    auto self = shared_from_this();
    auto t0 = Clock::now();
    auto read = [self, t0] {
      read_image_note(self->runner, self->repo.toplevel, self->repo.head,
                      [self, t0](std::optional<std::string> text, std::string error) {
                        self->span("image_cache_lookup", t0);
                        if (self->stop_if_cancelled(error)) return;
                        if (!error.empty()) {
                          self->warn("reading the image note failed: " + error);
                          return self->build_base();
                        }
                        if (!text) {
                          self->log("cache miss: no note on " + self->repo.head);
                          return self->build_base();
                        }
                        std::string why;
                        auto id = note_image_id(*text, self->key, self->inputs, &why);
                        if (!id) {
                          self->log("cache miss: " + why);
                          return self->build_base();
                        }
                        self->log("cache hit: base image " + *id);
                        self->res.cache_hit = true;
                        self->thin(*id);
                      });
    };
    if (!repo.has_origin) {
      log("no remote named origin: notes are local only");
      return read();
    }
    fetch_image_notes(runner, repo.toplevel, req.remote_timeout, [self, read](std::string error, bool absent) {
      if (self->stop_if_cancelled(error)) return;
      if (!error.empty()) {
        self->warn("fetching image notes from origin failed: " + error);
      } else {
        self->log(absent ? "origin has no image notes yet" : "fetched image notes from origin");
      }
      read();
    });
  }

  /// Cache miss: a full image of the base commit's tree.
  void build_base() {
    auto self = shared_from_this();
    auto t0 = Clock::now();
    with_tree([self, t0] {
      export_tree(self->runner, self->repo.toplevel, self->tree, self->export_dir, self->req.scratch_dir,
                  [self, t0](std::string error) {
                    self->span("export_tree", t0);
                    if (!error.empty()) return self->working_tree("exporting the base commit failed: " + error, true);
                    self->log("exported tree " + self->tree + " of " + self->repo.head + " to " + self->export_dir);
                    auto t1 = Clock::now();
                    self->provider.prepare(full_image_spec(self->req, self->export_dir),
                                           [self, t1](offload_status st, std::string image, std::string msg) {
                                             self->span("base_prepare", t1);
                                             std::error_code ec;
                                             fs::remove_all(self->export_dir, ec);
                                             if (st != OFFLOAD_OK) return self->finish(st, "", msg);
                                             if (image.empty()) {
                                               self->log("the provider returned no image id; nothing to cache");
                                               return self->finish(OFFLOAD_OK, "", "");
                                             }
                                             self->log("built base image " + image);
                                             if (!self->req.no_cache) self->record(image);
                                             self->thin(image);
                                           });
                  });
    });
  }

  /// Compute the base image's tree (commit minus its .dockerignore) once.
  void with_tree(std::function<void()> next) {
    if (!tree.empty()) return next();
    auto self = shared_from_this();
    image_tree_of(runner, repo.toplevel, repo.head, req.scratch_dir,
                  [self, next = std::move(next)](std::string t, std::string error) {
                    if (!error.empty()) return self->working_tree("reading the base commit's tree failed: " + error, true);
                    self->tree = std::move(t);
                    next();
                  });
  }

  /// Write the note, then push it (in the background of the thin diff).
  void record(const std::string& image) {
    auto self = shared_from_this();
    ++pushes;
    write_image_note(runner, repo.toplevel, repo.head, key, image, inputs, req.scratch_dir,
                     [self, image](std::string error) {
                       if (!error.empty()) {
                         if (step_cancelled(error)) return self->push_done();
                         self->warn("writing the image note failed: " + error);
                         return self->push_done();
                       }
                       self->log("recorded " + image + " for " + self->key + " in refs/notes/offload-images");
                       self->push(image, false);
                     });
  }

  void push(const std::string& image, bool retried) {
    auto self = shared_from_this();
    if (!repo.has_origin) return push_done();
    push_image_notes(runner, repo.toplevel, req.remote_timeout, [self, image, retried](std::string error, bool rejected) {
      if (error.empty()) {
        self->log("pushed image notes to origin");
        return self->push_done();
      }
      if (!rejected || retried || step_cancelled(error)) {
        self->warn("pushing image notes to origin failed: " + error);
        return self->push_done();
      }
      // Someone pushed notes meanwhile: take theirs, add ours again, retry once.
      self->log("origin's image notes moved on; merging and pushing again");
      fetch_image_notes(self->runner, self->repo.toplevel, self->req.remote_timeout,
                        [self, image](std::string ferr, bool) {
                          if (!ferr.empty()) {
                            self->warn("pushing image notes to origin failed: " + ferr);
                            return self->push_done();
                          }
                          write_image_note(self->runner, self->repo.toplevel, self->repo.head, self->key, image,
                                           self->inputs, self->req.scratch_dir, [self, image](std::string werr) {
                                             if (!werr.empty()) {
                                               self->warn("writing the image note failed: " + werr);
                                               return self->push_done();
                                             }
                                             self->push(image, true);
                                           });
                        });
    });
  }

  void push_done() {
    --pushes;
    if (finished && pushes == 0) deliver();
  }

  /// On top of a base image: the thin diff, then a derived image (or none).
  void thin(const std::string& base_image) {
    auto self = shared_from_this();
    with_tree([self, base_image] {
      auto t0 = Clock::now();
      make_thin_patch(self->runner, self->repo.toplevel, self->tree, self->req.scratch_dir,
                      [self, base_image, t0](ThinPatch p) {
                        self->span("thin_diff", t0);
                        if (!p.error.empty()) return self->working_tree("computing the thin diff failed: " + p.error, true);
                        self->log(p.empty ? std::string("thin diff: no changes against the base image")
                                          : "thin diff: " + std::to_string(p.files) + " file(s), " +
                                                std::to_string(p.bytes) + " bytes in " + p.path);
                        if (p.dockerignored > 0)
                          self->log("thin diff: left out " + std::to_string(p.dockerignored) +
                                    " path(s) excluded by .dockerignore");
                        auto spec = derived_image_spec(self->req, base_image, p.path, p.empty);
                        if (!spec) {
                          self->log("using base image " + base_image + " as it is");
                          return self->finish(OFFLOAD_OK, base_image, "");
                        }
                        if (!p.empty) self->res.patch_file = p.path;
                        self->derive(*spec);
                      });
    });
  }

  void derive(const ProviderInstance::PrepareSpec& spec) {
    auto self = shared_from_this();
    auto t0 = Clock::now();
    provider.prepare(spec, [self, t0, base = spec.base_image_id](offload_status st, std::string image, std::string msg) {
      self->span("image_prepare", t0);
      if (st == OFFLOAD_OK) {
        self->log("derived image " + image + " from " + base);
        return self->finish(st, image.empty() ? base : image, "");
      }
      if (self->res.cache_hit && !self->rebuilt && st != OFFLOAD_E_CANCELLED) {
        // The cached image may be gone (expired, other account): rebuild it once.
        self->warn("deriving from cached image " + base + " failed (" + msg + "); rebuilding the base image");
        self->rebuilt = true;
        self->res.cache_hit = false;
        self->res.patch_file.clear();
        return self->build_base();
      }
      self->finish(st, "", msg);
    });
  }

  /// Fallback: a full image of the working tree, then post_patch_cmd on top.
  void working_tree(const std::string& why, bool is_warning) {
    if (stop_if_cancelled(why)) return;
    std::string line = why + "; building a full image of the working tree";
    if (is_warning) {
      warn(line);
    } else {
      log(line);
    }
    res.base_commit.clear();
    res.cache_hit = false;
    auto self = shared_from_this();
    auto t0 = Clock::now();
    provider.prepare(full_image_spec(req, req.base.context_dir),
                     [self, t0](offload_status st, std::string image, std::string msg) {
                       self->span("image_prepare", t0);
                       if (st != OFFLOAD_OK || image.empty() || self->req.base.post_patch_cmd.empty())
                         return self->finish(st, std::move(image), std::move(msg));
                       self->log("built image " + image + "; running post_patch_cmd on top");
                       self->derive(*derived_image_spec(self->req, image, "", true));
                     });
  }
};

} // namespace

void prepare_image(ProcessRunner& runner, ProviderInstance& provider, const ImageRequest& req,
                   std::function<void(ImageResult)> done) {
  auto flow = std::make_shared<Flow>(runner, provider, req, std::move(done));
  flow->start();
}

} // namespace offload
