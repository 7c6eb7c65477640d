#!/usr/bin/env bash
# bench/proto_syslog.sh - the syslog receiver's cost: records per CPU-second of
# logdistd (utime+stime of all its threads, /proc/PID/stat) for syslog over TCP
# (RFC 5424, octet counting, many messages per write) against our own JSON ingest
# (POST /api/v1/logs by logdist-gen, 100-record packets) in the same run, on the
# same logdistd, phases alternating round by round; plus anchors: rsyslogd (imtcp ->
# omfile) and syslog-ng (syslog() source -> file()) receiving the same stream.
# logdist-gen's records are smaller (225 B) than the syslog records (372 B), so a
# third phase makes the comparison like for like: JSON ingest of the very records
# the syslog phase produces (the mapping of docs/PROTOCOLS.md applied to
# the sender's messages by json_send.py, NDJSON, 100 records per POST, 4
# keep-alive connections) - its ratio is reported beside logdist-gen's.
#
# What is counted, per phase:
#   logdistd : CPU from just before the sender starts until every record of the phase
#              is delivered (records_delivered grew by COUNT, queue empty): the CPU of
#              receiving, parsing, building records, scanning, queueing and delivering.
#              records/CPU-s = COUNT / that CPU. The ratio syslog/json is the figure.
#   rsyslog, syslog-ng : CPU from before the sender starts until the output file holds
#              COUNT lines. They write a file instead of delivering over HTTP, so they
#              are an anchor of what a syslog receiver costs, not a like-for-like peer.
# The sender is a python process writing a pre-built buffer (4096 messages) in 256 KiB
# writes: its CPU is not counted, and it is not the limit (it spends its time blocked
# in send(): logdistd's CPU per record is the measure, not wall time).
# The analyzer is logdist-analyzer (its CPU is not counted).
#
# Everything binds to 127.0.0.1; every process started here is stopped by its pid
# from an EXIT trap; temp files in a mktemp dir (KEEP_TMP=1 keeps it).
# Usage: bash bench/proto_syslog.sh          (build/ must be built)
# Knobs (env): COUNT=500000 RUNS=3 BIN=build/bin ANCHORS="rsyslog syslog-ng"
#   LOGDISTD_ARGS="" KEEP_TMP=0 OUT=bench/results/proto_syslog.md
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
COUNT=${COUNT:-500000}
RUNS=${RUNS:-3}
BIN=${BIN:-build/bin}
ANCHORS=${ANCHORS:-"rsyslog syslog-ng"}
LOGDISTD_ARGS=${LOGDISTD_ARGS:-}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-bench/results/proto_syslog.md}
SNG_DIR=$ROOT/tests/.deps/syslog-ng

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ -x "$BIN/logdistd" ] || die "$BIN/logdistd not built"

TMP=$(mktemp -d /tmp/proto-syslog-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  if [ "$KEEP_TMP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

cpu_ticks() { # utime+stime of a process (all threads), in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)
first_json() { # wait for a process's first stdout line (JSON) in file $1
  for _ in $(seq 100); do [ -s "$1" ] && { head -1 "$1"; return; }; sleep 0.1; done
  die "no start-up line in $1"
}
port_of() { python3 -c 'import sys; print(sys.argv[1].rsplit(":", 1)[1].strip("]"))' "$1"; }

# ---- the sender: COUNT RFC 5424 messages, octet-counted, to HOST:PORT
cat > "$TMP/send.py" <<'EOF'
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
msgs = []
for i in range(4096):
    m = ("<134>1 2026-12-06T20:00:00.123456+00:00 web-%02d.example.com nginx %d ACCESS - "
         "GET /api/v1/items/%d HTTP/1.1 200 512 0.004 \"Mozilla/5.0\"" % (i % 16, 1000 + i % 50, i))
    b = m.encode()
    msgs.append(b"%d %s" % (len(b), b))
block = b"".join(msgs)
s = socket.create_connection((host, port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
full, rest = divmod(count, 4096)
view = memoryview(block)
for _ in range(full):
    for off in range(0, len(block), 262144):
        s.sendall(view[off:off + 262144])
if rest:
    s.sendall(b"".join(msgs[:rest]))
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
EOF

# ---- the same records as JSON: what syslog_write_record makes of send.py's
# messages (peer: a 5-digit port like the sender's), POSTed as NDJSON
cat > "$TMP/json_send.py" <<'EOF'
import http.client, json, os, sys, threading, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
recs = []
for i in range(4096):
    recs.append(json.dumps({
        "timestamp": "2026-12-06T20:00:00.123456Z", "level": "INFO", "source": "nginx",
        "type": "syslog",
        "message": "GET /api/v1/items/%d HTTP/1.1 200 512 0.004 \"Mozilla/5.0\"" % i,
        "metadata": {"hostname": "web-%02d.example.com" % (i % 16), "facility": "local0",
                     "facility_code": 16, "severity": "info", "pri": 134,
                     "procid": "%d" % (1000 + i % 50), "msgid": "ACCESS", "format": "rfc5424",
                     "transport": "tcp", "peer": "127.0.0.1:41234"}},
        separators=(",", ":")).encode() + b"\n")
bodies = [b"".join(recs[k:k + 100]) for k in range(0, 4000, 100)]
packets = count // 100
def run(n):
    c = http.client.HTTPConnection(host, port)
    for j in range(n):
        for attempt in range(1000):  # 503/429 (queue full, ...): retried, as logdist-gen does
            try:
                c.request("POST", "/api/v1/logs", bodies[j % len(bodies)],
                          {"Content-Type": "application/x-ndjson"})
                r = c.getresponse(); r.read()
            except (http.client.HTTPException, OSError):
                c.close(); c = http.client.HTTPConnection(host, port); time.sleep(0.05); continue
            if r.status // 100 == 2: break
            if r.status not in (429, 503): os._exit(1)
            c.close(); c = http.client.HTTPConnection(host, port); time.sleep(0.05)
ts = [threading.Thread(target=run, args=(packets // 4 + (1 if t < packets % 4 else 0),))
      for t in range(4)]
for t in ts: t.start()
for t in ts: t.join()
EOF

# ---- analyzer and logdistd
"$BIN/logdist-analyzer" --listen 127.0.0.1:0 --id bench > "$TMP/an.out" 2> "$TMP/an.err" &
PIDS+=($!)
AN_PORT=$(port_of "$(first_json "$TMP/an.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["listening"])')")
# shellcheck disable=SC2086
"$BIN/logdistd" --listen 127.0.0.1:0 --data-dir "$TMP/data" --durability none \
  --syslog-listen tcp://127.0.0.1:0 --analyzer "id=bench,url=http://127.0.0.1:$AN_PORT/ingest,weight=1" \
  --health-interval-ms 1000 $LOGDISTD_ARGS > "$TMP/ld.out" 2> "$TMP/ld.err" &
LD_PID=$!
PIDS+=($LD_PID)
LINE=$(first_json "$TMP/ld.out")
HTTP_PORT=$(port_of "$(echo "$LINE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["listening"])')")
SYS_PORT=$(port_of "$(echo "$LINE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["syslog"][0])')")
delivered() { # records_delivered, or -1 while records are queued ($1=any: never -1)
  curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/metrics" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["records_delivered"] if m["queued_records"]==0 or len(sys.argv)>1 else -1)' ${1:-}
}
bytes_in() { # bytes_received: JSON bytes ingest scanned (the records as submitted)
  curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/metrics" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_received"])'
}
wait_delivered() { # until records_delivered >= $1 with an empty queue
  for _ in $(seq 6000); do
    d=$(delivered); [ "$d" -ge "$1" ] && return; sleep 0.02
  done
  die "records not delivered (want $1, have $d)"
}

# ---- one logdistd phase (run in a subshell): prints records per CPU-second
phase() {
  local kind=$1 t0 t1 base b0 b1
  base=$(( $(delivered any) + COUNT ))
  b0=$(bytes_in)
  t0=$(cpu_ticks "$LD_PID")
  if [ "$kind" = syslog ]; then
    python3 "$TMP/send.py" 127.0.0.1 "$SYS_PORT" "$COUNT" &
  elif [ "$kind" = same ]; then
    python3 "$TMP/json_send.py" 127.0.0.1 "$HTTP_PORT" "$COUNT" &
  else
    "$BIN/logdist-gen" --url "http://127.0.0.1:$HTTP_PORT/api/v1/logs" --count "$COUNT" \
      --packet-size 100 --connections 4 --quiet > /dev/null &
  fi
  local sp=$!
  wait_delivered "$base"
  t1=$(cpu_ticks "$LD_PID")
  wait "$sp" 2>/dev/null || true
  b1=$(bytes_in)
  echo "$(python3 -c "print(round($COUNT / (($t1 - $t0) / $HZ)))") $(( (b1 - b0) / COUNT ))"
}

# ---- anchors: rsyslogd and syslog-ng into a file
lines_of() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
anchor() {
  local name=$1 port pid t0 t1 out=$TMP/$1.log
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$out"
  if [ "$name" = rsyslog ]; then
    mkdir -p "$TMP/rs"
    cat > "$TMP/rs/rs.conf" <<EOF
global(workDirectory="$TMP/rs")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="f")
ruleset(name="f") { action(type="omfile" file="$out" template="RSYSLOG_FileFormat") }
EOF
    rsyslogd -n -f "$TMP/rs/rs.conf" -i "$TMP/rs/pid" 2> "$TMP/rs/err" &
    pid=$!
  else
    [ -x "$SNG_DIR/usr/sbin/syslog-ng" ] || { echo "n/a"; return; }
    mkdir -p "$TMP/sng"
    cat > "$TMP/sng/sng.conf" <<EOF
@version: 3.38
options { keep_hostname(yes); log_fetch_limit(1000); flush_lines(1000); };
source s { syslog(ip("127.0.0.1") port($port) transport("tcp") log_iw_size(100000)); };
destination d { file("$out" template("\${ISODATE} \${HOST} \${PROGRAM}[\${PID}]: \${MSG}\n")); };
log { source(s); destination(d); };
EOF
    LD_LIBRARY_PATH=$SNG_DIR/usr/lib/syslog-ng "$SNG_DIR/usr/sbin/syslog-ng" -F -f "$TMP/sng/sng.conf" \
      --module-path="$SNG_DIR/usr/lib/syslog-ng/3.38" -R "$TMP/sng/persist" -p "$TMP/sng/pid" \
      -c "$TMP/sng/ctl" --no-caps 2> "$TMP/sng/err" &
    pid=$!
  fi
  PIDS+=($pid)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1
  done
  t0=$(cpu_ticks "$pid")
  python3 "$TMP/send.py" 127.0.0.1 "$port" "$COUNT" &
  for _ in $(seq 12000); do [ "$(lines_of "$out")" -ge "$COUNT" ] && break; sleep 0.02; done
  t1=$(cpu_ticks "$pid")
  [ "$(lines_of "$out")" -ge "$COUNT" ] || { echo "incomplete"; kill "$pid"; return; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c "print(round($COUNT / (($t1 - $t0) / $HZ)))"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

log "warm-up"
phase syslog > /dev/null
phase json > /dev/null
phase same > /dev/null
SY="" JS="" SM=""
for r in $(seq "$RUNS"); do
  read -r s SB < <(phase syslog); read -r j JB < <(phase json); read -r m MB < <(phase same)
  log "round $r: syslog tcp $s rec/CPU-s ($SB B/record), json ingest $j rec/CPU-s ($JB B/record), same records as json $m rec/CPU-s ($MB B/record)"
  SY="$SY $s"; JS="$JS $j"; SM="$SM $m"
done
declare -A ANC
for a in $ANCHORS; do
  v=""
  for r in $(seq "$RUNS"); do x=$(anchor "$a"); v="$v $x"; log "$a round $r: $x rec/CPU-s"; done
  ANC[$a]=$(echo "$v" | median)
done
MS=$(echo "$SY" | median)
MJ=$(echo "$JS" | median)
MM=$(echo "$SM" | median)
RATIO=$(python3 -c "print('%.2f' % ($MS / $MJ))")
RATIO_SAME=$(python3 -c "print('%.2f' % ($MS / $MM))")
mkdir -p "$(dirname "$OUT")"
{
  echo "# syslog receiver: records per CPU-second of the receiver"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, COUNT=$COUNT per phase, RUNS=$RUNS (medians)."
  echo
  echo "| receiver | input | records / CPU-s | runs |"
  echo "|---|---|---:|---|"
  echo "| logdistd | syslog TCP, RFC 5424, octet counting ($SB B JSON/record) | $MS | $SY |"
  echo "| logdistd | POST /api/v1/logs (logdist-gen, 100/packet, $JB B/record) | $MJ | $JS |"
  echo "| logdistd | POST /api/v1/logs, NDJSON: the syslog phase's records (100/packet, $MB B/record) | $MM | $SM |"
  for a in $ANCHORS; do echo "| $a (anchor, into a file) | same syslog stream | ${ANC[$a]} | |"; done
  echo
  echo "syslog TCP / JSON ingest = **$RATIO x** (target >= 1.0); syslog TCP / JSON ingest of the same records = **$RATIO_SAME x**."
} | tee "$OUT"
