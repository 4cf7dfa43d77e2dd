#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make demo: the KMS monitoring lab, live, end to end (keysentry demo,
# docs/demo.md). The lab app needs its npm packages (committed lockfile);
# without them the demo drives the KMS service directly and says so.
#   make demo                      the story, then exit
#   make demo DEMO_ARGS=--keep     stay up: dashboard, AWS CLI, files
set -eu
cd "$(dirname "$0")/.."
K=${KEYSENTRY:-build/keysentry}
APP=examples/lab/app
if [ ! -d "$APP/node_modules/@aws-sdk/client-kms" ] && command -v npm >/dev/null 2>&1; then
    echo "installing the lab app's npm packages (npm ci, from the committed lockfile)..."
    (cd "$APP" && npm ci --no-audit --no-fund --loglevel=error) ||
        echo "npm ci failed: the demo will drive the KMS service without the app"
fi
# shellcheck disable=SC2086 # DEMO_ARGS is a list of options
exec "$K" demo ${DEMO_ARGS:-}
