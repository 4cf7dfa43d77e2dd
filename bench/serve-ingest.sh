#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sustained PutLogEvents ingest through `keysentry serve` (docs/benchmarks.md,
# "serve: PutLogEvents ingest"), beside jq counting the same records with the
# same filters in one pass, in the same run.
#
#   bench/serve-ingest.sh                       lab and CIS filter sets, 2 runs each
#   INGEST_MB=50 INGEST_PASSES=2 bench/serve-ingest.sh
#
# Environment (all optional):
#   INGEST_MB=100      NDJSON corpus (ks-bench-gen, seed 5) in MB
#   INGEST_PASSES=10   times every PutLogEvents body is sent (bounded load)
#   INGEST_CONNS=8     keep-alive connections of the load generator
#   INGEST_RUNS=2      runs per filter set (the machine is shared: noise)
#   BUILD=build        where keysentry, ks-bench-gen and ks-logs-load are
# serve runs with --data (checkpoints every second, as in production); server
# and load generator share the machine's 2 cores. jq runs on one core over
# the corpus once; its rate is events / wall second of that pass.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MB=${INGEST_MB:-100}
PASSES=${INGEST_PASSES:-10}
CONNS=${INGEST_CONNS:-8}
RUNS=${INGEST_RUNS:-2}
K=$BUILD/keysentry
OUT=$ROOT/bench/out
CORPUS=$OUT/ingest-${MB}mb-seed5.ndjson
mkdir -p "$OUT"
for b in "$K" "$BUILD/ks-bench-gen" "$BUILD/ks-logs-load"; do
    [ -x "$b" ] || { echo "serve-ingest.sh: build $b first (make)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "serve-ingest.sh: needs jq" >&2; exit 1; }
[ -s "$CORPUS" ] || "$BUILD/ks-bench-gen" --ndjson --bytes "${MB}M" --seed 5 >"$CORPUS"
LINES=$(wc -l <"$CORPUS")
T=$(mktemp -d)
SP=
cleanup() {
    [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# jq: one pass, a counter per filter (CloudWatch semantics: a comparison on
# an absent field does not match).
JQ_LAB='reduce (inputs | select(.eventSource == "kms.amazonaws.com"
  and ((.errorCode | type) as $t | $t == "string" or $t == "number")
  and .userIdentity.sessionContext.sessionIssuer.arn == "arn:aws:iam::111122223333:role/App-ECSTaskRole"))
  as $e (0; . + 1) | [.]'
JQ_CIS='def b: if . then 1 else 0 end;
def n: .eventName; def s: .eventSource;
reduce (inputs | [
  ((.errorCode | type) == "string" and ((.errorCode | endswith("UnauthorizedOperation")) or (.errorCode | startswith("AccessDenied")))),
  (n == "ConsoleLogin" and (.additionalEventData.MFAUsed | . != null and . != "Yes")),
  (.userIdentity.type == "Root" and (.userIdentity | has("invokedBy") | not) and (.eventType | . != null and . != "AwsServiceEvent")),
  (n | IN("DeleteGroupPolicy","DeleteRolePolicy","DeleteUserPolicy","PutGroupPolicy","PutRolePolicy","PutUserPolicy","CreatePolicy","DeletePolicy","CreatePolicyVersion","DeletePolicyVersion","AttachRolePolicy","DetachRolePolicy","AttachUserPolicy","DetachUserPolicy","AttachGroupPolicy","DetachGroupPolicy")),
  (n | IN("CreateTrail","UpdateTrail","DeleteTrail","StartLogging","StopLogging")),
  (n == "ConsoleLogin" and .errorMessage == "Failed authentication"),
  (s == "kms.amazonaws.com" and (n | IN("DisableKey","ScheduleKeyDeletion"))),
  (s == "s3.amazonaws.com" and (n | IN("PutBucketAcl","PutBucketPolicy","PutBucketCors","PutBucketLifecycle","PutBucketReplication","DeleteBucketPolicy","DeleteBucketCors","DeleteBucketLifecycle","DeleteBucketReplication"))),
  (s == "config.amazonaws.com" and (n | IN("StopConfigurationRecorder","DeleteDeliveryChannel","PutDeliveryChannel","PutConfigurationRecorder"))),
  (n | IN("AuthorizeSecurityGroupIngress","AuthorizeSecurityGroupEgress","RevokeSecurityGroupIngress","RevokeSecurityGroupEgress","CreateSecurityGroup","DeleteSecurityGroup")),
  (n | IN("CreateNetworkAcl","CreateNetworkAclEntry","DeleteNetworkAcl","DeleteNetworkAclEntry","ReplaceNetworkAclEntry","ReplaceNetworkAclAssociation")),
  (n | IN("CreateCustomerGateway","DeleteCustomerGateway","AttachInternetGateway","CreateInternetGateway","DeleteInternetGateway","DetachInternetGateway")),
  (n | IN("CreateRoute","CreateRouteTable","ReplaceRoute","ReplaceRouteTableAssociation","DeleteRouteTable","DeleteRoute","DisassociateRouteTable")),
  (n | IN("CreateVpc","DeleteVpc","ModifyVpcAttribute","AcceptVpcPeeringConnection","CreateVpcPeeringConnection","DeleteVpcPeeringConnection","RejectVpcPeeringConnection","AttachClassicLinkVpc","DetachClassicLinkVpc","DisableVpcClassicLink","EnableVpcClassicLink"))
] | map(b)) as $r ([range(14) | 0]; [., $r] | transpose | map(add))'
CIS_ORDER="UnauthorizedAPICalls ConsoleSignInWithoutMFA RootAccountUsage IAMPolicyChanges
CloudTrailConfigChanges ConsoleAuthenticationFailures DisableOrDeleteCMK S3BucketPolicyChanges
AWSConfigChanges SecurityGroupChanges NACLChanges NetworkGatewayChanges RouteTableChanges VPCChanges"

tpl_of() { [ "$1" = lab ] && echo "$ROOT/examples/lab/monitoring.yaml" || echo "$ROOT/bench/cis.yaml"; }
group_of() { [ "$1" = lab ] && echo /aws/cloudtrail/monitoring || echo /aws/cloudtrail/cis; }
filters_of() { [ "$1" = lab ] && echo KMSFailure || echo $CIS_ORDER; }

# serve: matches per filter, in the order of filters_of, space-separated
serve_matches() {
    local m out=
    curl -sf "http://$P/metrics" >"$T/metrics"
    for f in $(filters_of "$1"); do
        m=$(awk -v k="keysentry_filter_matches_total{filter=\"${f}Filter\"}" '$1 == k {print $2}' "$T/metrics")
        out="$out ${m:-0}"
    done
    echo $out
}

printf '| filter set | tool | run | events | wall s | events/s | CPU cores | peak RSS MiB | matches per pass |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---|\n'
for set in lab cis; do
    jqprog=$JQ_LAB
    [ $set = cis ] && jqprog=$JQ_CIS
    cat "$CORPUS" >/dev/null
    for run in $(seq "$RUNS"); do
        rm -rf "$T/data" "$T/ready"
        "$K" serve -q -c "$(tpl_of $set)" --listen 127.0.0.1:0 --data "$T/data" \
            --ready-file "$T/ready" &
        SP=$!
        for _ in $(seq 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
        P=$(cat "$T/ready")
        line=$("$BUILD/ks-logs-load" --url "http://$P" --group "$(group_of $set)" \
            --ndjson "$CORPUS" --passes "$PASSES" --conns "$CONNS" --pid "$SP")
        sleep 1.2 # the last checkpoint; counters are read after it
        got=$(serve_matches $set)
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SP/status")
        kill "$SP"
        wait "$SP" || true
        SP=
        kv() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
        per=
        for m in $got; do per="$per $((m / PASSES))"; done
        printf '| %s | keysentry serve | %s | %s | %s | %s | %s (+%s client) | %.1f |%s |\n' \
            $set "$run" "$(kv events)" "$(kv seconds)" "$(kv events_per_s)" "$(kv server_cores)" \
            "$(awk -v c="$(kv client_cpu_s)" -v s="$(kv seconds)" 'BEGIN {printf "%.2f", c / s}')" \
            "$(awk -v k="$hwm" 'BEGIN {print k / 1024}')" "$per"
        [ "$(kv errors)" = 0 ] || echo "serve-ingest.sh: $(kv errors) failed requests" >&2
        echo "$per" >"$T/serve-$set"
    done
    for run in $(seq "$RUNS"); do
        s0=$EPOCHREALTIME
        jqout=$(/usr/bin/time -f '%M %U %S' -o "$T/time" jq -nc "$jqprog" "$CORPUS")
        s1=$EPOCHREALTIME
        wall=$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.3f", b - a}')
        read -r rss ut st <"$T/time"
        per=$(echo "$jqout" | tr -d '[]' | tr ',' ' ')
        printf '| %s | jq one-pass count | %s | %s | %s | %.0f | %.2f | %.1f | %s |\n' \
            $set "$run" "$LINES" "$wall" "$(awk -v n="$LINES" -v w="$wall" 'BEGIN {print n / w}')" \
            "$(awk -v u="$ut" -v s="$st" -v w="$wall" 'BEGIN {print (u + s) / w}')" \
            "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$per"
        if [ "$(echo $per)" != "$(echo $(cat "$T/serve-$set"))" ]; then
            echo "serve-ingest.sh: $set: serve and jq disagree: serve $(cat "$T/serve-$set") jq $per" >&2
        fi
    done
done
