"""Retries, dead-letter store, at-least-once delivery with a flaky analyzer."""
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, read_lines, scaled, wait_until  # noqa: E402


def no_breaker():
    """Flags that turn the circuit breaker off."""
    return ["--breaker-failures", "0", "--breaker-error-pct", "0"]


class DeadLetterTest(LogdistTestCase):

    def test_failing_analyzer_dead_letters_after_max_attempts(self):
        """An analyzer that passes health checks but answers every batch with 500.
        (logdist-analyzer --status 500 also fails its own /health, which would mark it
        down and park the batches instead -- see test_failing_health_parks_batches; so
        its health_url points at a healthy analyzer here, and --passive-fall is high; the
        circuit breaker is off, see BreakerTest for it.)"""
        bad = self.start_analyzer("bad", "--status", "500")
        healthy = self.start_analyzer("hc")
        d = self.start_daemon("--max-attempts", "3", "--retry-base-ms", "10",
                              "--passive-fall", "100", "--batch-max-records", "100",
                              *no_breaker(),
                              analyzers=["id=bad,url=%s,weight=1,health_url=http://127.0.0.1:%d"
                                         "/health" % (bad.url, healthy.port)])
        n = 1000
        s = self.run_gen(d, count=n, packet_size=100)
        self.assertEqual(s["records_accepted"], n)
        m = wait_until(lambda: (lambda m: m["records_deadlettered"] == n and m)(d.metrics()),
                       dl(30), "all records dead-lettered")
        m = wait_until(lambda: (lambda m: m["queued_records"] == 0 and m["inflight_batches"] == 0
                                and m)(d.metrics()), dl(10), "nothing queued or in flight")
        self.assertEqual(m["records_delivered"], 0, m)
        self.assertEqual(m["records_deadlettered"], n, m)
        self.assertEqual(m["queued_records"], 0, m)
        self.assertEqual(m["queued_bytes"], 0, m)
        self.assertEqual(m["records_deadletter_evicted"], 0, m)
        batches = m["batches_sent"] // 3
        self.assertEqual(m["batches_sent"], 3 * batches, "3 attempts per batch: %s" % m)
        self.assertEqual(m["batches_failed"], m["batches_sent"], m)
        self.assertEqual(m["batches_retried"], 2 * batches, m)
        self.assertEqual(m["records_retried"], 2 * n, m)
        self.assertGreaterEqual(batches, n // 100)
        st = bad.stats()
        self.assertEqual(st["records"], 0)
        self.assertEqual(st["failed_batches"], m["batches_sent"])

        r = d.req("GET", "/api/v1/deadletter")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["records"], n, j)
        self.assertEqual(j["batches"], batches, j)
        self.assertGreater(j["bytes"], 0)
        self.assertIsInstance(j["oldest_ms"], int)
        self.assertTrue(j["sample"], j)
        self.assertLessEqual(len(j["sample"]), 20)
        for smp in j["sample"]:
            self.assertEqual(smp["last_analyzer"], "bad", smp)
            self.assertEqual(smp["attempts"], 3, smp)
            self.assertIn("3 attempts failed", smp["reason"])
            self.assertIn("500", smp["reason"])
            self.assertTrue(smp["batch_id"], smp)
            self.assertGreater(smp["records"], 0)
        # the analyzer itself stayed up
        self.assertTrue(d.analyzer("bad")["healthy"])
        self.assertEqual(d.analyzer("bad")["batches_failed"], m["batches_failed"])

        r = d.req("DELETE", "/api/v1/deadletter")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"purged_records": n})
        j = d.req("GET", "/api/v1/deadletter").json()
        self.assertEqual((j["records"], j["batches"], j["bytes"], j["sample"]), (0, 0, 0, []))
        self.assertIsNone(j["oldest_ms"])
        self.assertEqual(d.req("DELETE", "/api/v1/deadletter").json(), {"purged_records": 0})
        # the counter is cumulative: purging does not change it
        self.assertEqual(d.metrics()["records_deadlettered"], n)

    def test_failing_health_parks_batches(self):
        """--status 500 on a lone analyzer with its own /health: it is marked down and
        accepted records wait (not dead-lettered); once fixed, they are delivered."""
        bad = self.start_analyzer("bad", "--status", "500")
        d = self.start_daemon("--max-attempts", "3", "--retry-base-ms", "10",
                              analyzers=[("bad", bad.url, 1)])
        d.wait_state("bad", "down", dl(10))
        s = self.run_gen(d, count=1000, ids_out=self.path("ids.txt"))
        self.assertEqual(s["records_accepted"], 1000)
        m = d.metrics()
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(m["queued_records"], 1000, m)
        self.assertEqual(d.req("GET", "/health").json()["status"], "degraded")
        # replace the broken analyzer by a working one on the same port
        bad.proc.stop()
        good = self.start_analyzer("bad", port=bad.port)
        m = d.wait_all_delivered(dl(20), expect_accepted=1000)
        got, sent = sorted(good.ids()), sorted(read_lines(self.path("ids.txt")))
        self.assertEqual(len(sent), 1000)
        self.assertEqual(set(got), set(sent))
        # the new analyzer acknowledged every batch at the first try: each id once
        self.assertEqual(len(got), len(sent), "duplicates at the analyzer: %d ids for %d "
                         "records (records_retried %d)" % (len(got), len(sent),
                                                           m["records_retried"]))
        st = good.stats()
        self.assertEqual((st["duplicate_ids"], st["duplicate_batches"]), (0, 0), st)
        self.assertEqual(d.metrics()["records_deadlettered"], 0)


class BreakerTest(LogdistTestCase):

    def test_breaker_reprobes_and_closes_when_the_analyzer_recovers(self):
        """A lone analyzer answers 500 (its health check passes): the breaker opens; it
        must go half-open after the cooldown and probe again, and once the analyzer
        works again the records are delivered."""
        bad = self.start_analyzer("br", "--status", "500")
        healthy = self.start_analyzer("hc")
        d = self.start_daemon("--max-attempts", "1000", "--retry-base-ms", "10",
                              "--retry-max-ms", "100", "--passive-fall", "100",
                              "--breaker-failures", "3", "--breaker-cooldown-ms", "200",
                              "--breaker-max-cooldown-ms", "400",
                              analyzers=["id=br,url=%s,weight=1,health_url=http://127.0.0.1:%d"
                                         "/health" % (bad.url, healthy.port)])
        r = d.post_logs('[{"id":"br-1"},{"id":"br-2"}]')
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: d.analyzer("br").get("breaker_trips", 0) >= 1, dl(10),
                   "the breaker to open")
        # the analyzer recovers (same port); a half-open probe (cooldown <= 400 ms) finds it
        bad.proc.stop()
        good = self.start_analyzer("br", port=bad.port)
        try:
            d.wait_all_delivered(dl(10), expect_accepted=2)
        except AssertionError as e:
            a = d.analyzer("br")
            self.fail("records not delivered 10 s after the analyzer recovered: breaker %r, "
                      "breaker_trips %r, state %r, healthy %r (%s)" % (
                          a.get("breaker"), a.get("breaker_trips"), a["state"], a["healthy"], e))
        self.assertEqual(sorted(good.ids()), ["br-1", "br-2"])  # once each
        self.assertEqual(d.analyzer("br").get("breaker"), "closed")


class FlakyAnalyzerTest(LogdistTestCase):

    def test_fail_rate_030_everything_delivered(self):
        good = [self.start_analyzer("g%d" % i) for i in (1, 2)]
        flaky = self.start_analyzer("flaky", "--fail-rate", "0.3", "--seed", "7")
        d = self.start_daemon("--batch-max-records", "200", analyzers=[
            ("g1", good[0].url, 1), ("g2", good[1].url, 1), ("flaky", flaky.url, 1)])
        n = scaled(60000, 10000)
        ids = self.path("ids.txt")
        s = self.run_gen(d, count=n, ids_out=ids)
        self.assertEqual(s["records_accepted"], n)
        m = d.wait_all_delivered(dl(60), expect_accepted=n)
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertGreater(m["batches_failed"], 0, m)
        self.assertGreater(m["batches_retried"], 0, m)
        self.assertGreater(m["records_redistributed"], 0, m)
        self.assertEqual(m["records_delivered"], n, m)
        fst = flaky.stats()
        self.assertGreater(fst["failed_batches"], 0, fst)
        self.assertGreater(fst["records"], 0, fst)
        union = set()
        total = 0
        for a in good + [flaky]:
            ids_a = a.ids()
            st = a.stats()
            union.update(ids_a)
            # unique ids at this analyzer + ids it got again (in a repeated batch or not)
            total += len(ids_a) + st["duplicate_ids"]
            self.assertEqual(len(ids_a), st["records"], st)
            # a batch is sent to one analyzer at a time: an analyzer sees a batch id again
            # only when its own earlier attempt failed (the flaky one's 500s)
            if a is not flaky:
                self.assertEqual((st["duplicate_ids"], st["duplicate_batches"]), (0, 0), st)
        sent = set(read_lines(ids))
        self.assertEqual(len(sent), n)
        self.assertFalse(sent - union, "accepted ids missing at the analyzers")
        self.assertGreaterEqual(total, n)
        # at-least-once: a duplicate can only come from a retried batch (an attempt that
        # reached the analyzer but whose answer was lost); a 500 stores nothing, so with
        # the analyzers up the bound is the records that were retried at all, and a
        # router that sends each batch twice (total = 2n) fails it
        dups = total - n
        print("[retries] fail-rate 0.3: %d records, %d retried, %d duplicates delivered"
              % (n, m["records_retried"], dups), flush=True)
        self.assertLessEqual(dups, m["records_retried"],
                             "%d duplicate records delivered, only %d records were retried"
                             % (dups, m["records_retried"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
