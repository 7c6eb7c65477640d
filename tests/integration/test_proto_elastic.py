"""The Elasticsearch bulk API (--elasticsearch-listen), driven by the official
@elastic/elasticsearch 8.19 client (tests/node/node_modules, through
clients/es_client.js) and by raw HTTP where the client cannot be made to send
something: cluster info and probes, helpers.bulk() to weighted analyzers with
every record checked, per-item refusals, auth (ApiKey, Basic), the 429 path the
helper retries, gzip, and kill -9 with every 201 item surviving."""
import collections
import gzip
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, hash_token, http_request,  # noqa: E402
                     split_batch_records, wait_until)
from durability_util import DurabilityCase  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "clients", "es_client.js")
NODE = shutil.which("node")
LEVELS = {"info": "INFO", "warning": "WARN", "error": "ERROR", "debug": "DEBUG",
          "critical": "FATAL"}
TOKEN = "esTok3n-4b9Qx7ZpL2mN8vR1sT6uW0yA"
READER = "rdTok3n-9cWq2ZpL7mN4vR8sT1uX5yB"


def es_port(d):
    return int(d.line["elasticsearch"].rsplit(":", 1)[1])


def ndjson(*objs):
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n"
                    for o in objs)


class ElasticBase(LogdistTestCase):

    def node(self, cfg, timeout=None):
        """Run the client script; its JSON line."""
        self.assertIsNotNone(NODE, "node is not installed (scripts/setup-deps.sh)")
        p = subprocess.run([NODE, CLIENT, json.dumps(cfg)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout or dl(60))
        lines = p.stdout.decode().strip().splitlines()
        self.assertTrue(lines, "es_client printed nothing; stderr: %s" % p.stderr.decode()[-2000:])
        return json.loads(lines[-1])

    def es(self, d, method, path, body=None, headers=None):
        r = http_request(es_port(d), method, path, body, headers)
        self.assertEqual(r.headers.get("x-elastic-product"), "Elasticsearch", r)
        return r

    def bulk(self, d, body, path="/_bulk", headers=None):
        h = {"Content-Type": "application/x-ndjson"}
        h.update(headers or {})
        return self.es(d, "POST", path, body, h)

    def records(self, analyzers, want, timeout=None):
        """Every record the recording analyzers got, per analyzer, once `want` arrived."""
        def got():
            n = sum(len(split_batch_records(q[3])) for a in analyzers for q in a.snapshot())
            return n >= want
        wait_until(got, timeout or dl(20), "%d records at the analyzers" % want)
        out = []
        for a in analyzers:
            recs = []
            for _, _, _, body in a.snapshot():
                recs += [json.loads(r) for r in split_batch_records(body)]
            out.append(recs)
        return out

    def assertEsError(self, r, status, etype):
        self.assertEqual(r.status, status, r)
        j = r.json()
        self.assertEqual(j["status"], status, j)
        self.assertEqual(j["error"]["type"], etype, j)
        self.assertEqual(j["error"]["root_cause"][0]["type"], etype, j)
        self.assertTrue(j["error"]["reason"], j)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)


class ElasticTest(ElasticBase):

    def start(self, *args, weights=(1,)):
        self.recs = [self.recording_analyzer() for _ in weights]
        specs = [("r%d" % i, a.url, w) for i, (a, w) in enumerate(zip(self.recs, weights))]
        return self.start_daemon("--elasticsearch-listen", "127.0.0.1:0", "--batch-linger-ms",
                                 "20", *args, analyzers=specs)

    def test_info_and_probes(self):
        d = self.start()
        url = "http://127.0.0.1:%d" % es_port(d)
        out = self.node({"url": url, "mode": "info"})
        self.assertTrue(out["ok"], out)
        info = out["result"]
        self.assertEqual(info["version"]["number"], "8.11.0")
        self.assertEqual(info["version"]["build_flavor"], "default")
        self.assertEqual(info["tagline"], "You Know, for Search")
        for k in ("lucene_version", "minimum_wire_compatibility_version",
                  "minimum_index_compatibility_version"):
            self.assertIn(k, info["version"])
        for k in ("name", "cluster_name", "cluster_uuid"):
            self.assertTrue(info[k], info)
        # HEAD / : headers only
        r = self.es(d, "HEAD", "/")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(self.es(d, "GET", "/_license").json()["license"]["status"], "active")
        x = self.es(d, "GET", "/_xpack").json()
        self.assertEqual(x["license"]["mode"], "basic")
        self.assertFalse(x["features"]["security"]["enabled"])
        self.assertEqual(self.es(d, "GET", "/_cluster/health").json()["status"], "green")
        # shipper setup calls: acknowledged, nothing kept
        for path in ("/_index_template/filebeat-8.11.0", "/_ilm/policy/filebeat",
                     "/_template/logstash"):
            r = self.es(d, "PUT", path, {"index_patterns": ["x-*"]})
            self.assertEqual((r.status, r.json()), (200, {"acknowledged": True}), path)
            self.assertEsError(self.es(d, "GET", path), 404, "resource_not_found_exception")
            self.assertEqual(self.es(d, "HEAD", path).status, 404)
        self.assertEsError(self.es(d, "GET", "/_search"), 404, "resource_not_found_exception")
        self.assertEsError(self.es(d, "GET", "/myindex/_doc/1"), 404,
                           "resource_not_found_exception")
        r = self.es(d, "GET", "/_bulk")
        self.assertEsError(r, 405, "method_not_allowed")
        self.assertEsError(self.es(d, "POST", "/"), 405, "method_not_allowed")

    def check_mapped(self, rec, prefix, index):
        i = rec["seq"]
        self.assertEqual(rec["message"], "%s-%d" % (prefix, i))
        self.assertEqual(rec["type"], index)
        self.assertEqual(rec["timestamp"], rec["@timestamp"])
        self.assertEqual(rec["level"], LEVELS[rec["log"]["level"]])
        self.assertEqual(rec["source"], "svc-" + prefix)
        self.assertEqual(rec["service"], {"name": "svc-" + prefix})

    def helper_to_weighted(self, compression):
        d = self.start(weights=(1, 3))
        n = 3000
        out = self.node({"url": "http://127.0.0.1:%d" % es_port(d), "mode": "helper",
                         "count": n, "index": "app-logs", "prefix": "h", "flushBytes": 20000,
                         "concurrency": 3, "compression": compression})
        self.assertTrue(out["ok"], out)
        st = out["result"]["stats"]
        self.assertEqual((st["successful"], st["failed"], out["result"]["dropped"]), (n, 0, 0),
                         out)
        self.assertGreater(st["total"], 0)
        per = self.records(self.recs, n)
        d.wait_all_delivered(dl(10))
        seqs = collections.Counter(r["seq"] for recs in per for r in recs)
        self.assertEqual(sorted(seqs), list(range(n)), "every document once")
        self.assertEqual(max(seqs.values()), 1)
        for recs in per:
            for r in recs:
                self.check_mapped(r, "h", "app-logs")
        share = len(per[1]) / n
        self.assertShare(share, 0.75, 0.01, "weight 3 of 4")
        m = d.metrics()
        es = m["protocols"]["elasticsearch"]
        self.assertEqual(es["records_accepted"], n, es)
        self.assertEqual(es["messages"], n, es)
        self.assertEqual(es["decode_errors"], 0, es)

    def test_helper_bulk_to_weighted_analyzers(self):
        self.helper_to_weighted(False)

    def test_helper_bulk_gzip(self):
        self.helper_to_weighted(True)

    def test_bulk_refuses_delete_update_per_item(self):
        d = self.start()
        ops = [{"index": {"_index": "a", "_id": "keep-1"}}, {"message": "one", "level": "warning"},
               {"delete": {"_index": "a", "_id": "x"}},
               {"update": {"_index": "a", "_id": "y"}}, {"doc": {"message": "no"}},
               {"create": {"_index": "b"}}, {"message": "two", "@timestamp": 1714557600123},
               {"index": {"_index": "Bad Name"}}, {"message": "no"},
               {"index": {"_index": "c"}}, "[1,2]",
               {"create": {"_index": "c"}}, {"message": "three", "type": "own",
                                             "host": {"name": "h1"}}]
        out = self.node({"url": "http://127.0.0.1:%d" % es_port(d), "mode": "bulk",
                         "operations": ops})
        self.assertTrue(out["ok"], out)
        res = out["result"]
        self.assertTrue(res["errors"])
        items = [(list(i)[0], i[list(i)[0]]["status"]) for i in res["items"]]
        self.assertEqual(items, [("index", 201), ("delete", 400), ("update", 400),
                                 ("create", 201), ("index", 400), ("index", 400),
                                 ("create", 201)])
        self.assertEqual(res["items"][0]["index"]["_id"], "keep-1")
        gen = res["items"][3]["create"]["_id"]
        self.assertEqual(len(gen), 20, gen)
        self.assertEqual(res["items"][3]["create"]["result"], "created")
        self.assertEqual(res["items"][1]["delete"]["error"]["type"], "illegal_argument_exception")
        self.assertEqual(res["items"][4]["index"]["error"]["type"], "invalid_index_name_exception")
        self.assertEqual(res["items"][5]["index"]["error"]["type"], "mapper_parsing_exception")
        (recs,) = self.records(self.recs, 3)
        d.wait_all_delivered(dl(10))
        by = {r["message"]: r for r in recs}
        self.assertEqual(sorted(by), ["one", "three", "two"])
        self.assertEqual((by["one"]["level"], by["one"]["type"]), ("WARN", "a"))
        self.assertEqual(by["two"]["timestamp"], "2024-05-01T10:00:00.123Z")
        self.assertEqual((by["three"]["type"], by["three"]["source"]), ("own", "h1"))
        es = d.metrics()["protocols"]["elasticsearch"]
        self.assertEqual((es["messages"], es["records_accepted"]), (7, 3), es)

    def test_raw_requests(self):
        """What the client does not send: whole-request errors, content types, gzip,
        URL index, limits."""
        d = self.start("--max-record-bytes", "2000", "--max-body-bytes", "200000")
        self.assertEsError(self.bulk(d, b"hello\n"), 400, "illegal_argument_exception")
        self.assertEsError(self.bulk(d, b""), 400, "action_request_validation_exception")
        self.assertEsError(self.bulk(d, ndjson({"index": {"_index": "a"}})), 400,
                           "illegal_argument_exception")  # no source line
        self.assertEsError(self.bulk(d, b"x", headers={"Content-Type": "text/plain"}), 406,
                           "media_type_header_exception")
        self.assertEsError(self.bulk(d, b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"}),
                           400, "parse_exception")
        self.assertEsError(self.bulk(d, b"x" * 200001), 413, "content_too_long_exception")
        body = ndjson({"index": {}}, {"message": "u1"},
                      {"create": {"_index": "other"}}, {"message": "u2"},
                      {"index": {}}, {"message": "x" * 3000})
        for ct in ("application/json", "application/vnd.elasticsearch+x-ndjson;compatible-with=8"):
            r = self.bulk(d, gzip.compress(body), path="/url-idx/_bulk?refresh=true&pipeline=p",
                          headers={"Content-Encoding": "gzip", "Content-Type": ct})
            self.assertEqual(r.status, 200, r)
            j = r.json()
            self.assertTrue(j["errors"])
            self.assertEqual([list(i.values())[0]["status"] for i in j["items"]], [201, 201, 400])
            self.assertIn("max-record-bytes", j["items"][2]["index"]["error"]["reason"])
        # a 201 item, field by field (and an _id that needs escaping)
        r = self.bulk(d, ndjson({"index": {"_index": "x", "_id": "q\"\u00e9\\"}}, {}))
        it = r.json()["items"][0]["index"]
        self.assertEqual(list(it), ["_index", "_id", "_version", "result", "_shards", "_seq_no",
                                    "_primary_term", "status"])
        self.assertEqual((it["_index"], it["_id"], it["_version"], it["result"], it["status"],
                          it["_primary_term"]), ("x", 'q"\u00e9\\', 1, "created", 201, 1))
        self.assertEqual(it["_shards"], {"total": 1, "successful": 1, "failed": 0})
        self.assertIsInstance(it["_seq_no"], int)
        (recs,) = self.records(self.recs, 5)
        recs = [r for r in recs if r.get("type") != "x"]
        self.assertEqual(sorted((r["message"], r["type"]) for r in recs),
                         [("u1", "url-idx"), ("u1", "url-idx"), ("u2", "other"), ("u2", "other")])
        es = d.metrics()["protocols"]["elasticsearch"]
        self.assertEqual(es["oversize"], 3, es)  # the 413 body and the two big documents

    def test_draining_answers_503(self):
        """After SIGTERM (analyzers hung, so logdistd is still draining) a bulk on an
        open connection gets 503 node_closed_exception with Retry-After: the clients
        retry it elsewhere or later."""
        d = self.start()
        self.recs[0].gate = threading.Semaphore(0)
        c = http.client.HTTPConnection("127.0.0.1", es_port(d), timeout=dl(10))
        body = ndjson({"create": {"_index": "dr"}}, {"message": "first"})
        hdr = {"Content-Type": "application/x-ndjson"}
        c.request("POST", "/_bulk", body=body, headers=hdr)
        r = c.getresponse()
        self.assertEqual((r.status, json.loads(r.read())["errors"]), (200, False))
        wait_until(lambda: self.recs[0].posts >= 1, dl(10), "the batch held by the analyzer")
        d.proc.signal(signal.SIGTERM)
        wait_until(lambda: "draining" in d.proc.stderr_text(), dl(10), "logdistd draining")
        c.request("POST", "/_bulk", body=body, headers=hdr)
        r = c.getresponse()
        j = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 503, j)
        self.assertEqual(j["error"]["type"], "node_closed_exception", j)
        self.assertGreaterEqual(int(r.getheader("Retry-After")), 1)
        self.assertEqual(r.getheader("X-Elastic-Product"), "Elasticsearch")
        self.recs[0].release_gate(100)

    def test_mapped_level_drives_critical_levels(self):
        """--critical-levels applies to the mapped level: "critical" (log.level) and
        "err" (level) become FATAL and ERROR and are fsync'ed before the 201."""
        d = self.start("--critical-levels", "FATAL,ERROR")
        docs = [{"log": {"level": "critical"}, "message": "c1"}, {"level": "err", "message": "c2"},
                {"log.level": "info", "message": "n1"}, {"level": "warning", "message": "n2"},
                {"message": "n3", "critical": True}]
        body = ndjson(*[x for doc in docs for x in ({"create": {"_index": "lv"}}, doc)])
        r = self.bulk(d, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([i["create"]["status"] for i in r.json()["items"]], [201] * 5)
        m = d.metrics()
        self.assertEqual(m["records_durable"], 3, m)  # c1, c2 and the "critical": true one
        (recs,) = self.records(self.recs, 5)
        self.assertEqual(sorted((x["message"], x.get("level")) for x in recs),
                         [("c1", "FATAL"), ("c2", "ERROR"), ("n1", "INFO"), ("n2", "WARN"),
                          ("n3", None)])

    def test_rate_limit_429_and_helper_retries(self):
        d = self.start("--global-records-per-s", "400", "--rate-burst-s", "1")
        # bulks over the bucket (400 records): one is refused item by item with 429
        big = ndjson(*[x for i in range(300) for x in ({"create": {"_index": "r"}},
                                                          {"message": "b%d" % i})])
        early = 0  # documents of these bulks taken before the bucket ran dry
        for _ in range(3):
            r = self.bulk(d, big)
            self.assertEqual(r.status, 200, r)
            j = r.json()
            if j["errors"]:
                break
            early += len(j["items"])
        self.assertTrue(j["errors"])
        self.assertEqual({i["create"]["status"] for i in j["items"]}, {429})
        self.assertEqual(j["items"][0]["create"]["error"]["type"],
                         "es_rejected_execution_exception")
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        # the helper retries the 429 items until every document is in
        n = 1500
        out = self.node({"url": "http://127.0.0.1:%d" % es_port(d), "mode": "helper",
                         "count": n, "index": "rl", "prefix": "rl", "flushBytes": 8000,
                         "concurrency": 2, "wait": 100, "retries": 200}, timeout=dl(90))
        self.assertTrue(out["ok"], out)
        st = out["result"]["stats"]
        self.assertEqual((st["successful"], st["failed"]), (n, 0), out)
        self.assertGreater(st["retry"], 0, "the rate limit was never hit: %s" % st)
        (recs,) = self.records(self.recs, n + early)
        got = sorted(r["seq"] for r in recs if "seq" in r)
        self.assertEqual(got, list(range(n)))
        es = d.metrics()["protocols"]["elasticsearch"]
        self.assertGreater(es["records_refused"], 0, es)


class ElasticAuthTest(ElasticBase):

    def test_apikey_and_basic(self):
        rec = self.recording_analyzer()
        d = self.start_daemon("--elasticsearch-listen", "127.0.0.1:0",
                              "--token", "role=ingest+read,hash=" + hash_token(TOKEN),
                              "--token", "role=read,hash=" + hash_token(READER),
                              "--batch-linger-ms", "20", analyzers=[("r", rec.url, 1)])
        url = "http://127.0.0.1:%d" % es_port(d)
        auths = [{"apiKey": TOKEN}, {"apiKey": {"id": "agent-7", "api_key": TOKEN}},
                 {"username": "agent-7", "password": TOKEN}, {"bearer": TOKEN}]
        for k, auth in enumerate(auths):
            out = self.node({"url": url, "mode": "info", "auth": auth})
            self.assertTrue(out["ok"], (auth, out))
            out = self.node({"url": url, "mode": "helper", "count": 50, "index": "sec",
                             "prefix": "p%d" % k, "auth": auth})
            self.assertTrue(out["ok"], out)
            self.assertEqual(out["result"]["stats"]["successful"], 50, out)
        (recs,) = self.records([rec], 200)
        self.assertEqual(len(recs), 200)
        self.assertTrue(self.es(d, "GET", "/_xpack").status == 401)
        for auth in ({"apiKey": "wrong" + TOKEN}, {"username": "u", "password": "nope"}, None):
            out = self.node({"url": url, "mode": "info", "auth": auth} if auth else
                            {"url": url, "mode": "info"})
            self.assertFalse(out["ok"], out)
            self.assertEqual(out["status"], 401, out)
            self.assertEqual(out["body"]["error"]["type"], "security_exception", out)
        # the challenge, as Elasticsearch words it
        c = http.client.HTTPConnection("127.0.0.1", es_port(d), timeout=dl(10))
        c.request("POST", "/_bulk", body=ndjson({"index": {"_index": "a"}}, {}),
                  headers={"Content-Type": "application/x-ndjson",
                           "Authorization": "Basic dXNlcjpub3Bl"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 401)
        self.assertIn('Basic realm="security" charset="UTF-8"',
                      [v for k, v in r.getheaders() if k.lower() == "www-authenticate"])
        # a token without the ingest role: 403, ES-shaped
        out = self.node({"url": url, "mode": "info", "auth": {"apiKey": READER}})
        self.assertEqual((out["ok"], out.get("status")), (False, 403), out)
        self.assertEqual(out["body"]["error"]["type"], "security_exception", out)
        m = http_request(d.port, "GET", "/api/v1/metrics",
                         headers={"Authorization": "Bearer " + TOKEN}).json()
        self.assertGreaterEqual(m["protocols"]["elasticsearch"]["auth_failures"], 5, m)
        self.assertEqual(len(self.records([rec], 200)[0]), 200, "nothing taken without auth")


class ElasticKill9Test(DurabilityCase, ElasticBase):

    def test_kill9_every_201_survives(self):
        """Bulks of 50 documents with --durability all while logdistd has no analyzer
        (everything stays in the WAL); kill -9 in the middle of the stream; every item
        answered 201 is at the analyzer after a restart on the same --data-dir."""
        data = self.new_data_dir("es")
        args = ("--durability", "all", "--elasticsearch-listen", "127.0.0.1:0")
        d = self.start_dd(data, *args)
        argv_line = d.proc.first_line(dl(5))
        port = int(argv_line["elasticsearch"].rsplit(":", 1)[1])
        acked, stop, errors = [], threading.Event(), []

        def sender():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=dl(10))
            n = 0
            try:
                while not stop.is_set():
                    ids = ["k-%d" % (n + i) for i in range(50)]
                    n += 50
                    body = ndjson(*[x for i in ids for x in ({"create": {"_index": "k"}},
                                                             {"id": i, "message": i})])
                    c.request("POST", "/_bulk", body=body,
                              headers={"Content-Type": "application/x-ndjson"})
                    r = c.getresponse()
                    j = json.loads(r.read())
                    for i, item in zip(ids, j["items"]):
                        if item["create"]["status"] == 201:
                            acked.append(i)
            except (OSError, http.client.HTTPException, ValueError) as e:
                errors.append(repr(e))
            finally:
                c.close()

        t = threading.Thread(target=sender)
        t.start()
        wait_until(lambda: len(acked) >= 2000, dl(30), "2000 items acknowledged")
        self.kill9(d.proc)
        t.join(dl(15))  # its next request fails: nobody listens any more
        stop.set()      # (a bound only: it ends by itself)
        t.join(dl(5))
        self.assertFalse(t.is_alive())
        self.assertTrue(errors, "the sender saw the kill")
        a = self.start_analyzer("k")
        d = self.start_dd(data, *args, analyzers=[(a.id, a.url, 1)])
        self.wait_ids([a], acked, dl(60), "acknowledged bulk items")
        sys.stderr.write("\n[es kill -9: %d items acknowledged before the kill, all delivered]\n"
                         % len(acked))


if __name__ == "__main__":
    unittest.main()
