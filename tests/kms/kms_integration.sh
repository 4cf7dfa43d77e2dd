#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of `keysentry kms serve` with real clients:
#   - the AWS CLI v2 (/usr/bin/aws, Debian's) for every operation the
#     operations library supports (the others are skipped with a message),
#     including Decrypt with another key (IncorrectKeyException) and with a
#     wrong encryption context (InvalidCiphertextException);
#   - the lab app (examples/lab/app, @aws-sdk/client-kms v3) as the
#     App-ECSTaskRole AssumedRole session: encrypt, decrypt, wrong key;
#   - hostile HTTP with curl: bad signature, expired X-Amz-Date, unknown
#     access key, malformed JSON, oversized body, wrong/missing content type,
#     wrong method, unknown target, huge headers;
#   - then SIGTERM, and the trail: exactly the expected records (eventName,
#     errorCode, principal), S3 layout, valid gzip Records files, the digest
#     chain (keysentry kms verify-trail, and openssl for the newest
#     signature), and the lab's metric filter counting exactly the app role's
#     failures (keysentry test-pattern --count);
#   - a restart with --trail-auth-failures: the chain continues, and a bad
#     signature is recorded.
# Usage: kms_integration.sh KEYSENTRY KS_KMS_SIGN SOURCE_DIR
# Exit 77 (skipped) when /usr/bin/aws is missing.
set -euo pipefail
export LC_ALL=C

KS=$1
SIGN=$2
SRC=$3
AWS=/usr/bin/aws # Debian's CLI v2; a pip "aws" earlier in PATH may be v1

if [ ! -x "$AWS" ]; then
    echo "SKIP: /usr/bin/aws (Debian's awscli, AWS CLI v2) is not installed;"
    echo "      scripts/install-deps.sh installs it"
    exit 77
fi
for t in jq curl openssl gzip; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done

T=$(mktemp -d /tmp/ks-kms-test.XXXXXX)
SERVER_PID=
APP_PID=
cleanup() {
    [ -n "$APP_PID" ] && kill -KILL "$APP_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

FAILS=0
PASSES=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
pass() {
    PASSES=$((PASSES + 1))
}
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then pass; else fail "$1: expected '$2', got '$3'"; fi
}

# --- principals: an admin user and the lab app's ECS task role session ------
ACCOUNT=111122223333
REGION=us-east-1
ADMIN_AK=AKIA$(openssl rand -hex 8 | tr a-f A-F)
ADMIN_SK=$(openssl rand -base64 30)
APP_AK=ASIA$(openssl rand -hex 8 | tr a-f A-F)
APP_SK=$(openssl rand -base64 30)
APP_TOKEN=$(openssl rand -base64 60 | tr -d '\n')
APP_ROLE=arn:aws:iam::$ACCOUNT:role/App-ECSTaskRole
cat >"$T/principals.json" <<EOF
{"principals":[
 {"accessKeyId":"$ADMIN_AK","secretAccessKey":"$ADMIN_SK",
  "identity":{"type":"IAMUser","arn":"arn:aws:iam::$ACCOUNT:user/admin","accountId":"$ACCOUNT","userName":"admin"}},
 {"accessKeyId":"$APP_AK","secretAccessKey":"$APP_SK","sessionToken":"$APP_TOKEN",
  "identity":{"type":"AssumedRole","arn":"arn:aws:sts::$ACCOUNT:assumed-role/App-ECSTaskRole/task-1",
   "accountId":"$ACCOUNT","roleArn":"$APP_ROLE","sessionName":"task-1"}}]}
EOF
chmod 600 "$T/principals.json"

# --- the server ----------------------------------------------------------------
start_server() { # extra args...
    rm -f "$T/port"
    "$KS" kms serve --listen 127.0.0.1:0 --port-file "$T/port" --data "$T/data" \
        --principals "$T/principals.json" --trail-dir "$T/trail" --region $REGION \
        --account $ACCOUNT --trail-flush-ms 300 --digest-seconds 3 --time-scale 100000 \
        "$@" 2>>"$T/server.log" </dev/null >/dev/null &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$T/port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$T/server.log"; echo "FAIL: server died"; exit 1; }
        sleep 0.1
    done
    [ -s "$T/port" ] || { cat "$T/server.log"; echo "FAIL: server did not start"; exit 1; }
    PORT=$(cat "$T/port")
    EP=http://127.0.0.1:$PORT
}
stop_server() {
    kill -TERM "$SERVER_PID"
    local rc=0
    for _ in $(seq 1 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "server still running 30 s after SIGTERM"
        kill -KILL "$SERVER_PID"
    fi
    wait "$SERVER_PID" || rc=$?
    check "exit status after SIGTERM" 0 "$rc"
    SERVER_PID=
}
start_server

# --- the AWS CLI ------------------------------------------------------------------
export HOME=$T AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard
export AWS_DEFAULT_REGION=$REGION AWS_PAGER=
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS AWS_SESSION_TOKEN || true

creds() { # admin|app
    if [ "$1" = admin ]; then
        echo "AWS_ACCESS_KEY_ID=$ADMIN_AK AWS_SECRET_ACCESS_KEY=$ADMIN_SK AWS_SESSION_TOKEN="
    else
        echo "AWS_ACCESS_KEY_ID=$APP_AK AWS_SECRET_ACCESS_KEY=$APP_SK AWS_SESSION_TOKEN=$APP_TOKEN"
    fi
}

: >"$T/expected"
SKIPPED=""
# kms WHO EXPECTED-CODE|- SUBCOMMAND ARGS...: runs `aws kms`, notes the record the
# call must leave, checks the outcome. Sets OUT. Returns 3 when the operation is
# not supported by the operations library (skipped).
kms() {
    local who=$1 want=$2 sub=$3
    local ev
    ev=$(echo "$sub" | sed -E 's/(^|-)([a-z])/\U\2/g')
    shift 2
    local rc=0
    OUT=$(env $(creds "$who") "$AWS" --endpoint-url "$EP" --no-cli-pager --output json \
        kms "$@" 2>"$T/err") || rc=$?
    local code=-
    if [ $rc -ne 0 ]; then
        code=$(sed -n 's/.*An error occurred (\([A-Za-z]*\)).*/\1/p' "$T/err" | head -n 1)
        [ -n "$code" ] || code="rc$rc"
    fi
    if [ "$want" != "$code" ] && { [ "$code" = UnknownOperationException ] ||
        { [ "$code" = UnsupportedOperationException ] && grep -q "not supported" "$T/err"; }; }; then
        echo "SKIP: $ev is not supported by the operations library yet ($code)"
        SKIPPED="$SKIPPED $ev"
        # an UnsupportedOperationException is still a recorded KMS call
        [ "$code" = UnsupportedOperationException ] && echo "$ev $code $who" >>"$T/expected"
        return 3
    fi
    case "$code" in rc*) ;; *) echo "$ev $code $who" >>"$T/expected" ;; esac
    if [ "$want" != "$code" ]; then
        fail "aws kms $sub: expected ${want/-/success}, got $code: $(head -c 400 "$T/err")"
        return 1
    fi
    pass
    return 0
}
jqo() { echo "$OUT" | jq -r "$1"; }
# kms_raw WHO EXPECTED-CODE|- Operation JSON: for operations newer than the
# Debian CLI (2.9.19 has no rotate-key-on-demand, list-key-rotations): curl
# signs with SigV4 itself (admin credentials only).
kms_raw() {
    local who=$1 want=$2 op=$3 body=$4
    OUT=$(curl -s --aws-sigv4 "aws:amz:$REGION:kms" --user "$ADMIN_AK:$ADMIN_SK" \
        -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: TrentService.$op" \
        -d "$body" "$EP/")
    local code
    code=$(echo "$OUT" | jq -r '.__type // "-"' 2>/dev/null || echo not-json)
    if [ "$want" != "$code" ] && { [ "$code" = UnknownOperationException ] ||
        { [ "$code" = UnsupportedOperationException ] && grep -q "not supported" <<<"$OUT"; }; }; then
        echo "SKIP: $op is not supported by the operations library yet ($code)"
        SKIPPED="$SKIPPED $op"
        [ "$code" = UnsupportedOperationException ] && echo "$op $code $who" >>"$T/expected"
        return 3
    fi
    echo "$op $code $who" >>"$T/expected"
    if [ "$want" != "$code" ]; then
        fail "$op (curl): expected ${want/-/success}, got $code: $(head -c 300 <<<"$OUT")"
        return 1
    fi
    pass
}

printf 'hello, keysentry lab\n' >"$T/plain.bin"
echo "== AWS CLI: keys and aliases"
kms admin - create-key --description "lab key" || true
K1=$(jqo .KeyMetadata.KeyId)
kms admin - create-key --description "other key" || true
K2=$(jqo .KeyMetadata.KeyId)
[ -n "$K1" ] && [ "$K1" != null ] || { cat "$T/server.log"; echo "FAIL: CreateKey does not work"; exit 1; }
kms admin - describe-key --key-id "$K1" && check "DescribeKey state" Enabled "$(jqo .KeyMetadata.KeyState)"
kms admin - list-keys && check "ListKeys sees both keys" 2 "$(jqo "[.Keys[].KeyId | select(. == \"$K1\" or . == \"$K2\")] | length")"
kms admin NotFoundException describe-key --key-id 11111111-2222-4333-8444-555555555555 || true
K3=
if kms admin - create-key --description doomed; then
    K3=$(jqo .KeyMetadata.KeyId)
    kms admin - schedule-key-deletion --key-id "$K3" --pending-window-in-days 7 || K3=
    K3_AT=$(date +%s)
fi
if kms admin - create-alias --alias-name alias/lab-key --target-key-id "$K1"; then
    kms admin - list-aliases && check "ListAliases" "$K1" "$(jqo '.Aliases[] | select(.AliasName == "alias/lab-key") | .TargetKeyId')"
    kms admin - update-alias --alias-name alias/lab-key --target-key-id "$K2" || true
    kms admin - update-alias --alias-name alias/lab-key --target-key-id "$K1" || true
fi

echo "== AWS CLI: symmetric cryptography"
kms admin - encrypt --key-id alias/lab-key --plaintext "fileb://$T/plain.bin" \
    --encryption-context Department=Engineering --query CiphertextBlob --output text || true
echo "$OUT" | base64 -d >"$T/ct1.bin"
if kms admin - decrypt --ciphertext-blob "fileb://$T/ct1.bin" --encryption-context Department=Engineering; then
    check "Decrypt round trip" "$(base64 -w0 <"$T/plain.bin")" "$(jqo .Plaintext)"
    check "Decrypt reports the key ARN" "arn:aws:kms:$REGION:$ACCOUNT:key/$K1" "$(jqo .KeyId)"
fi
kms admin - decrypt --key-id "$K1" --ciphertext-blob "fileb://$T/ct1.bin" --encryption-context Department=Engineering || true
kms admin IncorrectKeyException decrypt --key-id "$K2" --ciphertext-blob "fileb://$T/ct1.bin" \
    --encryption-context Department=Engineering || true
kms admin InvalidCiphertextException decrypt --ciphertext-blob "fileb://$T/ct1.bin" \
    --encryption-context Department=Finance || true
kms admin InvalidCiphertextException decrypt --ciphertext-blob "fileb://$T/ct1.bin" || true
if kms admin - re-encrypt --ciphertext-blob "fileb://$T/ct1.bin" --source-encryption-context Department=Engineering \
    --destination-key-id "$K2" --query CiphertextBlob --output text; then
    echo "$OUT" | base64 -d >"$T/ct2.bin"
    kms admin - decrypt --ciphertext-blob "fileb://$T/ct2.bin" && check "ReEncrypt round trip" \
        "$(base64 -w0 <"$T/plain.bin")" "$(jqo .Plaintext)"
fi
kms admin - generate-data-key --key-id "$K1" --key-spec AES_256 &&
    check "GenerateDataKey plaintext is 32 bytes" 32 "$(jqo .Plaintext | base64 -d | wc -c)"
kms admin - generate-data-key-without-plaintext --key-id "$K1" --number-of-bytes 16 &&
    check "GenerateDataKeyWithoutPlaintext has no plaintext" null "$(jqo .Plaintext)"
kms admin - generate-random --number-of-bytes 32 &&
    check "GenerateRandom is 32 bytes" 32 "$(jqo .Plaintext | base64 -d | wc -c)"
kms admin ValidationException generate-random --number-of-bytes 2000 || true

echo "== AWS CLI: rotation"
if kms admin - enable-key-rotation --key-id "$K1"; then
    kms admin - get-key-rotation-status --key-id "$K1" && check "rotation enabled" true "$(jqo .KeyRotationEnabled)"
    kms admin - disable-key-rotation --key-id "$K1" || true
fi
if kms_raw admin - RotateKeyOnDemand "{\"KeyId\":\"$K1\"}"; then
    echo "RotateKey - service" >>"$T/expected" # the service event of the rotation
    kms_raw admin - ListKeyRotations "{\"KeyId\":\"$K1\"}" &&
        check "ListKeyRotations lists the rotation" ON_DEMAND "$(jqo '.Rotations[0].RotationType')"
    kms admin - decrypt --ciphertext-blob "fileb://$T/ct1.bin" --encryption-context Department=Engineering &&
        check "old ciphertext decrypts after rotation" "$(base64 -w0 <"$T/plain.bin")" "$(jqo .Plaintext)"
fi

echo "== AWS CLI: tags and policies"
if kms admin - tag-resource --key-id "$K1" --tags TagKey=env,TagValue=lab; then
    kms admin - list-resource-tags --key-id "$K1" && check "ListResourceTags" lab "$(jqo '.Tags[] | select(.TagKey=="env") | .TagValue')"
    kms admin - untag-resource --key-id "$K1" --tag-keys env || true
fi
if kms admin - get-key-policy --key-id "$K1" --policy-name default --query Policy --output text; then
    printf '%s' "$OUT" >"$T/policy.json"
    kms admin - put-key-policy --key-id "$K1" --policy-name default --policy "file://$T/policy.json" || true
fi

echo "== AWS CLI: grants"
if kms admin - create-grant --key-id "$K1" --grantee-principal "$APP_ROLE" --operations Decrypt Encrypt; then
    TOKEN=$(jqo .GrantToken)
    kms admin - list-grants --key-id "$K1" || true
    if [ -z "$TOKEN" ] || [ "$TOKEN" = null ]; then
        fail "create-grant answered without a GrantToken: $(head -c 400 <<<"$OUT")"
    else
        kms admin - retire-grant --grant-token "$TOKEN" || true
    fi
fi
if kms admin - create-grant --key-id "$K1" --grantee-principal "$APP_ROLE" --operations Decrypt; then
    GID=$(jqo .GrantId)
    kms admin - revoke-grant --key-id "$K1" --grant-id "$GID" || true
fi

echo "== AWS CLI: key states"
if kms admin - disable-key --key-id "$K2"; then
    kms admin DisabledException encrypt --key-id "$K2" --plaintext "fileb://$T/plain.bin" || true
    kms admin - enable-key --key-id "$K2" || true
fi
if kms admin - schedule-key-deletion --key-id "$K2" --pending-window-in-days 7; then
    kms admin KMSInvalidStateException encrypt --key-id "$K2" --plaintext "fileb://$T/plain.bin" || true
    kms admin - cancel-key-deletion --key-id "$K2" || true
    kms admin - describe-key --key-id "$K2" && check "cancelled deletion leaves the key Disabled" Disabled "$(jqo .KeyMetadata.KeyState)"
fi
# the deletion window of K3 (scheduled at the start) really ended: 7 days at
# --time-scale 1e5 are 6 s, and the service ticks once a second
if [ -n "${K3:-}" ]; then
    for _ in $(seq 1 20); do
        [ $(($(date +%s) - K3_AT)) -ge 8 ] && break
        sleep 0.5
    done
    kms admin NotFoundException describe-key --key-id "$K3" || true
    echo "DeleteKey - service" >>"$T/expected" # the service event of the deletion
fi
if kms admin - delete-alias --alias-name alias/lab-key; then
    kms admin NotFoundException encrypt --key-id alias/lab-key --plaintext "fileb://$T/plain.bin" || true
fi

echo "== AWS CLI: HMAC and asymmetric keys"
if kms admin - create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC; then
    KH=$(jqo .KeyMetadata.KeyId)
    if kms admin - generate-mac --key-id "$KH" --mac-algorithm HMAC_SHA_256 --message "fileb://$T/plain.bin" \
        --query Mac --output text; then
        echo "$OUT" | base64 -d >"$T/mac.bin"
        kms admin - verify-mac --key-id "$KH" --mac-algorithm HMAC_SHA_256 --message "fileb://$T/plain.bin" \
            --mac "fileb://$T/mac.bin" || true
        kms admin KMSInvalidMacException verify-mac --key-id "$KH" --mac-algorithm HMAC_SHA_256 \
            --message "fileb://$T/ct1.bin" --mac "fileb://$T/mac.bin" || true
    fi
fi
if kms admin - create-key --key-spec RSA_2048 --key-usage SIGN_VERIFY; then
    KS_=$(jqo .KeyMetadata.KeyId)
    if kms admin - sign --key-id "$KS_" --signing-algorithm RSASSA_PSS_SHA_256 --message "fileb://$T/plain.bin" \
        --query Signature --output text; then
        echo "$OUT" | base64 -d >"$T/sig.bin"
        kms admin - verify --key-id "$KS_" --signing-algorithm RSASSA_PSS_SHA_256 --message "fileb://$T/plain.bin" \
            --signature "fileb://$T/sig.bin" || true
        kms admin KMSInvalidSignatureException verify --key-id "$KS_" --signing-algorithm RSASSA_PSS_SHA_256 \
            --message "fileb://$T/ct1.bin" --signature "fileb://$T/sig.bin" || true
    fi
    kms admin - get-public-key --key-id "$KS_" || true
fi
if kms admin - create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT; then
    KR=$(jqo .KeyMetadata.KeyId)
    if kms admin - encrypt --key-id "$KR" --encryption-algorithm RSAES_OAEP_SHA_256 --plaintext "fileb://$T/plain.bin" \
        --query CiphertextBlob --output text; then
        echo "$OUT" | base64 -d >"$T/rsa.bin"
        kms admin - decrypt --key-id "$KR" --encryption-algorithm RSAES_OAEP_SHA_256 --ciphertext-blob "fileb://$T/rsa.bin" &&
            check "RSA round trip" "$(base64 -w0 <"$T/plain.bin")" "$(jqo .Plaintext)"
    fi
fi

echo "== AWS CLI as the app role (session token)"
kms app - list-keys || true
kms app NotFoundException describe-key --key-id 99999999-2222-4333-8444-555555555555 || true

# --- the lab app through the AWS SDK for JavaScript v3 ------------------------------
APPDIR=$SRC/examples/lab/app
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIP: lab app: node/npm are not installed (scripts/install-deps.sh installs them)"
elif [ ! -d "$APPDIR/node_modules/@aws-sdk/client-kms" ] &&
    ! (cd "$APPDIR" && npm ci --no-audit --no-fund --silent >"$T/npm.log" 2>&1); then
    echo "SKIP: lab app: 'npm ci' in examples/lab/app failed (no npm registry?):"
    tail -n 5 "$T/npm.log"
else
    echo "== the lab app (JS SDK v3) as App-ECSTaskRole"
    # exec: $! is node itself, so the kill below reaches it (an orphaned node
    # would keep ctest's output pipe open)
    (cd "$T" && exec env KeyId="$K1" KMS_ENDPOINT="$EP" AWS_REGION=$REGION AWS_ACCESS_KEY_ID="$APP_AK" \
        AWS_SECRET_ACCESS_KEY="$APP_SK" AWS_SESSION_TOKEN="$APP_TOKEN" PORT=0 PORT_FILE="$T/app.port" \
        DB_FILE="$T/lab.sqlite" node "$APPDIR/app.js" 2>"$T/app.log" </dev/null >/dev/null) &
    APP_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$T/app.port" ] && break
        sleep 0.1
    done
    [ -s "$T/app.port" ] || { cat "$T/app.log"; fail "lab app did not start"; }
    APP=http://127.0.0.1:$(cat "$T/app.port" 2>/dev/null || echo 1)
    post() { curl -s -m 20 -X POST -H 'Content-Type: application/json' -d "$2" -w '\n%{http_code}' "$APP$1"; }
    R=$(post /encrypt '{"Name":"alice","Text":"attack at dawn"}')
    check "lab /encrypt status" 200 "$(echo "$R" | tail -n 1)"
    check "lab /encrypt message" "Data encrypted and stored, keep your key save" \
        "$(echo "$R" | head -n 1 | jq -r .Message)"
    echo "Encrypt - app" >>"$T/expected"
    R=$(post /decrypt "{\"Name\":\"alice\",\"Key\":\"$K1\"}")
    check "lab /decrypt with the right key" "attack at dawn" "$(echo "$R" | head -n 1 | jq -r .Text)"
    echo "Decrypt - app" >>"$T/expected"
    for k in some-random-false-key some-random-false-key some-random-false-key "$K2"; do
        R=$(post /decrypt "{\"Name\":\"alice\",\"Key\":\"$k\"}")
        check "lab /decrypt with a wrong key: status" 400 "$(echo "$R" | tail -n 1)"
        check "lab /decrypt with a wrong key: message" \
            "Data decryption failed, make sure you have the correct key" "$(echo "$R" | head -n 1 | jq -r .Message)"
        echo "Decrypt IncorrectKeyException app" >>"$T/expected"
    done
    grep -q IncorrectKeyException "$T/app.log" && pass || fail "lab app log does not name IncorrectKeyException"
    kill "$APP_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=
fi

# --- hostile HTTP --------------------------------------------------------------------
echo "== hostile requests (curl)"
H=127.0.0.1:$PORT
errtype() { # the __type of a JSON error body
    jq -r '.__type' 2>/dev/null <<<"$1" || echo "not-json"
}
SIGV4=(--aws-sigv4 "aws:amz:$REGION:kms" --user "$ADMIN_AK:$ADMIN_SK")
JSONCT=(-H 'Content-Type: application/x-amz-json-1.1')

R=$(env $(creds admin) AWS_SECRET_ACCESS_KEY=wrong-secret "$AWS" --endpoint-url "$EP" kms list-keys 2>&1 || true)
check "bad signature (CLI)" InvalidSignatureException "$(sed -n 's/.*An error occurred (\([A-Za-z]*\)).*/\1/p' <<<"$R")"
R=$(env AWS_ACCESS_KEY_ID=AKIAUNKNOWNKEY000000 AWS_SECRET_ACCESS_KEY=x "$AWS" --endpoint-url "$EP" kms list-keys 2>&1 || true)
check "unknown access key (CLI)" UnrecognizedClientException "$(sed -n 's/.*An error occurred (\([A-Za-z]*\)).*/\1/p' <<<"$R")"
R=$(curl -s --aws-sigv4 "aws:amz:$REGION:kms" --user "AKIAUNKNOWNKEY000000:x" "${JSONCT[@]}" \
    -H 'X-Amz-Target: TrentService.ListKeys' -d '{}' "http://$H/")
check "unknown access key (curl)" UnrecognizedClientException "$(errtype "$R")"
R=$(curl -s --aws-sigv4 "aws:amz:$REGION:kms" --user "$ADMIN_AK:not-the-secret" "${JSONCT[@]}" \
    -H 'X-Amz-Target: TrentService.ListKeys' -d '{}' "http://$H/")
check "bad signature (curl)" InvalidSignatureException "$(errtype "$R")"
env $(creds admin) "$SIGN" --host "$H" --op ListKeys --time-offset -900 >"$T/hdr-expired"
R=$(curl -s -H @"$T/hdr-expired" -d '{}' "http://$H/")
check "expired X-Amz-Date" InvalidSignatureException "$(errtype "$R")"
grep -q "Signature expired" <<<"$R" && pass || fail "expired date message: $R"
env $(creds admin) "$SIGN" --host "$H" --op ListKeys --time-offset 900 >"$T/hdr-future"
R=$(curl -s -H @"$T/hdr-future" -d '{}' "http://$H/")
check "X-Amz-Date in the future" InvalidSignatureException "$(errtype "$R")"

R=$(curl -s "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.Decrypt' -d '{"CiphertextBlob": ' "http://$H/")
check "malformed JSON" SerializationException "$(errtype "$R")"
echo "Decrypt SerializationException admin" >>"$T/expected"
R=$(curl -s "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.Decrypt' -d '[1,2,3]' "http://$H/")
check "JSON that is not an object" SerializationException "$(errtype "$R")"
echo "Decrypt SerializationException admin" >>"$T/expected"
head -c 1500000 /dev/zero | tr '\0' 'a' >"$T/big.txt"
R=$(curl -s -w '\n%{http_code}' "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.Decrypt' \
    --data-binary @"$T/big.txt" "http://$H/")
check "oversized body: status" 413 "$(tail -n 1 <<<"$R")"
check "oversized body: type" ValidationException "$(errtype "$(head -n 1 <<<"$R")")"
R=$(curl -s -w '\n%{http_code}' "${SIGV4[@]}" "${JSONCT[@]}" -H 'Transfer-Encoding: chunked' \
    -H 'X-Amz-Target: TrentService.Decrypt' --data-binary @"$T/big.txt" "http://$H/")
check "oversized chunked body: status" 413 "$(tail -n 1 <<<"$R")"
R=$(curl -s "${SIGV4[@]}" -H 'Content-Type: text/plain' -H 'X-Amz-Target: TrentService.Decrypt' -d '{}' "http://$H/")
check "wrong content type" SerializationException "$(errtype "$R")"
echo "Decrypt SerializationException admin" >>"$T/expected"
env $(creds admin) "$SIGN" --host "$H" --op Decrypt --no-content-type >"$T/hdr-noct"
R=$(curl -s -H @"$T/hdr-noct" -H 'Content-Type:' -d '{}' "http://$H/")
check "no content type" SerializationException "$(errtype "$R")"
echo "Decrypt SerializationException admin" >>"$T/expected"
R=$(curl -s "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.NoSuchOperation' -d '{}' "http://$H/")
check "unknown operation" UnknownOperationException "$(errtype "$R")"
R=$(curl -s "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: Bogus_20141101.ListKeys' -d '{}' "http://$H/")
check "wrong target prefix" UnknownOperationException "$(errtype "$R")"
R=$(curl -s -w '\n%{http_code}' "http://$H/")
check "GET: status" 405 "$(tail -n 1 <<<"$R")"
check "GET: type" UnknownOperationException "$(errtype "$(head -n 1 <<<"$R")")"
R=$(curl -s -w '\n%{http_code}' -X POST "${JSONCT[@]}" -d '{}' "http://$H/other/path")
check "wrong path: status" 404 "$(tail -n 1 <<<"$R")"
R=$(curl -s -X POST "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.ListKeys' -d '{}' "http://$H/")
check "no signature" MissingAuthenticationTokenException "$(errtype "$R")"
R=$(curl -s -X POST -H 'Authorization: AWS4-HMAC-SHA256 garbage' "${JSONCT[@]}" -d '{}' "http://$H/")
check "garbage Authorization" IncompleteSignatureException "$(errtype "$R")"
for i in 1 2; do printf 'X-Big%d: %s\r\n' $i "$(head -c 40000 /dev/zero | tr '\0' 'b')"; done >"$T/hdr-big"
R=$(curl -s -H @"$T/hdr-big" "${SIGV4[@]}" "${JSONCT[@]}" -H 'X-Amz-Target: TrentService.ListKeys' -d '{}' "http://$H/")
check "headers past the SigV4 cap" IncompleteSignatureException "$(errtype "$R")"
for i in 1 2 3 4; do printf 'X-Big%d: %s\r\n' $i "$(head -c 60000 /dev/zero | tr '\0' 'b')"; done >"$T/hdr-huge"
R=$(curl -s -o /dev/null -w '%{http_code}' -H @"$T/hdr-huge" -X POST -d '{}' "http://$H/" || true)
check "headers past the connection memory (libmicrohttpd answers)" 431 "$R"
# a hostile byte stream, then the service must still answer
printf 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n\x00\xff{' |
    curl -s -m 5 telnet://127.0.0.1:$PORT >/dev/null 2>&1 || true
kms admin - list-keys || true
kill -0 "$SERVER_PID" 2>/dev/null && pass || fail "server died on hostile input"

# --- SIGTERM and the trail -------------------------------------------------------------
echo "== SIGTERM, then the trail"
stop_server
grep -q "SIGTERM: stopping" "$T/server.log" && pass || fail "no stop message"
! grep -q -- "$ADMIN_SK" "$T/server.log" && ! grep -q -- "$APP_SK" "$T/server.log" && pass ||
    fail "a secret appears in the server log"

LOGS=$(cd "$T/trail" && find . -type f -name '*.json.gz' ! -name '*CloudTrail-Digest*' | sed 's|^\./||' | sort)
[ -n "$LOGS" ] || fail "no log files"
badname=0
for f in $LOGS; do
    [[ $f =~ ^AWSLogs/$ACCOUNT/CloudTrail/$REGION/[0-9]{4}/[0-9]{2}/[0-9]{2}/${ACCOUNT}_CloudTrail_${REGION}_[0-9]{8}T[0-9]{4}Z_[A-Za-z0-9]{16}\.json\.gz$ ]] ||
        { badname=1; echo "bad log file name: $f"; }
    gzip -t "$T/trail/$f" || badname=1
    zcat "$T/trail/$f" | jq -e '.Records | type == "array" and length > 0' >/dev/null || badname=1
done
check "log files: S3 layout, gzip, Records" 0 $badname
# no temp files left behind
check "no temporary files" "" "$(find "$T/trail" -name '.*.tmp')"

for f in $LOGS; do zcat "$T/trail/$f" | jq -c '.Records[]'; done >"$T/records.ndjson"
jq -r '[.eventName, (.errorCode // "-"),
        (if .userIdentity.type == "AssumedRole" and .userIdentity.sessionContext.sessionIssuer.arn == "'"$APP_ROLE"'" then "app"
         elif .userIdentity.arn == "arn:aws:iam::'"$ACCOUNT"':user/admin" then "admin"
         elif .userIdentity.invokedBy == "AWS Internal" then "service" else "?" end)] | join(" ")' \
    "$T/records.ndjson" | sort >"$T/actual"
sort "$T/expected" >"$T/expected.sorted"
if diff -u "$T/expected.sorted" "$T/actual" >"$T/diff"; then
    pass
else
    fail "trail records differ from the calls made (- expected, + trail):"
    cat "$T/diff"
fi
check "record count" "$(wc -l <"$T/expected")" "$(wc -l <"$T/records.ndjson")"

# record fields (spec cloudtrail §1.1)
bad=$(jq -c 'select(.eventType != "AwsServiceEvent") | select(
    .eventVersion != "1.10" or .eventSource != "kms.amazonaws.com" or .awsRegion != "'$REGION'"
    or .sourceIPAddress != "127.0.0.1" or (.userAgent | type) != "string"
    or .eventType != "AwsApiCall" or .managementEvent != true or .recipientAccountId != "'$ACCOUNT'"
    or .eventCategory != "Management" or (.readOnly | type) != "boolean"
    or (.eventID | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$") | not)
    or (.requestID | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$") | not)
    or (.eventTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$") | not)
    or (has("errorCode") and (.errorCode | type) != "string")
    or (has("errorCode") and .responseElements != null)
    or (has("errorMessage") and (has("errorCode") | not))
    or (has("requestParameters") | not) or (has("responseElements") | not)
    or has("tlsDetails"))' "$T/records.ndjson" | head -n 3)
check "record fields per spec" "" "$bad"
bad=$(jq -c 'select(.eventType == "AwsServiceEvent") | select(
    .userIdentity != {"accountId": "'$ACCOUNT'", "invokedBy": "AWS Internal"}
    or .sourceIPAddress != "AWS Internal" or .userAgent != "AWS Internal" or has("requestID")
    or .readOnly != false or (.resources | length) != 1 or has("errorCode")
    or .requestParameters != null or .responseElements != null)' "$T/records.ndjson" | head -n 3)
check "service events per spec" "" "$bad"
check "eventIDs unique" "$(wc -l <"$T/records.ndjson")" "$(jq -r .eventID "$T/records.ndjson" | sort -u | wc -l)"
check "requestIDs unique" "$(jq -r 'select(.requestID) | .requestID' "$T/records.ndjson" | wc -l)" \
    "$(jq -r 'select(.requestID) | .requestID' "$T/records.ndjson" | sort -u | wc -l)"
check "AssumedRole sessionContext" "task-1 App-ECSTaskRole false" \
    "$(jq -r 'select(.userIdentity.type=="AssumedRole") | [(.userIdentity.principalId|split(":")[1]),
      .userIdentity.sessionContext.sessionIssuer.userName, .userIdentity.sessionContext.attributes.mfaAuthenticated] | join(" ")' \
      "$T/records.ndjson" | sort -u)"
check "no secrets in the trail" 0 "$(grep -c -e "$ADMIN_SK" -e "$APP_SK" -e "$APP_TOKEN" "$T/records.ndjson" || true)"
check "no plaintext in the trail" 0 "$(grep -c -e 'attack at dawn' -e "$(base64 -w0 <"$T/plain.bin")" "$T/records.ndjson" || true)"

# the lab's metric filter counts exactly the app role's failures
PATTERN='{ $.errorCode = "*" && $.eventSource= "kms.amazonaws.com" && $.userIdentity.sessionContext.sessionIssuer.arn = "'"$APP_ROLE"'" }'
WANT=$(awk '$3 == "app" && $2 != "-"' "$T/expected" | wc -l)
GOT=$("$KS" test-pattern --count -q "$PATTERN" "$T/trail" 2>"$T/tp.err" || cat "$T/tp.err")
check "lab metric filter count (app role failures)" "$WANT" "$GOT"

# digests: our validator, and openssl on the newest signature
"$KS" kms verify-trail --trail-dir "$T/trail" --public-key "$T/data/trail-digest-public.pem" >"$T/verify.out" 2>&1 &&
    pass || { fail "verify-trail failed"; cat "$T/verify.out"; }
check "verify-trail summary" "1 chain" "$(tail -n 1 "$T/verify.out" | grep -o '[0-9]* chains\?$')"
check "every log file covered by a digest" "0 uncovered" "$(tail -n 1 "$T/verify.out" | grep -o '[0-9]* uncovered')"
NEWEST=$(cd "$T/trail" && find . -name '*CloudTrail-Digest*.json.gz' | sed 's|^\./||' | sort | tail -n 1)
zcat "$T/trail/$NEWEST" >"$T/digest.json"
printf '%s\n%s/%s\n%s\n%s' "$(jq -r .digestEndTime "$T/digest.json")" trail "$NEWEST" \
    "$(sha256sum "$T/digest.json" | cut -d' ' -f1)" "$(jq -r .previousDigestSignature "$T/digest.json")" >"$T/sts"
jq -r .signature "$T/trail/$NEWEST.meta.json" | perl -ne 'chomp; print pack("H*", $_)' >"$T/sig"
openssl dgst -sha256 -verify "$T/data/trail-digest-public.pem" -signature "$T/sig" "$T/sts" >/dev/null &&
    pass || fail "openssl cannot verify the newest digest signature"
# tampering is detected
cp "$T/trail/$(echo "$LOGS" | head -n 1)" "$T/saved.gz"
zcat "$T/saved.gz" | sed 's/kms.amazonaws.com/kms.amazonaws.org/' | gzip >"$T/trail/$(echo "$LOGS" | head -n 1)"
if "$KS" kms verify-trail -q --trail-dir "$T/trail" --public-key "$T/data/trail-digest-public.pem" >/dev/null 2>&1; then
    fail "verify-trail accepted a modified log file"
else
    pass
fi
cp "$T/saved.gz" "$T/trail/$(echo "$LOGS" | head -n 1)"

# --- restart: the chain continues; --trail-auth-failures records a bad signature ----
echo "== restart with --trail-auth-failures"
start_server --trail-auth-failures
R=$(env $(creds admin) AWS_SECRET_ACCESS_KEY=wrong-secret "$AWS" --endpoint-url "$EP" kms list-keys 2>&1 || true)
kms admin - list-keys || true
stop_server
for f in $(cd "$T/trail" && find . -type f -name '*.json.gz' ! -name '*CloudTrail-Digest*' | sed 's|^\./||' | sort); do
    zcat "$T/trail/$f" | jq -c '.Records[]'
done >"$T/records2.ndjson"
check "records after the restart" "$(($(wc -l <"$T/records.ndjson") + 2))" "$(wc -l <"$T/records2.ndjson")"
check "bad signature recorded with --trail-auth-failures" "ListKeys InvalidSignatureException admin" \
    "$(jq -r 'select(.errorCode == "InvalidSignatureException") | [.eventName, .errorCode, .userIdentity.userName] | join(" ")' "$T/records2.ndjson")"
"$KS" kms verify-trail --trail-dir "$T/trail" --public-key "$T/data/trail-digest-public.pem" >"$T/verify2.out" 2>&1 &&
    pass || { fail "verify-trail after restart"; cat "$T/verify2.out"; }
check "one chain across the restart" "1 chain" "$(tail -n 1 "$T/verify2.out" | grep -o '[0-9]* chains\?$')"

[ -n "$SKIPPED" ] && echo "skipped (not in the operations library yet):$SKIPPED"
echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
