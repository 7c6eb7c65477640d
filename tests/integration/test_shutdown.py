"""Graceful shutdown: SIGTERM drains what was accepted; drain timeout.

While draining, logdistd keeps answering on connections already open: a packet
gets 503 shutting_down with Retry-After: 5, retry_after_s and Connection: close,
/health 503 {"status":"draining"}; at the drain timeout what is left, queued or
in flight, is counted in records_lost_at_shutdown (logged) and it exits 0.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, free_port, read_lines, scaled,  # noqa: E402
                     wait_until)
from http_raw import read_response  # noqa: E402


def send_request(sock, method, path, body=b"", ctype="application/json"):
    sock.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                  "Content-Length: %d\r\n\r\n" % (method, path, ctype, len(body))).encode()
                 + body)




class ShutdownTest(LogdistTestCase):

    def wait_exit(self, proc, timeout):
        t0 = time.monotonic()
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("%s did not exit within %.1fs of the signal" % (proc.name, timeout))
        return rc, time.monotonic() - t0

    def test_sigterm_under_load_delivers_everything_accepted(self):
        # slow analyzers, so that a backlog exists when the signal arrives
        ans = [self.start_analyzer("s%d" % i, "--latency-ms", "30") for i in (1, 2)]
        d = self.start_daemon("--drain-timeout-ms", "15000", "--max-inflight", "2",
                              analyzers=[(a.id, a.url, 1) for a in ans])
        h = d.req("GET", "/health")
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.json()["status"], "ok")
        ids = self.path("ids.txt")
        rate = scaled(60000, 10000)
        g = self.start_gen(d, rate=rate, duration=dl(30), ids_out=ids, connections=4)
        wait_until(lambda: d.metrics()["records_accepted"] >= 2 * rate, dl(30), "2 s of load")
        m = d.metrics()
        backlog = m["records_accepted"] - m["records_delivered"]
        d.proc.signal(signal.SIGTERM)
        rc, took = self.wait_exit(d.proc, dl(15) + 5)
        self.assertEqual(rc, 0, d.proc.stderr_text()[-2000:])
        # stop gen (its requests to the stopped daemon fail: exit code 1 is expected)
        g.signal(signal.SIGTERM)
        summary = self.finish_gen(g, dl(20), expect_rc=None)
        err = d.proc.stderr_text()
        self.assertRegex(err, r"signal 15: draining")
        mo = re.search(r"stopped; (\d+) records undelivered at exit", err)
        self.assertTrue(mo, err[-2000:])
        self.assertEqual(mo.group(1), "0", err[-2000:])
        sent = set(read_lines(ids))
        self.assertGreater(len(sent), 0)
        self.assertEqual(len(sent), summary["records_accepted"])
        union = set()
        for a in ans:
            union.update(a.ids())
        missing = sent - union
        self.assertFalse(missing, "%d accepted ids not delivered, e.g. %s" %
                         (len(missing), sorted(missing)[:5]))
        sys.stderr.write("\n  shutdown: backlog %d records at SIGTERM, exited after %.2fs\n"
                         % (backlog, took))

    def test_drain_timeout_when_analyzers_down(self):
        port = free_port()
        d = self.start_daemon("--drain-timeout-ms", "500",
                              analyzers=[("dn", "http://127.0.0.1:%d/ingest" % port, 1)])
        d.wait_state("dn", "down", dl(10))
        r = d.post_logs('{"messages":[{"id":"a"},{"id":"b"},{"id":"c"}]}')
        self.assertEqual(r.status, 202, r)
        self.assertEqual(d.metrics()["queued_records"], 3)
        d.proc.signal(signal.SIGTERM)
        rc, took = self.wait_exit(d.proc, dl(10))
        self.assertEqual(rc, 0)
        err = d.proc.stderr_text()
        self.assertIn("drain timeout: 3 records not delivered at shutdown", err)
        self.assertIn("stopped; 3 records undelivered at exit", err)

    def test_draining_answers_503_and_health_draining(self):
        """Connections open before SIGTERM are still answered while logdistd drains: a
        packet gets 503 shutting_down (Retry-After: 5, retry_after_s 5, Connection:
        close, then EOF), /health 503 draining, the rest of the API 503 too; the
        queued records are counted as lost at the drain timeout."""
        port = free_port()  # the analyzer is down: the drain lasts until its timeout
        d = self.start_daemon("--drain-timeout-ms", str(int(dl(4) * 1000)),
                              analyzers=[("dn", "http://127.0.0.1:%d/ingest" % port, 1)])
        d.wait_state("dn", "down", dl(10))
        socks = [socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
                 for _ in range(3)]
        ing, hc, adm = socks
        try:
            send_request(ing, "POST", "/api/v1/logs", b'[{"id":"d-1"},{"id":"d-2"}]')
            st, h, body = read_response(ing)
            self.assertEqual(st, 202, body)
            send_request(hc, "GET", "/health")
            st, h, body = read_response(hc)
            self.assertEqual(st, 200, body)
            send_request(adm, "GET", "/api/v1/metrics")
            self.assertEqual(read_response(adm)[0], 200)
            d.proc.signal(signal.SIGTERM)
            wait_until(lambda: "draining (up to" in d.proc.stderr_text(), dl(10),
                       "logdistd to start draining")
            self.assertTrue(d.proc.running(), "exited before the drain timeout")
            # /health on a kept-alive connection: 503 draining, with when to come back
            send_request(hc, "GET", "/health")
            st, h, body = read_response(hc)
            self.assertEqual(st, 503, body)
            j = json.loads(body)
            self.assertEqual(j["status"], "draining", j)
            self.assertEqual(j["retry_after_s"], 5, j)
            self.assertEqual(h.get("retry-after"), "5", h)
            # a packet: 503 shutting_down, Retry-After 5, Connection: close, then EOF
            send_request(ing, "POST", "/api/v1/logs", b'[{"id":"d-3"}]')
            st, h, body = read_response(ing)
            self.assertEqual(st, 503, body)
            j = json.loads(body)
            self.assertEqual(j["error"], "shutting_down", j)
            self.assertEqual(j["retry_after_s"], 5, j)
            self.assertEqual(h.get("retry-after"), "5", h)
            self.assertEqual(h.get("connection", "").lower(), "close", h)
            self.assertEqual(ing.recv(1), b"", "connection left open after 503 shutting_down")
            # the admin API does not call into the stopping delivery thread
            send_request(adm, "GET", "/api/v1/metrics")
            st, h, body = read_response(adm)
            self.assertEqual(st, 503, body)
            self.assertEqual(json.loads(body)["error"], "shutting_down", body)
            self.assertEqual(json.loads(body)["retry_after_s"], 5, body)
        finally:
            for sk in socks:
                sk.close()
        rc, _ = self.wait_exit(d.proc, dl(4) + dl(10))
        self.assertEqual(rc, 0)
        err = d.proc.stderr_text()
        self.assertIn("drain timeout: 2 records not delivered at shutdown", err)
        self.assertIn("stopped; 2 records undelivered at exit", err)

    def test_drain_timeout_counts_inflight_batches(self):
        """A batch in flight to an analyzer that does not answer before the drain
        timeout is cut at the timeout and its records are counted as lost, as well as
        the records still queued."""
        slow = self.start_analyzer("sl", "--latency-ms", "60000")
        d = self.start_daemon("--drain-timeout-ms", "1000", "--request-timeout-ms", "120000",
                              "--max-inflight", "1", "--batch-max-records", "3",
                              "--batch-linger-ms", "5", analyzers=[("sl", slow.url, 1)])
        d.wait_state("sl", "up", dl(10))
        r = d.post_logs('[{"id":"f-1"},{"id":"f-2"},{"id":"f-3"},{"id":"f-4"},{"id":"f-5"}]')
        self.assertEqual(r.status, 202, r)
        m = wait_until(lambda: (lambda m: m["inflight_batches"] >= 1 and m)(d.metrics()),
                       dl(10), "a batch in flight")
        self.assertEqual(m["records_delivered"], 0, m)
        d.proc.signal(signal.SIGTERM)
        rc, _ = self.wait_exit(d.proc, 1 + dl(10))
        self.assertEqual(rc, 0)
        err = d.proc.stderr_text()
        self.assertEqual(slow.records(), 0)  # nothing was acknowledged
        self.assertIn("drain timeout: 5 records not delivered at shutdown", err)
        self.assertIn("stopped; 5 records undelivered at exit", err)

    def test_sigint_idle_exits_zero_and_port_is_closed(self):
        a = self.start_analyzer("i1")
        d = self.start_daemon(analyzers=[("i1", a.url, 1)])
        r = d.post_logs('[{"id":"x"}]')
        self.assertEqual(r.status, 202)
        wait_until(lambda: a.records() == 1, dl(10), "record delivered")
        d.proc.signal(signal.SIGINT)
        rc, _ = self.wait_exit(d.proc, dl(10))
        self.assertEqual(rc, 0)
        self.assertIn("stopped; 0 records undelivered at exit", d.proc.stderr_text())
        with self.assertRaises(OSError):
            d.req("GET", "/health", timeout=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
