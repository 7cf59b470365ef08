"""Re-records tests/data/ from REAL pytest runs (Debian's /usr/bin/python3).

    /usr/bin/python3 plugins/pytest/tests/record_data.py

Discovery outputs are framed exactly as the discovery command frames them
(pytest's stdout, then the plugin's JSON lines between the begin/end marker
lines; see discover_command in pytest_logic.cpp). Result files are what
offload_pytest_plugin.py writes. Each case writes NAME.stdout / NAME.stderr /
NAME.exit, or NAME.results.jsonl (+ NAME.ids.json, the IDs that were asked for).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PLUGIN_DIR = HERE.parent
FIXTURE = HERE.parents[2] / "tests" / "fixtures" / "pytest"
PYTHON = "/usr/bin/python3"
BEGIN, END = "@@offload-pytest-collect-begin@@", "@@offload-pytest-collect-end@@"


def env():
    e = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), PYTHONDONTWRITEBYTECODE="1")
    return e


def pytest(cwd, *args):
    return subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=120)


def discover(name, cwd, *args):
    with tempfile.TemporaryDirectory() as d:
        listing = Path(d) / "collected.jsonl"
        p = pytest(cwd, "--collect-only", "-q", "-p", "offload_pytest_plugin", f"--offload-collect={listing}", *args)
        block = listing.read_text() if listing.exists() else ""
    (DATA / f"{name}.stdout").write_text(p.stdout + f"\n{BEGIN}\n" + block + f"{END}\n")
    (DATA / f"{name}.stderr").write_text(p.stderr)
    (DATA / f"{name}.exit").write_text(f"{p.returncode}\n")


def results(name, cwd, ids, *args):
    path = DATA / f"{name}.results.jsonl"
    if path.exists():
        path.unlink()
    p = pytest(cwd, "-p", "offload_pytest_plugin", f"--offload-results={path}", *args, *ids)
    (DATA / f"{name}.ids.json").write_text(json.dumps(ids, indent=1, ensure_ascii=False) + "\n")
    (DATA / f"{name}.exit").write_text(f"{p.returncode}\n")
    return p


RERUN_TESTS = """\
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def first_time(name):
    \"\"\"True only the first time in this copy of the project (a marker file).\"\"\"
    path = os.path.join(HERE, "." + name + ".ran")
    if os.path.exists(path):
        return False
    open(path, "w").close()
    return True


def test_flaky():
    first = first_time("flaky")
    print("first run" if first else "second run")
    assert not first, "fails the first time only"


def test_always_fails():
    print("fails every time")
    assert 1 == 2


@pytest.fixture
def setup_fails_once():
    if first_time("setup"):
        raise RuntimeError("setup fails the first time only")


def test_setup_error_once(setup_fails_once):
    pass


@pytest.fixture
def teardown_fails_once():
    yield
    if first_time("teardown"):
        raise RuntimeError("teardown fails the first time only")


def test_teardown_error_once(teardown_fails_once):
    pass


@pytest.mark.flaky(reruns=1)
def test_users_flaky_marker():
    assert not first_time("marker")


def test_skip():
    pytest.skip("never rerun")


@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass


def test_pass():
    pass
"""

DIES_TESTS = """\
import os
import signal

from test_rerun import first_time


def test_before():
    pass


def test_dies_on_rerun():
    if not first_time("dies"):
        os.kill(os.getpid(), signal.SIGKILL)
    assert False, "fails, then kills its interpreter on the rerun"


def test_after():
    pass
"""


def rerun_project(work, name):
    """A fresh copy of the rerun project (its marker files start absent)."""
    root = work / name
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_rerun.py").write_text(RERUN_TESTS)
    (root / "tests" / "test_dies.py").write_text(DIES_TESTS)
    return root


def main():
    DATA.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp())
    try:
        fx = work / "fixture"
        shutil.copytree(FIXTURE, fx)
        discover("discover_fixture", fx, "tests")
        discover("discover_none", fx, "-m", "no_such_marker", "tests")
        discover("discover_usage_error", fx, "no_such_dir")
        ids = [line for line in pytest(fx, "--collect-only", "-q", "tests").stdout.splitlines() if "::" in line]
        (DATA / "quiet_listing.stdout").write_text(pytest(fx, "--collect-only", "-q", "tests").stdout)
        results("results_fixture", fx, ids)
        results("results_fail_fast", fx, ["tests/test_basic.py::test_pass", "tests/test_basic.py::test_fail",
                                          "tests/test_basic.py::test_uses_conftest_fixture"], "-x")

        broken = work / "broken"
        (broken / "tests").mkdir(parents=True)
        (broken / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
        (broken / "tests" / "test_bad.py").write_text("import no_such_module_for_offload\n\ndef test_never():\n    pass\n")
        discover("discover_collect_error", broken, "tests")
        # In the "sandbox" the module breaks after local discovery listed its test.
        results("results_collect_error", broken, ["tests/test_ok.py::test_ok", "tests/test_bad.py::test_never"])

        kill = work / "kill"
        (kill / "tests").mkdir(parents=True)
        (kill / "tests" / "test_kill.py").write_text(
            "import os\n\ndef test_before():\n    print('ran before')\n\n"
            "def test_kills():\n    os.kill(os.getpid(), 9)\n\ndef test_after():\n    pass\n")
        p = results("results_killed", kill, ["tests/test_kill.py::test_before", "tests/test_kill.py::test_kills",
                                             "tests/test_kill.py::test_after"])
        assert p.returncode == -9, p.returncode

        # In-process reruns (--offload-reruns), each run on a fresh copy.
        rr = lambda f, names: [f"tests/{f}::{n}" for n in names]
        rerun_ids = rr("test_rerun.py", ["test_flaky", "test_always_fails", "test_setup_error_once",
                                         "test_teardown_error_once", "test_users_flaky_marker", "test_skip",
                                         "test_xfail", "test_xpass_strict", "test_pass"])
        dies_ids = rr("test_dies.py", ["test_before", "test_dies_on_rerun", "test_after"])
        p = results("results_reruns", rerun_project(work, "reruns"), rerun_ids, "--offload-reruns=2")
        assert p.returncode == 1, p.returncode
        p = results("results_rerun_fail_fast", rerun_project(work, "rerun_x"),
                    rr("test_rerun.py", ["test_flaky", "test_pass", "test_always_fails", "test_skip"]),
                    "--offload-reruns=2", "-x")
        assert p.returncode == 1, p.returncode
        p = results("results_rerun_killed", rerun_project(work, "rerun_killed"), dies_ids, "--offload-reruns=2")
        assert p.returncode == -9, p.returncode
        p = results("results_rerun_xdist", rerun_project(work, "rerun_xdist"), rerun_ids + dies_ids,
                    "--offload-reruns=2", "-n", "2")
        assert p.returncode == 1, p.returncode
        # The user's own --reruns: theirs reruns, ours stays out.
        p = results("results_rerun_users_reruns", rerun_project(work, "users"), rerun_ids, "--offload-reruns=2",
                    "--reruns=1")
        assert p.returncode == 1, p.returncode
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
