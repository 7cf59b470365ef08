"""Reports of one real pytest run (fixture tests/fixtures/pytest_reports)
that ends with every outcome: passed, failed (after a retry), flaky, skipped,
not-run (a test pytest never reports inside the sandbox) and a collection
error that only happens in the sandbox. The junit.xml, the printed summary,
`offload logs`, the --events stream and the --trace file must all tell the
same story."""
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import FIXTURES, run_offload

FIXTURE = FIXTURES / "pytest_reports"

PASS = "tests/test_main.py::test_pass"
FAIL = "tests/test_main.py::test_fail"
FLAKY = "tests/test_main.py::test_flaky"
SKIP = "tests/test_main.py::test_skipped"
GONE = "tests/test_main.py::test_vanishes_in_sandbox"
BROKEN = ["tests/test_sandbox_broken.py::test_broken_a", "tests/test_sandbox_broken.py::test_broken_b"]

EXPECTED = {PASS: "passed", FAIL: "failed", FLAKY: "flaky", SKIP: "skipped", GONE: "not-run",
            BROKEN[0]: "failed", BROKEN[1]: "failed"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    proj = tmp_path_factory.mktemp("reports") / "proj"
    shutil.copytree(FIXTURE, proj)
    r = run_offload("run", "--events", "events.jsonl", "--trace", cwd=proj)
    assert r.rc == 1, r
    return r


def cases(r):
    return {tc.get("name"): tc for tc in r.junit().iter("testcase")}


def props(tc):
    return {p.get("name"): p.get("value") for p in tc.iter("property")}


def events(r):
    return [json.loads(l) for l in (r.cwd / "events.jsonl").read_text().splitlines()]


def test_every_outcome_is_reported(run):
    assert run.outcomes() == EXPECTED, run
    c = cases(run)
    gone = c[GONE]
    err = gone.find("error")
    assert err is not None and err.get("type") == "offload.NotRun", ET.tostring(gone, encoding="unicode")
    assert err.get("message").startswith("not run: no result for this test"), err.attrib
    assert props(gone)["offload.cause"] in err.get("message")
    for b in BROKEN:
        f = c[b].find("failure")
        assert f is not None and f.get("type") == "CollectionError", ET.tostring(c[b], encoding="unicode")
        assert "ImportError: this module cannot be imported inside a sandbox" in f.text
    assert c[SKIP].find("skipped").get("message") == "not today"
    assert "hello from test_pass" in c[PASS].find("system-out").text


def test_junit_validates_against_the_schema(run):
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is not installed (Debian package libxml2-utils)")
    p = subprocess.run(["xmllint", "--noout", "--schema", str(FIXTURES / "junit" / "junit.xsd"),
                        str(run.cwd / "test-results" / "junit.xml")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def summary_counts(out):
    counts = {}
    for key in ("Total", "Passed", "Failed", "Skipped", "Not Run", "Flaky"):
        m = re.search(rf"^{key}:\s+(\d+)$", out, re.M)
        counts[key] = int(m.group(1)) if m else 0
    return counts


def test_testsuites_counts_agree_with_the_printed_summary(run):
    root = run.junit()
    s = summary_counts(run.out)
    outcomes = list(run.outcomes().values())
    assert s["Total"] == int(root.get("tests")) == len(outcomes) == 7, (s, root.attrib)
    assert s["Failed"] == int(root.get("failures")) == outcomes.count("failed") == 3, (s, root.attrib)
    assert s["Not Run"] == int(root.get("errors")) == outcomes.count("not-run") == 1, (s, root.attrib)
    assert s["Skipped"] == int(root.get("skipped")) == outcomes.count("skipped") == 1, (s, root.attrib)
    assert s["Flaky"] == outcomes.count("flaky") == 1, s
    # The printed "Passed" counts flaky tests too (they passed in the end).
    assert s["Passed"] == outcomes.count("passed") + outcomes.count("flaky") == 2, s
    # Each suite's counts add up to the totals.
    suites = list(root.iter("testsuite"))
    assert [x.get("name") for x in suites] == ["main", "broken"]
    for attr in ("tests", "failures", "errors", "skipped"):
        assert sum(int(x.get(attr)) for x in suites) == int(root.get(attr)), attr


def test_flaky_and_rerun_failures(run):
    c = cases(run)
    flaky = c[FLAKY]
    assert [e.tag for e in flaky if e.tag.endswith("Failure") or e.tag == "failure"] == ["flakyFailure"]
    ff = flaky.find("flakyFailure")
    assert "first attempt fails" in ff.get("message") and "RuntimeError" in ff.find("stackTrace").text
    assert props(flaky)["offload.cause"] == "passed on attempt 2 after 1 failure(s)"

    failed = c[FAIL]
    assert failed.find("failure") is not None and failed.find("flakyFailure") is None
    reruns = failed.findall("rerunFailure")
    assert len(reruns) == 1, ET.tostring(failed, encoding="unicode")
    assert "the answer is wrong" in reruns[0].get("message")
    assert props(failed)["offload.attempts"] == "2"
    assert props(failed)["offload.cause"] == "failed on all 2 attempts"
    for tid in (PASS, SKIP, *BROKEN, GONE):
        assert c[tid].find("flakyFailure") is None and c[tid].find("rerunFailure") is None, tid


def test_logs_failures_shows_the_traceback(run):
    r = run_offload("logs", "--failures", cwd=run.cwd)
    assert r.rc == 0, r
    assert f"=== {FAIL} [FAILED] ===" in r.out, r.out
    # pytest's own traceback text of the failing assertion.
    assert ">       assert answer == 42, \"the answer is wrong\"" in r.out, r.out
    assert "E       AssertionError: the answer is wrong" in r.out, r.out
    assert "tests/test_main.py:14: AssertionError" in r.out, r.out
    assert "ImportError: this module cannot be imported inside a sandbox" in r.out, r.out
    assert f"=== {PASS} " not in r.out and f"=== {SKIP} " not in r.out, r.out

    r = run_offload("logs", "--test", PASS, cwd=run.cwd)
    assert r.rc == 0 and f"=== {PASS} [PASSED] ===" in r.out and "hello from test_pass" in r.out, r


def test_event_stream_matches_the_report(run):
    evs = events(run)
    assert evs[0]["event"] == "run_started" and evs[-1]["event"] == "run_finished"
    finished = {e["id"]: e for e in evs if e["event"] == "test_finished"}
    assert {k: v["outcome"] for k, v in finished.items()} == run.outcomes()
    c = cases(run)
    for tid, e in finished.items():
        p = props(c[tid])
        assert e["cause"] == p["offload.cause"], tid
        assert e["attempts"] == int(p["offload.attempts"]), tid
    # Every attempt in the report is an attempt_finished event, same batch, sandbox and status.
    from_events = sorted((e["id"], e["batch"], e["sandbox"], e["status"]) for e in evs if e["event"] == "attempt_finished")
    from_junit = []
    for tid, tc in c.items():
        p = props(tc)
        for k in range(1, int(p["offload.attempts"]) + 1):
            from_junit.append((tid, int(p[f"offload.attempt.{k}.batch"]), p[f"offload.attempt.{k}.sandbox"],
                               p[f"offload.attempt.{k}.status"]))
    assert from_events == sorted(from_junit)
    end = evs[-1]
    outcomes = list(run.outcomes().values())
    assert (end["total"], end["passed"], end["failed"], end["flaky"], end["skipped"], end["not_run"], end["exit_code"]) == \
        (7, outcomes.count("passed"), 3, 1, 1, 1, 1), end
    # Batches: every start has a finish, and the logs/ files carry those outcomes.
    started = {e["batch"] for e in evs if e["event"] == "batch_started"}
    ended = {e["batch"]: e["outcome"] for e in evs if e["event"] == "batch_finished"}
    assert started == set(ended) == set(range(len(started)))
    logs = {p.name for p in (run.cwd / "test-results" / "logs").iterdir()}
    for b, outcome in ended.items():
        assert f"batch-{b}.stdout.{outcome}" in logs and f"batch-{b}.stderr.{outcome}" in logs, (b, outcome, logs)


def test_trace_has_one_process_per_sandbox(run):
    trace = json.loads((run.cwd / "test-results" / "trace.json").read_text())
    assert isinstance(trace, list) and trace
    for e in trace:
        assert {"ph", "pid", "tid", "name"} <= set(e), e
        if e["ph"] != "M":  # metadata events carry no timestamp in the Chrome trace format
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        if e["ph"] == "X":
            assert e["dur"] >= 0, e
    evs = events(run)
    sandboxes = sorted({e["sandbox"] for e in evs if e["event"] == "batch_started"})
    processes = {e["pid"]: e["args"]["name"] for e in trace if e["ph"] == "M" and e["name"] == "process_name"}
    assert processes.pop(0) == "Offload (Local)", processes
    assert sorted(processes.values()) == [f"Sandbox {s}" for s in sandboxes], (processes, sandboxes)
    assert len(processes) == len(set(processes.values()))  # no sandbox split over two pids
    # Each batch is one exec_batch span, on the pid of the sandbox that ran it.
    pid_of = {name[len("Sandbox "):]: pid for pid, name in processes.items()}
    spans = {e["args"]["batch"]: e for e in trace if e["name"] == "exec_batch"}
    starts = {e["batch"]: e for e in evs if e["event"] == "batch_started"}
    assert set(spans) == set(starts)
    for b, span in spans.items():
        assert span["pid"] == pid_of[starts[b]["sandbox"]], (b, span)
        assert span["args"]["tests"] == starts[b]["tests"], (b, span)
    local = {e["name"] for e in trace if e["pid"] == 0 and e["ph"] == "X"}
    assert {"plugin_loading", "discovery:main", "discovery:broken", "scheduling", "result_aggregation"} <= local, local
