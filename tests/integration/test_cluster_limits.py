"""Cluster-wide rate limits (docs/CLUSTER.md): --global-records-per-s on cluster nodes
is the limit of the whole cluster, split evenly among the live nodes and re-split when
one leaves.

One etcd member, three nodes with --global-records-per-s 3000, each loaded by its own
logdist-gen far above its share (packets answered 429 are retried after Retry-After).
The accepted rate of every node is measured from its records_accepted counter over a
window: the sum stays near 3000 with 3 nodes (each near 1000); node C is killed with
SIGKILL; once its lease ended and A and B count 2 nodes, the sum is again near 3000
(each near 1500). Figures printed.
"""
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import dl, wait_until  # noqa: E402
from cluster_util import ClusterCase  # noqa: E402

GLOBAL = 3000
WINDOW_S = 4.0
TOL = 0.2  # the buckets are exact; the slack is for the window edges and 1 s bursts


class ClusterLimitsTest(ClusterCase):

    def rates(self, nodes):
        """Accepted records/s of each node over WINDOW_S."""
        a0 = {k: n.metrics()["records_accepted"] for k, n in nodes.items()}
        t0 = time.monotonic()
        time.sleep(WINDOW_S)
        a1 = {k: n.metrics()["records_accepted"] for k, n in nodes.items()}
        el = time.monotonic() - t0
        return {k: (a1[k] - a0[k]) / el for k in nodes}

    def check(self, r, live):
        total = sum(r.values())
        sys.stderr.write("cluster rate limit %d rec/s over %d nodes: accepted %s, sum %.0f "
                         "rec/s\n" % (GLOBAL, live, {k: round(v) for k, v in r.items()}, total))
        self.assertLessEqual(abs(total - GLOBAL), GLOBAL * TOL, r)
        for k, v in r.items():
            self.assertLessEqual(abs(v - GLOBAL / live), GLOBAL / live * TOL, (k, r))

    def test_global_limit_split_and_resplit(self):
        etcd = self.etcd(1)
        an = self.start_analyzer("rl1")
        nodes = {nid: self.node(etcd.endpoints, nid, "--global-records-per-s", str(GLOBAL),
                                prefix="/logdist-rl", analyzers=[("rl1", an.url, 1)])
                 for nid in "ABC"}
        self.wait_synced(nodes.values(), 3)
        for nid, n in nodes.items():
            self.start_gen(n, duration=60, rate=2500, packet_size=20, connections=60,
                           extra=["--max-retries", "100000"])
        time.sleep(2.0)  # past the first buckets' burst
        self.check(self.rates(nodes), 3)

        nodes["C"].proc.signal(signal.SIGKILL)
        nodes["C"].proc.wait(dl(10))
        del nodes["C"]
        for n in nodes.values():
            wait_until(lambda n=n: len(harness.get_json(n.port, "/api/v1/cluster")["nodes"]) == 2,
                       dl(15), "C gone from the cluster view", interval=0.1)
        time.sleep(1.5)  # the re-split is applied within a tick; let the buckets settle
        self.check(self.rates(nodes), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
