#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Composite alarms in replay (serve_engine_advance): at each evaluation time
# the composites run after every metric alarm due then, so a composite changes
# at the instant of its child's transition, and its reason names that child.
# The expected lines are what replay printed before it moved onto the serve
# engine. Then: actions a suppressor held run when its period ends (replay
# dropped them before; serve always ran them).
#   composite.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat >"$T/comp.yaml" <<'X'
Resources:
  Decrypts:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: trail
      FilterPattern: '{ $.eventName = Decrypt }'
      MetricTransformations: [{MetricName: Decrypts, MetricNamespace: Lab, MetricValue: "1"}]
  Encrypts:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: trail
      FilterPattern: '{ $.eventName = Encrypt }'
      MetricTransformations: [{MetricName: Encrypts, MetricNamespace: Lab, MetricValue: "1"}]
  Busy:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: Busy
      Namespace: Lab
      MetricName: Decrypts
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 100
      ComparisonOperator: GreaterThanThreshold
  EncBusy:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: EncBusy
      Namespace: Lab
      MetricName: Encrypts
      Statistic: Sum
      Period: 10
      EvaluationPeriods: 2
      Threshold: 3
      ComparisonOperator: GreaterThanThreshold
  Both:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties:
      AlarmName: Both
      AlarmRule: ALARM(Busy) AND ALARM(EncBusy)
  Either:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties:
      AlarmName: Either
      AlarmRule: ALARM(Busy) OR ALARM(EncBusy)
X
"$K" replay --json -q -c "$T/comp.yaml" --until 2026-11-26T11:20:00Z \
    "$SRC/examples/lab/trail-decrypt-burst.ndjson" >"$T/out.json"
jq -r 'select(.type == "StateChange") | "\(.time) \(.alarm) \(.alarmType) \(.oldState) -> \(.newState)"' \
    <"$T/out.json" >"$T/changes.txt"
cat >"$T/expected.txt" <<'X'
2026-11-26T11:00:10Z EncBusy MetricAlarm INSUFFICIENT_DATA -> OK
2026-11-26T11:00:10Z Both CompositeAlarm INSUFFICIENT_DATA -> OK
2026-11-26T11:00:10Z Either CompositeAlarm INSUFFICIENT_DATA -> OK
2026-11-26T11:01:00Z Busy MetricAlarm INSUFFICIENT_DATA -> OK
2026-11-26T11:05:00Z Busy MetricAlarm OK -> ALARM
2026-11-26T11:05:00Z Either CompositeAlarm OK -> ALARM
2026-11-26T11:06:00Z Busy MetricAlarm ALARM -> OK
2026-11-26T11:06:00Z Either CompositeAlarm ALARM -> OK
2026-11-26T11:15:20Z EncBusy MetricAlarm OK -> INSUFFICIENT_DATA
2026-11-26T11:16:00Z Busy MetricAlarm OK -> INSUFFICIENT_DATA
X
fail=0
if ! cmp -s "$T/expected.txt" "$T/changes.txt"; then
    echo "FAIL: composite state changes"
    diff "$T/expected.txt" "$T/changes.txt" || true
    fail=1
else
    echo "ok: composites change at their child's instant, after it"
fi
jq -r 'select(.type == "StateChange" and .alarm == "Either" and .newState == "ALARM") | .reason' \
    <"$T/out.json" >"$T/reason.txt"
echo 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:Busy transitioned to ALARM at Thursday 26 November, 2026 11:05:00 UTC' \
    >"$T/reason.expected"
if ! cmp -s "$T/reason.expected" "$T/reason.txt"; then
    echo "FAIL: composite reason"
    diff "$T/reason.expected" "$T/reason.txt" || true
    fail=1
else
    echo "ok: the composite's reason names the child and its transition time"
fi
jq -c 'select(.type == "Summary") | .alarms' <"$T/out.json" >"$T/sum.txt"
echo '{"Busy":{"state":"INSUFFICIENT_DATA","transitions":4},"EncBusy":{"state":"INSUFFICIENT_DATA","transitions":2},"Both":{"state":"OK","transitions":1},"Either":{"state":"OK","transitions":3}}' \
    >"$T/sum.expected"
if ! cmp -s "$T/sum.expected" "$T/sum.txt"; then
    echo "FAIL: summary states and transitions"
    diff "$T/sum.expected" "$T/sum.txt" || true
    fail=1
else
    echo "ok: final states and transition counts"
fi

# A suppressor's WaitPeriod holds the composite's ALARM actions; when it ends
# (30 s after 11:05:00, seen at the 11:06:00 evaluation, before the composite
# goes back to OK) the held actions run, as in serve (spec/alarms.md §8.4).
cat >"$T/supp.yaml" <<X
Resources:
  Decrypts:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: trail
      FilterPattern: '{ \$.eventName = Decrypt }'
      MetricTransformations: [{MetricName: Decrypts, MetricNamespace: Lab, MetricValue: "1"}]
  Page:
    Type: Keysentry::Response::Exec
    Properties:
      Command: [/usr/bin/tee, -a, $T/paged.json]
      TimeoutSeconds: 10
  Busy:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: Busy
      Namespace: Lab
      MetricName: Decrypts
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 100
      ComparisonOperator: GreaterThanThreshold
  Quiet:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: Quiet
      Namespace: Lab
      MetricName: Decrypts
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1000
      ComparisonOperator: GreaterThanThreshold
  Held:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties:
      AlarmName: Held
      AlarmRule: ALARM(Busy)
      ActionsSuppressor: Quiet
      ActionsSuppressorWaitPeriod: 30
      ActionsSuppressorExtensionPeriod: 60
      AlarmActions: [!Ref Page]
X
"$K" replay --json -q --notify --notify-timeout 30 -c "$T/supp.yaml" \
    "$SRC/examples/lab/trail-decrypt-burst.ndjson" >"$T/supp.json"
n=$(grep -c '"type":"Action","alarm":"Held".*"newState":"ALARM".*"status":"delivered"' \
    "$T/supp.json" || true)
if [ "$n" -ne 1 ] || ! grep -q '"AlarmName":"Held"' "$T/paged.json" 2>/dev/null; then
    echo "FAIL: the actions held by the suppressor's wait period did not run once (got $n)"
    cat "$T/supp.json"
    fail=1
else
    echo "ok: actions held by a suppressor run when its wait period ends"
fi
exit $fail
