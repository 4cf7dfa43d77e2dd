#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# keysentry serve, live, on 127.0.0.1 at an ephemeral port:
#  - lab failures appended to a tailed directory raise the lab alarm (JSON
#    API and `aws cloudwatch describe-alarms`);
#  - `aws logs put-log-events` is counted; `aws logs test-metric-filter`
#    agrees with `keysentry test-pattern`;
#  - a restart resumes the tail without recounting;
#  - /metrics is Prometheus text; hostile requests get AWS-shaped errors;
#  - early fire and late events.
# Every wait is bounded.
#   serve.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
LAB=$SRC/examples/lab
. "$SRC/tests/lib/harness.sh"

AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=dummy AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# start TEMPLATE DATA TAIL: runs serve in the background, sets P=host:port
start() {
    rm -f "$T/ready"
    "$K" serve -q -c "$1" --listen 127.0.0.1:0 --data "$2" --tail "$3" --ready-file "$T/ready" &
    PID=$!
    i=0
    while [ ! -s "$T/ready" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "FAIL: serve did not start"; exit 1; }
        sleep 0.1
    done
    P=$(cat "$T/ready")
}
stop() {
    kill "$PID"
    wait "$PID" || true
    PID=
}
# now-stamped lab lines: stamp SECONDS_AGO < in > out
stamp() {
    ts=$(date -u -d "-$1 sec" +%Y-%m-%dT%H:%M:%SZ)
    sed "s/\"eventTime\":\"[^\"]*\"/\"eventTime\":\"$ts\"/"
}
# wait_for SECONDS COMMAND...: retries until the command succeeds
wait_for() {
    n=$(($1 * 10))
    shift
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        n=$((n - 1))
        sleep 0.1
    done
    return 1
}
state_is() { # ALARM-NAME STATE
    curl -sf "http://$P/api/alarms" |
        jq -e --arg n "$1" --arg s "$2" '.alarms[] | select(.name == $n) | .state == $s'
}
prom() { curl -sf "http://$P/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
prom_ge() { # KEY N: the sample is at least N
    v=$(prom "$1")
    [ -n "$v" ] && awk -v v="$v" -v n="$2" 'BEGIN { exit !(v >= n) }'
}

mkdir -p "$T/tail" "$T/data"
start "$LAB/monitoring.yaml" "$T/data" "$T/tail"
A="$AWS --endpoint-url http://$P"
ALARM=monitoring-KMSSecurityAlarm
curl -sf "http://$P/healthz" >/dev/null && ok "healthz" || bad "healthz"

# 1. tail: the lab's failures, now
stamp 0 <"$LAB/trail-kms-failures.ndjson" >"$T/tail/trail.ndjson"
if wait_for 15 state_is $ALARM ALARM; then ok "lab alarm goes to ALARM"; else bad "lab alarm ALARM"; fi
[ "$(prom 'keysentry_source_events_total{source="tail:'"$(cd "$T/tail" && pwd -P)"'"}')" = 76 ] &&
    ok "76 events read from the tail" || bad "tail event count"
[ "$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')" = 4 ] &&
    ok "4 matches" || bad "match count"
if [ -n "$AWS" ]; then
    s=$($A cloudwatch describe-alarms --alarm-names $ALARM --query 'MetricAlarms[0].StateValue' \
        --output text)
    [ "$s" = ALARM ] && ok "aws cloudwatch describe-alarms: ALARM" || bad "describe-alarms: $s"
fi

# 2. event search returns records with their origin
curl -sf "http://$P/api/events?errorCode=IncorrectKeyException&eventName=Decrypt" >"$T/ev.json"
jq -e '.events | length > 0 and all(.origin.file | endswith("trail.ndjson")) and
       all(.origin.offset >= 0) and all(.errorCode == "IncorrectKeyException")' "$T/ev.json" \
    >/dev/null && ok "event search with origin" || bad "event search"

# 3. logs API through the AWS CLI
if [ -n "$AWS" ]; then
    G=/aws/cloudtrail/monitoring
    $A logs create-log-stream --log-group-name $G --log-stream-name app >/dev/null
    REC=$(grep -m1 errorCode "$LAB/trail-kms-failures.ndjson" | stamp 0)
    jq -n --arg m "$REC" --argjson t "$(($(date +%s) * 1000))" '[{timestamp: $t, message: $m}]' \
        >"$T/put.json"
    before=$(prom 'keysentry_source_events_total{source="http:logs"}')
    $A logs put-log-events --log-group-name $G --log-stream-name app \
        --log-events "file://$T/put.json" >/dev/null
    after=$(prom 'keysentry_source_events_total{source="http:logs"}')
    [ "$before" = 0 ] && [ "$after" = 1 ] && ok "put-log-events counted" ||
        bad "put-log-events: $before -> $after"
    $A logs describe-log-streams --log-group-name $G --query 'logStreams[0].storedBytes' \
        --output text | grep -qv '^0$' && ok "describe-log-streams" || bad "describe-log-streams"

    PAT='{ $.errorCode = "*" && $.eventSource = "kms.amazonaws.com" }'
    head -40 "$LAB/trail-kms-failures.ndjson" >"$T/msgs.ndjson"
    set --
    while IFS= read -r line; do set -- "$@" "$line"; done <"$T/msgs.ndjson"
    $A logs test-metric-filter --filter-pattern "$PAT" --log-event-messages "$@" --output json |
        jq -c '[.matches[] | .eventNumber]' >"$T/aws.txt"
    "$K" test-pattern -q --json --lines "$PAT" "$T/msgs.ndjson" |
        jq -c '[.matches[] | .eventNumber]' >"$T/ks.txt"
    if cmp -s "$T/aws.txt" "$T/ks.txt" && [ "$(cat "$T/ks.txt")" != "[]" ]; then
        ok "test-metric-filter agrees with test-pattern ($(cat "$T/ks.txt"))"
    else
        bad "test-metric-filter $(cat "$T/aws.txt") vs test-pattern $(cat "$T/ks.txt")"
    fi
    $A logs put-metric-filter --log-group-name $G --filter-name extra --filter-pattern Decrypt \
        --metric-transformations metricName=Decrypts,metricNamespace=Lab,metricValue=1
    $A logs describe-metric-filters --log-group-name $G --query 'length(metricFilters)' \
        --output text | grep -qx 2 && ok "put/describe-metric-filters" || bad "metric filters"
    $A logs delete-metric-filter --log-group-name $G --filter-name extra
    $A logs filter-log-events --log-group-name $G --filter-pattern IncorrectKeyException \
        --query 'length(events)' --output text | grep -qv '^0$' && ok "filter-log-events" ||
        bad "filter-log-events"
    $A cloudwatch get-metric-statistics --namespace Pattern1Application/KMSSecurity \
        --metric-name KMSSecurityError --statistics Sum --period 60 \
        --start-time "$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)" \
        --end-time "$(date -u -d '+2 min' +%Y-%m-%dT%H:%M:%SZ)" \
        --query 'sum(Datapoints[].Sum)' --output text | grep -Eq '^[45](\.0)?$' &&
        ok "get-metric-statistics" || bad "get-metric-statistics"
    $A cloudwatch put-metric-alarm --alarm-name api-alarm --namespace Lab --metric-name X \
        --statistic Sum --period 60 --evaluation-periods 1 --threshold 1 \
        --comparison-operator GreaterThanThreshold
    $A cloudwatch set-alarm-state --alarm-name api-alarm --state-value ALARM --state-reason test
    $A cloudwatch describe-alarm-history --alarm-name api-alarm \
        --query 'length(AlarmHistoryItems)' --output text | grep -qx 2 &&
        ok "put-metric-alarm, set-alarm-state, history" || bad "alarm API"
    $A cloudwatch delete-alarms --alarm-names api-alarm
    if $A cloudwatch set-alarm-state --alarm-name api-alarm --state-value OK --state-reason x \
        2>"$T/err"; then bad "deleted alarm still there"; else
        grep -q ResourceNotFound "$T/err" && ok "delete-alarms" || bad "delete-alarms error"
    fi
    $A cloudwatch list-metrics --namespace Pattern1Application/KMSSecurity \
        --query 'Metrics[0].MetricName' --output text | grep -qx KMSSecurityError &&
        ok "list-metrics" || bad "list-metrics"
fi

# 4. Prometheus text: every line a comment or "name{labels} number"
curl -sf "http://$P/metrics" >"$T/prom.txt"
if grep -Ev '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z]+="([^"\\]|\\.)*"(,[a-z]+="([^"\\]|\\.)*")*\})? -?[0-9.e+-]+)$' \
    "$T/prom.txt" >"$T/badprom.txt"; then
    bad "prometheus lines: $(head -3 "$T/badprom.txt")"
else
    ok "prometheus text format"
fi

# 5. hostile HTTP: AWS-shaped errors, no crash
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
[ "$(code -H 'X-Amz-Target: Logs_20140328.PutLogEvents' -d '{bad' "http://$P/")" = 400 ] &&
    jq -e '.__type == "SerializationException"' "$T/body" >/dev/null && ok "bad JSON" ||
    bad "bad JSON"
[ "$(code -d 'Action=Nope&Version=2010-08-01' "http://$P/")" = 400 ] &&
    grep -q '<Code>InvalidAction</Code>' "$T/body" && ok "unknown action" || bad "unknown action"
[ "$(code -H 'X-Amz-Target: Logs_20140328.Nope' -d '{}' "http://$P/")" = 400 ] &&
    grep -q UnknownOperationException "$T/body" && ok "unknown operation" ||
    bad "unknown operation"
head -c 3000000 /dev/zero | tr '\0' a >"$T/huge"
[ "$(code -H 'X-Amz-Target: Logs_20140328.PutLogEvents' --data-binary "@$T/huge" "http://$P/")" = 413 ] &&
    jq -e '.__type' "$T/body" >/dev/null && ok "huge body" || bad "huge body"
[ "$(code -H 'X-Amz-Target: Logs_20140328.PutLogEvents' \
    -d '{"logGroupName":"nope","logStreamName":"x","logEvents":[{"timestamp":1,"message":"m"}]}' \
    "http://$P/")" = 400 ] && grep -q ResourceNotFoundException "$T/body" &&
    ok "missing group" || bad "missing group"
curl -sf "http://$P/healthz" >/dev/null && ok "still alive" || bad "died on hostile input"

# 6. restart: the tail resumes after the checkpoint, nothing is recounted
m0=$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')
stop
start "$LAB/monitoring.yaml" "$T/data" "$T/tail"
TAILSRC='keysentry_source_events_total{source="tail:'"$(cd "$T/tail" && pwd -P)"'"}'
sleep 1 # two poll intervals: a wrongly reset position would re-read by now
[ "$(prom "$TAILSRC")" = 0 ] && ok "restart: nothing re-read" || bad "restart re-read $(prom "$TAILSRC")"
# lines 32 and 34 are failures of the app role: both match the lab filter
sed -n '32p;34p' "$LAB/trail-kms-failures.ndjson" | stamp 0 >>"$T/tail/trail.ndjson"
wait_for 5 prom_ge "$TAILSRC" 2 && [ "$(prom "$TAILSRC")" = 2 ] &&
    ok "restart: appended lines read once" || bad "restart: appended lines ($(prom "$TAILSRC"))"
m=$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')
[ "$m" = $((m0 + 2)) ] && ok "restart: counters continue ($m0 -> $m)" ||
    bad "matches after restart: $m0 -> $m"
stop

# 7. early fire: ALARM before the 60-second period ends
mkdir -p "$T/tail2" "$T/data2"
start "$SRC/tests/serve/early.yaml" "$T/data2" "$T/tail2"
grep errorCode "$LAB/trail-kms-failures.ndjson" | stamp 0 >"$T/tail2/t.ndjson"
if wait_for 3 state_is early-alarm ALARM; then
    curl -sf "http://$P/api/alarms" | jq -e '.alarms[0].reason | test("early fire")' >/dev/null &&
        ok "early fire" || bad "early fire reason"
else
    bad "early fire: not ALARM within 3 s"
fi
stop

# 8. late events: counted in their own (already evaluated) period
mkdir -p "$T/tail3" "$T/data3"
start "$LAB/monitoring.yaml" "$T/data3" "$T/tail3"
sleep 11 # let the 10-second alarm evaluate once
grep errorCode "$LAB/trail-kms-failures.ndjson" | stamp 25 >"$T/tail3/late.ndjson"
LATE='keysentry_source_late_events_total{source="tail:'"$(cd "$T/tail3" && pwd -P)"'"}'
wait_for 3 prom_ge "$LATE" 1 &&
    ok "late events detected" || bad "late events"
wait_for 3 state_is $ALARM ALARM && ok "late events re-evaluate the alarm" ||
    bad "late events did not raise the alarm"
lag=$(prom 'keysentry_source_lag_max_seconds{source="tail:'"$(cd "$T/tail3" && pwd -P)"'"}')
awk -v l="$lag" 'BEGIN { exit !(l >= 24 && l < 40) }' && ok "delivery lag measured ($lag s)" ||
    bad "lag $lag"
stop

exit $fail
