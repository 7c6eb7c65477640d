#!/usr/bin/env bash
# bench/durability.sh - what durability costs: logdistd with --durability none,
# critical (half the records "critical": true) and all, in the same run, rounds
# alternating so all three see the same machine state.
#
# Load: logdist-gen, closed loop as fast as it can (CONNS connections, 100-record
# packets), against logdistd in front of 4 logdist-analyzer processes (weights
# 4:3:2:1). records/s = records acknowledged by the analyzers (metrics delta over
# the run plus its drain) / time. The WAL lives in a temp dir on the same disk.
# Everything on 127.0.0.1; every process started here is stopped by pid.
#
# Usage: bash bench/durability.sh     Knobs: DURATION=8 RUNS=3 CONNS=8 BIN=build/bin
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
CONNS=${CONNS:-8}
BIN=${BIN:-build/bin}
OUT=${OUT:-bench/results/durability.md}
T=$(mktemp -d /tmp/logdist-durability.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

listen_of() { # wait for the first stdout line of a started binary, print host:port
  local f=$1 i
  for i in $(seq 100); do
    [ -s "$f" ] && { python3 -c "import json,sys;print(json.loads(open(sys.argv[1]).readline())['listening'])" "$f"; return; }
    sleep 0.05
  done
  echo "timeout waiting for $f" >&2; return 1
}

W=(0.4 0.3 0.2 0.1)
ANALYZERS=()
for i in 1 2 3 4; do
  "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id a$i --max-ids 1 > "$T/a$i.out" 2> "$T/a$i.err" &
  PIDS+=($!)
  ANALYZERS+=(--analyzer "id=a$i,url=http://$(listen_of "$T/a$i.out")/ingest,weight=${W[$((i-1))]}")
done

metric() { curl -s "http://$1/api/v1/metrics" | python3 -c "import json,sys;m=json.load(sys.stdin);print(m['$2'])"; }

run_one() { # $1 mode -> prints "records/s fsyncs"
  local mode=$1 ratio=0 args=(--durability "$mode")
  [ "$mode" = critical ] && ratio=0.5
  [ "$mode" = none ] && ratio=0.5  # same records; none ignores the flag
  rm -rf "$T/data"
  "$BIN/logdistd" --listen 127.0.0.1:0 --data-dir "$T/data" "${ANALYZERS[@]}" "${args[@]}" \
    --max-disk-bytes 8GiB > "$T/d.out" 2> "$T/d.err" &
  local pid=$!
  PIDS+=($pid)
  local addr; addr=$(listen_of "$T/d.out")
  local d0; d0=$(metric "$addr" records_delivered)
  local t0; t0=$(date +%s.%N)
  "$BIN/logdist-gen" --url "http://$addr/api/v1/logs" --duration "$DURATION" --packet-size 100 \
    --connections "$CONNS" --critical-ratio "$ratio" --quiet > "$T/gen.out"
  local i
  for i in $(seq 300); do [ "$(metric "$addr" queued_records)" = 0 ] && break; sleep 0.1; done
  local t1; t1=$(date +%s.%N)
  local d1; d1=$(metric "$addr" records_delivered)
  local fs; fs=$(metric "$addr" wal_fsyncs)
  local dur; dur=$(metric "$addr" records_durable)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "print('%.0f %s %s' % (($d1 - $d0) / ($t1 - $t0), $fs, $dur))"
}

declare -A RES
for r in $(seq "$RUNS"); do
  for mode in none critical all; do
    line=$(run_one "$mode")
    log "round $r $mode: $line"
    RES[$mode]+="$line;"
  done
done

{
  echo "# Durability cost (logdist-gen -> logdistd -> 4 analyzers, 100-record packets, $CONNS connections, ${DURATION}s x $RUNS rounds)"
  echo
  echo "| durability | records/s (median) | x none | fsyncs per run (median) | durable records per run (median) |"
  echo "|---|---:|---:|---:|---:|"
  python3 - "${RES[none]}" "${RES[critical]}" "${RES[all]}" <<'PY'
import statistics, sys
rows = {}
for name, raw in zip(["none", "critical", "all"], sys.argv[1:]):
    runs = [list(map(float, x.split())) for x in raw.split(";") if x.strip()]
    rows[name] = [statistics.median(c) for c in zip(*runs)]
base = rows["none"][0] or 1
for name, (rps, fs, dur) in rows.items():
    print("| %s | %.0f | %.2f | %.0f | %.0f |" % (name, rps, rps / base, fs, dur))
PY
  echo
  echo "critical = half of the records carry \"critical\": true (nearly every packet holds some, so"
  echo "nearly every packet waits for an fsync); all = every record. Group commit: one fsync covers"
  echo "every packet that arrived while the previous one ran."
} | tee "$OUT"
