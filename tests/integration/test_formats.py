"""Input formats: records reach the analyzer byte for byte; delivery format."""
import collections
import gzip
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, split_batch_records, wait_until  # noqa: E402

# Records with unusual spacing, escapes, unicode, unknown fields, nested metadata.
RECORDS = [
    b'{ "id" : "f-1" ,\t"message":"tab\\tnl\\n quote\\" bs\\\\ slash\\/ \\u00e9\\ud83d\\ude00 '
    b'ctl\\u0001" , "level" :"INFO"  }',
    '{"id":"f-2","message":"h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \U0001F600",'
    '"unknown_field":[1,2.5e-3,-0,1E+2,true,false,null],'
    '"metadata":{"nested":{"deep":[[[]],{"k":"v"},{}]},"empty":{},"arr":[]}}'.encode("utf-8"),
    b'{"id":"f-3"}',
    b'{}',
    b'{"id":12345,"x":1e10,"level":"WARN","source":"s\\u0041"}',
    b'{"id":"f-6","dup":1,"dup":2,"id2":"\\"}{[],"}',
    b'{\n  "id": "f-7",\r\n  "multi": "line"\n}',
    b'{"id":"f-8","lone_surrogate":"\\ud800","big":123456789012345678901234567890}',
]
NDJSON_SAFE = [r for r in RECORDS if b"\n" not in r]


def as_packet(records, pid):
    return (b'{ "packet_id" : "' + pid.encode() + b'", "agent_id":"agent \\u00e9",\n'
            b' "extra": {"ignored": [1, 2]},\n "messages" : [ ' + b' ,\n\t'.join(records)
            + b' ] }\n')


def as_array(records):
    return b"\r\n[" + b",".join(records) + b"]\r\n"


def as_ndjson(records, crlf=False):
    nl = b"\r\n" if crlf else b"\n"
    return b"\n".join(b"  " + r + b"\t" for r in records[:2]) + nl + nl + \
        nl.join(records[2:]) + nl


class FormatsTest(LogdistTestCase):

    def setUp(self):
        super().setUp()
        self.rec = self.recording_analyzer()
        self.d = self.start_daemon("--batch-linger-ms", "50",
                                   analyzers=[("rec", self.rec.url, 1)])

    def delivered(self, expected_records, timeout=None):
        """Wait until the recording analyzer got `expected_records` records; return
        (list of raw records, list of requests)."""
        def got():
            reqs = self.rec.snapshot()
            n = sum(len(split_batch_records(r[3])) for r in reqs)
            return n >= expected_records and reqs
        reqs = wait_until(got, timeout or dl(15), "%d records at the analyzer" % expected_records)
        self.d.wait_all_delivered(dl(10))
        reqs = self.rec.snapshot()
        records = []
        for method, path, headers, body in reqs:
            self.assertEqual(method, "POST")
            self.assertEqual(path, "/ingest")
            self.assertEqual(headers.get("content-type"), "application/json", headers)
            self.assertNotIn("content-encoding", headers)
            j = json.loads(body.decode("utf-8"))  # the batch is valid JSON
            self.assertEqual(list(j.keys()), ["packet_id", "agent_id", "messages"])
            self.assertEqual(headers.get("x-logdist-batch-id"), j["packet_id"], headers)
            self.assertEqual(j["agent_id"], "logdistd")
            self.assertTrue(body.startswith(b'{"packet_id":"'), body[:40])
            raw = split_batch_records(body)
            self.assertEqual(len(raw), len(j["messages"]))
            for r, parsed in zip(raw, j["messages"]):
                self.assertEqual(json.loads(r.decode("utf-8")), parsed)
            records.extend(raw)
        self.assertEqual(len(records), expected_records)
        batch_ids = [r[2]["x-logdist-batch-id"] for r in reqs]
        self.assertEqual(len(set(batch_ids)), len(batch_ids), "batch ids are unique")
        return records, reqs

    def post_and_check(self, body, records, ctype="application/json", use_gzip=False,
                       pid=None):
        payload = gzip.compress(body) if use_gzip else body
        r = self.d.post_logs(payload, ctype=ctype, encoding="gzip" if use_gzip else None)
        self.assertEqual(r.status, 202, r)
        j = r.json()
        self.assertEqual(j["accepted"], len(records), j)
        if pid:
            self.assertEqual(j["packet_id"], pid)
        else:
            self.assertTrue(j["packet_id"], j)
        got, _ = self.delivered(len(records))
        self.assertEqual(collections.Counter(got), collections.Counter(records),
                         "records must arrive byte for byte")
        # a single packet to a single analyzer keeps its order
        self.assertEqual(got, records)

    def test_json_packet(self):
        self.post_and_check(as_packet(RECORDS, "pk-1"), RECORDS, pid="pk-1")

    def test_json_packet_gzip(self):
        self.post_and_check(as_packet(RECORDS, "pk-2"), RECORDS, use_gzip=True, pid="pk-2")

    def test_bare_array(self):
        self.post_and_check(as_array(RECORDS), RECORDS, ctype="application/json; charset=utf-8")

    def test_bare_array_gzip(self):
        self.post_and_check(as_array(RECORDS), RECORDS, use_gzip=True)

    def test_ndjson(self):
        self.post_and_check(as_ndjson(NDJSON_SAFE), NDJSON_SAFE, ctype="application/x-ndjson")

    def test_ndjson_crlf_gzip(self):
        self.post_and_check(as_ndjson(NDJSON_SAFE, crlf=True), NDJSON_SAFE,
                            ctype="application/x-ndjson", use_gzip=True)

    def test_ndjson_no_trailing_newline_and_other_media_types(self):
        body = b"\n".join(NDJSON_SAFE)
        self.post_and_check(body, NDJSON_SAFE, ctype="application/ndjson")

    def test_default_content_type_is_json(self):
        self.post_and_check(as_array(RECORDS[:3]), RECORDS[:3], ctype=None)

    def test_gzip_multi_member(self):
        body = as_array(RECORDS)
        payload = gzip.compress(body[:10]) + gzip.compress(body[10:])
        r = self.d.post_logs(payload, encoding="gzip")
        self.assertEqual(r.status, 202, r)
        got, _ = self.delivered(len(RECORDS))
        self.assertEqual(got, RECORDS)

    def test_array_after_object_at_same_depth(self):
        # Valid JSON: an array that follows an object at the same nesting level.
        recs = [b'{"id":"n-1","a":[{},[1]]}', b'{"id":"n-2","m":{"x":[{"k":"v"},[[]],{}]}}',
                b'{"id":"n-3","a":[{"b":{}},[1,[2]],"s"]}']
        self.post_and_check(as_array(recs), recs)

    def test_empty_messages_accepted_nothing_delivered(self):
        for body, ct in ((b'{"packet_id":"e","messages":[]}', "application/json"),
                         (b"[]", "application/json"), (b"\n\n", "application/x-ndjson")):
            r = self.d.post_logs(body, ctype=ct)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json()["accepted"], 0)
        m = self.d.metrics()
        self.assertEqual(m["records_accepted"], 0)
        self.assertEqual(m["packets_accepted"], 3)
        # "nothing delivered" means something only once the linger (50 ms) has passed:
        # a marker packet posted after them is delivered (so every batch that could
        # hold records of the empty packets was sealed and sent), and it is all there is
        marker = b'{"id":"after-empty"}'
        r = self.d.post_logs(as_array([marker]))
        self.assertEqual(r.status, 202, r)
        got, reqs = self.delivered(1)
        self.assertEqual(got, [marker])
        self.assertEqual(len(reqs), 1, reqs)
        self.assertEqual(self.d.metrics()["records_delivered"], 1)

    def test_many_packets_all_formats_multiset(self):
        sent = []
        for i in range(30):
            recs = [b'{"id":"m-%d-%d","k":"\\u00e9 %d","n":[%d, {"a" : null}]}' % (i, j, j, j)
                    for j in range(20)]
            fmt = i % 3
            if fmt == 0:
                body, ct = as_packet(recs, "m%d" % i), "application/json"
            elif fmt == 1:
                body, ct = as_array(recs), "application/json"
            else:
                body, ct = as_ndjson(recs), "application/x-ndjson"
            payload = gzip.compress(body) if i % 2 else body
            r = self.d.post_logs(payload, ctype=ct, encoding="gzip" if i % 2 else None)
            self.assertEqual(r.status, 202, r)
            sent.extend(recs)
        got, reqs = self.delivered(len(sent))
        self.assertEqual(collections.Counter(got), collections.Counter(sent))


if __name__ == "__main__":
    unittest.main(verbosity=2)
