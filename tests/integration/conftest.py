"""Shared helpers for integration tests: they drive the real `offload` binary
(OFFLOAD_BIN, set by ctest) on throwaway projects in tmp_path."""
import os
import signal
import subprocess
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("OFFLOAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("OFFLOAD_BUILD_DIR", SOURCE_DIR / "build"))
OFFLOAD = os.environ.get("OFFLOAD_BIN", str(BUILD_DIR / "bin" / "offload"))
FIXTURES = SOURCE_DIR / "tests" / "fixtures"
PYTHON = "/usr/bin/python3"  # Debian's python: the one that can import pytest


class Result:
    def __init__(self, proc, cwd):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.cwd = Path(cwd)

    def junit(self, path="test-results/junit.xml"):
        return ET.parse(self.cwd / path).getroot()

    def outcomes(self, path="test-results/junit.xml"):
        """{test id: offload.outcome property} from the merged report."""
        out = {}
        for tc in self.junit(path).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in tc.iter("property")}
            out[tc.get("name")] = props.get("offload.outcome")
        return out

    def causes(self, path="test-results/junit.xml"):
        out = {}
        for tc in self.junit(path).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in tc.iter("property")}
            out[tc.get("name")] = props.get("offload.cause")
        return out

    def __repr__(self):
        return f"rc={self.rc}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


def run_offload(*args, cwd, env=None, timeout=300, input=None):
    e = dict(os.environ)
    e.setdefault("CI", "true")
    if env:
        e.update(env)
    proc = subprocess.run([OFFLOAD, *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout, input=input)
    return Result(proc, cwd)


def write(path: Path, text: str, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    if mode is not None:
        path.chmod(mode)
    return path


def pgroup_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@pytest.fixture
def project(tmp_path):
    """A fresh project directory."""
    return tmp_path


def process_gone(pid: int, wait=3.0) -> bool:
    """True when pid no longer runs (a zombie awaiting reaping by init counts as gone)."""
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone or unreadable mid-scan
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def pgroup_members(pgid: int):
    """PIDs in process group pgid that are not zombies."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone or unreadable mid-scan
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(d.name))
    return out


def pgroup_gone(pgid: int, wait=5.0) -> bool:
    deadline = time.time() + wait
    while time.time() < deadline:
        if not pgroup_members(pgid):
            return True
        time.sleep(0.05)
    return False
