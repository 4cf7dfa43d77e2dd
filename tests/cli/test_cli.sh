#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end tests of `keysentry test-pattern` (DESIGN.md §3): exact --json
# output, --count, stdin, directories of gzip Records files and NDJSON,
# damaged input, exit codes and the caret under an invalid pattern.
#
# usage: test_cli.sh PATH/TO/keysentry
# Inputs come from tests/data/ (beside this folder) or are written into a
# temp dir that is removed on exit. Every check runs; the exit status is 1
# if any failed.
set -eu

K=${1:?usage: test_cli.sh PATH/TO/keysentry}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA="$HERE/../data"
SAMPLE="$DATA/sample-trail.ndjson"
LC_ALL=C
export LC_ALL
TAB=$(printf '\t')

T=$(mktemp -d "${TMPDIR:-/tmp}/ks-cli-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

checks=0
failures=0

fail() {
    failures=$((failures + 1))
    printf 'FAIL: %s\n' "$*" >&2
}

# run ARGS...: keysentry test-pattern ARGS, stdin from $IN (default /dev/null);
# sets $rc, leaves stdout in $T/out and stderr in $T/err.
IN=/dev/null
run() {
    rc=0
    "$K" test-pattern "$@" <"$IN" >"$T/out" 2>"$T/err" || rc=$?
}

expect_rc() { # expect_rc N WHAT
    checks=$((checks + 1))
    [ "$rc" -eq "$1" ] || { fail "$2: exit status $rc, expected $1"; cat "$T/err" >&2; }
}

expect_out() { # expect_out EXACT-STDOUT WHAT
    checks=$((checks + 1))
    printf '%s\n' "$1" >"$T/want"
    if ! cmp -s "$T/want" "$T/out"; then
        fail "$2: stdout differs"
        printf -- '--- expected\n%s\n--- got\n' "$1" >&2
        cat "$T/out" >&2
    fi
}

expect_err() { # expect_err EXACT-STDERR WHAT
    checks=$((checks + 1))
    printf '%s\n' "$1" >"$T/want"
    if ! cmp -s "$T/want" "$T/err"; then
        fail "$2: stderr differs"
        printf -- '--- expected\n%s\n--- got\n' "$1" >&2
        cat "$T/err" >&2
    fi
}

expect_err_has() { # expect_err_has FIXED-STRING WHAT
    checks=$((checks + 1))
    grep -F -- "$1" "$T/err" >/dev/null || { fail "$2: stderr lacks '$1'"; cat "$T/err" >&2; }
}

expect_out_has() { # expect_out_has FIXED-STRING WHAT
    checks=$((checks + 1))
    grep -F -- "$1" "$T/out" >/dev/null || { fail "$2: stdout lacks '$1'"; cat "$T/out" >&2; }
}

size() { # bytes of a file, without wc's padding
    echo $(($(wc -c <"$1")))
}

LAB='{ $.errorCode = "*" && $.eventSource= "kms.amazonaws.com" && $.userIdentity.sessionContext.sessionIssuer.arn = "arn:aws:iam::111122223333:role/App-ECSTaskRole" }'
VOLUME='{ ($.eventSource = kms.amazonaws.com) && (($.eventName = Decrypt) || ($.eventName = Encrypt)) }'
UNAUTH='{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'

# ---- help and usage ---------------------------------------------------------

run --help
expect_rc 0 "--help"
expect_out_has "usage: keysentry test-pattern [options] PATTERN [FILE|DIR|-]..." "--help"
run -h
expect_rc 0 "-h"

run --no-such-option x
expect_rc 2 "unknown option"
expect_err_has "Run 'keysentry test-pattern --help' for usage." "unknown option"

run
expect_rc 2 "no pattern"

run --json --count x
expect_rc 2 "--json with --count"

# ---- invalid patterns: exit 2, the position, and a caret under it -----------

run '{ $.eventName = }' "$SAMPLE"
expect_rc 2 "invalid JSON pattern"
expect_err "keysentry: invalid pattern: Invalid metric filter pattern: expected a value at 1:17
  { \$.eventName = }
                  ^" "invalid JSON pattern"
checks=$((checks + 1))
[ ! -s "$T/out" ] || fail "invalid pattern: something on stdout"

run '{ $.eventName = Decrypt' "$SAMPLE"
expect_rc 2 "unclosed JSON pattern"
expect_err "keysentry: invalid pattern: Invalid metric filter pattern: If a filter pattern starts with '{' it must end with '}' at 1:23
  { \$.eventName = Decrypt
                        ^" "unclosed JSON pattern"

run '[ip, user' "$SAMPLE"
expect_rc 2 "unclosed space-delimited pattern"
expect_err_has "at 1:9" "unclosed space-delimited pattern"
expect_err_has "          ^" "unclosed space-delimited pattern"

# ---- --json: exact output ---------------------------------------------------

printf '%s\n' \
    '{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","errorCode":"IncorrectKeyException"}' \
    '{"eventSource":"kms.amazonaws.com","eventName":"Encrypt"}' >"$T/kms.ndjson"
# a tab, escaped quotes, raw UTF-8 and a \u escape must survive as JSON
printf '{"eventSource":"kms.amazonaws.com","errorCode":"AccessDeniedException","note":"tab\there \\"q\\" \303\251 \\u00e9"}\n' >>"$T/kms.ndjson"

run --json '{ $.eventSource = kms.amazonaws.com && $.errorCode = "*" }' "$T/kms.ndjson"
expect_rc 0 "--json JSON pattern"
expect_out '{"matches":[{"eventNumber":1,"eventMessage":"{\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Decrypt\",\"errorCode\":\"IncorrectKeyException\"}","extractedValues":{}},{"eventNumber":3,"eventMessage":"{\"eventSource\":\"kms.amazonaws.com\",\"errorCode\":\"AccessDeniedException\",\"note\":\"tab\there \\\"q\\\" é \\u00e9\"}","extractedValues":{}}]}' \
    "--json JSON pattern"
expect_err "keysentry: 2 of 3 events matched (1 files, $(size "$T/kms.ndjson") bytes, 0 bad records skipped)" \
    "--json JSON pattern summary"

run --json '{ $.eventName = ScheduleKeyDeletion }' "$T/kms.ndjson"
expect_rc 0 "--json no match"
expect_out '{"matches":[]}' "--json no match"

printf '%s\n' \
    '10.1.2.3 - alice [14/May/2024:09:15:02 +0000] "GET /orders/42 HTTP/1.1" 404 512' \
    '10.1.2.4 - bob [14/May/2024:09:15:03 +0000] "POST /orders HTTP/1.1" 201 87' \
    '10.1.2.5 - - [14/May/2024:09:15:04 +0000] "GET /health HTTP/1.1" 403 0' >"$T/access.log"

run --json '[ip, identity, user, timestamp, request, status = 4*, bytes]' "$T/access.log"
expect_rc 0 "--json space-delimited pattern"
expect_out '{"matches":[{"eventNumber":1,"eventMessage":"10.1.2.3 - alice [14/May/2024:09:15:02 +0000] \"GET /orders/42 HTTP/1.1\" 404 512","extractedValues":{"$ip":"10.1.2.3","$identity":"-","$user":"alice","$timestamp":"14/May/2024:09:15:02 +0000","$request":"GET /orders/42 HTTP/1.1","$status":"404","$bytes":"512"}},{"eventNumber":3,"eventMessage":"10.1.2.5 - - [14/May/2024:09:15:04 +0000] \"GET /health HTTP/1.1\" 403 0","extractedValues":{"$ip":"10.1.2.5","$identity":"-","$user":"-","$timestamp":"14/May/2024:09:15:04 +0000","$request":"GET /health HTTP/1.1","$status":"403","$bytes":"0"}}]}' \
    "--json space-delimited pattern"

# fields taken by "..." are named by their position ($2..$5)
run --json '[ip, ..., status = 201, bytes]' "$T/access.log"
expect_rc 0 "--json space-delimited with ellipsis"
expect_out '{"matches":[{"eventNumber":2,"eventMessage":"10.1.2.4 - bob [14/May/2024:09:15:03 +0000] \"POST /orders HTTP/1.1\" 201 87","extractedValues":{"$ip":"10.1.2.4","$2":"-","$3":"bob","$4":"14/May/2024:09:15:03 +0000","$5":"POST /orders HTTP/1.1","$status":"201","$bytes":"87"}}]}' \
    "--json space-delimited with ellipsis"

# ---- --count on the sample trail ----------------------------------------------

count_is() { # count_is N PATTERN WHAT
    run --count "$2" "$SAMPLE"
    expect_rc 0 "$3"
    expect_out "$1" "$3"
}
count_is 4 "$LAB" "--count lab KMSFailure filter"
count_is 17 "$VOLUME" "--count Decrypt/Encrypt volume"
count_is 24 '{ $.eventSource = kms.amazonaws.com }' "--count KMS events"
count_is 2 '{ $.errorCode = IncorrectKeyException }' "--count IncorrectKeyException"
count_is 2 "$UNAUTH" "--count unauthorized calls"
count_is 4 '?AccessDeniedException ?IncorrectKeyException' "--count optional terms"
count_is 30 '' "--count empty pattern (match all)"
run --count "$LAB" "$SAMPLE"
expect_err "keysentry: 4 of 30 events matched (1 files, $(size "$SAMPLE") bytes, 0 bad records skipped)" \
    "summary line"
run -q --count "$LAB" "$SAMPLE"
checks=$((checks + 1))
[ ! -s "$T/err" ] || fail "-q: stderr not empty"

# ---- stdin: "-" and no file ----------------------------------------------------

IN=$SAMPLE
run --count "$VOLUME" -
expect_rc 0 "stdin as -"
expect_out 17 "stdin as -"
run --count "$VOLUME"
expect_rc 0 "stdin without a file"
expect_out 17 "stdin without a file"
run --origin '{ $.errorCode = IncorrectKeyException }'
expect_rc 0 "--origin from stdin"
checks=$((checks + 1))
[ "$(cut -f1 "$T/out" | tr '\n' ' ')" = "-:$(head -n 15 "$SAMPLE" | wc -c | tr -d ' ') -:$(head -n 22 "$SAMPLE" | wc -c | tr -d ' ') " ] ||
    fail "--origin from stdin: got $(cut -f1 "$T/out" | tr '\n' ' ')"
# gzip on a pipe: the streaming path
gzip -c "$SAMPLE" >"$T/sample.ndjson.gz"
IN=$T/sample.ndjson.gz
run --count "$LAB" -
expect_rc 0 "gzip on stdin"
expect_out 4 "gzip on stdin"
gzip -c "$SAMPLE" | "$K" test-pattern -q --count "$LAB" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
expect_rc 0 "gzip through a pipe"
expect_out 4 "gzip through a pipe"
IN=/dev/null

# ---- a directory: nested gzip Records files and NDJSON, in sorted order ----------

D=$T/trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05
mkdir -p "$D/14" "$D/15"
printf '%s' '{"Records":[{"eventName":"Decrypt","n":1},{"eventName":"GetObject","n":2}]}' |
    gzip -c >"$D/14/111122223333_CloudTrail_us-east-1_20240514T0910Z_b2.json.gz"
printf '%s\n' '{"Records":[' '{"eventName":"Encrypt","n":0},' '{"eventName":"Decrypt","n":0}' ']}' |
    gzip -c >"$D/14/111122223333_CloudTrail_us-east-1_20240514T0905Z_a1.json.gz"
printf '%s' '{"Records":[{"eventName":"Decrypt","n":5}]}' |
    gzip -c >"$D/15/111122223333_CloudTrail_us-east-1_20240515T0000Z_c3.json.gz"
printf '%s\n' '{"eventName":"Decrypt","n":6}' '{"eventName":"DescribeKey","n":7}' >"$T/trail/local.ndjson"
printf '%s\n' '{"eventName":"Decrypt","n":"hidden"}' >"$T/trail/.partial.ndjson"
# order: AWSLogs/.../14/..0905Z_a1, ..0910Z_b2, 15/..c3, then local.ndjson;
# events: 1 Encrypt, 2 Decrypt, 3 Decrypt(n1), 4 GetObject, 5 Decrypt(n5), 6 Decrypt(n6), 7 DescribeKey
run --json '{ $.eventName = Decrypt }' "$T/trail"
expect_rc 0 "directory walk"
expect_out '{"matches":[{"eventNumber":2,"eventMessage":"{\"eventName\":\"Decrypt\",\"n\":0}","extractedValues":{}},{"eventNumber":3,"eventMessage":"{\"eventName\":\"Decrypt\",\"n\":1}","extractedValues":{}},{"eventNumber":5,"eventMessage":"{\"eventName\":\"Decrypt\",\"n\":5}","extractedValues":{}},{"eventNumber":6,"eventMessage":"{\"eventName\":\"Decrypt\",\"n\":6}","extractedValues":{}}]}' \
    "directory walk"
expect_err_has "keysentry: 4 of 7 events matched (4 files, " "directory walk summary"

run --origin '{ $.n = 1 || $.n = 7 }' "$T/trail"
expect_out "$D/14/111122223333_CloudTrail_us-east-1_20240514T0910Z_b2.json.gz:12${TAB}{\"eventName\":\"Decrypt\",\"n\":1}
$T/trail/local.ndjson:30${TAB}{\"eventName\":\"DescribeKey\",\"n\":7}" "--origin over a directory"

# several inputs: numbering continues from one to the next
run --json '{ $.n = 6 }' "$SAMPLE" "$T/trail"
expect_out_has '"eventNumber":36,' "numbering across inputs"

# --lines: a Records file is one event per line
run --lines --count '' "$D/14/111122223333_CloudTrail_us-east-1_20240514T0905Z_a1.json.gz"
expect_out 4 "--lines"

# ---- a missing input: exit 1, the others are still read ------------------------

run --count "$LAB" "$T/no-such-file.ndjson" "$SAMPLE"
expect_rc 1 "missing file"
expect_out 4 "missing file: the other input is read"
expect_err_has "keysentry: cannot read '$T/no-such-file.ndjson'" "missing file"

# ---- damaged input: reported with file:offset, counted, skipped ------------------

L1='{"eventName":"Decrypt","n":1}'
L2='{"eventName":"Decrypt","n":'
L3a='{"eventName":"Decrypt","x":"'
L4='{"eventName":"Decrypt","n":4}'
{
    printf '%s\n%s\n' "$L1" "$L2"
    printf '%s\377"}\n' "$L3a"
    printf '%s\n' "$L4"
} >"$T/bad.ndjson"
R1='{"Records":[{"eventName":"Decrypt","n":1},'
R2='{"eventName":"Bad","x":[1}]'
printf '%s%s,{"eventName":"Decrypt","n":3}]}\n' "$R1" "$R2" >"$T/bad-records.json"
run --count '{ $.eventName = Decrypt }' "$T/bad.ndjson" "$T/bad-records.json"
expect_rc 0 "damaged input"
expect_out 4 "damaged input: the good events match"
expect_err_has "keysentry: $T/bad.ndjson:$((${#L1} + 1)): invalid JSON at byte ${#L2} of event 2" \
    "invalid JSON line"
expect_err_has "keysentry: $T/bad.ndjson:$((${#L1} + ${#L2} + 2 + ${#L3a})): invalid UTF-8" \
    "invalid UTF-8 line"
expect_err_has "keysentry: $T/bad-records.json:${#R1}: invalid JSON in record" "invalid record"
bytes=$(($(size "$T/bad.ndjson") + $(size "$T/bad-records.json")))
expect_err_has "keysentry: 4 of 4 events matched (2 files, $bytes bytes, 3 bad records skipped)" \
    "damaged input summary"

# a truncated gzip file: the events before the cut still count
gzip -c "$SAMPLE" >"$T/full.ndjson.gz"
head -c $(($(size "$T/full.ndjson.gz") - 40)) "$T/full.ndjson.gz" >"$T/cut.ndjson.gz"
run --count '' "$T/cut.ndjson.gz"
expect_rc 0 "truncated gzip"
expect_err_has "keysentry: $T/cut.ndjson.gz:" "truncated gzip reported"
expect_err_has "truncated gzip file" "truncated gzip reported"
checks=$((checks + 1))
n=$(cat "$T/out")
case $n in
'' | *[!0-9]*) fail "truncated gzip: count '$n' is not a number" ;;
*) [ "$n" -gt 20 ] && [ "$n" -lt 30 ] || fail "truncated gzip: $n events, expected most of the 30" ;;
esac

# serve's --ready-file is replaced by rename: a path that is not a regular
# file (a device, a directory) is refused before anything starts
mkdir "$T/adir"
rc=0
"$K" serve -q -c "$HERE/../../examples/lab/monitoring.yaml" --listen 127.0.0.1:0 \
    --ready-file "$T/adir" </dev/null >"$T/out" 2>"$T/err" || rc=$?
expect_rc 2 "serve --ready-file on a directory"
expect_err_has "is not a regular file" "serve --ready-file on a directory"
checks=$((checks + 1))
[ -d "$T/adir" ] || fail "serve --ready-file replaced a directory"

printf 'cli: %d checks, %d failed\n' "$checks" "$failures"
[ "$failures" -eq 0 ]
