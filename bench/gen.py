#!/usr/bin/python3
"""Generate the benchmark suites into a directory.

    /usr/bin/python3 bench/gen.py OUT_DIR

creates one project per suite under OUT_DIR:

  heavy/     200 sleep-bound pytest tests, skewed durations (a few 2-4 s tests,
             most 0.05-0.5 s, a band of 0.5-1.5 s); total work about 1.7x
             16 x the longest test, so parallel 16 matters.
  light/     2,000 tiny pytest tests in 20 files.
  flaky/     100 sleep-bound pytest tests (0.1-1.0 s); 10 of them fail their
             first attempt: each keeps a marker file in $BENCH_FLAKY_STATE
             (a fresh directory per run) and passes once it exists.
  stable/    the same 100 tests with no flaky ones (the baseline of flaky/).
  synthetic/ default-framework suite: ids.py prints N IDs, runner.py writes
             JUnit for the IDs it is given and sleeps $BENCH_SLEEP seconds.

Everything is deterministic (fixed seeds). Each project gets suite.json with
the known durations (the lower bound is computed from it).
"""
import json
import os
import random
import sys


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def heavy_durations():
    rng = random.Random(1)
    d = [2.0, 2.5, 3.0, 4.0]  # the long tests
    for i in range(196):
        if i % 10 < 7:
            d.append(round(rng.uniform(0.05, 0.5), 3))  # the many short tests
        else:
            d.append(round(rng.uniform(0.5, 1.5), 3))  # a medium band
    rng.shuffle(d)  # the long tests anywhere in the file order
    return d


def sleep_suite(root, durations, per_file, flaky=()):
    """Tests test_NNN that sleep their duration; those in `flaky` fail once."""
    flaky = set(flaky)
    nfiles = (len(durations) + per_file - 1) // per_file
    for f in range(nfiles):
        lines = ["import os, time\n\n",
                 "STATE = os.environ.get('BENCH_FLAKY_STATE', '')\n\n\n",
                 "def first_attempt(name):\n",
                 "    if not STATE:\n",
                 "        raise RuntimeError('BENCH_FLAKY_STATE is not set')\n",
                 "    marker = os.path.join(STATE, name)\n",
                 "    if os.path.exists(marker):\n",
                 "        return False\n",
                 "    open(marker, 'w').close()\n",
                 "    return True\n\n"]
        for i in range(f * per_file, min(len(durations), (f + 1) * per_file)):
            lines.append(f"\ndef test_{i:03d}():\n    time.sleep({durations[i]})\n")
            if i in flaky:
                lines.append(f"    assert not first_attempt('f{f}_t{i}'), 'flaky: first attempt fails'\n")
        write(os.path.join(root, f"tests/test_f{f:02d}.py"), "".join(lines))
    write(os.path.join(root, "tests/__init__.py"), "")
    write(os.path.join(root, "pytest.ini"), "[pytest]\naddopts = -p no:cacheprovider\n")
    meta = {"tests": len(durations), "total_secs": round(sum(durations), 3),
            "longest_secs": max(durations), "flaky": sorted(flaky)}
    write(os.path.join(root, "suite.json"), json.dumps(meta, indent=1) + "\n")


def light_suite(root, n=2000, per_file=100):
    for f in range(n // per_file):
        body = ["\n"]
        for i in range(per_file):
            body.append(f"def test_{i:03d}():\n    assert {i} + 1 == {i + 1}\n\n")
        write(os.path.join(root, f"tests/test_l{f:02d}.py"), "".join(body))
    write(os.path.join(root, "tests/__init__.py"), "")
    write(os.path.join(root, "pytest.ini"), "[pytest]\naddopts = -p no:cacheprovider\n")
    write(os.path.join(root, "suite.json"), json.dumps({"tests": n, "total_secs": 0, "longest_secs": 0}) + "\n")


IDS_PY = r'''#!/usr/bin/python3
"""Print N synthetic test IDs (N = first argument, or $BENCH_N)."""
import os, sys
n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else int(os.environ.get("BENCH_N", "1000"))
sys.stdout.write("".join(f"suite/module_{i // 100:04d}.py::test_case_{i:06d}\n" for i in range(n)))
'''

RUNNER_PY = r'''#!/usr/bin/python3
"""Trivial runner: JUnit XML with one passing testcase per ID it is given.

runner.py RESULT_FILE ID...; sleeps $BENCH_SLEEP seconds first (default 0).
If $BENCH_CHILD_TIMES is set, appends this process's own user+sys seconds to
it (one line), so the benchmark can subtract the runners' CPU from the tree.
"""
import os, sys, time
from xml.sax.saxutils import quoteattr
out, ids = sys.argv[1], sys.argv[2:]
s = float(os.environ.get("BENCH_SLEEP", "0") or 0)
if s:
    time.sleep(s)
parts = ['<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="synthetic" tests="%d">\n' % len(ids)]
parts += ['<testcase classname="synthetic" name=%s time="0.001"/>\n' % quoteattr(i) for i in ids]
parts.append("</testsuite></testsuites>\n")
with open(out, "w") as f:
    f.write("".join(parts))
log = os.environ.get("BENCH_CHILD_TIMES")
if log:
    t = os.times()
    with open(log, "a") as f:
        f.write("%.4f\n" % (t.user + t.system))
'''


def synthetic_suite(root):
    write(os.path.join(root, "ids.py"), IDS_PY)
    write(os.path.join(root, "runner.py"), RUNNER_PY)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    sleep_suite(os.path.join(out, "heavy"), heavy_durations(), per_file=20)
    light_suite(os.path.join(out, "light"))
    rng = random.Random(2)
    medium = [round(rng.uniform(0.1, 1.0), 3) for _ in range(100)]
    flaky = sorted(random.Random(3).sample(range(100), 10))
    sleep_suite(os.path.join(out, "flaky"), medium, per_file=10, flaky=flaky)
    sleep_suite(os.path.join(out, "stable"), medium, per_file=10)
    synthetic_suite(os.path.join(out, "synthetic"))
    for name in ("heavy", "flaky", "stable"):
        with open(os.path.join(out, name, "suite.json")) as f:
            m = json.load(f)
        print(f"{name}: {m['tests']} tests, total {m['total_secs']:.1f}s, longest {m['longest_secs']:.2f}s")
    print("light: 2000 tiny tests; synthetic: ids.py + runner.py")


if __name__ == "__main__":
    main()
