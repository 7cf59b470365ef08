"""The vitest framework plugin, end to end: the real `offload` binary runs the
real vitest (tests/fixtures/vitest, installed from npm by scripts/setup.sh) on
copies of the fixture project."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_offload, write

FIXTURE = FIXTURES / "vitest"
VITEST = FIXTURE / "node_modules" / ".bin" / "vitest"

# it.skip / it.todo / describe.skip tests: vitest's `list` leaves them out, so
# offload never discovers them (documented in docs/frameworks/vitest.md).
STATICALLY_SKIPPED = {
    "src/math.test.ts > math > skipped case",
    "src/math.test.ts > math > todo case",
    "src/lifecycle.test.ts > lifecycle > skipped suite > inside a skipped suite",
}


@pytest.fixture
def vitest_installed():
    if not VITEST.exists():
        pytest.fail(f"vitest is not installed in {FIXTURE} (no {VITEST}): run scripts/setup.sh, "
                    "which runs `npm install` there", pytrace=False)


def copy_fixture(dest: Path) -> Path:
    """A copy of the fixture project sharing the installed node_modules."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURE / "src", dest / "src")
    shutil.copy(FIXTURE / "package.json", dest / "package.json")
    (dest / "node_modules").symlink_to(FIXTURE / "node_modules", target_is_directory=True)
    return dest


def write_config(project: Path, *, max_parallel=3, filters="", run_args=None, provider_dir=None, retry_count=0,
                 in_process_retries=None):
    provider = 'type = "local"\n'
    if provider_dir is not None:
        provider += f'working_dir = "{provider_dir}"\n'
    framework = 'type = "vitest"\ncommand = "node_modules/.bin/vitest"\n'
    if run_args is not None:
        framework += f'run_args = "{run_args}"\n'
    group = f'retry_count = {retry_count}\nfilters = "{filters}"\n'
    if in_process_retries is not None:
        group += f"in_process_retries = {in_process_retries}\n"
    (project / "offload.toml").write_text(
        f"[offload]\nmax_parallel = {max_parallel}\ntest_timeout_secs = 120\n\n"
        f"[provider]\n{provider}\n[framework]\n{framework}\n"
        f"[groups.all]\n{group}\n"
        '[report]\noutput_dir = "test-results"\n')


def vitest_outcomes(project: Path, *args) -> dict:
    """Per-test outcomes from vitest itself (JSON reporter), keyed like offload's IDs."""
    out = project / "direct.json"
    subprocess.run([str(VITEST), "run", "--reporter=json", f"--outputFile={out}", *args], cwd=project,
                   capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    outcomes = {}
    for f in report["testResults"]:
        rel = str(Path(f["name"]).relative_to(project.resolve()))
        for a in f["assertionResults"]:
            test_id = " > ".join([rel, *a["ancestorTitles"], a["title"]])
            assert test_id not in outcomes, f"fixture has a duplicate test: {test_id}"
            outcomes[test_id] = {"passed": "passed", "failed": "failed"}.get(a["status"], "skipped")
    return outcomes


def test_offload_reports_what_vitest_reports(vitest_installed, tmp_path):
    project = copy_fixture(tmp_path / "project")
    write_config(project)
    direct = vitest_outcomes(project)
    assert {t: direct[t] for t in STATICALLY_SKIPPED} == {t: "skipped" for t in STATICALLY_SKIPPED}

    r = run_offload("run", cwd=project)
    assert r.rc == 1, r  # the fixture has failing tests
    got = r.outcomes()
    expected = {t: o for t, o in direct.items() if t not in STATICALLY_SKIPPED}
    assert got == expected, r
    assert len(got) == 25
    # Names full of regex metacharacters ran exactly, and same-named tests in
    # two files are two tests.
    for name in ["a+b (c)?", "[x]", "costs $5", "^caret", "left|right", "dot.name", "a > b", "it's \"quoted\"",
                 "back\\slash {2,3} *"]:
        assert got[f"src/strings.test.ts > regex names > {name}"] == "passed"
    assert got["src/math.test.ts > shared name"] == got["src/strings.test.ts > shared name"] == "passed"
    assert got["src/lifecycle.test.ts > lifecycle > skips itself at run time"] == "skipped"
    # Several batches ran in parallel, and a failure kept vitest's message.
    assert len(list((project / "test-results" / "logs").glob("batch-*.stdout.*"))) > 1
    failure = next(tc for tc in r.junit().iter("testcase")
                   if tc.get("name") == "src/math.test.ts > math > multiplies wrongly").find("failure")
    assert failure.get("message") == "AssertionError: expected 4 to be 5 // Object.is equality"


def test_sandbox_root_differs_from_local_project(vitest_installed, tmp_path):
    """The sandbox's project dir (provider working_dir) is not the local cwd:
    result paths are made relative to the sandbox root (the original stripped
    the local cwd and lost every test)."""
    local = copy_fixture(tmp_path / "local")
    sandbox = copy_fixture(tmp_path / "sandbox-root")
    write_config(local, provider_dir=sandbox)
    r = run_offload("run", cwd=local)
    assert r.rc == 1, r
    got = r.outcomes()
    expected = {t: o for t, o in vitest_outcomes(sandbox).items() if t not in STATICALLY_SKIPPED}
    assert got == expected, r
    assert "not-run" not in got.values()


def test_duplicate_ids_fail_before_anything_runs(vitest_installed, tmp_path):
    project = copy_fixture(tmp_path / "project")
    marker = tmp_path / "ran"
    write(project / "src" / "dup.test.ts", f"""
        import {{ writeFileSync }} from 'node:fs'
        import {{ describe, expect, it }} from 'vitest'

        describe('cart', () => {{
          it('same', () => {{ writeFileSync({json.dumps(str(marker))}, 'x'); expect(1).toBe(1) }})
          it('same', () => expect(2).toBe(2))
        }})
        """)
    write_config(project)
    r = run_offload("run", cwd=project)
    assert r.rc != 0, r
    assert "duplicate vitest test ID" in r.err, r
    assert "'src/dup.test.ts > cart > same'" in r.err, r
    assert "first at src/dup.test.ts:5, again at src/dup.test.ts:6" in r.err, r
    assert "Rename" in r.err, r
    assert "shared name" not in r.err, r  # one name in two files is not a duplicate
    assert not marker.exists(), "a test ran although discovery failed"
    assert not (project / "test-results" / "junit.xml").exists()


def test_fail_fast_stops_vitest_inside_the_batch(vitest_installed, tmp_path):
    project = copy_fixture(tmp_path / "project")
    # One file, one sandbox, one batch: vitest runs math.test.ts in order and
    # must stop at "multiplies wrongly" (--bail 1).
    write_config(project, max_parallel=1, filters="src/math.test.ts")
    r = run_offload("run", "--fail-fast", cwd=project)
    assert r.rc == 1, r
    got = r.outcomes()
    assert len(got) == 9, r
    logs = sorted(p.name for p in (project / "test-results" / "logs").glob("batch-*.stdout.*"))
    assert len(logs) == 1 and logs[0].startswith("batch-0."), logs
    assert got["src/math.test.ts > math > adds"] == "passed"
    assert got["src/math.test.ts > math > multiplies wrongly"] == "failed"
    assert got["src/math.test.ts > math > nested > inc 1 -> 2"] == "not-run", r
    assert got["src/math.test.ts > adds up"] == "not-run", r


def test_group_filter_selects_a_subset(vitest_installed, tmp_path):
    project = copy_fixture(tmp_path / "project")
    write_config(project, filters="src/strings")
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    got = r.outcomes()
    assert got == vitest_outcomes(project, "src/strings"), r
    assert len(got) == 13
    assert all(t.startswith("src/strings.test.ts > ") for t in got)


def test_a_file_failing_at_import_fails_each_of_its_tests(vitest_installed, tmp_path):
    project = copy_fixture(tmp_path / "project")
    # run_args reach only the batch runs, so discovery still lists the file's tests.
    write_config(project, run_args="--mode broken", filters="src/lifecycle.test.ts src/math.test.ts")
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    got = r.outcomes()
    lifecycle = {t: o for t, o in got.items() if t.startswith("src/lifecycle.test.ts")}
    assert len(lifecycle) == 3, r
    assert set(lifecycle.values()) == {"failed"}, r
    for tc in r.junit().iter("testcase"):
        if tc.get("name").startswith("src/lifecycle.test.ts"):
            props = {p.get("name"): p.get("value") for p in tc.iter("property")}
            assert props["offload.attempt.1.status"] == "error", tc.get("name")
            failure = tc.find("failure")
            assert failure.get("message") == "lifecycle.test.ts is broken on purpose (mode=broken)"
            assert "src/lifecycle.test.ts failed before this test could run" in failure.text
    assert got["src/math.test.ts > math > adds"] == "passed"


def flaky_project(tmp_path: Path) -> Path:
    """The fixture plus src/flaky.test.ts: `fails once` fails on its first run
    (marker file), recording each run's vitest worker PID; `steady` passes."""
    project = copy_fixture(tmp_path / "project")
    runs = tmp_path / "runs"
    write(project / "src" / "flaky.test.ts", f"""
        import {{ appendFileSync, existsSync, readFileSync }} from 'node:fs'
        import {{ describe, expect, it }} from 'vitest'

        const RUNS = {json.dumps(str(runs))}

        describe('flaky', () => {{
          it('fails once', () => {{
            const first = !existsSync(RUNS)
            appendFileSync(RUNS, `${{process.pid}}\\n`)
            if (first) throw new Error('first run fails')
          }})
          it('steady', () => expect(1).toBe(1))
        }})
        """)
    return project


def attempts_of(tc) -> list:
    """[(batch, status, in_process_run or None), ...] from a testcase's offload.attempt.K.* properties."""
    p = {x.get("name"): x.get("value") for x in tc.iter("property")}
    return [(int(p[f"offload.attempt.{k}.batch"]), p[f"offload.attempt.{k}.status"],
             p.get(f"offload.attempt.{k}.in_process_run")) for k in range(1, int(p["offload.attempts"]) + 1)]


def case_of(result, test_id):
    return next(tc for tc in result.junit().iter("testcase") if tc.get("name") == test_id)


FLAKY = "src/flaky.test.ts > flaky > fails once"


def test_a_failed_test_is_retried_inside_its_vitest_batch(vitest_installed, tmp_path):
    """retry_count = 1 and the default in_process_retries = 1: the batch runs
    vitest with --retry=1, vitest reruns the failed test at once in the same
    worker, and offload reports both runs as attempts of that batch."""
    project = flaky_project(tmp_path)
    write_config(project, filters="src/flaky.test.ts", retry_count=1)
    r = run_offload("run", cwd=project)
    assert r.rc == 2, r  # flaky
    assert r.outcomes() == {FLAKY: "flaky", "src/flaky.test.ts > flaky > steady": "passed"}, r
    tc = case_of(r, FLAKY)
    attempts = attempts_of(tc)
    assert [a[1:] for a in attempts] == [("failed", "1"), ("passed", "2")], attempts
    assert attempts[0][0] == attempts[1][0], attempts  # one batch
    pids = (tmp_path / "runs").read_text().split()
    assert len(pids) == 2 and pids[0] == pids[1], pids  # one vitest worker
    assert "first run fails" in tc.find("flakyFailure").get("message")
    # vitest's own log says it retried the test.
    log = next((project / "test-results" / "logs").glob(f"batch-{attempts[0][0]}.stdout.*"))
    assert "(retry x1)" in log.read_text(), log


def test_without_in_process_retries_the_retry_runs_in_another_batch(vitest_installed, tmp_path):
    project = flaky_project(tmp_path)
    write_config(project, filters="src/flaky.test.ts", retry_count=1, in_process_retries=0)
    r = run_offload("run", cwd=project)
    assert r.rc == 2, r
    assert r.outcomes()[FLAKY] == "flaky", r
    attempts = attempts_of(case_of(r, FLAKY))
    assert [a[1:] for a in attempts] == [("failed", None), ("passed", None)], attempts
    assert attempts[0][0] != attempts[1][0], attempts
    pids = (tmp_path / "runs").read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1], pids  # two vitest processes


def test_retries_left_after_the_in_process_one_run_elsewhere(vitest_installed, tmp_path):
    """retry_count = 2, in_process_retries = 1: two runs in the first batch's
    vitest (--retry=1), the third in another batch; never more."""
    project = copy_fixture(tmp_path / "project")
    write_config(project, filters="src/math.test.ts", retry_count=2)
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    tid = "src/math.test.ts > math > multiplies wrongly"
    assert r.outcomes()[tid] == "failed", r
    attempts = attempts_of(case_of(r, tid))
    assert [a[1:] for a in attempts] == [("failed", "1"), ("failed", "2"), ("failed", None)], attempts
    assert attempts[0][0] == attempts[1][0] != attempts[2][0], attempts
    # Passing tests of the same batch ran once.
    assert len(attempts_of(case_of(r, "src/math.test.ts > math > adds"))) == 1


def test_a_users_own_retry_in_run_args_is_left_alone(vitest_installed, tmp_path):
    """run_args already hold --retry: offload adds none (the two would merge),
    warns once, and reports each test once with its last outcome."""
    project = flaky_project(tmp_path)
    write_config(project, filters="src/flaky.test.ts", retry_count=1, run_args="--retry=1")
    r = run_offload("run", cwd=project)
    assert r.rc == 0, r  # vitest's own retry made it pass; offload saw one passing run
    assert r.outcomes()[FLAKY] == "passed", r
    assert [a[1:] for a in attempts_of(case_of(r, FLAKY))] == [("passed", None)]
    assert r.err.count("run_args hold their own --retry") == 1, r
    assert len((tmp_path / "runs").read_text().split()) == 2
