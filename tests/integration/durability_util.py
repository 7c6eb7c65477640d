"""Helpers for test_durability.py (Python 3 stdlib only).

Builds on harness.py (process registry that stops only its own pids, stderr files
checked for sanitizer reports, HTTP helpers, wait_until with deadlines) and adds:

- DurabilityCase: every logdistd gets an explicit --data-dir (never ./data) and
  can be restarted on the same port and data dir; kill -9 helpers;
- a reader of the WAL on-disk format (docs/DURABILITY.md) with CRC32C, used to
  know which records lie entirely before a damaged offset;
- packet builders whose record ids are known, union / duplicate counting across
  analyzers.
"""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import (SANITIZED, Daemon, LogdistTestCase, dl, get_json,  # noqa: E402,F401
                     http_request, read_lines, scaled, wait_until)

LOGS = "/api/v1/logs"
ANALYZERS = "/api/v1/analyzers"
DEADLETTER = "/api/v1/deadletter"

# ---------------------------------------------------------------------------- CRC32C

_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), same convention as ISA-L crc32_iscsi with seed 0 as used
    by src/store/crc32c.c (checked against the WAL files logdistd writes)."""
    crc ^= 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------- WAL reader

WAL_HEADER = 24  # "LDWALnn\n", u64 segment number, u64 next_seq (docs/DURABILITY.md)
ENTRY_HEADER = 9
T_RECORD, T_ACK = 1, 2
_ID_RE = re.compile(rb'"id":"([^"]*)"')


class WalEntry:
    __slots__ = ("off", "end", "type", "seq", "record", "acks")

    def __init__(self, off, end, etype, seq=None, record=None, acks=None):
        self.off, self.end, self.type = off, end, etype
        self.seq, self.record, self.acks = seq, record, acks

    def record_id(self):
        m = _ID_RE.search(self.record or b"")
        return m.group(1).decode() if m else None


def wal_files(data_dir):
    """Segment paths, oldest first."""
    if not os.path.isdir(data_dir):
        return []
    names = sorted(n for n in os.listdir(data_dir)
                   if re.fullmatch(r"wal-[0-9a-f]{16}\.log", n))
    return [os.path.join(data_dir, n) for n in names]


def wal_bytes(data_dir):
    return sum(os.path.getsize(p) for p in wal_files(data_dir))


def parse_wal(img, check_crc=True):
    """Entries of a segment image, stopping at the first bad one (the same rules
    as wal.c walk_entries). Returns (entries, good_end_offset)."""
    if len(img) < WAL_HEADER or not re.fullmatch(rb"LDWAL\d\d\n", img[:8]):
        raise ValueError("not a WAL segment: %r" % img[:8])
    off, out = WAL_HEADER, []
    while off + ENTRY_HEADER <= len(img):
        elen, crc = struct.unpack_from("<II", img, off)
        end = off + ENTRY_HEADER + elen
        if end > len(img):
            break
        if check_crc and crc32c(img[off + 8:end]) != crc:
            break
        etype = img[off + 8]
        payload = img[off + ENTRY_HEADER:end]
        if etype == T_RECORD and elen >= 8:
            seq = struct.unpack_from("<Q", payload, 0)[0]
            out.append(WalEntry(off, end, etype, seq=seq, record=payload[8:]))
        elif etype == T_ACK and elen % 12 == 0:
            acks = [struct.unpack_from("<QI", payload, i) for i in range(0, elen, 12)]
            out.append(WalEntry(off, end, etype, acks=acks))
        else:
            break
        off = end
    return out, off


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------- packets

def record(rid, level="INFO", critical=False, pad=0):
    r = {"id": rid, "level": level, "source": "durability-test", "message": "m " + "x" * pad}
    if critical:
        r["critical"] = True
    return r


def packet(records, packet_id=None):
    p = {"agent_id": "durability-test", "messages": records}
    if packet_id:
        p["packet_id"] = packet_id
    return json.dumps(p, separators=(",", ":")).encode()


def post_packet(port, body, headers=None, timeout=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return http_request(port, "POST", LOGS, body, h, timeout=timeout)


# ---------------------------------------------------------------------------- test base

class DurabilityCase(LogdistTestCase):
    """LogdistTestCase with explicit data dirs, same-port restarts and kill -9."""

    def setUp(self):
        super().setUp()
        self.stopped = []  # processes we SIGSTOPped: SIGCONT them before teardown

    def tearDown(self):
        for p in self.stopped:
            if p.running():
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        super().tearDown()

    def new_data_dir(self, name="data"):
        d = self.path(self.unique(name))
        os.makedirs(d)
        return d

    def start_dd(self, data_dir, *args, port=0, analyzers=(), timeout=None):
        """Start logdistd with --data-dir data_dir on 127.0.0.1:port (0 = ephemeral).
        A restart on a fixed port retries while the port is still held."""
        assert data_dir and os.path.isabs(data_dir), data_dir
        argv = self.daemon_argv("--data-dir", data_dir, "--listen", "127.0.0.1:%d" % port,
                                *args, analyzers=analyzers)
        end = time.monotonic() + (timeout or dl(20))
        while True:
            p = self.spawn("logdistd", argv)
            try:
                line = p.first_line(max(0.5, end - time.monotonic()))
                return Daemon(p, int(line["listening"].rsplit(":", 1)[1]))
            except AssertionError:
                if p.running() or time.monotonic() >= end or port == 0 or \
                        "cannot listen" not in p.stderr_text():
                    raise
                time.sleep(0.05)

    def kill9(self, proc):
        """SIGKILL by pid and reap."""
        proc.kill()
        self.assertFalse(proc.running())

    def sigterm(self, proc, timeout=None):
        proc.signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout or dl(20))
        except subprocess.TimeoutExpired:
            self.fail("%s did not exit after SIGTERM" % proc.name)
        self.assertEqual(rc, 0, "%s exit code after SIGTERM; stderr tail:\n%s"
                         % (proc.name, proc.stderr_text()[-2000:]))

    def stop_process(self, proc):
        os.kill(proc.pid, signal.SIGSTOP)
        self.stopped.append(proc)

    def cont_process(self, proc):
        os.kill(proc.pid, signal.SIGCONT)

    def add_analyzer_api(self, d, aid, url, weight=None, health_url=None):
        body = {"id": aid, "url": url}
        if weight is not None:
            body["weight"] = weight
        if health_url:
            body["health_url"] = health_url
        r = d.req("POST", ANALYZERS, body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def wait_drained(self, d, timeout, wal=True):
        """Nothing queued or in flight (and, with a WAL, nothing unacknowledged)."""
        def done():
            m = d.metrics()
            ok = m["queued_records"] == 0 and m["inflight_batches"] == 0
            if wal:
                ok = ok and m["wal_live_records"] == 0
            return ok and m
        return wait_until(done, timeout, "queue drained", interval=0.1)

    def wait_ids(self, analyzers, want, timeout, what="records"):
        """Poll until the union of the analyzers' /ids holds every id of `want`."""
        want = set(want)
        missing = [None]

        def ok():
            u = union_ids(analyzers)
            missing[0] = want - u
            return not missing[0]
        try:
            wait_until(ok, timeout, what, interval=0.2)
            return
        except AssertionError:
            pass
        m = sorted(missing[0])
        self.fail("%d of %d %s never arrived within %.0fs, e.g. %s"
                  % (len(m), len(want), what, timeout, m[:10]))


def union_ids(analyzers):
    u = set()
    for a in analyzers:
        u.update(a.ids())
    return u


def duplicate_figures(analyzers):
    """(unique ids across analyzers, duplicate deliveries): duplicates inside one
    analyzer (its /stats duplicate_ids) plus ids received by more than one analyzer."""
    per = [set(a.ids()) for a in analyzers]
    union = set().union(*per) if per else set()
    within = sum(a.stats()["duplicate_ids"] for a in analyzers)
    across = sum(len(s) for s in per) - len(union)
    return len(union), within + across, within, across


def log_lines(proc, pattern):
    return re.findall(pattern, proc.stderr_text(), re.M)
