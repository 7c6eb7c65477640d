"""The live dashboard (GET / on the admin listener) in headless Chromium.

tests/node/dashboard_driver.js (playwright-core driving /usr/bin/chromium) is run
as a child and given one command per line; this test checks what the page shows
against the API:

- the page and its assets are served without a token, with their Content-Type,
  Cache-Control: no-store, the CSP and the framing/sniffing headers; anything else
  on those paths (and every other path) still needs the token;
- auth on (tokens admin/read/ingest, --admin-listen): the page asks for a token,
  then shows per analyzer exactly what GET /api/v1/analyzers says (weights,
  target shares, actual shares, state, breaker, latency, queue, delivered, last
  error; effective_weight and actual_share_10s when the API has them, a dash
  otherwise), the overall totals, refusals by reason and dead letters of
  /api/v1/metrics and /api/v1/deadletter, and a chart with points from
  /api/v1/history;
- actions from the page: re-weight, drain / undrain, remove (with the
  confirmation), each verified through the API; a read-only token's action shows
  the API's 403;
- auth off: the page works without a token.

A screenshot goes to the test's temp dir, and to docs/dashboard.png when
LOGDIST_SCREENSHOT=1 is set (so a test run leaves the tree clean). Chromium or playwright-core missing is a
failure, never a skip. Every wait is bounded; the driver (and the Chromium it
started) are stopped by pid.
"""
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import threading
import time
import unittest

from harness import REPO, LogdistTestCase, dl, hash_token, http_request, wait_until

CHROMIUM = "/usr/bin/chromium"
NODE_DIR = os.path.join(REPO, "tests", "node")
DRIVER = os.path.join(NODE_DIR, "dashboard_driver.js")
DOC_SCREENSHOT = os.path.join(REPO, "docs", "dashboard.png")
AN = "/api/v1/analyzers"
CSP_PARTS = ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'")
# network errors Chromium logs for the API answers this test provokes on purpose
EXPECTED_CONSOLE = ("Failed to load resource: the server responded with a status of 401",
                    "Failed to load resource: the server responded with a status of 403",
                    "Failed to load resource: the server responded with a status of 400",
                    # the refused removal of an analyzer a route names
                    "Failed to load resource: the server responded with a status of 409")


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def packet(tag, n):
    return {"packet_id": tag, "messages": [{"id": "%s-%d" % (tag, i), "level": "INFO",
                                            "message": "hello %d" % i} for i in range(n)]}


class Driver:
    """The node driver: one JSON command per line in, one JSON answer per line out."""

    def __init__(self, tc):
        self.tc = tc
        self.lines = queue.Queue()
        self.err_path = tc.path("driver.stderr")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(["node", DRIVER, CHROMIUM], cwd=NODE_DIR,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._err, close_fds=True)
        self.browser_pid = 0
        threading.Thread(target=self._pump, daemon=True).start()
        hello = self._next(dl(60))
        if not hello.get("ready"):
            tc.fail("dashboard driver did not start Chromium: %s" % hello)
        self.browser_pid = hello["browser_pid"]

    def _pump(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.tc.fail("dashboard driver: no answer within %.0fs; stderr: %s"
                         % (timeout, self.stderr()[-2000:]))
        if line is None:
            self.tc.fail("dashboard driver exited; stderr: %s" % self.stderr()[-3000:])
        return json.loads(line)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call(self, cmd, timeout_s=15, **kw):
        kw.update(cmd=cmd, timeout_ms=int(dl(timeout_s) * 1000))
        self.p.stdin.write((json.dumps(kw) + "\n").encode())
        self.p.stdin.flush()
        r = self._next(dl(timeout_s) + 10)
        if not r.get("ok"):
            self.tc.fail("dashboard driver %s failed: %s" % (cmd, r.get("error")))
        return r

    def close(self):
        """quit, then (if still there) SIGKILL the driver and its Chromium by pid."""
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b'{"cmd":"quit"}\n')
                self.p.stdin.flush()
                self.p.wait(dl(15))
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        if self.browser_pid:
            try:  # Playwright starts Chromium as the leader of its own process group
                if os.getpgid(self.browser_pid) == self.browser_pid:
                    os.killpg(self.browser_pid, signal.SIGKILL)
                else:
                    os.kill(self.browser_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self.p.stdin, self.p.stdout, self._err):
            try:
                f.close()
            except OSError:
                pass


class DashboardTest(LogdistTestCase):
    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "2000"}

    def setUp(self):
        super().setUp()
        if not os.access(CHROMIUM, os.X_OK):
            self.fail("%s not found: install the Debian package chromium "
                      "(scripts/setup-deps.sh)" % CHROMIUM)
        if not shutil.which("node"):
            self.fail("node is not installed (scripts/setup-deps.sh)")
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "playwright-core")):
            self.fail("tests/node/node_modules/playwright-core missing (scripts/setup-deps.sh)")

    def driver(self):
        d = Driver(self)
        self.addCleanup(d.close)
        return d

    # ---- checks

    def check_static(self, port):
        """The page's files: no token, their headers; other methods need the token."""
        for path, ctype in (("/", "text/html"), ("/dashboard.js", "text/javascript"),
                            ("/cluster.js", "text/javascript"),
                            ("/dashboard.css", "text/css"), ("/favicon.svg", "image/svg+xml")):
            for method in ("GET", "HEAD"):
                r = http_request(port, method, path)
                self.assertEqual(r.status, 200, (method, path, r))
                h = {k.lower(): v for k, v in r.headers.items()}
                self.assertTrue(h["content-type"].startswith(ctype), (path, h))
                self.assertEqual(h["cache-control"], "no-store", path)
                self.assertEqual(h["x-content-type-options"], "nosniff", path)
                self.assertEqual(h["x-frame-options"], "DENY", path)
                for part in CSP_PARTS:
                    self.assertIn(part, h["content-security-policy"], path)
                self.assertNotIn("unsafe-inline", h["content-security-policy"])
                if method == "HEAD":
                    self.assertEqual(r.body, b"", path)
                else:
                    self.assertGreater(len(r.body), 100, path)
        page = http_request(port, "GET", "/?x=1").body.decode()
        self.assertIn('<script src="/dashboard.js"', page)
        self.assertIn('<script src="/cluster.js"', page)
        self.assertNotIn("<script>", page)  # no inline script
        self.assertNotIn("style=", page)    # no inline style

    def check_view(self, view, api, deadletter, metrics, before=None):
        """What the page shows = what the API said (`api`, read after the page;
        the fields that move with time may match `before`, read before it)."""
        rows = view["rows"]
        earlier = {a["id"]: a for a in (before or api)["analyzers"]}
        self.assertEqual(sorted(rows), sorted(a["id"] for a in api["analyzers"]), view)
        for a in api["analyzers"]:
            r = rows[a["id"]]
            what = "%s: page %s, API %s" % (a["id"], r, a)
            self.assertEqual(float(r["weight"]), a["weight"], what)
            self.assertEqual(float(r["target_share"]), a["target_share"], what)
            self.assertAlmostEqual(float(r["actual_share"]), a["actual_share"], 6, what)
            self.assertEqual(int(r["records_delivered"]), a["records_delivered"], what)
            self.assertEqual(int(r["queued_records"]), a["queued_records"], what)
            self.assertEqual(int(r["queue_bytes"]), a["queue_bytes"], what)
            self.assertEqual(int(r["inflight_batches"]), a["inflight_batches"], what)
            self.assertEqual(r["state"], a["state"], what)
            self.assertEqual(r["breaker"], a["breaker"], what)
            self.assertEqual(r["last_error"], a["last_error"], what)
            self.assertAlmostEqual(float(r["latency_ms"]), a["latency_ms"], 3, what)
            self.assertTrue(r["target_share_text"].endswith("%"), what)
            for f, tol in (("effective_weight", 1e-6), ("actual_share_10s", 0.02)):
                # another branch adds these fields: a dash until then
                seen = [x.get(f) for x in (a, earlier.get(a["id"], a))]
                if r[f] == "":
                    self.assertIn(None, seen, what)
                    self.assertEqual(r[f + "_text"], "\u2013", what)
                else:
                    self.assertTrue(any(v is not None and abs(float(r[f]) - v) <= tol
                                        for v in seen), (f, what))
        o = view["overall"]
        self.assertEqual(int(o["total-accepted"]), metrics["records_accepted"], o)
        self.assertEqual(int(o["total-delivered"]), metrics["records_delivered"], o)
        self.assertEqual(int(o["total-queued"]), metrics["queued_records"], o)
        self.assertEqual(int(o["dl-records"]), deadletter["records"], o)
        self.assertEqual(int(o["dl-bytes"]), deadletter["bytes"], o)
        want = {k: str(v) for k, v in metrics["packets_rejected_by_reason"].items() if v}
        self.assertEqual(view["refusals"], want)

    def check_routes(self, view, api):
        """The routes table: one row per route and analyzer, as GET /api/v1/routes."""
        want = [(r["name"], m["analyzer"], m) for r in api["routes"] for m in r["members"]]
        got = view["routes"]
        self.assertEqual([(g["route"], g["analyzer"]) for g in got],
                         [(n, a) for n, a, _ in want], view["routes"])
        for g, (name, aid, m) in zip(got, want):
            what = "%s/%s: page %s, API %s" % (name, aid, g, m)
            self.assertEqual(float(g["weight"]), m["weight"], what)
            self.assertEqual(float(g["target_share"]), m["target_share"], what)
            self.assertAlmostEqual(float(g["actual_share"]), m["actual_share"], 6, what)
            self.assertEqual(int(g["routed"]), m["routed"], what)

    def check_console(self, view):
        bad = [e for e in view["errors"] if not e.startswith(EXPECTED_CONSOLE)]
        self.assertEqual(bad, [], "console errors (a CSP violation is one)")

    def api_weight(self, port, tok, aid):
        r = http_request(port, "GET", AN + "/" + aid, headers=bearer(tok))
        self.assertEqual(r.status, 200, r)
        return r.json()["weight"]

    # ---- the tests

    def test_auth_on(self):
        toks = {k: secrets.token_hex(16) for k in ("admin", "read", "ingest")}
        a1, a2 = self.start_analyzer("a1"), self.start_analyzer("a2")
        args = ["--admin-listen", "127.0.0.1:0"]
        for role, tok in toks.items():
            args += ["--token", "role=%s,hash=%s" % (role, hash_token(tok))]
        d = self.start_daemon(*args, analyzers=[("a1", a1.url, 1),
                                                ("a2", a2.url, 3)])
        admin = int(d.line["admin"].rsplit(":", 1)[1])
        A, R = bearer(toks["admin"]), bearer(toks["read"])

        def api(path):
            r = http_request(admin, "GET", path, headers=R)
            self.assertEqual(r.status, 200, (path, r))
            return r.json()

        self.check_static(admin)
        # everything but the page's files still needs the token
        self.assertEqual(http_request(admin, "GET", "/api/v1/history").status, 401)
        self.assertEqual(http_request(admin, "POST", "/", {}).status, 401)
        self.assertEqual(http_request(admin, "GET", "/index.html").status, 401)
        self.assertEqual(http_request(admin, "POST", "/dashboard.js", {}, headers=A).status, 405)

        # a copy route (shown in the routes table), created before any traffic
        r = http_request(admin, "POST", "/api/v1/routes",
                         {"name": "tap", "copy": True, "match": {"level": "NOPE"},
                          "analyzers": {"a1": 2, "a2": 1}}, headers=A)
        self.assertEqual(r.status, 201, r)

        # traffic (1:3) over a few seconds (so the chart has a shape), one refused
        # packet, then wait until all is delivered and the history has sampled the end
        total = 0
        for i in range(40):
            r = d.post_logs(packet("p%d" % i, 50 + 5 * (i % 20)), headers=bearer(toks["ingest"]))
            self.assertEqual(r.status, 202, r)
            total += 50 + 5 * (i % 20)
            time.sleep(0.1)  # pacing only: nothing is asserted about time
        r = d.post_logs(b'{"messages": [', headers=bearer(toks["ingest"]))
        self.assertEqual(r.status, 400, r)
        wait_until(lambda: api("/api/v1/metrics")["records_delivered"] == total, dl(30),
                   "all records delivered")

        def sampled():
            last = api("/api/v1/history")["samples"][-1]
            return last["records_delivered"] == total and last["packets_rejected"] == 1
        wait_until(sampled, dl(10), "history sampled the delivered and the refused records")
        hist = api("/api/v1/history")
        self.assertEqual(hist["interval_ms"], 1000)
        self.assertGreaterEqual(len(hist["samples"]), 2, hist)
        self.assertEqual(hist["samples"][-1]["records_accepted"], total)
        self.assertEqual(hist["samples"][-1]["packets_rejected"], 1)

        drv = self.driver()
        url = "http://127.0.0.1:%d/" % admin
        r = drv.call("open", page="adm", url=url)
        self.assertEqual(r["http_status"], 200)
        self.assertEqual(r["state"], "auth", r)  # 401: the token form
        self.assertTrue(r["auth_visible"], r)
        drv.call("token", page="adm", token=toks["admin"])

        # stable numbers (traffic stopped): the page shows what the API says
        before = api(AN)
        view = drv.call("read", page="adm", fresh=2)
        self.check_view(view, api(AN), api("/api/v1/deadletter"), api("/api/v1/metrics"),
                        before)
        self.check_routes(view, api("/api/v1/routes"))
        shares = {k: float(v["actual_share"]) for k, v in view["rows"].items()}
        # SWRR keeps every prefix of the stream within 2 records of the weights
        self.assertAlmostEqual(shares["a1"], 0.25, delta=2 / total, msg=view["rows"])
        self.assertAlmostEqual(shares["a2"], 0.75, delta=2 / total, msg=view["rows"])
        self.assertGreaterEqual(view["chart_points"], len(hist["samples"]) - 1, view)
        self.assertEqual(view["chart_in_points"], view["chart_points"], view)
        self.assertEqual(view["refusals"].get("bad_json"), "1", view["refusals"])
        shot = (DOC_SCREENSHOT if os.environ.get("LOGDIST_SCREENSHOT") == "1"
                else self.path("dashboard.png"))
        drv.call("screenshot", page="adm", path=shot)
        self.assertGreater(os.path.getsize(shot), 10000)

        # re-weight from the page
        r = drv.call("weight", page="adm", id="a1", value=2)
        self.assertEqual(r["result"], "ok", r)
        wait_until(lambda: self.api_weight(admin, toks["read"], "a1") == 2, dl(5), "a1 weight 2")
        view = drv.call("read", page="adm", fresh=2)
        self.assertEqual(view["rows"]["a1"]["weight"], "2", view["rows"]["a1"])
        self.assertEqual(float(view["rows"]["a1"]["target_share"]), 0.4)

        # a read-only token: the page shows the numbers, its actions the API's 403
        drv.call("open", page="ro", url=url)
        drv.call("token", page="ro", token=toks["read"])
        ro = drv.call("read", page="ro", fresh=1)
        self.assertEqual(sorted(ro["rows"]), ["a1", "a2"])
        for cmd, kw in (("weight", {"value": 7}), ("drain", {}), ("remove", {})):
            r = drv.call(cmd, page="ro", id="a1", **kw)
            self.assertEqual(r["result"], "error", (cmd, r))
            self.assertEqual(r["status"], 403, (cmd, r))
            self.assertIn("403", r["message"], r)
            self.assertIn("forbidden", r["message"], r)
        self.assertEqual(self.api_weight(admin, toks["read"], "a1"), 2)
        self.assertEqual(sorted(a["id"] for a in api(AN)["analyzers"]), ["a1", "a2"])
        self.check_console(drv.call("read", page="ro", fresh=0))

        # drain and undrain a2 ({"drained"} when the API has it, else weight 0)
        r = drv.call("drain", page="adm", id="a2")
        self.assertEqual(r["result"], "ok", r)

        def drained():
            a = api(AN + "/a2")
            return a["drained"] is True if "drained" in a else a["weight"] == 0
        wait_until(drained, dl(5), "a2 drained")
        view = drv.call("read", page="adm", fresh=2)
        self.assertEqual(view["rows"]["a2"]["drained"], "true", view["rows"]["a2"])
        self.assertEqual(view["rows"]["a2"]["drain_label"], "Undrain")
        r = drv.call("drain", page="adm", id="a2")
        self.assertEqual(r["result"], "ok", r)

        def undrained():
            a = api(AN + "/a2")
            return (a["drained"] is False if "drained" in a else True) and a["weight"] == 3
        wait_until(undrained, dl(5), "a2 undrained with weight 3")
        view = drv.call("read", page="adm", fresh=2)
        self.assertEqual(view["rows"]["a2"]["drained"], "false", view["rows"]["a2"])

        # remove a2 (the page asks first): refused while the "tap" route names it, the
        # API's reason shown; then the route goes and the removal works
        r = drv.call("remove", page="adm", id="a2")
        self.assertEqual(r["result"], "error", r)
        self.assertIn('route "tap" names this analyzer', r["message"], r)
        self.assertEqual(http_request(admin, "DELETE", "/api/v1/routes/tap", headers=A).status, 200)
        r = drv.call("remove", page="adm", id="a2")
        self.assertEqual(r["result"], "ok", r)
        self.assertIn("a2", r["confirm"])
        self.assertEqual([a["id"] for a in api(AN)["analyzers"]], ["a1"])
        before = api(AN)
        view = drv.call("read", page="adm", fresh=2)
        self.assertEqual(sorted(view["rows"]), ["a1"], view["rows"])
        self.check_view(view, api(AN), api("/api/v1/deadletter"), api("/api/v1/metrics"),
                        before)
        self.check_console(view)

    def test_auth_off(self):
        a1 = self.start_analyzer("a1")
        d = self.start_daemon(analyzers=[("a1", a1.url, 2)])
        self.check_static(d.port)
        self.assertEqual(d.post_logs(packet("q", 50)).status, 202)
        d.wait_all_delivered(dl(30), expect_accepted=50)
        drv = self.driver()
        r = drv.call("open", page="p", url="http://127.0.0.1:%d/" % d.port)
        self.assertEqual(r["state"], "ok", r)  # no token form
        self.assertFalse(r["auth_visible"], r)
        before = d.req("GET", AN).json()
        view = drv.call("read", page="p", fresh=2)
        self.check_view(view, d.req("GET", AN).json(), d.req("GET", "/api/v1/deadletter").json(),
                        d.metrics(), before)
        r = drv.call("weight", page="p", id="a1", value=5)
        self.assertEqual(r["result"], "ok", r)
        wait_until(lambda: d.analyzer("a1")["weight"] == 5, dl(5), "a1 weight 5")
        # a bad weight is refused by the page before any request
        r = drv.call("weight", page="p", id="a1", value=-1)
        self.assertEqual(r["result"], "error", r)
        self.assertEqual(d.analyzer("a1")["weight"], 5)
        self.check_console(drv.call("read", page="p", fresh=1))


if __name__ == "__main__":
    unittest.main()
