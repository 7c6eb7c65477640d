#!/usr/bin/env python3
"""bench/observe_load.py - the observers of bench/observe.sh (Python 3 stdlib only).

Each mode runs against logdistd at BASE (http://HOST:PORT) on keep-alive
connections until SIGTERM (or, for `burst`, N requests), then writes one JSON
summary line to OUT:

  scrape BASE RATE OUT      GET /metrics RATE times a second (fixed ticks);
                            also writes every latency (ms), one a line, to OUT.lat
  dash BASE TABS OUT        TABS threads ("open dashboard tabs"), each GETs
                            /api/v1/analyzers, /api/v1/metrics, /api/v1/deadletter,
                            /api/v1/history once a second
  reload BASE CFG OUT       once a second: rewrite CFG (JSON config) with the first
                            analyzer's weight flipped 1 <-> 2, POST /api/v1/reload
  reloads BASE N OUT        N reloads as in `reload`, back to back (CFG from $OBS_CFG)
  burst BASE N OUT          N GET /metrics back to back, one connection

Summary: {"mode", "requests", "errors", "bytes_min", "bytes_max", "seconds",
"p50_ms", "p99_ms", "max_ms"}; a non-2xx answer or transport error counts as an
error (the run goes on). Every wait is bounded (timeouts of 10 s).
"""
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

STOP = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: STOP.set())
signal.signal(signal.SIGINT, lambda *_: STOP.set())


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None):
        """Returns (status, body bytes, seconds); status 0 on a transport error."""
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request(method, path, body)
            r = self.conn.getresponse()
            data = r.read()
            return r.status, data, time.perf_counter() - t0
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, b"", time.perf_counter() - t0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat, self.sizes, self.errors = [], [], 0

    def add(self, status, data, sec):
        with self.lock:
            if 200 <= status < 300:
                self.lat.append(sec * 1000.0)
                self.sizes.append(len(data))
            else:
                self.errors += 1

    def summary(self, mode, seconds):
        lat = sorted(self.lat)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None

        return {"mode": mode, "requests": len(lat) + self.errors, "errors": self.errors,
                "bytes_min": min(self.sizes, default=0), "bytes_max": max(self.sizes, default=0),
                "seconds": round(seconds, 3), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "max_ms": round(lat[-1], 3) if lat else None}


def ticker(period, fn):
    """Calls fn() every `period` seconds on a fixed schedule until STOP (no catch-up burst)."""
    nxt = time.monotonic()
    while not STOP.is_set():
        fn()
        nxt += period
        delay = nxt - time.monotonic()
        if delay < 0:
            nxt = time.monotonic()
        elif STOP.wait(delay):
            break


def mode_scrape(base, rate, st):
    c = Client(base)
    ticker(1.0 / float(rate), lambda: st.add(*c.request("GET", "/metrics")))


def mode_dash(base, tabs, st):
    paths = ["/api/v1/analyzers", "/api/v1/metrics", "/api/v1/deadletter", "/api/v1/history"]

    def tab(i):
        c = Client(base)
        STOP.wait(i / float(tabs))  # tabs were not opened in the same millisecond
        ticker(1.0, lambda: [st.add(*c.request("GET", p)) for p in paths])

    ts = [threading.Thread(target=tab, args=(i,)) for i in range(int(tabs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def mode_reload(base, cfg, st, period=1.0, count=0):
    c = Client(base)

    def once():
        with open(cfg) as f:
            conf = json.load(f)
        conf["analyzers"][0]["weight"] = 2 if conf["analyzers"][0]["weight"] == 1 else 1
        tmp = cfg + ".tmp"
        with open(tmp, "w") as f:
            json.dump(conf, f)
        os.replace(tmp, cfg)
        status, data, sec = c.request("POST", "/api/v1/reload", b"")
        if status == 200:
            try:
                upd = json.loads(data)["analyzers"]["updated"]
            except (ValueError, KeyError, TypeError):
                upd = []
            if conf["analyzers"][0]["id"] not in upd:
                status = 599  # answered, but the weight change was not applied
        if status != 200:
            sys.stderr.write("reload: %d %r\n" % (status, data[:300]))
        st.add(status, data, sec)

    if period:
        ticker(period, once)
    else:
        for _ in range(int(count)):
            if STOP.is_set():
                break
            once()


def mode_reloads(base, n, st):
    mode_reload(base, os.environ["OBS_CFG"], st, period=0, count=n)


def mode_burst(base, n, st):
    c = Client(base)
    for _ in range(int(n)):
        if STOP.is_set():
            break
        st.add(*c.request("GET", "/metrics"))


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("scrape", "dash", "reload", "reloads", "burst"):
        sys.exit(__doc__)
    mode, base, arg, out = sys.argv[1:]
    st = Stats()
    t0 = time.monotonic()
    globals()["mode_" + mode](base, arg, st)
    secs = time.monotonic() - t0
    with open(out, "w") as f:
        f.write(json.dumps(st.summary(mode, secs)) + "\n")
    if mode == "scrape":
        with open(out + ".lat", "w") as f:
            f.writelines("%.3f\n" % x for x in st.lat)


if __name__ == "__main__":
    main()
