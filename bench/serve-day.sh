#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A day of CloudTrail traffic through `keysentry serve`, fast-forwarded: is
# memory flat? (docs/benchmarks.md, "serve: a day of traffic").
#
#   bench/serve-day.sh
#   DAY_PASSES=10 bench/serve-day.sh     a shorter day (fewer events)
#
# ks-logs-load pushes the corpus DAY_PASSES times as PutLogEvents, the
# event timestamps laid out linearly from 24 hours ago to now over the
# batches, and samples the server's VmRSS every 100 ms together with the hour
# of event time being sent. The table gives min / max / last RSS per hour.
# Environment: DAY_MB=100 (corpus, ks-bench-gen seed 5), DAY_PASSES=48,
# DAY_CONNS=4, DAY_TEMPLATE=bench/cis.yaml (group /aws/cloudtrail/cis),
# BUILD=build.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MB=${DAY_MB:-100}
PASSES=${DAY_PASSES:-48}
CONNS=${DAY_CONNS:-4}
TPL=${DAY_TEMPLATE:-$ROOT/bench/cis.yaml}
GROUP=${DAY_GROUP:-/aws/cloudtrail/cis}
K=$BUILD/keysentry
OUT=$ROOT/bench/out
CORPUS=$OUT/ingest-${MB}mb-seed5.ndjson
mkdir -p "$OUT"
for b in "$K" "$BUILD/ks-bench-gen" "$BUILD/ks-logs-load"; do
    [ -x "$b" ] || { echo "serve-day.sh: build $b first (make)" >&2; exit 1; }
done
[ -s "$CORPUS" ] || "$BUILD/ks-bench-gen" --ndjson --bytes "${MB}M" --seed 5 >"$CORPUS"
T=$(mktemp -d)
SP=
cleanup() {
    [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

"$K" serve -q -c "$TPL" --listen 127.0.0.1:0 --data "$T/data" --ready-file "$T/ready" &
SP=$!
for _ in $(seq 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
P=$(cat "$T/ready")
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SP/status")
line=$("$BUILD/ks-logs-load" --url "http://$P" --group "$GROUP" --ndjson "$CORPUS" --day \
    --passes "$PASSES" --conns "$CONNS" --pid "$SP" --rss-log "$OUT/serve-day-rss.log")
echo "$line"
echo "RSS after start, before any event: $((rss0 / 1024)) MiB"
echo
echo "| event hour | batches sent | RSS min MiB | RSS max MiB | RSS last MiB |"
echo "|---:|---:|---:|---:|---:|"
awk '$3 > 0 {
        h = $2; if (!(h in mn) || $3 < mn[h]) mn[h] = $3; if ($3 > mx[h]) mx[h] = $3;
        last[h] = $3; b[h] = $1; if (h > top) top = h
     }
     END { for (h = 0; h <= top; h++) if (h in mn)
             printf "| %02d | %d | %.1f | %.1f | %.1f |\n", h, b[h], mn[h] / 1024, mx[h] / 1024, last[h] / 1024 }' \
    "$OUT/serve-day-rss.log"
curl -sf "http://$P/metrics" | grep -E '^keysentry_(source_events_total\{source="http:logs"|recent_events)' || true
kill "$SP"
wait "$SP" || true
SP=
