#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# keysentry mailsink end to end: usage errors, --help, then a sink on an
# ephemeral port fed by the curl command-line tool: one output line per
# message, files in DIR/new, exit 0 after --count messages.
set -u
KS=$1
T=$(mktemp -d /tmp/ks-mailsink-cli-XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$KS" mailsink --help >"$T/help" || fail "--help exit $?"
grep -q "KEYSENTRY_SMTP_URL=smtp://127.0.0.1:2525" "$T/help" || fail "--help lacks the serve example"
"$KS" mailsink --listen nonsense 2>/dev/null; [ $? -eq 2 ] || fail "bad --listen is not a usage error"
"$KS" mailsink --listen 192.0.2.1:2525 2>"$T/err"; [ $? -eq 2 ] || fail "non-loopback accepted"
grep -q loopback "$T/err" || fail "non-loopback error does not say why"
"$KS" mailsink extra 2>/dev/null; [ $? -eq 2 ] || fail "stray argument accepted"

if ! command -v curl >/dev/null; then
    echo "curl not installed: end-to-end part skipped"
    exit 0
fi
"$KS" mailsink --listen 127.0.0.1:0 --port-file "$T/port" --dir "$T/mail" --count 2 \
    >"$T/out" 2>"$T/log" &
PID=$!
i=0
while [ ! -s "$T/port" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "no port file"; sleep 0.05
done
PORT=$(cat "$T/port")
printf 'Subject: =?UTF-8?B?w6l0w6k=?=\r\n\r\nfirst\r\n' >"$T/m1"
printf 'Subject: "quoted"\r\n\r\nsecond\r\n' >"$T/m2"
curl -sS "smtp://127.0.0.1:$PORT" --mail-from a@example.com --mail-rcpt b@example.com \
    --mail-rcpt c@example.com -T "$T/m1" || fail "curl 1"
curl -sS "smtp://127.0.0.1:$PORT" --mail-from a@example.com --mail-rcpt d@example.com \
    -T "$T/m2" || fail "curl 2"
i=0
while kill -0 "$PID" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "did not exit after --count 2"; sleep 0.05
done
wait "$PID"; rc=$?; PID=
[ $rc -eq 0 ] || fail "exit $rc"
[ "$(wc -l <"$T/out")" -eq 2 ] || fail "want 2 lines: $(cat "$T/out")"
sed -n 1p "$T/out" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z from=<a@example.com> to=<b@example.com>,<c@example.com> subject="été"$' ||
    fail "line 1: $(sed -n 1p "$T/out")"
sed -n 2p "$T/out" | grep -q 'to=<d@example.com> subject="\\"quoted\\""$' || fail "line 2: $(sed -n 2p "$T/out")"
[ "$(ls "$T/mail/new" | wc -l)" -eq 2 ] || fail "want 2 files in new/"
grep -q "2 messages" "$T/log" || fail "no summary: $(cat "$T/log")"
echo "ok"
