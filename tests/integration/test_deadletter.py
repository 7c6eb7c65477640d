#!/usr/bin/env python3
"""Dead letters (docs/DURABILITY.md "Dead letters", docs/API.md dead-letter endpoints),
driving the real logdistd on 127.0.0.1:

- a full dead-letter store never loses acknowledged critical records: with a tiny
  --deadletter-max-bytes and a failing analyzer, critical records that ran out of
  attempts are not dead-lettered, stay unacknowledged in the WAL (counted in
  records_deadletter_kept_in_wal) and arrive after kill -9 and a restart with a
  working analyzer; non-critical ones are counted in records_deadletter_evicted;
- replay of a record at the ingest depth limit (NDJSON, --max-depth) succeeds: the
  replay limits allow for the two levels the stored batch framing adds;
- a replay where some batches fail answers 503 replay_failed, removes the batches that
  were re-queued (by batch id) and keeps the others; a second replay does not deliver
  the first one's batches again; a purge by batch id removes only what it names;
- 409 while a replay runs (its WAL fsync slowed by the fault shim, tests/fault/).

Stored logs are handcrafted here in the documented format ("LDDLQ01\\n", then
u32 len | u32 crc32c | JSON meta "\\n" body) so each case is exact.
"""
import http.client
import json
import os
import struct
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from durability_util import (ANALYZERS, DEADLETTER, DurabilityCase, crc32c,  # noqa: E402
                             dl, http_request, packet, post_packet, record, scaled,
                             wait_until)
from fault_util import FaultCase, FaultControl  # noqa: E402

DL_MAGIC = b"LDDLQ01\n"


def dl_entry(batch_id, body, records, durable=True):
    meta = json.dumps({"batch_id": batch_id, "analyzer": "old", "reason": "test",
                       "records": records, "attempts": 3, "at_ms": 1, "durable": durable},
                      separators=(",", ":")).encode()
    payload = meta + b"\n" + body
    return struct.pack("<II", len(payload), crc32c(payload)) + payload


def batch_body(batch_id, recs):
    return json.dumps({"packet_id": batch_id, "agent_id": "logdistd", "messages": recs},
                      separators=(",", ":")).encode()


def write_log(data_dir, entries):
    with open(os.path.join(data_dir, "deadletter.log"), "wb") as f:
        f.write(DL_MAGIC + b"".join(entries))


class DeadLetterCase(DurabilityCase):

    def dl_json(self, d):
        r = d.req("GET", DEADLETTER)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def failing_analyzer(self):
        """An analyzer whose /ingest answers 500 while its health URL says 200."""
        bad = self.start_analyzer(self.unique("bad"), "--status", "500")
        hc = self.recording_analyzer()
        return bad, "id=%s,url=%s,weight=1,health_url=http://127.0.0.1:%d/health" % (
            bad.id, bad.url, hc.port)

    def replay(self, d):
        return d.req("POST", DEADLETTER + "/replay", timeout=dl(60))


class FullStoreTest(DeadLetterCase):

    def test_full_store_never_loses_acknowledged_critical_records(self):
        bad, spec = self.failing_analyzer()
        data = self.new_data_dir("full")
        args = ("--max-attempts", "2", "--retry-base-ms", "10", "--deadletter-max-bytes", "1")
        d = self.start_dd(data, *args, analyzers=[spec])
        n = scaled(60, 12)
        crit = ["crit-%03d" % i for i in range(n)]
        plain = ["plain-%03d" % i for i in range(n)]
        for k in range(0, n, 6):
            r = post_packet(d.port, packet([record(x, critical=True) for x in crit[k:k + 6]]))
            self.assertEqual(r.status, 202, r)
            r = post_packet(d.port, packet([record(x) for x in plain[k:k + 6]]))
            self.assertEqual(r.status, 202, r)

        def settled():
            m = d.metrics()
            done = m["records_deadletter_kept_in_wal"] + m["records_deadletter_evicted"] >= 2 * n
            return done and m
        m = wait_until(settled, dl(30), "every batch ran out of attempts")
        self.assertEqual(m["records_deadletter_kept_in_wal"], n, m)
        self.assertEqual(m["records_deadletter_evicted"], n, m)
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(m["wal_live_records"], n, "critical records were acknowledged: %s" % m)
        j = self.dl_json(d)
        self.assertEqual((j["records"], j["batches"]), (0, 0), j)
        self.assertEqual(d.req("POST", DEADLETTER + "/replay").status, 200)

        self.kill9(d.proc)
        good = self.start_analyzer(self.unique("good"))
        # the same analyzer id (restored from analyzers.db otherwise), now answering 2xx
        d = self.start_dd(data, *args, analyzers=[(bad.id, good.url, 1)])
        self.wait_ids([good], crit, dl(30), "acknowledged critical records after kill -9")
        self.wait_drained(d, dl(20))
        self.assertEqual(good.stats()["duplicate_ids"], 0)


class ReplayTest(DeadLetterCase):

    def test_replay_of_a_record_at_the_depth_limit(self):
        bad, spec = self.failing_analyzer()
        data = self.new_data_dir("deep")
        args = ("--max-attempts", "2", "--retry-base-ms", "10", "--max-depth", "8")
        d = self.start_dd(data, *args, analyzers=[spec])
        deep = b'{"id":"deep-1","a":{"b":{"c":{"d":{"e":{"f":{"g":[1]}}}}}}}'  # depth 8
        too_deep = b'{"id":"deep-2","a":{"b":{"c":{"d":{"e":{"f":{"g":[[1]]}}}}}}}'
        nd = {"Content-Type": "application/x-ndjson"}
        r = d.req("POST", "/api/v1/logs", too_deep + b"\n", nd)
        self.assertEqual(r.status, 400, "the limit is not where this test thinks: %r" % r)
        r = d.req("POST", "/api/v1/logs", deep + b"\n" + b'{"id":"flat-1"}\n', nd)
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: self.dl_json(d)["records"] == 2, dl(30), "dead-lettered")

        good = self.start_analyzer(self.unique("good"))
        self.add_analyzer_api(d, good.id, good.url)
        self.assertEqual(d.req("DELETE", ANALYZERS + "/" + bad.id).status, 200)
        r = self.replay(d)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["replayed_records"], 2, r)
        self.wait_ids([good], ["deep-1", "flat-1"], dl(30), "replayed deep record")
        self.assertEqual(self.dl_json(d)["records"], 0)

    def test_partial_replay_failure_removes_only_what_was_requeued(self):
        data = self.new_data_dir("partial")
        good_ids = ["ok-%d" % i for i in range(6)]
        entries = [
            dl_entry("g-1", batch_body("g-1", [{"id": x} for x in good_ids[:3]]), 3),
            dl_entry("x-1", b'{"packet_id":"x-1","messages":[{"id":"broken"}', 1),
            dl_entry("g-2", batch_body("g-2", [{"id": x} for x in good_ids[3:]]), 3),
            dl_entry("x-2", b'not json at all', 2),
        ]
        write_log(data, entries)
        good = self.start_analyzer(self.unique("good"))
        d = self.start_dd(data, analyzers=[(good.id, good.url, 1)])
        j = self.dl_json(d)
        self.assertEqual((j["records"], j["batches"]), (9, 4), j)

        r = self.replay(d)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"], "replay_failed", r)
        self.assertIn("2 of 4", r.json()["message"], r)
        self.wait_ids([good], good_ids, dl(30), "re-queued dead letters")
        j = self.dl_json(d)
        self.assertEqual([s["batch_id"] for s in j["sample"]], ["x-1", "x-2"], j)

        # nothing removed that did not succeed; what succeeded is not sent again
        r = self.replay(d)
        self.assertEqual(r.status, 503, r)
        self.assertIn("2 of 2", r.json()["message"], r)
        self.assertEqual(self.dl_json(d)["batches"], 2)
        self.wait_drained(d, dl(20))
        st = good.stats()
        self.assertEqual(st["duplicate_ids"], 0, st)
        self.assertEqual(sorted(good.ids()), sorted(good_ids))

        # a purge by batch id removes only what it names
        r = d.req("DELETE", DEADLETTER, {"batch_ids": ["x-2", "unknown"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["purged_records"], 2, r)
        self.assertEqual([s["batch_id"] for s in self.dl_json(d)["sample"]], ["x-1"])
        for bad_body in ({"batch_ids": "x-1"}, {"batch_ids": [1]}, {"ids": []},
                         {"batch_ids": ["x" * 64]}):
            r = d.req("DELETE", DEADLETTER, bad_body)
            self.assertEqual(r.status, 400, (bad_body, r))
        self.assertEqual(self.dl_json(d)["batches"], 1)
        # the store survives a restart exactly as left
        self.sigterm(d.proc)
        d = self.start_dd(data, analyzers=[(good.id, good.url, 1)])
        self.assertEqual([s["batch_id"] for s in self.dl_json(d)["sample"]], ["x-1"])
        r = d.req("DELETE", DEADLETTER)
        self.assertEqual(r.json()["purged_records"], 1, r)
        r = self.replay(d)
        self.assertEqual((r.status, r.json()["replayed_batches"]), (200, 0), r)


class ConflictTest(FaultCase):
    """The replay's WAL fsync is slowed with the fault shim (tests/fault/ldfault.c), so
    the replay surely runs while the other requests arrive."""

    def test_409_while_a_replay_runs(self):
        data = self.new_data_dir("busy")
        nbatches, per = 5, 20
        ids, entries = [], []
        for b in range(nbatches):
            recs = [{"id": "busy-%d-%02d" % (b, i)} for i in range(per)]
            ids += [x["id"] for x in recs]
            entries.append(dl_entry("busy-%d" % b, batch_body("busy-%d" % b, recs), per))
        write_log(data, entries)
        good = self.start_analyzer(self.unique("good"))
        fc = FaultControl(self.tmp)
        d = self.start_faulty(data, fc, analyzers=[(good.id, good.url, 1)])
        self.assertEqual(DeadLetterCase.dl_json(self, d)["batches"], nbatches)
        fc.set("fsync path=/wal- delay_ms=%d count=1" % int(dl(1.5) * 1000))

        # the first request is on the wire before any other is sent; others follow one
        # after another until the first is answered
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=dl(60))
        conn.request("POST", DEADLETTER + "/replay")
        first = []

        def wait_first():
            resp = conn.getresponse()
            first.append((resp.status, json.loads(resp.read() or b"null")))
        t = threading.Thread(target=wait_first)
        t.start()
        others = []
        end = time.monotonic() + dl(60)
        while t.is_alive() and time.monotonic() < end:
            r = http_request(d.port, "POST", DEADLETTER + "/replay", timeout=dl(30))
            others.append((r.status, r.json()))
        t.join(dl(60))
        conn.close()
        self.assertTrue(first, "the first replay was not answered")
        self.assertTrue(fc.fired("delay"), "the WAL fsync was not slowed: %s" % fc.log())
        answers = first + others
        # exactly one replay re-queued the batches; every other one was refused while it
        # ran (409) or came after it and found nothing left: never the same batches twice
        full = [a for a in answers if a[0] == 200 and a[1]["replayed_batches"]]
        self.assertEqual(len(full), 1, answers[:5])
        self.assertEqual(full[0][1]["replayed_batches"], nbatches, full)
        conflicts = [a for a in answers if a[0] == 409]
        self.assertTrue(conflicts, "no replay was answered 409 while another ran: %s" % answers[:5])
        for a in answers:
            if a[0] == 409:
                self.assertEqual(a[1]["error"], "conflict", a)
            elif a is not full[0]:
                self.assertEqual((a[0], a[1]["replayed_batches"]), (200, 0), a)
        self.wait_ids([good], ids, dl(30), "replayed batches")
        self.assertEqual(DeadLetterCase.dl_json(self, d)["batches"], 0)
        self.assertEqual(good.stats()["duplicate_ids"], 0)


if __name__ == "__main__":
    unittest.main()
