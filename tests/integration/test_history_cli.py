"""`offload history setup-merge-driver` and `offload history merge` with real
git: the driver is wired to the *configured* history path, and a real
`git merge` of two branches that each recorded runs combines the counters
instead of conflicting. The history files are produced by real offload runs
of a real pytest project (record_history = "always")."""
import json
import os
import subprocess

import pytest

from conftest import OFFLOAD, PYTHON, run_offload, write

HISTORY = "data/custom-history.jsonl"  # relative to the config file, which sits in proj/
TESTS = ["tests/test_h.py::test_bad", "tests/test_h.py::test_ok"]

GIT_ENV = {"GIT_AUTHOR_NAME": "offload tests", "GIT_AUTHOR_EMAIL": "tests@offload.invalid",
           "GIT_COMMITTER_NAME": "offload tests", "GIT_COMMITTER_EMAIL": "tests@offload.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo, *args, check=True):
    env = dict(os.environ, **GIT_ENV)
    env["HOME"] = str(repo.parent)  # no user-level git config leaks in
    p = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"git {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    proj = root / "proj"
    write(proj / "offload.toml", f"""
        [offload]
        max_parallel = 2

        [provider]
        type = "local"

        [framework]
        type = "pytest"
        command = "{PYTHON} -m pytest"
        paths = ["tests"]
        run_args = "-p no:cacheprovider"

        [groups.all]
        retry_count = 0

        [history]
        record_history = "always"
        path = "{HISTORY}"
    """)
    write(proj / "tests" / "test_h.py", """
        def test_ok():
            pass

        def test_bad():
            assert 0, "always fails"
    """)
    write(root / ".gitignore", "test-results/\n*.lock\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def records(path):
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        assert rec["k"][0] == "offload.toml", rec
        out[rec["k"][1]] = rec["v"]
    return out


def record_runs(proj, n):
    for _ in range(n):
        r = run_offload("run", cwd=proj)
        assert r.rc == 1, r  # test_bad fails every time


def test_setup_merge_driver_uses_the_configured_path(repo):
    proj = repo / "proj"
    r = run_offload("history", "setup-merge-driver", cwd=proj, env={"HOME": str(repo.parent)})
    assert r.rc == 0, r
    attributes = (repo / ".gitattributes").read_text().splitlines()
    # Relative to the repository root, from the config's directory and [history] path.
    assert attributes == [f"proj/{HISTORY} merge=offload-history"], attributes
    assert "offload-history.jsonl" not in (repo / ".gitattributes").read_text()
    driver = git(repo, "config", "--get", "merge.offload-history.driver").stdout.strip()
    assert driver.endswith(" history merge %O %A %B"), driver
    exe = driver[: -len(" history merge %O %A %B")].strip("'")
    assert os.path.samefile(exe, OFFLOAD), (exe, OFFLOAD)
    # git itself now resolves the attribute for the history file.
    check = git(repo, "check-attr", "merge", "--", f"proj/{HISTORY}").stdout
    assert check.strip() == f"proj/{HISTORY}: merge: offload-history", check
    # Running it again does not duplicate the line.
    assert run_offload("history", "setup-merge-driver", cwd=proj, env={"HOME": str(repo.parent)}).rc == 0
    assert (repo / ".gitattributes").read_text().splitlines() == attributes


def test_git_merge_of_two_recorded_branches_combines_counters(repo):
    proj = repo / "proj"
    hist = proj / HISTORY
    assert run_offload("history", "setup-merge-driver", cwd=proj, env={"HOME": str(repo.parent)}).rc == 0

    # Base: one recorded run, committed with the attributes.
    record_runs(proj, 1)
    base = records(hist)
    assert set(base) == set(TESTS) and all(v["n"] == 1 for v in base.values()), base
    git(repo, "add", ".gitattributes", f"proj/{HISTORY}")
    git(repo, "commit", "-q", "-m", "history: base run")

    # Branch "ours": one more run.
    git(repo, "checkout", "-q", "-b", "ours")
    record_runs(proj, 1)
    git(repo, "commit", "-q", "-am", "history: ours")
    ours = records(hist)

    # Branch "theirs", from the base: two more runs.
    git(repo, "checkout", "-q", "-b", "theirs", "main")
    record_runs(proj, 2)
    git(repo, "commit", "-q", "-am", "history: theirs")
    theirs = records(hist)
    assert all(v["n"] == 3 for v in theirs.values()), theirs

    # Both branches rewrote the same lines: a plain text merge would conflict.
    git(repo, "checkout", "-q", "ours")
    m = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert m.returncode == 0, m.stdout + m.stderr
    assert git(repo, "status", "--porcelain").stdout.strip() == "", "the merge left changes behind"
    text = hist.read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text, text
    merged = records(hist)
    assert set(merged) == set(TESTS), merged
    # Counters: base + what each side added (1 + 1 + 2).
    for tid in TESTS:
        assert merged[tid]["n"] == 4, (tid, merged[tid])
    assert merged["tests/test_h.py::test_bad"]["f"] == 4, merged
    assert merged["tests/test_h.py::test_ok"]["f"] == 0, merged
    # Samples: the union of both sides' runs (4 distinct runs).
    for tid, reservoir in (("tests/test_h.py::test_ok", "ok"), ("tests/test_h.py::test_bad", "fail")):
        runs = {s[0] for s in merged[tid][reservoir]}
        expected = {s[0] for s in ours[tid][reservoir]} | {s[0] for s in theirs[tid][reservoir]}
        assert runs == expected and len(runs) == 4, (tid, merged[tid])
    # The merged commit is what git has.
    assert git(repo, "show", f"HEAD:proj/{HISTORY}").stdout == text
