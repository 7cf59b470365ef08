#!/usr/bin/python3
"""Run offload and its peers side by side; print medians and ratios.

    /usr/bin/python3 bench/run.py [--quick] [--reps N] [--offload PATH]
                                  [--only light,heavy,flaky,orch,sandboxes]
                                  [--json FILE] [--work DIR]

Every comparison is a ratio of medians of commands run alternately in the
same invocation (the machine is noisy; absolute times are not comparable
across runs). See bench/README.md and docs/benchmarks.md.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = "/usr/bin/python3"
CLK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- measuring

def proc_stat(pid):
    """(utime+stime of the process itself, cutime+cstime) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime is field 14.
    own = (int(rest[11]) + int(rest[12])) / CLK
    kids = (int(rest[13]) + int(rest[14])) / CLK
    return own, kids


def run_measured(argv, cwd, env=None, log=None, timeout=900):
    """Run argv; return wall, the process's *own* CPU (children excluded),
    the whole tree's CPU, its own peak RSS and its peak thread count.

    Own CPU: we wait for the child to exit with waitid(WNOWAIT), which leaves
    it a zombie, and read utime+stime from /proc/PID/stat (all its threads,
    none of its children) before reaping it with wait4 (whose rusage covers
    the whole tree). Own peak RSS and threads: /proc/PID/status (VmHWM,
    Threads) sampled every 10 ms while it runs.
    """
    out = open(log, "wb") if log else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    samples = {"hwm_kb": 0, "threads": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            samples["hwm_kb"] = max(samples["hwm_kb"], int(line.split()[1]))
                        elif line.startswith("Threads:"):
                            samples["threads"] = max(samples["threads"], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            stop.wait(0.01)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    deadline = t0 + timeout
    while True:  # waitid with a timeout: poll WNOHANG
        r = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if r is not None:
            break
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.005)
    wall = time.monotonic() - t0
    stop.set()
    th.join()
    own, _ = proc_stat(p.pid)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if log:
        out.close()
    return {"wall": wall, "own_cpu": own, "tree_cpu": ru.ru_utime + ru.ru_stime,
            "own_rss_mb": samples["hwm_kb"] / 1024, "tree_maxrss_mb": ru.ru_maxrss / 1024,
            "threads": samples["threads"], "rc": p.returncode}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def alternate(cmds, reps, warmup=None):
    """cmds: name -> zero-arg function returning a measurement dict.
    Runs them round-robin `reps` times (after `warmup`), returns name -> [dict]."""
    if warmup:
        warmup()
    res = {k: [] for k in cmds}
    for r in range(reps):
        for k, f in cmds.items():
            m = f()
            res[k].append(m)
            print(f"  rep {r + 1}/{reps} {k:<34} {m['wall']:7.2f}s rc={m['rc']}", flush=True)
    return res


# ------------------------------------------------------------------- suites

def offload_toml(path, framework, parallel, groups, history=False, provider=None, extra=""):
    """Write a config; its reports go to test-results-<config name>/ (each
    config reads back only its own previous junit.xml)."""
    prov = provider or '[provider]\ntype = "local"\n'
    text = f"[offload]\nmax_parallel = {parallel}\n{extra}\n{prov}\n{framework}\n{groups}\n"
    text += f'[report]\noutput_dir = "{out_dir(path)}"\n'
    if history:
        text += '\n[history]\nrecord_history = "always"\npath = "offload-history.jsonl"\n'
    with open(path, "w") as f:
        f.write(text)
    return path


def out_dir(config):
    return "test-results-" + os.path.splitext(os.path.basename(config))[0]


PYTEST_FW = '[framework]\ntype = "pytest"\ncommand = "/usr/bin/python3 -m pytest"\npaths = ["tests"]\n'


class Bench:
    def __init__(self, args):
        self.a = args
        self.offload = os.path.abspath(args.offload)
        self.work = args.work
        self.rows = []  # (target, ours, peer, ratio, limit, met, note)
        self.data = {}
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.n = 0

    def log(self, name):
        self.n += 1
        return os.path.join(self.logs, f"{self.n:04d}-{name}.log")

    def pytest(self, suite, extra, env=None, name="pytest"):
        cwd = os.path.join(self.work, suite)
        return lambda: run_measured([PY, "-m", "pytest", "-q", "-p", "no:randomly", *extra, "tests"], cwd, env,
                                    self.log(name))

    def startups(self, suite, n, name="startups"):
        """n pytest start-ups at once, as the first wave of n sandboxes pays
        them on this machine: each collects one test file and runs nothing
        (`--collect-only`). Wall time until the last one exits."""
        cwd = os.path.join(self.work, suite)
        files = sorted(f for f in os.listdir(os.path.join(cwd, "tests")) if f.startswith("test_"))

        def f():
            lg = open(self.log(name), "w")
            t = time.monotonic()
            ps = [subprocess.Popen([PY, "-m", "pytest", "-q", "-p", "no:randomly", "--collect-only",
                                    "tests/" + files[i % len(files)]], cwd=cwd, stdout=lg, stderr=lg)
                  for i in range(n)]
            rcs = [p.wait() for p in ps]
            lg.close()
            return {"wall": time.monotonic() - t, "rc": max(rcs)}
        return f

    def off(self, suite, config, env=None, name="offload", trace=False):
        cwd = os.path.join(self.work, suite)
        argv = [self.offload, "-c", config, "run"] + (["--trace"] if trace else [])

        def f():
            lg = self.log(name)
            m = run_measured(argv, cwd, env, lg)
            with open(lg, errors="replace") as fh:
                text = fh.read()
            e = re.search(r"Efficiency: execution took ([\d.]+)s; lower bound ([\d.]+)s.*ratio ([\d.]+)x", text)
            if e:
                m["exec"], m["bound"], m["eff_ratio"] = map(float, e.groups())
            if trace:
                m["trace"] = read_trace(os.path.join(cwd, out_dir(config), "trace.json"))
            return m
        return f

    def row(self, target, ours, peer, ratio, limit, note=""):
        met = ratio <= limit
        self.rows.append({"target": target, "ours": ours, "peer": peer, "ratio": ratio,
                          "limit": limit, "met": met, "note": note})

    # -- light: 2,000 tiny tests, parallel 2
    def light(self):
        print("== light: 2,000 tiny tests, parallel 2", flush=True)
        d = os.path.join(self.work, "light")
        cfg = offload_toml(os.path.join(d, "offload.toml"), PYTEST_FW, 2, "[groups.all]\n")
        r = alternate({"pytest": self.pytest("light", []),
                       "pytest -n 2": self.pytest("light", ["-n", "2"], name="xdist"),
                       "offload p=2": self.off("light", cfg)}, self.a.reps)
        self.data["light"] = r
        o, x, s = (med([m["wall"] for m in r[k]]) for k in ("offload p=2", "pytest -n 2", "pytest"))
        self.row("Light: 2,000 tiny tests, parallel 2, vs `pytest -n 2`", o, x, o / x, 1.0,
                 f"plain pytest {s:.2f}s (offload {o / s:.2f}x of it)")

    # -- heavy: 200 sleep-bound tests, parallel 16
    def heavy(self):
        print("== heavy: 200 sleep-bound tests, parallel 16", flush=True)
        d = os.path.join(self.work, "heavy")
        meta = json.load(open(os.path.join(d, "suite.json")))
        cfg_h = offload_toml(os.path.join(d, "offload-history.toml"), PYTEST_FW, 16, "[groups.all]\n", history=True)
        cfg_n = offload_toml(os.path.join(d, "offload.toml"), PYTEST_FW, 16, "[groups.all]\n")

        def warm():
            for f in ("offload-history.jsonl", out_dir(cfg_h) + "/junit.xml"):
                if os.path.exists(os.path.join(d, f)):
                    os.remove(os.path.join(d, f))
            print("  warm-up (records history)", flush=True)
            self.off("heavy", cfg_h, name="offload-warmup")()

        cmds = {"pytest -n 16": self.pytest("heavy", ["-n", "16"], name="xdist"),
                "offload p=16 history": self.off("heavy", cfg_h, name="offload-history", trace=True),
                "16 pytest start-ups at once": self.startups("heavy", 16)}
        if not self.a.quick:
            # no history, no previous junit.xml: the first-ever run
            def cold():
                j = os.path.join(d, out_dir(cfg_n), "junit.xml")
                saved = j + ".saved"
                if os.path.exists(j):
                    shutil.copy(j, saved)
                    os.remove(j)
                m = self.off("heavy", cfg_n, name="offload-cold")()
                if os.path.exists(saved):
                    shutil.move(saved, j)
                return m
            cmds["offload p=16 no history"] = cold
        r = alternate(cmds, self.a.reps, warm)
        self.data["heavy"] = r
        oh = r["offload p=16 history"]
        o, x = med([m["wall"] for m in oh]), med([m["wall"] for m in r["pytest -n 16"]])
        self.row("Heavy: 200 sleep-bound tests, parallel 16, history, vs `pytest -n 16`", o, x, o / x, 0.9)
        # Lower bound from the suite's known sleeps plus start-up: one
        # discovery (collection) and one batch start-up, both ~ the measured
        # discovery time c.
        c = med([m["trace"].get("discovery", 0) for m in oh])
        lb = max(meta["total_secs"] / 16, meta["longest_secs"])
        bound = lb + 2 * c
        self.row("Heavy: offload wall vs max(total/16, longest) + start-up", o, bound, o / bound, 1.10,
                 f"max({meta['total_secs']:.1f}/16, {meta['longest_secs']:.1f}) = {lb:.2f}s + 2 x c, "
                 f"c = discovery {c:.2f}s; offload's own Efficiency ratio "
                 f"{med([m.get('eff_ratio', float('nan')) for m in oh]):.2f}x")
        # The same bound, with the start-up that 16 sandboxes pay here: 16
        # interpreters starting at once on this machine's cores (measured in
        # the same alternation), after one discovery.
        s16 = med([m["wall"] for m in r["16 pytest start-ups at once"]])
        bound16 = lb + c + s16
        self.row("Heavy: offload wall vs max(total/16, longest) + discovery + 16 start-ups at once", o, bound16,
                 o / bound16, 1.10, f"{lb:.2f}s + c {c:.2f}s + 16 concurrent `pytest --collect-only` {s16:.2f}s")
        if "offload p=16 no history" in r:
            n = med([m["wall"] for m in r["offload p=16 no history"]])
            self.row("Heavy, info: first run without history vs `pytest -n 16`", n, x, n / x, float("inf"))

    # -- flaky: 10% fail their first attempt, retry_count 2
    def flaky(self):
        print("== flaky: 100 tests, 10 fail their first attempt, retry_count 2, parallel 8", flush=True)
        grp = "[groups.all]\nretry_count = 2\n"
        cfgs = {}
        for s in ("flaky", "stable"):
            d = os.path.join(self.work, s)
            cfgs[s] = offload_toml(os.path.join(d, "offload.toml"), PYTEST_FW, 8, grp)
            cfgs[s + "-h"] = offload_toml(os.path.join(d, "offload-history.toml"), PYTEST_FW, 8, grp, history=True)
        # Every retry on another sandbox (the original's way): for comparison.
        cfgs["flaky-x"] = offload_toml(os.path.join(self.work, "flaky", "offload-cross.toml"), PYTEST_FW, 8,
                                       grp + "in_process_retries = 0\n")

        def fresh():  # a new state dir per run: the first attempt fails again
            env = dict(os.environ)
            env["BENCH_FLAKY_STATE"] = tempfile.mkdtemp(prefix="state-", dir=self.work)
            return env

        def with_state(mk):
            return lambda: mk(fresh())()

        def warm():
            print("  warm-up (records history of both suites)", flush=True)
            for s in ("flaky", "stable"):
                d = os.path.join(self.work, s)
                if os.path.exists(os.path.join(d, "offload-history.jsonl")):
                    os.remove(os.path.join(d, "offload-history.jsonl"))
                self.off(s, cfgs[s + "-h"], env=fresh(), name=f"offload-{s}-warmup")()

        cmds = {
            "offload flaky": with_state(lambda e: self.off("flaky", cfgs["flaky"], env=e, name="offload-flaky")),
            "offload stable": with_state(lambda e: self.off("stable", cfgs["stable"], env=e, name="offload-stable")),
            "offload flaky cross-sandbox": with_state(
                lambda e: self.off("flaky", cfgs["flaky-x"], env=e, name="offload-flaky-cross")),
            "offload flaky history": with_state(
                lambda e: self.off("flaky", cfgs["flaky-h"], env=e, name="offload-flaky-history")),
            "offload stable history": with_state(
                lambda e: self.off("stable", cfgs["stable-h"], env=e, name="offload-stable-history")),
            "pytest -n 8 --reruns 2 flaky": with_state(
                lambda e: self.pytest("flaky", ["-n", "8", "--reruns", "2"], e, name="xdist-reruns-flaky")),
            "pytest -n 8 --reruns 2 stable": with_state(
                lambda e: self.pytest("stable", ["-n", "8", "--reruns", "2"], e, name="xdist-reruns-stable")),
        }
        r = alternate(cmds, self.a.reps, warm)
        self.data["flaky"] = r
        w = {k: med([m["wall"] for m in v]) for k, v in r.items()}
        pr = w["pytest -n 8 --reruns 2 flaky"] / w["pytest -n 8 --reruns 2 stable"]
        self.row("Flaky: time to green (no history) vs the same suite without flaky tests",
                 w["offload flaky"], w["offload stable"], w["offload flaky"] / w["offload stable"], 1.15,
                 f"`pytest -n 8 --reruns 2`: {w['pytest -n 8 --reruns 2 flaky']:.2f}s vs "
                 f"{w['pytest -n 8 --reruns 2 stable']:.2f}s = {pr:.2f}x")
        self.row("Flaky: time to green with history (pretries) vs no flaky tests",
                 w["offload flaky history"], w["offload stable history"],
                 w["offload flaky history"] / w["offload stable history"], 1.15,
                 f"offload flaky+history vs `pytest -n 8 --reruns 2` flaky: "
                 f"{w['offload flaky history'] / w['pytest -n 8 --reruns 2 flaky']:.2f}x")
        self.row("Flaky, info: every retry on another sandbox (`in_process_retries = 0`) vs no flaky tests",
                 w["offload flaky cross-sandbox"], w["offload stable"],
                 w["offload flaky cross-sandbox"] / w["offload stable"], float("inf"))

    # -- orchestrator cost: N tests through the default framework
    def orch(self):
        sizes = [1000, 10000, 100000]
        print(f"== orchestrator cost: {sizes} tests, default framework, trivial runner, parallel 4", flush=True)
        d = os.path.join(self.work, "synthetic")
        fw = ('[framework]\ntype = "default"\ndiscover_command = "/usr/bin/python3 ids.py {filters}"\n'
              'run_command = "/usr/bin/python3 runner.py {result_file} {tests}"\nresult_file = "result.xml"\n'
              'test_id_format = "{name}"\n')
        cmds = {}
        for n in sizes:
            cfg = offload_toml(os.path.join(d, f"offload-{n}.toml"), fw, 4, f'[groups.all]\nfilters = "{n}"\n')
            cmds[n] = self.off("synthetic", cfg, name=f"offload-orch-{n}", trace=True)
        r = alternate(cmds, max(1, min(self.a.reps, 3)))
        self.data["orch"] = {str(k): v for k, v in r.items()}
        self.orch_rows = []
        for n in sizes:
            ms = r[n]
            g = lambda k: med([m[k] for m in ms])
            t = lambda k: med([m["trace"].get(k, 0) for m in ms])
            self.orch_rows.append({"tests": n, "wall": g("wall"), "own_cpu": g("own_cpu"), "tree_cpu": g("tree_cpu"),
                                   "own_rss_mb": g("own_rss_mb"), "tree_maxrss_mb": g("tree_maxrss_mb"),
                                   "threads": g("threads"), "batches": t("batches"),
                                   "discovery": t("discovery"), "after_discovery": t("after_discovery"),
                                   "scheduling": t("scheduling"), "result_aggregation": t("result_aggregation")})
        big = self.orch_rows[-1]
        self.row("Orchestrator: own CPU for 100,000 tests (default framework)", big["own_cpu"], 2.0,
                 big["own_cpu"] / 2.0, 1.0, f"{int(big['batches'])} batches; tree CPU {big['tree_cpu']:.2f}s")
        self.row("Orchestrator: own peak RSS for 100,000 tests (MB)", big["own_rss_mb"], 200,
                 big["own_rss_mb"] / 200, 1.0, f"largest process of the tree (wait4): {big['tree_maxrss_mb']:.0f} MB")

    # -- many sandboxes through the default provider
    def sandboxes(self):
        counts = [10, 100, 1000]
        print(f"== sandboxes: {counts} concurrent sandboxes (default provider), each exec sleeps 2 s", flush=True)
        d = os.path.join(self.work, "synthetic")
        fw = ('[framework]\ntype = "default"\ndiscover_command = "/usr/bin/python3 ids.py {filters}"\n'
              'run_command = "sleep 2 # {tests}"\ntest_id_format = "{name}"\n')
        prov = ('[provider]\ntype = "default"\ncreate_command = "echo sb-$OFFLOAD_SANDBOX_INDEX"\n'
                'exec_command = "sh -c {command}"\ndestroy_command = "true"\n')
        cmds = {}
        for n in counts:
            cfg = offload_toml(os.path.join(d, f"offload-sb-{n}.toml"), fw, n,
                               f'[groups.all]\nfilters = "{n}"\nschedule_individual = true\n',
                               provider=prov, extra=f'sandbox_repo_root = "{d}"\n')
            cmds[n] = self.off("synthetic", cfg, name=f"offload-sandboxes-{n}", trace=True)
        # The machine's own floor: the same sandbox lifecycles (the same
        # shells: create, exec's sh -c of the batch script, destroy) for n
        # sandboxes at once, driven by xargs instead of offload.
        life = ("sh -c 'echo sb-@' >/dev/null; sh -c \"sh -c 'cd . || exit 125; sleep 2; rc=\\$?; exit \\$rc'\"; "
                "sh -c true")
        for n in counts:
            cmds[f"floor {n}"] = (lambda n=n: run_measured(
                ["sh", "-c", f"seq {n} | xargs -P {n} -I@ sh -c \"$0\"", life], d))
        r = alternate(cmds, max(1, min(self.a.reps, 3)))
        self.data["sandboxes"] = {str(k): v for k, v in r.items()}
        self.sb_rows = []
        for n in counts:
            ms = r[n]
            g = lambda k: med([m[k] for m in ms])
            t = lambda k: med([m["trace"].get(k, 0) for m in ms])
            self.sb_rows.append({"sandboxes": n, "wall": g("wall"), "own_cpu": g("own_cpu"),
                                 "tree_cpu": g("tree_cpu"), "threads": g("threads"), "own_rss_mb": g("own_rss_mb"),
                                 "exec_span": t("exec_total"), "floor": med([m["wall"] for m in r[f"floor {n}"]]),
                                 "discovery": t("discovery")})
        big = self.sb_rows[-1]
        ideal = 2.0 + big["discovery"]
        self.row("Sandboxes: 1,000 concurrent, exec sleeps 2 s: wall vs ideal (2 s + discovery)", big["wall"], ideal,
                 big["wall"] / ideal, 1.2, f"machine floor (the same 1,000 lifecycles' shells via xargs -P 1000): {big['floor']:.2f}s")
        self.row("Sandboxes, info: 1,000 sandboxes: wall vs the machine's floor for the same processes",
                 big["wall"], big["floor"], big["wall"] / big["floor"], float("inf"))
        self.row("Sandboxes: offload's own CPU over the run (cores)", big["own_cpu"] / big["wall"], 1.0,
                 big["own_cpu"] / big["wall"], 1.0, f"own CPU {big['own_cpu']:.2f}s in {big['wall']:.2f}s")
        self.row("Sandboxes: peak threads of offload (no thread per sandbox)", big["threads"], 1000,
                 big["threads"] / 1000, 0.05, "threads sampled from /proc/PID/status every 10 ms")


def read_trace(path):
    """Span durations (s) from trace.json: discovery, scheduling, result
    aggregation, the gap from discovery's end to scheduling (parsing the
    listing, de-duplication, durations), batches and the exec window."""
    try:
        ev = json.load(open(path))
    except (OSError, ValueError):
        return {}
    if isinstance(ev, dict):
        ev = ev.get("traceEvents", [])
    out = {"batches": 0}
    disc_end = None
    ex = []
    for e in ev:
        if e.get("ph") != "X":
            continue
        n, ts, dur = e.get("name", ""), e.get("ts", 0), e.get("dur", 0)
        if n.startswith("discovery:"):
            out["discovery"] = out.get("discovery", 0) + dur / 1e6
            disc_end = max(disc_end or 0, ts + dur)
        elif n in ("scheduling", "result_aggregation", "plugin_loading"):
            out[n] = dur / 1e6
            if n == "scheduling":
                out["_sched_ts"] = ts
        elif n == "exec_batch":
            out["batches"] += 1
            ex.append((ts, ts + dur))
    if disc_end is not None and "_sched_ts" in out:
        out["after_discovery"] = (out["_sched_ts"] - disc_end) / 1e6
    if ex:
        out["exec_total"] = (max(b for _, b in ex) - min(a for a, _ in ex)) / 1e6
    out.pop("_sched_ts", None)
    return out


# -------------------------------------------------------------------- report

def machine():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = ""
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return f"{os.cpu_count()} CPUs, {model}, {mem}"


def report(b):
    print("\nMachine:", machine())
    print(f"Repetitions: {b.a.reps} (medians)\n")
    print("| Target | offload | reference | ratio | limit | met |")
    print("|---|---|---|---|---|---|")
    for r in b.rows:
        lim = "-" if r["limit"] == float("inf") else f"<= {r['limit']:.2f}"
        met = "info" if r["limit"] == float("inf") else ("met" if r["met"] else "NOT met")
        print(f"| {r['target']} | {r['ours']:.2f} | {r['peer']:.2f} | {r['ratio']:.2f} | {lim} | {met} |")
        if r["note"]:
            print(f"|   {r['note']} | | | | | |")
    for k, v in b.data.items():
        if k in ("orch", "sandboxes"):
            continue
        print(f"\n{k}: median wall (s): " + ", ".join(f"{n} {med([m['wall'] for m in ms]):.2f}"
                                                      for n, ms in v.items()))
    if getattr(b, "orch_rows", None):
        print("\nGrowth with tests (default framework, parallel 4, trivial runner):")
        print("| tests | batches | wall s | own CPU s | tree CPU s | own RSS MB | threads | discovery cmd s "
              "| parse+prepare s | scheduling s | junit write s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in b.orch_rows:
            print(f"| {r['tests']:,} | {int(r['batches'])} | {r['wall']:.2f} | {r['own_cpu']:.2f} | {r['tree_cpu']:.2f} "
                  f"| {r['own_rss_mb']:.0f} | {int(r['threads'])} | {r['discovery']:.3f} | {r['after_discovery']:.3f} "
                  f"| {r['scheduling']:.3f} | {r['result_aggregation']:.3f} |")
    if getattr(b, "sb_rows", None):
        print("\nGrowth with sandboxes (default provider, one 2 s test per sandbox):")
        print("| sandboxes | wall s | floor s (xargs) | own CPU s | own CPU / sandbox ms | tree CPU s | threads "
              "| own RSS MB |")
        print("|---|---|---|---|---|---|---|---|")
        for r in b.sb_rows:
            print(f"| {r['sandboxes']:,} | {r['wall']:.2f} | {r['floor']:.2f} | {r['own_cpu']:.2f} "
                  f"| {1000 * r['own_cpu'] / r['sandboxes']:.2f} | {r['tree_cpu']:.2f} | {int(r['threads'])} "
                  f"| {r['own_rss_mb']:.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, skip informational runs")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5, 1 with --quick)")
    ap.add_argument("--offload", default=os.path.join(REPO, "build-bench", "bin", "offload"))
    ap.add_argument("--only", default="light,heavy,flaky,orch,sandboxes")
    ap.add_argument("--work", default=None, help="where suites are generated (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write all measurements here")
    a = ap.parse_args()
    a.reps = a.reps or (1 if a.quick else 5)
    if not os.access(a.offload, os.X_OK):
        sys.exit(f"no offload binary at {a.offload}; build it (see bench/README.md) or pass --offload")
    a.work = a.work or tempfile.mkdtemp(prefix="offload-bench-")
    subprocess.run([PY, os.path.join(HERE, "gen.py"), a.work], check=True)
    print("work dir:", a.work, flush=True)
    b = Bench(a)
    for part in a.only.split(","):
        getattr(b, part.strip())()
    report(b)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "reps": a.reps, "rows": b.rows, "data": b.data,
                       "orch": getattr(b, "orch_rows", None), "sandboxes": getattr(b, "sb_rows", None)},
                      f, indent=1, default=str)


if __name__ == "__main__":
    main()
