"""Structured logs (--log-format): every stderr line of a daemon run with
--log-format json parses as one JSON object with ts/level/event/module/msg; an
auth failure from a client port we chose is one auth_failed event with that
ip:port, the reason and the path/protocol, for the ingest, admin, OTLP,
Elasticsearch and forward listeners; a flood of failures is rate-limited (the
metrics still count every one, a later line carries `suppressed`); an analyzer
going down is an analyzer_down event; and no credential used in the run (the
tokens, their hashes, the Basic/ApiKey credentials, the forward shared key)
appears anywhere in stderr - in the JSON format and in the text format."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (REPO, LogdistTestCase, dl, hash_token, http_request,  # noqa: E402
                     wait_until)

INGEST = "inGst7Qx4b9ZpL2mN8vR1sT6uW0yA3cD"
ADMIN = "adMin5Wq2ZpL7mN4vR8sT1uX5yB9eFgH"
WRONG = "wr0ngTk8Lq3ZpX7mN4vR8sT1uY5yB2kJ"   # looks like a token, is none of ours
FWD_KEY = "fwdSh4redK3y-9cWq2ZpL7mN4vR8sT1"
FWD_WRONG = "fwdWr0ngK3y-4b9Qx7ZpL2mN8vR1sT6"
CLIENT = os.path.join(HERE, "clients", "forward_client.js")
NODE = shutil.which("node")
NODE_MODULES = os.path.join(REPO, "tests", "node", "node_modules")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BODY = b'{"id":"x1","level":"INFO","msg":"hello"}\n'


def from_port(port, method, path, headers, body=b""):
    """One HTTP request from a client socket bound to a port we know; returns
    (status, our port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(dl(10))
    s.bind(("127.0.0.1", 0))
    mine = s.getsockname()[1]
    s.connect(("127.0.0.1", port))
    head = "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        method, path, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    s.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1]), mine


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


class LogsTest(LogdistTestCase):

    def secrets(self):
        """Every credential string of the run, and the forms it could leak in."""
        out = [INGEST, ADMIN, WRONG, FWD_KEY, FWD_WRONG, self.h_ingest, self.h_admin]
        out += [h.split("$")[2] for h in (self.h_ingest, self.h_admin)]  # the digests alone
        for pw in (INGEST, WRONG):
            out.append(basic("agent-7", pw)[6:])
            out.append(base64.b64encode(pw.encode()).decode())
        return out

    def run_daemon(self, fmt, with_forward):
        self.h_ingest, self.h_admin = hash_token(INGEST), hash_token(ADMIN)
        a1 = self.start_analyzer("a1")
        extra = ["--forward-listen", "127.0.0.1:0", "--forward-shared-key", FWD_KEY] \
            if with_forward else []
        d = self.start_daemon("--log-format", fmt, "--health-interval-ms", "100",
                              "--token", "role=ingest,hash=" + self.h_ingest,
                              "--token", "role=admin+read,hash=" + self.h_admin,
                              "--otlp-listen", "127.0.0.1:0",
                              "--elasticsearch-listen", "127.0.0.1:0", *extra,
                              analyzers=[("a1", "http://127.0.0.1:%d" % a1.port, 1)])
        return d, a1

    def drive(self, d, a1, with_forward):
        """Failures and successes on every listener; returns the expected
        auth_failed events as (our port, reason, path or protocol)."""
        port = d.port
        otlp = int(d.line["otlp"].rsplit(":", 1)[1])
        es = int(d.line["elasticsearch"].rsplit(":", 1)[1])
        want = []
        cases = [
            (port, "POST", "/api/v1/logs", {"Authorization": "Bearer " + WRONG}, 401, "invalid"),
            (port, "POST", "/api/v1/logs?token=" + WRONG, {}, 401, "missing"),
            (port, "GET", "/api/v1/analyzers", {"Authorization": "Bearer " + INGEST}, 403, "role"),
            (otlp, "POST", "/v1/logs", {"Authorization": "Bearer " + WRONG,
                                        "Content-Type": "application/json"}, 401, "invalid"),
            (es, "POST", "/_bulk", {"Authorization": basic("agent-7", WRONG)}, 401, "invalid"),
            (es, "POST", "/_bulk", {"Authorization": "ApiKey " + WRONG}, 401, "invalid"),
        ]
        for p, method, path, headers, status, reason in cases:
            got, mine = from_port(p, method, path, headers, BODY)
            self.assertEqual(got, status, (path, headers))
            want.append((mine, reason, path.split("?")[0], status))
            time.sleep(0.11)  # stay under the log's rate limit: each failure is one line
        # successes with the same credentials' right values
        r = d.post_logs(BODY, ctype="application/x-ndjson",
                        headers={"Authorization": "Bearer " + INGEST})
        self.assertEqual(r.status, 202, r.body)
        r = http_request(port, "GET", "/api/v1/analyzers",
                         headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(r.status, 200, r.body)
        r = http_request(es, "POST", "/_bulk", b'{"index":{}}\n{"message":"m"}\n',
                         headers={"Authorization": basic("agent-7", INGEST),
                                  "Content-Type": "application/x-ndjson"})
        self.assertEqual(r.status, 200, r.body)
        if with_forward:
            self.forward_wrong_key(d)
        a1.proc.stop()  # analyzer down
        wait_until(lambda: self.admin_state(d) == "down", dl(15), "a1 down")
        return want

    def admin_state(self, d):
        r = http_request(d.port, "GET", "/api/v1/analyzers/a1",
                         headers={"Authorization": "Bearer " + ADMIN})
        return r.json().get("state") if r.status == 200 else None

    def forward_wrong_key(self, d):
        import subprocess
        fport = int(d.line["forward"].rsplit(":", 1)[1])
        cfg = {"mode": "logger", "port": fport, "count": 2, "sharedKey": FWD_WRONG,
               "idPrefix": "bad", "seconds": 3, "noReconnect": True}
        p = subprocess.run([NODE, CLIENT, json.dumps(cfg)], capture_output=True,
                           timeout=dl(60))
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])

    def stop(self, d):
        d.proc.signal(signal.SIGTERM)
        d.proc.wait(dl(30))
        return d.proc.stderr_text()

    def assertNoSecrets(self, text):
        for s in self.secrets():
            self.assertNotIn(s, text, "a credential appears in stderr")

    def test_json_format(self):
        forward = bool(NODE and os.path.isdir(os.path.join(NODE_MODULES, "fluent-logger")))
        if not forward:
            self.fail("node and tests/node/node_modules (fluent-logger) are required: "
                      "run scripts/setup-deps.sh")
        d, a1 = self.run_daemon("json", True)
        want = self.drive(d, a1, True)
        err = self.stop(d)
        self.assertNoSecrets(err)
        events = []
        for n, line in enumerate(err.splitlines()):
            try:
                o = json.loads(line)
            except ValueError:
                self.fail("stderr line %d is not JSON: %r" % (n, line))
            for k in ("ts", "level", "event", "module", "msg"):
                self.assertIn(k, o, line)
            self.assertRegex(o["ts"], TS)
            self.assertIn(o["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(o["event"], r"^[a-z][a-z0-9_]*$")
            events.append(o)
        fails = [e for e in events if e["event"] == "auth_failed"]
        for mine, reason, path, status in want:
            match = [e for e in fails if e["client"] == "127.0.0.1:%d" % mine]
            self.assertEqual(len(match), 1, (mine, fails))
            e = match[0]
            self.assertEqual(e["reason"], reason, e)
            self.assertEqual(e["status"], status, e)
            self.assertIsInstance(e["status"], int)
            self.assertEqual(e["path"], path, e)
            self.assertEqual(e["level"], "warn")
        protos = {e["protocol"] for e in fails}
        self.assertEqual(protos, {"http", "elasticsearch", "forward"}, fails)
        fwd = [e for e in fails if e["protocol"] == "forward"]
        self.assertTrue(fwd[0]["client"].startswith("127.0.0.1:"), fwd)
        self.assertNotIn("path", fwd[0])
        names = [e["event"] for e in events]
        for ev in ("listening", "analyzer_down", "draining", "stopped"):
            self.assertIn(ev, names)
        down = [e for e in events if e["event"] == "analyzer_down"][0]
        self.assertEqual(down["analyzer"], "a1")
        lst = [e for e in events if e["event"] == "listening" and e["module"] == "logdistd"][0]
        self.assertEqual(lst["port"], d.port)
        self.assertIs(lst["auth"], True)

    def test_flood_is_rate_limited(self):
        """N bad requests in a burst: every one counted in metrics, at most 10
        auth_failed lines per second of the burst, and the next line after it
        carries how many were suppressed."""
        d, _ = self.run_daemon("json", False)
        n = 150
        t0 = time.monotonic()
        for _ in range(n):
            r = http_request(d.port, "POST", "/api/v1/logs", BODY,
                             headers={"Authorization": "Bearer " + WRONG})
            self.assertEqual(r.status, 401)
        elapsed = time.monotonic() - t0
        m = http_request(d.port, "GET", "/api/v1/metrics",
                         headers={"Authorization": "Bearer " + ADMIN}).json()
        self.assertEqual(m["auth_failures"]["invalid_token"], n)

        def lines():
            return [json.loads(x) for x in d.proc.stderr_text().splitlines()
                    if '"auth_failed"' in x]
        # a line may reach stderr just after its 401 went out: count once it is still
        seen = {"n": -1}

        def settled():
            n_now = len(lines())
            done, seen["n"] = n_now == seen["n"], n_now
            return done
        wait_until(settled, dl(10), "auth_failed lines settled", interval=0.3)
        burst = seen["n"]
        self.assertLessEqual(burst, 10 * (int(elapsed) + 2))
        self.assertLess(burst, n)
        # a failure in a later second is logged with the count of those not logged
        time.sleep(1.1)
        http_request(d.port, "POST", "/api/v1/logs", BODY,
                     headers={"Authorization": "Bearer " + WRONG})
        last = wait_until(lambda: len(lines()) > burst and lines()[-1], dl(10), "next line")
        self.assertGreater(last["suppressed"], 0)
        # every failure not logged is reported once: by the first line of the next
        # second (the burst may span a second boundary) or by this one
        self.assertEqual(sum(e.get("suppressed", 0) for e in lines()), n - burst)
        self.assertNoSecrets(self.stop(d))

    def test_text_format(self):
        d, a1 = self.run_daemon("text", False)
        want = self.drive(d, a1, False)
        err = self.stop(d)
        self.assertNoSecrets(err)
        for line in err.splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO |WARN |ERROR) \S+: ")
            self.assertFalse(line.lstrip().startswith("{"), line)
        for mine, reason, path, status in want:
            hits = [x for x in err.splitlines() if "client=127.0.0.1:%d " % mine in x]
            self.assertEqual(len(hits), 1, (mine, err[-3000:]))
            self.assertIn(" reason=%s " % reason, hits[0])
            self.assertIn(" path=%s" % path, hits[0])
            self.assertIn("auth: %d " % status, hits[0])
        self.assertIn("analyzer a1 is down", err)


if __name__ == "__main__":
    unittest.main()
