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
grep -q '"type":"Action".*"protocol":"email".*"status":"delivered"' "$T/out.json" ||
    { echo "FAIL: no delivered Action line for the email"; cat "$T/out.json"; exit 1; }
echo "ok: the delivery outcome is reported as an Action"

# a response in the alarm's actions runs through the same outbox, once, and is
# recorded in keysentry's own trail
cat >"$T/respond.yaml" <<X
Resources:
  Failures:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: trail
      FilterPattern: '{ \$.errorCode = "*" && \$.eventSource = "kms.amazonaws.com" }'
      MetricTransformations: [{MetricName: Failures, MetricNamespace: Lab, MetricValue: "1"}]
  Page:
    Type: Keysentry::Response::Exec
    Properties:
      Command: [/usr/bin/tee, $T/paged.json]
      TimeoutSeconds: 10
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: failures
      Namespace: Lab
      MetricName: Failures
      Statistic: Sum
      Period: 10
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: ignore
      AlarmActions: [!Ref Page]
X
"$K" replay --json -q --notify --notify-timeout 30 --respond-trail "$T/respond-trail.ndjson" \
    -c "$T/respond.yaml" "$SRC/examples/lab/trail-kms-failures.ndjson" >"$T/r.json"
[ -s "$T/paged.json" ] && grep -q '"AlarmName":"failures"' "$T/paged.json" ||
    { echo "FAIL: the exec response did not receive the alarm message"; exit 1; }
n=$(grep -c '"type":"Action".*"status":"delivered"' "$T/r.json")
[ "$n" -eq 1 ] || { echo "FAIL: expected 1 delivered response action, got $n"; exit 1; }
grep -q '"eventSource":"keysentry.local"' "$T/respond-trail.ndjson" ||
    { echo "FAIL: the response is not in keysentry's own trail"; exit 1; }
echo "ok: the Exec response ran once, with the message on stdin, and is in the trail"
