"""A base for the cluster tests (Python 3 stdlib only): real etcd members
(etcd_util.EtcdCluster) and logdistd nodes with --cluster-etcd, started through
the harness (so tearDown stops them, by pid), and bounded waits on what the nodes
say through their own admin API.

- ClusterCase.etcd(members, **kw): an etcd cluster in the test's temp dir;
- ClusterCase.node(urls, id, *args): a logdistd node of the cluster under /logdist-test;
- wait_synced(nodes, count): every node sees `count` nodes and etcd connected;
- spec(node, id): GET /api/v1/analyzers/<id> on that node (None on a 404);
- measure(nodes, cond, what): seconds until cond(spec(node, self.aid)) holds on
  every node, polled every 5 ms, failing after dl(10) s.
No test methods here: a test module subclasses ClusterCase.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import LogdistTestCase, dl, wait_until, http_request  # noqa: E402
import etcd_util  # noqa: E402

LEASE_TTL_S = 10  # src/cluster/cluster.h CLUSTER_LEASE_TTL_S


class ClusterCase(LogdistTestCase):
    TEARDOWN_OK_CODES = dict(LogdistTestCase.TEARDOWN_OK_CODES, etcd=(0, -15))

    def setUp(self):
        super().setUp()
        if not harness.daemon_has_option("--cluster-etcd"):
            self.fail("logdistd has no --cluster-etcd")
        if not os.access(etcd_util.ETCD, os.X_OK):
            self.fail("etcd is not installed (scripts/setup-deps.sh installs etcd-server)")

    def etcd(self, members, **kw):
        """kw: more EtcdCluster arguments (extra=, tls=)."""
        return etcd_util.EtcdCluster(self.tmp, members=members, spawn=self.spawn,
                                     start_timeout=dl(30), **kw)

    def node(self, etcd_urls, nid, *args, data_dir=None, prefix="/logdist-test", analyzers=()):
        """args: more logdistd arguments; analyzers as for start_daemon."""
        return self.start_daemon("--cluster-etcd", etcd_urls, "--node-id", nid,
                                 "--cluster-prefix", prefix, "--data-dir",
                                 data_dir or self.data_dir(), *args, analyzers=analyzers,
                                 name="logdistd-" + nid)

    def wait_synced(self, nodes, count):
        for n in nodes:
            wait_until(lambda n=n: len(harness.get_json(n.port, "/api/v1/cluster")["nodes"]) >= count
                       and harness.get_json(n.port, "/health").get("etcd") == "connected",
                       dl(15), "node on %d sees %d nodes" % (n.port, count))

    @staticmethod
    def spec(n, aid):
        r = http_request(n.port, "GET", "/api/v1/analyzers/" + aid)
        return r.json() if r.status == 200 else None

    def measure(self, nodes, cond, what, t0=None):
        """Seconds from t0 (default now) until cond(spec) holds on every one of nodes
        (polled every 5 ms)."""
        t0 = t0 or time.monotonic()
        pending = set(range(len(nodes)))
        end = t0 + dl(10)
        worst = 0.0
        while pending:
            for i in list(pending):
                if cond(self.spec(nodes[i], self.aid)):
                    pending.discard(i)
                    worst = max(worst, time.monotonic() - t0)
            if time.monotonic() > end:
                self.fail("%s: nodes %s did not apply it within %.0fs" % (what, pending, dl(10)))
            time.sleep(0.005)
        return worst
