#!/usr/bin/env bash
# smoke.sh [IMAGE] - run the compose demo's topology from the built image with
# plain `podman run` (or docker: CTR=docker) on the host network, for machines
# without compose: 4 logdist-analyzer containers weighted 0.4/0.3/0.2/0.1,
# logdistd, logdist-gen for GEN_S seconds; then checks the image's HEALTHCHECK
# command, that the analyzers got 40/30/20/10 % of the records (+-1 point) and
# that /metrics answers, and removes only the containers it started.
# RUN_ARGS: extra run flags (e.g. --runtime runc --ulimit nofile=N:N --ulimit
# nproc=N:N where the default rlimits cannot be set). Ports: BASE_PORT..+4.
set -euo pipefail
IMAGE="${1:-localhost/logdist:local}"
CTR="${CTR:-podman}"
BASE="${BASE_PORT:-18080}"
GEN_S="${GEN_S:-5}"
read -r -a RUN <<<"${RUN_ARGS:-}"
names=()
cleanup() { for n in "${names[@]}"; do "$CTR" rm -f -v "$n" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
start() { # name, then run args
  local n="logdist-smoke-$1"; shift
  names+=("$n")
  "$CTR" run -d --name "$n" --network host "${RUN[@]}" "$@" >/dev/null
}
get() { curl -fsS --max-time 5 "http://127.0.0.1:$BASE$1"; }
analyzers=()
for i in 1 2 3 4; do
  start "a$i" --entrypoint logdist-analyzer "$IMAGE" --listen "127.0.0.1:$((BASE + i))" --id "a$i"
  analyzers+=("--analyzer=id=a$i,url=http://127.0.0.1:$((BASE + i))/ingest,weight=0.$((5 - i))")
done
start d "$IMAGE" --config=/etc/logdist/logdistd.json --listen="127.0.0.1:$BASE" \
  --batch-max-records=50 "${analyzers[@]}"
for _ in $(seq 100); do get /health >/dev/null 2>&1 && break; sleep 0.1; done
# the HEALTHCHECK of the image, run as the image runs it (port 8080 there: ours differs)
hc="$("$CTR" image inspect "$IMAGE" --format '{{json .Config.Healthcheck.Test}}')"
echo "smoke: image HEALTHCHECK $hc"
"$CTR" exec logdist-smoke-d curl -fsS -o /dev/null "http://127.0.0.1:$BASE/health"
echo "smoke: HEALTHCHECK command ok inside the container"
summary="$("$CTR" run --rm --network host "${RUN[@]}" --entrypoint logdist-gen "$IMAGE" \
  --url "http://127.0.0.1:$BASE/api/v1/logs" --duration "$GEN_S" --connections 2 --quiet)"
echo "smoke: gen $summary"
accepted="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["records_accepted"])' "$summary")"
# wait (30 s at most) until every accepted record is delivered, then check the shares
ok=""
for _ in $(seq 300); do
  rc=0
  get /api/v1/analyzers | python3 -c '
import json, sys
a = {x["id"]: x for x in json.load(sys.stdin)["analyzers"]}
total = sum(x["records_delivered"] for x in a.values())
if total != int(sys.argv[1]):
    sys.exit(3)  # not all delivered yet
for aid, want in (("a1", .4), ("a2", .3), ("a3", .2), ("a4", .1)):
    got = a[aid]["records_delivered"] / total
    print("smoke: %s %.4f of %d records (weight %.1f)" % (aid, got, total, want))
    if abs(got - want) > 0.01:
        sys.exit("smoke: share of %s is %.4f, want %.1f" % (aid, got, want))' "$accepted" || rc=$?
  if [ "$rc" = 0 ]; then ok=1; break; fi
  [ "$rc" = 3 ] || exit 1
  sleep 0.1
done
[ -n "$ok" ] || { echo "smoke: not every accepted record was delivered within 30 s" >&2; exit 1; }
get /metrics | grep -q '^logdist_' && echo "smoke: /metrics ok"
echo "smoke: ok"
