"""Failover: kill -9 under load, all analyzers down, queue budget exhaustion."""
import os
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, free_port, read_lines, scaled,  # noqa: E402
                     wait_until)

AN = "/api/v1/analyzers"


class KillNineTest(LogdistTestCase):

    def test_kill9_under_load(self):
        """4 analyzers 0.4/0.3/0.2/0.1; the 0.3 one is killed with SIGKILL under load,
        restarted on the same port 2 s later. The killed one is a recorder subprocess
        (harness.py recorder) that writes the ids of a batch to a file before it answers
        200, so what it acknowledged before dying is known exactly."""
        others = [self.start_analyzer(aid) for aid in ("k40", "k20", "k10")]
        weights = {"k40": 0.4, "k20": 0.2, "k10": 0.1, "k30": 0.3}
        rec_ids = self.path("k30.ids")
        k30 = self.start_recorder("k30", rec_ids)
        d = self.start_daemon("--health-timeout-ms", "1000", analyzers=[
            ("k40", others[0].url, 0.4), ("k30", k30.url, 0.3), ("k20", others[1].url, 0.2),
            ("k10", others[2].url, 0.1)])
        rate = scaled(100000, 20000)
        ids = self.path("ids.txt")
        # gen runs until stopped below (a fixed duration may end before the down period
        # on a busy machine)
        g = self.start_gen(d, rate=rate, duration=int(dl(120)), ids_out=ids, connections=4)

        # ~2 s in: kill -9 the 0.3 analyzer
        wait_until(lambda: d.metrics()["records_routed"] >= 2 * rate, dl(30), "2 s of load")
        self.assertGreater(k30.records(), 0)
        k30.proc.kill()
        t_kill = time.monotonic()
        d.wait_state("k30", "down", dl(10))
        self.assertFalse(d.analyzer("k30")["healthy"])
        down_after = time.monotonic() - t_kill
        # let the batches that were queued for / in flight to k30 (evacuated to the
        # others in whole batches) drain, so the window below sees the steady state
        last = [-1]

        def redistribution_stopped():
            n, last[0] = last[0], d.metrics()["records_redistributed"]
            return n == last[0]
        wait_until(redistribution_stopped, dl(10), "redistribution to stop", interval=0.3)
        vt = d.analyzers()
        assigned = {a.id: vt[a.id]["records_routed"] + vt[a.id]["records_redistributed_in"]
                    for a in others}

        def settled():
            v = d.analyzers()
            return all(v[k]["records_delivered"] >= n for k, n in assigned.items())
        wait_until(settled, dl(10), "records assigned before the window delivered",
                   interval=0.05)
        v0 = d.analyzers()
        s0 = {a.id: a.records() for a in others}
        routed0 = v0["k30"]["records_routed"]
        time.sleep(2.0)  # the down period (the scenario, not a wait for a condition)
        s1 = {a.id: a.records() for a in others}
        v1 = d.analyzers()
        self.assertEqual(d.analyzer("k30")["state"], "down")
        self.assertEqual(d.analyzer("k30")["records_routed"], routed0,
                         "nothing is routed to a down analyzer")
        delta = {k: s1[k] - s0[k] for k in s0}
        tot = sum(delta.values())
        # enough records in the window for the tolerances below: a floor, not a
        # throughput bound
        self.assertGreaterEqual(tot, 1000, "records delivered while k30 was down: %s" % delta)
        wsum = sum(weights[k] for k in delta)
        redis = {a.id: v1[a.id]["records_redistributed_in"] - v0[a.id]["records_redistributed_in"]
                 for a in others}
        sys.stderr.write("\n  window: delivered %s routed %s redistributed-in %s\n" % (
            delta, {a.id: v1[a.id]["records_routed"] - v0[a.id]["records_routed"] for a in others},
            redis))
        for k, v in delta.items():
            self.assertShare(v / tot, weights[k] / wsum, 0.02, "%s while k30 down" % k)
        # routing decisions in the window (logdistd's own counters) are exact
        rdelta = {a.id: v1[a.id]["records_routed"] - v0[a.id]["records_routed"] for a in others}
        rtot = sum(rdelta.values())
        for k, v in rdelta.items():
            self.assertShare(v / rtot, weights[k] / wsum, 0.01, "%s routed while k30 down" % k)

        # restart on the same port. A failure to come back is recorded as a sub-test
        # failure and the loss checks below still run.
        k30b = self.start_recorder("k30", rec_ids, port=k30.port)
        t_restart = time.monotonic()
        up_after = None
        with self.subTest("restarted analyzer is up again and receives records"):
            d.wait_state("k30", "up", dl(10))
            up_after = time.monotonic() - t_restart

            # it receives records again (if gen already ended, send a few more)
            def got_records():
                return k30b.records() > 0 or not g.running()
            wait_until(got_records, dl(20), "records at the restarted analyzer")
        g.signal(signal.SIGTERM)  # the load ends here
        gen_summary = self.finish_gen(g, dl(60))
        if up_after is not None:
            with self.subTest("restarted analyzer receives records"):
                if k30b.records() == 0:
                    self.run_gen(d, count=10000, ids_out=ids)
                wait_until(lambda: k30b.records() > 0, dl(20),
                           "records at the restarted analyzer")

        m = d.wait_all_delivered(dl(60))
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(m["records_delivered"], m["records_accepted"], m)
        self.assertGreaterEqual(m["records_accepted"], gen_summary["records_accepted"])
        self.assertGreater(m["batches_failed"] + m["records_redistributed"], 0, m)
        sent = read_lines(ids)
        self.assertEqual(len(sent), m["records_accepted"])
        union = set(k30b.ids())  # the file has the ids of both k30 processes
        for a in others:
            union.update(a.ids())
        missing = set(sent) - union
        self.assertFalse(missing, "%d accepted ids missing, e.g. %s" % (len(missing),
                                                                       sorted(missing)[:5]))
        sys.stderr.write("\n  kill9: down detected after %.2fs, up %s after restart, "
                         "shares while down %s\n" % (down_after, "never" if up_after is None
                                                     else "%.2fs" % up_after,
                                                     {k: round(v / tot, 4)
                                                      for k, v in delta.items()}))


class AllDownTest(LogdistTestCase):

    def test_records_wait_while_all_analyzers_down(self):
        p1, p2 = free_port(), free_port()
        d = self.start_daemon(analyzers=[("x1", "http://127.0.0.1:%d/ingest" % p1, 2),
                                         ("x2", "http://127.0.0.1:%d/ingest" % p2, 1)])
        d.wait_state("x1", "down", dl(10))
        d.wait_state("x2", "down", dl(10))
        h = d.req("GET", "/health")
        self.assertEqual((h.status, h.json()["status"]), (200, "degraded"))
        ids = self.path("ids.txt")
        n = scaled(20000, 5000)
        s = self.run_gen(d, count=n, ids_out=ids)
        self.assertEqual(s["records_accepted"], n, s)
        self.assertEqual(s["throttled"], 0, s)
        m = d.metrics()
        self.assertEqual(m["records_accepted"], n)
        self.assertEqual(m["queued_records"], n, m)
        self.assertGreater(m["queued_bytes"], 0, m)
        self.assertEqual(m["records_delivered"], 0)
        self.assertEqual(h.json()["queued_records"], 0)
        self.assertEqual(d.req("GET", "/health").json()["queued_records"], n)
        # analyzers come up on the configured ports
        x1 = self.start_analyzer("x1", port=p1)
        x2 = self.start_analyzer("x2", port=p2)
        m = d.wait_all_delivered(dl(30), expect_accepted=n)
        self.assertEqual(m["records_deadlettered"], 0)
        self.assertEqual(x1.records() + x2.records(), n)
        self.assertEqual(set(x1.ids()) | set(x2.ids()), set(read_lines(ids)))
        self.assertEqual(d.req("GET", "/health").json()["status"], "ok")

    def test_queue_full_then_recovery(self):
        port = free_port()
        d = self.start_daemon("--max-queue-bytes", "64KiB",
                              analyzers=[("q1", "http://127.0.0.1:%d/ingest" % port, 1)])
        d.wait_state("q1", "down", dl(10))
        accepted, rejected = [], 0
        for i in range(40):
            recs = ['{"id":"q-%d-%d","pad":"%s"}' % (i, j, "z" * 100) for j in range(20)]
            r = d.post_logs('{"packet_id":"qp%d","messages":[%s]}' % (i, ",".join(recs)))
            if r.status == 202:
                self.assertEqual(rejected, 0, "accepted after a queue_full answer")
                accepted += ["q-%d-%d" % (i, j) for j in range(20)]
                continue
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.headers.get("retry-after"), "1", r)  # docs/API.md: queue_full
            j = r.json()
            self.assertEqual(j["error"], "queue_full", j)
            self.assertEqual(j["retry_after_s"], 1, j)
            self.assertTrue(j["message"], j)
            rejected += 1
            if rejected >= 3:
                break
        self.assertGreater(len(accepted), 0)
        self.assertEqual(rejected, 3, "the 64 KiB budget must fill up")
        m = d.metrics()
        self.assertEqual(m["packets_rejected_by_reason"]["queue_full"], 3, m)
        self.assertLessEqual(m["queued_bytes"], 64 * 1024, m)
        self.assertEqual(m["queued_records"], len(accepted))
        self.assertEqual(m["records_accepted"], len(accepted))
        # also with gen: it retries after Retry-After until the analyzer is back
        ids = self.path("ids.txt")
        g = self.start_gen(d, count=2000, packet_size=100, ids_out=ids, connections=2)
        wait_until(lambda: d.metrics()["packets_rejected_by_reason"]["queue_full"] > 3, dl(10),
                   "gen throttled by queue_full")
        q1 = self.start_analyzer("q1", port=port)
        s = self.finish_gen(g, dl(60))
        self.assertEqual(s["records_accepted"], 2000, s)
        self.assertGreater(s["throttled"], 0, s)
        m = d.wait_all_delivered(dl(30), expect_accepted=len(accepted) + 2000)
        got = set(q1.ids())
        self.assertEqual(len(got), q1.records())
        self.assertEqual(got, set(accepted) | set(read_lines(ids)))
        self.assertEqual(m["records_deadlettered"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
