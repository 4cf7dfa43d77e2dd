#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The lab's loop, timed end to end (issue 6 targets): KMS call -> e-mail
# accepted by the SMTP server, and KMS call -> key disabled by the response.
# Each run is one `keysentry demo --json` (the KMS service in serve's process,
# the demo's SigV4 client as the app role, the embedded SMTP sink): the
# breaching call's answer is the start, the sink's 250 after DATA and the
# first DescribeKey that sees Disabled (20 ms polling) the ends.
#
# Side by side in the same run, the peer architecture: the KMS service as its
# own process delivering trail files that `keysentry serve --tail` follows
# (tests/kms/live_lab.sh, the AWS CLI as the client; files roll every 300 ms),
# which is how CloudTrail delivers to S3, only 300x faster than AWS's ~5 min.
#
#   bench/live-latency.sh [BUILD_DIR] [RUNS] [RUNS_NO_EARLY]   (build, 20, 5)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
RUNS=${2:-20}
RUNS_LATE=${3:-5}
KS=$BUILD/keysentry
[ -x "$KS" ] || { echo "missing $KS (make)" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM

run() { # mode count
    i=0
    while [ "$i" -lt "$2" ]; do
        i=$((i + 1))
        if [ "$1" = early ]; then
            "$KS" demo --no-app --json --listen 127.0.0.1:0 >>"$T/$1.ndjson" 2>>"$T/err" ||
                { echo "demo run failed:" >&2; cat "$T/err" >&2; exit 1; }
        else
            "$KS" demo --no-app --json --listen 127.0.0.1:0 --no-early-fire >>"$T/$1.ndjson" \
                2>>"$T/err" || { echo "demo run failed:" >&2; cat "$T/err" >&2; exit 1; }
        fi
        printf '.' >&2
    done
    echo >&2
}
summary() { # file label
    jq -rs --arg lab "$2" '
      def q(p): (sort | .[((length - 1) * p | floor)]);
      def row(name; xs): "| \($lab) | \(name) | \(xs | length) | \(xs | q(0.5)) | \(xs | q(0.99)) | \(xs | max) |";
      row("KMS call -> e-mail (lab failure alarm)"; map(.lab.callToEmailMs)),
      row("KMS call -> e-mail (Decrypt burst alarm)"; map(.burst.callToEmailMs)),
      row("KMS call -> key disabled (DisableKey response)"; map(.burst.callToKeyDisabledMs))' "$1"
}
echo "keysentry live latency, $(date -u +%Y-%m-%d), $(nproc) cores; runs: $RUNS early fire, $RUNS_LATE without"
run early "$RUNS"
run late "$RUNS_LATE"
echo "| alarms | path | runs | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|"
summary "$T/early.ndjson" "early fire"
summary "$T/late.ndjson" "at period end (10 s periods)"
if [ -x /usr/bin/aws ]; then
    echo "peer (trail files + directory tail, one run):"
    sh "$SRC/tests/kms/live_lab.sh" "$KS" "$SRC" | grep '^ok:' || echo "live_lab.sh failed"
fi
