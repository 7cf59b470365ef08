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
    assert len(runs) >= 2  # first pass + retries of the failures
    for argv in runs:
        assert "--no-fail-fast" in argv and "--fail-fast" not in argv
        assert value(argv, "--profile") == "offload"
        tool, _, path = value(argv, "--tool-config-file").partition(":")
        assert tool == "offload" and os.path.isabs(path)
        assert value(argv, "-p") == "mycrate"
        assert value(argv, "--features") == "tls,net"
        assert value(argv, "--run-ignored") == "all"
    # The failing test was retried: it is selected, by exact matchers, in two run calls.
    selecting_failure = [a for a in runs if "test(=tests::always_fails)" in value(a, "-E")]
    assert len(selecting_failure) == 2, runs
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
