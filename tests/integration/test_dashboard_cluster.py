"""The dashboard's cluster view (src/admin/dashboard/cluster.js) in headless Chromium,
against a real etcd (etcd_util.EtcdCluster, one member) and real logdistd nodes
started with --cluster-etcd, real logdist-analyzer processes and real records.

tests/node/dashboard_driver.js drives the page (the Driver of test_dashboard.py);
its "cluster" command returns the section as shown (every data-value). Checked:

- three nodes A, B, C; two analyzers registered on A through etcd (weights 1 and 3);
  records posted to each node (different counts), traffic stopped and every
  node's published counters settled (records_per_s 0, all delivered): the page on A
  shows exactly what GET /api/v1/cluster and /api/v1/cluster/analyzers say, read
  right after the page (nodes, alive, advertise URLs, version, start time,
  counters, queue, etcd connectivity; per analyzer weight, target share,
  cluster-wide actual share, records delivered and the per-node breakdown); the
  page on B says it is B and lists the same nodes;
- C killed with SIGKILL: its row leaves the page within the lease TTL (10 s) plus
  a bound (the time is printed);
- etcd stopped: the page's disconnected banner appears (bounded wait) with the
  API's endpoint and last error, config "cached"; etcd started again: the banner
  goes away and the view says connected;
- a single node (no --cluster-etcd, tokens on): no cluster section, probed once
  through /health (no 404 in the console), while GET /api/v1/cluster is 404.

No console error on any page (a CSP violation would be one). A screenshot goes to
the test's temp dir, and to docs/dashboard-cluster.png when LOGDIST_SCREENSHOT=1.
Every wait is bounded; only processes this test started are stopped, by pid.
"""
import os
import secrets
import shutil
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import dl, hash_token, http_request, wait_until  # noqa: E402
import test_dashboard as dash  # noqa: E402  (its Driver; `dash` is a module, so its tests are not collected here)
from cluster_util import LEASE_TTL_S, ClusterCase  # noqa: E402
DOC_SCREENSHOT = os.path.join(harness.REPO, "docs", "dashboard-cluster.png")
# the node fields the page shows that do not move once traffic stopped and counters settled
STABLE_NODE_FIELDS = ("url", "version", "started_ms", "records_per_s", "records_accepted",
                      "records_delivered", "queued_records")


def ndjson(tag, n):
    return "".join('{"id":"%s-%d","level":"INFO","message":"m %d"}\n' % (tag, i, i)
                   for i in range(n))


class DashboardClusterTest(ClusterCase):
    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "2000"}

    def setUp(self):
        super().setUp()  # logdistd with --cluster-etcd, etcd installed
        if not os.access(dash.CHROMIUM, os.X_OK):
            self.fail("%s not found: install the Debian package chromium "
                      "(scripts/setup-deps.sh)" % dash.CHROMIUM)
        if not shutil.which("node"):
            self.fail("node is not installed (scripts/setup-deps.sh)")
        if not os.path.isdir(os.path.join(dash.NODE_DIR, "node_modules", "playwright-core")):
            self.fail("tests/node/node_modules/playwright-core missing (scripts/setup-deps.sh)")

    def driver(self):
        d = dash.Driver(self)
        self.addCleanup(d.close)
        return d

    def node(self, etcd_urls, nid):
        return super().node(etcd_urls, nid, prefix="/logdist-dash")

    @staticmethod
    def api(n, path):
        return harness.get_json(n.port, path)

    def cluster_view(self, drv, page, cond, timeout, what):
        """The page's cluster section once cond(view) holds (a fresh read each try)."""
        box = {}

        def ok():
            box["v"] = drv.call("cluster", page=page, fresh=1)
            return cond(box["v"])
        try:
            wait_until(ok, timeout, what, interval=0.2)
        except AssertionError:
            self.fail("%s: last view %s" % (what, box.get("v")))
        return box["v"]

    def check_console(self, view):
        self.assertEqual(view["errors"], [], "console errors (a CSP violation is one)")

    # ---- checks: the page shows what the API says

    def check_status(self, view, st):
        info = view["info"]
        self.assertEqual(info["cluster-node-id"], st["node_id"], info)
        self.assertEqual(info["cluster-etcd"], "true" if st["etcd_connected"] else "false", info)
        self.assertEqual(info["cluster-endpoint"], st["etcd_endpoint"], info)
        self.assertEqual(info["cluster-prefix"], st["prefix"], info)
        self.assertEqual(info["cluster-config"], st["config"], info)
        self.assertEqual(int(info["cluster-lease"]), st["lease_ttl_s"], info)
        self.assertEqual(info["cluster-last-error"], st["last_error"], info)
        self.assertLessEqual(int(info["cluster-revision"]), st["revision"], info)

    def check_nodes(self, view, st):
        # the same nodes (the page keeps the API's order, which a node's refresh may change)
        self.assertEqual(sorted(view["node_order"]), sorted(n["id"] for n in st["nodes"]),
                         view["nodes"])
        for n in st["nodes"]:
            r = view["nodes"][n["id"]]
            what = "%s: page %s, API %s" % (n["id"], r, n)
            self.assertEqual(r["alive"], "true" if n["alive"] else "false", what)
            self.assertEqual(r["row_alive"], r["alive"], what)
            self.assertEqual(r["row_self"], "true" if n["self"] else "false", what)
            self.assertEqual(r["etcd_connected"], "true" if n["etcd_connected"] else "false",
                             what)
            for f in STABLE_NODE_FIELDS:
                want = n[f]
                self.assertEqual(float(r[f]) if isinstance(want, (int, float)) else r[f], want,
                                 (f, what))
            # published every 3 s: the page's age is one of a read taken before the API's
            self.assertTrue(0 <= int(r["age_ms"]) <= dl(LEASE_TTL_S) * 1000, what)
            self.assertTrue(r["started_ms_text"] and r["url_text"] == n["url"], what)

    def check_analyzers(self, view, an):
        self.assertEqual(sorted(view["analyzers"]), sorted(a["id"] for a in an["analyzers"]),
                         view["analyzers"])
        self.assertEqual(int(view["info"]["cluster-an-nodes"]), an["nodes"], view["info"])
        for a in an["analyzers"]:
            r = view["analyzers"][a["id"]]
            what = "%s: page %s, API %s" % (a["id"], r, a)
            self.assertEqual(float(r["weight"]), a["weight"], what)
            self.assertEqual(float(r["target_share"]), a["target_share"], what)
            self.assertAlmostEqual(float(r["actual_share"]), a["actual_share"], 9, what)
            self.assertEqual(int(r["records_delivered"]), a["records_delivered"], what)
            self.assertEqual({k: int(v) for k, v in r["per_node"].items()}, a["nodes"], what)
            self.assertTrue(r["target_share_text"].endswith("%"), what)

    # ---- the tests

    def test_cluster_view(self):
        etcd = self.etcd(1)
        an = {aid: self.start_analyzer(aid) for aid in ("a1", "a2")}
        nodes = {nid: self.node(etcd.endpoints, nid) for nid in ("A", "B", "C")}
        A, B, C = nodes["A"], nodes["B"], nodes["C"]
        for n in nodes.values():
            wait_until(lambda n=n: len(self.api(n, "/api/v1/cluster")["nodes"]) == 3
                       and self.api(n, "/health").get("etcd") == "connected",
                       dl(15), "node on %d sees 3 nodes" % n.port)
        for aid, w in (("a1", 1), ("a2", 3)):
            r = A.req("POST", "/api/v1/analyzers", {"id": aid, "url": an[aid].url, "weight": w})
            self.assertEqual(r.status, 201, r)
        for n in nodes.values():
            wait_until(lambda n=n: sorted(n.analyzers())
                       == ["a1", "a2"], dl(10), "both analyzers on node %d" % n.port)

        # records through every node (different counts), then traffic stops
        sent = {"A": 400, "B": 240, "C": 120}
        for nid, count in sent.items():
            for i in range(4):
                r = nodes[nid].post_logs(ndjson("%s%d" % (nid, i), count // 4),
                                         ctype="application/x-ndjson")
                self.assertEqual(r.status, 202, r)
        total = sum(sent.values())
        for nid, n in nodes.items():
            n.wait_all_delivered(dl(30), expect_accepted=sent[nid])

        def settled():  # every node published its final counters and a zero rate
            st = self.api(A, "/api/v1/cluster")
            ca = self.api(A, "/api/v1/cluster/analyzers")
            return (sum(a["records_delivered"] for a in ca["analyzers"]) == total
                    and len(st["nodes"]) == 3
                    and all(x["records_per_s"] == 0 and x["queued_records"] == 0
                            for x in st["nodes"]))
        wait_until(settled, dl(30), "published counters settled", interval=0.2)

        drv = self.driver()
        url = "http://127.0.0.1:%d/" % A.port
        r = drv.call("open", page="A", url=url)
        self.assertEqual(r["state"], "ok", r)
        view = self.cluster_view(drv, "A", lambda v: v["state"] == "ok" and v["cluster_polls"] > 0,
                                 dl(15), "the cluster section on A")
        view = drv.call("cluster", page="A", fresh=1)
        st, ca = self.api(A, "/api/v1/cluster"), self.api(A, "/api/v1/cluster/analyzers")
        self.assertTrue(view["visible"], view)
        self.assertEqual((view["banner"], view["error"]), ("", ""), view)
        self.assertEqual(view["probes"], 1, view)
        self.check_status(view, st)
        self.assertEqual(view["info"]["cluster-node-id"], "A")
        self.assertEqual(view["info"]["cluster-config"], "synced")
        self.check_nodes(view, st)
        self.assertEqual(sorted(view["nodes"]), ["A", "B", "C"])
        for nid, n in nodes.items():  # each node's advertised URL reaches that node
            self.assertEqual(int(float(view["nodes"][nid]["records_accepted"])), sent[nid])
            self.assertTrue(view["nodes"][nid]["url"].endswith(":%d" % n.port),
                            (nid, view["nodes"][nid]["url"], n.port))
        self.check_analyzers(view, ca)
        shares = {k: float(v["actual_share"]) for k, v in view["analyzers"].items()}
        # SWRR on each node: within 2 records of the weights per node
        self.assertAlmostEqual(shares["a1"], 0.25, delta=6 / total, msg=view["analyzers"])
        self.assertAlmostEqual(shares["a2"], 0.75, delta=6 / total, msg=view["analyzers"])
        self.assertEqual(sum(int(v["records_delivered"]) for v in view["analyzers"].values()),
                         total)
        shot = (DOC_SCREENSHOT if os.environ.get("LOGDIST_SCREENSHOT") == "1"
                else self.path("dashboard-cluster.png"))
        drv.call("screenshot", page="A", path=shot)
        self.assertGreater(os.path.getsize(shot), 10000)

        # any node: the page on B is B's view of the same nodes
        drv.call("open", page="B", url="http://127.0.0.1:%d/" % B.port)
        vb = self.cluster_view(drv, "B", lambda v: v["state"] == "ok" and v["cluster_polls"] > 0,
                               dl(15), "the cluster section on B")
        self.assertEqual(vb["info"]["cluster-node-id"], "B")
        self.assertEqual(sorted(vb["nodes"]), ["A", "B", "C"])
        self.assertEqual(vb["nodes"]["B"]["row_self"], "true")
        self.check_analyzers(vb, self.api(B, "/api/v1/cluster/analyzers"))
        self.check_console(vb)

        # C killed: its row leaves A's page within the lease TTL (+ a bound)
        C.proc.kill()
        t0 = time.monotonic()
        view = self.cluster_view(drv, "A", lambda v: "C" not in v["nodes"]
                                 or v["nodes"]["C"]["alive"] == "false",
                                 dl(LEASE_TTL_S + 10), "C gone from the page")
        gone = time.monotonic() - t0
        sys.stderr.write("dashboard: a node killed with SIGKILL left the page after %.1f s "
                         "(lease TTL %d s)\n" % (gone, LEASE_TTL_S))
        self.assertEqual(sorted(k for k, v in view["nodes"].items() if v["alive"] == "true"),
                         ["A", "B"], view["nodes"])
        st = self.api(A, "/api/v1/cluster")
        self.assertNotIn("C", [n["id"] for n in st["nodes"] if n["alive"]])

        # etcd stopped: the banner, with what the API says; back: it goes away
        etcd.stop_member(0)
        view = self.cluster_view(drv, "A", lambda v: v["banner"] != "", dl(20),
                                 "the disconnected banner")
        st = self.api(A, "/api/v1/cluster")
        self.assertFalse(st["etcd_connected"], st)
        for want in ("disconnected", "running on the last configuration", "admin writes refused",
                     st["etcd_endpoint"]):
            self.assertIn(want, view["banner"], view["banner"])
        view = drv.call("cluster", page="A", fresh=1)
        st = self.api(A, "/api/v1/cluster")
        if not st["etcd_connected"]:  # still down (it is): the page = the API
            self.assertEqual(view["info"]["cluster-etcd"], "false", view["info"])
            self.assertEqual(view["info"]["cluster-config"], "cached", view["info"])
            self.assertEqual(view["info"]["cluster-last-error"], st["last_error"], view["info"])
            self.assertNotEqual(st["last_error"], "")
            self.assertIn(st["last_error"], view["banner"])
            self.assertEqual(view["nodes"]["A"]["alive"], "true", view["nodes"])
        drv.call("screenshot", page="A", path=self.path("dashboard-cluster-etcd-down.png"))
        etcd.start_member(0, timeout=dl(30))
        view = self.cluster_view(drv, "A", lambda v: v["banner"] == ""
                                 and v["info"]["cluster-etcd"] == "true", dl(30),
                                 "the banner gone once etcd is back")
        self.assertEqual(view["info"]["cluster-last-error"], "", view["info"])
        self.check_console(view)

    def test_single_node_has_no_cluster_section(self):
        tok = secrets.token_hex(16)
        a1 = self.start_analyzer("a1")
        d = self.start_daemon("--token", "role=read,hash=%s" % hash_token(tok),
                              analyzers=[("a1", a1.url, 1)])
        r = http_request(d.port, "GET", "/api/v1/cluster", headers=dash.bearer(tok))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["error"], "not_clustered", r)
        drv = self.driver()
        r = drv.call("open", page="p", url="http://127.0.0.1:%d/" % d.port)
        self.assertEqual(r["state"], "auth", r)
        drv.call("token", page="p", token=tok)
        view = self.cluster_view(drv, "p", lambda v: v["state"] == "single", dl(15),
                                 "the page found a single node")
        view = drv.call("cluster", page="p", fresh=3)  # three more polls: no more probes
        self.assertFalse(view["visible"], view)
        self.assertEqual(view["state"], "single", view)
        self.assertEqual(view["probes"], 1, view)
        self.assertEqual(view["cluster_polls"], 0, view)
        self.assertEqual(view["nodes"], {}, view)
        # the token form's 401 before the token was entered; nothing else (no 404)
        self.assertEqual([e for e in view["errors"] if "status of 401" not in e], [], view)


if __name__ == "__main__":
    unittest.main(verbosity=2)
