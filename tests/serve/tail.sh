#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# keysentry serve's directory tail (docs/serve.md#sources), with inotify and
# with the polling fallback (KEYSENTRY_TAIL_POLL=1):
#  - "file written -> event counted" latency, printed (not asserted: timing
#    belongs to benchmarks);
#  - partial lines wait for their newline;
#  - a deep new S3-layout subdirectory and a gzip archive dropped in by rename;
#  - an archive written in place slowly is read once, whole, after its close;
#  - rotation by truncation, by a new inode and by rename (no double count);
#  - a restart resumes from the checkpoint (lines appended while down are
#    read once).
# Every wait is bounded.
#   tail.sh KEYSENTRY SOURCE_DIR
set -eu
K=$1
SRC=$2
LAB=$SRC/examples/lab
. "$SRC/tests/lib/harness.sh"

start() { # DATA TAIL
    rm -f "$T/ready"
    "$K" serve -q -c "$LAB/monitoring.yaml" --listen 127.0.0.1:0 --data "$1" --tail "$2" \
        --ready-file "$T/ready" &
    PID=$!
    i=0
    while [ ! -s "$T/ready" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "FAIL: serve did not start"; exit 1; }
        sleep 0.1
    done
    P=$(cat "$T/ready")
}
stop() {
    kill "$PID"
    wait "$PID" || true
    PID=
}
stamp() { # now-stamped lab lines
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    sed "s/\"eventTime\":\"[^\"]*\"/\"eventTime\":\"$ts\"/"
}
prom() { curl -sf "http://$P/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
count() { prom "keysentry_source_events_total{source=\"tail:$TD\"}"; }
badrec() { prom "keysentry_source_bad_records_total{source=\"tail:$TD\"}"; }
wait_count() { # SECONDS N: until the tail has read N events
    n=$(($1 * 20))
    while [ $n -gt 0 ]; do
        [ "$(count)" = "$2" ] && return 0
        n=$((n - 1))
        sleep 0.05
    done
    return 1
}
ms() { date +%s%3N; }

LINE=$(sed -n 1p "$LAB/trail-kms-failures.ndjson")

run() { # MODE
    mode=$1
    mkdir -p "$T/$mode/tail" "$T/$mode/data"
    TD=$(cd "$T/$mode/tail" && pwd -P)
    start "$T/$mode/data" "$T/$mode/tail"
    f=$TD/app.ndjson
    : >"$f"
    total=0

    # latency: append one line, poll /metrics as fast as curl goes
    lats=
    for k in 1 2 3 4 5 6 7; do
        t0=$(ms)
        echo "$LINE" | stamp >>"$f"
        total=$((total + 1))
        j=0
        while [ "$(count)" != $total ] && [ $j -lt 2000 ]; do j=$((j + 1)); done
        lats="$lats $(($(ms) - t0))"
    done
    [ "$(count)" = $total ] && ok "$mode: 7 appended lines counted" || bad "$mode: latency lines"
    med=$(echo $lats | tr ' ' '\n' | sort -n | sed -n 4p)
    t0=$(ms)
    for k in 1 2 3 4 5 6 7; do count >/dev/null; done
    echo "info: $mode: file written -> event counted, ms:$lats (median $med;" \
        "one /metrics poll by curl costs $((($(ms) - t0) / 7)) ms of that)"

    # a half-written line waits for its newline
    printf '%s' "$(echo "$LINE" | stamp)" >>"$f"
    sleep 0.6
    [ "$(count)" = $total ] && ok "$mode: partial line not read" || bad "$mode: partial line read"
    echo >>"$f"
    total=$((total + 1))
    wait_count 3 $total && ok "$mode: completed line read" || bad "$mode: completed line ($(count))"

    # a deep new S3-layout branch, an archive dropped in by rename
    deep=$TD/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/27
    mkdir -p "$deep"
    stamp <"$LAB/trail-kms-failures.ndjson" | jq -cs '{Records: .}' | gzip >"$deep/.a.tmp"
    mv "$deep/.a.tmp" "$deep/111122223333_CloudTrail_us-east-1_20261127T1000Z_a.json.gz"
    total=$((total + 76))
    wait_count 8 $total && ok "$mode: archive renamed into a new deep directory: 76 events" ||
        bad "$mode: deep archive ($(count) of $total)"

    # an archive written in place, slowly: never read half (inotify waits for
    # the close; polling for the size to hold)
    stamp <"$LAB/trail-kms-failures.ndjson" | jq -cs '{Records: .}' | gzip >"$T/slow.gz"
    sz=$(wc -c <"$T/slow.gz")
    half=$((sz / 2))
    if [ "$mode" = inotify ]; then
        { head -c $half "$T/slow.gz"; sleep 0.8; tail -c +$((half + 1)) "$T/slow.gz"; } \
            >"$deep/slow.json.gz"
    else
        { head -c $half "$T/slow.gz"; sleep 0.1; tail -c +$((half + 1)) "$T/slow.gz"; } \
            >"$deep/slow.json.gz"
    fi
    total=$((total + 76))
    wait_count 8 $total && [ "$(badrec)" = 0 ] &&
        ok "$mode: archive written in place read once, whole" ||
        bad "$mode: slow archive ($(count) of $total, bad $(badrec))"

    # rotation: truncation, then a new inode under the same name
    : >"$f"
    echo "$LINE" | stamp >>"$f"
    total=$((total + 1))
    wait_count 5 $total && ok "$mode: truncated file read from the start" ||
        bad "$mode: truncation ($(count) of $total)"
    { echo "$LINE"; echo "$LINE"; } | stamp >"$T/new.ndjson"
    mv "$T/new.ndjson" "$f"
    total=$((total + 2))
    wait_count 5 $total && ok "$mode: replaced file (new inode) read from the start" ||
        bad "$mode: new inode ($(count) of $total)"
    # rotation by rename (logrotate's default): app.log -> app.log.1 and a new
    # app.log; the rotated lines are not counted again, a late write to the
    # rotated file (a logger still holding it open) is counted once
    # (the new file's line differs from every earlier one: the inode freed by
    # the step above may be reused at once, and a file with the same inode
    # AND the same first bytes within 10 s is taken for the rotated one)
    sleep 0.3
    mv "$f" "$f.1"
    echo "$LINE" | stamp | sed 's/^{/{"rotation":"a new app.log",/' >"$f"
    total=$((total + 1))
    wait_count 5 $total && sleep 0.6 && [ "$(count)" = $total ] &&
        ok "$mode: rotated by rename: only the new file's line counted" ||
        bad "$mode: rename rotation ($(count) of $total)"
    echo "$LINE" | stamp >>"$f.1"
    total=$((total + 1))
    wait_count 5 $total && sleep 0.6 && [ "$(count)" = $total ] &&
        ok "$mode: a late write to the rotated file counted once" ||
        bad "$mode: late write after rotation ($(count) of $total)"

    # restart: what was read is not read again; what was appended while
    # stopped is read once
    sleep 1.2 # one checkpoint
    stop
    { echo "$LINE"; echo "$LINE"; echo "$LINE"; } | stamp >>"$f"
    echo "$LINE" | stamp >"$deep/later.ndjson"
    start "$T/$mode/data" "$T/$mode/tail"
    wait_count 8 4 && sleep 0.6 && [ "$(count)" = 4 ] &&
        ok "$mode: restart reads only the 4 new lines" || bad "$mode: restart read $(count)"
    stop
}

run inotify
KEYSENTRY_TAIL_POLL=1 run poll
exit $fail
