"""The image cache end to end: the real `offload build` with the `default`
provider (whose prepare_command is a script that records what it is asked to
build and prints an id), in real git repositories sharing a bare "origin"."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_offload, write

PREPARE = r'''#!/bin/sh
set -e
d="$CALLS"
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$d/count"
env | grep '^OFFLOAD_' | sort > "$d/$n.env" || true
if [ -n "$OFFLOAD_CONTEXT_DIR" ]; then (cd "$OFFLOAD_CONTEXT_DIR" && find . -type f | sort) > "$d/$n.files"; fi
if [ -n "$OFFLOAD_PATCH_FILE" ]; then cp "$OFFLOAD_PATCH_FILE" "$d/$n.patch"; fi
echo "im-$n"
'''

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd, *args):
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def config(calls: Path, post_patch=None):
    extra = f'post_patch_cmd = "{post_patch}"\n' if post_patch else ""
    return f'''
[offload]
max_parallel = 1
sandbox_project_root = "/app"
sandbox_init_cmd = "make deps"
{extra}
[provider]
type = "default"
prepare_command = "CALLS={calls} sh {calls}/prepare.sh"
create_command = "echo sb-1"
exec_command = "sh -c {{command}}"
destroy_command = "true"

[framework]
type = "default"
discover_command = "echo t1 {{filters}}"
run_command = "true {{result_file}} {{tests}}"
test_id_format = "{{name}}"

[groups.all]
retry_count = 0
'''


class Calls:
    def __init__(self, d: Path):
        self.d = d
        d.mkdir(parents=True, exist_ok=True)
        write(d / "prepare.sh", PREPARE, mode=0o755)

    def count(self):
        f = self.d / "count"
        return int(f.read_text()) if f.exists() else 0

    def env(self, n):
        return dict(line.split("=", 1) for line in (self.d / f"{n}.env").read_text().splitlines() if "=" in line)

    def text(self, n, kind):
        return (self.d / f"{n}.{kind}").read_text()


@pytest.fixture
def repos(tmp_path):
    """seed -> origin.git (bare) -> clones a and b, each with offload.toml committed."""
    calls = Calls(tmp_path / "calls")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main", ".")
    write(seed / "offload.toml", config(calls.d))
    write(seed / "src" / "app.py", "v1\n")
    write(seed / ".dockerignore", "secret.txt\n")
    write(seed / ".gitignore", "test-results/\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "base")
    git(tmp_path, "clone", "-q", "--bare", "seed", "origin.git")
    git(tmp_path, "clone", "-q", "origin.git", "a")
    git(tmp_path, "clone", "-q", "origin.git", "b")
    return tmp_path, calls


def build(cwd, *args):
    r = run_offload("build", *args, cwd=cwd, env=GIT_ENV)
    assert r.rc == 0, r
    return r.out.strip().splitlines()[-1]


def test_miss_builds_the_base_commit_then_hits_reuse_it(repos):
    root, calls = repos
    a = root / "a"
    head = git(a, "rev-parse", "HEAD").strip()
    (a / "src" / "app.py").write_text("v2 dirty\n")

    image = build(a)
    # 1: the base image, from the base commit (not the dirty tree); 2: the thin image on top
    assert calls.count() == 2
    assert calls.env(1)["OFFLOAD_SANDBOX_INIT_CMD"] == "make deps"
    assert calls.env(1)["OFFLOAD_BASE_IMAGE"] == ""
    assert calls.text(1, "files").splitlines() == ["./.dockerignore", "./.gitignore", "./offload.toml", "./src/app.py"]
    assert calls.env(2)["OFFLOAD_BASE_IMAGE"] == "im-1"
    assert "+v2 dirty" in calls.text(2, "patch")
    assert image == "im-2"
    # the note, keyed by the config's path in the repo, locally and on origin
    for where in (a, root / "origin.git"):
        note = git(where, "notes", "--ref=offload-images", "show", head)
        assert '"offload.toml"' in note and '"im-1"' in note

    # A clean clone elsewhere (another CI machine) reuses the base image as it is.
    assert build(root / "b") == "im-1"
    assert calls.count() == 2

    # Changes again: only a thin image; .dockerignore'd files stay out of the patch.
    (a / "secret.txt").write_text("do not ship\n")
    assert build(a) == "im-3"
    assert calls.env(3)["OFFLOAD_BASE_IMAGE"] == "im-1"
    assert "do not ship" not in calls.text(3, "patch")

    # --no-cache: a fresh base build; the note keeps the old image.
    build(a, "--no-cache")
    assert calls.env(4)["OFFLOAD_NO_CACHE"] == "1"
    assert calls.env(4)["OFFLOAD_CONTEXT_DIR"] != ""
    assert '"im-1"' in git(a, "notes", "--ref=offload-images", "show", head)


def test_post_patch_cmd_runs_on_a_clean_tree_too(repos):
    root, calls = repos
    a = root / "a"
    write(a / "offload.toml", config(calls.d, post_patch="make generate-client"))
    git(a, "commit", "-q", "-am", "post patch")
    assert build(a) == "im-2"
    assert calls.env(2)["OFFLOAD_BASE_IMAGE"] == "im-1"
    assert calls.env(2)["OFFLOAD_POST_PATCH_CMD"] == "make generate-client"
    assert calls.env(2)["OFFLOAD_PATCH_FILE"] == ""


def test_outside_git_a_full_image_of_the_working_tree(tmp_path):
    calls = Calls(tmp_path / "calls")
    proj = tmp_path / "plain"
    write(proj / "offload.toml", config(calls.d))
    r = run_offload("build", cwd=proj, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert r.rc == 0, r
    assert r.out.strip().splitlines()[-1] == "im-1"
    assert calls.count() == 1
    assert calls.env(1)["OFFLOAD_BASE_IMAGE"] == ""


def test_full_run_reuses_the_cached_image_and_picks_up_a_changed_test(tmp_path):
    """The whole flow with a real backend: a git project run through the
    default provider over dir_sandbox.sh (bubblewrap sandboxes). The first
    run builds the base image and records it in git notes; after a test file
    changes, the second run derives a thin image (no full rebuild) and the
    sandbox sees the change."""
    from test_default_provider import use_default_provider, env_for
    from test_run_default import make_project
    proj, home = tmp_path / "proj", tmp_path / "home"
    make_project(proj, {"a": "pass", "b": "fail"}, parallel=2)
    use_default_provider(proj, home)
    log = tmp_path / "prepare.log"
    cfg = (proj / "offload.toml").read_text().replace(
        'prepare_command = "sh @dir_sandbox.sh prepare"',
        f'prepare_command = "echo base=$OFFLOAD_BASE_IMAGE >> {log}; sh @dir_sandbox.sh prepare"')
    (proj / "offload.toml").write_text(cfg)
    write(proj / ".gitignore", "test-results/\n")
    git(proj, "init", "-q")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "base")
    env = env_for(home)

    r = run_offload("run", cwd=proj, env=env)
    assert r.rc == 1, r
    assert r.outcomes() == {"a": "passed", "b": "failed"}
    head = git(proj, "rev-parse", "HEAD").strip()
    note = git(proj, "notes", "--ref=offload-images", "show", head)
    assert '"offload.toml"' in note
    assert log.read_text().splitlines() == ["base="]      # one full build

    # The test file changes (b now passes); nothing is committed.
    (proj / "tests.txt").write_text("a\tpass\nb\tpass\n")
    r = run_offload("run", cwd=proj, env=env)
    assert r.rc == 0, r
    assert r.outcomes() == {"a": "passed", "b": "passed"}
    builds = log.read_text().splitlines()
    assert len(builds) == 2 and builds[1].startswith("base=im-"), builds  # derived from the cached image
    assert len(list((home / "images").iterdir())) == 2                     # base + thin, no second base
