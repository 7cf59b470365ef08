"""The nextest framework plugin end to end: `offload run` with framework
"nextest" and the local provider.

cargo-nextest cannot be installed on this machine, so these tests run against a
STAND-IN: tests/fixtures/nextest/bin/cargo, a Python script that follows
nextest's documented CLI contract (list JSON, filtersets, tool config files,
JUnit at the profile's junit path, exit code 100 on failures) for exactly the
flags offload uses. It is put first on PATH; it records every argv to
nextest-argv.jsonl so the tests can assert what offload asked nextest to do.
"""
import json
import os
import xml.etree.ElementTree as ET

from conftest import FIXTURES, run_offload, write

STAND_IN_BIN = FIXTURES / "nextest" / "bin"

PROJECT = {
    "binaries": [
        {"binary-id": "mycrate", "package": "mycrate", "kind": "lib", "tests": {
            "tests::adds": "pass",
            "tests::always_fails": "fail",
            "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 1},
            "tests::slow_ignored": {"outcome": "pass", "ignored": True},
            "tests::needs_tls": {"outcome": "pass", "features": ["tls"]},
            # Not a valid Rust identifier path, but it proves names reach nextest's
            # filterset DSL escaped: ',' and ')' would otherwise end the matcher.
            "tests::weird(1,2)[*]": "pass",
        }},
        {"binary-id": "mycrate::bin/cli", "package": "mycrate", "kind": "bin", "binary-name": "cli",
         "tests": {"parses_args": "pass"}},
        {"binary-id": "othercrate", "package": "othercrate", "kind": "lib", "tests": {"other_pkg": "pass"}},
    ]
}


def setup_project(project, framework_extra="", groups=None, fixture=PROJECT):
    (project / "nextest-fixture.json").write_text(json.dumps(fixture))
    groups = groups or '[groups.all]\nretry_count = 1\n'
    write(project / "offload.toml", f"""
        [offload]
        max_parallel = 3
        test_timeout_secs = 60
        sandbox_repo_root = "."

        [provider]
        type = "local"
        working_dir = "."

        [framework]
        type = "nextest"
        {framework_extra}

        [report]
        output_dir = "test-results"
        """)
    with open(project / "offload.toml", "a") as f:
        f.write("\n" + groups)


def env():
    return {"PATH": f"{STAND_IN_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def calls(project, sub):
    """argv lists (after `cargo`) of every stand-in call of `cargo nextest <sub>`."""
    out = []
    for line in (project / "nextest-argv.jsonl").read_text().splitlines():
        argv = json.loads(line)["argv"]
        if argv[:2] == ["nextest", sub]:
            out.append(argv)
    return out


def value(argv, flag):
    return argv[argv.index(flag) + 1]


def test_outcomes_retries_ignored_tests_and_flags(project):
    setup_project(project, framework_extra='package = "mycrate"\nfeatures = ["tls", "net"]\ninclude_ignored = true')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 1, r  # one real failure
    assert r.outcomes() == {
        "mycrate tests::adds": "passed",
        "mycrate tests::always_fails": "failed",
        "mycrate tests::flaky_network": "flaky",
        "mycrate tests::slow_ignored": "passed",  # include_ignored = true runs ignored tests too
        "mycrate tests::needs_tls": "passed",  # only exists with --features tls
        "mycrate tests::weird(1,2)[*]": "passed",
        "mycrate::bin/cli parses_args": "passed",
    }, r  # othercrate is outside -p mycrate

    [listing] = calls(project, "list")
    assert listing[2:4] == ["--message-format", "json"]
    assert value(listing, "-p") == "mycrate"
    assert value(listing, "--features") == "tls,net"
    assert value(listing, "--run-ignored") == "all"  # not "only": that would drop every other test

    runs = calls(project, "run")
    assert runs
    for argv in runs:
        assert "--no-fail-fast" in argv and "--fail-fast" not in argv
        assert value(argv, "--profile") == "offload"
        tool, _, path = value(argv, "--tool-config-file").partition(":")
        assert tool == "offload" and os.path.isabs(path)
        assert value(argv, "-p") == "mycrate"
        assert value(argv, "--features") == "tls,net"
        assert value(argv, "--run-ignored") == "all"
        # retry_count = 1 and the default in_process_retries = 1: nextest retries in the batch.
        assert value(argv, "--retries") == "1"
    # The failing test was retried by nextest, in its one batch: selected, by exact matchers, once.
    selecting_failure = [a for a in runs if "test(=tests::always_fails)" in value(a, "-E")]
    assert len(selecting_failure) == 1, runs
    assert any("test(=tests::weird(1\\,2\\)[*])" in value(a, "-E") for a in runs), runs
    # The flaky test's history is kept in the merged report.
    causes = r.causes()
    assert "attempt 2" in causes["mycrate tests::flaky_network"], causes


def test_ignored_tests_excluded_by_default_and_group_filters_reach_nextest(project):
    setup_project(project, groups='[groups.lib]\nfilters = "-E \'binary_id(mycrate) - test(/fails|flaky/)\'"\n')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 0, r
    assert r.outcomes() == {
        "mycrate tests::adds": "passed",
        "mycrate tests::weird(1,2)[*]": "passed",
    }, r
    [listing] = calls(project, "list")
    assert "--run-ignored" not in listing and "-p" not in listing and "--features" not in listing
    assert value(listing, "-E") == "binary_id(mycrate) - test(/fails|flaky/)"


def test_fail_fast_is_passed_to_nextest(project):
    setup_project(project, framework_extra='package = "mycrate"', groups='[groups.all]\nretry_count = 0\n')
    r = run_offload("run", "--fail-fast", cwd=project, env=env())
    assert r.rc == 1, r
    runs = calls(project, "run")
    assert runs and all("--fail-fast" in a and "--no-fail-fast" not in a for a in runs), runs


def test_hanging_batch_reports_not_run_with_cause(project):
    fixture = {"binaries": [{"binary-id": "hangs", "tests": {"quick": "pass", "stuck": "hang"}}]}
    setup_project(project, fixture=fixture, groups='[groups.all]\nschedule_individual = true\n')
    # A short batch timeout; one test per batch, so only "stuck" times out.
    text = (project / "offload.toml").read_text().replace("test_timeout_secs = 60", "test_timeout_secs = 3")
    (project / "offload.toml").write_text(text)
    r = run_offload("run", cwd=project, env=env(), timeout=120)
    assert r.rc == 1, r
    outcomes = r.outcomes()
    assert outcomes["hangs quick"] == "passed", r
    assert outcomes["hangs stuck"] in ("failed", "not-run"), r
    [stuck] = [tc for tc in r.junit().iter("testcase") if tc.get("name") == "hangs stuck"]
    assert "timed out" in ET.tostring(stuck, encoding="unicode"), r


def test_discovery_errors_are_explained(project):
    setup_project(project)
    (project / "nextest-fixture.json").unlink()
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 1, r
    assert "cargo nextest list" in r.err and "exit code 101" in r.err, r
    assert "nextest fixture" in r.err, r  # the tail of cargo's stderr is shown


def test_non_json_listing_is_an_error(project):
    setup_project(project)
    fake = write(project / "fakebin" / "cargo", "#!/bin/sh\necho 'this is not json'\necho 'oops' >&2\n", mode=0o755)
    r = run_offload("run", cwd=project, env={"PATH": f"{fake.parent}:{os.environ['PATH']}"})
    assert r.rc == 1, r
    assert "not valid JSON" in r.err or "no JSON object" in r.err, r
    assert "oops" in r.err, r


# ---------------------------------------------------------------- in-process retries

FLAKY_ONCE = "mycrate tests::flaky_network"
RETRY_PROJECT = {"binaries": [{"binary-id": "mycrate", "package": "mycrate", "kind": "lib", "tests": {
    "tests::adds": "pass",
    "tests::always_fails": "fail",
    "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 1},
}}]}


def attempts_of(tc):
    """[(batch, status, in_process_run or None), ...] from a testcase's offload.attempt.K.* properties."""
    p = {x.get("name"): x.get("value") for x in tc.iter("property")}
    return [(int(p[f"offload.attempt.{k}.batch"]), p[f"offload.attempt.{k}.status"],
             p.get(f"offload.attempt.{k}.in_process_run")) for k in range(1, int(p["offload.attempts"]) + 1)]


def case_of(result, test_id):
    return next(tc for tc in result.junit().iter("testcase") if tc.get("name") == test_id)


def props_of(tc):
    return {x.get("name"): x.get("value") for x in tc.iter("property")}


def test_a_failed_test_is_retried_by_nextest_inside_its_batch(project):
    """retry_count = 1 and the default in_process_retries = 1: the batch runs
    `cargo nextest run --retries 1`, nextest reruns the failed test at once,
    and offload reports both runs (from <flakyFailure>) as attempts of that batch."""
    setup_project(project, fixture=RETRY_PROJECT, groups='[groups.all]\nretry_count = 1\n')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 1, r  # always_fails failed on both runs
    assert r.outcomes() == {"mycrate tests::adds": "passed", "mycrate tests::always_fails": "failed",
                            FLAKY_ONCE: "flaky"}, r
    runs = calls(project, "run")
    assert runs and all(value(a, "--retries") == "1" for a in runs), runs
    assert sum(1 for a in runs if "test(=tests::flaky_network)" in value(a, "-E")) == 1, runs

    tc = case_of(r, FLAKY_ONCE)
    p = props_of(tc)
    assert p["offload.attempt.1.batch"] == p["offload.attempt.2.batch"], p
    assert p["offload.attempt.2.in_process_run"] == "2", p
    assert [a[1:] for a in attempts_of(tc)] == [("failed", "1"), ("passed", "2")]
    flaky = tc.find("flakyFailure")
    assert flaky is not None and "panicked" in flaky.get("message"), ET.tostring(tc, encoding="unicode")
    assert "stand-in failure of tests::flaky_network" in ET.tostring(flaky, encoding="unicode")

    # Failed on every run: the testcase's <failure> is nextest's first run, the <rerunFailure> its second.
    always = attempts_of(case_of(r, "mycrate tests::always_fails"))
    assert [a[1:] for a in always] == [("failed", "1"), ("failed", "2")], always
    assert always[0][0] == always[1][0], always
    # Passing tests of the batch ran once.
    assert len(attempts_of(case_of(r, "mycrate tests::adds"))) == 1


def test_only_a_flaky_test_exits_2(project):
    fixture = {"binaries": [{"binary-id": "mycrate", "tests": {
        "tests::adds": "pass", "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 1}}}]}
    setup_project(project, fixture=fixture, groups='[groups.all]\nretry_count = 1\n')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 2, r  # flaky
    assert r.outcomes() == {"mycrate tests::adds": "passed", FLAKY_ONCE: "flaky"}, r
    # No batch of its own for the retry: it ran inside the test's one batch.
    assert sum(1 for a in calls(project, "run") if "test(=tests::flaky_network)" in value(a, "-E")) == 1
    p = props_of(case_of(r, FLAKY_ONCE))
    assert p["offload.attempt.1.batch"] == p["offload.attempt.2.batch"], p
    assert p["offload.attempt.2.in_process_run"] == "2", p


def test_without_in_process_retries_the_retry_runs_in_another_batch(project):
    fixture = {"binaries": [{"binary-id": "mycrate", "tests": {
        "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 1}}}]}
    setup_project(project, fixture=fixture, groups='[groups.all]\nretry_count = 1\nin_process_retries = 0\n')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 2, r
    assert r.outcomes() == {FLAKY_ONCE: "flaky"}, r
    runs = calls(project, "run")
    assert len(runs) == 2 and all("--retries" not in a for a in runs), runs
    attempts = attempts_of(case_of(r, FLAKY_ONCE))
    assert [a[1:] for a in attempts] == [("failed", None), ("passed", None)], attempts
    assert attempts[0][0] != attempts[1][0], attempts


def test_retries_left_after_the_in_process_one_run_elsewhere(project):
    """retry_count = 2, in_process_retries = 1: two runs in the first batch
    (--retries 1), the third in another batch that gets the one left."""
    fixture = {"binaries": [{"binary-id": "mycrate", "tests": {
        "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 2}}}]}
    setup_project(project, fixture=fixture, groups='[groups.all]\nretry_count = 2\n')
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 2, r
    attempts = attempts_of(case_of(r, FLAKY_ONCE))
    assert [a[1] for a in attempts] == ["failed", "failed", "passed"], attempts
    assert attempts[0][0] == attempts[1][0] != attempts[2][0], attempts
    assert [a[2] for a in attempts[:2]] == ["1", "2"], attempts
    runs = calls(project, "run")
    assert len(runs) == 2 and value(runs[0], "--retries") == "1", runs


def test_a_users_own_nextest_retries_apply_only_where_offload_grants_none(project):
    """The repository's [profile.offload] retries = 3 (or NEXTEST_RETRIES) is
    overridden by --retries N in a batch granted in-process retries (the
    command line wins in nextest); with in_process_retries = 0 it applies and
    offload reports each test once, with its final outcome."""
    fixture = {"binaries": [{"binary-id": "mycrate", "tests": {
        "tests::flaky_network": {"outcome": "fail_then_pass", "failures": 2}}}]}
    setup_project(project, fixture=fixture, groups='[groups.all]\nretry_count = 1\nin_process_retries = 0\n')
    write(project / ".config" / "nextest.toml", "[profile.offload]\nretries = 3\n")
    r = run_offload("run", cwd=project, env=env())
    assert r.rc == 0, r  # nextest's own retries made it pass; offload saw one passing run
    assert r.outcomes() == {FLAKY_ONCE: "passed"}, r
    assert [a[1:] for a in attempts_of(case_of(r, FLAKY_ONCE))] == [("passed", None)]
    assert all("--retries" not in a for a in calls(project, "run"))

    (project / "nextest-state.json").unlink()
    (project / "nextest-argv.jsonl").unlink()
    setup_project(project, fixture=fixture, groups='[groups.all]\nretry_count = 1\n')
    r = run_offload("run", cwd=project, env=env())
    # --retries 1 beat the profile's 3: two runs in the batch, both failed, and
    # offload's retry_count is spent.
    assert r.rc == 1, r
    assert [a[1:] for a in attempts_of(case_of(r, FLAKY_ONCE))] == [("failed", "1"), ("failed", "2")], r
