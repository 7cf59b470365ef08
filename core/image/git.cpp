#include "image/git.hpp"

#include <filesystem>
#include <memory>

#include "image/dockerignore.hpp"
#include "image/notes.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace offload {

namespace fs = std::filesystem;

namespace {

constexpr size_t kCapture = 16u << 20;

std::string first_line(std::string_view s) {
  s = trim(s);
  auto nl = s.find('\n');
  return std::string(trim(s.substr(0, nl)));
}

std::string abs_path(const std::string& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return (ec ? fs::path(p) : a).lexically_normal().string();
}

/// NUL-separated list -> entries.
std::vector<std::string> split_nul(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\0', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// The paths of the index in `index_file` that `ignore` excludes, written
/// NUL-separated to list_file. Calls done(error, count).
void find_dockerignored(ProcessRunner& runner, const std::string& repo, const std::string& index_file,
                        std::shared_ptr<DockerIgnore> ignore, const std::string& list_file,
                        std::function<void(std::string, size_t)> done) {
  GitOptions o;
  o.env = {{"GIT_INDEX_FILE", index_file}};
  o.stdout_path = list_file + ".all";
  run_git(runner, repo, {"ls-files", "-z", "--cached"}, [=, done = std::move(done)](GitOutcome r) {
    if (!r.ok) return done(r.error, 0);
    std::string err;
    auto all = read_file(o.stdout_path, &err);
    std::error_code ec;
    fs::remove(o.stdout_path, ec);
    if (!all) return done(err, 0);
    std::string list;
    size_t n = 0;
    for (auto& p : split_nul(*all)) {
      if (!ignore->ignored(p)) continue;
      list += p;
      list.push_back('\0');
      ++n;
    }
    if (n == 0) return done("", 0);
    auto werr = write_file_atomic(list_file, list);
    done(werr, werr.empty() ? n : 0);
  }, o);
}

/// Remove the listed paths (NUL-separated file) from the index in index_file.
void unstage_paths(ProcessRunner& runner, const std::string& repo, const std::string& index_file,
                   const std::string& list_file, GitErrDone done) {
  GitOptions o;
  o.env = {{"GIT_INDEX_FILE", index_file}};
  run_git(runner, repo,
          {"--literal-pathspecs", "rm", "--cached", "-q", "-r", "--ignore-unmatch", "--pathspec-from-file=" + list_file,
           "--pathspec-file-nul"},
          [done = std::move(done)](GitOutcome r) { done(r.error); }, o);
}

void remove_quietly(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

/// Call fn on the loop thread later, through the runner, so that a step that
/// fails before starting a process still never completes inside its call.
void later(ProcessRunner& runner, std::function<void()> fn) {
  ProcessSpec noop;
  noop.argv = {"true"};
  runner.spawn(std::move(noop), [fn = std::move(fn)](ProcessResult) { fn(); });
}

} // namespace

bool step_cancelled(std::string_view error) { return error.find(": cancelled") != std::string_view::npos; }

void run_git(ProcessRunner& runner, const std::string& dir, std::vector<std::string> args, GitDone done,
             GitOptions opts) {
  ProcessSpec spec;
  spec.argv = {"git", "-C", dir};
  std::string sub;
  for (auto& a : args) {
    if (sub.empty() && !a.empty() && a[0] != '-' && spec.argv.back() != "-c") sub = a;
    spec.argv.push_back(a);
  }
  spec.env = std::move(opts.env);
  spec.env.emplace_back("GIT_TERMINAL_PROMPT", "0");
  spec.env.emplace_back("LC_ALL", "C");
  spec.stdout_path = opts.stdout_path;
  spec.timeout = opts.timeout;
  spec.capture_limit = kCapture;
  runner.spawn(std::move(spec), [sub, done = std::move(done)](ProcessResult r) {
    GitOutcome o;
    o.ok = r.ok();
    if (!o.ok) {
      o.error = "git " + sub + ": " + r.describe();
      auto line = first_line(r.err);
      if (!line.empty() && !r.cancelled) o.error += ": " + line;
    }
    o.out = r.out;
    o.raw = std::move(r);
    done(std::move(o));
  });
}

void inspect_repo(ProcessRunner& runner, const std::string& dir, std::function<void(RepoInfo)> done) {
  run_git(runner, dir, {"rev-parse", "--show-toplevel", "--absolute-git-dir"}, [&runner, done = std::move(done)](GitOutcome r) {
    RepoInfo info;
    auto lines = split_lines(trim(r.out));
    if (!r.ok || lines.size() != 2) {
      info.error = !r.raw.spawn_error.empty() ? "git is not available (" + r.raw.spawn_error + ")"
                   : r.ok                     ? "not a git working tree (a bare repository?)"
                                              : "not a git repository (" + r.error + ")";
      return done(std::move(info));
    }
    info.toplevel = lines[0];
    info.git_dir = lines[1];
    std::string top = info.toplevel;
    run_git(runner, top, {"rev-parse", "--verify", "-q", "HEAD^{commit}"},
            [&runner, info = std::move(info), done = std::move(done)](GitOutcome h) mutable {
              if (!h.ok) {
                info.error = "the repository has no commit yet";
                return done(std::move(info));
              }
              info.head = std::string(trim(h.out));
              std::string top = info.toplevel;
              run_git(runner, top, {"remote"}, [info = std::move(info), done = std::move(done)](GitOutcome rm) mutable {
                if (step_cancelled(rm.error)) info.error = rm.error;
                for (auto& l : split_lines(rm.out)) info.has_origin = info.has_origin || trim(l) == "origin";
                done(std::move(info));
              });
            });
  });
}

void fetch_image_notes(ProcessRunner& runner, const std::string& repo, std::chrono::milliseconds timeout,
                       std::function<void(std::string, bool)> done) {
  GitOptions o;
  o.timeout = timeout;
  run_git(runner, repo,
          {"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin",
           std::string("+") + kImageNotesRef + ":" + kImageNotesRef},
          [done = std::move(done)](GitOutcome r) {
            if (r.ok) return done("", false);
            bool absent = r.raw.err.find("couldn't find remote ref") != std::string::npos;
            done(absent ? "" : r.error, absent);
          },
          o);
}

void push_image_notes(ProcessRunner& runner, const std::string& repo, std::chrono::milliseconds timeout,
                      std::function<void(std::string, bool)> done) {
  GitOptions o;
  o.timeout = timeout;
  run_git(runner, repo,
          {"push", "--quiet", "--no-verify", "origin", std::string(kImageNotesRef) + ":" + kImageNotesRef},
          [done = std::move(done)](GitOutcome r) {
            if (r.ok) return done("", false);
            const auto& e = r.raw.err;
            bool rejected = e.find("rejected") != std::string::npos || e.find("non-fast-forward") != std::string::npos ||
                            e.find("fetch first") != std::string::npos;
            done(r.error, rejected);
          },
          o);
}

void read_image_note(ProcessRunner& runner, const std::string& repo, const std::string& commit,
                     std::function<void(std::optional<std::string>, std::string)> done) {
  run_git(runner, repo, {"notes", "--ref=offload-images", "show", commit}, [done = std::move(done)](GitOutcome r) {
    if (r.ok) return done(std::move(r.out), "");
    if (r.raw.err.find("no note found") != std::string::npos) return done(std::nullopt, "");
    done(std::nullopt, r.error);
  });
}

void write_image_note(ProcessRunner& runner, const std::string& repo, const std::string& commit, const std::string& key,
                      const std::string& image_id, const std::string& inputs, const std::string& scratch_dir,
                      GitErrDone done) {
  read_image_note(runner, repo, commit, [=, &runner, done = std::move(done)](std::optional<std::string> text,
                                                                             std::string error) mutable {
    if (!error.empty()) return done(error);
    if (auto e = make_dirs(scratch_dir); !e.empty()) return done(e);
    std::string file = abs_path(scratch_dir + "/note.json");
    auto werr = write_file_atomic(file, note_with_image(text.value_or(""), key, image_id, inputs));
    if (!werr.empty()) return done(werr);
    // `git var` fails when no committer identity is configured (or allowed to be guessed).
    run_git(runner, repo, {"var", "GIT_COMMITTER_IDENT"}, [=, &runner, done = std::move(done)](GitOutcome ident) mutable {
      std::vector<std::string> args;
      if (!ident.ok) args = {"-c", "user.name=offload", "-c", "user.email=offload@localhost"};
      for (const char* a : {"notes", "--ref=offload-images", "add", "-f", "-F"}) args.emplace_back(a);
      args.push_back(file);
      args.push_back(commit);
      run_git(runner, repo, std::move(args), [done = std::move(done)](GitOutcome r) { done(r.error); });
    });
  });
}

void image_tree_of(ProcessRunner& runner, const std::string& repo, const std::string& commit,
                   const std::string& scratch_dir, std::function<void(std::string, std::string)> done) {
  auto tree_of = [&runner, repo](std::string rev, std::function<void(std::string, std::string)> d) {
    run_git(runner, repo, {"rev-parse", "--verify", "-q", rev + "^{tree}"}, [d = std::move(d)](GitOutcome r) {
      d(r.ok ? std::string(trim(r.out)) : "", r.error);
    });
  };
  run_git(runner, repo, {"cat-file", "blob", commit + ":.dockerignore"},
          [=, &runner, done = std::move(done)](GitOutcome di) mutable {
            if (!di.ok) return tree_of(commit, std::move(done)); // no .dockerignore in the commit
            auto ignore = std::make_shared<DockerIgnore>(DockerIgnore::parse(di.out));
            if (ignore->empty()) return tree_of(commit, std::move(done));
            if (auto e = make_dirs(scratch_dir); !e.empty()) return done("", e);
            std::string index = abs_path(scratch_dir + "/image.index");
            remove_quietly(index);
            GitOptions o;
            o.env = {{"GIT_INDEX_FILE", index}};
            run_git(runner, repo, {"read-tree", commit}, [=, &runner, done = std::move(done)](GitOutcome rt) mutable {
              if (!rt.ok) return done("", rt.error);
              std::string list = abs_path(scratch_dir + "/image.ignored");
              find_dockerignored(runner, repo, index, ignore, list,
                                 [=, &runner, done = std::move(done)](std::string err, size_t n) mutable {
                                   if (!err.empty()) return done("", err);
                                   if (n == 0) return tree_of(commit, std::move(done));
                                   unstage_paths(runner, repo, index, list,
                                                 [=, &runner, done = std::move(done)](std::string e) mutable {
                                                   if (!e.empty()) return done("", e);
                                                   run_git(runner, repo, {"write-tree"},
                                                           [index, done = std::move(done)](GitOutcome wt) {
                                                             remove_quietly(index);
                                                             done(wt.ok ? std::string(trim(wt.out)) : "", wt.error);
                                                           },
                                                           o);
                                                 });
                                 });
            }, o);
          });
}

void export_tree(ProcessRunner& runner, const std::string& repo, const std::string& tree, const std::string& dest_dir,
                 const std::string& scratch_dir, GitErrDone done) {
  std::error_code ec;
  fs::remove_all(dest_dir, ec);
  for (auto& d : {dest_dir, scratch_dir}) {
    if (auto e = make_dirs(d); !e.empty()) return later(runner, [e, done = std::move(done)] { done(e); });
  }
  std::string tar = abs_path(scratch_dir + "/export.tar");
  run_git(runner, repo, {"archive", "--format=tar", "-o", tar, tree},
          [=, &runner, done = std::move(done)](GitOutcome r) mutable {
            if (!r.ok) return done(r.error);
            ProcessSpec x;
            x.argv = {"tar", "-xf", tar, "-C", dest_dir};
            x.capture_limit = 64 * 1024;
            runner.spawn(std::move(x), [tar, done = std::move(done)](ProcessResult t) {
              remove_quietly(tar);
              if (t.ok()) return done("");
              std::string e = "tar -x: " + t.describe();
              auto line = t.cancelled ? std::string() : first_line(t.err);
              done(line.empty() ? e : e + ": " + line);
            });
          });
}

void make_thin_patch(ProcessRunner& runner, const std::string& repo, const std::string& tree,
                     const std::string& scratch_dir, std::function<void(ThinPatch)> done) {
  struct State {
    ThinPatch p;
    std::string index, list;
    GitOptions o;
    std::function<void(ThinPatch)> done;
    void fail(std::string e) {
      remove_quietly(index);
      p.error = std::move(e);
      done(std::move(p));
    }
  };
  if (auto e = make_dirs(scratch_dir); !e.empty()) {
    return later(runner, [e, done = std::move(done)] {
      ThinPatch p;
      p.error = e;
      done(std::move(p));
    });
  }
  auto st = std::make_shared<State>();
  st->index = abs_path(scratch_dir + "/thin.index");
  st->list = abs_path(scratch_dir + "/thin.ignored");
  st->p.path = abs_path(scratch_dir + "/offload.patch");
  st->o.env = {{"GIT_INDEX_FILE", st->index}};
  st->done = std::move(done);
  remove_quietly(st->index);
  remove_quietly(st->list);
  remove_quietly(st->p.path);

  // 4. diff the temporary index against the base image's tree.
  auto diff = [st, &runner, repo, tree] {
    GitOptions o = st->o;
    o.stdout_path = st->p.path;
    run_git(runner, repo,
            {"diff", "--cached", "--binary", "-M", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
             "--ignore-submodules=all", "--src-prefix=a/", "--dst-prefix=b/", tree},
            [st](GitOutcome r) {
              if (!r.ok) return st->fail(r.error);
              std::string err;
              auto text = read_file(st->p.path, &err);
              if (!text) return st->fail(err);
              st->p.bytes = text->size();
              st->p.empty = text->empty();
              for (size_t pos = 0; pos < text->size();) {
                if (text->compare(pos, 11, "diff --git ") == 0) ++st->p.files;
                auto nl = text->find('\n', pos);
                if (nl == std::string::npos) break;
                pos = nl + 1;
              }
              remove_quietly(st->index);
              remove_quietly(st->list);
              st->done(std::move(st->p));
            },
            o);
  };
  // 3. take the working tree's .dockerignore'd paths out of the index.
  auto drop_ignored = [st, &runner, repo, diff] {
    auto text = read_file(repo + "/.dockerignore");
    auto ignore = std::make_shared<DockerIgnore>(DockerIgnore::parse(text.value_or("")));
    if (ignore->empty()) return diff();
    find_dockerignored(runner, repo, st->index, ignore, st->list, [st, &runner, repo, diff](std::string e, size_t n) {
      if (!e.empty()) return st->fail(e);
      st->p.dockerignored = n;
      if (n == 0) return diff();
      unstage_paths(runner, repo, st->index, st->list, [st, diff](std::string e2) {
        if (!e2.empty()) return st->fail(e2);
        diff();
      });
    });
  };
  // 2. stage the whole working tree (what .gitignore allows) into it.
  auto add_all = [st, &runner, repo, drop_ignored] {
    run_git(runner, repo, {"add", "-A"}, [st, drop_ignored](GitOutcome r) {
      if (!r.ok) return st->fail(r.error);
      drop_ignored();
    }, st->o);
  };
  // 1. a temporary index holding the base image's tree. Seeded from a copy
  //    of the real index when there is one, so that `read-tree -m` keeps the
  //    stat data of unchanged files and `add -A` does not re-hash them.
  auto plain_read_tree = [st, &runner, repo, tree, add_all] {
    remove_quietly(st->index);
    run_git(runner, repo, {"read-tree", tree}, [st, add_all](GitOutcome r) {
      if (!r.ok) return st->fail(r.error);
      add_all();
    }, st->o);
  };
  run_git(runner, repo, {"rev-parse", "--path-format=absolute", "--git-path", "index"},
          [st, &runner, repo, tree, add_all, plain_read_tree](GitOutcome r) {
            std::error_code ec;
            std::string real = std::string(trim(r.out));
            if (!r.ok || real.empty() || !fs::is_regular_file(real, ec) ||
                !fs::copy_file(real, st->index, fs::copy_options::overwrite_existing, ec) || ec) {
              return plain_read_tree();
            }
            // The copy must keep the index's mtime: git trusts an entry's stat
            // data only when the entry is older than the index file ("racy
            // git"). A fresh mtime would make a same-size edit made within
            // the second of the last `git add` look clean.
            auto stamp = fs::last_write_time(real, ec);
            if (!ec) fs::last_write_time(st->index, stamp, ec);
            if (ec) return plain_read_tree();
            run_git(runner, repo, {"read-tree", "-m", tree}, [plain_read_tree, add_all](GitOutcome m) {
              if (!m.ok) return plain_read_tree(); // e.g. unmerged entries: start from scratch
              add_all();
            }, st->o);
          });
}

} // namespace offload
