"""The default provider over ssh_sandbox.sh against a real sshd that the test
starts on 127.0.0.1 (free port, its own host key, authorized key and config)
and stops at the end. Needs openssh-server (/usr/sbin/sshd)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_offload
from test_run_default import make_project

SSHD = "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} is missing: install openssh-server (scripts/setup.sh's package list) to run the ssh backend test")
    d = tmp_path / "ssh"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d / 'host_key'}
AuthorizedKeysFile {d / 'authorized_keys'}
PidFile {d / 'sshd.pid'}
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
MaxStartups 100
MaxSessions 100
""")
    os.makedirs("/run/sshd", exist_ok=True)
    argv = [SSHD, "-D", "-e", "-f", str(d / "sshd_config")]
    # root's .bashrc runs `pyenv init` (~200 ms per command); hide it from the
    # sessions with a private mount namespace when we can.
    bashrc = Path.home() / ".bashrc"
    if shutil.which("unshare") and bashrc.exists():
        (d / "empty").write_text("")
        argv = ["unshare", "-m", "sh", "-c", f"mount --bind {d / 'empty'} {bashrc} 2>/dev/null; exec \"$@\"", "sshd",
                *argv]
    log = open(d / "sshd.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("sshd did not start: " + (d / "sshd.log").read_text())
    ctl = tempfile.mkdtemp(prefix="ofs", dir="/tmp")
    env = {
        "OFFLOAD_SSH_HOST": "127.0.0.1",
        "OFFLOAD_SSH_PORT": str(port),
        "OFFLOAD_SSH_USER": "root",
        "OFFLOAD_SSH_KEY": str(d / "client_key"),
        "OFFLOAD_SSH_OPTS": f"-o StrictHostKeyChecking=no -o UserKnownHostsFile={d / 'known_hosts'} -o LogLevel=ERROR",
        "OFFLOAD_SSH_DIR": str(tmp_path / "remote"),
        # Unix socket paths are short (108 bytes): not under tmp_path.
        "OFFLOAD_SSH_CONTROL_DIR": ctl,
    }
    yield env
    subprocess.run(["sh", str(Path(__file__).resolve().parents[2] / "scripts/bundled/ssh_sandbox.sh"), "close"],
                   env=dict(os.environ, **env), capture_output=True, timeout=10)
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)
    log.close()
    shutil.rmtree(ctl, ignore_errors=True)


def test_run_over_ssh_sandboxes(tmp_path, sshd):
    project = tmp_path / "proj"
    hostile = ["it's", "$(touch /tmp/offload-ssh-pwned)", "`id`", "semi;colon"]
    tests = {"t_pass": "pass", "t_fail": "fail", "t_flaky": "flaky"}
    tests.update({h: "pass" for h in hostile})
    make_project(project, tests, parallel=3, retry=1)
    provider = '''[provider]
type = "default"
prepare_command = "sh @ssh_sandbox.sh prepare"
create_command = "sh @ssh_sandbox.sh create {image_id}"
exec_command = "sh @ssh_sandbox.sh exec {sandbox_id} {command}"
download_command = "sh @ssh_sandbox.sh download {sandbox_id} {paths}"
destroy_command = "sh @ssh_sandbox.sh destroy {sandbox_id}"
timeout_secs = 120
'''
    cfg = (project / "offload.toml").read_text().replace('[provider]\ntype = "local"\n', provider)
    cfg = cfg.replace("[offload]\n", '[offload]\nsandbox_repo_root = "/app"\n', 1)
    (project / "offload.toml").write_text(cfg)
    start = time.time()
    r = run_offload("run", cwd=project, env=sshd, timeout=180)
    elapsed = time.time() - start
    assert r.rc == 1 and (project / "test-results" / "junit.xml").exists(), r
    expected = {"t_pass": "passed", "t_fail": "failed", "t_flaky": "flaky"}
    expected.update({h: "passed" for h in hostile})
    assert r.outcomes() == expected, r
    assert not Path("/tmp/offload-ssh-pwned").exists()
    remote = Path(sshd["OFFLOAD_SSH_DIR"])
    assert list((remote / "sandboxes").iterdir()) == [], "sandboxes left on the ssh host"
    assert len(list((remote / "images").iterdir())) == 1
    # Multiplexed: one connection serves every call (a generous bound).
    assert elapsed < 60, elapsed
