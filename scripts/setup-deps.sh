#!/usr/bin/env bash
# setup-deps.sh - install every Debian package that logdist's build, tests,
# demo, benchmarks and packaging (sd_notify, man pages by scdoc, `make deb`,
# man -l and systemd-analyze in test_packaging) need.
# Idempotent: does nothing when all are present.
set -euo pipefail
PKGS="build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
      libsqlite3-dev zlib1g-dev libcmocka-dev libjansson-dev libisal-dev libhttp-parser-dev
      libprotobuf-c-dev protobuf-c-compiler libmsgpack-dev
      python3 curl util-linux
      strace rsyslog rsyslog-openssl
      prometheus chromium
      libsystemd-dev scdoc debhelper dpkg-dev man-db groff-base systemd
      mmdebstrap systemd-container
      etcd-server etcd-client"
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

# syslog-ng for the syslog integration tests and bench anchor. Its Debian
# package (syslog-ng-core) conflicts with rsyslog, so it is not installed:
# `apt-get download` fetches the .deb and dpkg-deb -x unpacks it into
# tests/.deps/syslog-ng (owned by the tests, gitignored); its libraries
# (glib, ivykis, json-c, libnet, pcre, libwrap) are ordinary dependencies
# installed above. The tests run that binary with their own config, module
# path and persist/pid/control files in a temp folder.
SNG_LIBS="libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libwrap0 libcap2"
SNG_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/.deps/syslog-ng"
if [ ! -x "$SNG_DIR/usr/sbin/syslog-ng" ]; then
  missing=""
  for p in $SNG_LIBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
  tmp="$(mktemp -d)"
  if (cd "$tmp" && apt-get download -qq syslog-ng-core >/dev/null 2>&1); then
    mkdir -p "$SNG_DIR"
    dpkg-deb -x "$tmp"/syslog-ng-core_*.deb "$SNG_DIR"
    echo "setup-deps: syslog-ng unpacked into $SNG_DIR" >&2
  else
    echo "setup-deps: could not download syslog-ng-core (its tests will be skipped)" >&2
  fi
  rm -rf "$tmp"
fi
