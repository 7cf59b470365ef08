"""The pytest framework plugin end to end: real pytest (Debian's), real
offload, the fixture project in tests/fixtures/pytest. The expected outcome of
every node comes from pytest itself (its own --junitxml), never from a list
kept by hand, so the comparison cannot drift from what pytest does."""
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import FIXTURES, PYTHON, run_offload, write

FIXTURE = FIXTURES / "pytest"
COMMAND = f"{PYTHON} -m pytest"


def config(groups='[groups.all]\nretry_count = 0\n', paths='["tests"]', parallel=4, run_args="-p no:cacheprovider"):
    return f"""
[offload]
max_parallel = {parallel}

[provider]
type = "local"

[framework]
type = "pytest"
command = "{COMMAND}"
paths = {paths}
run_args = "{run_args}"

{groups}
"""


@pytest.fixture
def proj(tmp_path):
    dst = tmp_path / "proj"
    shutil.copytree(FIXTURE, dst)
    (dst / "offload.toml").write_text(config())
    return dst


def pytest_reference(cwd, *args):
    """{nodeid: passed|failed|skipped} as pytest's own junitxml reports it.
    xunit1 carries the file, so nodeids are rebuilt exactly: file::Class::...::name."""
    import subprocess
    xml = Path(cwd) / "reference.xml"
    subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "junit_family=xunit1",
                    f"--junitxml={xml}", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    out = {}
    for tc in ET.parse(xml).getroot().iter("testcase"):
        file = tc.get("file")
        module = file[:-3].replace("/", ".")
        classname = tc.get("classname")
        assert classname == module or classname.startswith(module + "."), (file, classname)
        classes = classname[len(module) + 1:].split(".") if classname != module else []
        nodeid = "::".join([file, *classes, tc.get("name")])
        kinds = {child.tag for child in tc}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        if out.get(nodeid) != "failed":  # a teardown error after a failure adds a second entry
            out[nodeid] = outcome
    xml.unlink()
    return out


def collect_json(cwd):
    r = run_offload("collect", "-f", "json", cwd=cwd)
    assert r.rc == 0, r
    return json.loads(r.out)


def test_outcomes_match_pytest_under_the_same_ids(proj):
    expected = pytest_reference(proj, "tests")
    assert len(expected) >= 60
    # The awkward IDs are really there (the original dropped IDs with spaces).
    for nodeid in ["tests/test_params.py::test_text_values[with space]",
                   "tests/test_params.py::test_explicit_ids[colon::inside]",
                   "tests/test_params.py::test_text_values[$(touch pwned)]",
                   "tests/test_params.py::TestParamsInClass::test_in_class[c::d]",
                   "tests/test_classes.py::TestOuter::TestInner::TestDeepest::test_deep_param[1]",
                   "tests/test_basic.py::test_unicode_name_ünïcødé"]:
        assert nodeid in expected

    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r  # the fixture has failures
    got = r.outcomes()
    assert got == expected, r
    assert not (proj / "pwned").exists(), "a node ID reached a shell as code"
    # Details travel too: messages, captured output.
    cases = {tc.get("name"): tc for tc in r.junit().iter("testcase")}
    out = ET.tostring(cases["tests/test_basic.py::test_prints_stderr_and_fails"], encoding="unicode")
    assert "to stdout before failing" in out and "to stderr before failing" in out
    causes = r.causes()
    assert "xfail" in causes["tests/test_outcomes.py::test_xfail"]
    assert "always skipped" in causes["tests/test_outcomes.py::test_skip_marker"]
    assert "test-set mismatch" not in r.err and "no result for this test ID" not in r.out + r.err


def test_collect_json_lists_ids_exactly(proj):
    expected = pytest_reference(proj, "tests")
    tests = collect_json(proj)
    ids = [t["id"] for t in tests]
    assert sorted(ids) == sorted(expected)
    by_id = {t["id"]: t for t in tests}
    t = by_id["tests/test_params.py::test_text_values[two  spaces]"]
    assert t["file"] == "tests/test_params.py" and t["line"] > 0


def test_group_filters_split_by_marker(proj):
    (proj / "offload.toml").write_text(config(groups="""
[groups.slow]
filters = "-m slow"

[groups.rest]
filters = "-m 'not slow'"
"""))
    expected = pytest_reference(proj, "tests")
    slow = set(pytest_reference(proj, "-m", "slow", "tests"))
    tests = collect_json(proj)
    groups = {}
    for t in tests:
        groups.setdefault(t["group"], set()).add(t["id"])
    assert groups["slow"] == slow and len(slow) == 5
    assert groups["rest"] == set(expected) - slow
    r = run_offload("run", cwd=proj)
    assert r.outcomes() == expected, r


def test_filter_matching_nothing_is_zero_tests_not_a_crash(proj):
    (proj / "offload.toml").write_text(config(groups="""
[groups.none]
filters = "-m no_such_marker"

[groups.a]
filters = "-m group_a"
"""))
    tests = collect_json(proj)
    assert {t["group"] for t in tests} == {"a"}
    r = run_offload("run", cwd=proj)
    assert r.rc == 0, r
    assert set(r.outcomes().values()) == {"passed"} and len(r.outcomes()) == 3

    (proj / "offload.toml").write_text(config(groups='[groups.none]\nfilters = "-m no_such_marker"\n'))
    r = run_offload("run", cwd=proj)
    assert r.rc == 0, r


def test_collection_error_surfaces_pytest_message(proj):
    write(proj / "tests" / "test_broken.py", """
        import no_such_module_for_offload

        def test_never():
            pass
    """)
    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r
    text = r.out + r.err
    assert "tests/test_broken.py" in text, r
    assert "no_such_module_for_offload" in text and "ModuleNotFoundError" in text, r


def test_missing_pytest_is_a_clear_error(proj):
    (proj / "offload.toml").write_text(config().replace(COMMAND, "/usr/bin/python3 -m no_such_pytest_module"))
    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r
    assert "no_such_pytest_module" in r.out + r.err, r


def test_fail_fast_passes_x(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config(parallel=1))
    write(proj / "tests" / "test_ff.py", """
        def test_a_fails():
            assert False

        def test_b():
            pass

        def test_c():
            pass
    """)
    r = run_offload("run", "--fail-fast", cwd=proj)
    assert r.rc == 1, r
    logs = "".join(p.read_text() for p in (proj / "test-results" / "logs").glob("batch-*.stdout.*"))
    assert "stopping after 1 failures" in logs, logs
    got = r.outcomes()
    assert got["tests/test_ff.py::test_a_fails"] == "failed"
    assert got["tests/test_ff.py::test_b"] != "passed"

    r = run_offload("run", cwd=proj)
    assert r.outcomes()["tests/test_ff.py::test_b"] == "passed", r


def test_killed_interpreter_keeps_finished_results(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config(parallel=1))
    write(proj / "tests" / "test_kill.py", """
        import os
        import pytest

        @pytest.mark.parametrize("i", range(5))
        def test_before(i):
            pass

        def test_kills_interpreter():
            os.kill(os.getpid(), 9)

        @pytest.mark.parametrize("i", range(5))
        def test_after(i):
            pass
    """)
    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r
    got = r.outcomes()
    killer = "tests/test_kill.py::test_kills_interpreter"
    assert len(got) == 11
    assert all(v == "passed" for k, v in got.items() if k != killer), r
    assert got[killer] in ("failed", "not-run"), r
    case = next(tc for tc in r.junit().iter("testcase") if tc.get("name") == killer)
    text = ET.tostring(case, encoding="unicode")
    assert "signal 9" in text, text
    # The tests that finished before the kill kept their result: they ran once.
    attempts = {tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}.get("offload.attempts")
                for tc in r.junit().iter("testcase")}
    assert all(attempts[f"tests/test_kill.py::test_before[{i}]"] == "1" for i in range(5)), attempts


def test_rootdir_below_the_project(tmp_path):
    """pytest.ini in tests/: node IDs are relative to tests/, the project (and
    the batch's cwd) is one level up; the IDs must still select exactly."""
    proj = tmp_path
    write(proj / "offload.toml", config())
    write(proj / "tests" / "pytest.ini", "[pytest]\n")
    write(proj / "tests" / "test_r.py", """
        import pytest

        @pytest.mark.parametrize("v", ["a b", "c::d"])
        def test_p(v):
            pass

        def test_fail():
            assert 0
    """)
    ids = sorted(t["id"] for t in collect_json(proj))
    assert ids == ["test_r.py::test_fail", "test_r.py::test_p[a b]", "test_r.py::test_p[c::d]"]
    r = run_offload("run", cwd=proj)
    assert r.outcomes() == {"test_r.py::test_fail": "failed", "test_r.py::test_p[a b]": "passed",
                            "test_r.py::test_p[c::d]": "passed"}, r
