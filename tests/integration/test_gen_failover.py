"""logdist-gen with several --url: fails over on a connection error or a 503, re-sends
the packet to the next URL with the same ids, and counts every packet accepted once."""
import collections
import os
import signal
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, free_port, read_lines, wait_until  # noqa: E402


class GenFailoverTest(LogdistTestCase):

    def gen_multi(self, urls, count, ids_out, extra=()):
        """logdist-gen argv with every URL of urls (the first two comma-separated,
        the rest as repeated --url, so both forms are exercised)."""
        argv = self.gen_argv(self.d, count=count, connections=4, packet_size=50,
                             ids_out=ids_out, extra=extra)
        i = argv.index("--url")
        argv[i + 1] = ",".join(urls[:2])
        for u in urls[2:]:
            argv += ["--url", u]
        return argv

    def check_ids(self, ids_out, count, summary):
        ids = read_lines(ids_out)
        dup = [k for k, v in collections.Counter(ids).items() if v > 1]
        self.assertEqual(dup, [], "ids acknowledged twice by the gen")
        self.assertEqual(len(ids), count)
        self.assertEqual(summary["records_accepted"], count, summary)
        self.assertEqual(summary["packets_accepted"], count // 50, summary)
        self.assertEqual(summary["errors"], 0, summary)

    def test_dead_url_and_503(self):
        """URL 1: a closed port; URL 2: an ingest that always answers 503; URL 3: a live
        node. Every packet ends on the live node, accepted once."""
        an = self.start_analyzer("f1")
        self.d = self.start_daemon(analyzers=[("f1", an.url, 1)])
        busy = self.recording_analyzer(status=503)
        dead = "http://127.0.0.1:%d/api/v1/logs" % free_port()
        ids_out = self.path("ids")
        p = self.spawn("gen", self.gen_multi([dead, busy.url, self.d.logs_url], 2000, ids_out))
        s = self.finish_gen(p, dl(60))
        self.check_ids(ids_out, 2000, s)
        self.assertGreater(s["failovers"], 0, s)
        self.assertGreater(s["throttled"], 0, s)  # the 503s
        self.assertGreater(len(busy.snapshot()), 0, "the 503 URL was never tried")
        self.d.wait_all_delivered(dl(30), expect_accepted=2000)
        self.assertEqual(an.stats()["records"], 2000)

    def test_kill9_node_under_load(self):
        """Two nodes; the gen sends to both; node A is killed with SIGKILL mid-run: the
        gen ends with every packet accepted once, on B after the kill, no error."""
        ids_rec = self.path("rec.ids")
        rec = self.start_recorder("r1", ids_rec)
        a = self.start_daemon(analyzers=[("r1", rec.url, 1)], name="nodeA")
        self.d = b = self.start_daemon(analyzers=[("r1", rec.url, 1)], name="nodeB")
        ids_out = self.path("ids")
        p = self.spawn("gen", self.gen_multi([a.logs_url, b.logs_url], 20000, ids_out,
                                             extra=["--rate", "4000"]))
        wait_until(lambda: a.metrics()["records_routed"] > 1000,
                   dl(20), "node A took records")
        a.proc.signal(signal.SIGKILL)
        a.proc.wait(dl(10))
        s = self.finish_gen(p, dl(60))
        self.check_ids(ids_out, 20000, s)
        self.assertGreater(s["failovers"], 0, s)
        # B took everything after the kill: what B acknowledged reached the analyzer
        b.wait_all_delivered(dl(30))
        got = set(read_lines(ids_rec))
        b_acc = b.metrics()["records_routed"]
        self.assertGreaterEqual(len(got), b_acc)
        self.assertLessEqual(len(got), 20000)


if __name__ == "__main__":
    unittest.main()
