#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# replay --notify delivers the lab alarm's email through the durable outbox to
# a real SMTP server on loopback, with AWS's subject and keysentry's context
# block naming the culprit.
#   notify.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
T=$(mktemp -d)
SP=
cleanup() { [ -n "$SP" ] && kill "$SP" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
python3 "$SRC/tests/notify/sinks.py" smtp --port-file "$T/port" --out "$T/mail" &
SP=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/port" ] || { echo "FAIL: SMTP sink did not start"; exit 1; }
KEYSENTRY_SMTP_URL="smtp://127.0.0.1:$(cat "$T/port")" \
    "$K" replay --json -q --notify --notify-timeout 30 -c "$SRC/examples/lab/monitoring.yaml" \
    "$SRC/examples/lab/trail-kms-failures.ndjson" >"$T/out.json"
n=$(ls "$T/mail" | wc -l)
[ "$n" -eq 1 ] || { echo "FAIL: expected 1 email, got $n"; exit 1; }
python3 - "$T/mail" <<'PY'
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, sorted(os.listdir(d))[0])))
data = m["data"]
checks = [
    ('Subject: ALARM: "monitoring-KMSSecurityAlarm" in US East (N. Virginia)', "AWS subject"),
    ("kms-alerts@example.com", "recipient"),
    ("Keysentry Context:", "context block"),
    ("Matching Events:            2", "two matching events"),
    ("arn:aws:iam::111122223333:role/App-ECSTaskRole (2)", "the culprit role"),
    ("IncorrectKeyException (2)", "the error code"),
    ("trail-kms-failures.ndjson", "the events' origin"),
]
bad = [why for s, why in checks if s not in data]
if "kms-alerts@example.com" not in m["rcpt_tos"]:
    bad.append("envelope recipient")
if bad:
    print("FAIL: " + ", ".join(bad))
    sys.exit(1)
print("ok: the lab alarm email arrived with AWS's layout and the context block")
PY
