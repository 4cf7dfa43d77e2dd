#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The dashboard end to end (docs/dashboard.md):
#  - serve runs the lab template with a bearer token on 127.0.0.1:0;
#  - the dashboard's files are served with the right types, ETags (304) and
#    404s, without the token; the API still wants it;
#  - a trickle of the role's failures settles the alarm in OK; the lab's
#    failing Decrypt calls, stamped now, are pushed; the alarm goes to ALARM;
#    the new alarm endpoints answer;
#  - headless Chromium (playwright-core) opens /?token=..., and dashboard.mjs
#    asserts the alarm row, the chart's threshold line and bands, the history
#    transition, the context naming the role, and the event explorer; it
#    saves a screenshot to $KS_ARTIFACTS (default: the working directory).
# Every wait is bounded.
#   dashboard.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
HERE=$SRC/tests/dashboard
LAB=$SRC/examples/lab
ART=${KS_ARTIFACTS:-$PWD}
ALARM=monitoring-KMSSecurityAlarm
ROLE=arn:aws:iam::111122223333:role/App-ECSTaskRole

skip() {
    echo "SKIP: $1"
    exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed (scripts/install-deps.sh)"
CHROMIUM=${KS_CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    # Debian's /usr/bin/chromium is a wrapper script; the binary beside it
    # starts faster and without the wrapper's shell noise.
    for c in /usr/lib/chromium/chromium /usr/bin/chromium; do
        [ -x "$c" ] && CHROMIUM=$c && break
    done
fi
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] ||
    skip "Debian's chromium is not installed (scripts/install-deps.sh)"
[ -d "$HERE/node_modules/playwright-core" ] ||
    skip "tests/dashboard/node_modules is missing (scripts/install-deps.sh runs npm ci there)"

. "$SRC/tests/lib/harness.sh"
wait_for() { # SECONDS COMMAND...: retries until the command succeeds
    n=$(($1 * 10))
    shift
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        n=$((n - 1))
        sleep 0.1
    done
    return 1
}

started=$(date +%s)
TOKEN="dash-$$-$(date +%s)"
AUTH="Authorization: Bearer $TOKEN"
"$K" serve -q -c "$LAB/monitoring.yaml" --listen 127.0.0.1:0 --token "$TOKEN" \
    --ready-file "$T/ready" &
PID=$!
wait_for 10 test -s "$T/ready" || {
    echo "FAIL: serve did not start"
    exit 1
}
P=$(cat "$T/ready")
U=http://$P

# ---- the files: public, typed, cached by ETag ------------------------------
head_of() { curl -s -o /dev/null -D - "$@" | tr -d '\r'; }
code_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
h=$(head_of "$U/")
echo "$h" | grep -q '^HTTP/1.1 200' && echo "$h" | grep -qi '^content-type: text/html' &&
    echo "$h" | grep -qi "^content-security-policy: default-src 'none'" &&
    ok "GET / is the page, without a token, with a strict CSP" || bad "GET /: $h"
for f in app.js:text/javascript chart.js:text/javascript app.css:text/css favicon.svg:image/svg+xml; do
    name=${f%%:*}
    type=${f#*:}
    head_of "$U/ui/$name" | grep -qi "^content-type: $type" || bad "/ui/$name is not $type"
done
ok "assets have their content types"
etag=$(head_of "$U/ui/app.js" | awk -F': ' 'tolower($1) == "etag" {print $2}')
[ -n "$etag" ] && [ "$(code_of -H "If-None-Match: $etag" "$U/ui/app.js")" = 304 ] &&
    ok "ETag revalidation answers 304" || bad "ETag '$etag' was not honoured"
[ "$(code_of "$U/ui/nope.js")" = 404 ] && [ "$(code_of "$U/ui/../api/alarms")" != 200 ] &&
    [ "$(code_of "$U/ui/%2e%2e/api/alarms")" = 404 ] &&
    ok "unknown files are 404" || bad "unknown files are not 404"
[ "$(code_of "$U/api/alarms")" = 401 ] && [ "$(code_of -H "$AUTH" "$U/api/alarms")" = 200 ] &&
    ok "the API still needs the token" || bad "token rule broken on /api/alarms"

# ---- the lab scenario ------------------------------------------------------
# First a trickle: one of the role's failing Decrypt calls every 30 s over the
# last 5 minutes (Sum 1 per period, not above the threshold), so the alarm
# settles in OK and the chart has a history. Then the lab's trail stamped
# now: its failures put 4 into one period and the alarm goes to ALARM.
state_is() {
    curl -sf -H "$AUTH" "$U/api/alarms" |
        jq -e --arg n "$ALARM" --arg s "$1" '.alarms[] | select(.name == $n) | .state == $s'
}
jq -c --arg r "$ROLE" 'select(.errorCode != null and
    .userIdentity.sessionContext.sessionIssuer.arn == $r)' "$LAB/trail-kms-failures.ndjson" |
    head -n 1 >"$T/one.json"
: >"$T/trickle.ndjson"
for i in 1 2 3 4 5 6 7 8 9; do
    ts=$(date -u -d "-$((i * 30 + 5)) sec" +%Y-%m-%dT%H:%M:%SZ)
    jq -c --arg t "$ts" --arg id "trickle-$i" '.eventTime = $t | .eventID = $id' "$T/one.json" \
        >>"$T/trickle.ndjson"
done
acc=$(curl -sf -H "$AUTH" --data-binary @"$T/trickle.ndjson" "$U/api/push" | jq -r .accepted)
[ "$acc" = 9 ] || bad "the trickle push accepted '$acc'"
t0=$(date +%s)
if wait_for 25 state_is OK; then
    ok "the trickle settles the alarm in OK after $(($(date +%s) - t0)) s"
else
    bad "the alarm did not settle in OK"
fi
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sed "s/\"eventTime\":\"[^\"]*\"/\"eventTime\":\"$now\"/" "$LAB/trail-kms-failures.ndjson" >"$T/push.ndjson"
acc=$(curl -sf -H "$AUTH" --data-binary @"$T/push.ndjson" "$U/api/push" | jq -r .accepted)
[ "$acc" = "$(wc -l <"$T/push.ndjson" | tr -d ' ')" ] && ok "pushed $acc lab events" ||
    bad "push accepted '$acc'"
t0=$(date +%s)
if wait_for 25 state_is ALARM; then
    ok "the lab alarm is in ALARM after $(($(date +%s) - t0)) s"
else
    bad "the lab alarm did not reach ALARM"
    exit 1
fi

# ---- the endpoints the page uses -------------------------------------------
curl -sf -H "$AUTH" "$U/api/alarms/$ALARM" | jq -e '.threshold == 1 and .period == 10 and
    .comparisonOperator == "GreaterThanThreshold" and .statistic == "Sum" and
    .evaluationPeriods == 1 and .datapointsToAlarm == 1 and .treatMissingData == "ignore"' \
    >/dev/null && ok "/api/alarms/NAME has the definition" || bad "/api/alarms/NAME"
curl -sf -H "$AUTH" "$U/api/alarms/$ALARM/series" | jq -e '(.datapoints | map(.value) | max) > 1
    and (.states | map(.state) | index("ALARM")) != null' >/dev/null &&
    ok "/series has the breaching datapoint and an ALARM span" || bad "/series"
curl -sf -H "$AUTH" "$U/api/alarms/$ALARM/context" | jq -e --arg r "$ROLE" '
    .context.topPrincipals[0].value == $r and .context.matchingEvents >= 2' >/dev/null &&
    ok "/context names the role" || bad "/context"
[ "$(code_of -H "$AUTH" "$U/api/alarms/$ALARM/series?start=garbage")" = 400 ] &&
    [ "$(code_of -H "$AUTH" "$U/api/alarms/$ALARM/series?start=0")" = 400 ] &&
    [ "$(code_of -H "$AUTH" "$U/api/alarms/no-such/context")" = 404 ] &&
    ok "bad series ranges and unknown alarms are clear errors" || bad "error answers"

# ---- the browser -------------------------------------------------------------
mkdir -p "$ART"
if node "$HERE/dashboard.mjs" --url "$U/?token=$TOKEN" --alarm "$ALARM" --role "$ROLE" \
    --chromium "$CHROMIUM" --screenshot "$ART/dashboard.png" --theme "${KS_DASHBOARD_THEME:-light}"; then
    ok "the browser saw it all (screenshot: $ART/dashboard.png)"
else
    bad "the browser checks failed (screenshot, if any: $ART/dashboard.png)"
fi

kill "$PID"
if wait "$PID"; then ok "serve stopped cleanly"; else bad "serve exited with $?"; fi
PID=
echo "dashboard test took $(($(date +%s) - started)) s"
exit $fail
