"""Two `offload run`s in one project at once: the output directory is locked
({output_dir}/.offload.lock, flock, holder's PID inside) so the second run
fails at once naming the first, instead of both clearing and writing the same
logs/, results/ and junit.xml. Runs with different output directories (sharing
one history file, merged under its own lock) go ahead side by side."""
import json
import os
import signal
import subprocess
import time

from conftest import OFFLOAD, run_offload, write
from test_run_default import make_project

GATE = ('    gate) touch "gate.$id.started"; while [ ! -e go ]; do sleep 0.05; done;'
        ' echo "<testcase name=\\"$esc\\"/>" >> "$tmp";;\n    missing) ;;')


def gated_project(project, tests):
    make_project(project, tests, parallel=2)
    run = (project / "run.sh").read_text().replace("    missing) ;;", GATE)
    (project / "run.sh").write_text(run)


def start(project, *args):
    return subprocess.Popen([OFFLOAD, "run", *args], cwd=project, env=dict(os.environ, CI="true"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_second_run_in_the_same_output_dir_fails_at_once_naming_the_first(project):
    tests = {"g1": "gate", "p1": "pass", "p2": "pass"}
    gated_project(project, tests)
    first = start(project)
    try:
        assert wait_for(lambda: (project / "gate.g1.started").exists()), "first run never reached its test"
        lock = project / "test-results" / ".offload.lock"
        assert lock.read_text().strip() == str(first.pid)
        t0 = time.time()
        r = run_offload("run", cwd=project, timeout=30)
        assert r.rc == 1, r
        assert time.time() - t0 < 5
        assert f"another offload run (pid {first.pid}) is using the output directory" in r.err, r
        # The second run touched nothing of the first's outputs.
        assert list((project / "test-results" / "logs").glob("batch-*.running")), "first run's logs were removed"
        (project / "go").touch()
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, (out, err)
    r = run_offload("run", cwd=project)  # the lock is free again
    assert r.rc == 0, r
    assert r.outcomes() == {t: "passed" for t in tests}


def test_lock_of_a_killed_run_does_not_block_the_next(project):
    gated_project(project, {"g1": "gate"})
    first = start(project)
    assert wait_for(lambda: (project / "gate.g1.started").exists())
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    (project / "go").touch()
    # The file still names the dead run, but the kernel released its flock.
    r = run_offload("run", cwd=project)
    assert r.rc == 0, r
    assert (project / "test-results" / ".offload.lock").read_text().strip() != str(first.pid)


def test_runs_with_different_output_dirs_share_a_history_file(project):
    tests = {"g1": "gate", "p1": "pass", "p2": "slow"}
    gated_project(project, tests)
    cfg = (project / "offload.toml").read_text() + '\n[history]\npath = "history.jsonl"\n'
    (project / "offload.toml").write_text(cfg)
    write(project / "other.toml", cfg + '\n[report]\noutput_dir = "other-results"\n')
    first = start(project, "--record-history")
    second = start(project, "-c", "other.toml", "--record-history")
    try:
        assert wait_for(lambda: (project / "gate.g1.started").exists())
        (project / "go").touch()
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=60)
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
    assert first.returncode == 0, (out1, err1)
    assert second.returncode == 0, (out2, err2)
    assert (project / "test-results" / "junit.xml").exists() and (project / "other-results" / "junit.xml").exists()
    lines = [line for line in (project / "history.jsonl").read_text().splitlines() if line.strip()]
    for line in lines:
        json.loads(line)  # both saves merged into one well-formed file
    assert lines
