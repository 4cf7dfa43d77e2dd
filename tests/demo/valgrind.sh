#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's main path under valgrind: keysentry demo runs serve (with the
# in-process KMS service, the notification hub, the DisableKey response and
# the HTTP listener) under memcheck through the demo's wrapper hook, drives
# the whole lab through it, and stops it with SIGTERM. Any memory error or
# definite/indirect leak in serve fails the test.
#   valgrind.sh KEYSENTRY
set -eu
KS=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat >"$T/wrap" <<X
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --log-file="$T/vg.%p.log" "\$@"
X
chmod +x "$T/wrap"
# valgrind slows serve ~30x: a small burst keeps it inside one 10 s period
if ! KEYSENTRY_DEMO_SERVE_WRAPPER="$T/wrap" "$KS" demo --no-app --listen 127.0.0.1:0 \
    --burst 8 --threshold 5 --dir "$T/run" >"$T/out" 2>&1; then
    cat "$T/out"
    tail -n 20 "$T/run/serve.log" 2>/dev/null || true
    echo "FAIL: the demo did not complete with serve under valgrind"
    exit 1
fi
grep -q 'under .*wrap' "$T/out" || { echo "FAIL: the wrapper was not used"; exit 1; }
sleep 1 # the demo waited for serve's exit; the log is complete
if cat "$T"/vg.*.log 2>/dev/null | grep -q .; then
    cat "$T"/vg.*.log
    echo "FAIL: valgrind reported errors in serve"
    exit 1
fi
ls "$T"/vg.*.log >/dev/null 2>&1 || { echo "FAIL: no valgrind log (did serve run under it?)"; exit 1; }
echo "ok: serve valgrind-clean through the whole lab"
