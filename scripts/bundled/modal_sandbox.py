#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["modal>=1.0,<2"]
# ///
"""modal_sandbox.py: offload's bridge to Modal sandboxes.

Used by the `modal` provider plugin (which ships its own copy of this file) and
by `default`-provider configs as `uv run @modal_sandbox.py ...`. Every
subcommand that produces an id prints it as the LAST line of stdout; progress
and errors go to stderr.

  prepare [DOCKERFILE] [--include-cwd] [--copy-dir L:R]... [--sandbox-init-cmd CMD]
          [--context-dir DIR] [--sandbox-repo-root /app] [--ignore PATTERN]... [--no-cache]
      Build an image: the Dockerfile (or a Debian slim image), the context
      directory copied to the repo root (--include-cwd, honouring
      .dockerignore), each --copy-dir, then --sandbox-init-cmd run in the repo
      root. Prints the image id.
  prepare --from-base-image ID [--patch-file P] [--post-patch-cmd CMD]
          [--sandbox-project-root /app]
      Derive a thin image from a cached one: apply the `git diff --binary`
      patch in the project root, then run CMD with OFFLOAD_PATCH_FILE set.
  create IMAGE_ID [--cpu N] [--memory-gb N] [--env K=V]... [--env-stdin]
         [--copy-dir L:R]... [--experimental-options JSON] [--workdir /app] [--timeout S]
      Create a sandbox (env passed as a Secret). Prints the sandbox id.
  exec SANDBOX_ID [--timeout S] [--status-file F] [--] CMD
      Run CMD with `sh -c` in the sandbox, streaming its stdout/stderr.
      Exits with CMD's exit code. --status-file receives
      {"returncode", "timed_out", "error"} as JSON, so a caller can tell the
      command's exit code from a failure to run it.
  download SANDBOX_ID REMOTE:LOCAL...
      Copy files out; a REMOTE that does not exist is skipped. Exit 1 on error.
  destroy SANDBOX_ID
      Terminate one sandbox.
  destroy-many
      Terminate every sandbox id read from stdin (one per line), 32 at a time,
      retrying rate limits; always exits 0 (failures are reported on stderr).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import sys
import threading
import time

APP_DEFAULT = "offload-sandbox"
APP_DOCKERFILE = "offload-dockerfile-sandbox"
APP_CHECKPOINT = "offload-checkpoint-sandbox"
PATCH_PATH = "/tmp/offload.patch"


def _modal():
    try:
        import modal  # noqa: PLC0415
    except ImportError as e:
        sys.stderr.write(
            "modal_sandbox.py: cannot import the `modal` package (%s). Run this script with "
            "`uv run` (it installs its own dependencies) or `pip install modal`.\n" % e)
        sys.exit(2)
    return modal


def _err(msg: str) -> None:
    sys.stderr.write("modal_sandbox.py: " + msg + "\n")
    sys.stderr.flush()


def _split_pair(text: str, what: str):
    """'a:b' -> (a, b), split at the first ':'."""
    if ":" not in text:
        raise SystemExit("modal_sandbox.py: %s: expected LOCAL:REMOTE, got %r" % (what, text))
    a, b = text.split(":", 1)
    if not a or not b:
        raise SystemExit("modal_sandbox.py: %s: expected LOCAL:REMOTE, got %r" % (what, text))
    return a, b


def _dockerignore(context_dir: str):
    path = os.path.join(context_dir, ".dockerignore")
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def _materialize(modal, image, app_name: str) -> str:
    """Build the image now (Modal builds lazily) by starting a short-lived
    sandbox on it, and return the image id."""
    app = modal.App.lookup(app_name, create_if_missing=True)
    sb = modal.Sandbox.create("true", image=image, app=app, timeout=60)
    try:
        return image.object_id
    finally:
        try:
            sb.terminate()
        except Exception as e:  # the image is built; a lingering probe times out on its own
            _err("warning: could not terminate the build probe sandbox: %s" % e)


# ---------------------------------------------------------------- prepare

def cmd_prepare(a) -> int:
    modal = _modal()
    if a.from_base_image:
        root = a.sandbox_project_root
        image = modal.Image.from_id(a.from_base_image)
        steps = []
        if a.patch_file:
            image = image.add_local_file(a.patch_file, PATCH_PATH, copy=True)
            steps.append("cd %s && (git apply --whitespace=nowarn %s || patch -p1 < %s)"
                         % (_q(root), PATCH_PATH, PATCH_PATH))
        if a.post_patch_cmd:
            env = ("OFFLOAD_PATCH_FILE=%s " % PATCH_PATH) if a.patch_file else ""
            steps.append("cd %s && %ssh -c %s" % (_q(root), env, _q(a.post_patch_cmd)))
        if not steps:
            print(a.from_base_image)
            return 0
        image = image.run_commands(*steps)
        print(_materialize(modal, image, APP_CHECKPOINT))
        return 0

    context = os.path.abspath(a.context_dir)
    if a.dockerfile:
        image = modal.Image.from_dockerfile(a.dockerfile, context_dir=context, force_build=a.no_cache)
        app_name = APP_DOCKERFILE
    else:
        image = modal.Image.debian_slim(force_build=a.no_cache)
        app_name = APP_DEFAULT
    root = a.sandbox_repo_root
    if a.include_cwd:
        ignore = _dockerignore(context) + list(a.ignore or [])
        image = image.add_local_dir(context, root, copy=True, ignore=ignore)
    for spec in a.copy_dir or []:
        local, remote = _split_pair(spec, "--copy-dir")
        image = image.add_local_dir(os.path.abspath(local), remote, copy=True)
    if a.sandbox_init_cmd:
        image = image.run_commands("mkdir -p %s && cd %s && sh -c %s" % (_q(root), _q(root), _q(a.sandbox_init_cmd)))
    print(_materialize(modal, image, app_name))
    return 0


def _q(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------- create

def cmd_create(a) -> int:
    modal = _modal()
    env = {}
    for kv in a.env or []:
        if "=" not in kv:
            raise SystemExit("modal_sandbox.py: --env: expected KEY=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        env[k] = v
    if a.env_stdin:
        data = sys.stdin.read()
        if data.strip():
            extra = json.loads(data)
            if not isinstance(extra, dict):
                raise SystemExit("modal_sandbox.py: --env-stdin: expected a JSON object")
            env.update({str(k): str(v) for k, v in extra.items()})
    options = {}
    if a.experimental_options:
        options = json.loads(a.experimental_options)
        if not isinstance(options, dict):
            raise SystemExit("modal_sandbox.py: --experimental-options: expected a JSON object")
    image = modal.Image.from_id(a.image_id)
    for spec in a.copy_dir or []:
        local, remote = _split_pair(spec, "--copy-dir")
        image = image.add_local_dir(os.path.abspath(local), remote)
    app = modal.App.lookup(APP_DEFAULT, create_if_missing=True)
    kwargs = dict(image=image, app=app, timeout=a.timeout, workdir=a.workdir, cpu=a.cpu)
    if a.memory_gb:
        kwargs["memory"] = int(math.ceil(a.memory_gb * 1024))
    if env:
        kwargs["secrets"] = [modal.Secret.from_dict(env)]
    if options:
        kwargs["experimental_options"] = options
    sb = modal.Sandbox.create(**kwargs)
    print(sb.object_id)
    return 0


# ---------------------------------------------------------------- exec

def _pump(stream, out) -> None:
    """Copy a ContainerProcess stream to a local file object as it arrives."""
    try:
        for chunk in stream:
            if isinstance(chunk, bytes):
                out.buffer.write(chunk)
            else:
                out.write(chunk)
            out.flush()
    except Exception as e:  # a broken stream must not hide the exit code
        _err("output stream ended early: %s" % e)


def _write_status(path, **status) -> None:
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(status, f)
    os.replace(tmp, path)


def cmd_exec(a) -> int:
    command = " ".join(a.command)
    if not command:
        raise SystemExit("modal_sandbox.py: exec: no command")
    modal = _modal()
    start = time.monotonic()
    try:
        sb = modal.Sandbox.from_id(a.sandbox_id)
        kwargs = {}
        if a.timeout:
            kwargs["timeout"] = a.timeout
        proc = sb.exec("sh", "-c", command, **kwargs)
    except Exception as e:
        _err("exec: could not start the command in %s: %s" % (a.sandbox_id, e))
        _write_status(a.status_file, returncode=None, timed_out=False, error=str(e))
        return 125
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, sys.stdout), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, sys.stderr), daemon=True)]
    for t in pumps:
        t.start()
    try:
        rc = proc.wait()
    except Exception as e:
        _err("exec: lost the command in %s: %s" % (a.sandbox_id, e))
        _write_status(a.status_file, returncode=None, timed_out=False, error=str(e))
        return 125
    for t in pumps:
        t.join(timeout=10)
    if rc is None:
        rc = getattr(proc, "returncode", None)
    elapsed = time.monotonic() - start
    timed_out = bool(a.timeout) and elapsed >= a.timeout
    if rc is None:
        rc = 124 if timed_out else 125
    if timed_out:
        _err("exec: command timed out after %ss" % a.timeout)
    _write_status(a.status_file, returncode=rc, timed_out=timed_out, error=None)
    if rc < 0:
        return 128 + (-rc)
    return rc & 0xFF if rc > 255 else rc


# ---------------------------------------------------------------- download

def _is_missing(e: Exception) -> bool:
    name = type(e).__name__
    return isinstance(e, FileNotFoundError) or "NotFound" in name or "No such file" in str(e)


def cmd_download(a) -> int:
    modal = _modal()
    sb = modal.Sandbox.from_id(a.sandbox_id)
    failed = False
    for pair in a.paths:
        remote, local = _split_pair(pair, "download")
        remote, local = remote.strip("'\""), local.strip("'\"")
        try:
            f = sb.open(remote, "rb")
            try:
                data = f.read()
            finally:
                f.close()
        except Exception as e:
            if _is_missing(e):
                continue
            _err("download %s: %s" % (remote, e))
            failed = True
            continue
        parent = os.path.dirname(os.path.abspath(local))
        os.makedirs(parent, exist_ok=True)
        tmp = local + ".part"
        with open(tmp, "wb") as out:
            out.write(data if isinstance(data, bytes) else data.encode())
        os.replace(tmp, local)
    return 1 if failed else 0


# ---------------------------------------------------------------- destroy

def _terminate(modal, sandbox_id: str, attempts: int = 1) -> None:
    delay = 0.5
    for i in range(attempts):
        try:
            modal.Sandbox.from_id(sandbox_id).terminate()
            return
        except Exception as e:
            limited = "rate" in str(e).lower() or "ResourceExhausted" in type(e).__name__
            if i + 1 >= attempts or not limited:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def cmd_destroy(a) -> int:
    modal = _modal()
    try:
        _terminate(modal, a.sandbox_id, attempts=5)
    except Exception as e:
        if _is_missing(e):
            return 0
        _err("destroy %s: %s" % (a.sandbox_id, e))
        return 1
    return 0


def cmd_destroy_many(_a) -> int:
    modal = _modal()
    ids = [line.strip() for line in sys.stdin if line.strip()]

    def one(sid):
        try:
            _terminate(modal, sid, attempts=5)
        except Exception as e:
            if not _is_missing(e):
                _err("destroy %s: %s" % (sid, e))

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, ids))
    return 0


# ---------------------------------------------------------------- CLI

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modal_sandbox.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    pr = sub.add_parser("prepare", help="build an image; prints its id")
    pr.add_argument("dockerfile", nargs="?")
    pr.add_argument("--include-cwd", action="store_true")
    pr.add_argument("--copy-dir", action="append", metavar="LOCAL:REMOTE")
    pr.add_argument("--sandbox-init-cmd")
    pr.add_argument("--context-dir", default=".")
    pr.add_argument("--sandbox-repo-root", default="/app")
    pr.add_argument("--ignore", action="append", metavar="PATTERN")
    pr.add_argument("--no-cache", action="store_true")
    pr.add_argument("--from-base-image")
    pr.add_argument("--patch-file")
    pr.add_argument("--sandbox-project-root", default="/app")
    pr.add_argument("--post-patch-cmd")
    pr.set_defaults(fn=cmd_prepare)

    cr = sub.add_parser("create", help="create a sandbox; prints its id")
    cr.add_argument("image_id")
    cr.add_argument("--cpu", type=float, default=0.125)
    cr.add_argument("--memory-gb", type=float)
    cr.add_argument("--env", action="append", metavar="KEY=VALUE")
    cr.add_argument("--env-stdin", action="store_true", help="read more env as a JSON object from stdin")
    cr.add_argument("--copy-dir", action="append", metavar="LOCAL:REMOTE")
    cr.add_argument("--experimental-options", metavar="JSON")
    cr.add_argument("--workdir", default="/app")
    cr.add_argument("--timeout", type=int, default=3600)
    cr.set_defaults(fn=cmd_create)

    ex = sub.add_parser("exec", help="run a shell command in a sandbox")
    ex.add_argument("sandbox_id")
    ex.add_argument("--timeout", type=int, default=0)
    ex.add_argument("--status-file")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ex.set_defaults(fn=cmd_exec)

    dl = sub.add_parser("download", help="copy files out of a sandbox")
    dl.add_argument("sandbox_id")
    dl.add_argument("paths", nargs="*", metavar="REMOTE:LOCAL")
    dl.set_defaults(fn=cmd_download)

    de = sub.add_parser("destroy", help="terminate a sandbox")
    de.add_argument("sandbox_id")
    de.set_defaults(fn=cmd_destroy)

    dm = sub.add_parser("destroy-many", help="terminate sandboxes listed on stdin")
    dm.set_defaults(fn=cmd_destroy_many)
    return p


def _exec_args(argv):
    """exec's own parsing: `exec ID [--timeout S] [--status-file F] [--] CMD...`.
    Everything after the id and the options is the command, untouched, even
    when it starts with '-' (argparse would take it for options)."""
    ns = argparse.Namespace(cmd="exec", fn=cmd_exec, sandbox_id=None, timeout=0, status_file=None, command=[])
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            ns.command = argv[i + 1:]
            break
        name, eq, val = tok.partition("=")
        if name in ("--timeout", "--status-file"):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise SystemExit("modal_sandbox.py: exec: %s needs a value" % name)
                val = argv[i]
            if name == "--timeout":
                ns.timeout = int(val)
            else:
                ns.status_file = val
        elif ns.sandbox_id is None and not tok.startswith("-"):
            ns.sandbox_id = tok
        else:
            ns.command = argv[i:]
            break
        i += 1
    if ns.sandbox_id is None:
        raise SystemExit("modal_sandbox.py: exec: missing SANDBOX_ID")
    return ns


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "exec" and not ({"-h", "--help"} & set(argv[1:2])):
        a = _exec_args(argv[1:])
    else:
        a = parser().parse_args(argv)
    try:
        return a.fn(a)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        _err("%s failed: %s: %s" % (a.cmd, type(e).__name__, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
