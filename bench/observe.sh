#!/usr/bin/env bash
# bench/observe.sh - what observing logdistd costs (issue 12: /metrics, dashboard, reload).
#
# One logdistd (--config file naming 2 logdist-analyzer processes, weight 1 each,
# --durability none) gets the same ingest in every round: logdist-gen POSTs
# 100-record packets to /api/v1/logs for DURATION s on CONNS connections. The
# rounds alternate (RUNS rounds of a b c d, the order rotated each round so no
# setup always runs first; medians) between:
#   a ingest alone;
#   b ingest + GET /metrics SCRAPE_RATE times a second (one keep-alive connection);
#   c ingest + the dashboard's polling: TABS tabs, each GETs /api/v1/analyzers,
#     /api/v1/metrics, /api/v1/deadletter and /api/v1/history once a second;
#   d ingest + POST /api/v1/reload once a second, the config file's first analyzer
#     flipping between weight 1 and 2 (every reload must answer 200 naming it updated).
# The observers are bench/observe_load.py (one python process; its CPU is not counted).
#
# Per round: records = records_delivered delta, CPU = utime+stime of all logdistd
# threads (/proc/PID/stat) from just before the generator and observer start until
# the queue is drained (observers stop after the drain). records per CPU-s and the
# ratio to (a) of the same run are the figures.
# Then, with no ingest: the CPU of one /metrics scrape = (CPU over SCRAPES scrapes back
# to back - idle CPU over the same time, measured just before) per 1000 scrapes, median
# of 3; the /metrics size; its latency (p50/p99) under ingest comes from the (b) rounds.
# With PERF=1 (and perf usable): one extra (b) round under `perf record -g -p PID` for
# PERF_SECONDS s, top self symbols and the inclusive share of the scrape path.
#
# Everything binds to 127.0.0.1; processes are stopped by pid from the traps of
# bench/lib.sh; temp files in a mktemp dir (KEEP_TMP=1 keeps it).
# Usage: bash bench/observe.sh              (build/ must be built; perf needs root)
# Knobs (env): DURATION=8 RUNS=3 CONNS=4 SCRAPE_RATE=10 TABS=5 SCRAPES=2000 RELOADS=100 PERF=1
#   PERF_SECONDS=10 BIN=build/bin LOGDISTD_ARGS="--max-queue-bytes 2GiB --memory-limit 8GiB"
#   KEEP_TMP=0 OUT=bench/results/observe-<UTC date>.txt
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
CONNS=${CONNS:-4}
SCRAPE_RATE=${SCRAPE_RATE:-10}
TABS=${TABS:-5}
SCRAPES=${SCRAPES:-2000}
RELOADS=${RELOADS:-100}
PERF=${PERF:-1}
PERF_SECONDS=${PERF_SECONDS:-10}
BIN=${BIN:-build/bin}
# a queue and memory budget the rounds cannot fill: no refusal (503/429) skews a round
LOGDISTD_ARGS=${LOGDISTD_ARGS:---max-queue-bytes 2GiB --memory-limit 8GiB}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-bench/results/observe-$(date -u +%F).txt}
. bench/lib.sh   # log, die, bench_init, first_line, pid_ticks, ld_metric, ld_wait_drained, ld_wait_healthy, median, host_lines

for b in logdistd logdist-gen logdist-analyzer; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not built (make build, or set BIN=)"
done
for b in curl jq python3; do command -v "$b" >/dev/null || die "$b is not installed"; done
LOAD="python3 bench/observe_load.py"

bench_init logdist-bench-observe

# ---------------------------------------------------------------- analyzers + logdistd
AURLS=()
for i in 1 2; do
  "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id "a$i" > "$T/a$i.out" 2> "$T/a$i.err" &
  PIDS+=($!)
  AURLS+=("http://$(first_line "$T/a$i.out" | jq -r .listening)/ingest")
done
CFG=$T/logdist.json
jq -n --arg u1 "${AURLS[0]}" --arg u2 "${AURLS[1]}" \
  '{analyzers: [{id: "a1", url: $u1, weight: 1}, {id: "a2", url: $u2, weight: 1}]}' > "$CFG"
# shellcheck disable=SC2086
"$BIN/logdistd" --config "$CFG" --listen 127.0.0.1:0 --log-level warn --data-dir "$T/data" \
  --durability none $LOGDISTD_ARGS > "$T/ld.out" 2> "$T/ld.err" &
LD_PID=$!
PIDS+=($LD_PID)
LD="http://$(first_line "$T/ld.out" | jq -r .listening)"
ld_wait_healthy "$LD" 2
log "logdistd pid $LD_PID at $LD, config $CFG"

# ---------------------------------------------------------------- rounds
OBS_PID=""
observer_start() {  # $1 = setup, $2 = summary file
  case $1 in
    a) OBS_PID="" ; return ;;
    b) $LOAD scrape "$LD" "$SCRAPE_RATE" "$2" & ;;
    c) $LOAD dash "$LD" "$TABS" "$2" & ;;
    d) $LOAD reload "$LD" "$CFG" "$2" & ;;
  esac
  OBS_PID=$!
  PIDS+=($OBS_PID)
}
observer_stop() {
  [ -n "$OBS_PID" ] || return 0
  kill -TERM "$OBS_PID" 2>/dev/null || true
  wait "$OBS_PID" 2>/dev/null || true
  OBS_PID=""
}

round() {  # $1 = setup, $2 = summary file of its observer; prints "records cpu_s"
  local r0 t0 r1 t1
  ld_wait_drained "$LD"
  r0=$(ld_metric "$LD" .records_delivered); t0=$(pid_ticks "$LD_PID")
  observer_start "$1" "$2"
  "$BIN/logdist-gen" --url "$LD/api/v1/logs" --quiet --packet-size 100 --connections "$CONNS" \
    --duration "$DURATION" > "$T/gen.out" 2> "$T/gen.err" || die "logdist-gen: $(tail -n3 "$T/gen.err")"
  ld_wait_drained "$LD"
  t1=$(pid_ticks "$LD_PID"); r1=$(ld_metric "$LD" .records_delivered)
  observer_stop
  echo "$((r1 - r0)) $(ticks_to_s $((t1 - t0)))"
}

SETUPS="a b c d"
declare -A NAME=([a]="ingest alone" [b]="ingest + GET /metrics ${SCRAPE_RATE}/s"
  [c]="ingest + dashboard polling, $TABS tabs (4 GETs/s each)" [d]="ingest + POST /api/v1/reload 1/s (weight 1<->2)")
declare -A RES
: > "$T/raw.tsv"
log "warm-up"
for s in $SETUPS; do DURATION=2 round "$s" "$T/warm-$s.json" > /dev/null; done
for r in $(seq 1 "$RUNS"); do
  # rotate the order each round: a fixed a-b-c-d order biased the ratios by
  # 10-16 % (the first setup of a round ran right after the previous drain)
  read -ra S <<< "$SETUPS"
  k=$(( (r - 1) % ${#S[@]} ))
  order=("${S[@]:k}" "${S[@]:0:k}")
  log "round $r order: ${order[*]}"
  for s in "${order[@]}"; do
    read -r recs cpu <<< "$(round "$s" "$T/obs-$s-$r.json")"
    rate=$(awk -v n="$recs" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
    obs=$(cat "$T/obs-$s-$r.json" 2>/dev/null || echo -)
    log "round $r $s: $recs records, $cpu CPU-s, $rate records/CPU-s; observer $obs"
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$recs" "$cpu" "$rate" >> "$T/raw.tsv"
    RES[$s]="${RES[$s]:-} $rate"
  done
done
cat "$T"/obs-b-*.json.lat > "$T/scrape-under-ingest.lat"
obs_sum() {  # $1 = setup, $2 = jq expression over the summaries -> one value
  cat "$T"/obs-"$1"-*.json | jq -s -r "$2"
}
[ "$(obs_sum d 'map(.errors) | add')" = 0 ] || die "reloads failed or did not re-weight a1: $(cat "$T"/obs-d-*.json)"
for s in b c; do
  [ "$(obs_sum "$s" 'map(.errors) | add')" = 0 ] || die "observer $s saw errors: $(cat "$T"/obs-"$s"-*.json)"
done
SCRAPE_LAT=$(sort -g "$T/scrape-under-ingest.lat" |
  awk '{ a[NR] = $1 } END { i50 = int(0.5 * NR) + 1; i99 = int(0.99 * NR) + 1; if (i99 > NR) i99 = NR
         printf "%s %s %s %d", a[i50], a[i99], a[NR], NR }')
read -r LAT_P50 LAT_P99 LAT_MAX LAT_N <<< "$SCRAPE_LAT"

# ---------------------------------------------------------------- one scrape's CPU, no ingest
ld_wait_drained "$LD"
COSTS=""
for k in 1 2 3; do
  t0=$(pid_ticks "$LD_PID"); s0=$(date +%s.%N); sleep 5; t1=$(pid_ticks "$LD_PID"); s1=$(date +%s.%N)
  idle=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v a="$s0" -v b="$s1" 'BEGIN { printf "%.5f", t / hz / (b - a) }')
  t0=$(pid_ticks "$LD_PID"); s0=$(date +%s.%N)
  $LOAD burst "$LD" "$SCRAPES" "$T/burst-$k.json"
  t1=$(pid_ticks "$LD_PID"); s1=$(date +%s.%N)
  c=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v a="$s0" -v b="$s1" -v idle="$idle" -v n="$SCRAPES" \
    'BEGIN { raw = t / hz; net = raw - idle * (b - a); printf "%.4f", net / n * 1000 }')
  log "scrapes $k: $SCRAPES in $(jq -r .seconds "$T/burst-$k.json") s, $(ticks_to_s $((t1 - t0))) CPU-s (idle ${idle} cores) -> $c CPU-s per 1000; $(cat "$T/burst-$k.json")"
  COSTS="$COSTS $c"
done
SCRAPE_COST=$(median $COSTS)
t0=$(pid_ticks "$LD_PID")
OBS_CFG=$CFG $LOAD reloads "$LD" "$RELOADS" "$T/reloads.json"
t1=$(pid_ticks "$LD_PID")
[ "$(jq -r .errors "$T/reloads.json")" = 0 ] || die "reloads failed: $(cat "$T/reloads.json")"
RELOAD_COST=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$RELOADS" 'BEGIN { printf "%.2f", t / hz / n * 1000 }')
RELOAD_LAT=$(jq -r '"p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' "$T/reloads.json")
log "reloads: $RELOADS back to back: $(cat "$T/reloads.json"), $RELOAD_COST CPU-ms each"
SIZE=$(curl -s "$LD/metrics" | wc -c)
SERIES=$(curl -s "$LD/metrics" | grep -vc '^#')
IDLE_LAT=$(jq -s -r 'map(.p50_ms) | sort | .[1]' "$T"/burst-*.json)

# ---------------------------------------------------------------- perf during (b)
PERF_OUT=""
if [ "$PERF" = 1 ] && command -v perf >/dev/null && perf record -o "$T/perf-probe.data" -q -- true 2>/dev/null; then
  ld_wait_drained "$LD"
  log "perf: one more (b) round, perf record -g -p $LD_PID for ${PERF_SECONDS}s"
  $LOAD scrape "$LD" "$SCRAPE_RATE" "$T/perf-obs.json" & OBS_PID=$!; PIDS+=($OBS_PID)
  "$BIN/logdist-gen" --url "$LD/api/v1/logs" --quiet --packet-size 100 --connections "$CONNS" \
    --duration $((PERF_SECONDS + 3)) > /dev/null 2>&1 & GEN_PID=$!; PIDS+=($GEN_PID)
  sleep 1
  perf record -g -p "$LD_PID" -o "$T/perf.data" -q -- sleep "$PERF_SECONDS" 2> "$T/perf.err" || true
  wait "$GEN_PID" 2>/dev/null || true
  observer_stop
  ld_wait_drained "$LD"
  if [ -s "$T/perf.data" ]; then
    perf report -i "$T/perf.data" --stdio --no-children --sort comm,dso,sym -g none --percent-limit 0.7 \
      2> /dev/null | grep -v '^#' | grep . | head -n 30 > "$T/perf-self.txt" || true
    # inclusive share of the scrape path (frame-pointer call chains: only where frames exist)
    perf report -i "$T/perf.data" --stdio --children --sort sym -g none 2> /dev/null |
      grep -E 'metrics_prom|prom_render|prom_|render_|procself|deliver_snapshot|history_|ingest_|scan_|router_|http_' |
      head -n 25 > "$T/perf-incl.txt" || true
    perf report -i "$T/perf.data" --stdio --no-children --sort pid -g none 2> /dev/null |
      grep -v '^#' | grep . | head -n 8 > "$T/perf-comm.txt" || true
    # only scrapes, no ingest: every sample is the scrape path (and the idle timers)
    perf record -g -p "$LD_PID" -o "$T/perf-scrape.data" -q 2> "$T/perf-scrape.err" & PERF_PID=$!; PIDS+=($PERF_PID)
    sleep 0.5
    $LOAD burst "$LD" $((SCRAPES * 3)) "$T/perf-burst.json"
    kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true
    perf report -i "$T/perf-scrape.data" --stdio --no-children --sort dso,sym -g none --percent-limit 1 \
      2> /dev/null | grep -v '^#' | grep . | head -n 30 > "$T/perf-scrape.txt" || true
    PERF_OUT=1
  fi
else
  log "perf not usable here (PERF=$PERF); skipped"
fi

# ---------------------------------------------------------------- report
MA=$(median ${RES[a]})
ratio() { awk -v a="$1" -v b="$MA" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
{
  echo "# What observing logdistd costs (bench/observe.sh)"
  echo
  host_lines
  echo "one logdistd, 2 logdist-analyzers; logdist-gen 100-record packets, $CONNS connections, ${DURATION}s per round, $RUNS rounds of a b c d, the order rotated each round, medians."
  echo
  echo "| setup | records / CPU-s (median) | rounds | ratio to (a) |"
  echo "|---|---:|---|---:|"
  for s in $SETUPS; do
    m=$(median ${RES[$s]})
    echo "| ($s) ${NAME[$s]} | $m |${RES[$s]} | $(ratio "$m") |"
  done
  echo
  echo "Observers during the rounds (all rounds summed):"
  echo "- (b) $(obs_sum b '"\(map(.requests) | add) scrapes, \(map(.errors) | add) errors, \(map(.bytes_min) | min)-\(map(.bytes_max) | max) B"')"
  echo "- (c) $(obs_sum c '"\(map(.requests) | add) GETs, \(map(.errors) | add) errors"')"
  echo "- (d) $(obs_sum d '"\(map(.requests) | add) reloads (each 200, a1 updated), \(map(.errors) | add) failed; p50 \(map(.p50_ms) | sort | .[length / 2 | floor]) ms"')"
  echo
  echo "GET /metrics:"
  echo "- size: $SIZE B, $SERIES sample lines (2 analyzers)"
  echo "- CPU of logdistd per 1000 scrapes, no ingest (idle CPU subtracted; $SCRAPES back to back, 3 times): $SCRAPE_COST CPU-s (runs:$COSTS)"
  echo "- latency with no ingest (back to back, p50): $IDLE_LAT ms"
  echo "- latency under ingest, (b) rounds, $LAT_N scrapes: p50 $LAT_P50 ms, p99 $LAT_P99 ms, max $LAT_MAX ms"
  echo
  echo "POST /api/v1/reload, no ingest, $RELOADS back to back (weight flipped each time): $RELOAD_COST CPU-ms of logdistd per reload (idle CPU not subtracted), latency $RELOAD_LAT"
  if [ -n "$PERF_OUT" ]; then
    echo
    echo "## perf record -g -p logdistd, ${PERF_SECONDS}s of (b)"
    echo
    echo "Samples by thread (pid:comm; the pid of logdistd itself is its main thread):"
    echo '```'; cat "$T/perf-comm.txt"; echo '```'
    echo "Top self symbols (comm, dso, symbol):"
    echo '```'; cat "$T/perf-self.txt"; echo '```'
    echo "Inclusive (children) shares of selected paths (frame-pointer call chains: partial):"
    echo '```'; cat "$T/perf-incl.txt"; echo '```'
    echo
    echo "## perf record -g -p logdistd while $((SCRAPES * 3)) GET /metrics run back to back, no ingest"
    echo
    echo "Top self symbols (dso, symbol): where a scrape's time goes"
    echo '```'; cat "$T/perf-scrape.txt"; echo '```'
  fi
  echo
  echo "Per round (round setup records cpu_s records_per_cpu_s):"
  echo '```'; cat "$T/raw.tsv"; echo '```'
} | tee "$OUT"
log "wrote $OUT"
