"""Plugins that break the ABI contract (tests/fixtures/bad_plugins/, built here
with cc/c++ against the source tree's plugin-api/): the host names the plugin
and the violation, and the run still accounts for every discovered test.

A library built for another ABI major is refused at load: see
test_plugins.py::test_broken_libraries_are_refused_with_reasons."""
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SOURCE_DIR, FIXTURES, run_offload, write
from test_run_default import make_project

INCLUDE = SOURCE_DIR / "plugin-api"
BAD = FIXTURES / "bad_plugins"


def build(src: Path, out: Path, cxx=False):
    if cxx:
        cmd = ["c++", "-x", "c++", "-std=c++17", "-fvisibility=hidden"]
    else:
        cmd = ["cc", "-std=c99", "-pedantic"]
    cmd += ["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", f"-I{INCLUDE}", str(src), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    """One directory per plugin, so a run loads only the one it is about."""
    root = tmp_path_factory.mktemp("bad_plugins")
    dirs = {}
    for name, src, cxx in (("provider", "bad_provider.c", False), ("framework", "bad_framework.c", False),
                           ("raw_cxx_framework", "bad_framework.c", True),
                           ("throwing_framework", "throwing_framework.cpp", True)):
        d = root / name
        d.mkdir()
        build(BAD / src, d / f"lib{name}.so", cxx)
        dirs[name] = str(d)
    return dirs


def accounted(r, expected_ids):
    """Every discovered test is in junit.xml with an outcome and a cause."""
    outcomes, causes = r.outcomes(), r.causes()
    assert sorted(outcomes) == sorted(expected_ids), r
    for tid in expected_ids:
        assert outcomes[tid] in ("passed", "failed", "flaky", "skipped", "not-run"), (tid, r)
        assert causes[tid], (tid, r)
    return outcomes, causes


def provider_project(project, tests, parallel=2, timeout=30):
    make_project(project, tests, parallel=parallel, timeout=timeout, individual=True)
    cfg = (project / "offload.toml").read_text().replace('type = "local"', 'type = "bad-local"')
    (project / "offload.toml").write_text(cfg)


def framework_project(project, tests, fw_type="bad-fw", retry=0, parallel=1, group_extra=""):
    make_project(project, tests)
    write(project / "offload.toml", f'''
        [offload]
        max_parallel = {parallel}
        test_timeout_secs = 30

        [provider]
        type = "local"

        [framework]
        type = "{fw_type}"

        [groups.all]
        retry_count = {retry}
        {group_extra}
        ''')


# ---- providers ---------------------------------------------------------------

def test_exec_completed_twice_is_reported_and_ignored(plugins, project):
    tests = {f"t{i}": "pass" for i in range(6)}
    provider_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env={"BAD_PROVIDER_MODE": "double_exec"})
    assert r.rc == 0, r
    assert "plugin test.bad-provider misbehaved: completed 'exec' more than once (ignored)" in r.err, r
    outcomes, _ = accounted(r, tests)
    assert set(outcomes.values()) == {"passed"}
    # Named again in the end-of-run summary.
    assert "plugin contract violations during this run" in r.err


def test_exec_that_never_completes_is_abandoned_after_a_derived_grace(plugins, project):
    """timeout 2 s -> grace min(60, max(5, 1)) = 5 s: sandbox 0's exec is given
    up 7 s in, its sandbox retired, its test rerun on sandbox 1."""
    tests = {f"t{i}": "pass" for i in range(4)}
    provider_project(project, tests, timeout=2)
    start = time.time()
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env={"BAD_PROVIDER_MODE": "never_exec"},
                    timeout=60)
    took = time.time() - start
    assert r.rc == 0, r
    assert "plugin test.bad-provider misbehaved: exec of batch" in r.err, r
    assert "did not complete 5s after its timeout; giving up on sandbox bad-sandbox-0" in r.err, r
    outcomes, _ = accounted(r, tests)
    assert set(outcomes.values()) == {"passed"}, r
    assert 6 < took < 30, took
    # The instance still owes a completion: the host leaves it undestroyed.
    assert "operation(s) never completed" in r.err, r


def test_grace_can_be_set_by_environment(plugins, project):
    tests = {f"t{i}": "pass" for i in range(2)}
    provider_project(project, tests, timeout=1)
    start = time.time()
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project,
                    env={"BAD_PROVIDER_MODE": "never_exec", "OFFLOAD_PLUGIN_GRACE_SECS": "1"}, timeout=60)
    assert r.rc == 0, r
    assert "did not complete 1s after its timeout" in r.err, r
    assert time.time() - start < 15
    accounted(r, tests)


@pytest.mark.parametrize("mode,violation", [
    ("unknown_status", "completed 'exec' with unknown status 77 (treated as an error)"),
    ("small_exec_result", "completed 'exec' with a result whose struct_size (4) does not cover"),
    ("null_exec_result", "completed 'exec' OK without a result (treated as an error)"),
])
def test_bad_exec_completions_retire_the_sandbox_and_tests_run_elsewhere(plugins, project, mode, violation):
    tests = {f"t{i}": "pass" for i in range(4)}
    provider_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env={"BAD_PROVIDER_MODE": mode})
    assert r.rc == 0, r
    assert f"plugin test.bad-provider misbehaved: {violation}" in r.err, r
    assert "sandbox bad-sandbox-0 removed from the pool" in r.err, r
    outcomes, _ = accounted(r, tests)
    assert set(outcomes.values()) == {"passed"}, r


def test_unknown_exec_status_on_every_sandbox_still_accounts_for_every_test(plugins, project):
    tests = {f"t{i}": "pass" for i in range(3)}
    provider_project(project, tests, parallel=1)
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env={"BAD_PROVIDER_MODE": "unknown_status"})
    assert r.rc == 1, r
    outcomes, causes = accounted(r, tests)
    assert set(outcomes.values()) == {"not-run"}, r
    assert all("sandbox" in c for c in causes.values()), causes


def test_destroy_that_never_completes_is_abandoned_at_the_teardown_limit(plugins, project):
    tests = {f"t{i}": "pass" for i in range(2)}
    provider_project(project, tests)
    start = time.time()
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project,
                    env={"BAD_PROVIDER_MODE": "never_destroy", "OFFLOAD_TEARDOWN_SECS": "2"}, timeout=60)
    assert r.rc == 0, r
    assert "did not finish within the 2s teardown limit; abandoned" in r.err, r
    assert time.time() - start < 20
    accounted(r, tests)


def test_provider_table_too_small_is_refused(plugins, project):
    provider_project(project, {"a": "pass"})
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env={"BAD_PROVIDER_MODE": "small_table"})
    assert r.rc == 1, r
    assert "plugin test.bad-provider misbehaved: provider table too small (struct_size" in r.err, r


def test_factory_table_too_small_is_refused_at_load(plugins, project):
    provider_project(project, {"a": "pass"})
    env = {"BAD_PROVIDER_MODE": "small_factory"}
    r = run_offload("plugins", "--plugin-dir", plugins["provider"], cwd=project, env=env)
    assert "provider factory table too small or without create" in r.out.split("Refused:")[1], r
    r = run_offload("run", "--plugin-dir", plugins["provider"], cwd=project, env=env)
    assert r.rc == 1 and "no plugin offers provider type 'bad-local'" in r.err, r


# ---- frameworks --------------------------------------------------------------

def test_results_with_unknown_status_or_short_structs(plugins, project):
    """weird*: status 77 -> a failure naming the plugin; tiny*: struct covers only
    id and status (pointers after it are invalid: reading them would crash);
    bare*: struct too small for the id -> ignored; nul*: NULL result -> ignored."""
    tests = {"ok1": "pass", "weird1": "pass", "tiny1": "fail", "tiny2": "pass", "bare1": "pass", "nul1": "pass"}
    framework_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": "results"})
    assert r.rc == 1, r
    assert ("plugin test.bad-framework misbehaved: parse_results reported unknown status 77 for test 'weird1' "
            "(treated as an error)") in r.err, r
    assert "misbehaved: parse_results sent a result whose struct_size (4) does not cover its id and status" in r.err, r
    outcomes, causes = accounted(r, tests)
    assert outcomes["ok1"] == "passed" and outcomes["tiny2"] == "passed"
    assert outcomes["weird1"] == "failed" and outcomes["tiny1"] == "failed"
    assert outcomes["bare1"] == "not-run" and outcomes["nul1"] == "not-run"
    tc = {t.get("name"): t for t in r.junit().iter("testcase")}
    assert "unknown status 77" in tc["weird1"].find("failure").get("message")


def in_process_props(r, tid):
    tc = {t.get("name"): t for t in r.junit().iter("testcase")}[tid]
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    n = int(props["offload.attempts"])
    return [(props[f"offload.attempt.{i}.status"], props.get(f"offload.attempt.{i}.in_process_run"))
            for i in range(1, n + 1)]


def test_in_process_reruns_count_against_retry_count(plugins, project):
    """ABI 1.1: a framework may rerun a failed test inside its batch's process
    and report each run. Runs are attempts spent from retry_count; runs past
    the grant, or after a pass, do not count and are reported as misbehaviour."""
    tests = {"ok1": "pass", "flaky1": "pass", "over1": "pass", "after1": "pass"}
    framework_project(project, tests, retry=1)
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": "reruns"})
    assert r.rc == 1, r
    outcomes, causes = accounted(r, tests)
    assert outcomes == {"ok1": "passed", "flaky1": "flaky", "over1": "failed", "after1": "passed"}, r
    assert causes["flaky1"] == "passed on attempt 2 after 1 failure(s)"
    assert causes["over1"] == "failed on all 2 attempts"
    assert in_process_props(r, "flaky1") == [("failed", "1"), ("passed", "2")]
    assert in_process_props(r, "over1") == [("failed", "1"), ("failed", "2")]   # nothing more ran elsewhere
    assert in_process_props(r, "ok1") == [("passed", None)]
    assert "test over1: the framework ran it 5 times, but only 1 in-process retry was allowed" in r.err, r
    assert "test after1: run 1 was passed, yet the framework ran it again" in r.err, r


@pytest.mark.parametrize("mode,extra", [("reruns", "in_process_retries = 0"),  # the group says no
                                        ("reruns_undeclared", "")])               # the framework never said it can
def test_no_in_process_grant_keeps_every_retry_on_another_sandbox(plugins, project, mode, extra):
    tests = {"flaky1": "pass"}
    framework_project(project, tests, retry=1, group_extra=extra)
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": mode})
    # Each batch may run it once; the framework's second run is ignored both times.
    assert r.rc == 1, r
    assert r.outcomes() == {"flaky1": "failed"}, r
    assert in_process_props(r, "flaky1") == [("failed", None), ("failed", None)]   # each counted as a plain run
    assert r.err.count("but only 0 in-process retries were allowed") == 2, r


def test_not_run_reported_by_the_framework_still_has_a_cause(plugins, project):
    """OFFLOAD_TEST_NOT_RUN from the plugin: its message is the cause; without
    one the cause says so (never empty). Such tests are run again (at most
    twice) before they end not-run."""
    tests = {"ok1": "pass", "quiet1": "pass", "said1": "pass"}
    framework_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": "notrun"})
    assert r.rc == 1, r
    outcomes, causes = accounted(r, tests)
    assert outcomes == {"ok1": "passed", "quiet1": "not-run", "said1": "not-run"}, r
    assert causes["said1"] == "not run: bailed out", causes
    assert causes["quiet1"] == ("not run: framework test.bad-framework reported it as not run, without a reason"), causes


def test_framework_table_too_small_is_refused(plugins, project):
    framework_project(project, {"a": "pass"})
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": "small_table"})
    assert r.rc == 1, r
    assert "plugin test.bad-framework misbehaved: framework table too small (struct_size" in r.err, r


def test_command_struct_too_small(plugins, project):
    tests = {"a": "pass", "b": "pass"}
    framework_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["framework"], cwd=project, env={"BAD_FW_MODE": "small_cmd"})
    assert r.rc == 1, r
    assert "misbehaved: run_command sent a command whose struct_size (4) does not cover argv" in r.err, r
    outcomes, _ = accounted(r, tests)
    assert set(outcomes.values()) == {"not-run"}


def test_exception_in_parse_results_through_the_helper(plugins, project):
    tests = {"a": "pass", "b": "fail", "c": "pass"}
    framework_project(project, tests, fw_type="throwing-fw", parallel=2)
    r = run_offload("run", "--plugin-dir", plugins["throwing_framework"], cwd=project)
    assert r.rc == 1, r
    assert "parse_results exploded on purpose" in r.err, r
    outcomes, causes = accounted(r, tests)
    assert set(outcomes.values()) == {"not-run"}, r
    assert all("unusable" in c and "parse_results exploded on purpose" in c for c in causes.values()), causes


def test_exception_escaping_a_raw_cxx_plugin_is_caught(plugins, project):
    """Without the helper an exception would cross the C ABI; the host's guard
    catches it and names the plugin instead of terminating."""
    tests = {"a": "pass", "b": "pass"}
    framework_project(project, tests)
    r = run_offload("run", "--plugin-dir", plugins["raw_cxx_framework"], cwd=project, env={"BAD_FW_MODE": "throw"})
    assert r.rc == 1, r
    assert ("plugin test.bad-framework misbehaved: a C++ exception escaped from parse_results: "
            "raw parse_results exploded") in r.err, r
    accounted(r, tests)
