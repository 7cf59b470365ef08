#!/bin/sh
# A tiny test runner that speaks TAP (Test Anything Protocol).
# Tests are shell functions named test_* in tests/*.sh.
#
#   ./run-tests.sh --list [GREP-ARGS...]   print test names, one a line
#                                          (filtered by grep GREP-ARGS if given)
#   ./run-tests.sh NAME...                 run the named tests; TAP on stdout
#
# A test passes when its function returns 0, is skipped when it returns 77
# (its last line of output is the reason), and fails otherwise (its output
# becomes TAP diagnostics). Each result carries its duration in a TAP 13 YAML
# block (duration_ms), which the tap plugin reads. With TAP_FAIL_FAST=1 (what
# the tap plugin sets for `offload run --fail-fast`) the runner bails out after
# the first failure.
cd "$(dirname "$0")" || exit 2

if [ "${1:-}" = "--list" ]; then
  shift
  if [ $# -eq 0 ]; then
    grep -ho '^test_[A-Za-z0-9_]*' tests/*.sh
  else
    grep -ho '^test_[A-Za-z0-9_]*' tests/*.sh | grep "$@"
  fi
  exit 0 # a filter that matches nothing is an empty group, not an error
fi

for f in tests/*.sh; do
  . "./$f"
done

echo "TAP version 13"
echo "1..$#"
n=0
failed=0
for name in "$@"; do
  n=$((n + 1))
  case "$name" in
    test_*) ;;
    *) echo "not ok $n - $name"; echo "# not a test name"; failed=1; continue ;;
  esac
  if ! command -v "$name" >/dev/null 2>&1; then
    echo "not ok $n - $name"
    echo "# no such test"
    failed=1
    continue
  fi
  start=$(date +%s%N)
  out=$( ("$name") 2>&1 )
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ $rc -eq 0 ]; then
    echo "ok $n - $name"
    printf '  ---\n  duration_ms: %s\n  ...\n' "$ms"
  elif [ $rc -eq 77 ]; then
    echo "ok $n - $name # SKIP $(printf '%s\n' "$out" | tail -n 1)"
  else
    echo "not ok $n - $name"
    printf '  ---\n  duration_ms: %s\n  ...\n' "$ms"
    printf '%s\n' "$out" | sed 's/^/# /'
    failed=1
    if [ "${TAP_FAIL_FAST:-}" = 1 ]; then
      echo "Bail out! fail-fast after $name"
      exit 1
    fi
  fi
done
exit $failed
