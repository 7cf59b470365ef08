"""offload's pytest plugin: exact node IDs in, exact per-node results out.

offload embeds this file in the commands it builds and loads it with
`-p offload_pytest_plugin`; nothing in the user's project changes. It is
inert unless one of its options is given:

--offload-collect=PATH  (discovery) write the collected items as JSON lines:
    {"event": "collect", "pytest": ..., "rootdir": <rootdir relative to the
     invocation dir>}, then {"event": "item", "nodeid", "file", "line"} per
    selected item, {"event": "collect_error", "nodeid", "text"} per failed
    collector, and {"event": "finish", "exitstatus"}.
--offload-results=PATH  (execution) append one JSON line per event, each
    with a single write(2) as it happens, so a killed interpreter leaves every
    finished test's result behind (at worst a torn last line, which the reader
    drops): "session", "begin" (a test, or an attempt of it, started),
    "result" (a test's final outcome after teardown; or a failed attempt, see
    --offload-reruns), "collect_error", "finish" (with "stopped" when -x or
    --maxfail cut the session short).
--offload-reruns=N  (execution) rerun a failed test up to N more times in the
    same process, right away (as pytest-rerunfailures does; in xdist workers
    too). A rerun test reports every attempt: each failed attempt but the
    last as {"event": "result", ..., "attempt": n, "rerun": true} with that
    attempt's failure, then its final result with "attempt": n. A test that
    needed no rerun has no "attempt" (attempt 0). Failed attempts that are
    rerun are logged as outcome "rerun", so -x/--maxfail do not count them.
    Tests that the user's own pytest-rerunfailures reruns (--reruns, or a
    flaky marker) are left to it; its "rerun" reports are not recorded.

Outcomes: passed | failed | error | skipped. A setup error, or a teardown
error after a pass/skip, is "error"; xfail is "skipped" with message "xfail";
a non-strict xpass is "passed"; a strict xpass is "failed" (and rerun).
Skips and xfails are never rerun. Under pytest-xdist only the controller
writes (workers forward their reports, offload_* attributes included); a
crashed worker's test is "failed" with type "offload.Crash".
Text fields are capped so a test printing megabytes cannot blow up the file.
"""
import json
import os
import sys

import pytest
from _pytest.runner import runtestprotocol

_TEXT_LIMIT = 256 * 1024


def pytest_addoption(parser):
    group = parser.getgroup("offload", "offload integration (internal)")
    group.addoption("--offload-collect", dest="offload_collect", default=None, metavar="PATH",
                    help="write the collected node IDs as JSON lines to PATH")
    group.addoption("--offload-results", dest="offload_results", default=None, metavar="PATH",
                    help="append per-test results as JSON lines to PATH")
    group.addoption("--offload-reruns", dest="offload_reruns", default=0, type=int, metavar="N",
                    help="rerun a failed test up to N times in the same process")


def pytest_configure(config):
    reruns = config.getoption("offload_reruns", 0) or 0
    if reruns > 0:
        # In xdist workers too: they run the tests, the controller only logs.
        config.pluginmanager.register(_Rerunner(reruns), "offload-rerunner")
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller records
    collect = config.getoption("offload_collect", None)
    results = config.getoption("offload_results", None)
    if collect:
        config.pluginmanager.register(_Collector(config, collect), "offload-collector")
    if results:
        config.pluginmanager.register(_Recorder(config, results), "offload-recorder")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember the exception's type name on the report (it survives xdist's
    report serialisation, unlike the exception info itself)."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None:
        try:
            report.offload_exc_type = call.excinfo.typename
        except Exception:  # noqa: BLE001 - never break the run for a detail
            pass


def _cap(text):
    if text is None:
        return ""
    text = str(text)
    if len(text) > _TEXT_LIMIT:
        cut = len(text) - _TEXT_LIMIT
        return "[offload: %d characters cut]\n" % cut + text[cut:]
    return text


def _line(record):
    return (json.dumps(record, ensure_ascii=True, default=str) + "\n").encode("ascii")


def _relpath(path, start):
    try:
        return os.path.relpath(str(path), str(start)).replace(os.sep, "/")
    except ValueError:  # another drive (Windows)
        return str(path)


class _Collector:
    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.items = []
        self.errors = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append({"event": "collect_error", "nodeid": report.nodeid,
                                "text": _cap(report.longreprtext)})

    def pytest_collection_finish(self, session):
        inv = session.config.invocation_params.dir
        for item in session.items:
            path = getattr(item, "path", None) or getattr(item, "fspath", None)
            location = getattr(item, "location", None) or (None, None, None)
            line = location[1] + 1 if isinstance(location[1], int) else 0
            self.items.append({"event": "item", "nodeid": item.nodeid,
                               "file": _relpath(path, inv) if path else "", "line": line})

    def pytest_sessionfinish(self, session, exitstatus):
        config = session.config
        rootdir = getattr(config, "rootpath", None) or config.rootdir
        head = {"event": "collect", "pytest": pytest.__version__,
                "rootdir": _relpath(rootdir, config.invocation_params.dir)}
        data = b"".join(_line(r) for r in [head] + self.items + self.errors +
                        [{"event": "finish", "exitstatus": int(exitstatus)}])
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)


def _crash_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return crash.message
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else ""


def _skip_reason(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return _crash_message(report)


def _xfail_message(report):
    reason = getattr(report, "wasxfail", "") or ""
    if reason.startswith("reason: "):
        reason = reason[len("reason: "):]
    return "xfail: " + reason if reason else "xfail"


def _failed_fixtures_forgotten(item):
    """A fixture whose setup raised caches the exception; forget it so the
    rerun sets the fixture up again."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[-1]:
                fixturedef.cached_result = None


def _failed_setup_state_dropped(session):
    """A node whose setup raised keeps the exception in the setup stack and
    re-raises it for the rerun: drop that node and those above it (running
    their finalizers). Unlike pytest-rerunfailures we keep the healthy nodes,
    so the finalizers of fixtures set up by earlier tests still run."""
    state = session._setupstate
    stack = state.stack
    if isinstance(stack, dict):  # pytest >= 6.3: node -> (finalizers, exc)
        nodes = list(stack)
        failed = [i for i, node in enumerate(nodes) if stack[node][1] is not None]
        for node in reversed(nodes[failed[0]:] if failed else []):
            finalizers, _ = stack.pop(node)
            while finalizers:
                try:
                    finalizers.pop()()
                except Exception:  # noqa: BLE001 - the node failed already; its rerun decides
                    pass
    else:  # older pytest: as pytest-rerunfailures does
        for node in stack:
            if hasattr(node, "_prepare_exc"):
                del node._prepare_exc
        state.stack = []


class _Rerunner:
    """Reruns a failed test in the same process, like pytest-rerunfailures,
    and marks the reports of a rerun test with offload_attempt (1-based)."""

    def __init__(self, reruns):
        self.reruns = reruns

    def _left_to_rerunfailures(self, item):
        return bool(item.config.getoption("reruns", 0) or 0) or item.get_closest_marker("flaky") is not None

    def pytest_runtest_protocol(self, item, nextitem):
        if self._left_to_rerunfailures(item):
            return None  # theirs reruns it (their "rerun" reports are not recorded)
        attempt = 0
        while True:
            attempt += 1
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            # Skips and xfails are not failures; a strict xpass is (no wasxfail).
            failed = next((r for r in reports if r.failed and not hasattr(r, "wasxfail")), None)
            rerun = failed is not None and attempt <= self.reruns
            for report in reports:
                if rerun or attempt > 1:
                    report.offload_attempt = attempt
                if report is failed and rerun:
                    report.outcome = "rerun"  # not "failed": -x and --maxfail do not count it
                    item.ihook.pytest_runtest_logreport(report=report)
                    break  # the rest of this attempt is not logged
                item.ihook.pytest_runtest_logreport(report=report)
            if rerun:
                # Captured output accumulates on the item: each attempt reports its own.
                getattr(item, "_report_sections", []).clear()
                _failed_fixtures_forgotten(item)
                _failed_setup_state_dropped(item.session)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            if not rerun:
                return True

    def pytest_report_teststatus(self, report):
        if report.outcome == "rerun" and hasattr(report, "offload_attempt"):
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None


def _outputs(report):
    err = report.capstderr
    if report.caplog:
        err += ("\n" if err and not err.endswith("\n") else "") + "--- captured log ---\n" + report.caplog
    return _cap(report.capstdout), _cap(err)


class _Recorder:
    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.fd = None
        self.state = {}
        self.attempts = {}  # nodeid -> its last recorded failed attempt

    def _write(self, record):
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            view = memoryview(_line(record))
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            sys.stderr.write("offload: cannot write %s: %s\n" % (self.path, e))

    def pytest_sessionstart(self, session):
        rootdir = getattr(self.config, "rootpath", None) or self.config.rootdir
        self._write({"event": "session", "pytest": pytest.__version__, "pid": os.getpid(),
                     "rootdir": str(rootdir)})

    def pytest_collectreport(self, report):
        if report.failed:
            self._write({"event": "collect_error", "nodeid": report.nodeid, "text": _cap(report.longreprtext)})

    def pytest_runtest_logstart(self, nodeid, location):
        self._write({"event": "begin", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report):
        attempt = getattr(report, "offload_attempt", 0)
        if report.outcome == "rerun" and not attempt:  # pytest-rerunfailures: only the last run counts
            self.state.pop(report.nodeid, None)
            return
        st = self.state.setdefault(report.nodeid, {"outcome": None, "message": "", "type": "", "text": "",
                                                   "duration": 0.0})
        st["duration"] += float(getattr(report, "duration", 0.0) or 0.0)
        when = report.when
        if report.outcome == "rerun":  # ours: a failed attempt, rerun next
            crash = _crash_message(report)
            st.update(outcome="failed" if when == "call" else "error",
                      message=crash if when == "call" else 'failed on %s with "%s"' % (when, crash),
                      type=getattr(report, "offload_exc_type", "") or "", text=_cap(report.longreprtext))
            self.attempts[report.nodeid] = attempt
            self._result(report, st, attempt, rerun=True)
        elif when in ("setup", "call"):
            if report.passed:
                if when == "call":
                    st["outcome"] = "passed"
                    if hasattr(report, "wasxfail"):
                        st["message"] = "xpass"
            elif report.skipped:
                st["outcome"] = "skipped"
                st["message"] = _xfail_message(report) if hasattr(report, "wasxfail") else _skip_reason(report)
                st["type"] = "pytest.xfail" if hasattr(report, "wasxfail") else "pytest.skip"
            else:
                crash = _crash_message(report)
                st["outcome"] = "error" if when == "setup" else "failed"
                st["message"] = 'failed on setup with "%s"' % crash if when == "setup" else crash
                st["type"] = getattr(report, "offload_exc_type", "") or ""
                st["text"] = _cap(report.longreprtext)
        elif when == "teardown":  # the test's last report
            if report.failed:
                text = _cap(report.longreprtext)
                if st["outcome"] in ("failed", "error"):
                    st["text"] += "\n\n--- error in teardown ---\n" + text
                else:
                    st["outcome"] = "error"
                    st["message"] = 'failed on teardown with "%s"' % _crash_message(report)
                    st["type"] = getattr(report, "offload_exc_type", "") or ""
                    st["text"] = text
            self._final(report, st, attempt)
        else:  # xdist's report for a worker that crashed running the test (when "???")
            st.update(outcome="failed", message=_crash_message(report), type="offload.Crash",
                      text=_cap(report.longreprtext))
            self._final(report, st, attempt)

    def _final(self, report, st, attempt):
        # xdist's crash report after failed attempts has no offload_attempt: it is the next one.
        last = self.attempts.pop(report.nodeid, 0)
        self._result(report, st, attempt or (last + 1 if last else 0))

    def _result(self, report, st, attempt, rerun=False):
        self.state.pop(report.nodeid, None)
        out, err = _outputs(report)
        record = {"event": "result", "nodeid": report.nodeid, "outcome": st["outcome"] or "passed",
                  "message": _cap(st["message"]), "type": st["type"], "text": st["text"],
                  "stdout": out, "stderr": err, "duration": st["duration"]}
        if attempt:
            record["attempt"] = attempt
        if rerun:
            record["rerun"] = True
        self._write(record)

    def pytest_sessionfinish(self, session, exitstatus):
        stopped = bool(getattr(session, "shouldstop", False) or getattr(session, "shouldfail", False))
        self._write({"event": "finish", "exitstatus": int(exitstatus), "stopped": stopped})

    def pytest_unconfigure(self, config):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
