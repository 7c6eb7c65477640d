#!/usr/bin/env bash
# bench/proto_otlp.sh - OTLP/HTTP logs (POST /v1/logs) against our JSON ingest
# (POST /api/v1/logs), in records per CPU-second of logdistd, in the same run.
#
# One logdistd (durability none, one logdist-analyzer as the sink), and these
# senders, taking turns round by round (RUNS rounds, medians reported):
#   otlp-proto : wrk POSTs one pre-encoded ExportLogsServiceRequest of 100 LogRecords
#                (application/x-protobuf, captured from the OpenTelemetry JS SDK's
#                exporter: resource, scope, attributes, trace ids) on keep-alive
#   otlp-json  : the same 100 records as the SDK's OTLP/JSON exporter encodes them
#   json-same  : wrk POSTs the 100 records logdistd makes of that request, as one
#                /api/v1/logs packet (the same records, in our own format)
#   json-gen   : logdist-gen --packet-size 100 (the project's JSON ingest sender)
# Each sender is not the bottleneck: wrk replays one body (no per-request encoding).
#
# records / CPU-second = delta of records_accepted (GET /api/v1/metrics) over the
# delta of logdistd's utime+stime (/proc/PID/stat, all threads), from before the
# sender starts until the queue is empty again after it stopped (delivery to the
# analyzer is included in the CPU). Ratios: each OTLP setup over json-same and
# over json-gen, from the medians.
#
# Everything binds to 127.0.0.1 ephemeral ports; every process started here is
# recorded by pid and stopped by pid from an EXIT/INT/TERM trap; the temp dir is
# removed at exit (KEEP_TMP=1 keeps it).
# Usage: bash bench/proto_otlp.sh      (needs build/bin, node + tests/node/node_modules, wrk, jq)
# Knobs (env): DURATION=8 RUNS=3 CONNS=8 BIN=build/bin SETUPS="otlp-proto otlp-json json-same json-gen"
#   OUT=bench/results/proto_otlp.md KEEP_TMP=0 NICE=""
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
CONNS=${CONNS:-8}
BIN=${BIN:-build/bin}
SETUPS=${SETUPS:-"otlp-proto otlp-json json-same json-gen"}
OUT=${OUT:-bench/results/proto_otlp.md}
KEEP_TMP=${KEEP_TMP:-0}
. bench/lib.sh   # log, die, bench_init, first_line, pid_ticks, ld_metric, ld_wait_drained, median
for b in wrk jq node curl python3; do command -v "$b" >/dev/null || die "$b is not installed"; done
[ -x "$BIN/logdistd" ] || die "$BIN/logdistd not built"
[ -d tests/node/node_modules/@opentelemetry/sdk-logs ] || die "tests/node/node_modules missing"

bench_init logdist-bench-otlp

# ---------------------------------------------------------------- bodies
# The SDK's own requests of 100 LogRecords, captured by a tiny HTTP server; then the
# records logdistd makes of the protobuf one (a scratch logdistd delivers them to the
# same server as one batch), which become the json-same packet byte for byte.
python3 - "$T" "$ROOT/tests/integration/clients/otlp_send.js" "$BIN/logdistd" <<'PY' >&2
import http.server, json, subprocess, sys, threading, time, urllib.request
out, client, logdistd = sys.argv[1:4]
got = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        b = b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while True:
                n = int(self.rfile.readline().strip(), 16)
                b += self.rfile.read(n); self.rfile.readline()
                if n == 0: break
        else:
            b = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        got[self.path + " " + self.headers["Content-Type"]] = b
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % s.server_address[1]
for proto in ("proto", "json"):
    subprocess.run(["node", client, json.dumps({"url": base + "/v1/logs", "protocol": proto,
                    "count": 100, "batch": 100, "prefix": "bench", "service": "bench-svc"})],
                   check=True, stdout=subprocess.DEVNULL)
pb = got["/v1/logs application/x-protobuf"]
open(out + "/otlp.pb", "wb").write(pb)
open(out + "/otlp.json", "wb").write(got["/v1/logs application/json"])
d = subprocess.Popen([logdistd, "--listen", "127.0.0.1:0", "--data-dir", out + "/scratch",
                      "--durability", "none", "--batch-linger-ms", "50",
                      "--analyzer", "id=cap,url=%s/ingest,weight=1" % base],
                     stdout=subprocess.PIPE, stderr=open(out + "/scratch.err", "w"))
try:
    addr = json.loads(d.stdout.readline())["listening"]
    req = urllib.request.Request("http://%s/v1/logs" % addr, data=pb, method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    urllib.request.urlopen(req, timeout=10).read()
    for _ in range(100):
        if "/ingest application/json" in got: break
        time.sleep(0.1)
    batch = got["/ingest application/json"]
    assert len(json.loads(batch)["messages"]) == 100, "the scratch batch is not 100 records"
    open(out + "/same.json", "wb").write(batch)
finally:
    d.terminate()
    d.wait(20)
PY
log "bodies: $(stat -c %s "$T/otlp.pb") B protobuf, $(stat -c %s "$T/otlp.json") B OTLP/JSON, $(stat -c %s "$T/same.json") B /api/v1/logs packet (100 records each)"

cat > "$T/post.lua" <<'EOF'
wrk.method = "POST"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE")
EOF

# ---------------------------------------------------------------- processes
"$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id sink > "$T/analyzer.out" 2> "$T/analyzer.err" &
PIDS+=($!)
A_ADDR=$(first_line "$T/analyzer.out" | jq -r .listening)
"$BIN/logdistd" --listen 127.0.0.1:0 --data-dir "$T/data" --durability none \
  --analyzer "id=sink,url=http://$A_ADDR/ingest,weight=1" > "$T/logdistd.out" 2> "$T/logdistd.err" &
LD_PID=$!
PIDS+=($LD_PID)
LD_ADDR=$(first_line "$T/logdistd.out" | jq -r .listening)
metric() { ld_metric "http://$LD_ADDR" ".$1"; }
cpu_ticks() { pid_ticks "$LD_PID"; }

# ---------------------------------------------------------------- rounds
wait_drained() { ld_wait_drained "http://$LD_ADDR"; }

run_setup() {  # $1 = setup; prints "records cpu_s"
  local r0 c0 r1 c1
  wait_drained
  r0=$(metric records_accepted); c0=$(cpu_ticks)
  case $1 in
    otlp-proto) BODY=$T/otlp.pb CTYPE=application/x-protobuf "$(command -v wrk)" -t1 -c"$CONNS" \
                  -d"${DURATION}s" -s "$T/post.lua" "http://$LD_ADDR/v1/logs" > "$T/wrk.out" ;;
    otlp-json)  BODY=$T/otlp.json CTYPE=application/json "$(command -v wrk)" -t1 -c"$CONNS" \
                  -d"${DURATION}s" -s "$T/post.lua" "http://$LD_ADDR/v1/logs" > "$T/wrk.out" ;;
    json-same)  BODY=$T/same.json CTYPE=application/json "$(command -v wrk)" -t1 -c"$CONNS" \
                  -d"${DURATION}s" -s "$T/post.lua" "http://$LD_ADDR/api/v1/logs" > "$T/wrk.out" ;;
    json-gen)   "$BIN/logdist-gen" --url "http://$LD_ADDR/api/v1/logs" --quiet --packet-size 100 \
                  --connections "$CONNS" --duration "$DURATION" > "$T/gen.out" ;;
    *) die "unknown setup $1" ;;
  esac
  wait_drained
  r1=$(metric records_accepted); c1=$(cpu_ticks)
  echo "$((r1 - r0)) $(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN{printf "%.3f", t / hz}')"
}

: > "$T/raw.tsv"
for round in $(seq 1 "$RUNS"); do
  for s in $SETUPS; do
    read -r recs cpu < <(run_setup "$s")
    rate=$(awk -v r="$recs" -v c="$cpu" 'BEGIN{printf "%.0f", (c > 0) ? r / c : 0}')
    log "round $round $s: $recs records, $cpu CPU-s, $rate records/CPU-s"
    printf '%s\t%s\t%s\t%s\n' "$s" "$recs" "$cpu" "$rate" >> "$T/raw.tsv"
  done
done
[ "$(metric protocols.otlp.decode_errors)" = 0 ] || die "OTLP decode errors during the bench"

{
  echo "# OTLP/HTTP logs vs JSON ingest: records per CPU-second of logdistd"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, DURATION=$DURATION RUNS=$RUNS CONNS=$CONNS, 100 records per request."
  echo
  echo "| setup | median records/CPU-s | runs (records/CPU-s) | median records/s of wall time |"
  echo "|---|---:|---|---:|"
  for s in $SETUPS; do
    m=$(median $(awk -v s="$s" '$1==s{print $4}' "$T/raw.tsv"))
    all=$(awk -v s="$s" '$1==s{printf "%s ", $4}' "$T/raw.tsv")
    w=$(median $(awk -v s="$s" -v d="$DURATION" '$1==s{print $2 / d}' "$T/raw.tsv"))
    echo "| $s | $m | $all| $w |"
    eval "MED_${s//-/_}=$m"
  done
  echo
  for o in otlp_proto otlp_json; do
    v=$(eval echo "\${MED_$o:-}")
    [ -n "$v" ] || continue
    for b in json_same json_gen; do
      bv=$(eval echo "\${MED_$b:-}")
      [ -n "$bv" ] && echo "- ratio ${o//_/-} / ${b//_/-}: $(awk -v a="$v" -v b="$bv" 'BEGIN{printf "%.2f", a / b}')"
    done
  done
} | tee "$OUT"
