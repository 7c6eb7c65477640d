#!/usr/bin/env bash
# bench/proto_forward.sh - Fluent forward against our JSON ingest, in records per
# CPU-second of logdistd, in the same run on the same daemon.
#
# One logdistd (--forward-listen, --durability none, --ingest-threads 1 so that both
# protocols are served by the same one loop) in front of two logdist-analyzer
# processes (weights 3:1). Rounds alternate:
#   forward : tests/integration/clients/forward_client.js bench mode (node, pre-encoded
#             PackedForward messages of 100 records, EventTime, a chunk each: every
#             message is acked; CONNS connections, WINDOW messages in flight on each);
#   json    : logdist-gen --packet-size 100 --connections CONNS -> POST /api/v1/logs.
# The records are alike: id, level, type, a ~90-byte message (forward: "log"), and a
# metadata object of two keys; forward adds source (tag) and timestamp (EventTime),
# logdist-gen writes both itself.
# records : delta of records_delivered (GET /api/v1/metrics) from before the sender
#           until queued_records and inflight_batches are back to 0 after it stopped;
# CPU     : delta of utime+stime of logdistd (/proc/PID/stat, all threads) over the
#           same window; records per CPU-second = records / CPU seconds.
# Output: a Markdown table (medians of ROUNDS) and the ratio forward/json on stdout,
# raw lines on stderr. Every process started here is stopped by its pid (EXIT trap);
# the temp dir is removed at exit (KEEP_TMP=1 keeps it). Binds 127.0.0.1 only.
#
# Usage: bash bench/proto_forward.sh       (after cmake --build build)
# Knobs (env): BIN=build/bin DURATION=8 ROUNDS=3 CONNS=4 WINDOW=4 LOGDISTD_ARGS=""
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-4}
WINDOW=${WINDOW:-4}
LOGDISTD_ARGS=${LOGDISTD_ARGS:-}
KEEP_TMP=${KEEP_TMP:-0}
NODE=${NODE:-node}
CLIENT=tests/integration/clients/forward_client.js
TCK=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ -x "$BIN/logdistd" ] && [ -x "$BIN/logdist-gen" ] && [ -x "$BIN/logdist-analyzer" ] ||
  die "$BIN/logdistd, logdist-gen, logdist-analyzer not built"
command -v "$NODE" >/dev/null || die "node not found"
[ -d tests/node/node_modules/msgpack-lite ] || die "tests/node/node_modules missing (scripts/setup-deps.sh)"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "$KEEP_TMP" = 1 ] && log "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME ARGV...: run in the background (pid in LAST_PID and PIDS), wait for its
# first (JSON) line. Not in a subshell: PIDS must reach the EXIT trap.
start() {
  local name=$1; shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for _ in $(seq 100); do [ -s "$TMP/$name.out" ] && break; sleep 0.05; done
  [ -s "$TMP/$name.out" ] || die "$name did not start: $(tail -3 "$TMP/$name.err")"
}
field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])" "$@"; }

start a1 "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id a1
start a2 "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id a2
A1=$(field "$TMP/a1.out" listening); A2=$(field "$TMP/a2.out" listening)
# shellcheck disable=SC2086
start logdistd "$BIN/logdistd" --listen 127.0.0.1:0 --forward-listen 127.0.0.1:0 \
  --durability none --ingest-threads 1 --data-dir "$TMP/data" \
  --analyzer "id=a1,url=http://$A1/ingest,weight=3" \
  --analyzer "id=a2,url=http://$A2/ingest,weight=1" $LOGDISTD_ARGS
LD_PID=$LAST_PID
HTTP=$(field "$TMP/logdistd.out" listening); FWD=$(field "$TMP/logdistd.out" forward)
log "logdistd pid $LD_PID http $HTTP forward $FWD"

metric() { curl -s "http://$HTTP/api/v1/metrics" | python3 -c "import json,sys; m=json.load(sys.stdin); print(' '.join(str(m[k]) for k in sys.argv[1:]))" "$@"; }
cpu() { awk '{print $14 + $15}' "/proc/$LD_PID/stat"; }
drained() {
  for _ in $(seq 600); do
    read -r q f < <(metric queued_records inflight_batches)
    [ "$q" = 0 ] && [ "$f" = 0 ] && return 0
    sleep 0.05
  done
  die "logdistd did not drain"
}

# measure PROTO: one round, prints "records cpu_seconds"
measure() {
  drained
  local r0 c0 r1 c1
  r0=$(metric records_delivered); c0=$(cpu)
  if [ "$1" = forward ]; then
    "$NODE" "$CLIENT" "{\"mode\":\"bench\",\"port\":${FWD##*:},\"seconds\":$DURATION,\"connections\":$CONNS,\"window\":$WINDOW}" >"$TMP/fwd.json"
    log "forward sender: $(cat "$TMP/fwd.json")"
  else
    "$BIN/logdist-gen" --url "http://$HTTP/api/v1/logs" --quiet --packet-size 100 \
      --connections "$CONNS" --duration "$DURATION" --id-prefix "j$RANDOM" >"$TMP/gen.json"
    log "json sender: $(tail -1 "$TMP/gen.json")"
  fi
  drained
  r1=$(metric records_delivered); c1=$(cpu)
  echo "$((r1 - r0)) $(python3 -c "print(($c1 - $c0) / $TCK)")"
}

for proto in forward json; do measure "$proto" >/dev/null; done # warm-up
: >"$TMP/raw"
for round in $(seq "$ROUNDS"); do
  for proto in forward json; do
    read -r rec cs < <(measure "$proto")
    log "round $round $proto: $rec records, $cs CPU s, $(python3 -c "print(int($rec / max($cs, 1e-9)))") records/CPU-s"
    echo "$proto $rec $cs" >>"$TMP/raw"
  done
done
python3 - "$TMP/raw" "$DURATION" "$CONNS" "$WINDOW" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
res = {}
for p in ("forward", "json"):
    rates = [int(r) / float(c) for q, r, c in rows if q == p]
    recs = [int(r) for q, r, c in rows if q == p]
    cpus = [float(c) for q, r, c in rows if q == p]
    res[p] = (statistics.median(rates), statistics.median(recs), statistics.median(cpus), rates)
print("| protocol | records/CPU-s (median) | records per round | logdistd CPU s per round | all rounds |")
print("|---|---:|---:|---:|---|")
for p, (rate, rec, cpu, rates) in res.items():
    print("| %s | %d | %d | %.2f | %s |" % (p, rate, rec, cpu, ", ".join("%d" % x for x in rates)))
print()
print("forward / json = **%.2fx** records per CPU-second (same run; %s s per round, %s connections, window %s)"
      % (res["forward"][0] / res["json"][0], sys.argv[2], sys.argv[3], sys.argv[4]))
EOF
