#!/usr/bin/env bash
# setup-deps.sh - install every Debian package that logdist's build, tests,
# demo and benchmarks need. Idempotent: does nothing when all are present.
set -euo pipefail
PKGS="build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
      libsqlite3-dev zlib1g-dev libcmocka-dev libjansson-dev libisal-dev libhttp-parser-dev
      libprotobuf-c-dev protobuf-c-compiler libmsgpack-dev
      python3 curl util-linux
      strace rsyslog rsyslog-openssl"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup-deps: installing:$missing" >&2
  if [ "$(id -u)" != 0 ]; then echo "setup-deps: run as root to install packages" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# Third-party protocol clients for the integration tests (OpenTelemetry SDK
# exporters, fluent-logger, the Elasticsearch client), pinned by
# tests/node/package-lock.json, installed into tests/node/node_modules (owned by
# the tests; nothing global). Re-installed when the lock file changes.
NODE_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/node"
if [ -f "$NODE_DIR/package-lock.json" ]; then
  if ! command -v npm >/dev/null; then
    echo "setup-deps: npm is needed for the protocol client tests; installing nodejs and npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  stamp="$NODE_DIR/node_modules/.lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$NODE_DIR/package-lock.json" "$stamp"; then
    echo "setup-deps: npm ci in tests/node" >&2
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$NODE_DIR/package-lock.json" "$stamp"
  fi
fi
