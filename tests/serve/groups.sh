#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Metric filters see only their own log group's events (docs/serve.md,
# "Sources"), through the Debian AWS CLI's put-log-events on 127.0.0.1:
#  - the lab's 76 records go into /test/group-a, its first 40 into
#    /test/group-b; filters of each group count exactly their group's events,
#    and a defaultValue filter emits no default for the other group's events;
#  - records pushed to /api/push name no log group: every filter sees them,
#    unless the push names one with ?logGroup=;
#  - FilterLogEvents finds an event in the group it was put into only.
# Every wait is bounded. Skips (77) without curl, jq or /usr/bin/aws.
#   groups.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
LAB=$SRC/examples/lab
AWS=/usr/bin/aws
for t in curl jq; do
    command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }
done
[ -x $AWS ] || { echo "skip: $AWS not installed"; exit 77; }
. "$SRC/tests/lib/harness.sh"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=dummy AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

"$K" serve -q -c "$SRC/tests/serve/groups.yaml" --listen 127.0.0.1:0 --ready-file "$T/ready" &
PID=$!
i=0
while [ ! -s "$T/ready" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "FAIL: serve did not start"; exit 1; }
    sleep 0.1
done
P=$(cat "$T/ready")
A="$AWS --endpoint-url http://$P"
GA=/test/group-a
GB=/test/group-b

# the lab's records, now-stamped (eventTime for pushes, timestamp for puts)
ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sed "s/\"eventTime\":\"[^\"]*\"/\"eventTime\":\"$ts\"/" "$LAB/trail-kms-failures.ndjson" >"$T/all.ndjson"
head -40 "$T/all.ndjson" >"$T/b.ndjson"
sed -n '41,46p' "$T/all.ndjson" >"$T/push.ndjson"
events() { # NDJSON -> PutLogEvents' logEvents
    jq -R -s --argjson t "$(($(date +%s) * 1000))" \
        'split("\n") | map(select(length > 0) | {timestamp: $t, message: .})' "$1"
}
count() { grep -c "\"eventName\":\"$1\"" "$2" || true; }
events "$T/all.ndjson" >"$T/a.json"
events "$T/b.ndjson" >"$T/b.json"

$A logs create-log-stream --log-group-name $GA --log-stream-name s
$A logs create-log-stream --log-group-name $GB --log-stream-name s
$A logs put-log-events --log-group-name $GA --log-stream-name s --log-events "file://$T/a.json" \
    >/dev/null
$A logs put-log-events --log-group-name $GB --log-stream-name s --log-events "file://$T/b.json" \
    >/dev/null
curl -sf --data-binary "@$T/push.ndjson" "http://$P/api/push" | jq -e '.accepted == 6' \
    >/dev/null && ok "push of 6 records, no log group" || bad "push"
# a push that names group B: filters of A must not see it
curl -sf --data-binary "@$T/push.ndjson" "http://$P/api/push?logGroup=$GB" |
    jq -e '.accepted == 6' >/dev/null && ok "push of 6 records into $GB" || bad "push ?logGroup"
code=$(curl -s -o "$T/out" -w '%{http_code}' --data-binary "@$T/push.ndjson" \
    "http://$P/api/push?logGroup=/no/such/group")
[ "$code" = 404 ] && ok "push into a missing log group: 404" || bad "push missing group: $code"

NA=$(wc -l <"$T/all.ndjson")
NB=$(wc -l <"$T/b.ndjson")
NP=$(wc -l <"$T/push.ndjson")
DA=$(count Decrypt "$T/all.ndjson")
DB=$(count Decrypt "$T/b.ndjson")
DP=$(count Decrypt "$T/push.ndjson")
GOA=$(count GetObject "$T/all.ndjson")
GOP=$(count GetObject "$T/push.ndjson")
[ "$NA" = 76 ] && [ "$NB" = 40 ] && [ "$DA" != "$DB" ] || bad "corpus: $NA $NB $DA $DB"

curl -sf "http://$P/api/metrics" >"$T/m.json"
want() { # FILTER N
    got=$(jq -r --arg f "$1" '.filters[$f].matched' "$T/m.json")
    [ "$got" = "$2" ] && ok "$1 matched $2" || bad "$1 matched $got, want $2"
}
want DecryptA $((DA + DP))
want DecryptB $((DB + DP + DP))
want GetObjectA $((GOA + GOP))
want AllB $((NB + NP + NP))
# GetObjectsA: one sample per event group A's filters saw (default 0 or 1)
got=$(jq -c '[.metrics[] | select(.metricName == "GetObjectsA") | .sampleCount, .sum]' "$T/m.json")
[ "$got" = "[$((NA + NP)),$((GOA + GOP))]" ] &&
    ok "defaultValue: samples only for group A's events ($got)" ||
    bad "GetObjectsA [count,sum] $got, want [$((NA + NP)),$((GOA + GOP))]"

# FilterLogEvents: put events in their group; pushes without a group in both
fle() { $A logs filter-log-events --log-group-name "$1" --query 'length(events)' --output text; }
[ "$(fle $GA)" = $((NA + NP)) ] && ok "filter-log-events $GA: $((NA + NP))" ||
    bad "filter-log-events $GA: $(fle $GA)"
[ "$(fle $GB)" = $((NB + NP + NP)) ] && ok "filter-log-events $GB: $((NB + NP + NP))" ||
    bad "filter-log-events $GB: $(fle $GB)"
exit $fail
