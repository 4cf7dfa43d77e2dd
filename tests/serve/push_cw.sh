#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# keysentry serve on 127.0.0.1 at an ephemeral port (docs/serve.md):
#  - Firehose HTTP endpoint delivery: plain and gzip records and bodies,
#    CloudWatch Logs subscription data, a bad record among good ones, a
#    retried request id, envelope errors, a gzip bomb, the access key;
#  - EventBridge events, arrays and PutEvents entries;
#  - aws cloudwatch put-metric-data / get-metric-data round trips with exact
#    numbers, AWS-style validation errors, and an alarm on pushed data;
#  - API-created alarms and filters (and deletions) survive a restart.
# Every wait is bounded. Skips (77) without curl, jq, gzip, base64 or the
# Debian AWS CLI (/usr/bin/aws; a pip `aws` earlier in PATH is not used).
#   push_cw.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
LAB=$SRC/examples/lab
AWS=/usr/bin/aws
for t in curl jq gzip base64; do
    command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }
done
[ -x $AWS ] || { echo "skip: $AWS not installed"; exit 77; }
. "$SRC/tests/lib/harness.sh"
check() { # NAME COMMAND...: ok when the command succeeds
    n=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$n"; else bad "$n"; fi
}
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=dummy AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

start() { # extra serve options...
    rm -f "$T/ready"
    "$K" serve -q -c "$LAB/monitoring.yaml" --listen 127.0.0.1:0 --data "$T/data" \
        --ready-file "$T/ready" "$@" &
    PID=$!
    i=0
    while [ ! -s "$T/ready" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "FAIL: serve did not start"; exit 1; }
        sleep 0.1
    done
    P=$(cat "$T/ready")
    A="$AWS --endpoint-url http://$P"
}
stop() {
    kill "$PID"
    wait "$PID" || true
    PID=
}
wait_for() { # SECONDS COMMAND...
    n=$(($1 * 10))
    shift
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        n=$((n - 1))
        sleep 0.1
    done
    return 1
}
prom() { curl -sf -H "$AUTH" "http://$P/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
src_events() { prom "keysentry_source_events_total{source=\"$1\"}"; }
src_bad() { prom "keysentry_source_bad_records_total{source=\"$1\"}"; }
b64() { base64 -w0; }
AUTH="X-None: 1"

mkdir -p "$T/data"
start
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# five lab failure records from the App role, stamped now
{
    grep errorCode "$LAB/trail-kms-failures.ndjson" | grep -m4 'role/App-ECSTaskRole"'
    grep -v errorCode "$LAB/trail-kms-failures.ndjson" | head -1
} | sed "s/\"eventTime\":\"[^\"]*\"/\"eventTime\":\"$NOW\"/" >"$T/rec.ndjson"
[ "$(wc -l <"$T/rec.ndjson")" = 5 ] || { echo "FAIL: lab data"; exit 1; }
R1=$(sed -n 1p "$T/rec.ndjson")
matches0=$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')

# ---- 1. Firehose -------------------------------------------------------------
# records: one plain record; bad base64; two NDJSON lines gzip'd; CloudWatch
# Logs subscription data (gzip'd, two log events); a truncated JSON line
D1=$(printf '%s' "$R1" | b64)
D3=$(sed -n 2,3p "$T/rec.ndjson" | gzip | b64)
jq -c -n --arg a "$(sed -n 4p "$T/rec.ndjson")" --arg b "$(sed -n 5p "$T/rec.ndjson")" \
    --argjson t "$(($(date +%s) * 1000))" \
    '{messageType:"DATA_MESSAGE",owner:"111122223333",logGroup:"/aws/cloudtrail/monitoring",
      logStream:"trail",subscriptionFilters:["kms"],
      logEvents:[{id:"1",timestamp:$t,message:$a},{id:"2",timestamp:$t,message:$b}]}' |
    gzip | b64 >"$T/d4"
D5=$(printf '{"eventTime":"%s","eventName":' "$NOW" | b64)
jq -c -n --arg d1 "$D1" --arg d3 "$D3" --rawfile d4 "$T/d4" --arg d5 "$D5" \
    --argjson t "$(($(date +%s) * 1000))" \
    '{requestId:"fh-1",timestamp:$t,records:[{data:$d1},{data:"not*base64"},{data:$d3},
      {data:$d4},{data:$d5}]}' >"$T/fh.json"
fh() { # REQUEST-ID BODY-FILE [curl options...]: prints the answer, then the status
    id=$1
    f=$2
    shift 2
    curl -s -w '\n%{http_code}\n' -H "X-Amz-Firehose-Request-Id: $id" \
        -H 'X-Amz-Firehose-Protocol-Version: 1.0' -H 'Content-Type: application/json' "$@" \
        --data-binary "@$f" "http://$P/push/firehose"
}
fh fh-1 "$T/fh.json" >"$T/out"
check "firehose: 200, requestId echoed" \
    sh -c "tail -n1 '$T/out' | grep -qx 200 && head -n1 '$T/out' | jq -e '.requestId == \"fh-1\" and (.timestamp | type) == \"number\"'"
check "firehose: 5 accepted, 2 rejected with positions" \
    sh -c "head -n1 '$T/out' | jq -e '.accepted == 5 and .rejected == 2 and
        (.errors[0] | startswith(\"records[1].data: invalid base64 at character 3\")) and
        (.errors[1] | startswith(\"records[4] line 1 (byte 0): not JSON\"))'"
[ "$(src_events http:firehose)" = 5 ] && [ "$(src_bad http:firehose)" = 2 ] &&
    ok "firehose: per-source counters 5 events, 2 bad" ||
    bad "firehose counters $(src_events http:firehose)/$(src_bad http:firehose)"
m=$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')
[ $((m - matches0)) = 4 ] && ok "firehose: the lab filter matched the 4 failures" ||
    bad "matches $matches0 -> $m"
check "firehose: subscription events keep their stream" \
    sh -c "curl -sf 'http://$P/api/events?limit=1000' | jq -e '[.events[] |
        select(.origin.source == \"http:firehose\" and .origin.logStream == \"trail\")] | length == 2'"
# a retry of a counted delivery is answered but not counted again
fh fh-1 "$T/fh.json" >"$T/out"
check "firehose: retried request id not recounted" \
    sh -c "head -n1 '$T/out' | jq -e '.duplicate == true' && [ '$(src_events http:firehose)' = 5 ]"
# the same body gzip'd, as Firehose sends it with compression on
gzip -c "$T/fh.json" >"$T/fh.json.gz"
fh fh-2 "$T/fh.json.gz" -H 'Content-Encoding: gzip' >"$T/out"
check "firehose: gzip body" sh -c "head -n1 '$T/out' | jq -e '.accepted == 5 and .rejected == 2'"
# envelope errors deliver nothing and say where
printf '{"requestId":"fh-3","records":[{"data":"%s"},{"data":7}]}' "$D1" >"$T/bad.json"
fh fh-3 "$T/bad.json" >"$T/out"
check "firehose: bad envelope is 400 with errorMessage, nothing counted" \
    sh -c "tail -n1 '$T/out' | grep -qx 400 && head -n1 '$T/out' |
        jq -e '.requestId == \"fh-3\" and (.errorMessage | startswith(\"records[1]\"))' &&
        [ '$(src_events http:firehose)' = 10 ]"
printf '{"records":[' >"$T/bad.json"
fh fh-4 "$T/bad.json" >"$T/out"
check "firehose: truncated JSON is 400 with its byte offset" \
    sh -c "tail -n1 '$T/out' | grep -qx 400 && head -n1 '$T/out' | jq -e '.errorMessage | test(\"byte 12\")'"
# a gzip bomb: 64 MiB of zeros in a small body stops at the inflation cap
head -c 67108864 /dev/zero | gzip -c >"$T/bomb.gz"
fh fh-5 "$T/bomb.gz" -H 'Content-Encoding: gzip' >"$T/out"
check "firehose: gzip bomb body is 413" sh -c "tail -n1 '$T/out' | grep -qx 413"
jq -c -n --arg d "$(base64 -w0 <"$T/bomb.gz")" '{requestId:"fh-6",records:[{data:$d}]}' \
    >"$T/bomb.json"
fh fh-6 "$T/bomb.json" >"$T/out"
check "firehose: gzip bomb record is a bad record" \
    sh -c "head -n1 '$T/out' | jq -e '.rejected == 1 and (.errors[0] | test(\"inflates to more than\"))'"
curl -sf "http://$P/healthz" >/dev/null && ok "daemon alive after hostile bodies" || bad "healthz"

# copies of one request id sent at once (several listener threads) count once:
# each answer is 200 (counted, or a duplicate of a counted one) or 503 (in
# flight elsewhere: Firehose retries)
before=$(src_events http:firehose)
pids=
for i in 1 2 3 4 5 6; do
    fh fh-race "$T/fh.json" >"$T/race$i" &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done # not a bare wait: serve runs in the background too
after=$(src_events http:firehose)
statuses=$(for i in 1 2 3 4 5 6; do tail -n1 "$T/race$i"; done)
codes=$(echo "$statuses" | sort | uniq -c | tr -s ' \n' ' ')
if [ $((after - before)) = 5 ] && ! echo "$statuses" | grep -qvxE '200|503'; then
    ok "firehose: 6 concurrent copies of one request id counted once (answers:$codes)"
else
    bad "firehose: concurrent copies counted $((after - before)) events (answers:$codes)"
fi

# ---- 2. EventBridge ----------------------------------------------------------
ev() { # RECORD-LINE ID
    jq -c -n --argjson d "$1" --arg id "$2" \
        '{version:"0",id:$id,"detail-type":"AWS API Call via CloudTrail",source:"aws.kms",
          account:"111122223333",time:"2026-11-27T00:00:00Z",region:"us-east-1",resources:[],
          detail:$d}'
}
jq -c -n --argjson a "$(ev "$R1" ev-1)" --argjson b "$(ev "$(sed -n 2p "$T/rec.ndjson")" ev-2)" \
    '[$a, {"detail-type":"EC2 Instance State-change Notification",detail:{}}, $b]' >"$T/eb.json"
curl -s -w '\n%{http_code}\n' --data-binary "@$T/eb.json" "http://$P/push/eventbridge" >"$T/out"
check "eventbridge: array, 2 accepted, the non-CloudTrail event rejected at [1]" \
    sh -c "tail -n1 '$T/out' | grep -qx 200 && head -n1 '$T/out' |
        jq -e '.accepted == 2 and .rejected == 1 and (.errors[0] | startswith(\"[1]: detail-type\"))'"
jq -c -n --arg d "$R1" \
    '{Entries:[{Source:"aws.kms",DetailType:"AWS API Call via CloudTrail",Detail:$d},
               {Source:"aws.kms",DetailType:"AWS API Call via CloudTrail",Detail:"{\"eventTime\":"}]}' \
    >"$T/pe.json"
curl -s --data-binary "@$T/pe.json" "http://$P/push/eventbridge" >"$T/out"
check "eventbridge: PutEvents entries, bad Detail named" \
    jq -e '.accepted == 1 and .rejected == 1 and (.errors[0] | startswith("Entries[1].Detail: not JSON"))' "$T/out"
ev "$R1" ev-3 | curl -s --data-binary @- "http://$P/push/eventbridge" >"$T/out"
check "eventbridge: one event" jq -e '.accepted == 1' "$T/out"
[ "$(src_events http:eventbridge)" = 4 ] && [ "$(src_bad http:eventbridge)" = 2 ] &&
    ok "eventbridge: per-source counters 4 events, 2 bad" ||
    bad "eventbridge counters $(src_events http:eventbridge)/$(src_bad http:eventbridge)"
check "eventbridge: origin is the event id" \
    sh -c "curl -sf 'http://$P/api/events?limit=1000' | jq -e 'any(.events[]; .origin.file == \"eventbridge:ev-2\")'"

# ---- 3. PutMetricData / GetMetricData ----------------------------------------
NOWS=$(date -u +%s)
T0=$(((NOWS / 60) * 60 - 180))
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
DIM='[{"Name":"Svc","Value":"api"}]'
jq -n --arg t0 "$(iso $T0)" --arg t1 "$(iso $((T0 + 60)))" --argjson d "$DIM" \
    '[{MetricName:"Latency",Dimensions:$d,Unit:"Milliseconds",Timestamp:$t0,
       Values:[10,20,30],Counts:[1,2,3]},
      {MetricName:"Latency",Dimensions:$d,Unit:"Milliseconds",Timestamp:$t1,
       StatisticValues:{SampleCount:4,Sum:100,Minimum:10,Maximum:40}},
      {MetricName:"Errors",Timestamp:$t0,Value:2},{MetricName:"Errors",Timestamp:$t1,Value:7}]' \
    >"$T/md.json"
check "put-metric-data: Values+Counts, StatisticValues, Value" \
    $A cloudwatch put-metric-data --namespace App/Test --metric-data "file://$T/md.json"
q() { # ID STAT [METRIC]
    jq -c -n --arg id "$1" --arg s "$2" --arg m "${3:-Latency}" --argjson d "$DIM" \
        '{Id:$id,MetricStat:{Metric:{Namespace:"App/Test",MetricName:$m,
          Dimensions:(if $m == "Latency" then $d else [] end)},Period:60,Stat:$s}}'
}
jq -s '. + [{Id:"avg2",Expression:"(sum / cnt) * 2",Label:"twice the mean"},
            {Id:"f",Expression:"FILL(err, 0)"}]' <<EOF >"$T/q.json"
$(q sum Sum)
$(q cnt SampleCount)
$(q mn Minimum)
$(q mx Maximum)
$(q av Average)
$(q err Sum Errors | jq -c '. + {ReturnData:false}')
EOF
$A cloudwatch get-metric-data --metric-data-queries "file://$T/q.json" \
    --start-time "$(iso $((T0 - 60)))" --end-time "$(iso $((T0 + 120)))" \
    --scan-by TimestampAscending --output json >"$T/gmd.json"
val() { jq -c --arg id "$1" '.MetricDataResults[] | select(.Id == $id) | .Values' "$T/gmd.json"; }
[ "$(val sum)" = "[140,100]" ] && [ "$(val cnt)" = "[6,4]" ] &&
    [ "$(val mn)" = "[10,10]" ] && [ "$(val mx)" = "[30,40]" ] &&
    ok "get-metric-data: Sum, SampleCount, Minimum, Maximum exact" ||
    bad "get-metric-data: $(val sum) $(val cnt) $(val mn) $(val mx)"
jq -e --arg t0 "$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%S+00:00)" \
    '.MetricDataResults[] | select(.Id == "av") | .Timestamps[0] == $t0 and
     (.Values[0] * 3 | . > 69.999999 and . < 70.000001) and .Values[1] == 25 and
     .StatusCode == "Complete" and .Label == "Latency"' "$T/gmd.json" >/dev/null &&
    ok "get-metric-data: Average, aligned timestamps, label" || bad "Average $(val av)"
jq -e '.MetricDataResults[] | select(.Id == "avg2") | .Label == "twice the mean" and
       (.Values | length == 2) and .Values[1] == 50' "$T/gmd.json" >/dev/null &&
    ok "get-metric-data: arithmetic expression" || bad "expression $(val avg2)"
jq -e '(.MetricDataResults | map(.Id) | index("err") == null) and
       (.MetricDataResults[] | select(.Id == "f") | .StatusCode == "InternalError" and
        (.Messages[0].Value | test("FILL is not supported")))' "$T/gmd.json" >/dev/null &&
    ok "get-metric-data: ReturnData false hidden; functions a per-query error" ||
    bad "ReturnData/function errors"
$A cloudwatch get-metric-data --metric-data-queries "file://$T/q.json" --output json \
    --start-time "$(iso $((T0 - 60)))" --end-time "$(iso $((T0 + 120)))" >"$T/gmd.json"
[ "$(val sum)" = "[100,140]" ] && ok "get-metric-data: TimestampDescending by default" ||
    bad "descending $(val sum)"
echo '[{"Id":"x","Expression":"sum +"},'"$(q sum Sum)"']' >"$T/q2.json"
$A cloudwatch get-metric-data --metric-data-queries "file://$T/q2.json" \
    --start-time "$(iso $T0)" --end-time "$(iso $((T0 + 60)))" 2>"$T/err" && bad "bad expression accepted" ||
    { grep -q "ValidationError.*character 6" "$T/err" && ok "get-metric-data: syntax error with position" ||
        bad "syntax error: $(cat "$T/err")"; }
pmd_err() { # CODE ARGS...: put-metric-data fails with CODE
    c=$1
    shift
    ! $A cloudwatch put-metric-data "$@" 2>"$T/err" && grep -q "($c)" "$T/err"
}
check "put-metric-data: AWS/ namespace is InvalidParameterValue" \
    pmd_err InvalidParameterValue --namespace AWS/EC2 --metric-name X --value 1
check "put-metric-data: Value with StatisticValues is InvalidParameterCombination" \
    pmd_err InvalidParameterCombination --namespace App/Test --metric-name X --value 1 \
    --statistic-values SampleCount=1,Sum=1,Minimum=1,Maximum=1
check "put-metric-data: NaN is InvalidParameterValue" \
    pmd_err InvalidParameterValue --namespace App/Test --metric-name X --value NaN
check "put-metric-data: bad unit is InvalidParameterValue" \
    pmd_err InvalidParameterValue --namespace App/Test --metric-name X --value 1 --unit Parsecs
echo '[{"MetricName":"X","Values":[1,2],"Counts":[1]}]' >"$T/vc.json"
check "put-metric-data: Values and Counts of different sizes is InvalidParameterValue" \
    pmd_err InvalidParameterValue --namespace App/Test --metric-data "file://$T/vc.json"
check "put-metric-data: an impossible statistic set is InvalidParameterValue" \
    pmd_err InvalidParameterValue --namespace App/Test --metric-name X \
    --statistic-values SampleCount=2,Sum=100,Minimum=1,Maximum=2
# a large PutMetricData (1,000 members: 2,003 form parameters) is taken whole
awk 'BEGIN { printf "Action=PutMetricData&Version=2010-08-01&Namespace=App/Bulk";
    for (i = 1; i <= 1000; i++) printf "&MetricData.member.%d.MetricName=N&MetricData.member.%d.Value=1", i, i }' \
    >"$T/bulk.form"
code=$(curl -s -o "$T/bulk.out" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "@$T/bulk.form" "http://$P/")
bulk_sum() {
    [ "$($A cloudwatch get-metric-statistics --namespace App/Bulk --metric-name N --statistics Sum \
        --start-time "$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)" \
        --end-time "$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)" --period 3600 \
        --query 'Datapoints[0].Sum' --output text)" = 1000.0 ]
}
if [ "$code" = 200 ] && bulk_sum; then ok "put-metric-data: 1,000 members in one request, Sum 1000"; else
    bad "bulk put-metric-data: HTTP $code $(head -c 300 "$T/bulk.out")"; fi
# an alarm created through the API evaluates on pushed data
$A cloudwatch put-metric-alarm --alarm-name ApiErrors --namespace App/Test --metric-name Pushed \
    --statistic Sum --period 10 --evaluation-periods 1 --threshold 3 \
    --comparison-operator GreaterThanThreshold --treat-missing-data notBreaching
$A cloudwatch put-metric-data --namespace App/Test --metric-name Pushed --value 5
alarm_is() {
    [ "$($A cloudwatch describe-alarms --alarm-names "$1" --query 'MetricAlarms[0].StateValue' \
        --output text)" = "$2" ]
}
if wait_for 25 alarm_is ApiErrors ALARM; then ok "put-metric-alarm on put-metric-data: ALARM"; else
    bad "ApiErrors did not go to ALARM"; fi

# ---- 4. API changes survive a restart -----------------------------------------
G=/aws/cloudtrail/monitoring
$A logs create-log-group --log-group-name /api/group
$A logs put-metric-filter --log-group-name /api/group --filter-name ApiFilter \
    --filter-pattern '{ $.eventName = "Decrypt" }' \
    --metric-transformations metricName=Decrypts,metricNamespace=App/Test,metricValue=1
$A cloudwatch put-metric-alarm --alarm-name Gone --namespace App/Test --metric-name X \
    --statistic Sum --period 60 --evaluation-periods 1 --threshold 1 \
    --comparison-operator GreaterThanThreshold
$A cloudwatch delete-alarms --alarm-names Gone monitoring-KMSSecurityAlarm
$A logs delete-metric-filter --log-group-name $G --filter-name KMSFailureFilter
stop
start --token sekrit
AUTH="Authorization: Bearer sekrit"
curl -sf -H "$AUTH" "http://$P/api/alarms" >"$T/alarms.json"
jq -e '[.alarms[].name] | sort == ["ApiErrors"]' "$T/alarms.json" >/dev/null &&
    ok "restart: API alarm kept, deleted template and API alarms stay deleted" ||
    bad "restart alarms: $(jq -c '[.alarms[] | [.name, .state]]' "$T/alarms.json")"
jq -e '.alarms[0].state == "ALARM"' "$T/alarms.json" >/dev/null &&
    ok "restart: the API alarm's state is restored" || bad "restart state"
[ -n "$(prom 'keysentry_filter_matches_total{filter="ApiFilter"}')" ] &&
    [ -z "$(prom 'keysentry_filter_matches_total{filter="KMSFailureFilter"}')" ] &&
    ok "restart: API filter kept, deleted template filter stays deleted" || bad "restart filters"

# ---- 5. the token: Firehose's access key stands in for it --------------------
printf '{"requestId":"fh-7","records":[{"data":"%s"}]}' "$D1" >"$T/one.json"
fh fh-7 "$T/one.json" -H 'X-Amz-Firehose-Access-Key: wrong' >"$T/out"
check "firehose: wrong access key is 401 in Firehose's shape" \
    sh -c "tail -n1 '$T/out' | grep -qx 401 && head -n1 '$T/out' | jq -e '.requestId == \"fh-7\" and (.errorMessage | length > 0)'"
fh fh-7 "$T/one.json" >"$T/out"
check "firehose: no access key is 401" sh -c "tail -n1 '$T/out' | grep -qx 401"
fh fh-7 "$T/one.json" -H 'X-Amz-Firehose-Access-Key: sekrit' >"$T/out"
check "firehose: the token as access key is accepted" \
    sh -c "tail -n1 '$T/out' | grep -qx 200 && head -n1 '$T/out' | jq -e '.accepted == 1'"
curl -s -o /dev/null -w '%{http_code}' --data-binary "@$T/eb.json" \
    "http://$P/push/eventbridge" | grep -qx 401 && ok "eventbridge: bearer token required" ||
    bad "eventbridge without token"
stop
exit $fail
