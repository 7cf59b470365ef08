"""Ctrl-C (SIGINT) and SIGTERM at every phase of `offload run`, and cleanup.

- During discovery: test_run_default.py::test_ctrl_c_during_discovery_leaves_nothing_running.
- During execution with the local provider: test_run_default.py::test_ctrl_c_kills_every_child_and_writes_partial_report.
- Here: during image preparation (a `default` provider whose prepare_command
  sleeps), during execution with the `default` provider over dir_sandbox.sh
  (both signals), a second Ctrl-C while a destroy_command hangs, and the
  overall teardown limit."""
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import OFFLOAD, pgroup_gone, pgroup_members, run_offload
from test_default_provider import env_for, marker_processes, sandboxes_left, use_default_provider, wait_for
from test_run_default import make_project

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def start(project, env):
    return subprocess.Popen([OFFLOAD, "run"], cwd=project, env=dict(os.environ, CI="true", **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_pgids(path: Path):
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_image_preparation(tmp_path, sig):
    project, home = tmp_path / "proj", tmp_path / "home"
    make_project(project, {"a": "pass"})
    use_default_provider(project, home)
    cfg = (project / "offload.toml").read_text().replace(
        'prepare_command = "sh @dir_sandbox.sh prepare"',
        "prepare_command = \"ps -o pgid= $$$$ | tr -d ' ' > prep.pgid; sleep 300\"")
    (project / "offload.toml").write_text(cfg)
    proc = start(project, env_for(home))
    try:
        assert wait_for(lambda: read_pgids(project / "prep.pgid")), "prepare never started"
        pgid = read_pgids(project / "prep.pgid")[0]
        assert pgroup_members(pgid)
        t0 = time.time()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == CODES[sig], (out, err)
    assert time.time() - t0 < 5, err
    assert pgroup_gone(pgid), pgroup_members(pgid)
    assert sandboxes_left(home) == []  # none was created
    assert "Interrupted before any test ran" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_execution_with_dir_sandbox(tmp_path, sig):
    project, home = tmp_path / "proj", tmp_path / "home"
    tests = {"p0": "pass", "p1": "pass", "h0": "hang", "h1": "hang"}
    make_project(project, tests, parallel=2, timeout=300, individual=True)
    marker = f"OFFLOAD_TEST_MARKER={tmp_path}"
    use_default_provider(project, home, extra_env={"OFFLOAD_TEST_MARKER": str(tmp_path)})
    proc = start(project, env_for(home))
    try:
        assert wait_for(lambda: len(list(home.glob("sandboxes/*/root/hang.pid"))) >= 2, 60), "hangs never started"
        pids = marker_processes(marker)
        pgids = {os.getpgid(p) for p in pids if Path(f"/proc/{p}").exists()}
        assert pgids
        t0 = time.time()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == CODES[sig], (out, err)
    assert time.time() - t0 < 10, err
    assert sandboxes_left(home) == [], err
    assert all(pgroup_gone(p) for p in pgids), [pgroup_members(p) for p in pgids]
    assert wait_for(lambda: not marker_processes(marker), 5), marker_processes(marker)
    # The partial report is valid XML and accounts for every test.
    root = ET.parse(project / "test-results" / "junit.xml").getroot()
    props = {t.get("name"): {p.get("name"): p.get("value") for p in t.iter("property")} for t in root.iter("testcase")}
    assert sorted(props) == sorted(tests)
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    for h in ("h0", "h1"):
        assert props[h]["offload.outcome"] == "not-run"
        assert props[h]["offload.cause"] == f"not run: run interrupted by {name}"


def test_second_ctrl_c_forces_exit_while_destroy_hangs(tmp_path):
    project, home = tmp_path / "proj", tmp_path / "home"
    make_project(project, {"h0": "hang"}, parallel=1, timeout=300)
    use_default_provider(project, home)
    destroy_pgids = tmp_path / "destroy.pgid"
    cfg = (project / "offload.toml").read_text().replace(
        'destroy_command = "sh @dir_sandbox.sh destroy {sandbox_id}"',
        f"destroy_command = \"ps -o pgid= $$$$ | tr -d ' ' >> {destroy_pgids}; sleep 60\"")
    (project / "offload.toml").write_text(cfg)
    proc = start(project, env_for(home))
    try:
        assert wait_for(lambda: list(home.glob("sandboxes/*/root/hang.pid")), 60), "hang never started"
        proc.send_signal(signal.SIGINT)
        # The first Ctrl-C waits for teardown: the destroy command hangs.
        assert wait_for(lambda: read_pgids(destroy_pgids), 20), "destroy never started"
        time.sleep(2)
        assert proc.poll() is None, "the first Ctrl-C must wait for the sandboxes to be destroyed"
        pgid = read_pgids(destroy_pgids)[0]
        assert pgroup_members(pgid)
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert time.time() - t0 < 3
    assert "press Ctrl-C again to force" in err and "Forced exit" in err, err
    assert pgroup_gone(pgid), pgroup_members(pgid)


def test_teardown_limit_abandons_a_hanging_destroy(tmp_path):
    project, home = tmp_path / "proj", tmp_path / "home"
    make_project(project, {"a": "pass", "b": "pass"}, parallel=1)
    use_default_provider(project, home)
    destroy_pgids = tmp_path / "destroy.pgid"
    cfg = (project / "offload.toml").read_text().replace(
        'destroy_command = "sh @dir_sandbox.sh destroy {sandbox_id}"',
        f"destroy_command = \"ps -o pgid= $$$$ | tr -d ' ' >> {destroy_pgids}; sleep 60\"")
    (project / "offload.toml").write_text(cfg)
    t0 = time.time()
    r = run_offload("run", cwd=project, env=dict(env_for(home), OFFLOAD_TEARDOWN_SECS="2"), timeout=60)
    assert r.rc == 0, r
    assert time.time() - t0 < 30
    assert "did not finish within the 2s teardown limit; abandoned (it may still exist)" in r.err, r
    assert set(r.outcomes().values()) == {"passed"}
    assert all(pgroup_gone(p) for p in read_pgids(destroy_pgids))
