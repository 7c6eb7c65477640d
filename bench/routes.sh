#!/usr/bin/env bash
# bench/routes.sh - what content routes and key affinity cost logdistd (issue 13).
#
# One logdistd (2 logdist-analyzer processes, weight 1 each, --durability none) gets
# the same ingest in every round: logdist-gen POSTs 100-record packets to
# /api/v1/logs for DURATION s on CONNS connections. Between rounds the route table is
# replaced with PUT /api/v1/routes (the same process, so the same heap, threads and
# caches); RUNS rounds of every setup, the order rotated each round, medians:
#   a no routes (the implicit default route only: plain SWRR, no field is read);
#   b 5 routes, exact and set matches (level set + source set + metadata.region);
#   c 50 routes, exact and set matches (as b, 10 times over);
#   d 50 routes, glob matches ("source": "zz*-k", metadata.region "xx-*-k");
#   e no routes, --affinity-key source on the default route (weighted rendezvous);
#   f 5 routes on level and source only (exact + set): read from the scanner's
#     slices, no second pass over the record.
# The match values never match the generator's records (its sources, levels and
# regions are fixed names), so every record is evaluated against every route and
# falls through to the default route: the worst case for matching, with the same
# deliveries in every setup.
#
# Per round: records = records_delivered delta; CPU = utime+stime of all logdistd
# threads (/proc/PID/stat) from just before the generator starts until the queue is
# drained. Figures: records per CPU-s, CPU-us per record, records/s end to end (records
# over the wall time from the generator's start until drained), and the ratio to (a)
# of the same run.
#
# Everything binds to 127.0.0.1; processes are stopped by pid from the traps of
# bench/lib.sh; temp files in a mktemp dir (KEEP_TMP=1 keeps it).
# Usage: bash bench/routes.sh   (make bench-routes; build/ must be built)
# Knobs (env): DURATION=6 RUNS=3 CONNS=4 BIN=build/bin KEEP_TMP=0
#   LOGDISTD_ARGS="--max-queue-bytes 2GiB --memory-limit 8GiB"
#   OUT=bench/results/routes-<UTC date>.txt
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
RUNS=${RUNS:-3}
CONNS=${CONNS:-4}
BIN=${BIN:-build/bin}
LOGDISTD_ARGS=${LOGDISTD_ARGS:---max-queue-bytes 2GiB --memory-limit 8GiB}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-bench/results/routes-$(date -u +%F).txt}
. bench/lib.sh   # log, die, bench_init, first_line, pid_ticks, ld_metric, ld_wait_drained, ld_wait_healthy, median, host_lines

for b in logdistd logdist-gen logdist-analyzer; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not built (make build, or set BIN=)"
done
for b in curl jq; do command -v "$b" >/dev/null || die "$b is not installed"; done

bench_init logdist-bench-routes

# ---------------------------------------------------------------- route tables
# $1 = number of routes, $2 = exact|glob|scanned
table() {
  jq -n --argjson n "$1" --arg kind "$2" '
    [range(0; $n) | . as $k |
      if $kind == "scanned" then
        {name: "s\($k)", analyzers: ["a1"],
         match: {level: ["TRACE\($k)", "NOTICE\($k)", "ALERT\($k)"],
                 source: ["svc-\($k)-a", "svc-\($k)-b", "svc-\($k)-c", "svc-\($k)-d"]}}
      elif $kind == "exact" then
        {name: "r\($k)", analyzers: (if $k % 2 == 0 then ["a1"] else {"a2": 2} end),
         match: {level: ["TRACE\($k)", "NOTICE\($k)", "ALERT\($k)"],
                 source: ["svc-\($k)-a", "svc-\($k)-b", "svc-\($k)-c", "svc-\($k)-d"],
                 "metadata.region": ["mars-\($k)", "moon-\($k)"]}}
      else
        {name: "g\($k)", analyzers: ["a1", "a2"],
         match: {source: "zz*-\($k)", "metadata.region": "xx-*-\($k)"}}
      end]'
}
# the setups' tables (PUT /api/v1/routes bodies)
mkdir -p "$T/tables"
echo '[]' > "$T/tables/a"
table 5 exact > "$T/tables/b"
table 50 exact > "$T/tables/c"
table 50 glob > "$T/tables/d"
echo '[{"name": "default", "affinity_key": "source"}]' > "$T/tables/e"
table 5 scanned > "$T/tables/f"

# ---------------------------------------------------------------- analyzers + logdistd
ANALYZERS=()
for i in 1 2; do
  "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id "a$i" > "$T/a$i.out" 2> "$T/a$i.err" &
  PIDS+=($!)
  ANALYZERS+=(--analyzer "id=a$i,url=http://$(first_line "$T/a$i.out" | jq -r .listening)/ingest,weight=1")
done
# shellcheck disable=SC2086
"$BIN/logdistd" --listen 127.0.0.1:0 --log-level warn --data-dir "$T/data" --durability none \
  "${ANALYZERS[@]}" $LOGDISTD_ARGS > "$T/ld.out" 2> "$T/ld.err" &
LD_PID=$!
PIDS+=($LD_PID)
LD="http://$(first_line "$T/ld.out" | jq -r .listening)"
ld_wait_healthy "$LD" 2
log "logdistd pid $LD_PID at $LD"

set_table() {  # $1 = setup
  local code
  code=$(curl -s -o "$T/put.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data-binary @"$T/tables/$1" "$LD/api/v1/routes")
  [ "$code" = 200 ] || die "PUT /api/v1/routes ($1) -> $code: $(cat "$T/put.out")"
  local n
  n=$(jq '.routes | length' "$T/put.out")
  echo "$n"
}

round() {  # $1 = setup; prints "records cpu_s wall_s"
  local r0 t0 r1 t1 s0 s1
  ld_wait_drained "$LD"
  set_table "$1" > /dev/null
  r0=$(ld_metric "$LD" .records_delivered); t0=$(pid_ticks "$LD_PID"); s0=$(date +%s.%N)
  "$BIN/logdist-gen" --url "$LD/api/v1/logs" --quiet --packet-size 100 --connections "$CONNS" \
    --duration "$DURATION" > "$T/gen.out" 2> "$T/gen.err" || die "logdist-gen: $(tail -n3 "$T/gen.err")"
  ld_wait_drained "$LD"
  t1=$(pid_ticks "$LD_PID"); r1=$(ld_metric "$LD" .records_delivered); s1=$(date +%s.%N)
  echo "$((r1 - r0)) $(ticks_to_s $((t1 - t0))) $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }')"
}

SETUPS="a b c d e f"
declare -A NAME=([a]="no routes (plain SWRR)" [b]="5 routes, exact + set matches"
  [c]="50 routes, exact + set matches" [d]="50 routes, glob matches"
  [e]="no routes, --affinity-key source (rendezvous)"
  [f]="5 routes on level + source only (scanner slices)")
declare -A RES CPUREC TPUT NROUTES
for s in $SETUPS; do NROUTES[$s]=$(set_table "$s"); done
set_table a > /dev/null
: > "$T/raw.tsv"
log "warm-up"
for s in $SETUPS; do DURATION=2 round "$s" > /dev/null; done
for r in $(seq 1 "$RUNS"); do
  read -ra S <<< "$SETUPS"
  k=$(( (r - 1) % ${#S[@]} ))
  order=("${S[@]:k}" "${S[@]:0:k}")
  log "round $r order: ${order[*]}"
  for s in "${order[@]}"; do
    read -r recs cpu wall <<< "$(round "$s")"
    rate=$(awk -v n="$recs" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
    us=$(awk -v n="$recs" -v c="$cpu" 'BEGIN { printf "%.3f", (n > 0 ? c / n * 1e6 : 0) }')
    tput=$(awk -v n="$recs" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')
    log "round $r $s: $recs records, $cpu CPU-s, $wall s until drained, $rate records/CPU-s, $us CPU-us/record, $tput records/s"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$recs" "$cpu" "$rate" "$us" "$tput" >> "$T/raw.tsv"
    RES[$s]="${RES[$s]:-} $rate"
    CPUREC[$s]="${CPUREC[$s]:-} $us"
    TPUT[$s]="${TPUT[$s]:-} $tput"
  done
done
# the last table's figures: every record fell through to the default route
set_table c > /dev/null
ld_wait_drained "$LD"
[ "$(ld_metric "$LD" .records_no_route)" = 0 ] || die "records without a route"

# ---------------------------------------------------------------- report
MA=$(median ${RES[a]})
ratio() { awk -v a="$1" -v b="$MA" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
{
  echo "# What content routes and key affinity cost logdistd (bench/routes.sh)"
  echo
  host_lines
  echo "one logdistd, 2 logdist-analyzers; logdist-gen 100-record packets at full speed, $CONNS connections, ${DURATION}s per round; the table swapped with PUT /api/v1/routes; $RUNS rounds of $SETUPS, the order rotated each round, medians. No record matches a route (worst case: every route evaluated, all records to the default route)."
  echo
  echo "| setup | routes in the table | records / CPU-s (median) | CPU-us / record | records/s until drained | rounds (records/CPU-s) | ratio to (a) |"
  echo "|---|---:|---:|---:|---:|---|---:|"
  for s in $SETUPS; do
    m=$(median ${RES[$s]})
    echo "| ($s) ${NAME[$s]} | ${NROUTES[$s]} | $m | $(median ${CPUREC[$s]}) | $(median ${TPUT[$s]}) |${RES[$s]} | $(ratio "$m") |"
  done
  echo
  echo "Per round (round setup records cpu_s records_per_cpu_s cpu_us_per_record records_per_s):"
  echo '```'; cat "$T/raw.tsv"; echo '```'
} | tee "$OUT"
log "wrote $OUT"
