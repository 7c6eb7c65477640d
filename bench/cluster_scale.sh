#!/usr/bin/env bash
# bench/cluster_scale.sh - 20 logdistd nodes on this machine against a 3-member etcd:
# config propagation p50/p99 (re-weight on one node, poll the others) and etcd load
# (requests/s, proposals/s, watch messages/s from etcd's /metrics), with an estimate
# for 200 nodes. The work is in bench/cluster_scale.py (Python 3 stdlib, the
# integration tests' harness and etcd_util); processes are stopped by pid.
# Usage: bash bench/cluster_scale.sh   (make bench-cluster; build/ must be built)
# Knobs (env): NODES=20 ROUNDS=30 IDLE_S=30 BIN=build/bin KEEP_TMP=0
#   OUT=bench/results/cluster-scale-<UTC date>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-bench/results/cluster-scale-$(date -u +%F).txt}
command -v etcd >/dev/null || { echo "etcd is not installed (scripts/setup-deps.sh)" >&2; exit 1; }
[ -x "${BIN:-build/bin}/logdistd" ] || { echo "build/bin/logdistd not built (make)" >&2; exit 1; }
exec python3 -B bench/cluster_scale.py
