"""What a run leaves for people and tools: the event stream, the live
terminal display, CI lines, cost, and `offload logs`."""
import json
import os
import subprocess

from conftest import OFFLOAD, run_offload
from test_run_default import make_project

TESTS = {"a_pass": "pass", "b_fail": "fail", "c_flaky": "flaky", "d_missing": "missing", "e_pass": "pass"}


def test_event_stream_schema(project):
    make_project(project, TESTS, retry=1)
    r = run_offload("run", "--events", "events.jsonl", cwd=project)
    assert r.rc == 1, r
    lines = [json.loads(l) for l in (project / "events.jsonl").read_text().splitlines()]
    assert all(l["v"] == 1 and "event" in l and "t" in l for l in lines)
    kinds = [l["event"] for l in lines]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("test_discovered") == 5
    assert kinds.count("test_finished") == 5
    assert kinds.count("batch_started") == kinds.count("batch_finished") >= 2
    finished = {l["id"]: l for l in lines if l["event"] == "test_finished"}
    assert finished["c_flaky"]["outcome"] == "flaky" and finished["c_flaky"]["attempts"] == 2
    assert finished["d_missing"]["outcome"] == "not-run" and "no result" in finished["d_missing"]["cause"]
    attempts = [l for l in lines if l["event"] == "attempt_finished"]
    assert {a["status"] for a in attempts} >= {"passed", "failed", "not-run"}
    end = lines[-1]
    assert (end["total"], end["passed"], end["failed"], end["flaky"], end["not_run"], end["exit_code"]) == (5, 2, 1, 1, 1, 1)
    ts = [l["t"] for l in lines]
    assert ts == sorted(ts)


def test_events_to_stdout(project):
    make_project(project, {"a": "pass"})
    r = run_offload("run", "--events", "-", cwd=project)
    assert r.rc == 0
    assert any(l.startswith('{"v":1,"event":"run_finished"') for l in r.out.splitlines())


def test_ci_mode_has_no_escape_codes(project):
    make_project(project, TESTS, retry=1)
    r = run_offload("run", "--ci", cwd=project)
    assert "\x1b" not in r.out and "\r" not in r.out
    assert "[ci] 100% | passed: 2, failed: 1, flaky: 1, awaiting: 0" in r.out
    assert "FAILED  b_fail" in r.out and "FLAKY   c_flaky" in r.out and "NOT RUN d_missing" in r.out


def test_live_display_on_a_pseudo_terminal(project):
    make_project(project, TESTS, retry=1)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TERM"] = "xterm"
    # script(1) gives offload a real pseudo-terminal as stdout.
    p = subprocess.run(["script", "-qec", f"{OFFLOAD} run", "/dev/null"], cwd=project, env=env, capture_output=True,
                       timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 1, out
    assert "\r\x1b[K" in out                      # the status line is redrawn in place
    assert "[5/5]" in out
    assert "running" in out
    assert "FAILED  b_fail" in out
    assert "[ci]" not in out
    assert "Some tests failed." in out


def test_estimated_cost(project):
    make_project(project, {"a": "pass"})
    r = run_offload("run", "--show-estimated-cost", cwd=project,
                    env={"OFFLOAD_COST_PER_CORE_SECOND": "1.0"})
    assert r.rc == 0
    line = [l for l in r.out.splitlines() if l.startswith("Estimated cost: $")]
    assert line, r.out
    assert "CPU-seconds" in line[0]


def test_logs_reads_the_last_report(project):
    make_project(project, TESTS, retry=1)
    r = run_offload("logs", cwd=project)
    assert r.rc == 1 and "No test results found" in r.err
    run_offload("run", cwd=project)
    r = run_offload("logs", "--failures", cwd=project)
    assert r.rc == 0, r
    assert "=== b_fail [FAILED] ===" in r.out
    assert "Traceback: boom" in r.out
    assert "a_pass" not in r.out
    r = run_offload("logs", "--test", "a_pass", cwd=project)
    assert "=== a_pass [PASSED] ===" in r.out and "b_fail" not in r.out
    r = run_offload("logs", "--errors", cwd=project)
    assert "d_missing" in r.out
    r = run_offload("logs", "--test-regex", "pass", cwd=project)
    assert "a_pass" in r.out and "e_pass" in r.out and "b_fail" not in r.out
