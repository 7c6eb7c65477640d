"""Bad input gets a clear JSON error and changes nothing."""
import gzip
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, raw_request, wait_until  # noqa: E402

LIMITS = ["--max-body-bytes", "64KiB", "--max-decoded-bytes", "256KiB",
          "--max-records-per-packet", "50", "--max-depth", "8", "--max-record-bytes", "4096"]


def rec(i, extra=""):
    return '{"id":"good-%d","level":"INFO","message":"m %d"%s}' % (i, i, extra)


def packet(records, pid="p1"):
    return '{"packet_id":"%s","agent_id":"t","messages":[%s]}' % (pid, ",".join(records))


GOOD = [rec(i) for i in range(10)]


class ErrorsTest(LogdistTestCase):

    def setUp(self):
        super().setUp()
        self.an = self.start_analyzer("e1")
        self.d = self.start_daemon(*LIMITS, analyzers=[("e1", self.an.url, 1)])
        self.expected = {}  # reason -> count

    def reject(self, body, status, error, ctype="application/json", encoding=None, offset=None,
               method="POST", headers=None):
        h = {}
        if ctype is not None:
            h["Content-Type"] = ctype
        if encoding:
            h["Content-Encoding"] = encoding
        h.update(headers or {})
        r = self.d.req(method, "/api/v1/logs", body, h)
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        j = r.json()
        self.assertEqual(j.get("error"), error, j)
        self.assertIsInstance(j.get("message"), str, j)
        self.assertTrue(j["message"], j)
        if offset is not None:
            self.assertEqual(j.get("offset"), offset, j)
        self.expected[error] = self.expected.get(error, 0) + 1
        return r, j

    def assert_nothing_changed(self, rejected_packets):
        m = self.d.metrics()
        self.assertEqual(m["records_accepted"], 0, m)
        self.assertEqual(m["packets_accepted"], 0, m)
        self.assertEqual(m["records_routed"], 0, m)
        self.assertEqual(m["queued_records"], 0, m)
        self.assertEqual(m["queued_bytes"], 0, m)
        by = m["packets_rejected_by_reason"]
        for reason, n in self.expected.items():
            self.assertEqual(by.get(reason), n, "packets_rejected_by_reason[%s]: %s" % (reason, by))
        for reason, n in by.items():
            if reason not in self.expected:
                self.assertEqual(n, 0, "unexpected rejections counted for %s: %s" % (reason, by))
        self.assertEqual(m["packets_rejected"], rejected_packets, m)
        # a good sentinel packet goes through, and is the only thing the analyzer got
        r = self.d.post_logs(packet([rec(1000), rec(1001)], "sentinel"))
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"accepted": 2, "packet_id": "sentinel"})
        wait_until(lambda: self.an.records() >= 2, dl(10), "sentinel delivered")
        self.d.wait_all_delivered(dl(10), expect_accepted=2)
        self.assertEqual(sorted(self.an.ids()), ["good-1000", "good-1001"])
        st = self.an.stats()
        self.assertEqual(st["records"], 2, st)
        self.assertEqual(st["bad_batches"], 0, st)

    # ------------------------------------------------------------------ JSON

    def test_bad_json_syntax_errors_and_offsets(self):
        n = 0
        body = packet(GOOD[:3] + ['{"id":"x","a":1,}'])
        self.reject(body, 400, "bad_json", offset=body.index(",}") + 1); n += 1
        body = '{"messages":[{"id":"a"} {"id":"b"}]}'
        self.reject(body, 400, "bad_json", offset=body.index(' {"id":"b"') + 1); n += 1
        body = '{"messages":[{"id":"a","n":01}]}'
        self.reject(body, 400, "bad_json", offset=body.index("01") + 1); n += 1
        body = '{"messages":[{"id":"a","s":"tab\there"}]}'
        self.reject(body, 400, "bad_json", offset=body.index("\t")); n += 1
        body = '{"messages":[{"id":"a","s":"\\x"}]}'
        self.reject(body, 400, "bad_json", offset=body.index("\\x") + 1); n += 1
        body = '{"messages":[{"id":"a","t":tru}]}'
        self.reject(body, 400, "bad_json", offset=body.index("tru}") + 3); n += 1
        body = packet(GOOD[:2]) + ' x'
        self.reject(body, 400, "bad_json", offset=len(body) - 1); n += 1
        self.reject("", 400, "bad_json", offset=0); n += 1
        self.reject("   \n", 400, "bad_json", offset=4); n += 1
        # truncated packets: the offset is the end of the input
        for cut in ('{"messages":[{"id":"a"', '{"messages":[{"id":"a"},', '{"messages":[',
                    '{"messages":[{"id":"a","s":"abc'):
            self.reject(cut, 400, "bad_json", offset=len(cut)); n += 1
        # NDJSON: the offset counts from the start of the body, not of the line
        body = '{"id":"a"}\n{"id":"b",}\n{"id":"c"}\n'
        self.reject(body, 400, "bad_json", ctype="application/x-ndjson",
                    offset=body.index(",}") + 1); n += 1
        body = '{"id":"a"}\n{"id":"b"\n'
        self.reject(body, 400, "bad_json", ctype="application/x-ndjson",
                    offset=body.index('"b"') + 3); n += 1
        # gzip: the offset is in the decoded body
        body = packet(GOOD[:3] + ['{"id":"x",,}'])
        self.reject(gzip.compress(body.encode()), 400, "bad_json", encoding="gzip",
                    offset=body.index(",,") + 1); n += 1
        self.assert_nothing_changed(n)

    def test_array_closed_by_brace_is_rejected(self):
        # Invalid JSON: the inner array [..."k"} is closed with '}'. Nested after an
        # object at the same depth, so it exercises the scanner's container stack.
        body = '{"messages":[{"id":"a","x":[{},["k"}]}]}'
        self.reject(body, 400, "bad_json", offset=body.index('"k"}') + 3)
        self.assert_nothing_changed(1)

    def test_bad_utf8(self):
        n = 0
        pre = b'{"messages":[' + ",".join(GOOD[:2]).encode() + b',{"id":"u","msg":"caf'
        for bad, rel in ((b"\xc3\x28", 1), (b"\xff", 0), (b"\x80", 0), (b"\xc0\xaf", 0),
                         (b"\xed\xa0\x80", 1), (b"\xf4\x90\x80\x80", 1), (b"\xe2\x82", 2)):
            body = pre + bad + b'"}]}'
            r, j = self.reject(body, 400, "bad_utf8", offset=len(pre) + rel)
            n += 1
        # invalid UTF-8 in a key, in NDJSON, and gzipped
        body = b'{"id":"a"}\n{"id":"b","k\xfe":1}\n'
        self.reject(body, 400, "bad_utf8", ctype="application/x-ndjson",
                    offset=body.index(b"\xfe")); n += 1
        body = pre + b'\xa0"}]}'
        self.reject(gzip.compress(body), 400, "bad_utf8", encoding="gzip", offset=len(pre)); n += 1
        self.assert_nothing_changed(n)

    def test_bad_shape(self):
        n = 0
        body = packet(GOOD[:5] + ["42"] + GOOD[5:])
        self.reject(body, 400, "bad_shape", offset=body.index(",42,") + 1); n += 1
        body = packet(GOOD[:5] + ['"str"'])
        self.reject(body, 400, "bad_shape", offset=body.index('"str"')); n += 1
        body = '{"packet_id":"p","messages":{"id":"a"}}'
        self.reject(body, 400, "bad_shape", offset=body.index('{"id"')); n += 1
        body = '{"packet_id":"p","messages":"nope"}'
        self.reject(body, 400, "bad_shape", offset=body.index('"nope"')); n += 1
        body = '{"packet_id":"p","messages":null}'
        self.reject(body, 400, "bad_shape", offset=body.index('null')); n += 1
        self.reject('{"packet_id":"p"}', 400, "bad_shape"); n += 1
        self.reject('"just a string"', 400, "bad_shape", offset=0); n += 1
        self.reject('[' + ",".join(GOOD[:3]) + ',[1,2]]', 400, "bad_shape"); n += 1
        body = '{"id":"a"}\n[1]\n{"id":"c"}\n'
        self.reject(body, 400, "bad_shape", ctype="application/x-ndjson",
                    offset=body.index("[1]")); n += 1
        self.assert_nothing_changed(n)

    def test_too_deep(self):
        n = 0
        deep = '{"a":' * 8 + '1' + '}' * 8
        body = packet(GOOD[:3] + ['{"id":"d","x":%s}' % deep])
        self.reject(body, 400, "too_deep"); n += 1
        body = '[' * 50 + ']' * 50
        self.reject(body, 400, "too_deep"); n += 1
        self.reject('[' * 60000, 400, "too_deep"); n += 1
        # just within the limit (packet 1 + messages 2 + record 3 + 5 more = 8) is fine
        ok = '{"a":' * 5 + '1' + '}' * 5
        r = self.d.post_logs(packet(['{"id":"ok-deep","x":%s}' % ok]))
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: self.an.records() == 1, dl(10), "record within max-depth delivered")
        self.assertEqual(self.an.ids(), ["ok-deep"])

    def test_body_over_max_body_bytes(self):
        big = packet(['{"id":"b%d","pad":"%s"}' % (i, "x" * 3000) for i in range(25)])
        self.assertGreater(len(big), 64 * 1024)
        self.reject(big, 413, "body_too_large")
        self.assert_nothing_changed(1)

    def test_size_and_count_limits(self):
        n = 0
        self.reject(packet([rec(i) for i in range(51)]), 413, "too_many_records"); n += 1
        self.reject("\n".join(rec(i) for i in range(51)), 413, "too_many_records",
                    ctype="application/x-ndjson"); n += 1
        self.reject(packet(GOOD[:2] + ['{"id":"r","pad":"%s"}' % ("y" * 5000)]), 413,
                    "record_too_large"); n += 1
        # a gzip bomb: small on the wire, over --max-decoded-bytes once inflated
        bomb = gzip.compress(b'{"messages":[' + b" " * (4 << 20) + b"]}", 9)
        self.assertLess(len(bomb), 64 * 1024)
        self.reject(bomb, 413, "body_too_large", encoding="gzip"); n += 1
        # exactly 50 records is fine
        r = self.d.post_logs(packet([rec(i) for i in range(50)], "fifty"))
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["accepted"], 50)
        wait_until(lambda: self.an.records() == 50, dl(10), "50 records delivered")
        m = self.d.metrics()
        for reason, k in self.expected.items():
            self.assertEqual(m["packets_rejected_by_reason"][reason], k, m)

    def test_media_type_encoding_method(self):
        n = 0
        body = packet(GOOD)
        self.reject(body, 415, "unsupported_media_type", ctype="text/plain"); n += 1
        self.reject(body, 415, "unsupported_media_type", ctype="application/xml"); n += 1
        self.reject(body, 415, "unsupported_media_type", ctype="application/jsonx"); n += 1
        self.reject(body, 415, "unsupported_encoding", encoding="br"); n += 1
        self.reject(body, 415, "unsupported_encoding", encoding="deflate"); n += 1
        self.reject(b"\x1f\x8b\x08\x00garbage-not-gzip", 400, "bad_gzip", encoding="gzip"); n += 1
        self.reject(body, 400, "bad_gzip", encoding="gzip"); n += 1  # plain body declared gzip
        self.reject(gzip.compress(body.encode())[:-12], 400, "bad_gzip", encoding="gzip"); n += 1
        for method in ("GET", "PUT", "DELETE"):
            r, j = self.reject(None if method != "PUT" else body, 405, "method_not_allowed",
                               method=method)
            self.assertEqual(r.headers.get("allow"), "POST", r)
            n += 1
        self.assert_nothing_changed(n)

    def test_good_records_with_one_bad_are_rejected_whole(self):
        n = 0
        many = [rec(i) for i in range(40)]
        body = ("[" + ",".join(many)).encode() + b',{"id":"bad","s":"\xff"}]'
        self.reject(body, 400, "bad_utf8"); n += 1
        self.reject(packet(many[:20] + ["[]"] + many[20:]), 400, "bad_shape"); n += 1
        self.reject("\n".join(many + ['{"id":"bad" "x":1}']), 400, "bad_json",
                    ctype="application/x-ndjson"); n += 1
        self.assert_nothing_changed(n)

    def test_truncated_http_body_is_not_accepted(self):
        body = packet(GOOD).encode()
        head = ("POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % len(body)).encode()
        out = raw_request(self.d.port, head + body[:len(body) // 2], timeout=dl(2),
                          shutdown_write=True)
        self.assertNotIn(b" 202 ", out.split(b"\r\n", 1)[0] if out else b"")
        # the daemon is still fine and has accepted nothing
        self.assertEqual(self.d.req("GET", "/health").status, 200)
        self.assert_nothing_changed(0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
