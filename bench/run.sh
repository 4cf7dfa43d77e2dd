#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# keysentry benchmark: `keysentry test-pattern --count` against jq and DuckDB
# (@duckdb/node-api) on the same synthetic CloudTrail data, as NDJSON and as
# gzipped S3-layout CloudTrail log files. Every tool runs pinned to one core
# with its input in the page cache; every tool must report the same count as
# the generator's ground truth, or the script fails.
#
#   bench/run.sh                 ~1 GB corpus (BENCH_MB=1000)
#   BENCH_MB=50 bench/run.sh     quick run
#
# Environment (all optional):
#   BENCH_MB=1000       corpus size in MB (10^6 bytes) of NDJSON
#   BENCH_SEED=1        generator seed
#   BENCH_RUNS=3        timed runs per measurement, after one untimed warm-up run
#                       (the median wall time is reported, and the largest peak RSS)
#   BENCH_CPU=1         the core every measured command is pinned to
#   BENCH_TOOLS="keysentry jq duckdb"   which tools to measure
#   BENCH_TIMEOUT=1800  seconds before one measured command is killed
#   KEYSENTRY=build/keysentry  GEN=build/ks-bench-gen
# Output: bench/out/results.md (also printed). The corpus is kept under
# bench/out/corpus-<MB>mb-seed<SEED>/ and rebuilt when absent or stale.
set -euo pipefail
export LC_ALL=C
[ -n "${EPOCHREALTIME:-}" ] || { echo "bench/run.sh needs bash >= 5" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out
BENCH_MB=${BENCH_MB:-1000}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CPU=${BENCH_CPU:-1}
BENCH_TOOLS=${BENCH_TOOLS:-"keysentry jq duckdb"}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
KEYSENTRY=${KEYSENTRY:-$ROOT/build/keysentry}
GEN=${GEN:-$ROOT/build/ks-bench-gen}

die() {
    printf '\nbench/run.sh: ERROR: %s\n\n' "$*" >&2
    exit 1
}
log() { printf '[bench] %s\n' "$*" >&2; }

is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }
if ! { is_uint "$BENCH_MB" && [ "$BENCH_MB" -ge 1 ] && [ "$BENCH_MB" -le 100000 ]; }; then
    die "BENCH_MB must be an integer in 1..100000"
fi
is_uint "$BENCH_SEED" || die "BENCH_SEED must be an unsigned integer"
if ! { is_uint "$BENCH_RUNS" && [ "$BENCH_RUNS" -ge 1 ] && [ "$BENCH_RUNS" -le 50 ]; }; then
    die "BENCH_RUNS must be an integer in 1..50"
fi
is_uint "$BENCH_CPU" || die "BENCH_CPU must be a core number"
is_uint "$BENCH_TIMEOUT" || die "BENCH_TIMEOUT must be seconds"
for t in $BENCH_TOOLS; do
    case $t in keysentry | jq | duckdb) ;; *) die "unknown tool in BENCH_TOOLS: $t" ;; esac
done
has_tool() { case " $BENCH_TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

# ------------------------------------------------------------------ prerequisites
need=""
for c in taskset timeout gzip find sha256sum awk sort; do
    command -v "$c" >/dev/null 2>&1 || need="$need $c"
done
[ -x /usr/bin/time ] || need="$need /usr/bin/time"
has_tool jq && ! command -v jq >/dev/null 2>&1 && need="$need jq"
has_tool duckdb && ! command -v node >/dev/null 2>&1 && need="$need node"
has_tool duckdb && ! command -v npm >/dev/null 2>&1 && need="$need npm"
[ -z "$need" ] || die "missing:$need (run scripts/install-deps.sh --bench)"
ncpu=$(nproc)
[ "$BENCH_CPU" -lt "$ncpu" ] || die "BENCH_CPU=$BENCH_CPU but this machine has $ncpu cores"

# Build the generator (and keysentry) when missing or older than their sources.
if [ ! -x "$GEN" ] || [ "$BENCH/gen.c" -nt "$GEN" ] ||
    { has_tool keysentry && [ ! -x "$KEYSENTRY" ]; }; then
    log "building (make -C $ROOT)"
    make -C "$ROOT" >&2 || die "build failed"
fi
[ -x "$GEN" ] || die "no generator at $GEN"
if has_tool keysentry; then
    [ -x "$KEYSENTRY" ] || die "no keysentry binary at $KEYSENTRY (make, or BENCH_TOOLS without keysentry)"
fi
if has_tool duckdb && [ ! -d "$BENCH/node_modules/@duckdb/node-api" ]; then
    log "installing @duckdb/node-api (npm ci in bench/)"
    (cd "$BENCH" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"
fi

# ------------------------------------------------------------------------ corpus
CORPUS=$OUT/corpus-${BENCH_MB}mb-seed${BENCH_SEED}
NDJSON=$CORPUS/events.ndjson
S3DIR=$CORPUS/s3
BYTES=$((BENCH_MB * 1000000))
stamp="bytes=$BYTES seed=$BENCH_SEED gen=$(sha256sum "$BENCH/gen.c" | cut -c1-16)"
mkdir -p "$OUT"
if [ ! -f "$CORPUS/stamp" ] || [ "$(cat "$CORPUS/stamp")" != "$stamp" ] ||
    [ ! -f "$NDJSON" ] || [ ! -d "$S3DIR" ]; then
    log "generating $BENCH_MB MB corpus in $CORPUS"
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    "$GEN" --ndjson --bytes "$BYTES" --seed "$BENCH_SEED" --truth "$CORPUS/truth-ndjson" \
        >"$NDJSON" 2>"$CORPUS/gen-ndjson.log" &
    p1=$!
    "$GEN" --s3 "$S3DIR" --bytes "$BYTES" --seed "$BENCH_SEED" --truth "$CORPUS/truth-s3" \
        2>"$CORPUS/gen-s3.log" &
    p2=$!
    wait "$p1" || die "generator (ndjson) failed: $(cat "$CORPUS/gen-ndjson.log")"
    wait "$p2" || die "generator (s3) failed: $(cat "$CORPUS/gen-s3.log")"
    printf '%s\n' "$stamp" >"$CORPUS/stamp"
fi
truth() { awk -v k="$2" '$1 == k { print $2 }' "$CORPUS/truth-$1"; }
for k in records lab kms_encdec; do
    [ "$(truth ndjson $k)" = "$(truth s3 $k)" ] || die "generator: ndjson and s3 disagree on $k"
done
RECORDS=$(truth ndjson records)
NDJSON_BYTES=$(stat -c %s "$NDJSON")
S3_BYTES=$(truth s3 bytes)
S3_FILES=$(find "$S3DIR" -type f -name '*.json.gz' | wc -l)
S3_GZ_BYTES=$(find "$S3DIR" -type f -name '*.json.gz' -printf '%s\n' | awk '{s += $1} END {print s}')
[ "$NDJSON_BYTES" = "$(truth ndjson bytes)" ] || die "corpus changed on disk; rm -rf $CORPUS"
[ "$S3_FILES" = "$(truth s3 files)" ] || die "corpus changed on disk; rm -rf $CORPUS"

# ---------------------------------------------------------------------- patterns
ARN='arn:aws:iam::111122223333:role/App-ECSTaskRole'
declare -A PAT JQSEL
PAT[lab]='{ $.errorCode = "*" && $.eventSource= "kms.amazonaws.com" && $.userIdentity.sessionContext.sessionIssuer.arn = "'$ARN'" }'
PAT[kms_encdec]='{ ($.eventSource = kms.amazonaws.com) && (($.eventName = Decrypt) || ($.eventName = Encrypt)) }'
# $.errorCode = "*": present with a string or number value.
# shellcheck disable=SC2016 # jq variables, not shell ones
JQSEL[lab]='select(.eventSource == "kms.amazonaws.com" and ((.errorCode | type) as $t | $t == "string" or $t == "number") and .userIdentity.sessionContext.sessionIssuer.arn == "'$ARN'")'
JQSEL[kms_encdec]='select(.eventSource == "kms.amazonaws.com" and (.eventName == "Decrypt" or .eventName == "Encrypt"))'
PATTERNS="lab kms_encdec"
DATASETS="ndjson s3"

# the command line of one tool on one data set and pattern, as a bash array CMD
set_cmd() { # tool dataset pattern
    local tool=$1 ds=$2 pat=$3 input
    if [ "$ds" = ndjson ]; then input=$NDJSON; else input=$S3DIR; fi
    case $tool in
    keysentry) CMD=("$KEYSENTRY" test-pattern --count "${PAT[$pat]}" "$input") ;;
    jq)
        if [ "$ds" = ndjson ]; then
            CMD=(jq -n "reduce (inputs | ${JQSEL[$pat]}) as \$e (0; . + 1)" "$input")
        else
            # jq 1.6 cannot read gzip: gzip -dc (also pinned) feeds it the files.
            # shellcheck disable=SC2016 # positional parameters of the inner bash
            CMD=(bash -c 'find "$1" -type f -name "*.json.gz" -exec cat {} + | gzip -dc | jq -n "$2"' \
                jq-s3 "$input" "reduce (inputs | .Records[] | ${JQSEL[$pat]}) as \$e (0; . + 1)")
        fi
        ;;
    duckdb) CMD=(node "$BENCH/duckdb-count.js" "$ds" "$pat" "$input") ;;
    esac
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run CMD once pinned; sets R_COUNT, R_US (wall, microseconds) and R_KB (peak RSS)
run_once() {
    local s e
    s=${EPOCHREALTIME/./}
    if ! /usr/bin/time -f %M -o "$TMP/rss" timeout -k 10 "$BENCH_TIMEOUT" \
        taskset -c "$BENCH_CPU" "${CMD[@]}" >"$TMP/out" 2>"$TMP/err"; then
        e=${EPOCHREALTIME/./}
        die "command failed after $(((e - s) / 1000)) ms: ${CMD[*]}
$(tail -5 "$TMP/err")"
    fi
    e=${EPOCHREALTIME/./}
    R_US=$((e - s))
    R_KB=$(tail -1 "$TMP/rss")
    R_COUNT=$(tr -d ' \n' <"$TMP/out")
    [ "${1:-}" = nocount ] || is_uint "$R_COUNT" || die "not a count from ${CMD[0]}: '$(head -c 200 "$TMP/out")'"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

warm_cache() {
    cat "$NDJSON" >/dev/null
    find "$S3DIR" -type f -name '*.json.gz' -exec cat {} + >/dev/null
}

ver_keysentry="-"
has_tool keysentry && ver_keysentry=$("$KEYSENTRY" --version 2>/dev/null | head -1 || true)
[ -n "$ver_keysentry" ] || ver_keysentry="(no --version)"
ver_keysentry="$ver_keysentry (tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown))"
ver_jq=$(jq --version)
ver_node=$(node --version 2>/dev/null || echo -)
ver_duckdb=-
has_tool duckdb && ver_duckdb="$(node "$BENCH/duckdb-count.js" --version) (@duckdb/node-api $(node -p 'require(process.argv[1]).version' "$BENCH/node_modules/@duckdb/node-api/package.json"))"

log "corpus: $RECORDS records; NDJSON $NDJSON_BYTES B; S3 $S3_FILES files, $S3_GZ_BYTES B gz, $S3_BYTES B uncompressed"
log "truth: lab=$(truth ndjson lab) kms_encdec=$(truth ndjson kms_encdec); tools: $BENCH_TOOLS; runs: 1 warm-up + $BENCH_RUNS; cpu $BENCH_CPU"

# The fixed cost of the measuring wrapper (time, timeout, taskset: three
# fork+exec) measured on `true`, subtracted from every wall time (as hyperfine
# subtracts its shell spawning time).
CMD=(true)
base=()
for ((i = 1; i <= 7; i++)); do
    run_once nocount
    base+=("$R_US")
done
OVERHEAD_US=$(median "${base[@]}")
log "wrapper overhead: $OVERHEAD_US us per command (subtracted)"

ROWS=$TMP/rows
: >"$ROWS"
mismatch=0
for ds in $DATASETS; do
    if [ "$ds" = ndjson ]; then bytes=$NDJSON_BYTES; else bytes=$S3_BYTES; fi
    for pat in $PATTERNS; do
        want=$(truth "$ds" "$pat")
        for tool in $BENCH_TOOLS; do
            set_cmd "$tool" "$ds" "$pat"
            warm_cache
            run_once # warm-up, not timed
            walls=() maxkb=0
            for ((i = 1; i <= BENCH_RUNS; i++)); do
                run_once
                if [ "$R_COUNT" != "$want" ]; then
                    printf '\n!!! COUNT MISMATCH: %s on %s/%s counted %s, expected %s\n\n' \
                        "$tool" "$ds" "$pat" "$R_COUNT" "$want" >&2
                    mismatch=1
                fi
                us=$((R_US - OVERHEAD_US))
                [ "$us" -gt 0 ] || us=1
                walls+=("$us")
                [ "$R_KB" -gt "$maxkb" ] && maxkb=$R_KB
            done
            med=$(median "${walls[@]}")
            printf '%s %s %s %s %s %s %s\n' "$ds" "$pat" "$tool" "$R_COUNT" "$med" "$maxkb" "$bytes" >>"$ROWS"
            log "$(printf '%-6s %-10s %-9s count=%-8s wall=%7.3fs  %8.1f MB/s  rss=%6.1f MiB  runs(us): %s' \
                "$ds" "$pat" "$tool" "$R_COUNT" "$(awk -v n="$med" 'BEGIN {print n / 1e6}')" \
                "$(awk -v n="$med" -v b="$bytes" 'BEGIN {print b / n}')" \
                "$(awk -v k="$maxkb" 'BEGIN {print k / 1024}')" "${walls[*]}")"
        done
    done
done

# ----------------------------------------------------------------------- report
RESULTS=$OUT/results.md
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo "# keysentry benchmark results"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $ncpu cores ($cpu_model), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
    echo "- every command pinned with \`taskset -c $BENCH_CPU\`, input warmed into the page cache first;" \
        "1 untimed warm-up run + $BENCH_RUNS timed runs: median wall time (less the measuring wrapper's own $OVERHEAD_US µs), largest peak RSS (\`/usr/bin/time -f %M\`)"
    echo "- corpus: \`ks-bench-gen --seed $BENCH_SEED --bytes $BYTES\`: $RECORDS records;" \
        "NDJSON $(awk -v b="$NDJSON_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB;" \
        "S3 layout $S3_FILES gzip files, $(awk -v b="$S3_GZ_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB compressed," \
        "$(awk -v b="$S3_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB uncompressed"
    echo "- versions: $ver_keysentry; $ver_jq; DuckDB $ver_duckdb, node $ver_node"
    echo "- MB/s = uncompressed JSON MB (10^6 bytes) / wall seconds; ratios are tool / keysentry" \
        "(wall: how many times slower; RSS: how many times more memory)"
    echo "- patterns: \`lab\` = \`${PAT[lab]}\`; \`kms_encdec\` = \`${PAT[kms_encdec]}\`"
    echo
    echo "| data | pattern | tool | count | wall s | MB/s | peak RSS MiB | wall ×keysentry | RSS ×keysentry |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
    awk '
        { ds[NR] = $1; pat[NR] = $2; tool[NR] = $3; cnt[NR] = $4; us[NR] = $5; kb[NR] = $6; b[NR] = $7
          if ($3 == "keysentry") { kns[$1 " " $2] = $5; kkb[$1 " " $2] = $6 } }
        END {
            for (i = 1; i <= NR; i++) {
                k = ds[i] " " pat[i]
                data = (ds[i] == "ndjson") ? "NDJSON" : "S3 gz"
                wr = (k in kns) ? sprintf("%.1f", us[i] / kns[k]) : "n/a"
                rr = (k in kkb) ? sprintf("%.1f", kb[i] / kkb[k]) : "n/a"
                printf "| %s | %s | %s | %d | %.3f | %.0f | %.1f | %s | %s |\n", data, pat[i], tool[i],
                    cnt[i], us[i] / 1e6, b[i] / us[i], kb[i] / 1024, wr, rr
            }
        }' "$ROWS"
    if has_tool keysentry; then
        echo
        echo "Targets for keysentry: NDJSON ≥ 2,000 MB/s, gz ≥ 900 MB/s (uncompressed), peak RSS ≤ 64 MiB."
        echo
        awk '$3 == "keysentry" {
                mbs = $7 / $5; tgt = ($1 == "ndjson") ? 2000 : 900; mib = $6 / 1024
                data = ($1 == "ndjson") ? "NDJSON" : "S3 gz"
                ok1 = (mbs >= tgt) ? "meets" : "MISSES"; ok2 = (mib <= 64) ? "meets" : "MISSES"
                printf "- %s %s: %.0f MB/s (%s %d), %.1f MiB (%s 64)\n", data, $2, mbs, ok1, tgt, mib, ok2
            }' "$ROWS"
    fi
    if [ "$mismatch" -ne 0 ]; then
        echo
        echo "**COUNT MISMATCH: the tools disagree; these numbers are not valid.**"
    fi
} >"$RESULTS"

cat "$RESULTS"
[ "$mismatch" -eq 0 ] || die "COUNT MISMATCH between tools (see above)"
log "all counts agree; results in $RESULTS"
