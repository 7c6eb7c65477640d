"""Helpers for test_chaos.py (Python 3 stdlib only): the fault-injecting proxy
(logdist-faultproxy) and its control API, peak RSS of a process, share figures.
"""
import os
import random
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, dl, get_json, http_request  # noqa: E402

FAULTPROXY = os.path.join(BIN, "logdist-faultproxy")
MiB = 1 << 20


class FaultProxy:
    """A running logdist-faultproxy in front of an upstream port."""

    def __init__(self, proc, port, control_port):
        self.proc, self.port, self.control = proc, port, control_port
        self.url = "http://127.0.0.1:%d/ingest" % port
        self.health_url = "http://127.0.0.1:%d/health" % port

    def set(self, **faults):
        """PUT /fault with the given subset of latency_ms / reset / blackhole / bandwidth_bps,
        or the action stall=True."""
        r = http_request(self.control, "PUT", "/fault", faults, timeout=dl(10))
        assert r.status == 200, r
        return r.json()

    def clear(self):
        r = http_request(self.control, "DELETE", "/fault", timeout=dl(10))
        assert r.status == 200, r
        return r.json()

    def status(self):
        return get_json(self.control, "/fault", timeout=dl(10))


def start_faultproxy(tc, upstream_port, *flags, name="faultproxy"):
    """Start a proxy to 127.0.0.1:upstream_port through tc.spawn (so tearDown stops it)."""
    p = tc.spawn(name, [FAULTPROXY, "--listen", "127.0.0.1:0", "--upstream",
                        "127.0.0.1:%d" % upstream_port, "--control", "127.0.0.1:0"] + list(flags))
    line = p.first_line(dl(10))
    return FaultProxy(p, int(line["listening"].rsplit(":", 1)[1]),
                      int(line["control"].rsplit(":", 1)[1]))


def proc_status_kib(pid, field):
    """A 'kB' field of /proc/<pid>/status (VmHWM, VmRSS) in KiB, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_seconds(pid):
    """User + system CPU seconds of a process so far (from /proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shares(deltas):
    """{id: n} -> {id: n / total} (empty totals give 0)."""
    tot = sum(deltas.values())
    return {k: (v / tot if tot else 0.0) for k, v in deltas.items()}


def fmt_shares(sh, weights):
    return ", ".join("%s %.4f (want %.4f)" % (k, sh[k], weights[k]) for k in sorted(sh))


def uniform(lo, hi, rng=random):
    return lo + (hi - lo) * rng.random()


def say(fmt, *args):
    """A figure for the report: stdout, flushed, one line."""
    sys.stdout.write("  [chaos] " + (fmt % args if args else fmt) + "\n")
    sys.stdout.flush()


def open_partial(port, first):
    """A connection that sent `first` (bytes) and will be fed more slowly."""
    s = socket.create_connection(("127.0.0.1", port), timeout=dl(5))
    s.setblocking(False)
    if first:
        s.send(first)
    return s


def closed_by_peer(s):
    """True when the peer closed (EOF or reset) a non-blocking socket; reads and drops
    whatever reply came first."""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def monotonic():
    return time.monotonic()
