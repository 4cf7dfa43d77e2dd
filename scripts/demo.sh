#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make demo: until the live lab demo lands (the daemon issue), show the lab's
# metric filters on a bundled sample trail.
set -eu
cd "$(dirname "$0")/.."
K=build/keysentry
TRAIL=tests/data/sample-trail.ndjson

LAB='{ $.errorCode = "*" && $.eventSource= "kms.amazonaws.com" && $.userIdentity.sessionContext.sessionIssuer.arn = "arn:aws:iam::111122223333:role/App-ECSTaskRole" }'
VOLUME='{ ($.eventSource = kms.amazonaws.com) && (($.eventName = Decrypt) || ($.eventName = Encrypt)) }'

echo "== keysentry demo: the lab's metric filters over $TRAIL"
echo
echo "-- failed KMS calls by the application's role (the lab's KMSFailure filter):"
echo "   $LAB"
"$K" test-pattern --origin "$LAB" "$TRAIL" | cut -c1-200
echo
echo "-- Decrypt/Encrypt volume (the exfiltration signal):"
echo "   $VOLUME"
"$K" test-pattern --count "$VOLUME" "$TRAIL"
echo
echo "-- an invalid pattern is rejected with the position of the problem:"
"$K" test-pattern '{ $.eventName = Decrypt' "$TRAIL" || true
