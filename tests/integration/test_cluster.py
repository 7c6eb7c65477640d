"""A cluster of logdistd nodes coordinated through a real etcd (docs/CLUSTER.md).

Real processes only: etcd (Debian's etcd-server, tests/integration/etcd_util.py), three
logdistd nodes with --cluster-etcd, real logdist-analyzer processes.

- propagation: register, re-weight and remove on node A; nodes B and C apply each
  change (seen through their own admin API) - the delay is measured and printed
  (p50/max) and must stay within 1 s; records posted to C reach the analyzer A
  registered;
- two concurrent updates of one analyzer on two nodes (one the weight, the other
  the drained flag): neither is lost - both answer 200 (the loser of the
  compare-and-set is read again and retried) and every node ends with both, or one
  answers 409 and says so;
- etcd stopped: routing goes on, admin writes answer 503 etcd_unavailable, /health
  and /metrics say disconnected; etcd back: writes work again and reach every node;
- a node cut from its etcd member while the others change the configuration and
  etcd compacts its history: when its member is back it finds its revision
  compacted, re-reads the prefix and converges;
- membership: a node killed with SIGKILL leaves GET /api/v1/cluster within the lease
  TTL (measured), and is back after a restart.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import dl, wait_until, http_request  # noqa: E402
import etcd_util  # noqa: E402
from cluster_util import LEASE_TTL_S, ClusterCase  # noqa: E402


class ClusterTest(ClusterCase):
    # ------------------------------------------------------------------ propagation
    def test_propagation_register_reweight_remove(self):
        etcd = self.etcd(3)
        an = self.start_analyzer("an1")
        nodes = [self.node(etcd.endpoints, nid) for nid in ("A", "B", "C")]
        self.wait_synced(nodes, 3)
        a, others = nodes[0], nodes[1:]
        delays = {"register": [], "reweight": [], "remove": []}
        for round_ in range(5):
            self.aid = "p%d" % round_
            # each delay runs from before the request to A until B and C applied it
            t0 = time.monotonic()
            r = a.req("POST", "/api/v1/analyzers", {"id": self.aid, "url": an.url})
            self.assertEqual(r.status, 201, r)
            delays["register"].append(self.measure(others, lambda s: s is not None, "register",
                                                   t0))
            t0 = time.monotonic()
            r = a.req("PUT", "/api/v1/analyzers/" + self.aid, {"weight": 7})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["weight"], 7)  # applied on A before its answer
            delays["reweight"].append(self.measure(others, lambda s: s and s["weight"] == 7,
                                                   "re-weight", t0))
            if round_ == 0:  # records posted to another node reach the analyzer A registered
                body = "".join(json.dumps({"id": "r%d" % i, "msg": "x"}) + "\n" for i in range(50))
                before = an.records()
                r = nodes[2].post_logs(body, ctype="application/x-ndjson")
                self.assertEqual(r.status, 202, r)
                wait_until(lambda: an.records() >= before + 50, dl(10), "records delivered")
            t0 = time.monotonic()
            r = a.req("DELETE", "/api/v1/analyzers/" + self.aid)
            self.assertEqual(r.status, 200, r)
            delays["remove"].append(self.measure(others, lambda s: s is None, "remove", t0))
        for k, v in delays.items():
            sys.stderr.write("cluster propagation (request to A until B and C applied it) "
                             "%-8s over %d changes: p50 %.1f ms, "
                             "max %.1f ms\n" % (k, len(v), statistics.median(v) * 1e3,
                                                max(v) * 1e3))
            self.assertLessEqual(max(v), dl(1.0), "%s took %.3fs on a node (limit 1 s)" % (k, max(v)))
        # the cluster-wide view lists the nodes and their counters
        view = harness.get_json(a.port, "/api/v1/cluster")
        self.assertEqual(sorted(n["id"] for n in view["nodes"]), ["A", "B", "C"])
        self.assertTrue(all(n["alive"] for n in view["nodes"]))
        self.assertTrue(view["etcd_connected"])

    # ------------------------------------------------------------------ concurrent updates
    def test_concurrent_updates_not_lost(self):
        etcd = self.etcd(1)
        an = self.start_analyzer("an1")
        nodes = [self.node(etcd.endpoints, nid) for nid in ("A", "B")]
        self.wait_synced(nodes, 2)
        self.aid = "c1"
        r = nodes[0].req("POST", "/api/v1/analyzers", {"id": "c1", "url": an.url})
        self.assertEqual(r.status, 201, r)
        self.measure(nodes[1:], lambda s: s is not None, "register")
        conflicts = retried_ok = 0
        for round_ in range(8):
            weight = 10 + round_
            drained = round_ % 2 == 0
            results = {}
            barrier = threading.Barrier(2)

            def put(i, body):
                barrier.wait()
                results[i] = nodes[i].req("PUT", "/api/v1/analyzers/c1", body)
            ts = [threading.Thread(target=put, args=(0, {"weight": weight})),
                  threading.Thread(target=put, args=(1, {"drained": drained}))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(dl(20))
            codes = sorted(results[i].status for i in (0, 1))
            for i in (0, 1):  # never anything but applied, or a clear conflict
                self.assertIn(results[i].status, (200, 409), results[i])
                if results[i].status == 409:
                    self.assertEqual(results[i].json()["error"], "conflict")
            conflicts += codes.count(409)
            want_w = weight if results[0].status == 200 else None
            want_d = drained if results[1].status == 200 else None
            if codes == [200, 200]:
                retried_ok += 1

            def both(s):
                return s and (want_w is None or s["weight"] == want_w) and \
                    (want_d is None or s["drained"] == want_d)
            self.measure(nodes, both, "round %d: both updates visible" % round_)
        lost_cas = sum(n.proc.stderr_text().count("changed meanwhile") for n in nodes)
        sys.stderr.write("concurrent updates: 8 rounds, %d with both applied, %d answered 409, "
                         "%d compare-and-set losses read again and retried\n"
                         % (retried_ok, conflicts, lost_cas))

    # ------------------------------------------------------------------ routes
    def test_routes_through_etcd(self):
        etcd = self.etcd(1)
        an = self.start_analyzer("an1")
        nodes = [self.node(etcd.endpoints, nid) for nid in ("A", "B")]
        self.wait_synced(nodes, 2)
        self.assertEqual(nodes[0].req("POST", "/api/v1/analyzers",
                                      {"id": "r1", "url": an.url}).status, 201)
        table = [{"name": "errors", "match": {"level": ["ERROR"]}, "analyzers": {"r1": 1}}]
        t0 = time.monotonic()
        r = nodes[0].req("PUT", "/api/v1/routes", table)
        self.assertEqual(r.status, 200, r)

        def names(n):
            return [x["name"] for x in harness.get_json(n.port, "/api/v1/routes")["routes"]]
        wait_until(lambda: "errors" in names(nodes[1]), dl(1.0), "route table on B")
        sys.stderr.write("routes: PUT on A applied on B after %.1f ms\n"
                         % ((time.monotonic() - t0) * 1e3))
        # B refuses to remove an analyzer its (shared) table names
        r = nodes[1].req("DELETE", "/api/v1/analyzers/r1")
        self.assertEqual(r.status, 409, r)
        self.assertIn("errors", r.json()["message"])
        # a route added on B lands on A, on top of A's change
        r = nodes[1].req("POST", "/api/v1/routes", {"name": "warn", "match": {"level": ["WARN"]},
                                                   "analyzers": {"r1": 1}})
        self.assertEqual(r.status, 201, r)
        wait_until(lambda: names(nodes[0])[:2] == ["errors", "warn"], dl(1.0), "both routes on A")
        # the table is in etcd as the user's JSON
        stored = json.loads(etcd.kv_get("/logdist-test/routes"))
        self.assertEqual([x["name"] for x in stored], ["errors", "warn"])

    # ------------------------------------------------------------------ reload
    def test_reload_writes_through_etcd(self):
        etcd = self.etcd(1)
        an1, an2 = self.start_analyzer("an1"), self.start_analyzer("an2")
        path = self.path("a.json")
        with open(path, "w") as f:
            json.dump({"analyzers": [{"id": "f1", "url": an1.url, "weight": 1}]}, f)
        a = self.node(etcd.endpoints, "A", "--config", path)
        b = self.node(etcd.endpoints, "B")
        self.wait_synced([a, b], 2)
        self.aid = "f1"  # the first node of a new prefix seeds it with its analyzers
        self.measure([b], lambda s: s is not None, "seeded analyzer on B")
        with open(path, "w") as f:
            json.dump({"analyzers": [{"id": "f1", "url": an1.url, "weight": 3},
                                     {"id": "f2", "url": an2.url, "weight": 1}]}, f)
        r = a.req("POST", "/api/v1/reload")
        self.assertEqual(r.status, 200, r)
        self.measure([b], lambda s: s and s["weight"] == 3, "re-weight by reload on B")
        self.aid = "f2"
        self.measure([b], lambda s: s is not None, "analyzer added by reload on B")
        self.assertEqual(json.loads(etcd.kv_get("/logdist-test/analyzers/f1"))["weight"], 3)

    # ------------------------------------------------------------------ cache
    def test_start_while_etcd_down_uses_cache(self):
        etcd = self.etcd(1)
        an = self.start_analyzer("an1")
        data = self.data_dir()
        a = self.node(etcd.endpoints, "A", data_dir=data)
        self.wait_synced([a], 1)
        self.aid = "m1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "m1", "url": an.url,
                                                          "weight": 2}).status, 201)
        # applied from the watch (and so in the local cache: it is written first)
        wait_until(lambda: (self.spec(a, "m1") or {}).get("weight") == 2, dl(10), "A has m1")
        a.proc.stop()
        etcd.stop_member(0)
        a2 = self.node(etcd.endpoints, "A", data_dir=data)
        wait_until(lambda: harness.get_json(a2.port, "/health").get("etcd") == "disconnected",
                   dl(10), "A says etcd is disconnected")
        h = harness.get_json(a2.port, "/health")
        self.assertEqual(h["config"], "cached")
        self.assertEqual(self.spec(a2, "m1")["weight"], 2)  # the last configuration it knew
        before = an.records()
        body = "".join(json.dumps({"id": "c%d" % i}) + "\n" for i in range(20))
        self.assertEqual(a2.post_logs(body, ctype="application/x-ndjson").status, 202)
        wait_until(lambda: an.records() >= before + 20, dl(10), "routed on the cached config")
        self.assertIn("etcd unreachable", a2.proc.stderr_text())
        etcd.start_member(0, timeout=dl(30))
        wait_until(lambda: harness.get_json(a2.port, "/health").get("config") == "synced",
                   dl(15), "A synced once etcd is back")

    # ------------------------------------------------------------------ etcd auth
    def test_etcd_user_password(self):
        etcd = self.etcd(1, extra=["--auth-token", "simple", "--auth-token-ttl", "2"])
        etcd.ctl("user", "add", "root:s3cret", "--interactive=false")
        etcd.ctl("auth", "enable")
        an = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A", "--etcd-user", "root", "--etcd-password", "s3cret")
        bad = self.node(etcd.endpoints, "X", "--etcd-user", "root", "--etcd-password", "wrong")
        self.wait_synced([a], 1)
        self.aid = "u1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "u1", "url": an.url}).status, 201)
        # the simple token lives 2 s: a write after that gets a new one and goes through
        time.sleep(3)
        r = a.req("PUT", "/api/v1/analyzers/u1", {"weight": 6})
        self.assertEqual(r.status, 200, r)
        stored = etcd.ctl("--user", "root:s3cret", "get", "/logdist-test/analyzers/u1",
                          "--print-value-only")
        self.assertEqual(json.loads(stored)["weight"], 6)
        self.assertIn("authenticating again", a.proc.stderr_text())
        # a wrong password: never connected, says why, the password never in the log
        wait_until(lambda: "authentication failed" in
                   harness.get_json(bad.port, "/api/v1/cluster")["last_error"], dl(10),
                   "X says etcd refused its credentials")
        self.assertEqual(harness.get_json(bad.port, "/health")["etcd"], "disconnected")
        self.assertEqual(bad.req("PUT", "/api/v1/analyzers/u1", {"weight": 1}).status, 503)
        for n in (a, bad):
            self.assertNotIn("s3cret", n.proc.stderr_text())
            self.assertNotIn("wrong", n.proc.stderr_text())

    # ------------------------------------------------------------------ etcd over TLS
    def test_etcd_tls_client_certificate(self):
        import security_util
        pki = security_util.Pki(self.path("pki"))
        ca = pki.make_ca("ca")
        # etcd's gateway dials its own gRPC server with this certificate: clientAuth too
        srv = pki.issue("etcd", ca, "etcd", san="IP:127.0.0.1", usage="serverAuth,clientAuth")
        cli = pki.issue("node", ca, "node", usage="clientAuth")
        other_ca = pki.make_ca("other")
        etcd = self.etcd(1, tls={"ca": ca[0], "cert": srv[0], "key": srv[1],
                                 "client_cert": cli[0], "client_key": cli[1]})
        self.assertTrue(etcd.endpoints.startswith("https://"))
        an = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A", "--etcd-cacert", ca[0], "--etcd-cert", cli[0],
                      "--etcd-key", cli[1])
        # no client certificate: etcd refuses the handshake; a CA that did not sign it: we do
        nocert = self.node(etcd.endpoints, "N", "--etcd-cacert", ca[0])
        wrongca = self.node(etcd.endpoints, "W", "--etcd-cacert", other_ca[0], "--etcd-cert",
                            cli[0], "--etcd-key", cli[1])
        self.wait_synced([a], 1)
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "t1", "url": an.url}).status, 201)
        self.assertEqual(json.loads(etcd.kv_get("/logdist-test/analyzers/t1"))["id"], "t1")
        for n in (nocert, wrongca):
            wait_until(lambda n=n: harness.get_json(n.port, "/api/v1/cluster")["last_error"] not in
                       ("", "not connected yet"), dl(10), "a refused node says why")
            st = harness.get_json(n.port, "/api/v1/cluster")
            self.assertFalse(st["etcd_connected"], st)
            self.assertEqual([x["id"] for x in
                              harness.get_json(a.port, "/api/v1/cluster")["nodes"]], ["A"])

    # ------------------------------------------------------------------ failover
    def test_failover_between_endpoints(self):
        etcd = self.etcd(3)
        an = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A")  # member 0 first
        b = self.node(etcd.url(1), "B")
        self.wait_synced([a, b], 2)
        self.assertEqual(harness.get_json(a.port, "/api/v1/cluster")["etcd_endpoint"], etcd.url(0))
        etcd.stop_member(0)
        self.aid = "f1"
        r = a.req("POST", "/api/v1/analyzers", {"id": "f1", "url": an.url})
        self.assertEqual(r.status, 201, r)  # tried on member 0, then member 1
        self.measure([b], lambda s: s is not None, "register after failover")
        self.assertNotEqual(harness.get_json(a.port, "/api/v1/cluster")["etcd_endpoint"],
                            etcd.url(0))
        self.assertIn("etcd endpoint %s failed" % etcd.url(0), a.proc.stderr_text())
        # the watch moved too: a change made through B reaches A
        r = b.req("PUT", "/api/v1/analyzers/f1", {"weight": 5})
        self.assertEqual(r.status, 200, r)
        self.measure([a], lambda s: s and s["weight"] == 5, "change through B reaches A")

    # ------------------------------------------------------------------ etcd leader killed
    def test_etcd_leader_killed(self):
        etcd = self.etcd(3)
        an = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A")
        b = self.node(",".join(etcd.url(i) for i in (2, 1, 0)), "B")
        self.wait_synced([a, b], 2)
        self.aid = "l1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "l1", "url": an.url}).status, 201)
        self.measure([b], lambda s: s is not None, "register")
        statuses = [etcd_util.post_json(etcd.url(i) + "/v3/maintenance/status", {})
                    for i in range(3)]
        leader = [i for i, st in enumerate(statuses) if st["leader"] == st["header"]["member_id"]]
        self.assertEqual(len(leader), 1, statuses)
        etcd.kill_member(leader[0])
        # a new leader is elected among the two left: writes go through again (a 503
        # etcd_unavailable while there is none is allowed, a lost write is not)
        seen = []

        def put():
            r = a.req("PUT", "/api/v1/analyzers/l1", {"weight": 8})
            seen.append(r.status)
            self.assertIn(r.status, (200, 503), r)
            return r.status == 200
        wait_until(put, dl(15), "a write after the etcd leader was killed", interval=0.2)
        self.measure([b], lambda s: s and s["weight"] == 8, "re-weight seen by B")
        body = "".join(json.dumps({"id": "k%d" % i}) + "\n" for i in range(20))
        before = an.records()
        self.assertEqual(b.post_logs(body, ctype="application/x-ndjson").status, 202)
        wait_until(lambda: an.records() >= before + 20, dl(10), "routing goes on")
        etcd.start_member(leader[0], timeout=dl(30))
        self.assertEqual(b.req("PUT", "/api/v1/analyzers/l1", {"weight": 2}).status, 200)
        self.measure([a], lambda s: s and s["weight"] == 2, "healed: B's write reaches A")
        sys.stderr.write("etcd leader killed: write answers until one went through: %s\n" % seen)

    # ------------------------------------------------------------------ etcd lost
    def test_etcd_lost_then_back(self):
        etcd = self.etcd(1)
        an = self.start_analyzer("an1")
        nodes = [self.node(etcd.endpoints, nid) for nid in ("A", "B")]
        self.wait_synced(nodes, 2)
        self.aid = "e1"
        self.assertEqual(nodes[0].req("POST", "/api/v1/analyzers", {"id": "e1", "url": an.url}).status, 201)
        self.measure(nodes, lambda s: s is not None, "register")
        etcd.stop_member(0)
        for n in nodes:
            wait_until(lambda n=n: harness.get_json(n.port, "/health").get("etcd") == "disconnected",
                       dl(10), "/health says etcd disconnected")
            prom = http_request(n.port, "GET", "/metrics").body.decode()
            self.assertIn("logdist_cluster_etcd_connected 0", prom)
        h = harness.get_json(nodes[0].port, "/health")
        self.assertEqual((h["status"], h["config"]), ("ok", "cached"))
        for method, path, body in (("PUT", "/api/v1/analyzers/e1", {"weight": 3}),
                                   ("POST", "/api/v1/analyzers", {"id": "e2", "url": an.url}),
                                   ("DELETE", "/api/v1/analyzers/e1", None),
                                   ("PUT", "/api/v1/routes", [])):
            r = nodes[1].req(method, path, body)
            self.assertEqual(r.status, 503, (method, path, r))
            self.assertEqual(r.json()["error"], "etcd_unavailable", r)
            self.assertIn("etcd", r.json()["message"])
        # routing goes on with the configuration the nodes had
        before = an.records()
        body = "".join(json.dumps({"id": "x%d" % i}) + "\n" for i in range(30))
        for n in nodes:
            self.assertEqual(n.post_logs(body, ctype="application/x-ndjson").status, 202)
        wait_until(lambda: an.records() >= before + 60, dl(10), "records delivered without etcd")
        self.assertEqual(self.spec(nodes[1], "e1")["weight"], 1)  # nothing half-applied
        etcd.start_member(0, timeout=dl(30))
        for n in nodes:
            wait_until(lambda n=n: harness.get_json(n.port, "/health").get("etcd") == "connected",
                       dl(15), "/health says etcd connected again")
        r = nodes[1].req("PUT", "/api/v1/analyzers/e1", {"weight": 4})
        self.assertEqual(r.status, 200, r)
        self.measure(nodes, lambda s: s and s["weight"] == 4, "write after etcd came back")
        wait_until(lambda: len(harness.get_json(nodes[0].port, "/api/v1/cluster")["nodes"]) == 2,
                   dl(15), "both nodes registered again")
        # the cluster-wide share view sums both nodes' published counters (>= the 60
        # records routed without etcd: 30 through each node)
        def summed():
            v = harness.get_json(nodes[0].port, "/api/v1/cluster/analyzers")
            a = {x["id"]: x for x in v["analyzers"]}.get("e1")
            return a and a["records_delivered"] >= 60 and len(a["nodes"]) == 2 and a
        e1 = wait_until(summed, dl(15), "cluster-wide counters of e1")
        self.assertEqual(e1["actual_share"], 1.0)
        self.assertEqual(e1["target_share"], 1.0)
        out = subprocess.run([os.path.join(harness.BIN, "logdistctl"), "--url",
                              "http://127.0.0.1:%d" % nodes[1].port, "cluster"],
                             capture_output=True, text=True, timeout=dl(20))
        self.assertEqual(out.returncode, 0, out.stderr)
        sys.stderr.write("logdistctl cluster:\n%s" % out.stdout)
        for want in ("etcd connected", "CLUSTER ACTUAL", "e1", "100.0%"):
            self.assertIn(want, out.stdout)
        self.assertEqual(sorted(l.split()[0] for l in out.stdout.splitlines()
                                if l.startswith(("A ", "B "))), ["A", "B"])

    # ------------------------------------------------------------------ compaction
    def test_cut_off_node_rereads_after_compaction(self):
        etcd = self.etcd(3)
        an = self.start_analyzer("an1")
        a = self.node(etcd.endpoints, "A")
        c = self.node(etcd.url(2), "C")  # C reaches etcd only through member 2
        self.wait_synced([a, c], 2)
        self.aid = "k1"
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "k1", "url": an.url}).status, 201)
        self.measure([c], lambda s: s is not None, "register")
        etcd.stop_member(2)
        wait_until(lambda: harness.get_json(c.port, "/health").get("etcd") == "disconnected",
                   dl(10), "C disconnected")
        # meanwhile A (through members 0 and 1) changes things, and etcd forgets the history
        self.assertEqual(a.req("PUT", "/api/v1/analyzers/k1", {"weight": 9}).status, 200)
        self.assertEqual(a.req("POST", "/api/v1/analyzers", {"id": "k2", "url": an.url}).status, 201)
        self.assertEqual(a.req("DELETE", "/api/v1/analyzers/k1").status, 200)
        rev = int(etcd_util.post_json(etcd.url(0) + "/v3/kv/range",
                                      {"key": etcd_util.b64("/")})["header"]["revision"])
        etcd_util.post_json(etcd.url(0) + "/v3/kv/compaction", {"revision": str(rev),
                                                                  "physical": True})
        self.assertEqual(self.spec(c, "k1")["weight"], 1)  # C still runs on what it had
        etcd.start_member(2, timeout=dl(30))
        self.aid = "k2"
        self.measure([c], lambda s: s is not None, "k2 after the re-read")
        self.aid = "k1"
        self.measure([c], lambda s: s is None, "k1 removed after the re-read")
        wait_until(lambda: "re-read" in c.proc.stderr_text(), dl(5), "C logged its re-read")

    # ------------------------------------------------------------------ membership
    def test_killed_node_leaves_and_comes_back(self):
        etcd = self.etcd(1)
        nodes = [self.node(etcd.endpoints, nid) for nid in ("A", "B")]
        dir_c = self.data_dir()
        c = self.node(etcd.endpoints, "C", data_dir=dir_c)
        self.wait_synced(nodes + [c], 3)
        c.proc.kill()
        t0 = time.monotonic()
        wait_until(lambda: "C" not in [n["id"] for n in
                                       harness.get_json(nodes[0].port, "/api/v1/cluster")["nodes"]],
                   dl(LEASE_TTL_S + 5), "C gone from A's /api/v1/cluster", interval=0.1)
        gone = time.monotonic() - t0
        sys.stderr.write("membership: a node killed with SIGKILL left the cluster view after "
                         "%.1f s (lease TTL %d s)\n" % (gone, LEASE_TTL_S))
        self.assertLessEqual(gone, dl(LEASE_TTL_S + 2))
        c2 = self.node(etcd.endpoints, "C", data_dir=dir_c)
        wait_until(lambda: "C" in [n["id"] for n in
                                   harness.get_json(nodes[1].port, "/api/v1/cluster")["nodes"]],
                   dl(10), "C back in B's view")
        self.assertTrue(harness.get_json(c2.port, "/api/v1/cluster")["etcd_connected"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
