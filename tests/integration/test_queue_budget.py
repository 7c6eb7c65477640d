"""Queue budget charges the memory held, not record bytes (issue 9, finding 4).

With every analyzer down, accepted packets stay in memory. A packet whose records are
tiny but whose body is big (padding outside "messages", or a gzip body that expands)
holds its whole body until it is routed: the budget must charge that, so the daemon
answers 503 queue_full after a few such packets instead of pinning unbounded memory.
"""
import gzip
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, free_port  # noqa: E402

MiB = 1 << 20


class HeldMemoryBudgetTest(LogdistTestCase):

    def down_daemon(self, *args):
        port = free_port()  # nothing listens there: the analyzer is down
        d = self.start_daemon("--max-queue-bytes", "4MiB", *args,
                              analyzers=[("q1", "http://127.0.0.1:%d/ingest" % port, 1)])
        d.wait_state("q1", "down", dl(10))
        return d

    def post_until_full(self, d, make_body, encoding=None, tries=12):
        accepted = 0
        for i in range(tries):
            r = d.post_logs(make_body(i), encoding=encoding)
            if r.status == 202:
                accepted += 1
                continue
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json()["error"], "queue_full", r.json())
            return accepted, True
        return accepted, False

    def check_charged(self, d, accepted, per_packet):
        m = d.metrics()
        self.assertEqual(m["packets_rejected_by_reason"]["queue_full"], 1, m)
        self.assertEqual(m["queued_records"], accepted, m)
        # each accepted packet is charged at least its body, and the budget holds
        self.assertGreaterEqual(m["queued_bytes"], accepted * per_packet, m)
        self.assertLessEqual(m["queued_bytes"], 4 * MiB + per_packet * 2, m)

    def test_padded_bodies_fill_the_budget(self):
        d = self.down_daemon()
        pad = "x" * MiB

        def body(i):
            return '{"pad":"%s","messages":[{"id":"p%d"}]}' % (pad, i)
        accepted, full = self.post_until_full(d, body)
        self.assertTrue(full, "1 MiB bodies with 2-byte records never filled a 4 MiB budget")
        self.assertGreaterEqual(accepted, 3)
        self.assertLessEqual(accepted, 5)
        self.check_charged(d, accepted, MiB)

    def test_gzip_expansion_is_charged(self):
        d = self.down_daemon()
        pad = "y" * (2 * MiB)

        def body(i):  # ~2 KiB on the wire, 2 MiB once decoded
            return gzip.compress(('{"pad":"%s","messages":[{"id":"g%d"}]}' % (pad, i)).encode())
        accepted, full = self.post_until_full(d, body, encoding="gzip")
        self.assertTrue(full, "2 MiB decoded bodies never filled a 4 MiB budget")
        self.assertGreaterEqual(accepted, 1)
        self.assertLessEqual(accepted, 3)
        self.check_charged(d, accepted, 2 * MiB)


if __name__ == "__main__":
    unittest.main(verbosity=2)
