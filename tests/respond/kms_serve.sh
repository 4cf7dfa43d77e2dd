#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Responses against the local KMS service: keysentry kms serve on an ephemeral
# port, a key made with the AWS CLI, DisableKey with a (scaled) auto-revert
# through respond-drive, the key's state read back with the AWS CLI, and the
# service's own CloudTrail trail checked for keysentry's signed calls.
#   kms_serve.sh KEYSENTRY RESPOND_DRIVE
set -eu
KS=$1
DRIVE=$2
dir=$(mktemp -d /tmp/ks-respond-kms-XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "kms_serve.sh: $*" >&2; exit 1; }

"$KS" kms serve --listen 127.0.0.1:0 --port-file "$dir/port" --data "$dir/kms" \
    --trail-flush-ms 100 >"$dir/serve.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$dir/port" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || fail "kms serve did not start: $(cat "$dir/serve.log")"
    kill -0 "$pid" 2>/dev/null || fail "kms serve exited: $(cat "$dir/serve.log")"
    sleep 0.1
done
port=$(cat "$dir/port")
url="http://127.0.0.1:$port"
AWS_ACCESS_KEY_ID=$(jq -r '.principals[0].accessKeyId' "$dir/kms/principals.json")
AWS_SECRET_ACCESS_KEY=$(jq -r '.principals[0].secretAccessKey' "$dir/kms/principals.json")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE || true
export HOME="$dir" AWS_DEFAULT_REGION=us-east-1 KEYSENTRY_ENDPOINT_URL_KMS="$url"
awsk() { aws --endpoint-url "$url" --region us-east-1 kms "$@"; }
arn=$(awsk create-key --description "respond test" --query KeyMetadata.Arn --output text)
state() { awsk describe-key --key-id "$arn" --query KeyMetadata.KeyState --output text; }

cat >"$dir/t.yaml" <<'YAML'
Resources:
  Disable:
    Type: Keysentry::Response::DisableKey
    Properties:
      Name: disable
      AutoRevertAfterSeconds: 60
YAML
run() { "$DRIVE" -c "$dir/t.yaml" --db "$dir/respond.db" --trail "$dir/respond.ndjson" \
    --time-scale 60 "$@" 2>>"$dir/drive.log"; }

out=$(run --action disable --trigger t1 --key "$arn")
[ "$(echo "$out" | jq .status)" = 0 ] || fail "disable: $out"
[ "$(echo "$out" | jq .pending)" = 1 ] || fail "no revert scheduled: $out"
[ "$(state)" = Disabled ] || fail "key not disabled: $(state)"

# a restart later (a new process), the revert runs when due (60 s / 60)
out=$(run --wait-reverts 15000) || fail "revert not done: $out"
[ "$(state)" = Enabled ] || fail "key not re-enabled: $(state)"

# keysentry's own trail: the action and the revert
[ "$(jq -s '[.[] | select(.eventName=="RespondDisableKey" and .errorCode==null)] | length' \
    "$dir/respond.ndjson")" = 1 ] || fail "no RespondDisableKey record"
[ "$(jq -s '[.[] | select(.eventName=="RespondRevertDisableKey" and .errorCode==null)] | length' \
    "$dir/respond.ndjson")" = 1 ] || fail "no RespondRevertDisableKey record"

# the KMS service's trail: our signed calls, under our access key
kill -TERM "$pid"
wait "$pid" || true
pid=""
names=$(find "$dir/kms/trail" -path '*/CloudTrail/*' -name '*.json.gz' -exec zcat {} + |
    jq -r --arg ak "$AWS_ACCESS_KEY_ID" \
        '.Records[] | select(.userIdentity.accessKeyId==$ak and (.userAgent|startswith("keysentry/"))) | .eventName' |
    sort | uniq -c | tr -s ' ' | tr '\n' ';')
case "$names" in
*" DisableKey;"*" EnableKey;"*) ;;
*) fail "the KMS trail lacks keysentry's DisableKey/EnableKey: $names" ;;
esac
echo "kms_serve.sh: ok ($names)"
