"""Weighted distribution: shares per analyzer, nothing lost, no duplicates."""
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, read_lines, scaled  # noqa: E402

WEIGHTS = [("w40", 0.4), ("w30", 0.3), ("w20", 0.2), ("w10", 0.1)]


class DistributionTest(LogdistTestCase):

    def distribute(self, count, tol, strategy=None, packet_size=100, **genkw):
        analyzers = [self.start_analyzer(aid) for aid, _ in WEIGHTS]
        args = ["--strategy", strategy] if strategy else []
        d = self.start_daemon(*args, analyzers=[(a.id, a.url, w) for a, (_, w)
                                                in zip(analyzers, WEIGHTS)])
        ids_path = self.path("ids.txt")
        summary = self.run_gen(d, count=count, packet_size=packet_size, ids_out=ids_path, **genkw)
        self.assertEqual(summary["records_accepted"], count, summary)
        self.assertEqual(summary["records_rejected"], 0, summary)
        m = d.wait_all_delivered(dl(60), expect_accepted=count)
        self.assertEqual(m["records_delivered"], count)
        self.assertEqual(m["records_deadlettered"], 0)
        # at full generator speed the queue budget may push back: every refusal is a
        # 503 queue_full that gen retried (records_rejected 0 above), nothing else
        self.assertEqual(m["packets_rejected"], m["packets_rejected_by_reason"]["queue_full"], m)
        self.assertEqual(m["packets_rejected"], summary["throttled"], summary)

        sent = read_lines(ids_path)
        self.assertEqual(len(sent), count)
        total = 0
        union = set()
        per = {}
        for a, (_, w) in zip(analyzers, WEIGHTS):
            st = a.stats()
            ids = a.ids()
            per[a.id] = st["records"]
            self.assertEqual(st["duplicate_ids"], 0, st)
            self.assertEqual(st["duplicate_batches"], 0, st)
            self.assertEqual(st["bad_batches"], 0, st)
            self.assertEqual(len(ids), st["records"], st)
            total += st["records"]
            union.update(ids)
            self.assertShare(st["records"] / count, w, tol, a.id)
        # logdistd's own per-analyzer view agrees with the analyzers
        view = d.analyzers()
        for aid, n in per.items():
            self.assertEqual(view[aid]["records_delivered"], n, view[aid])
        self.assertEqual(total, count, "records received by all analyzers (duplicates?)")
        self.assertEqual(len(union), count, "unique ids across analyzers (duplicates?)")
        self.assertEqual(union, set(sent), "union of analyzer ids == ids accepted by gen")
        return per

    def test_swrr_weights_200k(self):
        self.distribute(scaled(200000, 20000), 0.005)

    def test_random_weights_200k(self):
        # binomial sd of a share at n=200k is <= 0.0011, so 0.5 % is > 4.5 sd
        # (and the balancer's seed is fixed, so the run is reproducible)
        n = scaled(200000, 50000)
        self.distribute(n, 0.005 if n >= 200000 else 0.01, strategy="random")

    def test_format_array(self):
        self.distribute(scaled(20000, 5000), 0.005, fmt="array")

    def test_format_ndjson(self):
        self.distribute(scaled(20000, 5000), 0.005, fmt="ndjson")

    def test_format_json_gzip(self):
        self.distribute(scaled(20000, 5000), 0.005, use_gzip=True)

    def test_format_ndjson_gzip(self):
        self.distribute(scaled(20000, 5000), 0.005, fmt="ndjson", use_gzip=True)

    def test_format_array_gzip_big_packets(self):
        # 2000-record packets are split over several batches per analyzer
        self.distribute(scaled(40000, 10000), 0.005, fmt="array", use_gzip=True,
                        packet_size=2000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
