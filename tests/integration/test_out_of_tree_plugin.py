"""The out-of-tree plugin example (examples/plugin-out-of-tree/): a "tap"
framework plugin built with its own CMake project against the INSTALLED
headers only, loaded by the INSTALLED offload with --plugin-dir (and, once
installed into the same prefix, found without it), run on the example's
sample project. Everything is real: cmake, the compiler, the shell runner."""
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR

EXAMPLE = SOURCE_DIR / "examples" / "plugin-out-of-tree"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CI": "true", "HOME": "/tmp"}


def sh(*cmd, cwd=None, env=None, timeout=120):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(install prefix, plugin build dir): offload installed, the example built against it."""
    prefix = tmp_path_factory.mktemp("prefix")
    r = sh("cmake", "--install", BUILD_DIR, "--prefix", prefix)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "include" / "offload" / "plugin.hpp").exists()
    build = tmp_path_factory.mktemp("tap-build")
    r = sh("cmake", "-S", EXAMPLE, "-B", build, "-G", "Ninja", f"-DOFFLOAD_PREFIX={prefix}")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sh("cmake", "--build", build, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (build / "plugins" / "liboffload_tap.so").exists()
    return prefix, build


def sample_project(tmp_path: Path) -> Path:
    dst = tmp_path / "sample"
    shutil.copytree(EXAMPLE / "sample", dst, ignore=shutil.ignore_patterns("test-results", ".state"))
    return dst


def cases(project: Path):
    """{test id: (classname, outcome, cause, testcase element)} from the merged report."""
    root = ET.parse(project / "test-results" / "junit.xml").getroot()
    out = {}
    for tc in root.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        out[tc.get("name")] = (tc.get("classname"), props.get("offload.outcome"), props.get("offload.cause"), tc)
    return root, out


def test_parser_unit_test_passes(built):
    _, build = built
    r = sh("ctest", "--test-dir", build, "--output-on-failure")
    assert r.returncode == 0, r.stdout + r.stderr


def test_plugins_lists_the_tap_framework(built):
    prefix, build = built
    r = sh(prefix / "bin" / "offload", "plugins", "--plugin-dir", build / "plugins", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "org.example.tap 0.1.0" in r.stdout and "frameworks: tap" in r.stdout
    assert "Refused:" not in r.stdout, r.stdout


def test_run_sample_with_plugin_dir(built, tmp_path):
    prefix, build = built
    project = sample_project(tmp_path)
    offload = prefix / "bin" / "offload"

    r = sh(offload, "collect", "--plugin-dir", build / "plugins", cwd=project, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["test_math_add", "test_math_mul", "test_math_div",
                                "test_str_concat", "test_str_upper", "test_net_fetch", "test_flaky_once"]

    r = sh(offload, "run", "--plugin-dir", build / "plugins", cwd=project, env=ENV)
    # A real failure (test_math_div) beats the flaky test: exit 1.
    assert r.returncode == 1, r.stdout + r.stderr
    root, got = cases(project)
    assert {k: (v[0], v[1]) for k, v in got.items()} == {
        "test_math_add": ("math", "passed"),
        "test_math_mul": ("math", "passed"),
        "test_math_div": ("math", "failed"),
        "test_str_concat": ("rest", "passed"),
        "test_str_upper": ("rest", "passed"),
        "test_net_fetch": ("rest", "skipped"),
        "test_flaky_once": ("rest", "flaky"),
    }
    assert root.get("tests") == "7" and root.get("failures") == "1" and root.get("skipped") == "1"

    # Failure: both attempts ran (retry_count = 1); the TAP diagnostics are the message and text.
    _, _, cause, div = got["test_math_div"]
    assert cause == "failed on all 2 attempts"
    failure = div.find("failure")
    assert failure.get("message") == "expected 4, got 3"
    assert "integer arithmetic" in failure.text and "duration_ms:" in failure.text
    assert div.find("rerunFailure") is not None
    # Skip reason from "# SKIP ...".
    assert got["test_net_fetch"][3].find("skipped").get("message") == "no network in this sandbox"
    # Flaky: failed, then passed on the parallel retry.
    assert got["test_flaky_once"][2] == "passed on attempt 2 after 1 failure(s)"
    assert got["test_flaky_once"][3].find("flakyFailure") is not None

    # Per-batch logs hold the TAP the runner printed; result files were downloaded.
    logs = sorted(p.name for p in (project / "test-results" / "logs").iterdir())
    assert any(n.endswith(".stdout.failure") for n in logs) and any(n.endswith(".stdout.success") for n in logs)
    tap = "".join(p.read_text() for p in (project / "test-results" / "logs").glob("batch-*.stdout.*"))
    assert "not ok 1 - test_math_div" in tap and "# SKIP no network in this sandbox" in tap
    assert list((project / "test-results" / "results").glob("batch-*.result"))

    # Second run: the flaky test's state file exists, so everything that can pass passes.
    r = sh(offload, "run", "--plugin-dir", build / "plugins", cwd=project, env=ENV)
    assert r.returncode == 1
    _, got = cases(project)
    assert got["test_flaky_once"][1] == "passed" and got["test_math_div"][1] == "failed"


def test_missing_plugin_then_installed_next_to_the_binary(built, tmp_path):
    prefix, build = built
    project = sample_project(tmp_path)
    offload = prefix / "bin" / "offload"
    # Without the plugin, the error names the type and what is available.
    r = sh(offload, "run", cwd=project, env=ENV)
    assert r.returncode == 1
    assert "no plugin offers framework type 'tap'" in r.stderr, r.stderr
    # Installed into offload's own prefix, it is found with no --plugin-dir.
    r = sh("cmake", "--install", build, "--prefix", prefix)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = sh(offload, "run", cwd=project, env=ENV)
        assert r.returncode == 1, r.stdout + r.stderr
        _, got = cases(project)
        assert len(got) == 7 and got["test_math_add"][1] == "passed"
    finally:
        (prefix / "lib" / "offload" / "plugins" / "liboffload_tap.so").unlink(missing_ok=True)
