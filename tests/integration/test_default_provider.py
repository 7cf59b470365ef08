"""End-to-end runs through the `default` provider with the bundled backends:
dir_sandbox.sh (directory copies isolated with real bubblewrap) and
ssh_sandbox.sh (directories on a real sshd on 127.0.0.1). The test runner is
the shell runner of test_run_default.py."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import OFFLOAD, SOURCE_DIR, run_offload, write, pgroup_gone, pgroup_members
from test_run_default import make_project

DIR_SANDBOX = SOURCE_DIR / "scripts" / "bundled" / "dir_sandbox.sh"


def use_default_provider(root: Path, home: Path, create=None, extra_env=None, retry_marker=True):
    """Rewrite make_project's [provider] to the default provider over dir_sandbox.sh."""
    create = create or "sh @dir_sandbox.sh create {image_id}"
    env_lines = "\n".join(f'{k} = "{v}"' for k, v in (extra_env or {}).items())
    provider = f'''[provider]
type = "default"
prepare_command = "sh @dir_sandbox.sh prepare"
create_command = "{create}"
exec_command = "sh @dir_sandbox.sh exec {{sandbox_id}} {{command}}"
download_command = "sh @dir_sandbox.sh download {{sandbox_id}} {{paths}}"
destroy_command = "sh @dir_sandbox.sh destroy {{sandbox_id}}"
timeout_secs = 120
[provider.env]
OFFLOAD_DIR_SANDBOX_HOME = "{home}"
{env_lines}
'''
    cfg = (root / "offload.toml").read_text()
    cfg = cfg.replace('[provider]\ntype = "local"\n', provider)
    cfg = cfg.replace("[offload]\n", '[offload]\nsandbox_repo_root = "/app"\n', 1)
    (root / "offload.toml").write_text(cfg)


def env_for(home: Path):
    # The backend's commands run on this machine: they read the home from
    # the environment offload was started with.
    return {"OFFLOAD_DIR_SANDBOX_HOME": str(home)}


def sandboxes_left(home: Path):
    d = home / "sandboxes"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_run_through_dir_sandbox_outcomes_root_and_hostile_ids(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    hostile = ["it's", "$(touch /tmp/offload-pwned)", "`id`", "semi;colon", 'dq"x', "back\\slash", "star*"]
    tests = {"t_pass": "pass", "t_fail": "fail"}
    tests.update({h: "pass" for h in hostile})
    make_project(project, tests, parallel=3)
    use_default_provider(project, home)
    r = run_offload("run", cwd=project, env=env_for(home))
    assert r.rc == 1, r
    expected = {"t_pass": "passed", "t_fail": "failed"}
    expected.update({h: "passed" for h in hostile})
    assert r.outcomes() == expected, r
    assert not Path("/tmp/offload-pwned").exists()
    # Every sandbox was destroyed; the image stays for reuse.
    assert sandboxes_left(home) == [], r
    assert len(list((home / "images").iterdir())) == 1


def test_offload_root_is_the_sandbox_root(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    make_project(project, {"t_root": "root"}, parallel=1)
    run = (project / "run.sh").read_text().replace(
        "    missing) ;;",
        '    root) if [ "$OFFLOAD_ROOT" = /app ] && [ "$(pwd)" = /app ] && [ -f /app/tests.txt ]; then'
        ' echo "<testcase name=\\"$esc\\"/>" >> "$tmp"; else echo "<testcase name=\\"$esc\\"><failure message=\\"root=$OFFLOAD_ROOT pwd=$(pwd)\\"/></testcase>" >> "$tmp"; fi;;\n'
        "    missing) ;;")
    (project / "run.sh").write_text(run)
    use_default_provider(project, home)
    r = run_offload("run", cwd=project, env=env_for(home))
    assert r.rc == 0, r
    assert r.outcomes() == {"t_root": "passed"}


def test_create_failure_shrinks_the_pool(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    make_project(project, {f"t{i}": "pass" for i in range(6)}, parallel=3)
    # Sandbox index 1 can never be created (every retry fails too).
    counter = tmp_path / "create-calls"
    create = (f"echo $OFFLOAD_SANDBOX_INDEX >> {counter}; "
              "if [ $OFFLOAD_SANDBOX_INDEX = 1 ]; then echo no capacity >&2; exit 1; fi; "
              "sh @dir_sandbox.sh create {image_id}")
    use_default_provider(project, home, create=create)
    r = run_offload("run", cwd=project, env=env_for(home))
    assert r.rc == 0, r
    assert set(r.outcomes().values()) == {"passed"}
    assert "could not be created" in r.err and "no capacity" in r.err, r
    calls = counter.read_text().split()
    assert calls.count("1") == 4, calls  # first attempt + 3 retries
    assert calls.count("0") == 1 and calls.count("2") == 1
    assert sandboxes_left(home) == []


def test_transient_create_failure_is_retried(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    make_project(project, {f"t{i}": "pass" for i in range(4)}, parallel=2)
    marker = tmp_path / "failed-once"
    create = (f"if [ $OFFLOAD_SANDBOX_INDEX = 0 ] && [ ! -e {marker} ]; then touch {marker}; "
              "echo flaky api >&2; exit 1; fi; sh @dir_sandbox.sh create {image_id}")
    use_default_provider(project, home, create=create)
    start = time.time()
    r = run_offload("run", cwd=project, env=env_for(home), timeout=120)
    assert r.rc == 0, r
    assert marker.exists()
    assert "could not be created" not in r.err, r
    assert "retrying" in r.err or time.time() - start >= 0.5
    # Both sandboxes ran batches: the retried one was not lost.
    logs = (project / "test-results" / "logs")
    assert len(list(logs.glob("batch-*.stdout.*"))) >= 2
    assert sandboxes_left(home) == []


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def test_sandbox_killed_mid_batch_reruns_elsewhere(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    tests = {f"p{i}": "pass" for i in range(4)}
    tests["victim"] = "victim"
    make_project(project, tests, parallel=2, individual=True)
    # victim: announces itself in the sandbox's private /tmp, then waits for
    # the harness to let it pass (/tmp/go); the harness instead destroys the
    # first sandbox it shows up in.
    run = (project / "run.sh").read_text().replace(
        "    missing) ;;",
        '    victim) touch /tmp/victim.started; while [ ! -e /tmp/go ]; do sleep 0.05; done;'
        ' echo "<testcase name=\\"$esc\\"/>" >> "$tmp";;\n    missing) ;;')
    (project / "run.sh").write_text(run)
    use_default_provider(project, home)
    proc = subprocess.Popen([OFFLOAD, "run"], cwd=project, env=dict(os.environ, CI="true", **env_for(home)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = wait_for(lambda: list(home.glob("sandboxes/*/tmp/victim.started")))
        assert first, "victim never started"
        victim_box = first[0].parent.parent
        pgid = int((victim_box / "exec.pgid").read_text())
        # The sandbox disappears under the running batch.
        shutil.rmtree(victim_box)
        os.killpg(pgid, signal.SIGKILL)
        second = wait_for(lambda: [p for p in home.glob("sandboxes/*/tmp/victim.started")
                                   if p.parent.parent != victim_box])
        assert second, "victim was not rerun on another sandbox"
        (second[0].parent / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out, err)
    import xml.etree.ElementTree as ET
    root = ET.parse(project / "test-results" / "junit.xml").getroot()
    outcomes = {t.get("name"): {p.get("name"): p.get("value") for p in t.iter("property")}["offload.outcome"]
                for t in root.iter("testcase")}
    assert outcomes == {**{f"p{i}": "passed" for i in range(4)}, "victim": "passed"}, (out, err)
    assert sandboxes_left(home) == []


def marker_processes(marker: str):
    """PIDs whose environment carries marker (our sandboxes' processes)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                out.append(int(d.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def test_ctrl_c_destroys_every_sandbox_and_leaves_no_process(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    tests = {f"h{i}": "hang" for i in range(3)}
    make_project(project, tests, parallel=3, timeout=300, individual=True)
    marker = f"OFFLOAD_TEST_MARKER={tmp_path}"
    use_default_provider(project, home, extra_env={"OFFLOAD_TEST_MARKER": str(tmp_path)})
    proc = subprocess.Popen([OFFLOAD, "run"], cwd=project, env=dict(os.environ, CI="true", **env_for(home)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Three hanging tests, one per sandbox.
        assert wait_for(lambda: len(list(home.glob("sandboxes/*/root/hang.pid"))) >= 3), "hangs never started"
        pids = marker_processes(marker)
        assert pids
        pgids = {os.getpgid(p) for p in pids if Path(f"/proc/{p}").exists()}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert sandboxes_left(home) == [], (out, err)
    assert all(pgroup_gone(p) for p in pgids), [pgroup_members(p) for p in pgids]
    assert wait_for(lambda: not marker_processes(marker), 5), marker_processes(marker)


def test_exec_of_a_missing_sandbox_is_a_sandbox_failure_not_a_test_failure(tmp_path):
    """exit 125 from exec_command: the batch reruns elsewhere; the broken
    sandbox leaves the pool."""
    project = tmp_path / "proj"
    home = tmp_path / "home"
    make_project(project, {f"t{i}": "pass" for i in range(4)}, parallel=2, individual=True)
    # Sandbox 0 is created "broken": its id names nothing.
    create = ("if [ $OFFLOAD_SANDBOX_INDEX = 0 ]; then echo sb-doesnotexist; exit 0; fi; "
              "sh @dir_sandbox.sh create {image_id}")
    use_default_provider(project, home, create=create)
    r = run_offload("run", cwd=project, env=env_for(home))
    assert r.rc == 0, r
    assert set(r.outcomes().values()) == {"passed"}
    assert "sandbox gone" in r.err, r


def test_missing_download_command_is_explained(tmp_path):
    project = tmp_path / "proj"
    home = tmp_path / "home"
    make_project(project, {"a": "pass"}, parallel=1)
    use_default_provider(project, home)
    cfg = (project / "offload.toml").read_text()
    cfg = "\n".join(l for l in cfg.splitlines() if not l.startswith("download_command")) + "\n"
    (project / "offload.toml").write_text(cfg)
    r = run_offload("run", cwd=project, env=env_for(home))
    assert r.rc == 1, r
    assert "download_command is not set" in r.err, r


def test_dir_sandbox_derived_image_applies_a_binary_patch(tmp_path):
    """prepare's environment contract, derived shape: git apply --binary on a
    copy of the base image, then post_patch_cmd with OFFLOAD_PATCH_FILE."""
    src = tmp_path / "src"
    home = tmp_path / "home"
    write(src / "a.txt", "one\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    subprocess.run([*git, "-C", str(src), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(src), "commit", "-qm", "base"], check=True)
    env = dict(os.environ, OFFLOAD_DIR_SANDBOX_HOME=str(home), OFFLOAD_PROJECT_ROOT="/app",
               OFFLOAD_CONTEXT_DIR=str(src), OFFLOAD_SANDBOX_INIT_CMD="pwd > init.txt")
    base = subprocess.run(["sh", str(DIR_SANDBOX), "prepare"], env=env, capture_output=True, text=True, check=True)
    base_id = base.stdout.strip().splitlines()[-1]
    assert (home / "images" / base_id / "init.txt").read_text().strip() == "/app"
    (src / "a.txt").write_text("two\n")
    (src / "bin.dat").write_bytes(bytes(range(256)))
    subprocess.run([*git, "-C", str(src), "add", "-A"], check=True)
    patch = tmp_path / "p.patch"
    patch.write_bytes(subprocess.run(["git", "-C", str(src), "diff", "--cached", "--binary", "HEAD"],
                                     capture_output=True, check=True).stdout)
    env2 = dict(os.environ, OFFLOAD_DIR_SANDBOX_HOME=str(home), OFFLOAD_PROJECT_ROOT="/app",
                OFFLOAD_BASE_IMAGE=base_id, OFFLOAD_PATCH_FILE=str(patch),
                OFFLOAD_POST_PATCH_CMD='cp "$OFFLOAD_PATCH_FILE" applied.patch; cat a.txt > post.txt')
    d = subprocess.run(["sh", str(DIR_SANDBOX), "prepare"], env=env2, capture_output=True, text=True)
    assert d.returncode == 0, d.stderr
    img = home / "images" / d.stdout.strip().splitlines()[-1]
    assert (img / "a.txt").read_text() == "two\n"
    assert (img / "bin.dat").read_bytes() == bytes(range(256))
    assert (img / "post.txt").read_text() == "two\n"
    assert (img / "applied.patch").read_bytes() == patch.read_bytes()
    # The base image is untouched.
    assert (home / "images" / base_id / "a.txt").read_text() == "one\n"
