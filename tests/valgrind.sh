#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main path under valgrind: test-pattern over text, NDJSON and CloudTrail
# archives (gzip Records files when ../shared is present). Any memory error
# or leak fails the test.
set -eu
K=$1
SRC=$2
SHARED=$3
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --log-file=$LOG"
run() {
    # keysentry's own reports of bad input go to /dev/null; valgrind's to $LOG
    set +e
    $VG "$K" test-pattern -q "$@" >/dev/null 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 99 ] || [ -s "$LOG" ]; then
        cat "$LOG"
        echo "valgrind: errors in: test-pattern $*"
        exit 1
    fi
}
run --json '[a, b, ..., c]' "$SRC/tests/golden/pattern"
run --count '{ $.eventType = %Trail% || $.arrayKey[*] = value }' "$SRC/tests/golden/pattern"
run 'ERROR -DEBUG' "$SRC/tests/golden/pattern"
if [ -d "$SHARED/data/cloudtrail/sans-504-s3-ransomware-lab/us-east-1" ]; then
    run --count '{ $.eventSource = kms.amazonaws.com && $.resources[*].ARN = "*key*" }' \
        "$SHARED/data/cloudtrail/sans-504-s3-ransomware-lab/us-east-1" \
        "$SHARED/data/cloudtrail/aws-cloudtrail-processing-library-fixtures" \
        "$SHARED/data/cloudtrail/awsdocs-kms-developer-guide-examples"
    run --strict --count '{ $.* = "x" }' "$SHARED/data/cloudtrail/invictus-ir-aws-dataset"
else
    echo "valgrind: ../shared/data absent; CloudTrail archive paths not exercised"
fi
echo "valgrind: clean"
