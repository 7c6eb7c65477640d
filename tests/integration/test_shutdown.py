"""Graceful shutdown: SIGTERM drains what was accepted; drain timeout."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, free_port, read_lines, scaled,  # noqa: E402
                     wait_until)


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
