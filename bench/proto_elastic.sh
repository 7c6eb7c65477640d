#!/usr/bin/env bash
# bench/proto_elastic.sh - records per CPU-second of logdistd for the Elasticsearch
# bulk API (--elasticsearch-listen) beside the JSON ingest (POST /api/v1/logs), in
# the same run, on the same logdistd and analyzers, alternating round by round:
#   json-gen  : logdist-gen --packet-size 100 -> POST /api/v1/logs   (the project's anchor)
#   json-wrk  : wrk posting one pre-built 100-record JSON packet      (same sender as bulk)
#   bulk      : wrk posting one pre-built _bulk body of 100 documents (create actions,
#               ECS-style documents: @timestamp, message, log.level, service.name, host.name)
# wrk (-t1 -c8, keep-alive) does not parse the bodies: the sender is not the bottleneck
# (it uses a fraction of a core; logdistd is saturated).
#
# records/CPU-s: delta of records_accepted (GET /api/v1/metrics) over a round, divided by
#   the utime+stime of every logdistd thread (/proc/PID/stat) from before the load until
#   the queue is empty again (records_delivered caught up): ingest, routing and delivery.
# Analyzers: 2 x logdist-analyzer (weights 1 and 3). A bulk round also checks that every
#   item of every answer was 201 (wrk counts non-2xx; the lua script counts "errors":true).
#
# Everything binds to 127.0.0.1 (ephemeral ports). Every process started here is stopped
# by its pid from an EXIT trap; the temp dir is removed (KEEP_TMP=1 keeps it).
# Output: Markdown on stdout and in bench/results/proto_elastic.md.
#
# Usage: bash bench/proto_elastic.sh
# Knobs (env): DURATION=8 RUNS=3 CONNS=8 BIN=build/bin KEEP_TMP=0
#   LOGDISTD_ARGS="--max-queue-bytes 2GiB --memory-limit 8GiB"
#   OUT=bench/results/proto_elastic.md
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
CONNS=${CONNS:-8}
BIN=${BIN:-build/bin}
# a queue and memory budget the rounds cannot fill: no refusal (503/429) skews a round
LOGDISTD_ARGS=${LOGDISTD_ARGS:---max-queue-bytes 2GiB --memory-limit 8GiB}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-bench/results/proto_elastic.md}
. bench/lib.sh   # log, die, bench_init, first_line, pid_ticks, ld_metric, ld_wait_drained, median
for b in logdistd logdist-gen logdist-analyzer; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not built (make build, or set BIN=)"
done
for b in curl jq wrk; do
  command -v "$b" >/dev/null || {
    [ "$(id -u)" = 0 ] || die "$b missing (apt-get install $b)"
    log "installing $b from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$b" >/dev/null
  }
done

bench_init logdist-bench-es

# ---------------------------------------------------------------- analyzers + logdistd
AURLS=()
for i in 1 2; do
  "$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id "a$i" > "$T/a$i.out" 2> "$T/a$i.err" &
  PIDS+=($!)
  AURLS+=("http://$(first_line "$T/a$i.out" | jq -r .listening)/ingest")
done
# shellcheck disable=SC2086
"$BIN/logdistd" --listen 127.0.0.1:0 --elasticsearch-listen 127.0.0.1:0 --log-level warn \
  --data-dir "$T/data" --analyzer "id=a1,url=${AURLS[0]},weight=1" \
  --analyzer "id=a2,url=${AURLS[1]},weight=3" $LOGDISTD_ARGS > "$T/ld.out" 2> "$T/ld.err" &
LD_PID=$!
PIDS+=($LD_PID)
LINE=$(first_line "$T/ld.out")
LD="http://$(jq -r .listening <<< "$LINE")"
ES="http://$(jq -r .elasticsearch <<< "$LINE")"
for i in $(seq 1 100); do
  [ "$(curl -s "$LD/health" | jq -r '.analyzers_healthy // 0')" = 2 ] && break
  sleep 0.1
done

# ---------------------------------------------------------------- bodies
awk 'BEGIN {
  split("info warning error debug", lv, " ");
  split("checkout-api payment-svc search-api auth-svc", src, " ");
  for (i = 1; i <= 100; i++) {
    doc = sprintf("{\"@timestamp\":\"2026-11-27T15:00:%02d.%03dZ\",\"log\":{\"level\":\"%s\"},\"service\":{\"name\":\"%s\"},\"message\":\"user %03d completed checkout in %02d ms\",\"host\":{\"name\":\"web-%d\"},\"cloud\":{\"region\":\"eu-west-1\"}}",
      int(i / 10) % 60, (i * 37) % 1000, lv[(i % 4) + 1], src[(i % 4) + 1], 100 + (i * 7) % 900, 10 + (i * 13) % 90, i % 8);
    printf "{\"create\":{\"_index\":\"logs-app-default\"}}\n%s\n", doc > "'"$T"'/bulk.ndjson";
  }
}'
awk 'BEGIN {
  split("INFO WARN ERROR DEBUG", lv, " ");
  split("checkout-api payment-svc search-api auth-svc", src, " ");
  printf "{\"packet_id\":\"p1\",\"agent_id\":\"a1\",\"messages\":[";
  for (i = 1; i <= 100; i++) {
    if (i > 1) printf ",";
    printf "{\"id\":\"m-%06d\",\"timestamp\":\"2026-11-27T15:00:%02d.%03dZ\",\"level\":\"%s\",\"source\":\"%s\",\"type\":\"app\",\"message\":\"user %03d completed checkout in %02d ms\",\"metadata\":{\"host\":\"web-%d\",\"region\":\"eu-west-1\"}}",
      i, int(i / 10) % 60, (i * 37) % 1000, lv[(i % 4) + 1], src[(i % 4) + 1], 100 + (i * 7) % 900, 10 + (i * 13) % 90, i % 8;
  }
  printf "]}";
}' > "$T/packet.json"
cat > "$T/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BODY_TYPE")
local item_errors = 0
function response(status, headers, body)
  if body and string.find(body, '"errors":true', 1, true) then item_errors = item_errors + 1 end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d errors=%d status_errors=%d item_errors=%d\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, e.status,
    item_errors))
end
EOF

# ---------------------------------------------------------------- probes
ticks() { pid_ticks "$LD_PID"; }
metric() { ld_metric "$LD" "$1"; }
drain() { ld_wait_drained "$LD"; }

# one round: $1 = setup; prints "records cpu_s"
round() {
  local setup=$1 a0 t0 a1 t1 out
  drain
  a0=$(metric .records_accepted); t0=$(ticks)
  case $setup in
    json-gen)
      "$BIN/logdist-gen" --url "$LD/api/v1/logs" --quiet --packet-size 100 \
        --connections "$CONNS" --duration "$DURATION" > "$T/gen.out" 2> "$T/gen.err" ||
        die "logdist-gen: $(tail -n3 "$T/gen.err")"
      ;;
    json-wrk)
      out=$(BODY_FILE="$T/packet.json" BODY_TYPE=application/json \
        wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$T/post.lua" "$LD/api/v1/logs" | grep RESULT)
      case $out in *" errors=0 "*) ;; *) die "json-wrk: $out" ;; esac
      ;;
    bulk)
      out=$(BODY_FILE="$T/bulk.ndjson" BODY_TYPE=application/x-ndjson \
        wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$T/post.lua" "$ES/_bulk" | grep RESULT)
      case $out in *" errors=0 "*"item_errors=0"*) ;; *) die "bulk: $out" ;; esac
      ;;
  esac
  drain
  a1=$(metric .records_accepted); t1=$(ticks)
  echo "$((a1 - a0)) $(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')"
}

SETUPS="json-gen json-wrk bulk"
declare -A RES
log "warm-up"
for s in $SETUPS; do DURATION=2 round "$s" > /dev/null; done
for r in $(seq 1 "$RUNS"); do
  for s in $SETUPS; do
    read -r recs cpu <<< "$(round "$s")"
    rate=$(awk -v n="$recs" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
    log "run $r $s: $recs records, $cpu CPU-s, $rate records/CPU-s"
    RES[$s]="${RES[$s]:-} $rate"
  done
done
MG=$(median ${RES[json-gen]}); MW=$(median ${RES[json-wrk]}); MB=$(median ${RES[bulk]})
{
  echo "## Elasticsearch bulk vs JSON ingest: records per CPU-second of logdistd"
  echo
  echo "$(date -u +%FT%TZ), $(nproc) CPUs, $RUNS runs of ${DURATION}s, $CONNS connections, 100 records per request, medians."
  echo
  echo "| setup | records/CPU-s (runs) | median | vs json-gen |"
  echo "|---|---|---|---|"
  for s in $SETUPS; do
    m=$(median ${RES[$s]})
    echo "| $s |${RES[$s]} | $m | $(awk -v a="$m" -v b="$MG" 'BEGIN { printf "%.2f", a / b }')x |"
  done
  echo
  echo "bulk / json-wrk (same sender): $(awk -v a="$MB" -v b="$MW" 'BEGIN { printf "%.2f", a / b }')x"
} | tee "$OUT"
