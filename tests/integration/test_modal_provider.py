"""The `modal` provider end to end: the real offload binary loads
liboffload_modal.so, which runs the real scripts/bundled/modal_sandbox.py
(its embedded copy) -- against a STAND-IN for the `modal` SDK
(tests/fixtures/modal_standin/modal), because Modal's cloud cannot be reached
from here. The stand-in keeps images and sandboxes as local directories and
runs commands inside bubblewrap, and logs every SDK call to calls.jsonl.

What this proves: the plugin's commands, the script's use of the SDK calls
it makes, per-test outcomes, env, include_cwd, copy_dirs, Dockerfile steps,
timeouts, teardown. What it cannot prove: that Modal itself behaves like the
stand-in (see docs/providers/modal.md)."""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, OFFLOAD, SOURCE_DIR, run_offload, write, PYTHON

STANDIN = FIXTURES / "modal_standin"

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="the modal stand-in maps /app with bubblewrap")

# A shell test runner (like test_run_default's): tests.txt holds ID<TAB>behaviour.
RUNNER = r'''#!/bin/sh
out=$1; shift
tmp="$out.part"
echo '<testsuite name="runner">' > "$tmp"
for id in "$@"; do
  b=$(awk -F '\t' -v id="$id" '$1 == id {print $2}' tests.txt)
  ok="<testcase name=\"$id\" time=\"0.01\"/>"
  bad="<testcase name=\"$id\"><failure message=\"$id failed\">details of $id</failure></testcase>"
  case "$b" in
    pass) echo "$ok" >> "$tmp";;
    fail) echo "$bad" >> "$tmp";;
    env) if [ "$MY_VAR" = "hello world" ] && [ "$FROM_CLI" = "cli" ] && [ "$OFFLOAD_ROOT" = /app ] \
             && [ -z "$HOST_ONLY_SECRET" ]; then echo "$ok" >> "$tmp"; else env >&2; echo "$bad" >> "$tmp"; fi;;
    cwd) if [ "$(pwd)" = /app ] && [ -f /app/marker.txt ] && [ ! -e /app/test-results ] \
             && [ ! -e /app/ignored-dir ]; then echo "$ok" >> "$tmp";
         else echo "$bad" >> "$tmp"; fi;;
    copied) if [ "$(cat /data/extra/payload.txt)" = payload ]; then echo "$ok" >> "$tmp"; else echo "$bad" >> "$tmp"; fi;;
    built) if [ "$BUILT_BY" = dockerfile ] && [ -f /app/init-ran ] && [ -f /opt/tool/tool.txt ]; then echo "$ok" >> "$tmp";
           else echo "$bad" >> "$tmp"; fi;;
    hang) sleep 313;;
    *) echo "unknown test $id" >&2; exit 3;;
  esac
done
echo '</testsuite>' >> "$tmp"
mv "$tmp" "$out"
'''


def make_project(root: Path, tests: dict, provider_extra="", offload_extra="", timeout=60, parallel=2):
    write(root / "run.sh", RUNNER, mode=0o755)
    (root / "tests.txt").write_text("".join(f"{k}\t{v}\n" for k, v in tests.items()))
    (root / "marker.txt").write_text("in the image\n")
    (root / "ignored-dir").mkdir(exist_ok=True)
    (root / ".dockerignore").write_text("ignored-dir\n")
    write(root / "offload.toml", f'''
[offload]
max_parallel = {parallel}
test_timeout_secs = {timeout}
sandbox_repo_root = "/app"
{offload_extra}

[provider]
type = "modal"
include_cwd = true
cpu_cores = 0.5
memory_gb = 1.5
{provider_extra}

[provider.env]
MY_VAR = "hello world"

[provider.experimental_options]
enable_docker = true

[framework]
type = "default"
discover_command = "cut -f1 tests.txt {{filters}}"
run_command = "./run.sh {{result_file}} {{tests}}"
result_file = "results.xml"
test_id_format = "{{name}}"

[groups.all]
retry_count = 0
''')


@pytest.fixture
def standin(tmp_path):
    home = tmp_path / "modal-home"
    env = {
        "OFFLOAD_MODAL_LAUNCHER": PYTHON,
        "PYTHONPATH": str(STANDIN),
        "MODAL_STANDIN_HOME": str(home),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOST_ONLY_SECRET": "must not reach the sandbox",
    }
    return home, env


def calls(home: Path, name=None):
    out = [json.loads(line) for line in (home / "calls.jsonl").read_text().splitlines()]
    return [c for c in out if name is None or c["call"] == name]


def test_outcomes_env_include_cwd_and_teardown(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    make_project(project, {"t_pass": "pass", "t_fail": "fail", "t_env": "env", "t_cwd": "cwd"})
    r = run_offload("run", "--env", "FROM_CLI=cli", cwd=project, env=env)
    assert r.rc == 1, r
    assert r.outcomes() == {"t_pass": "passed", "t_fail": "failed", "t_env": "passed", "t_cwd": "passed"}, r
    fail = [t for t in r.junit().iter("testcase") if t.get("name") == "t_fail"][0]
    assert "t_fail failed" in fail.find("failure").get("message")

    # What the script asked Modal for.
    creates = [c for c in calls(home, "Sandbox.create") if c["entrypoint"] == []]
    assert len(creates) == 2, creates
    for c in creates:
        assert c["cpu"] == 0.5
        assert c["memory"] == 1536  # ceil(1.5 GiB * 1024) MiB
        assert c["experimental_options"] == {"enable_docker": True}
        assert c["workdir"] == "/app"
        assert {"MY_VAR", "FROM_CLI", "OFFLOAD_ROOT"} <= set(c["secret_keys"])
        assert "HOST_ONLY_SECRET" not in c["secret_keys"]
    # The env is passed as a Secret on stdin, never on a command line.
    for c in calls(home, "Sandbox.exec"):
        assert "hello world" not in " ".join(c["args"])

    # Teardown: every sandbox (the build probe included) was terminated.
    created = {c["sandbox_id"] for c in calls(home, "Sandbox.create")}
    terminated = {c["sandbox_id"] for c in calls(home, "Sandbox.terminate")}
    assert created == terminated
    assert list((home / "sandboxes").iterdir()) == []
    # The plugin ran its embedded copy of the bundled script.
    copies = list((tmp_path / "cache" / "offload" / "modal").glob("*/modal_sandbox.py"))
    assert len(copies) == 1
    assert copies[0].read_bytes() == (SOURCE_DIR / "scripts" / "bundled" / "modal_sandbox.py").read_bytes()


def test_dockerfile_copy_dirs_and_init_cmd(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    write(project / "docker" / "Dockerfile", '''
        FROM debian:bookworm-slim
        ENV BUILT_BY=dockerfile
        COPY tool /opt/tool
        RUN test -f /opt/tool/tool.txt
    ''')
    write(project / "tool" / "tool.txt", "a tool\n")
    write(tmp_path / "extra" / "payload.txt", "payload")
    make_project(project, {"t_built": "built", "t_copied": "copied"},
                 provider_extra=f'dockerfile = "docker/Dockerfile"\ncopy_dirs = ["{tmp_path / "extra"}:/data/extra"]',
                 offload_extra='sandbox_init_cmd = "touch init-ran"')
    r = run_offload("run", cwd=project, env=env)
    assert r.rc == 0, r
    assert r.outcomes() == {"t_built": "passed", "t_copied": "passed"}, r
    builds = calls(home, "Image.build")
    assert builds and builds[0]["base"] == ["dockerfile", str(project / "docker" / "Dockerfile")]
    assert [c["name"] for c in calls(home, "App.lookup")][0] == "offload-dockerfile-sandbox"


def test_timeout_kills_the_remote_command(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    make_project(project, {"t_ok": "pass", "t_hang": "hang"}, timeout=2, parallel=2)
    r = run_offload("run", cwd=project, env=env, timeout=120)
    assert r.rc == 1, r
    out = r.outcomes()
    assert out["t_ok"] == "passed"
    assert out["t_hang"] == "failed", r
    tc = [t for t in r.junit().iter("testcase") if t.get("name") == "t_hang"][0]
    assert "timed out" in tc.find("failure").get("message"), r
    assert list((home / "sandboxes").iterdir()) == []
    assert not sleepers(), "the timed-out command survived"


def sleepers():
    """Processes still running the runner's `sleep 313` (the hanging test)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "cmdline").read_bytes() == b"sleep\x00313\x00":
                out.append(int(d.name))
        except OSError:
            pass
    return out


def test_interrupt_destroys_sandboxes_and_kills_clients(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    make_project(project, {"t_hang": "hang", "t_hang2": "hang"}, timeout=600)
    e = dict(os.environ, CI="true", **env)
    proc = subprocess.Popen([OFFLOAD, "run"], cwd=project, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 30
    while time.time() < deadline and len(sleepers()) < 2:
        time.sleep(0.1)
    assert len(sleepers()) == 2, "the hanging tests never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, (out, err)
    deadline = time.time() + 10
    while time.time() < deadline and sleepers():
        time.sleep(0.1)
    assert not sleepers(), "a sandboxed command survived the interrupt"
    assert list((home / "sandboxes").iterdir()) == [], (out, err)
    clients = [d for d in Path("/proc").iterdir() if d.name.isdigit()
               and b"modal_sandbox.py" in _cmdline(d) and str(home).encode() in _environ(d)]
    assert not clients, "modal_sandbox.py processes outlived the run"


def _cmdline(d):
    try:
        return (d / "cmdline").read_bytes()
    except OSError:
        return b""


def _environ(d):
    try:
        return (d / "environ").read_bytes()
    except OSError:
        return b""


def test_build_prints_the_image_id(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    make_project(project, {"t": "pass"})
    r = run_offload("build", cwd=project, env=env)
    assert r.rc == 0, r
    image = r.out.strip().splitlines()[-1]
    assert image.startswith("im-") and (home / "images" / image / "root" / "app" / "marker.txt").is_file()


def test_prepare_failure_is_reported(tmp_path, standin):
    home, env = standin
    project = tmp_path / "proj"
    make_project(project, {"t": "pass"}, offload_extra='sandbox_init_cmd = "echo init is broken >&2; exit 7"')
    r = run_offload("run", cwd=project, env=env)
    assert r.rc == 1, r
    assert "preparing the sandbox image failed" in r.err and "init is broken" in r.err, r


def test_spec_modal_example_validates(tmp_path):
    project = tmp_path / "proj"
    shutil.copy(FIXTURES / "configs" / "spec-modal-nextest.toml", tmp_path / "offload.toml")
    r = run_offload("validate", "-c", str(tmp_path / "offload.toml"), cwd=tmp_path)
    assert r.rc == 0, r
    assert "modal" in r.out
