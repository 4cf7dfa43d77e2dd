#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# keysentry demo runs the whole lab and reports it as one JSON line: both
# alarms e-mailed with AWS's subjects, the key disabled by the response, and
# every latency measured. Then the same with the text output, checked for the
# story's steps. Timings are printed, not asserted (benchmarks measure them).
#   demo.sh KEYSENTRY
set -eu
KS=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if ! "$KS" demo --listen 127.0.0.1:0 --no-app --json --dir "$T/run1" >"$T/out.json" 2>"$T/err"; then
    echo "FAIL: keysentry demo failed"
    cat "$T/err"
    tail -n 30 "$T/run1/serve.log" 2>/dev/null || true
    exit 1
fi
cat "$T/out.json"
jq -e '.lab.subject == "ALARM: \"KMSSecurityAlarm\" in US East (N. Virginia)"' "$T/out.json" >/dev/null ||
    { echo "FAIL: lab e-mail subject"; exit 1; }
jq -e '.burst.subject == "ALARM: \"DecryptBurstAlarm\" in US East (N. Virginia)"' "$T/out.json" >/dev/null ||
    { echo "FAIL: burst e-mail subject"; exit 1; }
jq -e '.lab.callToEmailMs >= 0 and .burst.callToEmailMs >= 0 and .burst.callToKeyDisabledMs >= 0' \
    "$T/out.json" >/dev/null || { echo "FAIL: a latency is missing"; exit 1; }
# the e-mails really arrived at the SMTP sink, with the context naming the role
n=$(ls "$T/run1/mail/new" | wc -l)
[ "$n" -ge 2 ] || { echo "FAIL: expected 2 e-mails in the mail folder, found $n"; exit 1; }
grep -l 'KMSSecurityAlarm' "$T/run1/mail/new"/* | head -n 1 | xargs grep -q 'role/App-ECSTaskRole' ||
    { echo "FAIL: the lab e-mail does not name the app's role"; exit 1; }
grep -q 'IncorrectKeyException' "$T/run1/mail/new"/* || { echo "FAIL: no IncorrectKeyException in the e-mails"; exit 1; }
# the response is in serve's log, and the secret keys are in no log
grep -q 'response disable-used-keys' "$T/run1/serve.log" || { echo "FAIL: response not logged"; exit 1; }
secret=$(jq -r '.principals[0].secretAccessKey' "$T/run1/principals.json")
if grep -rqF -- "$secret" "$T/run1/serve.log" "$T/run1/mail"; then
    echo "FAIL: a secret access key appears in a log or an e-mail"
    exit 1
fi
# the KMS trail on disk holds the DisabledException (written within ~1 s)
found=
for _ in $(seq 1 50); do
    if find "$T/run1/data/kms/trail" -name '*.json.gz' -exec zcat {} + 2>/dev/null | grep -q DisabledException; then
        found=1
        break
    fi
    sleep 0.1
done
[ -n "$found" ] || { echo "FAIL: no DisabledException record in the KMS trail files"; exit 1; }

# text mode tells the story in five steps and exits 0
"$KS" demo --listen 127.0.0.1:0 --no-app >"$T/out.txt" 2>&1 || { echo "FAIL: text demo"; cat "$T/out.txt"; exit 1; }
for step in '\[1/5\]' '\[3/5\]' 'KMSSecurityAlarm: ALARM' 'DecryptBurstAlarm: ALARM' 'is Disabled' \
    'DisabledException' 'Done. KMS call'; do
    grep -q "$step" "$T/out.txt" || { echo "FAIL: text output lacks '$step'"; cat "$T/out.txt"; exit 1; }
done
# usage errors are exit 2 with a message
if "$KS" demo --burst 5 --threshold 10 2>"$T/e2"; then echo "FAIL: burst <= threshold accepted"; exit 1; fi
grep -q 'must exceed' "$T/e2" || { echo "FAIL: no message for burst <= threshold"; exit 1; }
echo "ok: demo (json and text)"
