# bench/lib.sh - shell helpers shared by the same-run ratio benchmarks
# (bench/proto_elastic.sh, bench/proto_otlp.sh, bench/observe.sh, bench/profile.sh,
# bench/routes.sh). Sourced, never run.
#
# Contract:
#   bench_init PREFIX   makes the temp dir $T (mktemp -d /tmp/PREFIX.XXXXXX), an empty
#                       PIDS array and EXIT/INT/TERM traps that stop every pid in PIDS
#                       (TERM, up to 5 s, then KILL; each waited for) and remove $T
#                       unless KEEP_TMP=1. Callers append the pid of every process they
#                       start to PIDS; nothing is ever stopped by name.
#   log MSG / die MSG   timestamped line on stderr / and exit 1.
#   first_line FILE     waits (<= 10 s) for FILE's first line to be a JSON object (the
#                       start-up line of logdistd, logdist-analyzer) and prints it.
#   pid_ticks PID       utime+stime of every thread of PID, in clock ticks (/proc/PID/stat).
#   ticks_to_s TICKS    the same in CPU-seconds (3 decimals).
#   ld_metric URL JQ    GET URL/api/v1/metrics, prints the jq expression JQ.
#   ld_wait_drained URL waits (<= DRAIN_TIMEOUT s, default 30) until logdistd at URL has
#                       nothing queued or in flight and delivered all it accepted.
#   ld_wait_healthy URL N waits (<= 10 s) until logdistd at URL says N analyzers are
#                       healthy; dies if not.
#   median N...         the median of the numbers (mean of the middle two for an even count).
#   host_lines          a report's two lines on the run: UTC date, CPUs, git commit; load
#                       average now.
# Needs: bash, jq, curl, awk.

HZ=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bench_cleanup() {  # $1 = exit status when called for a signal
  local rc=${1:-$?} p i
  trap - EXIT INT TERM
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}

bench_init() {
  T=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'bench_cleanup 130' INT
  trap 'bench_cleanup 143' TERM
}

first_line() {
  local i
  for i in $(seq 1 100); do
    [ -s "$1" ] && head -n1 "$1" | jq -e 'type == "object"' >/dev/null 2>&1 && { head -n1 "$1"; return 0; }
    sleep 0.1
  done
  die "no start-up line in $1"
}

pid_ticks() {
  local c
  read -r c < "/proc/$1/stat"
  c=${c#*) }            # the command name may hold spaces; fields restart after ") "
  set -- $c             # $12 = utime, $13 = stime
  echo $(( ${12} + ${13} ))
}

ticks_to_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }'; }

ld_metric() { curl -s --max-time 5 "$1/api/v1/metrics" | jq -r "$2"; }

ld_wait_drained() {
  local i
  for i in $(seq 1 $(( ${DRAIN_TIMEOUT:-30} * 10 ))); do
    [ "$(ld_metric "$1" '.queued_records == 0 and .inflight_batches == 0
                          and .records_delivered == .records_accepted')" = true ] && return 0
    sleep 0.1
  done
  die "logdistd at $1 did not drain in ${DRAIN_TIMEOUT:-30} s"
}

ld_wait_healthy() {
  local i
  for i in $(seq 1 100); do
    [ "$(curl -s "$1/health" | jq -r '.analyzers_healthy // 0')" = "$2" ] && return 0
    sleep 0.1
  done
  die "analyzers not healthy"
}

host_lines() {
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

median() {
  printf '%s\n' "$@" | grep . | sort -g |
    awk '{ a[NR] = $1 } END { if (!NR) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
