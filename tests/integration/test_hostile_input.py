"""Hostile input: malformed and huge configs, environment values full of
quotes and newlines, discovery output with huge lines, NUL bytes and
duplicates, and result files that are truncated, empty, not XML or name tests
nobody discovered. Each case states its outcome: a clear error, or a report in
which every discovered test has an outcome and a cause. Never a crash
(negative return code), never a hang (every run has a timeout)."""
import os
from pathlib import Path

import pytest

from conftest import run_offload, write

TIMEOUT = 120

# A runner that copies a canned result file (canned.xml, written per test)
# to the batch's result path and records the IDs it was given, one per line,
# each as printf '%s' wrote it (so quotes and newlines arrive as data).
RUNNER = r'''#!/bin/sh
out=$1; shift
for id in "$@"; do printf '%s\0' "$id" >> seen.bin; done
printf '%s' "$HOSTILE_ENV" > env.bin
if [ -f canned.xml ]; then cp canned.xml "$out"; exit 0; fi
{
  echo '<testsuite name="runner">'
  for id in "$@"; do
    esc=$(printf '%s' "$id" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/"/\&quot;/g')
    echo "<testcase name=\"$esc\"/>"
  done
  echo '</testsuite>'
} > "$out"
'''

CONFIG = '''
[offload]
max_parallel = 2
test_timeout_secs = 30

[provider]
type = "local"
{provider_extra}

[framework]
type = "default"
discover_command = "cat ids.txt {{filters}}"
run_command = "./run.sh {{result_file}} {{tests}}"
result_file = "results.xml"
test_id_format = "{{name}}"

[groups.all]
retry_count = 0
{extra}
'''


@pytest.fixture
def proj(tmp_path):
    return tmp_path


def make(root: Path, ids: bytes, canned: bytes = None, extra="", provider_extra=""):
    write(root / "run.sh", RUNNER, mode=0o755)
    (root / "ids.txt").write_bytes(ids)
    if canned is not None:
        (root / "canned.xml").write_bytes(canned)
    (root / "offload.toml").write_text(CONFIG.format(extra=extra, provider_extra=provider_extra))


def seen(root: Path):
    p = root / "seen.bin"
    return p.read_bytes().split(b"\0")[:-1] if p.exists() else []


def assert_no_crash(r):
    assert r.rc >= 0, f"offload died of signal {-r.rc}\n{r}"
    assert r.rc not in (134, 139), r  # abort / segfault through a shell
    assert "AddressSanitizer" not in r.err and "runtime error:" not in r.err, r


def assert_every_test_reported(r, ids):
    """Every discovered test appears once in junit.xml with an outcome and a cause."""
    names = [tc.get("name") for tc in r.junit().iter("testcase")]
    assert sorted(names) == sorted(ids), (names, ids)
    causes = r.causes()
    for i, o in r.outcomes().items():
        assert o in {"passed", "failed", "flaky", "skipped", "not-run"}, (i, o)
        assert causes[i], (i, o)


# ---- configuration --------------------------------------------------------

@pytest.mark.parametrize("text, expect", [
    ("[offload\nmax_parallel = 2\n", "offload.toml:1"),
    ("[offload]\nmax_parallel = \"two\"\n", "max_parallel"),
    ("x = \"unterminated\n", "offload.toml:1"),
    ("\x00\x01\x02\xff\xfe", "offload.toml"),
    ("[framework]\ntype = \"default\"\ndiscover_command = \"${NOT_CLOSED\"\n", "unclosed ${"),
    ("a = " + "[" * 100000 + "]" * 100000 + "\n", "nested"),
], ids=["open-header", "wrong-type", "unterminated-string", "binary", "unclosed-env", "deep-nesting"])
def test_malformed_toml_is_a_clear_error(proj, text, expect):
    (proj / "offload.toml").write_bytes(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
    r = run_offload("validate", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc != 0, r
    assert expect in r.out + r.err, r


def test_huge_toml_10mb_is_handled(proj):
    """A 10 MB config (a huge string value under an unknown key, and 50,000
    unknown keys) loads with warnings, not a crash or a hang."""
    make(proj, b"t1\nt2\n")
    base = (proj / "offload.toml").read_text()
    big = base + '\n[junk]\n' + "".join(f"k{i} = {i}\n" for i in range(50000)) + \
        'huge = "' + "x" * 10_000_000 + '"\n'
    (proj / "offload.toml").write_text(big)
    r = run_offload("validate", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 0, r
    assert "unknown key 'junk'" in r.out + r.err, r


def test_huge_nested_env_defaults_are_refused_quickly(proj):
    """1 MB of nested ${X:-${X:-...}} used to recurse a million frames deep
    (hang, then stack overflow); nesting is capped at 32 levels."""
    make(proj, b"t1\n")
    text = (proj / "offload.toml").read_text().replace(
        'test_id_format = "{name}"',
        'test_id_format = "{name}"\nworking_dir = "' + "${NOPE_UNSET:-" * 150_000 + "x" + "}" * 150_000 + '"')
    (proj / "offload.toml").write_text(text)
    r = run_offload("validate", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc != 0, r
    assert "nested more than 32 levels" in r.out + r.err, r


def test_unknown_sections_warn_and_the_run_proceeds(proj):
    make(proj, b"t1\nt2\n", extra="\n[mystery]\nx = 1\n[groups.all.nested_unknown]\ny = 2\n")
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 0, r
    assert "unknown key 'mystery'" in r.out + r.err, r
    assert_every_test_reported(r, ["t1", "t2"])


def test_env_values_with_quotes_and_newlines_reach_the_runner_as_data(proj):
    hostile = "it's \"quoted\"\nsecond line $(touch pwned) `touch pwned2` ${HOME} \\ end"
    make(proj, b"t1\n", provider_extra='[provider.env]\nHOSTILE_ENV = "${HOSTILE}"\n')
    r = run_offload("run", cwd=proj, timeout=TIMEOUT, env={"HOSTILE": hostile})
    assert_no_crash(r)
    assert r.rc == 0, r
    assert (proj / "env.bin").read_bytes() == hostile.encode()
    assert not (proj / "pwned").exists() and not (proj / "pwned2").exists()


# ---- discovery ------------------------------------------------------------

def test_ids_full_of_shell_syntax_reach_the_runner_as_data(proj):
    ids = ["plain", "it's", 'dq"x', "$(touch pwned)", "`touch pwned2`", "a;b|c&d", "x{result_file}y",
           "sp  aces", "back\\slash", "glob*?[a]", "-n", "ünïcødé"]
    make(proj, ("\n".join(ids) + "\n").encode())
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert sorted(x.decode() for x in seen(proj)) == sorted(ids)
    assert not (proj / "pwned").exists() and not (proj / "pwned2").exists()
    assert r.rc == 0, r
    assert_every_test_reported(r, ids)
    assert set(r.outcomes().values()) == {"passed"}


def test_duplicate_ids_are_kept_once_with_a_warning(proj):
    make(proj, b"a\nb\na\n  a  \nb\n")
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 0, r
    assert "discovered twice" in r.out + r.err, r
    assert_every_test_reported(r, ["a", "b"])
    assert sorted(seen(proj)) == [b"a", b"b"]


def test_nul_bytes_in_discovery_output_are_a_discovery_error(proj):
    """IDs cross the plugin ABI as C strings: 'nul\\0one' and 'nul\\0two'
    used to become one test 'nul'. Now discovery fails and names the line."""
    make(proj, b"ok\nnul\x00one\nnul\x00two\n")
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc != 0, r
    assert "NUL byte on line 2" in r.out + r.err, r
    assert seen(proj) == []


def test_one_megabyte_id_line_is_reported_not_lost(proj):
    """A 1 MB ID cannot be passed to sh (one argument is capped at 128 KiB):
    the test ends not-run with a cause; the other tests still pass."""
    long_id = "L" * 1_000_000
    make(proj, b"short1\n" + long_id.encode() + b"\nshort2\n", extra="schedule_individual = true\n")
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 1, r
    assert_every_test_reported(r, ["short1", long_id, "short2"])
    out = r.outcomes()
    assert out[long_id] == "not-run", r
    assert "cannot be passed on a command line" in r.causes()[long_id], r.causes()[long_id]
    # It is refused up front, so no sandbox is lost on it and the rest pass.
    assert out["short1"] == "passed" and out["short2"] == "passed", out


def test_one_megabyte_of_ids_in_many_lines(proj):
    ids = [f"t{i:06d}_" + "x" * 90 for i in range(10000)]  # ~1 MB of discovery output
    make(proj, ("\n".join(ids) + "\n").encode())
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 0, r
    assert_every_test_reported(r, ids)


# ---- result files ---------------------------------------------------------

@pytest.mark.parametrize("name, canned", [
    ("truncated", b'<testsuite><testcase name="a"/><testcase name="b"><failure message="x"'),
    ("empty", b""),
    ("not-xml", b"Traceback (most recent call last):\n  oops\n\x00\xff"),
    ("json", b'{"tests": ["a", "b"]}'),
    ("no-testcases", b"<testsuite/>"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_unusable_result_files_leave_tests_not_run_with_a_cause(proj, name, canned):
    make(proj, b"a\nb\n", canned=canned)
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 1, r
    assert_every_test_reported(r, ["a", "b"])
    assert set(r.outcomes().values()) == {"not-run"}, r.outcomes()


def test_results_naming_tests_never_discovered_are_ignored_with_a_warning(proj):
    canned = (b'<testsuite><testcase name="a"/><testcase name="ghost"/>'
              b'<testcase name="b"><failure message="boom">tb</failure></testcase></testsuite>')
    make(proj, b"a\nb\n", canned=canned)
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 1, r
    assert_every_test_reported(r, ["a", "b"])
    assert r.outcomes() == {"a": "passed", "b": "failed"}
    assert "ghost" in r.out + r.err, r


def test_result_file_with_control_characters_and_huge_output(proj):
    big = b"y" * 3_000_000
    canned = (b'<testsuite><testcase name="a"><system-out>' + big + b'</system-out></testcase>'
              b'<testcase name="b"><failure message="&#1;ctl\x1b[31m">\x07bell</failure></testcase></testsuite>')
    make(proj, b"a\nb\n", canned=canned)
    r = run_offload("run", cwd=proj, timeout=TIMEOUT)
    assert_no_crash(r)
    assert r.rc == 1, r
    assert_every_test_reported(r, ["a", "b"])  # junit.xml parses: it is valid XML
    assert r.outcomes() == {"a": "passed", "b": "failed"}
