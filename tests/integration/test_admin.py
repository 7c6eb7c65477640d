"""Admin API: analyzer CRUD and validation, runtime re-weighting, drain, removal."""
import os
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, free_port, read_lines, scaled, wait_until  # noqa: E402

AN = "/api/v1/analyzers"


class AdminApiTest(LogdistTestCase):

    def setUp(self):
        super().setUp()
        self.a1 = self.start_analyzer("a1")
        self.d = self.start_daemon(analyzers=[("a1", self.a1.url, 1)])

    def err(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        j = r.json()
        self.assertIsInstance(j.get("error"), str, j)
        self.assertTrue(j.get("message"), j)
        if code:
            self.assertEqual(j["error"], code, j)
        return j

    def test_crud_and_validation(self):
        d = self.d
        a2 = self.start_analyzer("a2")
        r = d.req("POST", AN, {"id": "a2", "url": a2.url, "weight": 3})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("location"), AN + "/a2")
        j = r.json()
        self.assertEqual(j["id"], "a2")
        self.assertEqual(j["url"], a2.url)
        self.assertEqual(j["weight"], 3)
        self.assertAlmostEqual(j["target_share"], 0.75)
        self.assertEqual(j["health_url"], "http://127.0.0.1:%d/health" % a2.port)

        # duplicate id
        self.err(d.req("POST", AN, {"id": "a2", "url": a2.url}), 409, "conflict")
        self.err(d.req("POST", AN, {"id": "a1", "url": a2.url, "weight": 1}), 409, "conflict")
        # bad urls
        for url in ("ftp://127.0.0.1/x", "not a url", "127.0.0.1:80/ingest", "", "http://",
                    "file:///etc/passwd", "gopher://127.0.0.1:70/"):
            self.err(d.req("POST", AN, {"id": "bad", "url": url}), 400)
        j = self.err(d.req("POST", AN, {"id": "bad", "url": "http://u:p@127.0.0.1:1/ingest"}), 400)
        self.assertIn("credentials", j["message"])
        self.err(d.req("POST", AN, {"id": "bad", "url": "http://u@127.0.0.1:1/ingest"}), 400)
        self.err(d.req("POST", AN, {"id": "bad", "url": a2.url, "health_url": "ftp://x/"}), 400)
        # bad weights
        for w in (-1, "x", None, [1], {"w": 1}, True, 1e13):
            self.err(d.req("POST", AN, {"id": "bad", "url": a2.url, "weight": w}), 400,
                     "bad_weight")
        # missing / bad fields and bodies
        self.err(d.req("POST", AN, {"id": "bad"}), 400)
        self.err(d.req("POST", AN, {"url": a2.url}), 400)
        self.err(d.req("POST", AN, {"id": 5, "url": a2.url}), 400)
        self.err(d.req("POST", AN, {"id": "bad", "url": a2.url, "colour": "red"}), 400)
        for bad_id in ("", "has space", "slash/id", "x" * 65, "\u00e9t\u00e9"):
            self.err(d.req("POST", AN, {"id": bad_id, "url": a2.url}), 400)
        self.err(d.req("POST", AN, b'{"id":"bad",', {"Content-Type": "application/json"}), 400,
                 "bad_json")
        self.err(d.req("POST", AN, b'[1,2]', {"Content-Type": "application/json"}), 400,
                 "bad_json")
        self.err(d.req("POST", AN, b'{"id":"x","id":"y","url":"http://127.0.0.1:1/"}',
                       {"Content-Type": "application/json"}), 400)
        # none of the bad requests added anything
        lst = d.req("GET", AN)
        self.assertEqual(lst.status, 200)
        lj = lst.json()
        self.assertEqual(lj["strategy"], "swrr")
        self.assertEqual(sorted(a["id"] for a in lj["analyzers"]), ["a1", "a2"])
        for a in lj["analyzers"]:
            for f in ("id", "url", "health_url", "weight", "target_share", "effective_share",
                      "actual_share", "healthy", "state", "records_routed", "records_delivered",
                      "batches_delivered", "batches_failed", "times_marked_down",
                      "inflight_batches", "queued_records", "latency_ms", "last_error"):
                self.assertIn(f, a, a)

        # item, with counters after some traffic
        s = self.run_gen(d, count=4000, packet_size=100)
        self.assertEqual(s["records_accepted"], 4000)
        d.wait_all_delivered(dl(20), expect_accepted=4000)
        it = d.analyzer("a2")
        self.assertEqual(it["weight"], 3)
        self.assertAlmostEqual(it["target_share"], 0.75)
        self.assertTrue(it["healthy"])
        self.assertEqual(it["state"], "up")
        self.assertAlmostEqual(it["records_delivered"], 3000, delta=2)
        self.assertAlmostEqual(it["actual_share"], 0.75, delta=0.001)
        self.assertGreaterEqual(it["batches_delivered"], 1)
        self.assertEqual(it["batches_failed"], 0)
        self.assertEqual(a2.records(), it["records_delivered"])

        # PUT weight
        r = d.req("PUT", AN + "/a2", {"weight": 1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["weight"], 1)
        self.assertAlmostEqual(r.json()["target_share"], 0.5)
        self.assertAlmostEqual(d.analyzer("a1")["target_share"], 0.5)
        self.err(d.req("PUT", AN + "/a2", {"weight": -2}), 400, "bad_weight")
        self.err(d.req("PUT", AN + "/a2", {"weight": "heavy"}), 400, "bad_weight")
        self.err(d.req("PUT", AN + "/a2", {"id": "other"}), 400)
        self.err(d.req("PUT", AN + "/a2", {"url": "ftp://127.0.0.1/"}), 400)
        self.err(d.req("PUT", AN + "/a2", {"bogus": 1}), 400)
        self.err(d.req("PUT", AN + "/nope", {"weight": 1}), 404, "not_found")
        self.assertEqual(d.analyzer("a2")["weight"], 1)
        self.assertEqual(d.analyzer("a2")["url"], a2.url)

        # DELETE
        r = d.req("DELETE", AN + "/a2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"removed": "a2"})
        self.err(d.req("GET", AN + "/a2"), 404, "not_found")
        self.err(d.req("DELETE", AN + "/a2"), 404, "not_found")
        self.assertEqual(list(d.analyzers()), ["a1"])
        self.assertAlmostEqual(d.analyzer("a1")["target_share"], 1.0)
        # the id can be used again
        r = d.req("POST", AN, {"id": "a2", "url": a2.url, "weight": 1})
        self.assertEqual(r.status, 201, r)

        # unknown endpoints and methods
        for path in ("/api/v1/nope", "/index.html", "/api/v2/analyzers", AN + "/a1/extra", "/api/v1/logsx"):
            self.err(d.req("GET", path), 404, "not_found")
        self.err(d.req("POST", "/api/v1/metrics", {}), 405, "method_not_allowed")
        self.err(d.req("PUT", AN, {}), 405, "method_not_allowed")
        self.err(d.req("POST", AN + "/a1", {}), 405, "method_not_allowed")
        self.err(d.req("PUT", "/api/v1/deadletter", {}), 405, "method_not_allowed")

    def test_health_endpoint(self):
        r = self.d.req("GET", "/health")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["status"], "ok")
        self.assertEqual(j["analyzers_healthy"], 1)
        # weight 0 -> no usable analyzer: degraded, still 200
        self.assertEqual(self.d.req("PUT", AN + "/a1", {"weight": 0}).status, 200)
        self.assertEqual(self.d.analyzer("a1")["state"], "drained")
        r = self.d.req("GET", "/health")
        self.assertEqual((r.status, r.json()["status"]), (200, "degraded"))
        self.assertEqual(self.d.req("PUT", AN + "/a1", {"weight": 1}).status, 200)
        self.assertEqual(self.d.req("GET", "/health").json()["status"], "ok")

    def test_added_analyzer_that_is_down_is_marked_down(self):
        port = free_port()
        r = self.d.req("POST", AN, {"id": "ghost", "url": "http://127.0.0.1:%d/ingest" % port})
        self.assertEqual(r.status, 201, r)
        self.d.wait_state("ghost", "down", dl(10))
        self.assertFalse(self.d.analyzer("ghost")["healthy"])
        self.assertTrue(self.d.analyzer("ghost")["last_error"])
        # traffic still flows to the healthy one, nothing lost
        s = self.run_gen(self.d, count=5000)
        self.d.wait_all_delivered(dl(20), expect_accepted=5000)
        self.assertEqual(self.a1.records(), 5000)
        self.assertEqual(s["records_accepted"], 5000)


class RuntimeChangesTest(LogdistTestCase):
    RATE = scaled(40000, 5000)

    def two(self, w1=1, w2=1):
        self.b1 = self.start_analyzer("b1")
        self.b2 = self.start_analyzer("b2")
        self.d = self.start_daemon(analyzers=[("b1", self.b1.url, w1), ("b2", self.b2.url, w2)])
        return self.d

    def routed_after(self, n):
        wait_until(lambda: self.d.metrics()["records_routed"] >= n, dl(30),
                   "%d records routed" % n)

    def check_nothing_lost(self, ids_path, analyzers):
        sent = set(read_lines(ids_path))
        self.assertTrue(sent)
        union = set()
        for a in analyzers:
            union.update(a.ids())
        missing = sent - union
        self.assertFalse(missing, "%d accepted ids missing, e.g. %s" % (len(missing),
                                                                       sorted(missing)[:5]))

    def test_reweight_under_load(self):
        d = self.two(1, 1)
        ids = self.path("ids.txt")
        # gen runs until stopped: the change must happen under load however slow the
        # machine is
        g = self.start_gen(d, rate=self.RATE, duration=int(dl(120)), ids_out=ids)
        self.routed_after(self.RATE)  # ~1 s of load at 1:1
        r = d.req("PUT", AN + "/b2", {"weight": 3})
        self.assertEqual(r.status, 200, r)
        self.assertAlmostEqual(r.json()["target_share"], 0.75)
        v0 = d.analyzers()
        self.routed_after(v0["b1"]["records_routed"] + v0["b2"]["records_routed"] + self.RATE)
        g.signal(signal.SIGTERM)
        self.finish_gen(g, dl(60))
        m = d.wait_all_delivered(dl(30))
        v1 = d.analyzers()
        d1 = v1["b1"]["records_routed"] - v0["b1"]["records_routed"]
        d2 = v1["b2"]["records_routed"] - v0["b2"]["records_routed"]
        # routed_after() waited for at least RATE more: equality is enough
        self.assertGreaterEqual(d1 + d2, self.RATE, "enough records after the change")
        self.assertShare(d2 / (d1 + d2), 0.75, 0.01, "b2 after re-weighting to 3:1")
        # before the change the split was 1:1
        self.assertShare(v0["b2"]["records_routed"] /
                         (v0["b1"]["records_routed"] + v0["b2"]["records_routed"]), 0.5, 0.02,
                         "b2 before re-weighting")
        # the analyzers got exactly what logdistd says it delivered
        self.assertEqual(self.b1.records(), v1["b1"]["records_delivered"])
        self.assertEqual(self.b2.records(), v1["b2"]["records_delivered"])
        self.assertEqual(m["records_delivered"], m["records_accepted"])
        self.check_nothing_lost(ids, [self.b1, self.b2])

    def test_weight_zero_drains(self):
        d = self.two(1, 1)
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=self.RATE, duration=dl(4), ids_out=ids)
        self.routed_after(self.RATE // 2)
        r = d.req("PUT", AN + "/b2", {"weight": 0})
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["state"], "drained")
        self.assertEqual(j["target_share"], 0)
        routed0 = j["records_routed"]
        self.assertGreater(routed0, 0)
        total0 = d.metrics()["records_routed"]
        self.routed_after(total0 + self.RATE)  # another ~1 s of load
        self.assertEqual(d.analyzer("b2")["records_routed"], routed0,
                         "an analyzer with weight 0 gets no new records")
        self.finish_gen(g, dl(60))
        d.wait_all_delivered(dl(30))
        v = d.analyzers()
        self.assertEqual(v["b2"]["records_routed"], routed0)
        self.assertEqual(v["b2"]["records_delivered"], routed0)
        self.assertEqual(self.b2.records(), routed0)
        self.assertEqual(self.d.req("GET", "/health").json()["status"], "ok")
        self.check_nothing_lost(ids, [self.b1, self.b2])

    def test_remove_under_load(self):
        cs = [self.start_analyzer("c%d" % i) for i in (1, 2, 3)]
        d = self.d = self.start_daemon(analyzers=[(c.id, c.url, 1) for c in cs])
        c2 = cs[1]
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=self.RATE, duration=int(dl(120)), ids_out=ids)
        self.routed_after(self.RATE)
        r = d.req("DELETE", AN + "/c2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"removed": "c2"})
        self.assertEqual(d.req("GET", AN + "/c2").status, 404)
        self.assertEqual(sorted(d.analyzers()), ["c1", "c3"])
        # batches already in flight to c2 finish; then its count must not move
        last = [c2.records(), time.monotonic()]

        def settled():
            n = c2.records()
            now = time.monotonic()
            if n != last[0]:
                last[0], last[1] = n, now
                return False
            return now - last[1] >= 1.0
        wait_until(settled, dl(15), "c2's record count to stop moving", interval=0.1)
        after_removal = c2.records()
        # load after the removal settled, then stop gen
        self.routed_after(self.d.metrics()["records_routed"] + self.RATE // 2)
        g.signal(signal.SIGTERM)
        self.finish_gen(g, dl(60))
        m = d.wait_all_delivered(dl(30))
        self.assertEqual(c2.records(), after_removal, "removed analyzer got records later")
        self.assertEqual(m["records_deadlettered"], 0)
        delivered_to_others = sum(c.records() for c in (cs[0], cs[2]))
        self.assertEqual(delivered_to_others + after_removal, m["records_delivered"])
        self.check_nothing_lost(ids, cs)
        # re-adding the same id works, and it gets its share again
        r = d.req("POST", AN, {"id": "c2", "url": c2.url, "weight": 1})
        self.assertEqual(r.status, 201, r)
        before = c2.records()
        self.run_gen(d, count=3000)
        d.wait_all_delivered(dl(20))
        self.assertAlmostEqual(c2.records() - before, 1000, delta=3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
