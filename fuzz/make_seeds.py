#!/usr/bin/env python3
"""Regenerates the seed corpus (fuzz/corpus/<target>/) from the project's
real recorded outputs: tests/fixtures/junit, tests/fixtures/configs, the
plugins' tests/data and the history unit tests' sample file. Multi-field
inputs join their fields with "\\n@@@@\\n" (see fuzz_util.hpp)."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
SEP = b"\n@@@@\n"
VITEST_RECORDED_ROOT = b"/work/main/tests/fixtures/vitest"  # where the vitest data was recorded


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def rd(p):
    return Path(p).read_bytes()


def main():
    junit = ROOT / "tests/fixtures/junit"
    for p in sorted(junit.iterdir()):
        if p.suffix in (".xml", ".txt") and "source" not in p.name:
            put("junit", p.name, rd(p))
            put("nextest_results", p.name, b"{classname} {name}" + SEP + rd(p))
            put("default_framework", p.name,
                b"0 0" + SEP + b"{classname}::{name}" + SEP + b"tests.a::test_one\ntests.b::test_two\n" + SEP + rd(p))
    put("nextest_results", "batch.xml", b"{classname} {name}" + SEP + rd(ROOT / "plugins/nextest/tests/data/junit-batch.xml"))
    # nextest's recorded runs; the format's length % 3 is the --retries (19: 1, 20: 2).
    retries = rd(ROOT / "plugins/nextest/tests/data/junit-retries.xml")
    put("nextest_results", "retries-1.xml", b"{classname}::{name}" + SEP + retries)
    put("nextest_results", "retries-2.xml", b"{classname} - {name}" + SEP + retries)

    for p in sorted((ROOT / "tests/fixtures/configs").iterdir()):
        put("config", p.name, rd(p))
    put("config", "env-refs.toml", b'[offload]\nmax_parallel = 2\n[provider]\ntype = "local"\n'
        b'[provider.env]\nQ = "${FUZZ_Q}"\nNL = "${FUZZ_NL:-x}"\nD = "$${FUZZ_DOLLAR}"\n'
        b'[framework]\ntype = "default"\ndiscover_command = "echo ${FUZZ_UNSET:-a}"\nrun_command = "run {tests}"\n'
        b'result_file = "r.xml"\ntest_id_format = "{name}"\n[groups.all]\nretry_count = 1\n')

    for s in [b"plain", b"${FUZZ_Q}", b"${FUZZ_NL:-default}", b"${FUZZ_UNSET:-${FUZZ_Q}}", b"$$HOME $HOME ${",
              b"${FUZZ_DOLLAR}", b"${1BAD}", b"${}", b"a$"]:
        put("env_expand", s.hex()[:16] or "empty", s)

    hist = (b'{"k":["offload.toml","tests/a.py::test_a"],"v":{"n":47,"f":3,"last_run":"aKx7",'
            b'"ok":[["aKx7",1712000000000,2.1],["Z9pQ",1711990000000,2.0]],"fail":[["Z9pQ",1711998000000,2.3]]}}\n'
            b'{"k":["offload.toml","tests/b.py::test_b"],"v":{"n":1,"f":0,"last_run":"aKx7",'
            b'"ok":[["aKx7",1712000000000,0.001]],"fail":[]}}\n'
            b'{"k":["other.toml","x"],"v":{"n":2,"f":0,"last_run":"q","ok":[["q",5,1e-07]],"fail":[]}}\n')
    put("history", "original.jsonl", hist)

    for s in [b"", b"plain", b"it's", b"a b\tc\nd", b"$(rm -rf /)`x`", b"\\'\"", b"\xff\xfe\x00", b"a\x1fb\x1f", b"-n"]:
        put("shell_quote", s.hex()[:16] or "empty", s)

    pd = ROOT / "plugins/pytest/tests/data"
    for stem in ["discover_collect_error", "discover_fixture", "discover_none", "discover_usage_error"]:
        put("pytest_discovery", stem, rd(pd / f"{stem}.exit").strip() + b" 0" + SEP + rd(pd / f"{stem}.stdout")
            + SEP + rd(pd / f"{stem}.stderr"))
    for stem in ["results_collect_error", "results_fail_fast", "results_fixture", "results_killed", "results_reruns",
                 "results_rerun_fail_fast", "results_rerun_killed", "results_rerun_xdist", "results_rerun_users_reruns"]:
        code = rd(pd / f"{stem}.exit").strip()
        sig = b"9" if b"killed" in stem.encode() else b"0"
        ids = "\n".join(json.loads(rd(pd / f"{stem}.ids.json"))).encode()
        put("pytest_results", stem, code + b" " + sig + b" 0" + SEP + ids + SEP + rd(pd / f"{stem}.results.jsonl"))

    vd = ROOT / "plugins/vitest/tests/data"
    fix = lambda b: b.replace(VITEST_RECORDED_ROOT, b"/proj")
    put("vitest_list", "list", b"0 0 0" + SEP + fix(rd(vd / "list.json")) + SEP)
    put("vitest_list", "duplicates", b"0 0 0" + SEP + fix(rd(vd / "list-duplicates.json")) + SEP)
    put("vitest_list", "syntax-error", b"1 0 0" + SEP + fix(rd(vd / "list-syntax-error.stdout")) + SEP
        + fix(rd(vd / "list-syntax-error.stderr")))
    ids = rd(vd / "batch-ids.txt")
    for p in sorted(vd.glob("results-*.json")):
        put("vitest_results", p.stem, b"0" + SEP + ids + SEP + fix(rd(p)))

    nd = ROOT / "plugins/nextest/tests/data"
    for p in sorted(nd.glob("list-*.json")):
        put("nextest_list", p.stem, rd(p))

    put("default_framework", "listing", b"0 0" + SEP + b"{name}" + SEP
        + b"t_pass\n  spaced id  \n# comment\nwin\r\nquote's\n$(x)\n\n" + SEP
        + b'<testsuite><testcase name="t_pass"/><testcase name="quote\'s"><failure message="m"/></testcase></testsuite>')


if __name__ == "__main__":
    main()
