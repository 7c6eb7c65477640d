#!/usr/bin/env bash
# setup-deps.sh - install every Debian package that logdist's build, tests,
# demo and benchmarks need. Idempotent: does nothing when all are present.
set -euo pipefail
PKGS="build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
      libsqlite3-dev zlib1g-dev libcmocka-dev libjansson-dev libisal-dev libhttp-parser-dev
      libprotobuf-c-dev protobuf-c-compiler libmsgpack-dev
      python3 curl util-linux
      strace"
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
