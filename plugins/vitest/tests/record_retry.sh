#!/bin/sh
# Re-records data/results-retry-{0,1,2}.json: real vitest runs of the test
# file below in /tmp/offload-retry (a copy of the fixture's package.json and
# node_modules), without --retry and with --retry=1 and --retry=2. Each test
# counts its runs in .runs/, emptied before each recording.
#
#     sh plugins/vitest/tests/record_retry.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixture=$here/../../../tests/fixtures/vitest
proj=/tmp/offload-retry
rm -rf "$proj"
mkdir -p "$proj/src"
cp "$fixture/package.json" "$proj/"
ln -s "$(cd "$fixture" && pwd)/node_modules" "$proj/node_modules"
cat >"$proj/src/retry.test.ts" <<'TS'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'

// This test's run number (1, 2, ...), counted in .runs/NAME.
function run(name: string): number {
  mkdirSync('.runs', { recursive: true })
  const f = `.runs/${name}`
  const n = existsSync(f) ? Number(readFileSync(f, 'utf8')) + 1 : 1
  writeFileSync(f, String(n))
  return n
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('retry', () => {
  it('passes', () => { run('passes'); expect(1).toBe(1) })
  it('flaky once', async () => { const n = run('flaky-once'); await sleep(50); expect(n).toBeGreaterThan(1) })
  it('flaky twice', async () => { const n = run('flaky-twice'); await sleep(50); expect(n).toBeGreaterThan(2) })
  it('always fails', async () => { const n = run('always'); await sleep(50); expect(n).toBe(-n) })
  it('soft then passes', () => {
    const n = run('soft-then-passes')
    if (n === 1) { expect.soft(n).toBe(10); expect.soft(n).toBe(20) }
  })
  it('soft always', () => { const n = run('soft-always'); expect.soft(n).toBe(10 * n); expect.soft(n).toBe(20 * n) })
  it('own retry 0', { retry: 0 }, () => { run('own-retry-0'); expect(1).toBe(2) })
})

describe('hook', () => {
  beforeEach(() => { if (run('hook-before-each') === 1) throw new Error('beforeEach fails once') })
  it('after a flaky beforeEach', () => { run('hook-test'); expect(1).toBe(1) })
})
TS
cd "$proj"
for n in 0 1 2; do
  rm -rf .runs
  retry=$([ "$n" = 0 ] && echo "" || echo "--retry=$n")
  # vitest exits 1: some tests fail on purpose.
  node_modules/.bin/vitest run --reporter=json --outputFile.json="$proj/results-retry-$n.json" $retry >/dev/null 2>&1 || true
  cp "$proj/results-retry-$n.json" "$here/data/"
  echo "results-retry-$n.json: runs $(cd .runs && for f in *; do printf '%s=%s ' "$f" "$(cat "$f")"; done)"
done
