#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kill -9 in the middle of a replay that persists to SQLite, resume, and the
# final totals (events, matches, alarm states and transitions, every metric's
# sample count and sum) equal an uninterrupted run's.
#   crash_resume.sh KEYSENTRY KS_BENCH_GEN TEMPLATE
set -eu
K=$1
GEN=$2
TPL=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$GEN" --s3 "$T/trail" --bytes 120M --seed 11 >/dev/null 2>&1
summary() { grep '"type":"Summary"' | jq -S 'del(.durationMs, .files, .badRecords, .late, .untimed, .outsideRange)'; }

start=$(date +%s%N)
"$K" replay --json -q --db "$T/clean.db" --commit-every 2000 -c "$TPL" "$T/trail" |
    summary >"$T/clean.json"
took_ms=$((($(date +%s%N) - start) / 1000000))
[ -s "$T/clean.json" ] || { echo "FAIL: no summary from the uninterrupted run"; exit 1; }

# kill at fractions of the uninterrupted run's duration (sanitizer builds are
# several times slower), each run resuming where the previous one died
mid=0
for pct in 15 30 45 60 80; do
    delay=$(awk "BEGIN { printf \"%.3f\", $took_ms * $pct / 100000 }")
    "$K" replay --json --db "$T/crash.db" --commit-every 2000 -c "$TPL" "$T/trail" \
        >"$T/out.json" 2>"$T/err.txt" &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if grep -q 'resuming after [1-9]' "$T/err.txt"; then
        mid=$((mid + 1))
    fi
done
"$K" replay --json --db "$T/crash.db" --commit-every 2000 -c "$TPL" "$T/trail" 2>"$T/err.txt" |
    summary >"$T/resumed.json"
grep -q 'resuming after [1-9]' "$T/err.txt" && mid=$((mid + 1))

if ! cmp -s "$T/clean.json" "$T/resumed.json"; then
    echo "FAIL: resumed totals differ from the uninterrupted run"
    diff "$T/clean.json" "$T/resumed.json" | head -40
    exit 1
fi
if [ "$mid" -eq 0 ]; then
    echo "FAIL: no run was interrupted after a commit; the test proved nothing"
    exit 1
fi
events=$(jq .events "$T/clean.json")
echo "ok: $events events; $mid of 6 runs resumed from a mid-run checkpoint; totals identical"
