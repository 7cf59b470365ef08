#!/usr/bin/env bash
# The test suite under sanitizers: every unit and integration test against an
# ASan+UBSan build (the integration tests then drive the instrumented binary
# and plugins), and the orchestrator's unit tests (event loop, process runner,
# scheduler, executor pieces) under TSan. Assumes scripts/setup.sh has run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
jobs=$(nproc)

asan=${OFFLOAD_ASAN_BUILD_DIR:-$root/build-asan}
cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOFFLOAD_SANITIZE=address,undefined "${launcher[@]}" >/dev/null
cmake --build "$asan" -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp
(cd "$asan" && ctest --output-on-failure -j"$jobs" --timeout 900)

tsan=${OFFLOAD_TSAN_BUILD_DIR:-$root/build-tsan}
cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOFFLOAD_SANITIZE=thread "${launcher[@]}" >/dev/null
cmake --build "$tsan" -j"$jobs" --target offload_unit_process offload_unit_run
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
"$tsan/bin/offload_unit_process"
"$tsan/bin/offload_unit_run"
echo "sanitizers: ASan+UBSan suite and TSan orchestrator tests passed"
