#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# KMS service benchmark: starts `keysentry kms serve` on an ephemeral
# loopback port with a fresh data directory, runs ks-kms-load (keep-alive,
# SigV4-signed Decrypt calls) for a bounded time, stops the service with
# SIGTERM and checks that every call is in the trail.
#
#   bench/kms-load.sh                       10 s, 32 connections
#   KMS_BENCH_SECONDS=5 bench/kms-load.sh
# Environment: KMS_BENCH_SECONDS (10), KMS_BENCH_CONNECTIONS (32),
# KMS_BENCH_CLIENT_THREADS (1), KMS_BENCH_SERVER_THREADS (2), KMS_BENCH_OP
# (Decrypt), KEYSENTRY (build/keysentry), KMS_LOAD (build/ks-kms-load).
# Output: bench/out/kms-results.md (also printed); exit 1 when the trail
# misses a call or the run had errors.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
SECS=${KMS_BENCH_SECONDS:-10}
CONNS=${KMS_BENCH_CONNECTIONS:-32}
CTHREADS=${KMS_BENCH_CLIENT_THREADS:-1}
STHREADS=${KMS_BENCH_SERVER_THREADS:-2}
OP=${KMS_BENCH_OP:-Decrypt}
KEYSENTRY=${KEYSENTRY:-$ROOT/build/keysentry}
KMS_LOAD=${KMS_LOAD:-$ROOT/build/ks-kms-load}
for b in "$KEYSENTRY" "$KMS_LOAD"; do
    [ -x "$b" ] || { echo "kms-load.sh: $b is missing; run make" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "kms-load.sh: needs jq" >&2; exit 1; }
mkdir -p "$OUT"
T=$(mktemp -d /tmp/ks-kms-bench.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -KILL $PID 2>/dev/null; rm -rf "$T"' EXIT

"$KEYSENTRY" kms serve --listen 127.0.0.1:0 --port-file "$T/port" --data "$T/data" \
    --threads "$STHREADS" 2>"$T/server.log" &
PID=$!
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/server.log"; echo "kms-load.sh: server did not start" >&2; exit 1; }
PORT=$(cat "$T/port")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
AWS_ACCESS_KEY_ID=$(jq -r '.principals[0].accessKeyId' "$T/data/principals.json")
AWS_SECRET_ACCESS_KEY=$(jq -r '.principals[0].secretAccessKey' "$T/data/principals.json")

rc=0
timeout $((SECS + 60)) "$KMS_LOAD" --endpoint "http://127.0.0.1:$PORT" --duration "$SECS" \
    --connections "$CONNS" --threads "$CTHREADS" --op "$OP" --json >"$T/load.json" || rc=$?
cat "$T/load.json"
kill -TERM $PID
for _ in $(seq 1 300); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
wait $PID || { echo "kms-load.sh: server exit status $?" >&2; rc=1; }
PID=

# Every call in the trail: the server's own count of handled requests, the
# records on disk and the load generator's count must agree (the generator
# may not have read the last in-flight answer on each connection).
RECORDS=$(find "$T/data/trail" -name '*_CloudTrail_*.json.gz' -exec zcat {} + |
    jq -s 'map(.Records | length) | add // 0')
OPS=$(find "$T/data/trail" -name '*_CloudTrail_*.json.gz' -exec zcat {} + |
    jq -s --arg op "$OP" '[.[].Records[] | select(.eventName == $op)] | length')
SERVER=$(sed -n 's/.*kms stopped: \([0-9]*\) requests.*/\1/p' "$T/server.log")
SENT=$(jq .sent_total "$T/load.json")
ANSWERED=$(jq .answered_total "$T/load.json")
SETUP=$(jq .setup_calls "$T/load.json")
VERIFY=$("$KEYSENTRY" kms verify-trail -q --trail-dir "$T/data/trail" \
    --public-key "$T/data/trail-digest-public.pem" || true)
ok=yes
[ "$RECORDS" = "$SERVER" ] || ok=no
[ "$OPS" -ge "$ANSWERED" ] && [ "$OPS" -le "$SENT" ] || ok=no
[ "$((OPS + SETUP))" = "$RECORDS" ] || ok=no
[ "$ok" = yes ] || rc=1

L=$T/load.json
{
    echo "### KMS service: $OP, $(date -u +%Y-%m-%d)"
    echo
    echo "$(nproc) cores ($(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)); server" \
        "threads $STHREADS, client threads $CTHREADS, $CONNS keep-alive connections, ${SECS} s" \
        "measured after 1 s warm-up; client and server share the machine."
    echo
    echo "| calls/s | p50 | p90 | p99 | max | errors | trail records | every call recorded | digest chain |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---|---|"
    printf '| %s | %s ms | %s ms | %s ms | %s ms | %s | %s (server handled %s; %s %s + %s setup) | %s | %s |\n' \
        "$(jq .calls_per_s $L)" "$(jq .p50_ms $L)" "$(jq .p90_ms $L)" "$(jq .p99_ms $L)" \
        "$(jq .max_ms $L)" "$(jq '.errors + .io_errors' $L)" "$RECORDS" "$SERVER" "$OPS" "$OP" \
        "$SETUP" "$ok" "$(echo "$VERIFY" | tail -n 1 | cut -d, -f1-2)"
} | tee "$OUT/kms-results.md"
exit $rc
