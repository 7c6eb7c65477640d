"""OTLP/HTTP logs (POST /v1/logs): the real OpenTelemetry JS SDK (LoggerProvider +
BatchLogRecordProcessor with @opentelemetry/exporter-logs-otlp-http (JSON) and
@opentelemetry/exporter-logs-otlp-proto (protobuf), tests/integration/clients/otlp_send.js)
against the ingest listener and --otlp-listen: every record arrives once, shares follow
the weights, every mapped field is checked. Raw requests for the answers the spec asks
for (400 with a google.rpc.Status, 405, 413, 415, partial_success, 429 and 503 with
Retry-After, auth). A kill -9 test: records acknowledged with 200 under --durability all
all reach an analyzer after a restart on the same --data-dir.
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, hash_token, http_request, scaled,  # noqa: E402
                     split_batch_records, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "clients", "otlp_send.js")
NODE_MODULES = os.path.join(os.path.dirname(HERE), "node", "node_modules")
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
PB = "application/x-protobuf"
JS = "application/json"


def otel_level(n):
    return ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][(n - 1) // 4]


def client_hex(i, digits):
    """The ids otlp_send.js gives record i (same function)."""
    s = format(i, "x")
    return ("1" + "0" * digits)[:digits - len(s)] + s


def pb_fields(data):
    """A minimal protobuf reader for the answers: {field: [int or bytes, ...]}."""
    out, i = {}, 0

    def varint():
        nonlocal i
        x = s = 0
        while True:
            b = data[i]
            i += 1
            x |= (b & 0x7F) << s
            s += 7
            if not b & 0x80:
                return x
    while i < len(data):
        tag = varint()
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v = varint()
        elif wt == 2:
            n = varint()
            v = data[i:i + n]
            i += n
        else:
            raise AssertionError("unexpected wire type %d" % wt)
        out.setdefault(f, []).append(v)
    return out


def otlp_json(records, service="raw"):
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"scope": {"name": "raw"}, "logRecords": records}]}]}).encode()


def pb_len(field, payload):
    out, n = bytes([field << 3 | 2]), len(payload)
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out + payload


def pb_request(bodies):
    """ExportLogsServiceRequest{resource_logs{scope_logs{log_records{body{string_value}}}}}."""
    recs = b"".join(pb_len(2, pb_len(5, pb_len(1, b)) ) for b in bodies)
    return pb_len(1, pb_len(2, recs))


class OtlpCase(LogdistTestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which("node"):
            self.fail("node is not installed (scripts/setup-deps.sh)")
        if not os.path.isdir(os.path.join(NODE_MODULES, "@opentelemetry", "sdk-logs")):
            self.fail("tests/node/node_modules missing (scripts/setup-deps.sh runs npm ci)")

    def otlp_port(self, d):
        return int(d.line["otlp"].rsplit(":", 1)[1])

    def send_sdk(self, port, protocol, count, prefix, service, expect_ok=True, **extra):
        opts = dict(url="http://127.0.0.1:%d/v1/logs" % port, protocol=protocol, count=count,
                    prefix=prefix, service=service, **extra)
        r = subprocess.run(["node", CLIENT, json.dumps(opts)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=dl(90), cwd=self.tmp)
        out = r.stdout.decode().strip().splitlines()
        self.assertTrue(out, "otlp_send.js printed nothing; stderr %s" % r.stderr.decode()[-2000:])
        summary = json.loads(out[-1])
        if expect_ok:
            self.assertEqual((r.returncode, summary["exported"], summary["failed"]),
                             (0, count, 0), "%s; stderr %s" % (summary, r.stderr.decode()[-2000:]))
        return summary

    def records_of(self, analyzer):
        out = []
        for _m, _p, _h, body in analyzer.snapshot():
            out.extend(json.loads(r) for r in split_batch_records(body))
        return out

    def post(self, port, body, ctype, headers=None, encoding=None):
        h = {"Content-Type": ctype} if ctype else {}
        if encoding:
            h["Content-Encoding"] = encoding
        h.update(headers or {})
        return http_request(port, "POST", "/v1/logs", body, h)


class SdkTest(OtlpCase):

    def check_record(self, rec, service):
        """Every mapped field of a record otlp_send.js sent (docs/PROTOCOLS.md)."""
        md = rec["metadata"]
        attrs = md["attributes"]
        i = attrs["n"]
        sev = i % 24 + 1
        self.assertEqual(rec["type"], "otlp", rec)
        self.assertEqual(rec["source"], service, rec)
        self.assertEqual(rec["level"], otel_level(sev), rec)
        self.assertRegex(rec["timestamp"], RFC3339_NS)
        self.assertRegex(md["observed_timestamp"], RFC3339_NS)
        if i % 5 == 0:  # a map body: its JSON text
            self.assertEqual(json.loads(rec["message"]), {"i": i, "nested": ["a", True]}, rec)
        else:
            self.assertEqual(rec["message"], "message %d" % i, rec)
        self.assertEqual(attrs["ok"], i % 2 == 0)
        self.assertEqual(attrs["f"], 1.5)
        self.assertEqual(md["severity_number"], sev)
        self.assertEqual(md["severity_text"], "sev-%d" % sev)
        self.assertEqual(md["trace_id"], client_hex(i, 32))
        self.assertEqual(md["span_id"], client_hex(i, 16))
        self.assertEqual(md["flags"], 1)
        self.assertEqual(md["resource"]["service.name"], service)
        self.assertEqual(md["resource"]["host.name"], "itest-host")
        self.assertEqual(md["scope"], {"name": "itest-scope", "version": "1.2.3"})
        return attrs["id"]

    def test_sdk_json_and_protobuf_every_record_by_weight(self):
        """JSON (gzip) on the ingest listener, protobuf on --otlp-listen and protobuf
        (gzip) on the ingest listener; two analyzers weighted 1:3."""
        a, b = self.recording_analyzer(), self.recording_analyzer()
        d = self.start_daemon("--otlp-listen", "127.0.0.1:0", "--batch-linger-ms", "20",
                              analyzers=[("a", a.url, 1), ("b", b.url, 3)])
        n = scaled(400, 40)
        sends = [(d.port, "json", "js", "svc-json", {"compression": "gzip"}),
                 (self.otlp_port(d), "proto", "pb", "svc-proto", {}),
                 (d.port, "proto", "pz", "svc-proto-gz", {"compression": "gzip"})]
        for port, proto, prefix, service, extra in sends:
            self.send_sdk(port, proto, n, prefix, service, **extra)
        total = 3 * n
        d.wait_all_delivered(dl(30), expect_accepted=total)
        ra, rb = self.records_of(a), self.records_of(b)
        ids = []
        for rec in ra + rb:
            prefix = rec["metadata"]["attributes"]["id"].split("-")[0]
            service = {s[2]: s[3] for s in sends}[prefix]
            ids.append(self.check_record(rec, service))
        self.assertEqual(len(ids), total)
        want = {"%s-%d" % (p, i) for p in ("js", "pb", "pz") for i in range(n)}
        self.assertEqual(set(ids), want)  # every record, once
        self.assertShare(len(ra) / total, 0.25, 0.02, "analyzer a (weight 1)")
        m = d.metrics()
        otlp = m["protocols"]["otlp"]
        self.assertEqual(otlp["records_accepted"], total, otlp)
        self.assertEqual(otlp["decode_errors"], 0, otlp)


class AnswersTest(OtlpCase):

    def test_errors_in_the_request_encoding(self):
        d = self.start_daemon("--otlp-listen", "127.0.0.1:0", "--max-body-bytes", "4096",
                              "--max-decoded-bytes", "8192", "--max-records-per-packet", "5")
        port = self.otlp_port(d)
        # 400, JSON: a google.rpc.Status naming what and where
        r = self.post(port, otlp_json([{}, {"traceId": "xyz"}]), JS)
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.headers["content-type"].startswith(JS), r.headers)
        self.assertEqual(r.json()["code"], 3)
        self.assertIn("resourceLogs[0].scopeLogs[0].logRecords[1].traceId", r.json()["message"])
        # 400, protobuf: a Status in protobuf
        r = self.post(port, b"\x0a\x7f\x00", PB)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.headers["content-type"], PB)
        st = pb_fields(r.body)
        self.assertEqual(st[1], [3])
        self.assertIn(b"bad length at byte 0", st[2][0])
        # 400: a gzip body that is not gzip
        r = self.post(port, b"not gzip", JS, encoding="gzip")
        self.assertEqual(r.status, 400, r)
        self.assertIn("gzip", r.json()["message"])
        # 415: another content type, or another encoding
        r = self.post(port, b"x", "text/plain")
        self.assertEqual(r.status, 415, r)
        r = self.post(port, otlp_json([]), JS, encoding="br")
        self.assertEqual(r.status, 415, r)
        # 413: over --max-body-bytes (with Content-Length: refused before the body)
        r = self.post(port, otlp_json([{"body": {"stringValue": "x" * 5000}}]), JS)
        self.assertEqual(r.status, 413, r)
        # 413: gunzipped over --max-decoded-bytes (the gzip body itself is small)
        z = gzip.compress(otlp_json([{"body": {"stringValue": "z" * 20000}}]))
        self.assertLess(len(z), 4096)
        r = self.post(port, z, JS, encoding="gzip")
        self.assertEqual(r.status, 413, r)
        self.assertIn("max-decoded-bytes", r.json()["message"])
        # 413: more LogRecords than --max-records-per-packet, in protobuf
        r = self.post(port, pb_request([b"m"] * 6), PB)
        self.assertEqual(r.status, 413, r)
        self.assertIn(b"more than 5 log records", pb_fields(r.body)[2][0])
        r = self.post(port, pb_request([b"m"] * 5), PB)  # at the limit: taken
        self.assertEqual(r.status, 200, r)
        # 405
        r = http_request(port, "GET", "/v1/logs")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.headers.get("allow"), "POST")
        # and nothing of the refused requests was queued
        m = d.metrics()
        self.assertEqual(m["protocols"]["otlp"]["records_accepted"], 5)
        self.assertEqual(m["protocols"]["otlp"]["oversize"], 3)
        self.assertGreaterEqual(m["protocols"]["otlp"]["decode_errors"], 3)

    def test_partial_success(self):
        """One LogRecord over --max-record-bytes is refused alone; the others are taken."""
        a = self.recording_analyzer()
        d = self.start_daemon("--max-record-bytes", "1024", "--batch-linger-ms", "20",
                              analyzers=[("a", a.url, 1)])
        big = "x" * 2000
        r = self.post(d.port, otlp_json([{"body": {"stringValue": "keep-1"}},
                                          {"body": {"stringValue": big}},
                                          {"body": {"stringValue": "keep-2"}}]), JS)
        self.assertEqual(r.status, 200, r)
        ps = r.json()["partialSuccess"]
        self.assertEqual(int(ps["rejectedLogRecords"]), 1, ps)
        self.assertIn("logRecords[1]: record larger than max-record-bytes", ps["errorMessage"])
        r = self.post(d.port, pb_request([b"keep-3", big.encode(), b"keep-4"]), PB)
        self.assertEqual(r.status, 200, r)
        resp = pb_fields(r.body)
        ps = pb_fields(resp[1][0])
        self.assertEqual(ps[1], [1])
        self.assertIn(b"record larger than max-record-bytes", ps[2][0])
        # full success: an empty partial_success
        r = self.post(d.port, otlp_json([{"body": {"stringValue": "keep-5"}}]), JS)
        self.assertEqual((r.status, r.json()), (200, {"partialSuccess": {}}), r)
        r = self.post(d.port, pb_request([b"keep-6"]), PB)
        self.assertEqual((r.status, r.body), (200, b"\x0a\x00"), r)
        d.wait_all_delivered(dl(15), expect_accepted=6)
        got = sorted(rec["message"] for rec in self.records_of(a))
        self.assertEqual(got, ["keep-%d" % i for i in range(1, 7)])

    def test_rate_limit_429_with_retry_after(self):
        d = self.start_daemon("--global-records-per-s", "10", "--rate-burst-s", "1")
        body = otlp_json([{"body": {"stringValue": "r%d" % i}} for i in range(8)])
        statuses = []
        for _ in range(5):
            r = self.post(d.port, body, JS)
            statuses.append(r.status)
            if r.status == 429:
                break
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1, r.headers)
        self.assertEqual(r.json()["code"], 8, r)
        r = self.post(d.port, pb_request([b"x"] * 20), PB)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.headers["content-type"], PB)
        self.assertEqual(pb_fields(r.body)[1], [8])
        self.assertIn("retry-after", r.headers)

    def test_queue_full_503_with_retry_after(self):
        """No analyzer: the queue fills (--max-queue-bytes); the OTLP answer is 503 +
        Retry-After, before the body is read once the queue is known to be full."""
        d = self.start_daemon("--max-queue-bytes", "64KiB")
        body = otlp_json([{"body": {"stringValue": "y" * 500}} for _ in range(20)])
        seen = []
        for _ in range(40):
            r = self.post(d.port, body, JS)
            seen.append(r.status)
            if r.status == 503:
                break
        self.assertEqual(seen[-1], 503, seen)
        self.assertEqual(seen[:-1], [200] * (len(seen) - 1), seen)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1, r.headers)
        self.assertEqual(r.json()["code"], 14)

    def test_tokens(self):
        tok = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
        d = self.start_daemon("--otlp-listen", "127.0.0.1:0",
                              "--token", "role=ingest,hash=" + hash_token(tok))
        port = self.otlp_port(d)
        r = self.post(port, otlp_json([{}]), JS)
        self.assertEqual(r.status, 401, r)
        r = self.post(port, otlp_json([{}]), JS, {"Authorization": "Bearer wrong"})
        self.assertEqual(r.status, 401, r)
        r = self.post(port, otlp_json([{}]), JS, {"Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 200, r)
        # the SDK exporter with its headers option
        self.send_sdk(port, "proto", 20, "tok", "svc-tok", headers={"Authorization": "Bearer " + tok})
        s = self.send_sdk(port, "json", 5, "bad", "svc-bad", expect_ok=False)
        self.assertEqual(s["exported"], 0, s)


class DurabilityTest(OtlpCase):

    def test_kill9_acknowledged_records_survive(self):
        data = self.path("data")
        os.makedirs(data)
        d = self.start_daemon("--durability", "all", "--data-dir", data,
                              "--otlp-listen", "127.0.0.1:0")
        n = scaled(600, 100)
        self.send_sdk(self.otlp_port(d), "proto", n, "dur", "svc-dur", batch=50)
        self.send_sdk(d.port, "json", n, "durj", "svc-dur", batch=50)
        m = d.metrics()
        self.assertEqual(m["records_durable"], 2 * n, m)
        d.proc.kill()  # SIGKILL: nothing flushed on the way out
        self.assertFalse(d.proc.running())
        a = self.recording_analyzer()
        d2 = self.start_daemon("--durability", "all", "--data-dir", data, "--batch-linger-ms", "20",
                               analyzers=[("a", a.url, 1)], name="logdistd-2")

        def all_there():
            recs = self.records_of(a)
            return len(recs) >= 2 * n and recs
        recs = wait_until(all_there, dl(30), "%d replayed records at the analyzer" % (2 * n))
        ids = sorted(r["metadata"]["attributes"]["id"] for r in recs)
        want = sorted(["dur-%d" % i for i in range(n)] + ["durj-%d" % i for i in range(n)])
        self.assertEqual(sorted(set(ids)), want)  # every acknowledged record (duplicates allowed)
        self.assertGreaterEqual(d2.metrics()["records_replayed"], 2 * n)

    def test_kill9_critical_levels(self):
        """--critical-levels FATAL: the FATAL LogRecords (severity 21-24) of a 200 are
        in the WAL and come back after kill -9; the others were memory-only and die
        with the process (which also shows the test can see a loss)."""
        data = self.path("data")
        os.makedirs(data)
        d = self.start_daemon("--critical-levels", "FATAL", "--data-dir", data)
        n = scaled(480, 96)
        self.send_sdk(d.port, "proto", n, "crit", "svc-crit", batch=48)
        fatal = {"crit-%d" % i for i in range(n) if i % 24 + 1 >= 21}
        self.assertEqual(d.metrics()["records_durable"], len(fatal))
        d.proc.kill()
        a = self.recording_analyzer()
        self.start_daemon("--critical-levels", "FATAL", "--data-dir", data,
                          "--batch-linger-ms", "20", analyzers=[("a", a.url, 1)],
                          name="logdistd-2")
        recs = wait_until(lambda: len(self.records_of(a)) >= len(fatal) and self.records_of(a),
                          dl(30), "%d FATAL records replayed" % len(fatal))
        got = {r["metadata"]["attributes"]["id"] for r in recs}
        self.assertEqual(got, fatal)
        self.assertTrue(all(r["level"] == "FATAL" for r in recs))


if __name__ == "__main__":
    unittest.main()
