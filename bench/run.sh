#!/usr/bin/env bash
# bench/run.sh - logdistd against the peers a user would deploy instead of it.
#
# On ONE set of 4 dummy analyzers (one nginx, 4 loopback ports, `return 204`
# after discarding the body), alternating round by round:
#   nginx    : wrk -> nginx upstream (weight=4,3,2,1)                 -> analyzers
#   haproxy  : wrk -> haproxy backend (roundrobin, weight 40/30/20/10) -> analyzers
#   logdistd : wrk -> logdistd POST /api/v1/logs (weights .4/.3/.2/.1) -> analyzers
#   direct   : wrk -> one analyzer port (optional, SETUPS="direct ..."; the harness ceiling)
# Same wrk, same POST lua script, same body files as bench/peer-baseline.sh in shared/
# (100-record packet 20,622 B, 10-record packet 2,105 B), -t1 -c32, medians of RUNS.
#
# records/s:
#   proxies  : 2xx requests/s (wrk) x records per packet
#   logdistd : delta of records_delivered (GET /api/v1/metrics, acknowledged 2xx by an
#              analyzer) from before wrk until queued_records is back to 0 after wrk
#              stopped, divided by (wrk duration + that drain time).
# CPU      : utime+stime from /proc/PID/stat of the proxy (nginx master+workers, all
#            threads of haproxy / logdistd); for logdistd the window includes the drain.
# RSS      : VmHWM (peak) and VmRSS (at the end of the run) from /proc/PID/status,
#            summed over nginx master+workers.
# Split    : proxies: POST 2xx count per analyzer port in the backend access log;
#            logdistd: per-analyzer records_delivered delta from the metrics.
# Latency  : after the throughput rounds, logdist-gen --rate (half of logdistd's median
#            records/s with 100-record packets) --packet-size 100 --connections 8, and the
#            same generator at the same rate straight to one analyzer as a reference.
#
# Everything binds to 127.0.0.1. Configs, logs and raw results live in a mktemp dir
# that is removed at exit (KEEP_TMP=1 keeps it). Every process started here is
# recorded by pid and stopped by pid from an EXIT/INT/TERM trap.
# Output: Markdown on stdout and in bench/results/latest.md.
#
# Usage (Debian bookworm, root):  make bench     (or: bash bench/run.sh)
# Knobs (env): DURATION=10 RUNS=3 WARMUP=2 THREADS=1 CONNS=32 SIZES="100 10"
#   SETUPS="nginx haproxy logdistd" BASE_PORT=19080 PROXY_WORKERS=auto BACKEND_WORKERS=1
#   BIN=build/bin LOGDISTD_ARGS="" DRAIN_TIMEOUT=30 LAT_DURATION=10 LAT_CONNS=8
#   LAT_RATE=<records/s, default half of the measured max> KEEP_TMP=0 OUT=bench/results/latest.md
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-1}
CONNS=${CONNS:-32}
SIZES=${SIZES:-"100 10"}
SETUPS=${SETUPS:-"nginx haproxy logdistd"}
BASE_PORT=${BASE_PORT:-19080}
PROXY_WORKERS=${PROXY_WORKERS:-auto}
BACKEND_WORKERS=${BACKEND_WORKERS:-1}
BIN=${BIN:-build/bin}
LOGDISTD_ARGS=${LOGDISTD_ARGS:-}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30}
LAT_DURATION=${LAT_DURATION:-10}
LAT_CONNS=${LAT_CONNS:-8}
LAT_RATE=${LAT_RATE:-}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-bench/results/latest.md}

NGX_PROXY_PORT=$BASE_PORT
HAP_PROXY_PORT=$((BASE_PORT + 1))
LD_PORT=$((BASE_PORT + 2))
BE_PORTS="$((BASE_PORT + 11)) $((BASE_PORT + 12)) $((BASE_PORT + 13)) $((BASE_PORT + 14))"
WEIGHTS="4 3 2 1"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO: $BASH_COMMAND exited with status $?"' ERR
has_setup() { case " $SETUPS " in *" $1 "*) return 0 ;; esac; return 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get install and nginx need it)"
for s in $SETUPS; do
  case $s in direct | nginx | haproxy | logdistd) ;; *) die "unknown setup '$s'" ;; esac
done
if has_setup logdistd; then
  [ -x "$BIN/logdistd" ] || die "$BIN/logdistd not built (make build, or set BIN=)"
  [ -x "$BIN/logdist-gen" ] || die "$BIN/logdist-gen not built"
fi

# ---------------------------------------------------------------- install
# Same as the peer script: only if something is missing, and with a temporary
# policy-rc.d so the Debian units do not start nginx/haproxy on :80 meanwhile.
missing=""
for b in nginx haproxy wrk jq curl; do command -v "$b" >/dev/null 2>&1 || missing="$missing $b"; done
if [ -n "$missing" ]; then
  log "installing$missing from Debian"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy); WRK=$(command -v wrk)

# ---------------------------------------------------------------- temp dir + cleanup
T=$(mktemp -d /tmp/logdist-bench.XXXXXX)
chmod 755 "$T"          # nginx workers run as 'nobody' and need to traverse it
PIDS=()

cleanup() {  # $1 = exit status when called for a signal
  local rc=${1:-$?} p i
  trap - EXIT INT TERM
  [ -n "${LOADGEN_PID:-}" ] && PIDS+=("$LOADGEN_PID")
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "$KEEP_TMP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local i
  for i in $(seq 1 100); do port_in_use "$1" && return 0; sleep 0.1; done
  die "nothing listening on 127.0.0.1:$1"
}
for p in $NGX_PROXY_PORT $HAP_PROXY_PORT $LD_PORT $BE_PORTS; do
  port_in_use "$p" && die "127.0.0.1:$p already in use (set BASE_PORT)"
done

# ---------------------------------------------------------------- configs (as the peer script)
ngx_common() {  # $1 = name; keeps every nginx path inside $T
  mkdir -p "$T/$1-tmp"
  cat <<EOF
daemon off;
pid $T/$1.pid;
error_log $T/$1.err warn;
events { worker_connections 4096; }
EOF
}
ngx_http_common() {
  cat <<EOF
  client_body_temp_path $T/$1-tmp/body;
  proxy_temp_path       $T/$1-tmp/proxy;
  fastcgi_temp_path     $T/$1-tmp/fastcgi;
  uwsgi_temp_path       $T/$1-tmp/uwsgi;
  scgi_temp_path        $T/$1-tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
EOF
}

{ # dummy analyzers: one nginx, 4 ports, 204 after discarding the body
  ngx_common backend
  echo "worker_processes $BACKEND_WORKERS;"
  echo "http {"
  ngx_http_common backend
  # $request_method separates logdistd's health GETs from the POSTed packets/batches
  echo "  log_format cnt '\$server_port \$status \$connection_requests \$request_method';"
  echo "  access_log $T/backend-access.log cnt buffer=64k flush=1s;   # truncated before each run"
  echo "  client_max_body_size 16m;"
  echo "  server {"
  for p in $BE_PORTS; do echo "    listen 127.0.0.1:$p;"; done
  echo "    location / { return 204; }"
  echo "  }"
  echo "}"
} > "$T/backend.conf"

{ # nginx weighted proxy
  ngx_common proxy
  echo "worker_processes $PROXY_WORKERS;"
  echo "http {"
  ngx_http_common proxy
  echo "  access_log off;"
  echo "  upstream analyzers {"
  set -- $WEIGHTS
  for p in $BE_PORTS; do echo "    server 127.0.0.1:$p weight=$1;"; shift; done
  echo "    keepalive 64;"
  echo "    keepalive_requests 1000000;"
  echo "  }"
  echo "  server {"
  echo "    listen 127.0.0.1:$NGX_PROXY_PORT;"
  echo "    client_max_body_size 16m;"
  echo "    client_body_buffer_size 64k;"
  echo "    location / {"
  echo "      proxy_pass http://analyzers;"
  echo "      proxy_http_version 1.1;"
  echo "      proxy_set_header Connection \"\";"
  echo "    }"
  echo "  }"
  echo "}"
} > "$T/proxy-nginx.conf"

{ # haproxy weighted proxy (threads default to the number of CPUs)
  cat <<EOF
global
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:$HAP_PROXY_PORT
    default_backend analyzers
backend analyzers
    balance roundrobin
EOF
  i=1; set -- $WEIGHTS
  for p in $BE_PORTS; do echo "    server a$i 127.0.0.1:$p weight $(( $1 * 10 ))"; i=$((i+1)); shift; done
} > "$T/haproxy.cfg"

# ---------------------------------------------------------------- bodies + wrk script (as the peer script)
make_body() {  # $1 = records; one fixed JSON log packet, ~206 bytes per record
  awk -v n="$1" 'BEGIN {
    split("INFO WARN ERROR DEBUG", lv, " ");
    split("checkout-api payment-svc search-api auth-svc", src, " ");
    printf "{\"packet_id\":\"p1\",\"agent_id\":\"a1\",\"messages\":[";
    for (i = 1; i <= n; i++) {
      if (i > 1) printf ",";
      printf "{\"id\":\"m-%06d\",\"timestamp\":\"2026-11-27T15:00:%02d.%03dZ\",\"level\":\"%s\",\"source\":\"%s\",\"type\":\"app\",\"message\":\"user %03d completed checkout in %02d ms\",\"metadata\":{\"host\":\"web-%d\",\"region\":\"eu-west-1\"}}",
        i, int(i / 10) % 60, (i * 37) % 1000, lv[(i % 4) + 1], src[(i % 4) + 1], 100 + (i * 7) % 900, 10 + (i * 13) % 90, i % 8;
    }
    printf "]}";
  }' > "$T/body-$1.json"
}
for n in $SIZES; do make_body "$n"; done

cat > "$T/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d status_errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, e.status))
end
EOF

# ---------------------------------------------------------------- start servers
"$NGINX" -p "$T/" -e "$T/backend.err" -c "$T/backend.conf" & PIDS+=($!)
set -- $BE_PORTS; BE1=$1
for p in $BE_PORTS; do wait_port "$p"; done
NGX_PID=""; HAP_PID=""; LD_PID=""
if has_setup nginx; then
  "$NGINX" -p "$T/" -e "$T/proxy.err" -c "$T/proxy-nginx.conf" & PIDS+=($!); NGX_PID=$!
  wait_port "$NGX_PROXY_PORT"
fi
if has_setup haproxy; then
  "$HAPROXY" -db -f "$T/haproxy.cfg" > "$T/haproxy.log" 2>&1 & PIDS+=($!); HAP_PID=$!
  wait_port "$HAP_PROXY_PORT"
fi
LD_URL="http://127.0.0.1:$LD_PORT"
if has_setup logdistd; then
  ld_args=(--listen "127.0.0.1:$LD_PORT" --log-level warn)
  i=1
  for w in 0.4 0.3 0.2 0.1; do
    set -- $BE_PORTS; shift $((i - 1))
    ld_args+=(--analyzer "id=a$i,url=http://127.0.0.1:$1/ingest,weight=$w")
    i=$((i + 1))
  done
  # shellcheck disable=SC2086
  "$BIN/logdistd" "${ld_args[@]}" $LOGDISTD_ARGS > "$T/logdistd.log" 2>&1 & PIDS+=($!); LD_PID=$!
  wait_port "$LD_PORT"
  for i in $(seq 1 150); do   # all 4 analyzers up (health_rise checks)
    [ "$(curl -s "$LD_URL/health" | jq -r '.analyzers_healthy // 0' 2>/dev/null)" = 4 ] && break
    kill -0 "$LD_PID" 2>/dev/null || die "logdistd exited: $(tail -n 5 "$T/logdistd.log")"
    sleep 0.1
  done
  [ "$(curl -s "$LD_URL/health" | jq -r '.analyzers_healthy // 0')" = 4 ] || die "logdistd: analyzers not healthy"
fi

# ---------------------------------------------------------------- probes
tree_pids() {  # pid and its direct children (nginx workers)
  local pid=$1 f c
  echo "$pid"
  for f in /proc/[0-9]*/stat; do
    read -r c 2>/dev/null < "$f" || continue
    c=${c#*) }; set -- $c
    [ "$2" = "$pid" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
  done
  return 0
}
proc_ticks() {  # utime+stime (ticks) of a pid (all threads) and its direct children
  local t=0 p c
  for p in $(tree_pids "$1"); do
    read -r c 2>/dev/null < "/proc/$p/stat" || continue
    c=${c#*) }; set -- $c        # $1=state ... $12=utime $13=stime
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
proc_mem_kb() {  # "VmHWM VmRSS" in kB, summed over pid and its direct children
  local h=0 r=0 p k v
  for p in $(tree_pids "$1"); do
    while read -r k v _; do
      case $k in VmHWM:) h=$((h + v)) ;; VmRSS:) r=$((r + v)) ;; esac
    done < "/proc/$p/status" 2>/dev/null || true
  done
  echo "$h $r"
}
HZ=$(getconf CLK_TCK)
cpu_snap() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, t }' /proc/stat; }

# logdistd metrics: "accepted delivered queued inflight deadlettered batches_delivered d_a1 d_a2 d_a3 d_a4
#                    batches_failed health_check_failures times_marked_down(sum)"
ld_metrics() {
  curl -s --max-time 5 "$LD_URL/api/v1/metrics" | jq -r '
    [.records_accepted, .records_delivered, .queued_records, .inflight_batches,
     .records_deadlettered, .batches_delivered]
    + ([.analyzers[] | {(.id): .records_delivered}] | add | [.a1, .a2, .a3, .a4])
    + [.batches_failed, .health_check_failures, ([.analyzers[].times_marked_down] | add)]
    | map(. // 0) | @tsv' || true
}
ld_drain() {  # wait (bounded) until nothing is queued or in flight; prints seconds waited
  local t0 i m
  t0=$(date +%s.%N)
  for i in $(seq 1 $((DRAIN_TIMEOUT * 20))); do
    m=($(ld_metrics))
    [ "${m[2]:-1}" = 0 ] && [ "${m[3]:-1}" = 0 ] && break
    sleep 0.05
  done
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

BELOG="$T/backend-access.log"
backend_counts() {  # "c1 c2 c3 c4 new_conns": POST 2xx per analyzer port, new keep-alive conns
  awk -v ports="$BE_PORTS" 'BEGIN { k = split(ports, P, " ") }
    $4 == "POST" && $2 < 300 { c[$1]++ } $4 == "POST" && $3 == 1 { nc++ }
    END { for (i = 1; i <= k; i++) printf "%d ", c[P[i]] + 0; print nc + 0 }' "$BELOG"
}

url_of() {
  case $1 in
    direct)   echo "http://127.0.0.1:$BE1/ingest" ;;
    nginx)    echo "http://127.0.0.1:$NGX_PROXY_PORT/ingest" ;;
    haproxy)  echo "http://127.0.0.1:$HAP_PROXY_PORT/ingest" ;;
    logdistd) echo "$LD_URL/api/v1/logs" ;;
  esac
}
pid_of() { case $1 in direct) echo "" ;; nginx) echo "$NGX_PID" ;; haproxy) echo "$HAP_PID" ;; logdistd) echo "$LD_PID" ;; esac; }

LOADGEN_PID=""   # wrk / logdist-gen run in the background and are waited for, so a signal is handled at once
run_wrk() {  # $1 setup $2 records $3 seconds -> RESULT fields in $T/wrk.out
  BODY_FILE="$T/body-$2.json" "$WRK" -t"$THREADS" -c"$CONNS" -d"$3"s -s "$T/post.lua" "$(url_of "$1")" \
    > "$T/wrk.raw" 2>&1 &
  LOADGEN_PID=$!
  wait "$LOADGEN_PID" || true
  LOADGEN_PID=""
  awk '/^RESULT/ { sub(/^RESULT /, ""); print }' "$T/wrk.raw" > "$T/wrk.out"
}
kv() { local k=$1; shift; local x; for x in "$@"; do [ "${x%%=*}" = "$k" ] && { echo "${x#*=}"; return; }; done; echo 0; }

# ---------------------------------------------------------------- versions
ver_ngx=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
ver_hap=$("$HAPROXY" -v 2>&1 | awk 'NR == 1 { print $3 }')   # no `head`: SIGPIPE + pipefail
ver_wrk=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')
ver_ld=$("$BIN/logdistd" --version 2>/dev/null | awk 'NR == 1' || echo '?')
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || ver_git="$ver_git+dirty"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
machine="$(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
log "nginx $ver_ngx, haproxy $ver_hap, wrk $ver_wrk, $ver_ld ($ver_git); $machine; tmp $T"

# ---------------------------------------------------------------- throughput runs
RAW="$T/raw.tsv"
echo "records setup run req_s rec_s p50_ms p99_ms errors split backend_req wrk_2xx new_be_conns proxy_cores cpu_s_per_Mrec rec_per_cpu_s hwm_mib rss_mib busy_cores drain_s lost rec_per_batch rec_per_analyzer failed_batches,hc_failures,marked_down" > "$RAW"
start_ts=$(date +%s)
for n in $SIZES; do
  for s in $SETUPS; do
    log "warmup $s ${n}-record packets ${WARMUP}s"
    run_wrk "$s" "$n" "$WARMUP"
    [ "$s" = logdistd ] && ld_drain >/dev/null
  done
  sleep 1.2
  for r in $(seq 1 "$RUNS"); do
    for s in $SETUPS; do
      : > "$BELOG"     # nginx appends (O_APPEND); the idle gap before this flushed everything older
      pp=$(pid_of "$s"); pt0=0; [ -n "$pp" ] && pt0=$(proc_ticks "$pp")
      m0=(); [ "$s" = logdistd ] && m0=($(ld_metrics))
      c0=($(cpu_snap))
      run_wrk "$s" "$n" "$DURATION"; res=$(cat "$T/wrk.out")
      c1=($(cpu_snap))
      drain=0; m1=()
      if [ "$s" = logdistd ]; then drain=$(ld_drain); m1=($(ld_metrics)); fi
      pt1=0; mem="0 0"
      if [ -n "$pp" ]; then pt1=$(proc_ticks "$pp"); mem=$(proc_mem_kb "$pp"); fi
      sleep 1.2                                   # access_log flush=1s
      be=($(backend_counts))
      set -- $res
      reqs=$(kv requests "$@"); dur=$(kv duration_us "$@"); p50=$(kv p50_us "$@"); p99=$(kv p99_us "$@")
      errs=$(kv errors "$@"); serrs=$(kv status_errors "$@")
      ok=$((reqs - serrs))
      if [ "$s" = logdistd ]; then
        # records per analyzer = delivered delta; lost = accepted - delivered (after the drain)
        d=($((m1[6] - m0[6])) $((m1[7] - m0[7])) $((m1[8] - m0[8])) $((m1[9] - m0[9])))
        recs=$((m1[1] - m0[1])); lost=$(( (m1[0] - m0[0]) - recs )); bat=$((m1[5] - m0[5]))
        rpb=$(awk -v r="$recs" -v b="$bat" 'BEGIN { printf "%.0f", b ? r / b : 0 }')
        flaps="$((m1[10] - m0[10])),$((m1[11] - m0[11])),$((m1[12] - m0[12]))"
      else
        d=(); for i in 0 1 2 3; do d[$i]=$(( be[i] * n )); done
        recs=$(( ok * n )); lost=0; rpb=$n; flaps="-"
      fi
      awk -v n="$n" -v s="$s" -v r="$r" -v ok="$ok" -v du="$dur" -v p50="$p50" -v p99="$p99" -v e="$errs" \
          -v d1="${d[0]}" -v d2="${d[1]}" -v d3="${d[2]}" -v d4="${d[3]}" -v recs="$recs" \
          -v be="${be[0]},${be[1]},${be[2]},${be[3]}" -v nc="${be[4]}" \
          -v pc="$((pt1 - pt0))" -v hz="$HZ" -v mem="$mem" -v drain="$drain" -v lost="$lost" -v rpb="$rpb" -v flaps="$flaps" \
          -v cb="$((c1[0] - c0[0]))" -v ct="$((c1[1] - c0[1]))" -v ncpu="$(nproc)" 'BEGIN {
        sec = du / 1e6; win = sec + drain; rps = ok / sec; rec_s = recs / win
        t = d1 + d2 + d3 + d4; if (!t) t = 1
        split_s = sprintf("%.1f/%.1f/%.1f/%.1f", 100*d1/t, 100*d2/t, 100*d3/t, 100*d4/t)
        cpu = pc / hz; if (ct == 0) ct = 1
        split(mem, mm, " ")
        printf "%s %s %s %.0f %.0f %.2f %.2f %d %s %s %d %d %.2f %s %s %.1f %.1f %.2f %.2f %d %s %d,%d,%d,%d %s\n",
          n, s, r, rps, rec_s, p50 / 1000, p99 / 1000, e, split_s, be, ok, nc, cpu / win,
          (s == "direct" || recs == 0) ? "-" : sprintf("%.3f", cpu / recs * 1e6),
          (s == "direct" || cpu == 0) ? "-" : sprintf("%.0f", recs / cpu),
          mm[1] / 1024, mm[2] / 1024, ncpu * cb / ct, drain, lost, rpb, d1, d2, d3, d4, flaps }' >> "$RAW"
      log "$(tail -n 1 "$RAW")"
    done
  done
done

# ---------------------------------------------------------------- latency run (logdist-gen, open loop)
med_col() {  # $1 records $2 setup $3 column -> median over runs
  awk -v n="$1" -v s="$2" -v col="$3" 'NR > 1 && $1 == n && $2 == s && $col != "-" { a[++k] = $col + 0 }
    END { if (!k) { print 0; exit }
          for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
          printf "%.0f\n", (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }' "$RAW"
}
LAT=""; LAT_REF=""
if has_setup logdistd; then
  if [ -z "$LAT_RATE" ]; then
    max100=$(med_col 100 logdistd 5)
    LAT_RATE=$(( max100 / 2 ))
  fi
  if [ "${LAT_RATE:-0}" -gt 0 ]; then
    gen() {  # $1 url -> summary JSON line in $T/gen.out
      "$BIN/logdist-gen" --url "$1" --rate "$LAT_RATE" --packet-size 100 --connections "$LAT_CONNS" \
        --duration "$LAT_DURATION" --quiet > "$T/gen.raw" 2> "$T/gen.err" &
      LOADGEN_PID=$!
      wait "$LOADGEN_PID" || true
      LOADGEN_PID=""
      tail -n 1 "$T/gen.raw" > "$T/gen.out"
    }
    ld_drain >/dev/null
    log "latency: logdist-gen --rate $LAT_RATE --packet-size 100 --connections $LAT_CONNS -> logdistd"
    pt0=$(proc_ticks "$LD_PID"); m0=($(ld_metrics))
    gen "$LD_URL/api/v1/logs"; LAT=$(cat "$T/gen.out")
    LAT_DRAIN=$(ld_drain); m1=($(ld_metrics)); pt1=$(proc_ticks "$LD_PID")
    LAT_LOST=$(( (m1[0] - m0[0]) - (m1[1] - m0[1]) ))
    LAT_CPU=$(awk -v t="$((pt1 - pt0))" -v hz="$HZ" -v d="$LAT_DURATION" 'BEGIN { printf "%.2f", t / hz / d }')
    LAT_EWMA=$(curl -s "$LD_URL/api/v1/metrics" | jq -r '[.analyzers[].latency_ms] | map(. * 100 | round / 100) | join("/")')
    log "latency: $LAT"
    log "latency reference: same generator and rate -> one analyzer directly"
    gen "http://127.0.0.1:$BE1/ingest"; LAT_REF=$(cat "$T/gen.out")
    log "latency reference: $LAT_REF"
  fi
fi
LD_MEM=""; [ -n "$LD_PID" ] && LD_MEM=$(proc_mem_kb "$LD_PID")
elapsed=$(( $(date +%s) - start_ts ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
report() {
  echo "# logdist benchmark: logdistd vs nginx / HAProxy as weighted forwarders"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $machine; nginx $ver_ngx, haproxy $ver_hap, wrk $ver_wrk, $ver_ld (git $ver_git)."
  echo "wrk -t$THREADS -c$CONNS, ${DURATION}s per run, median of $RUNS runs, setups alternated per round ($SETUPS); 4 dummy analyzers (one nginx, \`return 204\`), weights 4:3:2:1. Runtime ${elapsed}s."
  echo "Load average (1/5/15 min) at start: $load_start, at end: $load_end (this harness alone keeps about 2 cores busy; more means other work shared the machine)."
  printf 'Bodies:'; for n in $SIZES; do printf ' %s records = %s B;' "$n" "$(wc -c < "$T/body-$n.json")"; done; echo
  echo
  echo "| records/packet | setup | req/s (2xx) | records/s | p50 ms | p99 ms | errors | split % (target 40/30/20/10) | proxy CPU (cores) | CPU-s per M records | records per CPU-s | peak RSS MiB (VmHWM) | RSS MiB at end | x nginx (rec/s, rec/CPU-s) | x haproxy (rec/s, rec/CPU-s) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for n in $SIZES; do
    for s in $SETUPS; do
      awk -v n="$n" -v s="$s" -v raw="$RAW" '
        function med(col,   i, j, t, a, k) {
          k = 0; for (i = 1; i <= cnt; i++) if (v[i, col] != "-") a[++k] = v[i, col] + 0
          if (!k) return -1
          for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
          return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        function fmt(x, f) { return x < 0 ? "-" : sprintf(f, x) }
        NR > 1 && $2 == "nginx"   && $1 == n { ng_r[++ngc] = $5; ng_c[ngc] = $15 }
        NR > 1 && $2 == "haproxy" && $1 == n { hp_r[++hpc] = $5; hp_c[hpc] = $15 }
        NR > 1 && $1 == n && $2 == s {
          cnt++; for (c = 4; c <= 23; c++) v[cnt, c] = $c
          errs += $8
          split($22, b, ","); for (i = 1; i <= 4; i++) sh[i] += b[i]
          if ($16 > hwm) hwm = $16
        }
        function medarr(a, k,   i, j, t) {
          for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
          return k ? ((k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) : 0
        }
        END {
          if (!cnt) exit
          tot = sh[1] + sh[2] + sh[3] + sh[4]; if (!tot) tot = 1
          split_s = sprintf("%.1f/%.1f/%.1f/%.1f", 100*sh[1]/tot, 100*sh[2]/tot, 100*sh[3]/tot, 100*sh[4]/tot)
          if (s == "direct") split_s = "100 (1 backend)"
          xr_ng = "-"; xr_hp = "-"
          if (s == "logdistd") {
            ngr = medarr(ng_r, ngc); ngcpu = medarr(ng_c, ngc); hpr = medarr(hp_r, hpc); hpcpu = medarr(hp_c, hpc)
            if (ngr > 0) xr_ng = sprintf("%.2f, %.2f", med(5) / ngr, (ngcpu > 0 ? med(15) / ngcpu : 0))
            if (hpr > 0) xr_hp = sprintf("%.2f, %.2f", med(5) / hpr, (hpcpu > 0 ? med(15) / hpcpu : 0))
          }
          printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            n, s, med(4), med(5), med(6), med(7), errs, split_s,
            (s == "direct" ? "-" : sprintf("%.2f", med(13))), fmt(med(14), "%.3f"), fmt(med(15), "%.0f"),
            (s == "direct" ? "-" : sprintf("%.1f", hwm)), (s == "direct" ? "-" : sprintf("%.1f", med(17))), xr_ng, xr_hp
        }' "$RAW"
    done
  done
  echo
  echo "- records/s: proxies = 2xx req/s x records/packet; logdistd = records_delivered delta (analyzer-acknowledged) / (wrk time + drain time). logdistd's wrk latency is the time to its 202 (before delivery)."
  echo "- CPU = utime+stime of the proxy process(es) over the run (logdistd: including the drain); peak RSS = VmHWM since start (cumulative over earlier runs and sizes; nginx: master + workers)."
  echo "- \`x nginx\` / \`x haproxy\` = logdistd median / peer median (records/s, records per CPU-s)."
  echo "- errors = wrk errors summed over the runs (for logdistd mostly 503: queue budget full)."
  if has_setup logdistd; then
    awk 'NR > 1 && $2 == "logdistd" { split($23, f, ","); fb += f[1]; hc += f[2]; md += f[3]; e += $8 }
      END { printf "- logdistd over all its runs: %d failed delivery batches, %d failed health checks, analyzers marked down %d times, %d wrk errors.%s\n",
            fb, hc, md, e, (md ? " A marked-down analyzer gets no records for a while, which skews the split." : "") }' "$RAW"
  fi
  if [ -n "$LAT" ]; then
    echo
    echo "## Latency at half of logdistd's max rate (open loop, logdist-gen, 100-record packets, $LAT_CONNS connections, ${LAT_DURATION}s)"
    echo
    echo "| target | rate (records/s) | achieved records/s | p50 ms | p99 ms | max ms | errors / throttled |"
    echo "|---|---|---|---|---|---|---|"
    for pair in "logdistd|$LAT" "direct (1 analyzer, reference)|$LAT_REF"; do
      name=${pair%%|*}; js=${pair#*|}
      [ -n "$js" ] || continue
      echo "$js" | jq -r --arg n "$name" --arg r "$LAT_RATE" \
        '"| \($n) | \($r) | \(.records_per_s | floor) | \(.latency_ms.p50) | \(.latency_ms.p99) | \(.latency_ms.max) | \(.errors) / \(.throttled) |"' 2>/dev/null \
        || echo "| $name | $LAT_RATE | (no summary: $(tail -n 1 "$T/gen.err" 2>/dev/null)) | | | | |"
    done
    echo
    echo "logdistd during the latency run: $LAT_CPU cores, drain after it ${LAT_DRAIN}s, accepted-but-not-delivered records $LAT_LOST, delivery request latency EWMA per analyzer (ms) $LAT_EWMA."
    echo "The p99 is the time to logdistd's 202 at the generator; \"added\" = logdistd p99 - direct p99."
  fi
  if has_setup logdistd; then
    echo
    echo "## Targets (the ingress issue: >= 1.0x the better/faster peer at 100 and 10 records)"
    echo
    awk -v lat="$LAT" -v latref="$LAT_REF" -v ldmem="$LD_MEM" '
      function medarr(a, k,   i, j, t) {
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k ? ((k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) : 0
      }
      NR > 1 { n = $1; k = $2; c[n, k]++; r[n, k, c[n, k]] = $5; e[n, k, c[n, k]] = $15; sizes[n] = 1 }
      END {
        for (n in sizes) {
          for (ki = 1; ki <= 3; ki++) {
            k = (ki == 1) ? "nginx" : (ki == 2) ? "haproxy" : "logdistd"
            delete a; for (i = 1; i <= c[n, k]; i++) a[i] = r[n, k, i]; R[k] = medarr(a, c[n, k])
            delete a; for (i = 1; i <= c[n, k]; i++) a[i] = e[n, k, i]; E[k] = medarr(a, c[n, k])
          }
          br = (R["nginx"] > R["haproxy"]) ? R["nginx"] : R["haproxy"]
          be = (E["nginx"] > E["haproxy"]) ? E["nginx"] : E["haproxy"]
          if (be > 0) printf "- records per CPU-s, %d-record packets, >= 1.0x the better peer: %.0f vs %.0f -> %.2fx: **%s**\n", n, E["logdistd"], be, E["logdistd"] / be, (E["logdistd"] >= be ? "met" : "MISSED")
          if (br > 0) printf "- records/s, %d-record packets, >= 1.0x the faster peer: %.0f vs %.0f -> %.2fx: **%s**\n", n, R["logdistd"], br, R["logdistd"] / br, (R["logdistd"] >= br ? "met" : "MISSED")
        }
        if (lat != "") {
          match(lat, /"p99":[0-9.]+/); p = substr(lat, RSTART + 6, RLENGTH - 6) + 0
          q = 0; if (latref != "") { match(latref, /"p99":[0-9.]+/); q = substr(latref, RSTART + 6, RLENGTH - 6) + 0 }
          printf "- p99 at half max rate within 1 ms of direct: p99 %.2f ms (direct %.2f ms, added %.2f ms): **%s**\n", p, q, p - q, (p - q <= 1 ? "met" : "MISSED")
        }
        split(ldmem, m, " ")
        if (m[1] > 0) printf "- peak RSS <= 64 MiB with 4 analyzers: VmHWM %.1f MiB over the whole run, VmRSS at the end %.1f MiB: **%s**\n", m[1] / 1024, m[2] / 1024, (m[1] / 1024 <= 64 ? "met" : "MISSED")
      }' "$RAW"
  fi
  echo
  echo "## Per run"
  echo
  echo "drain_s/lost/rec_per_batch apply to logdistd (lost = accepted - delivered after the drain). backend_req = POST 2xx per analyzer port (batches for logdistd)."
  echo
  echo '```'
  column -t "$RAW" 2>/dev/null || cat "$RAW"
  echo '```'
}
mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
log "wrote $OUT"
