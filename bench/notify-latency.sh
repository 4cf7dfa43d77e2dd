#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Notification latency on loopback: from a state change's enqueue (the
# outbox rows written and committed in one transaction) to the SMTP server
# accepting the e-mail (250 after DATA, reported by the delivering worker),
# N runs, one transition at a time. Target: p99 < 200 ms (issue 4).
#
#   bench/notify-latency.sh [BUILD_DIR] [N]      (defaults: build, 500)
#
# Uses build/notify-test-driver (tests/notify) and the stdlib SMTP receiver
# tests/notify/sinks.py; the database is a fresh file in a temporary folder.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
N=${2:-500}
DRIVER=$BUILD/notify-test-driver
[ -x "$DRIVER" ] || { echo "missing $DRIVER (cmake --build $BUILD --target notify-test-driver)" >&2; exit 2; }
T=$(mktemp -d)
SMTP_PID=""
cleanup() {
    [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
python3 "$SRC/tests/notify/sinks.py" smtp --port-file "$T/port" --out "$T/mail" &
SMTP_PID=$!
i=0
while [ ! -s "$T/port" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "SMTP receiver did not start" >&2; exit 1; }
    sleep 0.1
done
PORT=$(cat "$T/port")
"$DRIVER" --db "$T/db.sqlite" --template "$SRC/tests/notify/templates/integration.yaml" \
    --stack-name bench --param Email=bench@example.org \
    --param "SmtpUrl=smtp://127.0.0.1:$PORT" --digest-window -1 \
    --fire bench-test-alarm --bench "$N" --drain 60000 >"$T/out.ndjson"
grep '"type":"bench"' "$T/out.ndjson"
got=$(ls "$T/mail" | wc -l)
echo "{\"emails_received\":$got,\"expected\":$N}"
[ "$got" -eq "$N" ]
