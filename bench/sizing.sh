#!/usr/bin/env bash
# sizing.sh - the sizing figures of docs/DEPLOY.md: what logdistd holds in
# memory per MiB of queued records, and how many bytes of WAL disk a durable
# record takes. One logdistd with no analyzer (every accepted record stays
# queued and, with --durability all, unacknowledged in the WAL), logdist-gen
# sending COUNT records in 100-record packets; then rss_bytes, queued_bytes,
# queued_records and wal_bytes from /api/v1/metrics against an idle start.
# Usage: bash bench/sizing.sh [COUNT]  (default 500000; BIN=build/bin)
set -euo pipefail
COUNT="${1:-500000}"
BIN="${BIN:-build/bin}"
TMP="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" || true; rm -rf "$TMP"; }
trap cleanup EXIT
metrics() { curl -fsS "http://127.0.0.1:$1/api/v1/metrics"; }
for durability in none all; do
  "$BIN/logdistd" --listen 127.0.0.1:0 --data-dir "$TMP/data-$durability" --durability "$durability" \
    --memory-limit 4GiB --max-queue-bytes 2GiB --drain-timeout-ms 0 >"$TMP/out" 2>"$TMP/err" &
  PID=$!
  for _ in $(seq 100); do grep -q listening "$TMP/out" 2>/dev/null && break; sleep 0.1; done
  port="$(sed -n 's/.*"listening":"127.0.0.1:\([0-9]*\)".*/\1/p' "$TMP/out" | head -1)"
  idle="$(metrics "$port")"
  "$BIN/logdist-gen" --url "http://127.0.0.1:$port/api/v1/logs" --count "$COUNT" \
    --packet-size 100 --connections 4 --quiet >"$TMP/gen"
  sleep 1 # the RSS sampler's next reading
  python3 - "$durability" "$idle" "$(metrics "$port")" "$(cat "$TMP/gen")" <<'PY'
import json, sys
dur, idle, full, gen = sys.argv[1], *map(json.loads, sys.argv[2:])
mib = 1 << 20
q = full["queued_bytes"]
rss = full["rss_bytes"] - idle["rss_bytes"]
recs = full["queued_records"]
print("durability=%s: %d records queued (%d accepted by gen), %.1f MiB queue budget charged, "
      "%.1f bytes of body per record" % (dur, recs, gen["records_accepted"], q / mib,
                                          full["bytes_received"] / max(recs, 1)))
print("  RSS %.1f -> %.1f MiB: %.2f MiB of RSS per MiB queued" % (
    idle["rss_bytes"] / mib, full["rss_bytes"] / mib, rss / max(q, 1)))
if dur == "all":
    print("  WAL %.1f MiB for %d records: %.1f bytes per record (%.2fx the body bytes)" % (
        full["wal_bytes"] / mib, recs, full["wal_bytes"] / max(recs, 1),
        full["wal_bytes"] / max(full["bytes_received"], 1)))
PY
  kill -TERM "$PID"; wait "$PID" || true; PID=""
done
