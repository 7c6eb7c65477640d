#!/usr/bin/env bash
# test-deb.sh DEB - `make deb-test`: smoke test of the Debian package.
#  1. scratch root (no root needed): dpkg-deb -x into a temp dir; the unpacked
#     logdistd runs --version and --check-config on the shipped config, and
#     `systemd-analyze verify` passes on the shipped unit (paths pointed into
#     the scratch root);
#  2. as root, on this machine, when logdist is not installed already:
#     dpkg -i; /usr/sbin/logdistd --version and --check-config
#     /etc/logdist/logdistd.json; the unit is enabled (the multi-user.target.wants
#     link) and verifies as installed; man finds logdistd(8); the installed
#     daemon starts with the shipped config (port and data dir overridden) and
#     answers /health; then dpkg --purge, and nothing of it is left.
# Exits non-zero at the first failed check. Stops only the daemon it started.
set -euo pipefail
DEB="$(readlink -f "$1")"
TMP="$(mktemp -d)"
PID=""
INSTALLED=0
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  if [ "$INSTALLED" = 1 ]; then dpkg --purge logdist >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "test-deb: ok: $*"; }

# --- 1. scratch root
R="$TMP/root"
dpkg-deb -x "$DEB" "$R"
out="$("$R/usr/sbin/logdistd" --version)" || fail "logdistd --version"
[[ "$out" =~ ^logdistd\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version said: $out"
ok "scratch root: $out"
"$R/usr/sbin/logdistd" --check-config "$R/etc/logdist/logdistd.json" || fail "--check-config"
ok "scratch root: --check-config on the shipped config"
sed "s|/usr/sbin/|$R/usr/sbin/|g; s|/etc/logdist/|$R/etc/logdist/|g" \
  "$R/lib/systemd/system/logdistd.service" > "$TMP/logdistd.service"
MANPATH="$R/usr/share/man" systemd-analyze verify "$TMP/logdistd.service" || fail "systemd-analyze verify"
ok "scratch root: systemd-analyze verify"

# --- 2. installed on this machine
if [ "$(id -u)" != 0 ]; then
  echo "test-deb: not root: dpkg -i skipped (the scratch-root checks passed)"
  exit 0
fi
if dpkg-query -W -f='${Status}' logdist 2>/dev/null | grep -q "install ok installed"; then
  fail "logdist is already installed here; purge it first (dpkg --purge logdist)"
fi
INSTALLED=1
DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg -i"; }
ok "dpkg -i $(basename "$DEB")"
out="$(/usr/sbin/logdistd --version)" || fail "installed logdistd --version"
ok "installed: $out"
/usr/sbin/logdistd --check-config /etc/logdist/logdistd.json || fail "installed --check-config"
ok "installed: --check-config /etc/logdist/logdistd.json"
[ -L /etc/systemd/system/multi-user.target.wants/logdistd.service ] || fail "the unit is not enabled"
ok "installed: logdistd.service enabled (multi-user.target.wants)"
systemd-analyze verify /lib/systemd/system/logdistd.service || fail "systemd-analyze verify (installed)"
ok "installed: systemd-analyze verify /lib/systemd/system/logdistd.service"
[ "$(man -w logdistd)" = /usr/share/man/man8/logdistd.8.gz ] || fail "man -w logdistd: $(man -w logdistd)"
ok "installed: man -w logdistd"
/usr/sbin/logdistd --config /etc/logdist/logdistd.json --listen 127.0.0.1:0 \
  --data-dir "$TMP/data" >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 100); do grep -q listening "$TMP/out" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/.*"listening":"127.0.0.1:\([0-9]*\)".*/\1/p' "$TMP/out" | head -1)"
[ -n "$port" ] || { cat "$TMP/err"; fail "the installed daemon printed no listening line"; }
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")"
[ "$code" = 200 ] || [ "$code" = 503 ] || fail "/health answered $code"
ok "installed: logdistd runs the shipped config, /health $code (no analyzer yet)"
kill -TERM "$PID"; wait "$PID" || fail "the daemon's exit after SIGTERM"; PID=""
dpkg --purge logdist >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg --purge"; }
INSTALLED=0
for f in /usr/sbin/logdistd /etc/logdist/logdistd.json /lib/systemd/system/logdistd.service \
         /etc/systemd/system/multi-user.target.wants/logdistd.service; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f left after purge"
done
ok "dpkg --purge logdist: nothing left"
