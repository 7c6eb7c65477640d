"""Fluent forward receiver (--forward-listen): the real fluent-logger (npm, node) with
requireAckResponse in its three event modes, with and without the shared-key handshake;
hand-shaped messages (Forward mode, every value type, error cases) from msgpack-lite;
shares by weight over two analyzers, the field mapping row by row (docs/PROTOCOLS.md,
"Fluent forward"), and a kill -9 test: every record whose chunk was acked arrives after a
restart on the same --data-dir."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (REPO, LogdistTestCase, dl, scaled, split_batch_records,  # noqa: E402
                     wait_until)

CLIENT = os.path.join(HERE, "clients", "forward_client.js")
NODE = shutil.which("node")
NODE_MODULES = os.path.join(REPO, "tests", "node", "node_modules")
LEVELS = {"warning": "WARN", "info": "INFO", "Err": "ERROR"}


def acked_ids(path):
    """The ids a client printed as acked ("acked <id>" lines; a last partial line
    is ignored)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        lines = f.read().decode().split("\n")[:-1]
    return [x.split(" ", 1)[1] for x in lines if x.startswith("acked ")]


def iso(sec, nsec=None):
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return t + ("Z" if nsec is None else ".%09dZ" % nsec)


class ForwardCase(LogdistTestCase):

    def setUp(self):
        super().setUp()
        if not NODE or not os.path.isdir(os.path.join(NODE_MODULES, "fluent-logger")):
            self.fail("node and tests/node/node_modules (fluent-logger) are required: "
                      "run scripts/setup-deps.sh")

    def start_fwd(self, *args, weights=(1, 3), data_dir=None):
        self.recs = [self.recording_analyzer() for _ in weights]
        an = [("a%d" % i, r.url, w) for i, (r, w) in enumerate(zip(self.recs, weights))]
        extra = ("--data-dir", data_dir) if data_dir else ()
        d = self.start_daemon("--forward-listen", "127.0.0.1:0", "--batch-linger-ms", "20",
                              *extra, *args, analyzers=an)
        self.assertIn("forward", d.line)
        d.fport = int(d.line["forward"].rsplit(":", 1)[1])
        return d

    def client(self, cfg, timeout=None, background=False):
        argv = [NODE, CLIENT, json.dumps(cfg)]
        if background:
            return self.spawn("fwdclient", argv)
        p = subprocess.run(argv, capture_output=True, timeout=timeout or dl(60))
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        lines = p.stdout.decode().splitlines()
        self.assertTrue(lines, p.stderr.decode()[-2000:])
        return lines

    def raw(self, d, scenario, **kw):
        cfg = {"mode": "raw", "port": d.fport, "scenario": scenario, "waitMs": 1500}
        cfg.update(kw)
        return json.loads(self.client(cfg)[-1])

    def logger(self, d, **cfg):
        cfg.setdefault("mode", "logger")
        cfg["port"] = d.fport
        lines = self.client(cfg)
        acked = [x.split(" ", 1)[1] for x in lines if x.startswith("acked ")]
        return acked, json.loads(lines[-1])

    def records(self):
        """Every delivered record, parsed, with the analyzer that got it."""
        out = []
        for i, r in enumerate(self.recs):
            for req in r.snapshot():
                out += [(i, json.loads(x)) for x in split_batch_records(req[3])]
        return out

    def wait_records(self, n, timeout=None):
        return wait_until(lambda: len(self.records()) >= n and self.records(),
                          timeout or dl(20), "%d records delivered" % n)

    def fwd_metrics(self, d):
        m = d.metrics()
        return m["protocols"]["forward"], m


class FluentLoggerTest(ForwardCase):

    def test_event_modes_with_acks_reach_weighted_analyzers(self):
        """fluent-logger with requireAckResponse in Message, PackedForward and
        CompressedPackedForward: every acked record arrives once, shares by weight,
        tag -> source, integer and EventTime -> timestamp, log -> message, level
        normalised."""
        d = self.start_fwd(weights=(1, 3))
        n = scaled(400, 40)
        sent = {}
        for mode in ("Message", "PackedForward", "CompressedPackedForward"):
            acked, summary = self.logger(d, eventMode=mode, count=n, idPrefix=mode,
                                         eventTime=True, label="web")
            self.assertEqual(len(acked), n, summary)
            self.assertEqual(summary["errors"], 0, summary)
            sent.update({a: mode for a in acked})
        recs = self.wait_records(len(sent))
        byid = {}
        for i, r in recs:
            self.assertNotIn(r["id"], byid, "delivered twice: %s" % r["id"])
            byid[r["id"]] = (i, r)
        self.assertEqual(set(byid), set(sent))
        share = sum(1 for i, _ in byid.values() if i == 1) / len(byid)
        self.assertShare(share, 0.75, 0.02, "analyzer of weight 3")
        for rid, (_, r) in byid.items():
            k = int(rid.rsplit("-", 1)[1])
            self.assertEqual(r["source"], "app.web", r)
            want_ts = iso(1700000000 + k, 123456789) if k % 2 == 0 else iso(1700000000 + k)
            self.assertEqual(r["timestamp"], want_ts, r)
            self.assertEqual(r["message"], "line %d" % k, r)
            self.assertNotIn("log", r)
            self.assertEqual(r["level"], LEVELS[["warning", "info", "Err"][k % 3]], r)
            self.assertEqual(r["seq"], k)
        fm, m = self.fwd_metrics(d)
        self.assertEqual(fm["records_accepted"], len(sent))
        self.assertGreaterEqual(m["forward_acks"], n)  # Message mode: one ack per record
        self.assertEqual(fm["decode_errors"] + fm["oversize"] + fm["auth_failures"], 0)

    def test_shared_key_handshake(self):
        """--forward-shared-key: fluent-logger's security {clientHostname, sharedKey}
        completes HELO/PING/PONG and its records are acked and delivered; a wrong key
        gets PONG false (the client reports the failed authentication), is counted in
        auth_failures and delivers nothing."""
        d = self.start_fwd("--forward-shared-key", "s3cret-key", weights=(2, 1))
        n = scaled(60, 10)
        acked, summary = self.logger(d, count=n, sharedKey="s3cret-key", idPrefix="sk",
                                     eventMode="PackedForward")
        self.assertEqual(len(acked), n, summary)
        self.wait_records(n)
        acked2, summary2 = self.logger(d, count=5, sharedKey="wrong-key", idPrefix="bad",
                                       seconds=4, noReconnect=True)
        self.assertEqual(acked2, [])
        self.assertIn("Authentication failed", summary2["handshakeError"] or "", summary2)
        fm, _ = self.fwd_metrics(d)
        self.assertGreaterEqual(fm["auth_failures"], 1)
        time.sleep(0.3)
        self.assertFalse([r for _, r in self.records() if r["id"].startswith("bad")])
        # without the handshake, a message is not a PING: refused, closed, nothing kept
        got = self.raw(d, "nochunk")
        self.assertTrue(got["closed"], got)
        self.assertEqual(len(self.records()), n)


class RawMessageTest(ForwardCase):

    def test_modes_and_mapping_row_by_row(self):
        d = self.start_fwd(weights=(1, 1))
        expect_acks = {"forward": "Y2h1bmstZm9yd2FyZA==", "mapping": "map", "intkeys": "keys",
                       "packed_text": "packed", "gzip_members": "gz", "empty_forward": "empty"}
        for sc, chunk in expect_acks.items():
            got = self.raw(d, sc, waitMs=800)
            self.assertEqual(got["answers"], [{"ack": chunk}], sc)
            self.assertFalse(got["closed"], sc)
        got = self.raw(d, "nochunk", waitMs=500)  # fire and forget: no answer at all
        self.assertEqual(got["answers"], [])
        recs = {r["id"]: r for _, r in self.wait_records(11)}
        self.assertEqual(len(recs), 11, sorted(recs))
        # Forward mode, EventTime
        self.assertEqual(recs["fwd-0"], {"timestamp": iso(1700000100, 500),
                                         "source": "fw.forward", "id": "fwd-0",
                                         "message": "m0"})
        # integer time; log -> message; severity -> level (added, severity kept)
        self.assertEqual(recs["fwd-1"], {"timestamp": iso(1700000101), "source": "fw.forward",
                                         "level": "ERROR", "id": "fwd-1",
                                         "message": "from log", "severity": "error"})
        # the record's own source and timestamp win
        self.assertEqual(recs["fwd-2"], {"id": "fwd-2", "source": "own-source",
                                         "timestamp": "2020-01-01T00:00:00Z"})
        m = recs["map-0"]
        self.assertEqual(m["message"], "both")     # "message" present: "log" stays "log"
        self.assertEqual(m["log"], "kept as log")
        self.assertEqual(m["level"], "WARN")       # level normalised in place
        self.assertEqual((m["n"], m["u"], m["f"], m["t"], m["z"]), (-5, 42, 1.5, True, None))
        self.assertEqual(m["bin_utf8"], "h\u00e9llo")   # bin, valid UTF-8: text
        self.assertEqual(m["bin_raw"], "/wD+")          # bin, not UTF-8: base64
        self.assertEqual(m["nested"], {"a": [1, "two", {"b": None}]})
        self.assertEqual(m["ev"], iso(1700000201, 7))   # EventTime value: RFC 3339
        self.assertEqual(m["ctl"], 'tab\tquote"nl\n')
        self.assertEqual(m["bad_utf8"], "YcM=")         # bin, truncated UTF-8: base64
        self.assertEqual(m["source"], "fw.map")
        k = recs["keys-0"]                              # non-string keys: their JSON text
        self.assertEqual((k["1"], k["true"]), ("one", "yes"))
        self.assertEqual(recs["pk-0"]["timestamp"], iso(1700000400))
        self.assertEqual(recs["pk-1"]["timestamp"], iso(1700000100, 500))
        self.assertEqual(recs["gz-1"]["source"], "fw.gz")
        self.assertEqual(recs["nc-1"]["source"], "fw.nc")
        fm, m = self.fwd_metrics(d)
        self.assertEqual(fm["records_accepted"], 11)
        self.assertEqual(m["forward_acks"], 6)

    def test_bad_input_is_refused_counted_and_closed(self):
        """Malformed msgpack, wrong shapes, bad time, bad gzip, a gzip bomb over
        --max-decoded-bytes, a message over --max-body-bytes and a header claiming
        4 billion entries: no ack, the connection closed, counted, nothing delivered.
        What was acked before the bad bytes is delivered."""
        d = self.start_fwd("--max-body-bytes", "65536", "--max-decoded-bytes", "1048576",
                           "--max-record-bytes", "2048", weights=(1, 1))
        cases = {"bad_msgpack": "decode_errors", "bad_shape_record": "decode_errors",
                 "bad_shape_tag": "decode_errors", "bad_time": "decode_errors",
                 "bad_gzip": "decode_errors", "gzip_bomb": "oversize",
                 "oversize": "oversize", "huge_count": "oversize"}
        for sc, metric in cases.items():
            before, _ = self.fwd_metrics(d)
            got = self.raw(d, sc, waitMs=3000)
            self.assertEqual(got["answers"], [], sc)
            self.assertTrue(got["closed"], sc)
            after, _ = self.fwd_metrics(d)
            self.assertEqual(after[metric], before[metric] + 1, sc)
        # valid msgpack whose record the ingest scanner refuses (--max-record-bytes), fire
        # and forget: resending cannot help, so the connection is closed (not retried)
        got = self.raw(d, "record_too_big", waitMs=3000)
        self.assertTrue(got["closed"])
        self.assertEqual(self.fwd_metrics(d)[0]["records_refused"], 1)
        got = self.raw(d, "after_bad", waitMs=3000)
        self.assertEqual(got["answers"], [{"ack": "ok0"}])
        self.assertTrue(got["closed"])
        recs = self.wait_records(1)
        time.sleep(0.3)
        self.assertEqual([r["id"] for _, r in self.records()], ["ok-0"])
        fm, _ = self.fwd_metrics(d)
        self.assertEqual(fm["records_accepted"], 1)


class ForwardBackpressureTest(ForwardCase):

    def test_full_queue_stops_reading_and_drops_nothing(self):
        """Fire-and-forget messages (no chunk, nothing to resend) while the analyzers
        hold every batch: the queue reaches --max-queue-bytes, the receiver stops
        reading (the bytes wait in the socket); a message that ingest refuses anyway
        (it crossed the budget) stays unconsumed and is submitted again: nothing is
        dropped, nothing doubled; once the analyzers answer, every record arrives."""
        import threading
        d = self.start_fwd("--max-queue-bytes", "64KiB", weights=(1, 1))
        for r in self.recs:
            r.gate = threading.Semaphore(0)
        count, per = 200, 20
        p = self.spawn("flood", [NODE, CLIENT, json.dumps(
            {"mode": "raw", "port": d.fport, "scenario": "flood", "count": count, "per": per,
             "end": True})])
        time.sleep(1.5)
        fm, m = self.fwd_metrics(d)
        self.assertGreater(fm["records_accepted"], 0)
        self.assertLess(fm["records_accepted"], count * per, "nothing held back: no test")
        time.sleep(1.0)
        fm2, _ = self.fwd_metrics(d)
        self.assertEqual(fm2["records_accepted"], fm["records_accepted"], "read while full")
        self.assertEqual(fm2["decode_errors"], 0)
        for r in self.recs:
            r.release_gate(100000)
        recs = self.wait_records(count * per, dl(30))
        ids = [r["id"] for _, r in recs]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), {"flood-%d-%d" % (i, j) for i in range(count)
                                    for j in range(per)})
        self.assertEqual(p.wait(dl(10)), 0)
        fm, _ = self.fwd_metrics(d)
        self.assertEqual(fm["records_accepted"], count * per)


class ForwardKill9Test(ForwardCase):

    def test_acked_records_survive_kill9(self):
        """--durability all: fluent-logger sends with acks; logdistd is killed -9 in the
        middle; after a restart on the same --data-dir every record whose chunk was
        acked reaches the analyzers."""
        data = self.path(self.unique("fwdkill"))
        os.makedirs(data)
        # no analyzers in the first life: acked records can only be in the WAL
        d = self.start_daemon("--forward-listen", "127.0.0.1:0", "--durability", "all",
                              "--data-dir", data)
        fport = int(d.line["forward"].rsplit(":", 1)[1])
        n = scaled(3000, 600)
        out = self.path("client.out")
        cfg = {"mode": "logger", "port": fport, "count": n, "idPrefix": "k9",
               "eventMode": "Message", "ackTimeout": 3000, "seconds": 20}
        with open(out, "wb") as f:
            p = subprocess.Popen([NODE, CLIENT, json.dumps(cfg)], stdout=f,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: len(acked_ids(out)) >= n // 5,
                       dl(30), "a fifth of the records acked")
            d.proc.kill()
        finally:
            try:
                p.wait(dl(30))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        acked = acked_ids(out)
        self.assertGreaterEqual(len(acked), n // 5)
        self.assertLess(len(acked), n, "the kill came after everything: nothing tested")
        self.recs = [self.recording_analyzer(), self.recording_analyzer()]
        d2 = self.start_daemon("--forward-listen", "127.0.0.1:0", "--durability", "all",
                               "--data-dir", data, "--batch-linger-ms", "20",
                               analyzers=[("a0", self.recs[0].url, 1),
                                          ("a1", self.recs[1].url, 1)])
        got = wait_until(lambda: (set(acked) <= {r["id"] for _, r in self.records()})
                         and self.records(), dl(30), "every acked record delivered")
        self.assertTrue(all(r["source"] == "app.web" for _, r in got))
        self.assertGreater(d2.metrics()["records_replayed"], 0)


if __name__ == "__main__":
    unittest.main()
