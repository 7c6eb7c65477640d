"""kill -9 of a cluster node under critical load (docs/CLUSTER.md).

A 3-member etcd, 3 logdistd nodes, 3 recording analyzers (weights 0.5/0.3/0.2; each
writes the ids of a batch to its file before it answers 200) and one agent:
logdist-gen with the three nodes' URLs, every record critical, over 6 connections.
Node B is killed with SIGKILL mid-run; the agent's connections on B fail over to C
and A; B restarts on its data dir (replaying its WAL). At the end:
  - 0 acknowledged records lost: every id the agent got a 2xx for is at an analyzer
    (counted by id);
  - cluster-wide shares over the run (distinct ids per analyzer) within 0.5 % of the
    weights (printed).
"""
import collections
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import dl, read_lines, wait_until  # noqa: E402
from cluster_util import ClusterCase  # noqa: E402

WEIGHTS = {"w50": 0.5, "w30": 0.3, "w20": 0.2}


class ClusterChaosTest(ClusterCase):

    def test_kill9_node_under_critical_load(self):
        etcd = self.etcd(3)
        recs = {aid: self.start_recorder(aid, self.path(aid + ".ids")) for aid in WEIGHTS}
        dirs = {nid: self.data_dir() for nid in "ABC"}

        def node(nid):
            return self.node(etcd.endpoints, nid, data_dir=dirs[nid], prefix="/logdist-chaos",
                             analyzers=[(aid, recs[aid].url, w) for aid, w in WEIGHTS.items()])
        nodes = {nid: node(nid) for nid in "ABC"}
        self.wait_synced(nodes.values(), 3)

        total = 45000
        ids_out = self.path("gen.ids")
        argv = self.gen_argv(nodes["A"], count=total, connections=6, packet_size=50,
                             ids_out=ids_out, rate=3000,
                             extra=["--critical-ratio", "1", "--max-retries", "1000"])
        argv[argv.index("--url") + 1] = ",".join(n.logs_url for n in nodes.values())
        gen = self.spawn("gen", argv)
        try:
            wait_until(lambda: nodes["B"].metrics()["records_routed"] > 3000, dl(20),
                       "node B took records")
        except AssertionError:
            sys.stderr.write("B metrics %s\ngen stderr %s\n" % (
                {k: v for k, v in nodes["B"].metrics().items() if "records" in k},
                gen.stderr_text()[-3000:]))
            raise
        nodes["B"].proc.signal(signal.SIGKILL)
        nodes["B"].proc.wait(dl(10))
        killed_at = time.monotonic()
        time.sleep(1.0)
        nodes["B"] = node("B")  # restarts on its WAL
        sys.stderr.write("chaos: node B killed -9 and restarted after %.1f s\n"
                         % (time.monotonic() - killed_at))
        s = self.finish_gen(gen, dl(90))
        sys.stderr.write("chaos: gen %s\n" % s)
        self.assertEqual(s["records_accepted"], total, s)
        self.assertGreater(s["failovers"], 0, s)

        acked = set(read_lines(ids_out))
        self.assertEqual(len(acked), total)

        def at_analyzers():
            got = {aid: set(read_lines(r.ids_path)) for aid, r in recs.items()}
            union = set().union(*got.values())
            return not (acked - union) and got
        try:
            got = wait_until(at_analyzers, dl(60), "every acknowledged id at an analyzer",
                             interval=0.2)
        except AssertionError:
            got = {aid: set(read_lines(r.ids_path)) for aid, r in recs.items()}
            lost = acked - set().union(*got.values())
            self.fail("%d acknowledged records lost, e.g. %s" % (len(lost), sorted(lost)[:5]))
        dup = collections.Counter(i for v in got.values() for i in v)
        copies = sum(1 for c in dup.values() if c > 1)
        n_all = sum(len(v) for v in got.values())
        shares = {aid: len(v) / n_all for aid, v in got.items()}
        sys.stderr.write("chaos: 0 of %d acknowledged records lost; %d ids at two analyzers "
                         "(re-sent after the kill); cluster-wide shares %s (weights %s)\n"
                         % (total, copies, {k: round(v, 5) for k, v in shares.items()}, WEIGHTS))
        for aid, w in WEIGHTS.items():
            self.assertShare(shares[aid], w, 0.005, aid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
