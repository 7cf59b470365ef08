"""A second check of nextest ID shapes with a REAL Rust toolchain.

cargo-nextest itself cannot be installed here, but cargo and rustc can build a
crate without dependencies offline. nextest's test names are libtest's names
(`<test binary> --list`) and its binary IDs follow a documented rule: the crate
name for a lib's unit tests, "<crate>::<target>" for an integration test. So:
build a tiny real crate, take the names from `cargo test -- --list`, check each
one selects exactly one test with `--exact`, then hand those names (with the
documented binary IDs) to the nextest STAND-IN (tests/fixtures/nextest/bin/cargo)
and check offload's IDs are "{binary-id} {test name}" end to end.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import FIXTURES, run_offload, write

CARGO = shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo")
pytestmark = pytest.mark.skipif(not os.path.exists(CARGO), reason="no cargo on this machine")


def cargo(args, cwd, target):
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_TERM_COLOR="never")
    p = subprocess.run([CARGO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def listed(out):
    """libtest `--list` lines are "<name>: test"."""
    return sorted(line[: -len(": test")] for line in out.splitlines() if line.endswith(": test"))


def test_real_libtest_names_make_the_expected_ids(tmp_path):
    crate = tmp_path / "idcheck"
    write(crate / "Cargo.toml", """
        [package]
        name = "idcheck"
        version = "0.1.0"
        edition = "2021"
        """)
    write(crate / "src" / "lib.rs", """
        pub fn add(a: i32, b: i32) -> i32 { a + b }

        #[cfg(test)]
        mod tests {
            #[test]
            fn it_works() { assert_eq!(super::add(2, 2), 4); }

            #[test]
            #[ignore]
            fn slow_one() {}

            mod nested {
                #[test]
                fn deep() {}
            }
        }
        """)
    write(crate / "tests" / "integ.rs", """
        #[test]
        fn end_to_end() { assert_eq!(idcheck::add(1, 1), 2); }
        """)
    target = tmp_path / "target"
    lib_names = listed(cargo(["test", "--offline", "--lib", "--", "--list"], crate, target))
    integ_names = listed(cargo(["test", "--offline", "--test", "integ", "--", "--list"], crate, target))
    assert lib_names == ["tests::it_works", "tests::nested::deep", "tests::slow_one"]
    assert integ_names == ["end_to_end"]
    for name in lib_names:
        out = cargo(["test", "--offline", "--lib", "--", "--exact", "--include-ignored", name], crate, target)
        assert "1 passed" in out, out

    # nextest's documented binary IDs: "<crate>" for the lib, "<crate>::<test target>" for tests/integ.rs.
    fixture = {"binaries": [
        {"binary-id": "idcheck", "package": "idcheck", "kind": "lib",
         "tests": {n: {"outcome": "pass", "ignored": n.endswith("slow_one")} for n in lib_names}},
        {"binary-id": "idcheck::integ", "package": "idcheck", "kind": "test", "binary-name": "integ",
         "tests": {n: "pass" for n in integ_names}},
    ]}
    (crate / "nextest-fixture.json").write_text(json.dumps(fixture))
    write(crate / "offload.toml", """
        [offload]
        max_parallel = 2
        sandbox_repo_root = "."

        [provider]
        type = "local"
        working_dir = "."

        [framework]
        type = "nextest"
        include_ignored = true

        [groups.all]

        [report]
        output_dir = "test-results"
        """)
    stand_in = FIXTURES / "nextest" / "bin"
    r = run_offload("run", cwd=crate, env={"PATH": f"{stand_in}:{os.environ['PATH']}"})
    assert r.rc == 0, r
    assert r.outcomes() == {
        "idcheck tests::it_works": "passed",
        "idcheck tests::nested::deep": "passed",
        "idcheck tests::slow_one": "passed",
        "idcheck::integ end_to_end": "passed",
    }, r
