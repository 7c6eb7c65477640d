#!/usr/bin/env bash
# bench/profile.sh - profile logdistd under the same wrk load as bench/run.sh.
#
# Starts the same 4 dummy analyzers (one nginx, 4 ports, `return 204`) and logdistd
# (weights .4/.3/.2/.1), drives it with wrk -t1 -c32 POSTing the same body as
# bench/run.sh, and while the load runs:
#   - samples queued_bytes / queued_records / VmRSS every 0.5 s (memory timeline),
#   - `perf record -g` on the logdistd pid for PERF_SECONDS (cpu-clock; the VM has
#     no hardware cycle counter), then prints `perf report --stdio` (self, by symbol).
# Everything on 127.0.0.1, temp files in a mktemp dir removed at exit, every process
# started here stopped by pid from an EXIT/INT/TERM trap. Needs run.sh's packages
# (nginx wrk jq curl) and perf (linux-perf).
#
# Usage: bash bench/profile.sh
# STRACE=1: count system calls per packet with strace -c instead of (or beside) perf.
# Knobs: RECORDS=100 DURATION=12 PERF=1 PERF_SECONDS=6 CONNS=32 BIN=build/bin
#        BASE_PORT=19180 LOGDISTD_ARGS="" LOGDISTD_ENV="" (e.g. MALLOC_ARENA_MAX=2)
#        TOP=60 KEEP_TMP=0 PERF_CG=dwarf (or fp) PERF_FREQ=999
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-100}
DURATION=${DURATION:-12}
PERF=${PERF:-1}
PERF_SECONDS=${PERF_SECONDS:-6}
CONNS=${CONNS:-32}
BIN=${BIN:-build/bin}
BASE_PORT=${BASE_PORT:-19180}
LOGDISTD_ARGS=${LOGDISTD_ARGS:-}
LOGDISTD_ENV=${LOGDISTD_ENV:-}
TOP=${TOP:-60}
KEEP_TMP=${KEEP_TMP:-0}
LD_PORT=$((BASE_PORT + 2))
BE_PORTS="$((BASE_PORT + 11)) $((BASE_PORT + 12)) $((BASE_PORT + 13)) $((BASE_PORT + 14))"

. bench/lib.sh   # log, die, bench_init (temp dir $T, PIDS stopped by pid at exit)
trap 'log "ERROR: line $LINENO: $BASH_COMMAND exited with status $?"' ERR
for b in nginx wrk jq curl; do command -v "$b" >/dev/null || die "$b missing (bash bench/run.sh installs it)"; done
[ "$PERF" = 0 ] || command -v perf >/dev/null || die "perf missing (apt-get install linux-perf)"
[ -x "$BIN/logdistd" ] || die "$BIN/logdistd not built"

bench_init logdist-profile
chmod 755 "$T"          # nginx workers run as 'nobody' and need to traverse it
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 1 100); do port_in_use "$1" && return 0; sleep 0.1; done; die "nothing on :$1"; }
for p in $LD_PORT $BE_PORTS; do port_in_use "$p" && die "127.0.0.1:$p in use (set BASE_PORT)"; done

mkdir -p "$T/be-tmp"
{
  echo "daemon off; pid $T/be.pid; error_log $T/be.err warn; worker_processes 1;"
  echo "events { worker_connections 4096; }"
  echo "http { client_body_temp_path $T/be-tmp/body; proxy_temp_path $T/be-tmp/proxy;"
  echo "  fastcgi_temp_path $T/be-tmp/f; uwsgi_temp_path $T/be-tmp/u; scgi_temp_path $T/be-tmp/s;"
  echo "  keepalive_requests 1000000; keepalive_timeout 60s; access_log off; client_max_body_size 16m;"
  echo "  server {"
  for p in $BE_PORTS; do echo "    listen 127.0.0.1:$p;"; done
  echo "    location / { return 204; } } }"
} > "$T/be.conf"
# same body as bench/run.sh (and the peer baseline's make_body)
awk -v n="$RECORDS" 'BEGIN {
  split("INFO WARN ERROR DEBUG", lv, " "); split("checkout-api payment-svc search-api auth-svc", src, " ");
  printf "{\"packet_id\":\"p1\",\"agent_id\":\"a1\",\"messages\":[";
  for (i = 1; i <= n; i++) {
    if (i > 1) printf ",";
    printf "{\"id\":\"m-%06d\",\"timestamp\":\"2026-11-27T15:00:%02d.%03dZ\",\"level\":\"%s\",\"source\":\"%s\",\"type\":\"app\",\"message\":\"user %03d completed checkout in %02d ms\",\"metadata\":{\"host\":\"web-%d\",\"region\":\"eu-west-1\"}}",
      i, int(i / 10) % 60, (i * 37) % 1000, lv[(i % 4) + 1], src[(i % 4) + 1], 100 + (i * 7) % 900, 10 + (i * 13) % 90, i % 8;
  }
  printf "]}" }' > "$T/body.json"
cat > "$T/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

nginx -p "$T/" -e "$T/be.err" -c "$T/be.conf" & PIDS+=($!)
for p in $BE_PORTS; do wait_port "$p"; done
args=(--listen "127.0.0.1:$LD_PORT" --log-level warn); i=1
for w in 0.4 0.3 0.2 0.1; do set -- $BE_PORTS; shift $((i - 1)); args+=(--analyzer "id=a$i,url=http://127.0.0.1:$1/ingest,weight=$w"); i=$((i + 1)); done
# shellcheck disable=SC2086
env $LOGDISTD_ENV "$BIN/logdistd" "${args[@]}" $LOGDISTD_ARGS > "$T/logdistd.log" 2>&1 & PIDS+=($!); LD=$!
wait_port "$LD_PORT"
for i in $(seq 1 100); do
  [ "$(curl -s "http://127.0.0.1:$LD_PORT/health" | jq -r '.analyzers_healthy // 0')" = 4 ] && break; sleep 0.1
done

mem() { awk '/^Vm(HWM|RSS):/ { printf "%s %.1fMiB ", $1, $2 / 1024 }' "/proc/$LD/status"; }
log "logdistd pid $LD, ${RECORDS}-record packets, wrk -c$CONNS ${DURATION}s, logdistd args: $LOGDISTD_ARGS env: $LOGDISTD_ENV"
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$LD/stat"; }
delivered() { curl -s "http://127.0.0.1:$LD_PORT/api/v1/metrics" | jq -r .records_delivered; }
t0=$(ticks); d0=$(delivered); s0=$(date +%s.%N)
BODY_FILE="$T/body.json" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$T/post.lua" \
  "http://127.0.0.1:$LD_PORT/api/v1/logs" > "$T/wrk.out" 2>&1 & PIDS+=($!); WRKP=$!
(
  while kill -0 "$WRKP" 2>/dev/null; do
    m=$(curl -s --max-time 1 "http://127.0.0.1:$LD_PORT/api/v1/metrics" |
        jq -r '"queued_bytes=\(.queued_bytes/1048576|floor)MiB queued_records=\(.queued_records) inflight=\(.inflight_batches) delivered=\(.records_delivered) rejected=\(.packets_rejected) failed_batches=\(.batches_failed) marked_down=\([.analyzers[].times_marked_down] | add) state=\([.analyzers[].state] | join(","))"' 2>/dev/null || true)
    printf '%s %s %s\n' "$(date +%T.%N | cut -c1-10)" "$(mem)" "$m"
    sleep 0.5
  done
) > "$T/timeline.txt" & PIDS+=($!)
if [ "${STRACE:-0}" = 1 ]; then   # system calls per packet (strace -c; slows logdistd while on)
  sleep 3
  p0=$(curl -s "http://127.0.0.1:$LD_PORT/api/v1/metrics" | jq -r .packets_accepted)
  if [ "${STRACE_THREADS:-0}" = 1 ]; then  # per thread: perf trace -s
    timeout -s INT "$PERF_SECONDS" perf trace -s -p "$LD" -o "$T/strace.out" 2>/dev/null || true
  else
    timeout -s INT "$PERF_SECONDS" strace -c -f -p "$LD" -o "$T/strace.out" 2>/dev/null || true
  fi
  p1=$(curl -s "http://127.0.0.1:$LD_PORT/api/v1/metrics" | jq -r .packets_accepted)
  echo "## strace -c over ${PERF_SECONDS}s: $((p1 - p0)) packets accepted"
  cat "$T/strace.out"
  awk -v n="$((p1 - p0))" '$NF == "total" && n > 0 { printf "## %.2f system calls per packet (all threads)\n", $(NF-2) / n }' "$T/strace.out"
fi
if [ "$PERF" != 0 ]; then
  sleep 3
  perf record -F "${PERF_FREQ:-999}" --call-graph "${PERF_CG:-dwarf}" -o "$T/perf.data" -p "$LD" -- sleep "$PERF_SECONDS" 2> "$T/perf-record.err" || true
fi
wait "$WRKP" || true
for i in $(seq 1 200); do   # bounded drain, as bench/run.sh
  [ "$(curl -s "http://127.0.0.1:$LD_PORT/api/v1/metrics" | jq -r '.queued_records + .inflight_batches')" = 0 ] && break
  sleep 0.05
done
t1=$(ticks); d1=$(delivered); s1=$(date +%s.%N)
sleep 0.6
awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v d="$((d1 - d0))" -v s0="$s0" -v s1="$s1" 'BEGIN {
  w = s1 - s0; c = t / hz
  printf "## SUMMARY delivered %d records in %.2f s (incl. drain) = %.0f records/s; logdistd CPU %.2f s = %.2f cores; %.0f records per CPU-s\n", d, w, d / w, c, c / w, (c ? d / c : 0) }'
echo "## wrk"; grep -E "Requests/sec|Latency|99%|Non-2xx|Socket errors" "$T/wrk.out" || true
echo "## memory / queue timeline (every 0.5 s)"; cat "$T/timeline.txt"
echo "## after the load: $(mem)"
if [ "$PERF" != 0 ] && [ -s "$T/perf.data" ]; then
  echo "## perf report --no-children (self time, cpu-clock), top $TOP lines"
  perf report -i "$T/perf.data" --stdio --no-children --percent-limit 0.5 -g none --sort symbol 2>/dev/null |
    grep -v '^#' | grep -v '^$' | awk -v n="$TOP" 'NR <= n'
  echo "## by thread (pid:tid) and shared object"
  perf report -i "$T/perf.data" --stdio --no-children --percent-limit 1 -g none --sort pid,dso 2>/dev/null |
    grep -v '^#' | grep -v '^$' | awk 'NR <= 25'
  for tid in $(perf report -i "$T/perf.data" --stdio --no-children -g none --sort pid 2>/dev/null |
               awk '$1 ~ /%$/ { split($2, a, ":"); print a[1] }' | head -3); do
    echo "## thread $tid: self time by symbol (% of all samples)"
    perf report -i "$T/perf.data" --stdio --no-children -g none --tid "$tid" --sort symbol --percent-limit 0.7 2>/dev/null |
      grep -v '^#' | grep -v '^$' | awk 'NR <= 25'
  done
  if [ "${CALLERS:-1}" = 1 ]; then
    echo "## children (inclusive) by symbol, top 40"
    perf report -i "$T/perf.data" --stdio --children --percent-limit 2 -g none --sort symbol 2>/dev/null |
      grep -v '^#' | grep -v '^$' | awk 'NR <= 40'
  fi
  [ "$KEEP_TMP" = 1 ] && log "perf data: $T/perf.data"
fi
