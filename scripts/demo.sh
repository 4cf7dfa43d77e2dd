#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make demo: until the live lab demo lands (the daemon issue), replay the lab's
# monitoring stack over sample CloudTrail trails and show when the alarms fire.
set -eu
cd "$(dirname "$0")/.."
K=${KEYSENTRY:-build/keysentry}
LAB=examples/lab

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The lab's metric filter, tested like 'aws logs test-metric-filter'"
LAB_PATTERN='{ $.errorCode = "*" && $.eventSource= "kms.amazonaws.com" && $.userIdentity.sessionContext.sessionIssuer.arn = "arn:aws:iam::111122223333:role/App-ECSTaskRole" }'
echo "   $LAB_PATTERN"
"$K" test-pattern --origin "$LAB_PATTERN" "$LAB/trail-kms-failures.ndjson" | cut -c1-150

say "2. The lab's monitoring stack (CloudFormation), as keysentry understands it"
"$K" validate -c "$LAB/monitoring.yaml" | sed -n '/^metric filters/,/^skipped/p'

say "3. Replay: the app decrypts with the wrong key -> KMSSecurityError alarm (10 s period)"
"$K" replay -c "$LAB/monitoring.yaml" "$LAB/trail-kms-failures.ndjson"

say "4. Replay: an exfiltration-style Decrypt burst on one key -> M-of-N volume alarm"
"$K" replay -c "$LAB/decrypt-volume.yaml" "$LAB/trail-decrypt-burst.ndjson"

say "5. An invalid pattern is rejected with the position of the problem"
"$K" test-pattern '{ $.eventName = Decrypt' "$LAB/trail-kms-failures.ndjson" || true
