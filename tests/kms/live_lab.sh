#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The lab, live: the app role decrypts with the wrong key on `keysentry kms
# serve` (driven by the real AWS CLI); the KMS trail is delivered into a
# directory that `keysentry serve` follows; the lab's KMSSecurityError alarm
# goes to ALARM within seconds. This is how a running serve receives the local
# KMS's trail: it tails the trail directory (the files roll every 300 ms here).
#   live_lab.sh KEYSENTRY SOURCE_DIR
set -eu
KS=$1
SRC=$2
AWS=/usr/bin/aws
if [ ! -x "$AWS" ]; then
    echo "SKIP: $AWS (Debian's AWS CLI v2) is not installed; scripts/install-deps.sh installs it"
    exit 0
fi
T=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

ACCOUNT=111122223333
REGION=us-east-1
ADMIN_AK=AKIA$(openssl rand -hex 8 | tr a-f A-F)
ADMIN_SK=$(openssl rand -base64 30)
APP_AK=ASIA$(openssl rand -hex 8 | tr a-f A-F)
APP_SK=$(openssl rand -base64 30)
APP_TOKEN=$(openssl rand -base64 60 | tr -d '\n')
cat >"$T/principals.json" <<X
{"principals":[
 {"accessKeyId":"$ADMIN_AK","secretAccessKey":"$ADMIN_SK",
  "identity":{"type":"IAMUser","arn":"arn:aws:iam::$ACCOUNT:user/admin","accountId":"$ACCOUNT","userName":"admin"}},
 {"accessKeyId":"$APP_AK","secretAccessKey":"$APP_SK","sessionToken":"$APP_TOKEN",
  "identity":{"type":"AssumedRole","arn":"arn:aws:sts::$ACCOUNT:assumed-role/App-ECSTaskRole/task-1",
   "accountId":"$ACCOUNT","roleArn":"arn:aws:iam::$ACCOUNT:role/App-ECSTaskRole","sessionName":"task-1"}}]}
X
chmod 600 "$T/principals.json"
mkdir -p "$T/trail"

wait_file() { # FILE PID what
    for _ in $(seq 1 100); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { echo "FAIL: $3 died"; cat "$T"/*.log; exit 1; }
        sleep 0.1
    done
    echo "FAIL: $3 did not start"
    exit 1
}

"$KS" kms serve --listen 127.0.0.1:0 --port-file "$T/kms.port" --data "$T/kmsdata" \
    --principals "$T/principals.json" --trail-dir "$T/trail" --region $REGION \
    --account $ACCOUNT --trail-flush-ms 300 2>"$T/kms.log" </dev/null >/dev/null &
PIDS="$PIDS $!"
wait_file "$T/kms.port" $! "kms serve"
EP=http://127.0.0.1:$(cat "$T/kms.port")

"$KS" serve -q -c "$SRC/examples/lab/monitoring.yaml" --listen 127.0.0.1:0 \
    --ready-file "$T/serve.addr" --tail "$T/trail" 2>"$T/serve.log" </dev/null >/dev/null &
PIDS="$PIDS $!"
wait_file "$T/serve.addr" $! "serve"
API=http://$(cat "$T/serve.addr")

awsk() { # admin|app args...
    local who=$1
    shift
    if [ "$who" = admin ]; then
        env AWS_ACCESS_KEY_ID="$ADMIN_AK" AWS_SECRET_ACCESS_KEY="$ADMIN_SK" \
            AWS_EC2_METADATA_DISABLED=true "$AWS" --region $REGION --endpoint-url "$EP" \
            --no-cli-pager --output text "$@"
    else
        env AWS_ACCESS_KEY_ID="$APP_AK" AWS_SECRET_ACCESS_KEY="$APP_SK" \
            AWS_SESSION_TOKEN="$APP_TOKEN" AWS_EC2_METADATA_DISABLED=true "$AWS" \
            --region $REGION --endpoint-url "$EP" --no-cli-pager --output text "$@"
    fi
}

K1=$(awsk admin kms create-key --query KeyMetadata.KeyId)
K2=$(awsk admin kms create-key --query KeyMetadata.KeyId)
printf 'order 4711' >"$T/plain"
awsk app kms encrypt --key-id "$K1" --plaintext "fileb://$T/plain" --query CiphertextBlob |
    base64 -d >"$T/blob"
# the lab's failure: decrypt with the wrong key, twice, within one 10 s
# period. An AWS CLI call takes a second or more on a busy machine, so both
# start together, just after a period boundary, or they could fall into two
# periods of one failure each (not above the threshold of 1).
now_ms=$(date +%s%3N)
sleep "$(awk -v m="$now_ms" 'BEGIN { r = m % 10000; printf "%.3f", r < 500 ? 0 : (10000 - r + 100) / 1000 }')"
start=$(date +%s%N)
for i in 1 2; do
    awsk app kms decrypt --key-id "$K2" --ciphertext-blob "fileb://$T/blob" \
        >/dev/null 2>"$T/err$i" &
    eval "dec$i=\$!"
done
for i in 1 2; do
    pid=$(eval "echo \$dec$i")
    if wait "$pid"; then
        echo "FAIL: decrypt with the wrong key succeeded"
        exit 1
    fi
    grep -q IncorrectKeyException "$T/err$i" || { echo "FAIL: expected IncorrectKeyException"; cat "$T/err$i"; exit 1; }
done
state=
for _ in $(seq 1 300); do
    state=$(curl -s -m 2 "$API/api/alarms" | jq -r '.. | objects |
        select(.AlarmName? == "monitoring-KMSSecurityAlarm" or .name? == "monitoring-KMSSecurityAlarm") |
        (.StateValue // .state)' 2>/dev/null | head -n 1)
    [ "$state" = ALARM ] && break
    sleep 0.1
done
took=$((($(date +%s%N) - start) / 1000000))
if [ "$state" != ALARM ]; then
    echo "FAIL: the lab alarm is '$state' 30 s after the failures"
    curl -s "$API/api/alarms" | head -c 2000
    exit 1
fi
echo "ok: KMS failures -> trail -> serve -> ALARM in $took ms (trail files roll every 300 ms)"
