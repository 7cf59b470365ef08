"""Scheduling, parallel retries, flaky detection and history, end to end with
the real pytest (Debian's /usr/bin/python3) and the local provider.

Every test builds a small throwaway project and asserts on what a user can
observe: exit codes, junit.xml (offload.outcome/cause/attempt.N.*), the
--events stream, and timestamps/PIDs the tests themselves write to files."""
import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import PYTHON, pgroup_gone, process_gone, run_offload, write

COMMAND = f"{PYTHON} -m pytest"


def config(groups="[groups.all]\nretry_count = 0\n", parallel=3, offload_extra="", extra=""):
    return f"""
[offload]
max_parallel = {parallel}
{offload_extra}

[provider]
type = "local"

[framework]
type = "pytest"
command = "{COMMAND}"
paths = ["tests"]
run_args = "-p no:cacheprovider"

{groups}
{extra}
"""


def props(result, test_id):
    """The <properties> of one testcase as a dict."""
    for tc in result.junit().iter("testcase"):
        if tc.get("name") == test_id:
            return {p.get("name"): p.get("value") for p in tc.iter("property")}
    raise KeyError(test_id)


def case_of(result, test_id):
    return next(tc for tc in result.junit().iter("testcase") if tc.get("name") == test_id)


def attempts_of(p):
    """[(batch, sandbox, status), ...] from offload.attempt.K.* properties."""
    n = int(p["offload.attempts"])
    return [(int(p[f"offload.attempt.{k}.batch"]), p[f"offload.attempt.{k}.sandbox"], p[f"offload.attempt.{k}.status"])
            for k in range(1, n + 1)]


def events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_junit_valid(result):
    """Well-formed (ElementTree parses it) and, when xmllint exists, valid
    against the schema the project ships."""
    result.junit()
    if shutil.which("xmllint"):
        from conftest import FIXTURES
        p = subprocess.run(["xmllint", "--noout", "--schema", str(FIXTURES / "junit" / "junit.xsd"),
                            str(result.cwd / "test-results" / "junit.xml")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


STAMPING_TEST = """
    import json, os, time

    def test_always_fails():
        start = time.time()
        time.sleep(1.0)
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stamps.jsonl"), "a") as f:
            f.write(json.dumps({"start": start, "end": time.time(), "pid": os.getpid(),
                                "sandbox": os.environ.get("OFFLOAD_SANDBOX_INDEX")}) + "\\n")
        assert False, "always"
"""


def read_stamps(proj, name="stamps.jsonl"):
    """The stamps the tests wrote, by start time."""
    return sorted((json.loads(l) for l in (proj / name).read_text().splitlines()), key=lambda s: s["start"])


def test_retries_run_at_once_on_different_sandboxes(tmp_path):
    """retry_count = 2, no in-process retries: after the first failure both
    remaining attempts start together, on two different sandboxes (they
    overlap in time)."""
    proj = tmp_path
    write(proj / "offload.toml", config("[groups.all]\nretry_count = 2\nin_process_retries = 0\n", parallel=3))
    write(proj / "tests" / "test_retry.py", STAMPING_TEST)
    # Enough other work for the initial plan to use all 3 sandboxes.
    write(proj / "tests" / "test_others.py", """
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_ok(i):
            pass
    """)
    r = run_offload("run", "--events", "events.jsonl", cwd=proj)
    assert r.rc == 1, r
    tid = "tests/test_retry.py::test_always_fails"
    got = r.outcomes()
    assert got.pop(tid) == "failed", r
    assert set(got.values()) == {"passed"}, r
    p = props(r, tid)
    assert p["offload.cause"] == "failed on all 3 attempts", p
    attempts = attempts_of(p)
    assert [a[2] for a in attempts] == ["failed"] * 3, attempts
    # The two retries are separate batches on separate sandboxes.
    (b2, s2, _), (b3, s3, _) = attempts[1], attempts[2]
    assert b2 != b3 and s2 != s3, attempts

    stamps = read_stamps(proj)
    assert len(stamps) == 3, stamps
    first, retry_a, retry_b = stamps
    # Retries start only after the first attempt failed ...
    assert retry_a["start"] >= first["end"] and retry_b["start"] >= first["end"], stamps
    # ... and run at the same time: both started before either ended.
    assert max(retry_a["start"], retry_b["start"]) < min(retry_a["end"], retry_b["end"]), stamps
    assert retry_a["sandbox"] != retry_b["sandbox"] and retry_a["pid"] != retry_b["pid"], stamps

    evs = events(proj / "events.jsonl")
    attempts_ev = [e for e in evs if e["event"] == "attempt_finished" and e["id"] == tid]
    assert len(attempts_ev) == 3 and len({e["sandbox"] for e in attempts_ev[1:]}) == 2, attempts_ev


def test_retries_of_a_lone_test_still_run_in_parallel(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config("[groups.all]\nretry_count = 2\nin_process_retries = 0\n", parallel=3))
    write(proj / "tests" / "test_retry.py", STAMPING_TEST)
    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r
    assert r.outcomes() == {"tests/test_retry.py::test_always_fails": "failed"}, r
    stamps = read_stamps(proj)
    assert len(stamps) == 3, stamps
    _, retry_a, retry_b = stamps
    assert max(retry_a["start"], retry_b["start"]) < min(retry_a["end"], retry_b["end"]), stamps
    attempts = attempts_of(props(r, "tests/test_retry.py::test_always_fails"))
    assert attempts[1][1] != attempts[2][1], attempts


def test_first_retry_in_process_then_the_rest_in_parallel_elsewhere(tmp_path):
    """The default in_process_retries = 1 with retry_count = 3: the failing
    test runs again at once in the same pytest process (same PID, same
    batch), then the two attempts left start together on two other
    sandboxes. Four attempts in all, never more."""
    proj = tmp_path
    write(proj / "offload.toml", config("[groups.all]\nretry_count = 3\n", parallel=3))
    write(proj / "tests" / "test_retry.py", STAMPING_TEST)
    r = run_offload("run", "--events", "events.jsonl", cwd=proj)
    assert r.rc == 1, r
    tid = "tests/test_retry.py::test_always_fails"
    assert r.outcomes() == {tid: "failed"}, r
    p = props(r, tid)
    assert p["offload.cause"] == "failed on all 4 attempts", p
    attempts = attempts_of(p)
    assert [a[2] for a in attempts] == ["failed"] * 4, attempts
    assert attempts[0][:2] == attempts[1][:2], attempts              # one batch, one sandbox
    assert (p["offload.attempt.1.in_process_run"], p["offload.attempt.2.in_process_run"]) == ("1", "2"), p
    assert "offload.attempt.3.in_process_run" not in p and attempts[2][1] != attempts[3][1], attempts
    tc = case_of(r, tid)
    assert len(tc.findall("rerunFailure")) == 3 and tc.find("failure") is not None, ET.tostring(tc, encoding="unicode")

    stamps = read_stamps(proj)
    assert len(stamps) == 4, stamps
    first, second, retry_a, retry_b = stamps
    assert first["pid"] == second["pid"] and second["start"] >= first["end"], stamps
    assert min(retry_a["start"], retry_b["start"]) >= second["end"], stamps
    assert max(retry_a["start"], retry_b["start"]) < min(retry_a["end"], retry_b["end"]), stamps
    assert len({first["pid"], retry_a["pid"], retry_b["pid"]}) == 3, stamps
    runs = [e.get("in_process_run") for e in events(proj / "events.jsonl")
            if e["event"] == "attempt_finished" and e["id"] == tid]
    assert runs == [1, 2, None, None], runs


def test_pass_after_fail_is_flaky_exit_2(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config("[groups.all]\nretry_count = 1\n", parallel=2))
    write(proj / "tests" / "test_flaky.py", """
        import os
        import pytest

        MARKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "flaky.marker")

        def test_flaky_once():
            if not os.path.exists(MARKER):
                open(MARKER, "w").close()
                raise RuntimeError("first attempt fails")

        @pytest.mark.parametrize("i", range(3))
        def test_steady(i):
            pass
    """)
    r = run_offload("run", "--events", "events.jsonl", cwd=proj)
    assert r.rc == 2, r
    tid = "tests/test_flaky.py::test_flaky_once"
    got = r.outcomes()
    assert got.pop(tid) == "flaky", r
    assert set(got.values()) == {"passed"} and len(got) == 3, r
    p = props(r, tid)
    assert p["offload.cause"] == "passed on attempt 2 after 1 failure(s)", p
    attempts = attempts_of(p)
    assert [a[2] for a in attempts] == ["failed", "passed"], p
    # The retry ran at once inside the same pytest process (in_process_retries = 1 by default).
    assert attempts[0][0] == attempts[1][0] and p["offload.attempt.2.in_process_run"] == "2", p
    tc = case_of(r, tid)
    assert tc.find("flakyFailure") is not None and tc.find("failure") is None, ET.tostring(tc, encoding="unicode")
    assert "first attempt fails" in tc.find("flakyFailure").get("message")
    assert "FLAKY" in r.out and tid in r.out, r
    end = events(proj / "events.jsonl")[-1]
    assert (end["event"], end["flaky"], end["passed"], end["failed"], end["exit_code"]) == ("run_finished", 1, 3, 0, 2)


# --- fail-fast ---------------------------------------------------------------

FAIL_FAST_SLEEP = 60


@pytest.fixture(scope="module")
def fail_fast_run(tmp_path_factory):
    """Two failing tests and four 60 s tests over 3 sandboxes. With no history
    the plan is round-robin over the discovery order (test_a_fail.py first),
    so two batches start with a failing test and one holds only slow tests:
    that one is running when the first failure decides the run."""
    proj = tmp_path_factory.mktemp("failfast")
    write(proj / "offload.toml", config(parallel=3))
    # The failures come after a pause, so the slow batch is surely inside its
    # first test (PID recorded) when the run is stopped.
    write(proj / "tests" / "test_a_fail.py", """
        import time

        def test_fail_a():
            time.sleep(1.0)
            assert False, "fail a"

        def test_fail_b():
            time.sleep(1.0)
            assert False, "fail b"
    """)
    write(proj / "tests" / "test_b_slow.py", f"""
        import os, time
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_slow(i):
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pids.txt"), "a") as f:
                f.write(f"{{os.getpid()}} {{os.getpgid(0)}}\\n")
            time.sleep({FAIL_FAST_SLEEP})
    """)
    t0 = time.monotonic()
    r = run_offload("run", "--fail-fast", "--events", "events.jsonl", cwd=proj, timeout=FAIL_FAST_SLEEP * 3)
    return r, time.monotonic() - t0


FAIL_FAST_IDS = {"tests/test_a_fail.py::test_fail_a", "tests/test_a_fail.py::test_fail_b",
                 *(f"tests/test_b_slow.py::test_slow[{i}]" for i in range(4))}


def test_fail_fast_stops_early_and_kills_running_batches(fail_fast_run):
    r, wall = fail_fast_run
    assert r.rc == 1, r
    assert wall < FAIL_FAST_SLEEP / 3, (wall, r)
    # The slow batch was running: its pytest process (and group) is gone.
    pids = [tuple(map(int, l.split())) for l in (r.cwd / "pids.txt").read_text().splitlines()]
    assert pids, "no slow test started: the run never had a batch to cancel"
    for pid, pgid in pids:
        assert process_gone(pid), f"pytest process {pid} of a cancelled batch still runs"
        assert pgroup_gone(pgid), f"process group {pgid} of a cancelled batch still has members"
    # Every test is in the report: one failure, the rest not run; nothing passed.
    assert_junit_valid(r)
    got = r.outcomes()
    assert set(got) == FAIL_FAST_IDS, got
    assert "failed" in got.values(), got
    assert all(v in ("failed", "not-run") for v in got.values()), got
    assert all(got[f"tests/test_b_slow.py::test_slow[{i}]"] == "not-run" for i in range(4)), got
    root = r.junit()
    assert int(root.get("tests")) == 6
    assert int(root.get("failures")) + int(root.get("errors")) == 6, root.attrib
    for tc in root.iter("testcase"):
        if props(r, tc.get("name"))["offload.outcome"] == "not-run":
            assert tc.find("error").get("type") == "offload.NotRun"
    # Batches that were stopped are logged as such.
    logs = sorted(p.name for p in (r.cwd / "test-results" / "logs").iterdir())
    assert any(n.endswith(".cancelled") for n in logs), logs
    evs = events(r.cwd / "events.jsonl")
    assert [e["exit_code"] for e in evs if e["event"] == "run_finished"] == [1]


def test_fail_fast_not_run_causes_name_fail_fast(fail_fast_run):
    r, _ = fail_fast_run
    causes = r.causes()
    not_run = {k: v for k, v in causes.items() if r.outcomes()[k] == "not-run"}
    assert not_run
    for tid, cause in not_run.items():
        assert "fail-fast" in cause, (tid, cause)


# --- timeouts and crashes -----------------------------------------------------

def test_hanging_test_times_out_alone_and_the_others_pass(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config(parallel=2, offload_extra="test_timeout_secs = 4"))
    write(proj / "tests" / "test_hang.py", """
        import os, time
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_before(i):
            pass

        def test_hangs():
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hang.pid"), "a") as f:
                f.write(f"{os.getpid()}\\n")
            time.sleep(600)

        @pytest.mark.parametrize("i", range(3))
        def test_after(i):
            pass
    """)
    t0 = time.monotonic()
    r = run_offload("run", "--events", "events.jsonl", cwd=proj, timeout=120)
    wall = time.monotonic() - t0
    assert r.rc == 1, r
    assert wall < 40, (wall, r)
    hang = "tests/test_hang.py::test_hangs"
    got = r.outcomes()
    assert got.pop(hang) == "failed", r
    assert len(got) == 6 and set(got.values()) == {"passed"}, r
    failure = case_of(r, hang).find("failure")
    assert failure is not None and "timed out" in failure.get("message"), ET.tostring(case_of(r, hang), encoding="unicode")
    for pid in (int(l) for l in (proj / "hang.pid").read_text().split()):
        assert process_gone(pid), f"the hanging pytest {pid} still runs"
    # The tests that shared the hanging batch but came after it were not
    # reached; they were run again and passed there.
    hang_batch = attempts_of(props(r, hang))[0][0]
    rerun = []
    for tid in got:
        att = attempts_of(props(r, tid))
        if att[0][0] == hang_batch and len(att) > 1:
            rerun.append(tid)
            assert att[0][2] == "not-run" and att[-1][2] == "passed", (tid, att)
            assert att[-1][0] != hang_batch
            assert "timed out" in props(r, tid)["offload.attempt.1.cause"]
    assert rerun, "no test shared the hanging batch after the hanging test"


def test_killed_interpreter_blames_the_killer_and_the_others_pass(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config(parallel=2))
    write(proj / "tests" / "test_kill.py", """
        import os
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_before(i):
            pass

        def test_kills_interpreter():
            os.kill(os.getpid(), 9)

        @pytest.mark.parametrize("i", range(3))
        def test_after(i):
            pass
    """)
    r = run_offload("run", "--events", "events.jsonl", cwd=proj)
    assert r.rc == 1, r
    killer = "tests/test_kill.py::test_kills_interpreter"
    got = r.outcomes()
    assert got.pop(killer) == "failed", r
    assert len(got) == 6 and set(got.values()) == {"passed"}, r
    failure = case_of(r, killer).find("failure")
    assert failure is not None, ET.tostring(case_of(r, killer), encoding="unicode")
    assert "signal 9" in failure.get("message"), failure.attrib
    assert failure.get("type") == "offload.Crash", failure.attrib
    ev = [e for e in events(proj / "events.jsonl") if e["event"] == "attempt_finished" and e["id"] == killer]
    assert ev and "signal 9" in ev[-1]["message"], ev


# --- history drives the plan --------------------------------------------------

LONG = (0, 2)  # with 2 sandboxes, round-robin puts both in the same batch


def first_wave(evs):
    """{test id: batch} of each test's first attempt, and the batch_started counts."""
    batch_of = {}
    for e in evs:
        if e["event"] == "attempt_finished":
            batch_of.setdefault(e["id"], e["batch"])
    counts = {e["batch"]: e["tests"] for e in evs if e["event"] == "batch_started"}
    return batch_of, counts


def test_history_spreads_the_long_tests(tmp_path):
    """A skewed suite: two 0.4 s tests among 0.01 s ones. Without history
    (and without a previous junit.xml) every test weighs the same and the
    plan is a round-robin that puts all long tests in one batch. The history
    estimate needs 5 samples per test (the original's rule), so after five
    recorded runs the sixth plan puts each long test in its own batch of the
    first wave."""
    proj = tmp_path
    write(proj / "offload.toml", config(parallel=2, extra="""
        [history]
        record_history = "always"
        path = "hist/offload-history.jsonl"
    """.replace("        ", "")))
    write(proj / "tests" / "test_skew.py", f"""
        import time
        import pytest

        @pytest.mark.parametrize("i", range(10))
        def test_mix(i):
            time.sleep(0.4 if i in {LONG!r} else 0.01)
    """)
    long_ids = [f"tests/test_skew.py::test_mix[{i}]" for i in LONG]
    plans = []
    for run in range(6):
        # Only history may inform the plan: drop the previous report's durations.
        (proj / "test-results" / "junit.xml").unlink(missing_ok=True)
        ev_file = proj / f"events-{run}.jsonl"
        r = run_offload("run", "--events", str(ev_file), cwd=proj)
        assert r.rc == 0, r
        plans.append(first_wave(events(ev_file)))

    batch_of, counts = plans[0]
    assert len(counts) == 2 and sum(counts.values()) == 10, counts
    assert len({batch_of[t] for t in long_ids}) == 1, "without history the long tests share a batch"
    # Four samples are not enough yet: the plan is unchanged.
    assert plans[4][0] == plans[0][0], "the plan changed before the history had 5 samples per test"

    batch_of, counts = plans[5]
    assert plans[5][0] != plans[0][0]
    long_batches = [batch_of[t] for t in long_ids]
    assert len(set(long_batches)) == 2, f"long tests not spread: {long_batches}"
    # Heaviest first: the long tests' batches are the first two to start.
    assert set(long_batches) == {0, 1}, long_batches
    assert sum(counts.values()) == 10, counts

    hist = [json.loads(l) for l in (proj / "hist" / "offload-history.jsonl").read_text().splitlines()]
    assert len(hist) == 10
    assert all(h["v"]["n"] == 6 and h["v"]["f"] == 0 for h in hist), hist[0]
    long_rec = next(h for h in hist if h["k"][1] == long_ids[0])
    assert min(s[2] for s in long_rec["v"]["ok"]) >= 0.35, long_rec


# --- groups -------------------------------------------------------------------

def test_groups_with_different_retry_policies(tmp_path):
    proj = tmp_path
    write(proj / "offload.toml", config("""
        [groups.retried]
        retry_count = 2
        filters = "-m retried"

        [groups.strict]
        retry_count = 0
        filters = "-m 'not retried'"
    """.replace("        ", ""), parallel=3))
    write(proj / "pytest.ini", """
        [pytest]
        markers =
            retried: runs in the group with retries
    """)
    write(proj / "tests" / "test_groups.py", """
        import os
        import pytest

        HERE = os.path.dirname(os.path.abspath(__file__))

        def fail_once(name):
            marker = os.path.join(HERE, "..", name + ".marker")
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("first attempt of " + name)

        @pytest.mark.retried
        def test_flaky_retried():
            fail_once("retried")

        @pytest.mark.retried
        def test_always_retried():
            assert False, "always"

        def test_flaky_strict():
            fail_once("strict")

        def test_ok_strict():
            pass
    """)
    r = run_offload("run", cwd=proj)
    assert r.rc == 1, r
    base = "tests/test_groups.py::"
    assert r.outcomes() == {base + "test_flaky_retried": "flaky", base + "test_always_retried": "failed",
                            base + "test_flaky_strict": "failed", base + "test_ok_strict": "passed"}, r
    assert props(r, base + "test_always_retried")["offload.attempts"] == "3"
    assert props(r, base + "test_always_retried")["offload.cause"] == "failed on all 3 attempts"
    # A pass among the parallel retries decides it; a redundant copy may be recorded too.
    assert int(props(r, base + "test_flaky_retried")["offload.attempts"]) >= 2
    assert props(r, base + "test_flaky_strict")["offload.attempts"] == "1"
    assert props(r, base + "test_flaky_strict")["offload.cause"] == "failed"
    suites = [(s.get("name"), s.get("tests")) for s in r.junit().iter("testsuite")]
    assert suites == [("retried", "2"), ("strict", "2")], suites
    assert {tc.get("classname") for tc in r.junit().iter("testcase") if "retried" in tc.get("name")} == {"retried"}


FLAKY_PER_RUN = """
    import json, os, time
    import pytest

    HERE = os.path.dirname(os.path.abspath(__file__))

    def test_flaky_each_run():
        start = time.time()
        marker = os.path.join(HERE, "..", "markers", os.environ["RUN_ID"])
        first = not os.path.exists(marker)
        open(marker, "a").close()
        time.sleep(2.0)
        with open(os.path.join(HERE, "..", "stamps-" + os.environ["RUN_ID"]), "a") as f:
            f.write(json.dumps({"start": start, "end": time.time(), "pid": os.getpid()}) + "\\n")
        assert not first, "fails on the first attempt of each run"

    @pytest.mark.parametrize("i", range(4))
    def test_steady(i):
        time.sleep(0.05)
"""


def test_history_flaky_test_retries_in_process_instead_of_a_pretry(tmp_path):
    """History says test_flaky_each_run fails now and then. With a framework
    that retries in-process (pytest), its retry runs right after the failure
    in the same process, and no extra attempt is started up front. With
    in_process_retries = 0 it gets a pretry: a second copy on another sandbox
    that starts before the first attempt has failed (the pretry queues behind
    the first wave; the steady tests' batch is done long before the 2 s
    flaky test)."""
    proj = tmp_path
    hist = '[history]\nrecord_history = "always"\npath = "offload-history.jsonl"\n'
    tid = "tests/test_flaky.py::test_flaky_each_run"
    (proj / "markers").mkdir()
    write(proj / "tests" / "test_flaky.py", FLAKY_PER_RUN)

    def run(run_id, group_extra=""):
        write(proj / "offload.toml", config(f"[groups.all]\nretry_count = 1\n{group_extra}", parallel=3, extra=hist))
        r = run_offload("run", cwd=proj, env={"RUN_ID": run_id})
        assert r.rc in (0, 2), r
        return r, read_stamps(proj, "stamps-" + run_id)

    (proj / "markers" / "warm2").touch()              # passes at once in the second warm-up run
    assert run("warm1")[0].outcomes()[tid] == "flaky"
    assert run("warm2")[0].outcomes()[tid] == "passed"

    r, stamps = run("in-process")
    attempts = attempts_of(props(r, tid))
    assert [a[2] for a in attempts] == ["failed", "passed"], attempts
    assert attempts[0][0] == attempts[1][0], attempts                  # one batch
    assert len(stamps) == 2 and stamps[0]["pid"] == stamps[1]["pid"], stamps
    assert stamps[1]["start"] >= stamps[0]["end"], stamps

    r, stamps = run("pretry", "in_process_retries = 0\n")
    attempts = attempts_of(props(r, tid))
    assert len(attempts) == 2 and attempts[0][0] != attempts[1][0], attempts
    assert len(stamps) == 2 and stamps[0]["pid"] != stamps[1]["pid"], stamps
    assert stamps[1]["start"] < stamps[0]["end"], stamps              # started up front, not after the failure

