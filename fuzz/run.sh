#!/bin/sh
# Short fuzz run for CI: each libFuzzer target for N seconds (default 20),
# starting from its seed corpus and kept regressions. A crash stops the
# script with the target's exit code; the crashing input is left in
# $OUT/<target>/ (copy it to fuzz/regressions/<target>/ once fixed).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
# Env: BUILD (default build-fuzz, configured with -DOFFLOAD_FUZZ=ON and clang),
#      OUT (default $BUILD/fuzz/out).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-20}
[ $# -gt 0 ] && shift
BUILD=${BUILD:-$root/build-fuzz}
OUT=${OUT:-$BUILD/fuzz/out}
targets=${*:-"config env_expand junit history shell_quote pytest_discovery pytest_results vitest_list vitest_results nextest_list nextest_results default_framework"}

# Leaks in a target are findings too; UBSan reports must stop the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

for t in $targets; do
  bin=$BUILD/fuzz/bin/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "fuzz/run.sh: $bin not built (cmake --build $BUILD --target fuzz_$t)" >&2
    exit 2
  fi
  work=$OUT/$t
  mkdir -p "$work/corpus"
  dict=
  [ -f "$here/dict/$t.dict" ] && dict=-dict=$here/dict/$t.dict
  regress=
  [ -d "$here/regressions/$t" ] && regress=$here/regressions/$t
  echo "== fuzz_$t for ${secs}s"
  # New inputs go to $work/corpus (first dir); the checked-in seeds are read only.
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/" $dict \
    "$work/corpus" "$here/corpus/$t" $regress 2>"$work/log" || {
    rc=$?
    tail -n 60 "$work/log" >&2
    echo "fuzz/run.sh: fuzz_$t failed (exit $rc); inputs: $(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || true)" >&2
    exit $rc
  }
  grep -E "stat::number_of_executed_units|cov:" "$work/log" | tail -n 2
done
echo "fuzz/run.sh: all targets ran ${secs}s without a finding"
