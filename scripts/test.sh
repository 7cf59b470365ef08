#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite through ctest:
# unit tests (doctest) and integration tests that drive the real binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${OFFLOAD_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" "$build"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
