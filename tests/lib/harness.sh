# SPDX-License-Identifier: Apache-2.0
# Sourced by the shell tests that run a keysentry daemon: a private folder
# $T removed at exit, the daemon's pid in $PID stopped at exit, and ok/bad
# reporting into $fail (the script ends with `exit $fail`).
#   . "$SRC/tests/lib/harness.sh"
T=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail=0
ok() { echo "ok: $1"; }
bad() {
    echo "FAIL: $1"
    fail=1
}
