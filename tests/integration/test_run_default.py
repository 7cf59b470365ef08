"""End-to-end runs of the real offload binary with the local provider and the
default framework (a shell-script test runner that writes JUnit XML)."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import OFFLOAD, run_offload, write, pgroup_alive, pgroup_gone, pgroup_members, process_gone

# A tiny test runner: each "test" is a line in tests.txt: ID<TAB>behaviour.
# Behaviours: pass, fail, hang, crash (kill the runner), flaky (fail once),
# missing (report nothing), slow (sleep 0.5 then pass), pid (record the pgid).
RUNNER = r'''#!/bin/sh
out=$1; shift
tmp="$out.part"
echo '<testsuite name="runner">' > "$tmp"
for id in "$@"; do
  b=$(awk -F '\t' -v id="$id" '$1 == id {print $2}' tests.txt)
  esc=$(printf '%s' "$id" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/"/\&quot;/g')
  case "$b" in
    pass) echo "<testcase name=\"$esc\" time=\"0.01\"/>" >> "$tmp";;
    slow) sleep 0.5; echo "<testcase name=\"$esc\" time=\"0.5\"/>" >> "$tmp";;
    fail) echo "<testcase name=\"$esc\"><failure message=\"expected 1 got 2\">Traceback: boom</failure></testcase>" >> "$tmp";;
    flaky)
      f="state/$(printf '%s' "$id" | md5sum | cut -c1-8)"
      if [ -e "$f" ]; then echo "<testcase name=\"$esc\"/>" >> "$tmp";
      else mkdir -p state; touch "$f"; echo "<testcase name=\"$esc\"><failure message=\"flaky\"/></testcase>" >> "$tmp"; fi;;
    hang) echo "$$" > hang.pid; sleep 300;;
    crash) kill -9 $$;;
    pid) ps -o pgid= $$ | tr -d ' ' >> pgids.txt; sleep 300;;
    missing) ;;
    artifact) mkdir -p out; echo "from $id" > "out/$id.txt"; echo "<testcase name=\"$esc\"/>" >> "$tmp";;
    artifail) mkdir -p out; echo "from $id" > "out/$id.txt"; echo "<testcase name=\"$esc\"><failure message=\"x\"/></testcase>" >> "$tmp";;
    *) echo "unknown test $id" >&2; exit 3;;
  esac
done
echo '</testsuite>' >> "$tmp"
mv "$tmp" "$out"
'''


def make_project(root: Path, tests: dict, retry=0, parallel=2, timeout=30, extra_groups="", individual=False,
                 result_file=True, max_parallel=None):
    write(root / "run.sh", RUNNER, mode=0o755)
    (root / "tests.txt").write_text("".join(f"{k}\t{v}\n" for k, v in tests.items()))
    # Discovery prints the IDs (one per line) from tests.txt.
    cfg = f'''
[offload]
max_parallel = {max_parallel or parallel}
test_timeout_secs = {timeout}

[provider]
type = "local"

[framework]
type = "default"
discover_command = "cut -f1 tests.txt {{filters}}"
run_command = "./run.sh {{result_file}} {{tests}}"
{'result_file = "results.xml"' if result_file else ''}
test_id_format = "{{name}}"

[groups.all]
retry_count = {retry}
schedule_individual = {str(individual).lower()}
{extra_groups}
'''
    write(root / "offload.toml", cfg)


def test_pass_and_fail_exit_codes_and_report(project):
    make_project(project, {"t_pass_1": "pass", "t_pass_2": "pass", "t_fail": "fail"})
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    assert r.outcomes() == {"t_pass_1": "passed", "t_pass_2": "passed", "t_fail": "failed"}
    assert "FAILED  t_fail" in r.out
    assert "Some tests failed." in r.out
    root = r.junit()
    assert root.get("tests") == "3" and root.get("failures") == "1"
    logs = sorted(p.name for p in (project / "test-results" / "logs").iterdir())
    assert any(n.endswith(".failure") for n in logs), logs
    assert all(n.split(".")[-1] in {"success", "failure", "error", "cancelled"} for n in logs)

    make_project(project, {"a": "pass", "b": "pass"})
    r = run_offload("run", cwd=project)
    assert r.rc == 0, r
    assert "All tests passed!" in r.out


def test_missing_result_is_not_run_with_reason(project):
    make_project(project, {"ok": "pass", "ghost": "missing"})
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    assert r.outcomes() == {"ok": "passed", "ghost": "not-run"}
    cause = r.causes()["ghost"]
    assert "no result for this test" in cause, cause
    assert "NOT RUN ghost" in r.out


def test_flaky_test_passes_on_retry_exit_2(project):
    make_project(project, {"steady": "pass", "wobbly": "flaky"}, retry=2)
    r = run_offload("run", cwd=project)
    assert r.rc == 2, r
    assert r.outcomes() == {"steady": "passed", "wobbly": "flaky"}
    tc = [t for t in r.junit().iter("testcase") if t.get("name") == "wobbly"][0]
    assert tc.find("flakyFailure") is not None


def test_timeout_of_single_test_is_identified(project):
    make_project(project, {"quick": "pass", "stuck": "hang"}, timeout=2, individual=True)
    start = time.time()
    r = run_offload("run", cwd=project)
    assert time.time() - start < 30
    assert r.rc == 1, r
    out = r.outcomes()
    assert out["quick"] == "passed"
    assert out["stuck"] == "failed"
    tc = [t for t in r.junit().iter("testcase") if t.get("name") == "stuck"][0]
    assert "timed out" in tc.find("failure").get("message")
    pid = int((project / "hang.pid").read_text())
    assert process_gone(pid)


def test_hang_in_shared_batch_reruns_the_others(project):
    tests = {f"p{i}": "pass" for i in range(6)}
    tests["stuck"] = "hang"
    make_project(project, tests, timeout=3, parallel=1)
    r = run_offload("run", cwd=project, timeout=120)
    assert r.rc == 1, r
    out = r.outcomes()
    # Tests that never got to report in the timed-out batch were run again.
    assert all(out[f"p{i}"] == "passed" for i in range(6)), out
    assert out["stuck"] in ("failed", "not-run")
    assert "timed out" in r.causes()["stuck"] or "timed out" in str(r.junit().iter("failure").__next__().get("message"))


def test_crash_of_batch_keeps_every_test_accounted(project):
    make_project(project, {"a": "pass", "b": "crash", "c": "pass"}, parallel=1)
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    out = r.outcomes()
    assert out["a"] == "passed" and out["c"] == "passed", out
    # Alone in a batch after the rerun, the crashing test is identified.
    assert out["b"] == "failed", r.causes()
    tc = [t for t in r.junit().iter("testcase") if t.get("name") == "b"][0]
    assert "signal 9" in tc.find("failure").get("message")


def test_ids_with_shell_metacharacters_are_data(project):
    hostile = ["with space", "it's quoted", "$(touch pwned)", "`touch pwned2`", 'dq"x', "semi;colon|pipe&amp", "*"]
    make_project(project, {h: "pass" for h in hostile} | {"plain": "fail"})
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    assert not (project / "pwned").exists() and not (project / "pwned2").exists()
    out = r.outcomes()
    for h in hostile:
        assert out[h] == "passed", (h, out)
    assert out["plain"] == "failed"


def test_exit_code_fallback_without_result_file(project):
    make_project(project, {"a": "pass", "b": "pass"}, result_file=False)
    write(project / "run.sh", "#!/bin/sh\nexit 0\n", mode=0o755)
    r = run_offload("run", cwd=project)
    assert r.rc == 0, r
    assert set(r.outcomes().values()) == {"passed"}
    write(project / "run.sh", "#!/bin/sh\nexit 1\n", mode=0o755)
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    assert set(r.outcomes().values()) == {"failed"}


def test_groups_filters_and_collect_json(project):
    make_project(project, {"a1": "pass", "a2": "pass", "b1": "pass"},
                 extra_groups='[groups.bee]\nretry_count = 3\nfilters = "| grep ^b"\n')
    # group "all" lists everything; "bee" lists b1 again: it stays in the first group only.
    r = run_offload("collect", "-f", "json", cwd=project)
    assert r.rc == 0, r
    items = json.loads(r.out)
    assert [(i["id"], i["group"]) for i in items] == [("a1", "all"), ("a2", "all"), ("b1", "all"), ("b1", "bee")]
    assert items[3]["retry_count"] == 3
    r = run_offload("run", cwd=project)
    assert r.rc == 0, r
    assert "is in groups 'all' and 'bee'" in r.out
    assert len(r.outcomes()) == 3


def test_discovery_failure_is_reported(project):
    make_project(project, {"a": "pass"})
    cfg = (project / "offload.toml").read_text().replace("cut -f1 tests.txt {filters}",
                                                         "echo oops >&2; exit 4 {filters}")
    (project / "offload.toml").write_text(cfg)
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    assert "discover" in r.err and "exit code 4" in r.err and "oops" in r.err


def test_malformed_config_names_file_and_line(project):
    write(project / "offload.toml", '[offload]\nmax_parallel = "many"\n[provider]\ntype = "local"\n')
    r = run_offload("validate", cwd=project)
    assert r.rc == 1
    assert "offload.toml:2" in r.err and "max_parallel" in r.err
    write(project / "offload.toml", '[offload\nmax_parallel = 3\n')
    r = run_offload("run", cwd=project)
    assert r.rc == 1
    assert "offload.toml:1" in r.err


def test_unknown_key_is_a_warning(project):
    make_project(project, {"a": "pass"})
    with open(project / "offload.toml", "a") as f:
        f.write("\n[report]\nbogus_key = 1\n")
    r = run_offload("validate", cwd=project)
    assert r.rc == 0, r
    assert "bogus_key" in r.err
    assert "Configuration is valid!" in r.out


def test_init_writes_configs_that_validate(project):
    for fw in ["pytest", "nextest", "vitest", "default"]:
        for prov in ["local", "default"]:
            d = project / f"{fw}-{prov}"
            d.mkdir()
            r = run_offload("init", "-p", prov, "-f", fw, cwd=d)
            assert r.rc == 0, r
            r = run_offload("validate", cwd=d)
            assert r.rc == 0, (fw, prov, r)
            assert "warning" not in r.err, r
    r = run_offload("init", cwd=project / "pytest-local")
    assert r.rc == 1 and "already exists" in r.err


def test_ctrl_c_kills_every_child_and_writes_partial_report(project):
    tests = {f"p{i}": "pass" for i in range(3)}
    tests.update({f"h{i}": "pid" for i in range(3)})
    make_project(project, tests, parallel=3, timeout=300, individual=True)
    env = dict(os.environ, CI="true")
    proc = subprocess.Popen([OFFLOAD, "run"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        pg = project / "pgids.txt"
        if pg.exists() and len(pg.read_text().split()) >= 3:
            break
        time.sleep(0.1)
    pgids = [int(x) for x in (project / "pgids.txt").read_text().split()]
    assert pgids and all(pgroup_alive(p) for p in pgids)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert all(pgroup_gone(p) for p in pgids), [pgroup_members(p) for p in pgids]
    import xml.etree.ElementTree as ET
    root = ET.parse(project / "test-results" / "junit.xml").getroot()
    outcomes = {t.get("name"): {p.get("name"): p.get("value") for p in t.iter("property")}["offload.outcome"]
                for t in root.iter("testcase")}
    assert len(outcomes) == 6
    assert all(outcomes[f"h{i}"] == "not-run" for i in range(3))


def test_trace_written(project):
    make_project(project, {"a": "pass", "b": "pass"})
    r = run_offload("run", "--trace", cwd=project)
    assert r.rc == 0, r
    events = json.loads((project / "test-results" / "trace.json").read_text())
    names = {e["name"] for e in events}
    assert {"exec_batch", "scheduling", "process_name"} <= names
    for e in events:
        assert e["ph"] in ("X", "M") and "pid" in e and "tid" in e


def test_record_history_without_section_is_an_error(project):
    make_project(project, {"a": "pass"})
    r = run_offload("run", "--record-history", cwd=project)
    assert r.rc == 1 and "[history]" in r.err


def test_artifacts_are_collected_per_batch_without_leaks(project):
    make_project(project, {"art1": "artifact", "art2": "artifact", "art3": "artifail", "plain": "pass"},
                 parallel=1, individual=True)
    with open(project / "offload.toml", "a") as f:
        f.write('\n[report]\ndownload_globs = ["out/*.txt"]\n')
    r = run_offload("run", cwd=project)
    assert r.rc == 1, r
    art = project / "test-results" / "artifacts"
    found = {}
    for batch in art.iterdir():
        for p in batch.rglob("*.txt"):
            found.setdefault(p.name, []).append(batch.name)
    # Each file comes back once, with the batch that wrote it (one sandbox ran them all in turn).
    assert sorted(found) == ["art1.txt", "art2.txt", "art3.txt"], found
    assert all(len(v) == 1 for v in found.values()), found

    # failure_only: only the failing batch's files.
    import shutil
    shutil.rmtree(project / "out")
    cfg = (project / "offload.toml").read_text().replace('download_globs = ["out/*.txt"]',
                                                          'download_globs = ["out/*.txt"]\ndownload_globs_failure_only = true')
    (project / "offload.toml").write_text(cfg)
    r = run_offload("run", cwd=project)
    files = sorted(p.name for p in (project / "test-results" / "artifacts").rglob("*.txt"))
    assert files == ["art3.txt"], files


def test_ctrl_c_during_discovery_leaves_nothing_running(project):
    make_project(project, {"a": "pass"})
    cfg = (project / "offload.toml").read_text().replace(
        "cut -f1 tests.txt {filters}", "ps -o pgid= $$$$ | tr -d ' ' > disc.pgid; sleep 300 {filters}")
    (project / "offload.toml").write_text(cfg)
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        (project / "disc.pgid").unlink(missing_ok=True)
        proc = subprocess.Popen([OFFLOAD, "run"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while time.time() < deadline and not ((project / "disc.pgid").exists()
                                               and (project / "disc.pgid").read_text().strip()):
            time.sleep(0.05)
        pgid = int((project / "disc.pgid").read_text())
        assert pgroup_members(pgid)
        start = time.time()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == code, (out, err)
        assert time.time() - start < 5
        assert pgroup_gone(pgid), pgroup_members(pgid)
