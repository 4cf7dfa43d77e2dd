#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The lab, as a test: replaying the example templates over the example trails
# gives exactly the expected state changes (time, alarm, old -> new), the
# expected per-filter match counts, and the reason AWS would write.
#   lab.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
LAB=$SRC/examples/lab
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

check() { # name expected-file actual-file
    if ! cmp -s "$2" "$3"; then
        echo "FAIL: $1"
        diff "$2" "$3" || true
        fail=1
    else
        echo "ok: $1"
    fi
}

changes() {
    jq -r 'select(.type == "StateChange") | "\(.time) \(.alarm) \(.oldState) -> \(.newState)"'
}

"$K" replay --json -q -c "$LAB/monitoring.yaml" "$LAB/trail-kms-failures.ndjson" >"$T/lab.json"
changes <"$T/lab.json" >"$T/lab.txt"
cat >"$T/lab.expected" <<'X'
2026-11-26T10:02:10Z monitoring-KMSSecurityAlarm INSUFFICIENT_DATA -> ALARM
2026-11-26T10:02:20Z monitoring-KMSSecurityAlarm ALARM -> OK
X
check "lab failures: state changes" "$T/lab.expected" "$T/lab.txt"
jq -r 'select(.type == "Summary") | .matched.KMSFailureFilter' "$T/lab.json" >"$T/m.txt"
echo 4 >"$T/m.expected"
check "lab failures: the filter counts the app role's 4 failures, not the other role's" \
    "$T/m.expected" "$T/m.txt"
jq -r 'select(.type == "StateChange" and .newState == "ALARM") | .reason' "$T/lab.json" >"$T/r.txt"
echo 'Threshold Crossed: 1 datapoint [2.0 (26/11/26 10:02:00)] was greater than the threshold (1.0).' \
    >"$T/r.expected"
check "lab failures: StateReason as AWS writes it" "$T/r.expected" "$T/r.txt"
jq -r 'select(.type == "StateChange" and .newState == "ALARM") | .actions[0]' "$T/lab.json" \
    >"$T/a.txt"
echo 'arn:aws:sns:us-east-1:111122223333:monitoring-KMSAlarmTopic' >"$T/a.expected"
check "lab failures: the ALARM transition runs the topic action" "$T/a.expected" "$T/a.txt"

# the JSON form of the template gives the same run
"$K" replay --json -q -c "$LAB/monitoring.json" --stack-name monitoring \
    "$LAB/trail-kms-failures.ndjson" | changes >"$T/labj.txt"
check "lab failures: JSON template, same state changes" "$T/lab.expected" "$T/labj.txt"

"$K" replay --json -q -c "$LAB/decrypt-volume.yaml" "$LAB/trail-decrypt-burst.ndjson" >"$T/burst.json"
changes <"$T/burst.json" >"$T/burst.txt"
cat >"$T/burst.expected" <<'X'
2026-11-26T11:00:10Z decrypt-volume-decrypt-burst INSUFFICIENT_DATA -> OK
2026-11-26T11:04:30Z decrypt-volume-decrypt-burst OK -> ALARM
2026-11-26T11:05:30Z decrypt-volume-decrypt-burst ALARM -> OK
X
check "decrypt burst: 3 of 5 periods over 20 Decrypts" "$T/burst.expected" "$T/burst.txt"
jq -c 'select(.type == "Summary") | .matched' "$T/burst.json" >"$T/bm.txt"
echo '{"KMSDecryptVolume":440,"KMSEncryptVolume":200}' >"$T/bm.expected"
check "decrypt burst: per-filter matches" "$T/bm.expected" "$T/bm.txt"

# --until keeps evaluating after the last event: with TreatMissingData
# missing, the alarm falls to INSUFFICIENT_DATA once its whole range (R = N + L
# = 1 + 5 one-minute slots) is empty: the last event is at 11:09:58
cat >"$T/missing.yaml" <<'X'
Resources:
  Calls:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: trail
      FilterPattern: '{ $.eventName = Decrypt }'
      MetricTransformations: [{MetricName: Decrypts, MetricNamespace: Lab, MetricValue: "1"}]
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
X
"$K" replay --json -q -c "$T/missing.yaml" --until 2026-11-26T11:30:00Z \
    "$LAB/trail-decrypt-burst.ndjson" | changes >"$T/u.txt"
cat >"$T/u.expected" <<'X'
2026-11-26T11:01:00Z Busy INSUFFICIENT_DATA -> OK
2026-11-26T11:05:00Z Busy OK -> ALARM
2026-11-26T11:06:00Z Busy ALARM -> OK
2026-11-26T11:16:00Z Busy OK -> INSUFFICIENT_DATA
X
check "--until: evaluation goes on after the data; missing data -> INSUFFICIENT_DATA" \
    "$T/u.expected" "$T/u.txt"

# a template error is a usage error with the resource named
printf 'Resources:\n  F:\n    Type: AWS::Logs::MetricFilter\n    Properties:\n      LogGroupName: g\n      FilterPattern: "{ $.a = 1"\n      MetricTransformations: [{MetricName: M, MetricNamespace: N, MetricValue: "1"}]\n' >"$T/bad.yaml"
set +e
"$K" replay -q -c "$T/bad.yaml" "$LAB/trail-kms-failures.ndjson" 2>"$T/err.txt" >/dev/null
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "Resources.F" "$T/err.txt" && grep -q "must end with '}'" "$T/err.txt" ||
    { echo "FAIL: bad template (rc $rc)"; cat "$T/err.txt"; fail=1; }

exit $fail
