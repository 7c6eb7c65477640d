"""Helpers for test_faults.py (Python 3 stdlib only): logdistd under the LD_PRELOAD
fault shim (tests/fault/ldfault.c) and the kill -9 loss check.

- FaultControl: writes the shim's control file (temp file + rename, so the shim
  sees a new inode and reloads at its next intercepted call) and reads its fault
  log (one line per injected fault), so a test can prove the fault fired;
- FaultCase: DurabilityCase that starts logdistd with the shim preloaded (only
  logdistd: analyzers and generators run clean), optionally behind a wrapper
  such as `prlimit`;
- CriticalLoad: threads POSTing packets of critical records with known ids over
  keep-alive connections, keeping every outcome: the ids of each 202, and each
  refusal's status, error, Retry-After header and retry_after_s;
- crash_figures(): acknowledged / delivered / lost / duplicates / duplicate rate
  from the recorders' id files.

Environment: LOGDIST_FAULT_LIB (the shim; default <LOGDIST_BIN>/../tests/libldfault.so),
plus what harness.py reads.
"""
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from durability_util import (LOGS, SANITIZED, Daemon, DurabilityCase, dl,  # noqa: E402,F401
                             read_lines, wait_until)
from harness import BIN  # noqa: E402

FAULT_LIB = os.path.abspath(os.environ.get("LOGDIST_FAULT_LIB") or
                            os.path.join(BIN, os.pardir, "tests", "libldfault.so"))


def figures(name, **kv):
    """Print a figures line (for the report and docs) on stderr."""
    sys.stderr.write("\nFIGURES %s %s\n" % (name, json.dumps(kv, sort_keys=True)))
    sys.stderr.flush()


# ---------------------------------------------------------------------------- the shim

class FaultControl:
    """The control file and fault log of one shim'd process (see ldfault.c)."""

    def __init__(self, directory, name="faults"):
        self.path = os.path.join(directory, name + ".ctl")
        self.log_path = os.path.join(directory, name + ".log")
        self.set()

    def set(self, *rules):
        """Replace every rule (none: clear every fault)."""
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(r + "\n" for r in rules))
        os.rename(tmp, self.path)

    def clear(self):
        self.set()

    def log(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()

    def fired(self, word="fault"):
        """Log lines of injected faults (word="fault"), delays or short writes."""
        return [ln for ln in self.log() if ln.startswith(word + " ")]

    def env(self):
        e = {"LD_PRELOAD": FAULT_LIB, "LDFAULT_CONTROL": self.path, "LDFAULT_LOG": self.log_path}
        if SANITIZED:
            # the shim is preloaded ahead of libasan; ASan must not refuse that order
            opts = os.environ.get("ASAN_OPTIONS", "")
            e["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
        return e


class FaultCase(DurabilityCase):
    """DurabilityCase whose logdistd may run under the fault shim."""

    def setUp(self):
        super().setUp()
        if not os.path.exists(FAULT_LIB):
            self.fail("fault shim %s not built (set LOGDIST_FAULT_LIB)" % FAULT_LIB)

    def start_faulty(self, data_dir, fc, *args, port=0, analyzers=(), wrapper=()):
        """logdistd with --data-dir data_dir, the shim driven by `fc` (None: no shim),
        argv prefixed by `wrapper` (a program that execs the rest, e.g. prlimit)."""
        argv = list(wrapper) + self.daemon_argv("--data-dir", data_dir,
                                                "--listen", "127.0.0.1:%d" % port,
                                                *args, analyzers=analyzers)
        end = time.monotonic() + dl(20)
        while True:  # a restart on a fixed port retries while the port is still held
            p = self.spawn("logdistd", argv, env=fc.env() if fc else None)
            try:
                line = p.first_line(max(0.5, end - time.monotonic()))
                return Daemon(p, int(line["listening"].rsplit(":", 1)[1]))
            except AssertionError:
                if p.running() or time.monotonic() >= end or port == 0 or \
                        "cannot listen" not in p.stderr_text():
                    raise
                time.sleep(0.05)

    def wait_fired(self, fc, n=1, word="fault", timeout=None):
        return wait_until(lambda: len(fc.fired(word)) >= n and fc.fired(word),
                          timeout or dl(20), "%d shim '%s' line(s) in %s" % (n, word, fc.log_path))

    def assertRefusal(self, r, reason):
        """A refusal must be 503 {"error": reason} with Retry-After = retry_after_s > 0."""
        status, error, retry_after, retry_after_s, body = r
        self.assertEqual((status, error), (503, reason), "refusal %r" % (r,))
        self.assertTrue(retry_after and retry_after.isdigit() and int(retry_after) > 0,
                        "refusal without a Retry-After: %r" % (r,))
        self.assertEqual(retry_after_s, int(retry_after), "retry_after_s vs header: %r" % (r,))


# ---------------------------------------------------------------------------- load

def critical_packet(ids, pad=60):
    msgs = [{"id": i, "level": "ERROR", "critical": True, "source": "fault-test",
             "message": "m " + "x" * pad} for i in ids]
    return json.dumps({"agent_id": "fault-test", "messages": msgs},
                      separators=(",", ":")).encode()


def post_once(conn, body):
    """POST on a keep-alive connection -> (status, headers(lower), body bytes)."""
    conn.request("POST", LOGS, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    if hdrs.get("connection", "").lower() == "close":
        conn.close()
    return r.status, hdrs, data


def outcome(status, hdrs, data):
    """A refusal tuple (status, error, Retry-After header, retry_after_s, body head)."""
    try:
        j = json.loads(data.decode("utf-8"))
    except ValueError:
        j = {}
    return (status, j.get("error") if isinstance(j, dict) else None, hdrs.get("retry-after"),
            j.get("retry_after_s") if isinstance(j, dict) else None, data[:200])


class CriticalLoad:
    """`threads` threads POST packets of `per_packet` critical records (ids
    <prefix>-<thread>-<n>) to 127.0.0.1:port until stop(). Keeps: acked (ids of
    every 202), refused (outcome tuples of every other answer), cut (packets
    whose connection broke: outcome unknown)."""

    def __init__(self, port, prefix, threads=4, per_packet=20, pad=60, pause=0.0):
        self.port, self.prefix, self.per_packet, self.pad = port, prefix, per_packet, pad
        self.pause = pause
        self.lock = threading.Lock()
        self.acked, self.refused, self.cut = [], [], 0
        self.accepted_packets = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                         for k in range(threads)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(dl(30))
            if t.is_alive():
                raise AssertionError("load thread did not stop")

    def counts(self):
        with self.lock:
            return self.accepted_packets, len(self.refused), self.cut

    def _run(self, k):
        conn, n = None, 0
        while not self._stop.is_set():
            ids = ["%s-%d-%d-%d" % (self.prefix, k, n, i) for i in range(self.per_packet)]
            n += 1
            body = critical_packet(ids, self.pad)
            try:
                if conn is None or conn.sock is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=dl(15))
                status, hdrs, data = post_once(conn, body)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.cut += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)
                continue
            with self.lock:
                if status == 202:
                    self.acked.extend(ids)
                    self.accepted_packets += 1
                else:
                    self.refused.append(outcome(status, hdrs, data))
            if status != 202 or self.pause:
                time.sleep(max(self.pause, 0.01 if status != 202 else 0))
        if conn:
            conn.close()


def wait_more_accepted(load, n, timeout, what="202s"):
    """Wait until `load` has n more accepted packets than now."""
    base = load.counts()[0]
    return wait_until(lambda: load.counts()[0] >= base + n, timeout,
                      "%d more %s (have %r)" % (n, what, load.counts()))


# ---------------------------------------------------------------------------- figures

def crash_figures(acked, recorders):
    """Figures of a kill -9 loss check: acked ids vs what the recorders wrote."""
    lines = []
    for r in recorders:
        lines.extend(read_lines(r.ids_path))
    got = set(lines)
    acked = set(acked)
    delivered = acked & got
    dups = len(lines) - len(got)
    return {"acknowledged": len(acked), "delivered": len(delivered),
            "lost": len(acked - got), "duplicates": dups,
            "duplicate_rate": round(dups / len(got), 5) if got else 0.0,
            "delivered_not_acknowledged": len(got - acked)}
