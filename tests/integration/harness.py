"""Shared helpers for the logdist integration tests (Python 3 stdlib only).

- start logdistd / logdist-analyzer / logdist-gen on 127.0.0.1 port 0 and parse
  the JSON "listening" line;
- a process registry that stops ONLY the processes it started (by pid), in
  tearDown and at exit, even when a test fails;
- each process's stderr goes to a file; a test fails if any of them contains a
  sanitizer report ("ERROR: AddressSanitizer", "runtime error:", ...), if a process
  that tearDown stops with SIGTERM does not exit 0 within its grace time (more than
  logdistd's --drain-timeout-ms, so LeakSanitizer gets to run), or if any process
  died of a signal the test did not send (a crash);
- HTTP helpers (http.client, no proxies), wait_until() with a deadline;
- RecordingAnalyzer: an in-process HTTP analyzer that keeps every request raw;
- `python3 harness.py recorder ...`: a subprocess analyzer that appends the ids
  of every batch to a file BEFORE answering 200 (so a kill -9 loses nothing it
  acknowledged).

Environment: LOGDIST_BIN (directory of the binaries), LOGDIST_SANITIZED=1
(scale record counts down and deadlines up), LOGDIST_KEEP_TMP=1 (keep temp dirs).
"""
import atexit
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _bin_dir():
    d = os.environ.get("LOGDIST_BIN")
    if d:
        return d
    for cand in ("build-it/bin", "build/bin"):
        p = os.path.join(REPO, cand)
        if os.path.exists(os.path.join(p, "logdistd")):
            return p
    return os.path.join(REPO, "build-it", "bin")


BIN = os.path.abspath(_bin_dir())  # absolute: processes run with their temp dir as cwd
SANITIZED = os.environ.get("LOGDIST_SANITIZED", "") not in ("", "0")
TIME_SCALE = float(os.environ.get("LOGDIST_TIME_SCALE", "4" if SANITIZED else "1"))
LOAD_SCALE = float(os.environ.get("LOGDIST_LOAD_SCALE", "0.25" if SANITIZED else "1"))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "WARNING: ThreadSanitizer")


def scaled(n, minimum=1):
    """A record count / rate scaled down for sanitizer builds."""
    return max(minimum, int(n * LOAD_SCALE))


def dl(seconds):
    """A deadline (seconds) stretched for sanitizer builds."""
    return seconds * TIME_SCALE


# ---------------------------------------------------------------------------- waiting

def wait_until(fn, timeout, desc="condition", interval=0.05, ignore=()):
    """Poll fn() until it returns a truthy value (returned) or `timeout` seconds pass
    (AssertionError with the last value). Exceptions listed in `ignore` count as falsy."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except ignore as e:  # noqa: PERF203
            last = e
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s; last value: %.500r"
                                 % (timeout, desc, last))
        time.sleep(interval)


def free_port():
    """A port nothing listens on right now (bound then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Resp(%d, %r, %.300r)" % (self.status, self.headers, self.body)


def http_request(port, method, path, body=None, headers=None, timeout=None):
    """One request on a fresh connection to 127.0.0.1:port. body: bytes/str/dict(json)."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout or dl(15))
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def get_json(port, path, timeout=None):
    r = http_request(port, "GET", path, timeout=timeout)
    if r.status != 200:
        raise AssertionError("GET %s -> %r" % (path, r))
    return r.json()


def raw_request(port, data, timeout=None, shutdown_write=False):
    """Send raw bytes on a new connection; return what the server sends until it
    closes or the timeout passes (b"" when nothing)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout or dl(5))
    out = b""
    try:
        s.sendall(data)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


# ---------------------------------------------------------------------------- processes

_LIVE = set()  # every Proc started by this Python process, for atexit


def _atexit_kill():
    for p in list(_LIVE):
        p.kill()


atexit.register(_atexit_kill)


def _on_term(signum, frame):
    """SIGTERM/SIGHUP to the test process (e.g. a timeout): stop our children first."""
    _atexit_kill()
    os._exit(128 + signum)


if __name__ != "__main__":
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(_sig) in (signal.SIG_DFL, None):
            signal.signal(_sig, _on_term)


class Proc:
    """A child process with stdout and stderr in files. Stopped only by its pid."""

    def __init__(self, name, argv, logdir, env=None, cwd=None):
        self.name = name
        self.argv = argv
        base = os.path.join(logdir, name)
        n = 0
        while os.path.exists("%s.%d.stderr" % (base, n)):
            n += 1
        self.stdout_path = "%s.%d.stdout" % (base, n)
        self.stderr_path = "%s.%d.stderr" % (base, n)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        e = os.environ.copy()
        e.update(env or {})
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err, env=e, close_fds=True,
                                      cwd=cwd or logdir)
        self.pid = self.popen.pid
        self.sent = set()         # signals this harness sent (a death by another is a crash)
        self.term_grace = dl(10)  # SIGTERM -> exit bound (LogdistTestCase.spawn: stop_grace)
        _LIVE.add(self)

    def running(self):
        return self.popen.poll() is None

    def first_line(self, timeout):
        """The first stdout line (parsed JSON), waiting up to timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            with open(self.stdout_path, "rb") as f:
                data = f.read()
            if b"\n" in data:
                return json.loads(data.split(b"\n", 1)[0])
            if not self.running():
                raise AssertionError("%s exited with %s before printing its listening line; "
                                     "stderr:\n%s" % (self.name, self.popen.returncode,
                                                      self.stderr_text()[-3000:]))
            if time.monotonic() >= end:
                raise AssertionError("%s printed no listening line within %.1fs" %
                                     (self.name, timeout))
            time.sleep(0.01)

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        if self.running():
            self.sent.add(sig)
            self.popen.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or raises subprocess.TimeoutExpired."""
        rc = self.popen.wait(timeout)
        self._closed()
        return rc

    def kill(self):
        """SIGKILL (by pid) and reap."""
        if self.running():
            try:
                self.sent.add(signal.SIGKILL)
                self.popen.kill()
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self._closed()

    def stop(self, grace=None):
        """SIGTERM, then SIGKILL after `grace` seconds (default: term_grace). Returns
        the exit code (negative: the signal that ended it; -9 means SIGTERM did not end
        it within `grace`)."""
        if self.running():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(self.term_grace if grace is None else grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.popen.returncode

    def exit_problem(self, stopped_here, ok_codes=(0,)):
        """Why this process's exit is wrong, or None. stopped_here: tearDown's SIGTERM
        ended it (then the code must be in ok_codes). A death by a signal nobody sent
        (SIGSEGV, SIGABRT...) is always wrong."""
        rc = self.popen.returncode
        if rc is None:
            return "still running"
        if rc < 0 and -rc not in self.sent:
            return "died of signal %d, which the test did not send" % -rc
        if stopped_here and rc not in ok_codes:
            if rc == -signal.SIGKILL:
                return "did not exit within %.1fs of SIGTERM (killed)" % self.term_grace
            return "exit code %d after SIGTERM (want %s)" % (rc, ok_codes)
        return None

    def _closed(self):
        if self.popen.returncode is not None:
            _LIVE.discard(self)
            for f in (self._out, self._err):
                if not f.closed:
                    f.close()

    def sanitizer_report(self):
        text = self.stderr_text()
        for m in SANITIZER_MARKERS:
            i = text.find(m)
            if i >= 0:
                return text[max(0, i - 200):i + 4000]
        return None


class Analyzer:
    """A running logdist-analyzer."""

    def __init__(self, proc, port, aid):
        self.proc, self.port, self.id = proc, port, aid
        self.url = "http://127.0.0.1:%d/ingest" % port

    def stats(self):
        return get_json(self.port, "/stats")

    def records(self):
        return self.stats()["records"]

    def ids(self):
        r = http_request(self.port, "GET", "/ids", timeout=dl(60))
        assert r.status == 200, r
        return r.body.decode().split()


class Recorder:
    """A `harness.py recorder` subprocess: ids of acknowledged batches go to a file."""

    def __init__(self, proc, port, aid, ids_path):
        self.proc, self.port, self.id, self.ids_path = proc, port, aid, ids_path
        self.url = "http://127.0.0.1:%d/ingest" % port

    def records(self):
        return get_json(self.port, "/stats")["records"]

    def ids(self):
        return read_lines(self.ids_path)


class Daemon:
    """A running logdistd."""

    def __init__(self, proc, port, line=None):
        self.proc, self.port = proc, port
        self.line = line or {}  # the whole start-up JSON line (protocol ports)
        self.logs_url = "http://127.0.0.1:%d/api/v1/logs" % port

    def req(self, method, path, body=None, headers=None, timeout=None):
        return http_request(self.port, method, path, body, headers, timeout)

    def post_logs(self, body, ctype="application/json", encoding=None, headers=None):
        h = {}
        if ctype is not None:
            h["Content-Type"] = ctype
        if encoding:
            h["Content-Encoding"] = encoding
        h.update(headers or {})
        return self.req("POST", "/api/v1/logs", body, h)

    def metrics(self):
        return get_json(self.port, "/api/v1/metrics")

    def analyzers(self):
        return {a["id"]: a for a in get_json(self.port, "/api/v1/analyzers")["analyzers"]}

    def analyzer(self, aid):
        return get_json(self.port, "/api/v1/analyzers/" + aid)

    def wait_state(self, aid, state, timeout):
        last = {}

        def check():
            last["a"] = self.analyzer(aid)
            return last["a"]["state"] == state
        try:
            return wait_until(check, timeout, "analyzer %s state %r" % (aid, state),
                              interval=0.02)
        except AssertionError as e:
            raise AssertionError("%s; analyzer: %s" % (e, json.dumps(last.get("a")))) from None

    def wait_all_delivered(self, timeout, expect_accepted=None):
        """Wait until records_delivered == records_accepted and nothing is queued."""
        def done():
            m = self.metrics()
            if expect_accepted is not None and m["records_accepted"] != expect_accepted:
                return False
            return (m["records_delivered"] == m["records_accepted"] and
                    m["queued_records"] == 0 and m["inflight_batches"] == 0) and m
        return wait_until(done, timeout, "all accepted records delivered", interval=0.1)


_HELP = None


def daemon_has_option(flag):
    """True when `logdistd --help` lists `flag`. The binary under test is ours: tests
    do not skip on a missing option (see require_option); this only reports. An error
    running `--help` raises (it is not "no such option")."""
    global _HELP
    if _HELP is None:
        r = subprocess.run([os.path.join(BIN, "logdistd"), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=dl(20), cwd=tempfile.gettempdir())
        if r.returncode != 0 or not r.stdout:
            raise AssertionError("logdistd --help failed (exit %d): %s"
                                 % (r.returncode, r.stderr.decode(errors="replace")[-500:]))
        _HELP = r.stdout.decode()
    return (flag + " ") in _HELP or (flag + "\n") in _HELP


def hash_token(tok):
    """The hash of a bearer token, as `logdistd --hash-token` prints it (for --token)."""
    r = subprocess.run([os.path.join(BIN, "logdistd"), "--hash-token", tok],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=dl(20),
                       cwd=tempfile.gettempdir())
    if r.returncode != 0:
        raise AssertionError("logdistd --hash-token failed: %s" % r.stderr.decode()[-500:])
    return r.stdout.decode().strip()


def require_option(flag):
    """Fail (AssertionError) unless `logdistd --help` documents `flag`."""
    if not daemon_has_option(flag):
        raise AssertionError("logdistd --help does not list %s" % flag)


def stop_grace(argv):
    """Seconds a process gets between SIGTERM and SIGKILL: logdistd may drain for
    --drain-timeout-ms (default 10 s) and LeakSanitizer runs after that, so the
    grace is the drain timeout plus a margin scaled for sanitizer builds."""
    drain_ms = 10000
    for i, a in enumerate(argv):
        a = str(a)
        if a == "--drain-timeout-ms" and i + 1 < len(argv):
            drain_ms = int(argv[i + 1])
        elif a.startswith("--drain-timeout-ms="):
            drain_ms = int(a.split("=", 1)[1])
    return drain_ms / 1000.0 + dl(10)


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return f.read().decode().split()


def gzip_bytes(data):
    return gzip.compress(data, 6)


# ---------------------------------------------------------------------------- test base

class LogdistTestCase(unittest.TestCase):
    """Starts processes through a per-test registry; tearDown stops them (daemon
    first: reverse start order), checks their stderr for sanitizer reports and
    removes the temp dir."""

    def setUp(self):
        for b in ("logdistd", "logdist-analyzer", "logdist-gen"):
            p = os.path.join(BIN, b)
            if not os.access(p, os.X_OK):
                self.fail("binary %s not found (set LOGDIST_BIN)" % p)
        self.tmp = tempfile.mkdtemp(prefix="logdist-it-")
        self.procs = []
        self.servers = []
        self._seq = 0

    # exit codes accepted after tearDown's SIGTERM, by process name prefix: logdist-gen
    # exits 1 when it saw transport errors (a test that cares stops it and checks)
    TEARDOWN_OK_CODES = {"gen": (0, 1)}

    def tearDown(self):
        exits = []
        for p in reversed(self.procs):
            stopped_here = p.running()
            if stopped_here:
                p.stop(p.term_grace)
            ok = next((v for k, v in self.TEARDOWN_OK_CODES.items() if p.name.startswith(k)),
                      (0,))
            why = p.exit_problem(stopped_here, ok)
            if why:
                exits.append("%s (pid %d, %s): %s" % (p.name, p.pid, p.stderr_path, why))
        for s in self.servers:
            s.stop()
        reports = [(p.name, p.stderr_path, p.sanitizer_report()) for p in self.procs]
        reports = [r for r in reports if r[2]]
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        res = getattr(outcome, "result", None)  # Python 3.11 records failures there first
        if res is not None:
            failed = failed or any(t is self for t, _ in
                                   list(getattr(res, "errors", [])) + list(getattr(res, "failures", [])))
        if failed:
            for p in self.procs:
                if p.name.startswith("logdistd"):
                    sys.stderr.write("\n---- %s stderr (%s), tail ----\n%s\n" %
                                     (p.name, p.stderr_path, p.stderr_text()[-4000:]))
        if reports or exits or failed or os.environ.get("LOGDIST_KEEP_TMP"):
            sys.stderr.write("logs kept in %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            self.fail("sanitizer report(s):\n" + "\n".join(
                "== %s (%s)\n%s" % r for r in reports))
        if exits:
            self.fail("process exit(s) wrong:\n" + "\n".join(exits))

    # -- helpers
    def path(self, name):
        return os.path.join(self.tmp, name)

    def unique(self, stem):
        self._seq += 1
        return "%s-%d" % (stem, self._seq)

    def spawn(self, name, argv, env=None):
        p = Proc(name, argv, self.tmp, env)
        p.term_grace = stop_grace(argv)
        self.procs.append(p)
        return p

    def start_analyzer(self, aid="a1", *extra, port=0):
        p = self.spawn("analyzer-" + aid, [os.path.join(BIN, "logdist-analyzer"), "--listen",
                                           "127.0.0.1:%d" % port, "--id", aid] + list(extra))
        line = p.first_line(dl(10))
        return Analyzer(p, int(line["listening"].rsplit(":", 1)[1]), aid)

    def start_recorder(self, aid, ids_path, port=0):
        p = self.spawn("recorder-" + aid, [sys.executable, os.path.abspath(__file__), "recorder",
                                           "--port", str(port), "--id", aid,
                                           "--ids-file", ids_path])
        line = p.first_line(dl(10))
        return Recorder(p, int(line["listening"].rsplit(":", 1)[1]), aid, ids_path)

    def data_dir(self):
        """A fresh --data-dir inside the test's temp dir."""
        return self.path(self.unique("data"))

    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "5000"}

    def daemon_argv(self, *args, analyzers=()):
        argv = [os.path.join(BIN, "logdistd"), "--listen", "127.0.0.1:0"]
        given = {a.split("=", 1)[0] for a in args if isinstance(a, str) and a.startswith("--")}
        for k, v in self.DAEMON_DEFAULTS.items():
            if k not in given:
                argv += [k, v]
        if SANITIZED and "--memory-limit" not in given:
            # ASan's shadow memory and quarantine inflate RSS; the RSS watch would shed
            # load (and stop accepting admin connections too) far below the real limit
            argv += ["--memory-limit", "4GiB"]
        if "--data-dir" not in given:
            # state on disk (WAL, analyzer store) stays inside this test's temp dir
            argv += ["--data-dir", self.data_dir()]
        for a in analyzers:
            if isinstance(a, str):
                argv += ["--analyzer", a]
            else:
                aid, url, w = a
                argv += ["--analyzer", "id=%s,url=%s,weight=%s" % (aid, url, w)]
        return argv + [str(a) for a in args]

    def start_daemon(self, *args, analyzers=(), name="logdistd"):
        """analyzers: (id, url, weight) tuples or raw --analyzer specs."""
        argv = self.daemon_argv(*args, analyzers=analyzers)
        p = self.spawn(name, argv)
        line = p.first_line(dl(10))
        return Daemon(p, int(line["listening"].rsplit(":", 1)[1]), line)

    def gen_argv(self, daemon, count=None, duration=None, rate=None, packet_size=100, fmt=None,
                 use_gzip=False, connections=4, ids_out=None, prefix=None, extra=()):
        argv = [os.path.join(BIN, "logdist-gen"), "--url", daemon.logs_url, "--quiet",
                "--packet-size", str(packet_size), "--connections", str(connections)]
        if count is not None:
            argv += ["--count", str(count)]
        if duration is not None:
            argv += ["--duration", str(duration)]
        if rate is not None:
            argv += ["--rate", str(rate)]
        if fmt:
            argv += ["--format", fmt]
        if use_gzip:
            argv += ["--gzip"]
        if ids_out:
            argv += ["--ids-out", ids_out]
        argv += ["--id-prefix", prefix or self.unique("g")]
        return argv + list(extra)

    def start_gen(self, daemon, **kw):
        return self.spawn("gen", self.gen_argv(daemon, **kw))

    def finish_gen(self, p, timeout, expect_rc=0):
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.stop(5)
            self.fail("logdist-gen did not finish within %.1fs" % timeout)
        out = p.stdout_text().strip().splitlines()
        self.assertTrue(out, "gen printed no summary; stderr: %s" % p.stderr_text()[-2000:])
        summary = json.loads(out[-1])
        if expect_rc is not None:
            self.assertEqual(rc, expect_rc, "gen exit code; summary %s; stderr %s"
                             % (summary, p.stderr_text()[-2000:]))
        return summary

    def run_gen(self, daemon, timeout=None, expect_rc=0, **kw):
        p = self.start_gen(daemon, **kw)
        return self.finish_gen(p, timeout or dl(120), expect_rc)

    def recording_analyzer(self, status=200, script=None):
        s = RecordingAnalyzer(status, script)
        self.servers.append(s)
        return s

    def wait_quiet(self, d, analyzers, total, timeout=None):
        """Wait until the analyzers hold `total` records together and logdistd d has
        nothing queued or in flight; returns the metrics."""
        def done():
            if sum(a.records() for a in analyzers) < total:
                return False
            m = d.metrics()
            return m["queued_records"] == 0 and m["inflight_batches"] == 0 and m
        return wait_until(done, timeout or dl(30), "%d deliveries" % total, interval=0.1)

    # -- assertions
    def assertShare(self, actual, expected, tol, what=""):
        self.assertLessEqual(abs(actual - expected), tol,
                             "%s share %.5f, expected %.5f +- %.4f" % (what, actual, expected, tol))


# ---------------------------------------------------------------------------- in-process analyzer

class RecordingAnalyzer:
    """Threaded HTTP analyzer that keeps every POST raw: (path, headers, body).

    script: optional fn(n) -> (status, delay_s) for the n-th POST (0-based, in arrival
    order); the answer is sent after delay_s. spans: (start, end, status) of every
    POST, monotonic, end taken before the answer is written. max_active: the most
    POSTs it held at once. gate: when set to a threading.Semaphore, each POST waits
    for one release before it is answered (release_gate lets them through)."""

    def __init__(self, status=200, script=None):
        self.requests = []
        self.lock = threading.Lock()
        self.status = status
        self.script = script
        self.spans = []
        self.active = 0
        self.max_active = 0
        self.posts = 0
        self.gate = None
        self.stopping = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/health":
                    self._reply(200, b'{"status":"ok"}')
                else:
                    self._reply(404, b'{"error":"not_found"}')

            def do_POST(self):
                t0 = time.monotonic()
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if len(body) < n:
                    # the sender went away mid-body (logdistd killed -9): that batch was
                    # never delivered, and it is not answered or recorded
                    self.close_connection = True
                    return
                with outer.lock:
                    idx = outer.posts
                    outer.posts += 1
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                    gate = outer.gate
                status, delay = outer.script(idx) if outer.script else (outer.status, 0)
                if delay:
                    outer.stopping.wait(delay)
                if gate is not None:
                    while not gate.acquire(timeout=0.1) and not outer.stopping.is_set():
                        pass
                with outer.lock:
                    outer.active -= 1
                    outer.spans.append((t0, time.monotonic(), status))
                    outer.requests.append((self.command, self.path,
                                           {k.lower(): v for k, v in self.headers.items()}, body))
                self._reply(status, b'{"ok":true}' if status < 300 else b'{"error":"scripted"}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/ingest" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def release_gate(self, n=1):
        for _ in range(n):
            self.gate.release()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def split_batch_records(body):
    """Raw bytes of each record in a logdistd batch body
    {"packet_id":..,"agent_id":..,"messages":[r1,r2,...]} (split at depth 1 commas)."""
    start = body.index(b'"messages":[') + len(b'"messages":[')
    assert body.endswith(b"]}"), body[-20:]
    inner = body[start:-2]
    out, depth, in_str, esc, cur = [], 0, False, False, 0
    for i, ch in enumerate(inner):
        if in_str:
            if esc:
                esc = False
            elif ch == 0x5C:
                esc = True
            elif ch == 0x22:
                in_str = False
            continue
        if ch == 0x22:
            in_str = True
        elif ch in (0x7B, 0x5B):
            depth += 1
        elif ch in (0x7D, 0x5D):
            depth -= 1
        elif ch == 0x2C and depth == 0:
            out.append(inner[cur:i])
            cur = i + 1
    if inner:
        out.append(inner[cur:])
    return out


# ---------------------------------------------------------------------------- recorder subprocess

_ID_RE = re.compile(rb'"id":"([^"]*)"')


def recorder_main(argv):
    """Analyzer subprocess: POST /ingest appends the batch's record ids to --ids-file
    (os.write, before the 200 answer), GET /health, GET /stats {"records":N}."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--id", default="r1")
    ap.add_argument("--ids-file", required=True)
    a = ap.parse_args(argv)
    fd = os.open(a.ids_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    state = {"records": 0, "batches": 0}
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._reply(200, b'{"status":"ok"}')
            elif self.path == "/stats":
                with lock:
                    body = json.dumps(dict(state, id=a.id)).encode()
                self._reply(200, body)
            else:
                self._reply(404, b"{}")

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            ids = _ID_RE.findall(body)
            with lock:
                if ids:
                    data = b"\n".join(ids) + b"\n"
                    while data:
                        data = data[os.write(fd, data):]
                state["records"] += len(ids)
                state["batches"] += 1
            self._reply(200, b'{"ok":true}')

    class S(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 64

    httpd = S(("127.0.0.1", a.port), H)
    sys.stdout.write(json.dumps({"listening": "127.0.0.1:%d" % httpd.server_address[1],
                                 "id": a.id}) + "\n")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *x: os._exit(0))
    httpd.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "recorder":
        recorder_main(sys.argv[2:])
    else:
        sys.stderr.write("usage: harness.py recorder --port N --id ID --ids-file FILE\n")
        sys.exit(2)
