"""A node partitioned from etcd, through logdist-faultproxy (docs/CLUSTER.md).

Real processes only: etcd (Debian's etcd-server), logdistd nodes with --cluster-etcd,
logdist-analyzer, and logdist-faultproxy between one node and etcd.

- blackhole: node C reaches the three etcd members only through three proxies; they
  turn into a black hole (connections accepted, nothing forwarded, nothing closed:
  what a partition looks like, unlike a stopped etcd, which refuses at once). C
  must notice within a bound (measured: its keep-alive times out on every endpoint)
  and say so in /health and /metrics; its admin writes answer 503 (one started at
  the first moment of the partition within the write's bound of 8 s); it keeps routing
  on its configuration; A and B change that configuration meanwhile and C's lease
  ends, so it leaves A's cluster view. After the heal C reads the changes (resync
  time measured), registers again, and its own writes reach A and B.
- a silent watch: C talks to one etcd member through two proxies (two endpoints).
  Every connection open on the first proxy goes silent for good (the proxy's
  "stall": a half-open path whose NAT state was lost), the watch among them.
  Calls fail over to the second endpoint, so C never looks disconnected; only the
  watch liveness check (C's own heartbeat put must come back through the watch
  within 5 s) gets the watch going again, and then a change made on A reaches C.
  Without that check C would never see another change.
"""
import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import dl, wait_until  # noqa: E402
from chaos_util import start_faultproxy  # noqa: E402
from cluster_util import LEASE_TTL_S, ClusterCase  # noqa: E402

REQUEST_TIMEOUT_S = 3  # etcd.c: one call's bound on one endpoint
REFRESH_S = 3          # cluster.h CLUSTER_REFRESH_MS: keep-alive period


def health(n):
    return harness.get_json(n.port, "/health")


def cluster_ids(n):
    return sorted(x["id"] for x in harness.get_json(n.port, "/api/v1/cluster")["nodes"])


def ndjson(tag, count):
    return "".join(json.dumps({"id": "%s%d" % (tag, i), "msg": "x"}) + "\n" for i in range(count))


class ClusterPartitionTest(ClusterCase):

    def proxies(self, ports):
        return [start_faultproxy(self, p, name="faultproxy") for p in ports]

    def test_partition_blackhole_then_heal(self):
        etcd = self.etcd(3)
        an1, an2 = self.start_analyzer("an1"), self.start_analyzer("an2")
        a, b = (self.node(etcd.endpoints, nid) for nid in ("A", "B"))
        px = self.proxies([m["client"] for m in etcd.members])
        c = self.node(",".join("http://127.0.0.1:%d" % p.port for p in px), "C")
        self.wait_synced([a, b, c], 3)
        self.aid = "p1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "p1", "url": an1.url}).status,
                         201)
        self.measure([b, c], lambda s: s is not None, "register")

        for p in px:
            p.set(blackhole=True)
        t0 = time.monotonic()
        # a write that starts before C knows: refused within the write's bound (8 s)
        early = {}

        def write_now():
            w0 = time.monotonic()
            early["r"] = c.req("PUT", "/api/v1/analyzers/p1", {"weight": 4}, timeout=dl(30))
            early["s"] = time.monotonic() - w0
        th = threading.Thread(target=write_now)
        th.start()
        # every endpoint's call must time out (3 x 3 s) after the next keep-alive (<= 3 s)
        bound = REFRESH_S + len(px) * REQUEST_TIMEOUT_S + 3
        wait_until(lambda: health(c).get("etcd") == "disconnected", dl(bound),
                   "C says etcd disconnected", interval=0.1)
        detect = time.monotonic() - t0
        th.join(dl(30))
        self.assertEqual((early["r"].status, early["r"].json()["error"]),
                         (503, "etcd_unavailable"), early)
        self.assertLessEqual(early["s"], dl(10))
        prom = harness.http_request(c.port, "GET", "/metrics").body.decode()
        self.assertIn("logdist_cluster_etcd_connected 0", prom)
        r = c.req("PUT", "/api/v1/analyzers/p1", {"weight": 3})
        self.assertEqual((r.status, r.json()["error"]), (503, "etcd_unavailable"), r)
        # C routes on: records posted to it reach p1
        before = an1.records()
        self.assertEqual(c.post_logs(ndjson("c", 40), ctype="application/x-ndjson").status, 202)
        wait_until(lambda: an1.records() >= before + 40, dl(10), "C routes while partitioned")
        # the rest of the cluster changes the configuration meanwhile
        self.assertEqual(a.req("PUT", "/api/v1/analyzers/p1", {"weight": 5}).status, 200)
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "p2", "url": an2.url}).status,
                         201)
        self.measure([b], lambda s: s and s["weight"] == 5, "B applies A's re-weight")
        self.assertEqual(self.spec(c, "p1")["weight"], 1)  # C: the last configuration it had
        self.assertIsNone(self.spec(c, "p2"))
        # C's lease runs out: it leaves the view of the nodes that still reach etcd
        wait_until(lambda: cluster_ids(a) == ["A", "B"], dl(LEASE_TTL_S + 10),
                   "C gone from A's cluster view", interval=0.2)
        left = time.monotonic() - t0
        statuses = [p.status() for p in px]
        self.assertTrue(any(s["bytes_dropped"] > 0 for s in statuses), statuses)

        for p in px:
            p.clear()
        t1 = time.monotonic()
        self.aid = "p1"
        resync = self.measure([c], lambda s: s and s["weight"] == 5, "C re-weight after the heal",
                              t1)
        self.aid = "p2"
        resync = max(resync, self.measure([c], lambda s: s is not None, "C has p2", t1))
        wait_until(lambda: health(c).get("etcd") == "connected", dl(15), "C connected again")
        wait_until(lambda: cluster_ids(a) == ["A", "B", "C"], dl(15), "C back in A's view",
                   interval=0.2)
        back = time.monotonic() - t1
        r = c.req("PUT", "/api/v1/analyzers/p2", {"weight": 3})
        self.assertEqual(r.status, 200, r)
        self.measure([a, b], lambda s: s and s["weight"] == 3, "C's write reaches A and B")
        before = an1.records() + an2.records()
        self.assertEqual(c.post_logs(ndjson("h", 80), ctype="application/x-ndjson").status, 202)
        wait_until(lambda: an1.records() + an2.records() >= before + 80, dl(10),
                   "C routes to both after the heal")
        sys.stderr.write(
            "partition (blackhole between node C and its 3 etcd endpoints): a write at once "
            "answered 503 after %.1f s; C said disconnected after %.1f s (bound %d s), left A's view after %.1f s (lease TTL %d s); "
            "after the heal C applied the 2 changes made meanwhile in %.2f s and was back in "
            "A's view after %.1f s\n" % (early["s"], detect, bound, left, LEASE_TTL_S, resync, back))

    def test_silent_watch_is_restarted(self):
        etcd = self.etcd(1)
        an1 = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A")
        px = self.proxies([etcd.members[0]["client"]] * 2)
        c = self.node(",".join("http://127.0.0.1:%d" % p.port for p in px), "C")
        self.wait_synced([a, c], 2)
        self.aid = "w1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "w1", "url": an1.url}).status,
                         201)
        self.measure([c], lambda s: s is not None, "register")
        restarts0 = c.metrics()["cluster_watch_restarts"]
        st = px[0].set(stall=True)  # C's watch and its idle connections there go silent
        self.assertGreaterEqual(st["stalled"], 1, st)
        t0 = time.monotonic()
        self.assertEqual(a.req("PUT", "/api/v1/analyzers/w1", {"weight": 6}).status, 200)
        # the next keep-alive fails over (<= 3 + 3 s), its put comes back through no
        # watch, and the check restarts the watch 5 s later
        bound = REFRESH_S + REQUEST_TIMEOUT_S + 5 + 5
        wait_until(lambda: (self.spec(c, "w1") or {}).get("weight") == 6, dl(bound),
                   "C applies a change made after its watch went silent", interval=0.05)
        took = time.monotonic() - t0
        self.assertGreater(c.metrics()["cluster_watch_restarts"], restarts0)
        self.assertIn("did not arrive within", c.proc.stderr_text())
        # the restarted watch is live: the next change arrives within the 1 s promise
        t1 = time.monotonic()
        self.assertEqual(a.req("PUT", "/api/v1/analyzers/w1", {"weight": 2}).status, 200)
        again = self.measure([c], lambda s: s and s["weight"] == 2, "the next change", t1)
        self.assertLessEqual(again, dl(1.0))
        sys.stderr.write("silent watch (its connection stalled, calls failing over): the change "
                         "reached C after %.1f s (bound %d s); the next one in %.0f ms\n"
                         % (took, bound, again * 1e3))


if __name__ == "__main__":
    unittest.main(verbosity=2)
