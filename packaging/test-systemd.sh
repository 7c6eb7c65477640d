#!/usr/bin/env bash
# test-systemd.sh DEB - the packaged service under a real systemd (part of
# `make deb-test`; needs root, mmdebstrap and systemd-nspawn, and Debian's
# mirror): a Debian 12 root file system (minbase + systemd + the package's
# run-time libraries) with DEB installed by dpkg -i, booted with
# `systemd-nspawn -b`; a probe unit ordered after logdistd.service writes what
# systemd says to /probe.txt and powers off, and this script checks it:
#  - Type=notify reached active/running with logdistd's STATUS= line;
#  - the hardened sandbox is in force: a dynamic uid, no capability,
#    NoNewPrivs, a seccomp filter, /var/lib/logdist -> private/logdist;
#  - /health answers 200 and a record is accepted (durable: level ERROR);
#  - `systemctl reload` succeeds and the status says the config was reloaded;
#  - `systemctl stop` drains and exits 0; a new start replays the WAL record
#    before it is active again.
# Prints the probe's report; exits non-zero at the first failed check.
set -euo pipefail
DEB="$(readlink -f "$1")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "test-systemd: FAIL: $*" >&2; exit 1; }
for t in mmdebstrap systemd-nspawn; do command -v "$t" >/dev/null || fail "$t is missing"; done
[ "$(id -u)" = 0 ] || fail "needs root (mmdebstrap --mode=root, systemd-nspawn)"
R="$TMP/root"
LIBS="$(dpkg-deb -f "$DEB" Depends | sed 's/([^)]*)//g; s/ //g')"
cat > "$TMP/probe.sh" <<'PROBE'
#!/bin/sh
exec > /probe.txt 2>&1
show() { systemctl show -p ActiveState,SubState,StatusText,Result,ExecMainStatus logdistd; }
pid="$(systemctl show -p MainPID --value logdistd)"
echo "--- started"; show
grep -E "^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):" "/proc/$pid/status"
echo "statedir $(readlink /var/lib/logdist)"
echo "health $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health)"
echo "post $(curl -s -XPOST http://127.0.0.1:8080/api/v1/logs -H 'Content-Type: application/json' \
  -d '{"packet_id":"p1","messages":[{"id":"1","level":"ERROR","message":"hi"}]}')"
echo "--- reload"; systemctl reload logdistd; echo "reload_rc=$?"; show
echo "--- stop"; systemctl stop logdistd; echo "stop_rc=$?"; show
echo "--- start"; systemctl start logdistd; echo "start_rc=$?"; show
echo "--- journal"; journalctl -u logdistd --no-pager -o cat
echo "--- end"
systemctl poweroff
PROBE
mmdebstrap --variant=minbase --mode=root --include="systemd,systemd-sysv,dbus,curl,$LIBS" \
  --customize-hook="copy-in $DEB /tmp" \
  --customize-hook='chroot "$1" sh -c "dpkg -i /tmp/*.deb && rm /tmp/*.deb"' \
  --customize-hook="copy-in $TMP/probe.sh /usr/local/bin" \
  --customize-hook='chmod 755 "$1/usr/local/bin/probe.sh"' \
  --customize-hook='printf "[Unit]\nAfter=logdistd.service\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/probe.sh\n[Install]\nWantedBy=multi-user.target\n" > "$1/etc/systemd/system/probe.service"' \
  --customize-hook='ln -s /etc/systemd/system/probe.service "$1/etc/systemd/system/multi-user.target.wants/probe.service"' \
  bookworm "$R" http://deb.debian.org/debian >"$TMP/mmdebstrap.log" 2>&1 ||
  { tail -20 "$TMP/mmdebstrap.log"; fail "mmdebstrap"; }
timeout 300 systemd-nspawn -D "$R" --register=no --keep-unit -b --console=pipe >"$TMP/boot.log" 2>&1 ||
  { tail -20 "$TMP/boot.log"; fail "systemd-nspawn boot"; }
[ -f "$R/probe.txt" ] || { tail -30 "$TMP/boot.log"; fail "the probe did not run"; }
cat "$R/probe.txt"
P="$(cat "$R/probe.txt")"
has() { grep -qE "$1" <<<"$P" || fail "not in the probe's report: $1"; }
section() { sed -n "/^--- $1\$/,/^--- /p" <<<"$P"; }
grep -q '^ActiveState=active' <(section started) || fail "not active after start"
grep -q '^SubState=running' <(section started) || fail "not running after start"
grep -q '^StatusText=listening on 127.0.0.1:8080 (http), 0 analyzers' <(section started) || fail "STATUS"
has '^Uid:[[:space:]]+[1-9][0-9]*'
has '^CapEff:[[:space:]]+0000000000000000$'
has '^CapBnd:[[:space:]]+0000000000000000$'
has '^NoNewPrivs:[[:space:]]+1$'
has '^Seccomp:[[:space:]]+2$'
has '^statedir private/logdist$'
has '^health 200$'
has '^post \{"accepted":1,"packet_id":"p1"\}$'
has '^reload_rc=0$'
grep -q '^StatusText=running; configuration reloaded$' <(section reload) || fail "reload status"
has '^stop_rc=0$'
grep -q '^Result=success' <(section stop) || fail "stop result"
grep -q '^ExecMainStatus=0' <(section stop) || fail "exit status after stop"
has '^start_rc=0$'
grep -q '^ActiveState=active' <(section start) || fail "not active after the restart"
has 'replaying 1 unacknowledged durable records'
echo "test-systemd: ok: the packaged logdistd.service under systemd $(chroot "$R" systemctl --version | head -1 | cut -d' ' -f2)"
