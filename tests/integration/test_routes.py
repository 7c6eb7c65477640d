"""Content routes (issue 13, part 4) with a real logdistd and real logdist-analyzers.

- exact per-route shares: a route {a:1,b:3} gets exactly 1:3 of its records, the
  default route its own weights of the rest (records posted in order on one
  connection, so each route's SWRR sees a known stream);
- copy fan-out: every ERROR/FATAL record reaches the alerts analyzer as well as its
  primary one; records_copied counts the copies; when the copy route's analyzer is
  also the primary pick the copy is skipped (records_copies_deduplicated);
- globs, sets, nested metadata.x keys, order (the first non-copy route wins);
- an empty default route: a packet with a record no route takes is refused whole
  (422 no_route naming the record and its byte offset), nothing queued;
- the admin API: CRUD on /api/v1/routes and every error status; 409 when deleting
  an analyzer a route names;
- kill -9 of the copy route's analyzer under load, restarted on the same port: every
  record reaches both destinations (duplicates only where a batch timed out, counted);
- durable copies: critical records, the copy analyzer down, kill -9 of logdistd,
  restart on the same --data-dir: the copies are delivered after the restart;
- reload of routes (file + SIGHUP, then POST /api/v1/reload) under continuous load:
  0 lost, the new table in effect.
Record ids tell where each record went (GET /ids of every analyzer).
"""
import json
import os
import random
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, free_port, hash_token, read_lines,  # noqa: E402
                     scaled, wait_until)


def record(rid, level, source, region=None, critical=False):
    r = {"id": rid, "level": level, "source": source, "message": "m " + rid}
    if region:
        r["metadata"] = {"region": region, "host": "h1"}
    if critical:
        r["critical"] = True
    return r


def packet(recs, pid):
    # compact: the recorder analyzer (harness.py) finds ids as "id":"..."
    return json.dumps({"packet_id": pid, "agent_id": "t", "messages": recs},
                      separators=(",", ":"))


class RoutesTest(LogdistTestCase):

    # ------------------------------------------------------------------ helpers
    def post_all(self, d, recs, size=50, stem="p"):
        """Post recs in order, `size` per packet, one after another (SWRR sees them
        in this order); every packet must be accepted."""
        for k in range(0, len(recs), size):
            r = d.post_logs(packet(recs[k:k + size], "%s-%d" % (stem, k)))
            self.assertEqual(r.status, 202, r)

    def routes_arg(self, table):
        return ["--routes", json.dumps(table)]

    def where(self, analyzers):
        """id -> list of analyzer ids that got it; also checks no analyzer saw an id twice."""
        got = {}
        for a in analyzers:
            ids = a.ids()
            st = a.stats()
            self.assertEqual(st["duplicate_ids"], 0, (a.id, st))
            self.assertEqual(st["bad_batches"], 0, (a.id, st))
            for i in ids:
                got.setdefault(i, []).append(a.id)
        return got

    def route_view(self, d):
        r = d.req("GET", "/api/v1/routes")
        self.assertEqual(r.status, 200, r)
        return {x["name"]: x for x in r.json()["routes"]}, [x["name"] for x in r.json()["routes"]]

    # ------------------------------------------------------------------ shares, copy, match
    def test_shares_copy_globs_sets_order(self):
        a, b, c, al = (self.start_analyzer(n) for n in ("a", "b", "c", "al"))
        table = [
            {"name": "alerts", "copy": True, "match": {"level": ["ERROR", "FATAL"]},
             "analyzers": ["al"]},
            {"name": "errors", "match": {"level": "ERROR"}, "analyzers": {"a": 1, "b": 3}},
            {"name": "checkout", "match": {"source": "checkout-*",
                                           "metadata.region": ["eu-west-1", "eu-central-1"]},
             "analyzers": ["c"]},
            {"name": "default", "analyzers": {"a": 1, "b": 1, "c": 2}},
        ]
        d = self.start_daemon(*self.routes_arg(table),
                              analyzers=[(x.id, x.url, 5) for x in (a, b, c, al)])
        m0 = d.metrics()
        cats = [  # (category, count, level, source, region)
            ("E", 400, "ERROR", "web-e", None),
            ("EC", 40, "ERROR", "checkout-e", "eu-west-1"),   # errors wins: first non-copy
            ("F", 40, "FATAL", "web-f", None),                # default + copy
            ("C", 120, "INFO", "checkout-api", "eu-west-1"),  # glob + set
            ("CZ", 40, "INFO", "checkout-api", "eu-central-1"),
            ("CU", 80, "INFO", "checkout-api", "us-east-1"),  # region not in the set
            ("I", 280, "INFO", "web-i", None),
            ("CX", 40, "INFO", "checkout", "eu-west-1"),      # "checkout-*" needs the dash
        ]
        recs = []
        for cat, n, level, src, region in cats:
            recs += [record("%s-%d" % (cat, i), level, src, region) for i in range(n)]
        random.Random(13).shuffle(recs)
        self.post_all(d, recs)
        m = self.wait_quiet(d, (a, b, c, al), 1040 + 480)
        got = self.where((a, b, c, al))
        self.assertEqual(len(got), 1040, "every record delivered")
        per = {}  # (category, analyzer) -> count
        for rid, where in got.items():
            for w in where:
                per[(rid.split("-")[0], w)] = per.get((rid.split("-")[0], w), 0) + 1

        def n(cat, aid):
            return per.get((cat, aid), 0)
        # errors route {a:1, b:3}: exactly 1:3 of its 440 records; never c
        self.assertEqual(n("E", "a") + n("EC", "a"), 110, per)
        self.assertEqual(n("E", "b") + n("EC", "b"), 330, per)
        self.assertEqual(n("E", "c") + n("EC", "c"), 0, per)
        # every ERROR and FATAL record also reached al, once
        self.assertEqual(n("E", "al") + n("EC", "al") + n("F", "al"), 480, per)
        # checkout: glob + set, only c
        self.assertEqual(n("C", "c") + n("CZ", "c"), 160, per)
        # default {a:1, b:1, c:2}: exactly 100:100:200 of F + CU + I + CX (440)
        dflt = {x: n("F", x) + n("CU", x) + n("I", x) + n("CX", x) for x in "abc"}
        self.assertEqual(dflt, {"a": 110, "b": 110, "c": 220}, per)
        self.assertEqual(sum(n(cat, "al") for cat in ("C", "CZ", "CU", "I", "CX")), 0, per)
        st = al.stats()
        self.assertEqual(st["by_level"], {"ERROR": 440, "FATAL": 40}, st)
        # figures
        self.assertEqual(m["records_copied"] - m0["records_copied"], 480, m)
        self.assertEqual(m["records_copies_deduplicated"] - m0["records_copies_deduplicated"], 0)
        self.assertEqual(m["records_no_route"], 0)
        view, order = self.route_view(d)
        self.assertEqual(order, ["alerts", "errors", "checkout", "default"])
        self.assertFalse(view["default"]["implicit"])
        self.assertEqual(view["alerts"]["records"], 480)
        self.assertEqual(view["errors"]["records"], 440)
        self.assertEqual(view["checkout"]["records"], 160)
        self.assertEqual(view["default"]["records"], 440)
        self.assertTrue(view["alerts"]["copy"])
        self.assertEqual(view["checkout"]["match"]["metadata.region"],
                         ["eu-west-1", "eu-central-1"])
        mem = {x["analyzer"]: x for x in view["errors"]["members"]}
        self.assertEqual(set(mem), {"a", "b"})
        self.assertEqual((mem["a"]["routed"], mem["b"]["routed"]), (110, 330))
        self.assertAlmostEqual(mem["a"]["target_share"], 0.25)
        self.assertAlmostEqual(mem["b"]["actual_share"], 0.75)
        self.assertEqual(mem["a"]["weight"], 1)
        self.assertTrue(mem["a"]["routable"])
        prom = d.req("GET", "/metrics").body.decode()
        self.assertIn("logdist_records_copied_total 480", prom)
        self.assertIn("logdist_records_copies_deduplicated_total 0", prom)
        self.assertIn("logdist_records_no_route_total 0", prom)

    def test_copy_dedup_with_implicit_default(self):
        """The implicit default holds every analyzer (al too): when its SWRR picks al
        for an ERROR record, the alerts copy is skipped - al gets it once."""
        a, b, al = (self.start_analyzer(n) for n in ("a", "b", "al"))
        table = [{"name": "alerts", "copy": True, "match": {"level": "ERROR"},
                  "analyzers": ["al"]}]
        d = self.start_daemon(*self.routes_arg(table),
                              analyzers=[(x.id, x.url, 1) for x in (a, b, al)])
        recs = [record("E-%d" % i, "ERROR", "s") for i in range(300)]
        recs += [record("I-%d" % i, "INFO", "s") for i in range(300)]
        random.Random(7).shuffle(recs)
        self.post_all(d, recs, size=30)
        m = self.wait_quiet(d, (a, b, al), 600 + 200)
        got = self.where((a, b, al))
        self.assertEqual(len(got), 600)
        for rid, where in got.items():
            if rid.startswith("E-"):
                self.assertIn("al", where, rid)
                self.assertEqual(len(where), len(set(where)), rid)
            else:
                self.assertEqual(len(where), 1, rid)
        # the default route's SWRR gave al 1/3 of all 600 records; the ERROR ones among
        # them are the skipped copies
        only_al = sum(1 for r, w in got.items() if r.startswith("E-") and w == ["al"])
        self.assertGreater(only_al, 50)
        self.assertEqual(m["records_copies_deduplicated"], only_al)
        self.assertEqual(m["records_copied"], 300 - only_al)
        view, order = self.route_view(d)
        self.assertEqual(order, ["alerts", "default"])
        self.assertTrue(view["default"]["implicit"])
        self.assertEqual(view["alerts"]["deduplicated"], only_al)
        self.assertEqual(view["alerts"]["records"], 300 - only_al)  # the copies it made
        self.assertEqual(view["default"]["records"], 600)
        self.assertEqual({x["analyzer"]: x["routed"] for x in view["default"]["members"]},
                         {"a": 200, "b": 200, "al": 200})

    # ------------------------------------------------------------------ refusal
    def test_no_route_422(self):
        a = self.start_analyzer("a")
        table = [{"name": "errors", "match": {"level": "ERROR"}, "analyzers": ["a"]},
                 {"name": "default", "analyzers": {}}]
        d = self.start_daemon(*self.routes_arg(table), analyzers=[(a.id, a.url, 1)])
        good = [record("g-%d" % i, "ERROR", "s") for i in range(3)]
        body = packet(good[:2] + [record("bad-0", "INFO", "s")] + good[2:], "mixed")
        r = d.post_logs(body)
        self.assertEqual(r.status, 422, r)
        e = r.json()
        self.assertEqual(e["error"], "no_route", e)
        self.assertIn("record 2", e["message"])
        self.assertEqual(body.encode()[e["offset"]:e["offset"] + 10], b'{"id":"bad', e)
        m = d.metrics()
        self.assertEqual(m["records_accepted"], 0, m)
        self.assertEqual(m["queued_records"], 0, m)
        self.assertEqual(m["records_rejected_by_reason"].get("no_route"), 4, m)
        r = d.post_logs(packet(good, "ok"))
        self.assertEqual(r.status, 202, r)
        self.wait_quiet(d, (a,), 3)
        self.assertEqual(sorted(a.ids()), ["g-0", "g-1", "g-2"])
        view, _ = self.route_view(d)
        self.assertEqual(view["default"]["analyzers"], {})
        self.assertEqual(view["default"]["members"], [])

    # ------------------------------------------------------------------ admin API
    def test_api_crud_and_errors(self):
        a, b = self.start_analyzer("a"), self.start_analyzer("b")
        d = self.start_daemon(analyzers=[(a.id, a.url, 1), (b.id, b.url, 2)])
        view, order = self.route_view(d)
        self.assertEqual(order, ["default"])
        self.assertTrue(view["default"]["implicit"])
        self.assertEqual({x["analyzer"]: x["weight"] for x in view["default"]["members"]},
                         {"a": 1, "b": 2})
        errors = {"name": "errors", "match": {"level": ["ERROR"]}, "analyzers": {"a": 2}}
        r = d.req("POST", "/api/v1/routes", errors)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("location"), "/api/v1/routes/errors")
        self.assertEqual(r.json()["name"], "errors")
        self.assertEqual(d.req("POST", "/api/v1/routes", errors).status, 409)
        # position 0 puts it first; default: before the default route
        r = d.req("POST", "/api/v1/routes", {"name": "first", "position": 0,
                                            "match": {"source": "x*"}, "analyzers": ["b"]})
        self.assertEqual(r.status, 201, r)
        r = d.req("POST", "/api/v1/routes", {"name": "tee", "copy": True, "analyzers": ["b"]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.route_view(d)[1], ["first", "errors", "tee", "default"])
        # GET one, 404 for an unknown one
        r = d.req("GET", "/api/v1/routes/errors")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["analyzers"], {"a": 2})
        self.assertEqual(d.req("GET", "/api/v1/routes/nope").status, 404)
        # bad input: 400 naming the route and the key
        for bad, key in (({"name": "x", "analyzers": {"a": 0}}, "weight"),
                         ({"name": "x", "analyzers": ["a"], "bogus": 1}, "bogus"),
                         ({"name": "x y", "analyzers": ["a"]}, "name"),
                         ({"name": "x", "analyzers": ["a"], "match": {"level": 5}}, "level"),
                         ({"name": "x", "analyzers": []}, "analyzers"),
                         ({"name": "x", "analyzers": ["a"], "affinity_key": "s",
                           "balance_factor": 50}, "balance_factor"),
                         ({"name": "x", "analyzers": ["a"], "position": -1}, "position")):
            r = d.req("POST", "/api/v1/routes", bad)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertIn(key, r.json()["message"], (bad, r.json()))
            if key not in ("position", "name"):
                self.assertIn('("x")', r.json()["message"], r.json())
        r = d.req("POST", "/api/v1/routes", b"{not json", {"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(d.req("POST", "/api/v1/routes", [errors]).status, 400)
        self.assertEqual(d.req("PUT", "/api/v1/routes", errors).status, 400)
        # an unknown analyzer: 422 naming it
        r = d.req("POST", "/api/v1/routes", {"name": "ghost", "analyzers": ["zz"]})
        self.assertEqual(r.status, 422, r)
        self.assertIn("zz", r.json()["message"])
        # PUT one replaces it in place
        r = d.req("PUT", "/api/v1/routes/errors", {"match": {"level": "FATAL"},
                                                   "analyzers": {"b": 1}})
        self.assertEqual(r.status, 200, r)
        view, order = self.route_view(d)
        self.assertEqual(order, ["first", "errors", "tee", "default"])
        self.assertEqual(view["errors"]["match"], {"level": "FATAL"})
        self.assertEqual(d.req("PUT", "/api/v1/routes/nope", {"analyzers": ["a"]}).status, 404)
        self.assertEqual(d.req("PUT", "/api/v1/routes/errors", {"name": "other",
                                                               "analyzers": ["a"]}).status, 400)
        # 405 for other methods
        self.assertEqual(d.req("DELETE", "/api/v1/routes").status, 405)
        self.assertEqual(d.req("POST", "/api/v1/routes/errors", errors).status, 405)
        # an analyzer a route names cannot be deleted
        r = d.req("DELETE", "/api/v1/analyzers/b")
        self.assertEqual(r.status, 409, r)
        self.assertIn("first", r.json()["message"])
        self.assertIn("b", d.analyzers())
        # DELETE a route; 404 the second time
        self.assertEqual(d.req("DELETE", "/api/v1/routes/tee").status, 200)
        self.assertEqual(d.req("DELETE", "/api/v1/routes/tee").status, 404)
        # the default route: PUT makes it explicit (empty: with no unconditional copy
        # route left, an INFO record has no route), DELETE restores the implicit one
        r = d.req("PUT", "/api/v1/routes/default", {"analyzers": {}})
        self.assertEqual(r.status, 200, r)
        view, _ = self.route_view(d)
        self.assertFalse(view["default"]["implicit"])
        self.assertEqual(d.post_logs(packet([record("n1", "INFO", "s")], "n")).status, 422)
        r = d.req("DELETE", "/api/v1/routes/default")
        self.assertEqual(r.status, 200, r)
        view, _ = self.route_view(d)
        self.assertTrue(view["default"]["implicit"])
        self.assertEqual(d.req("DELETE", "/api/v1/routes/default").status, 404)
        self.assertEqual(d.post_logs(packet([record("n2", "INFO", "s")], "n2")).status, 202)
        # PUT the whole table
        r = d.req("PUT", "/api/v1/routes", [{"name": "only", "match": {"level": "DEBUG"},
                                             "analyzers": ["a"]}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["name"] for x in r.json()["routes"]], ["only", "default"])
        r = d.req("PUT", "/api/v1/routes", [{"name": "d", "analyzers": ["a"]},
                                            {"name": "d", "analyzers": ["b"]}])
        self.assertEqual(r.status, 400, r)
        self.assertIn("twice", r.json()["message"])
        self.assertEqual(self.route_view(d)[1], ["only", "default"])  # unchanged
        # b is no longer named: it may go
        self.assertEqual(d.req("DELETE", "/api/v1/analyzers/b").status, 200)
        r = d.req("DELETE", "/api/v1/analyzers/a")
        self.assertEqual(r.status, 409, r)

    def test_api_roles_and_body_limit(self):
        """Reads need the read role, changes the admin role; a body over 64 KiB is 413."""
        a = self.start_analyzer("a")
        toks = {"read": "7f3a9c1e5b2d4f6081a3c5e7092b4d6f", "admin": "c0ffee1234567890abcdef13579bdf02",
                "ingest": "0a1b2c3d4e5f60718293a4b5c6d7e8f9"}
        args = []
        for role, tok in toks.items():
            args += ["--token", "role=%s,hash=%s" % (role, hash_token(tok))]
        d = self.start_daemon(*args, analyzers=[(a.id, a.url, 1)])

        def req(method, path, body=None, role=None):
            h = {"Authorization": "Bearer " + toks[role]} if role else {}
            return d.req(method, path, body, h)
        route = {"name": "e", "match": {"level": "ERROR"}, "analyzers": ["a"]}
        self.assertEqual(req("GET", "/api/v1/routes").status, 401)
        self.assertEqual(req("GET", "/api/v1/routes", role="ingest").status, 403)
        self.assertEqual(req("GET", "/api/v1/routes", role="read").status, 200)
        self.assertEqual(req("POST", "/api/v1/routes", route).status, 401)
        self.assertEqual(req("POST", "/api/v1/routes", route, role="read").status, 403)
        self.assertEqual(req("PUT", "/api/v1/routes", [route], role="read").status, 403)
        self.assertEqual(req("DELETE", "/api/v1/routes/default", role="read").status, 403)
        self.assertEqual(req("POST", "/api/v1/routes", route, role="admin").status, 201)
        self.assertEqual(req("GET", "/api/v1/routes/e", role="read").status, 200)
        big = dict(route, name="big", match={"source": ["s%06d" % i for i in range(8000)]})
        r = req("POST", "/api/v1/routes", big, role="admin")
        self.assertEqual(r.status, 413, r)
        self.assertEqual([x["name"] for x in req("GET", "/api/v1/routes", role="read")
                          .json()["routes"]], ["e", "default"])

    # ------------------------------------------------------------------ kill -9 of a copy analyzer
    def test_copy_analyzer_kill9_restart(self):
        """ERROR records: primary on p1/p2, a copy on al (a recorder that writes ids
        before answering 200). al is killed -9 mid-run and restarted on its port: the
        alerts route is held meanwhile, p1/p2 keep flowing; afterwards every record
        is at a primary and at al."""
        p1, p2 = self.start_analyzer("p1"), self.start_analyzer("p2")
        al_ids = self.path("al-ids.txt")
        al = self.start_recorder("al", al_ids)
        al_port = al.port
        table = [{"name": "alerts", "copy": True, "match": {"level": "ERROR"},
                  "analyzers": ["al"]},
                 {"name": "default", "analyzers": ["p1", "p2"]}]
        d = self.start_daemon(*self.routes_arg(table), "--request-timeout-ms", "2000",
                              analyzers=[(p1.id, p1.url, 1), (p2.id, p2.url, 1),
                                         ("al", al.url, 1)])
        ids_path = self.path("sent.txt")
        count = scaled(30000, 6000)
        gen = self.start_gen(d, count=count, rate=count // 4, packet_size=100,
                             ids_out=ids_path, extra=["--levels", "ERROR"])
        wait_until(lambda: len(read_lines(al_ids)) >= count // 6, dl(20), "al got records")
        al.proc.kill()
        d.wait_state("al", "down", dl(10))
        time.sleep(0.5)  # load keeps coming while al is down
        view = {x["name"]: x for x in d.req("GET", "/api/v1/routes").json()["routes"]}
        al = self.start_recorder("al", al_ids, port=al_port)
        summary = self.finish_gen(gen, dl(60))
        self.assertEqual(summary["records_accepted"], count, summary)
        sent = set(read_lines(ids_path))
        self.assertEqual(len(sent), count)

        def all_there():
            return (p1.records() + p2.records() >= count and
                    len(set(read_lines(al_ids))) >= count)
        wait_until(all_there, dl(60), "every record at a primary and at al")
        m = self.wait_quiet(d, (p1, p2), count)
        prim = p1.ids() + p2.ids()
        self.assertEqual(len(prim), count, "primaries: no duplicates")
        self.assertEqual(set(prim), sent)
        got = read_lines(al_ids)
        self.assertEqual(set(got), sent, "al: 0 lost")
        dups = len(got) - len(set(got))
        print("\ncopy analyzer kill -9: %d records, %d copies at al, %d duplicates at al "
              "(batches in flight at the kill), held while down: %d, retried batches: %s"
              % (count, len(got), dups, view["alerts"]["held"], m.get("batches_retried")),
              file=sys.stderr)
        # only batches that were in flight (or timed out) when al died come twice
        self.assertLessEqual(dups, 2000, "duplicates beyond the in-flight batches")
        self.assertGreater(view["alerts"]["held"], 0, "the alerts route was held while al was down")
        self.assertEqual(m["records_deadlettered"], 0, m)

    # ------------------------------------------------------------------ durable copies
    def test_durable_copies_survive_kill9(self):
        """critical records matching a copy route whose analyzer is down; logdistd is
        killed -9 and restarted on the same --data-dir: the copies are delivered after
        the restart (their WAL entries were not acknowledged by the primary's 2xx)."""
        p1 = self.start_analyzer("p1")
        al_port = free_port()
        al_url = "http://127.0.0.1:%d/ingest" % al_port
        data = self.data_dir()
        table = [{"name": "alerts", "copy": True, "match": {"level": "ERROR"},
                  "analyzers": ["al"]},
                 {"name": "default", "analyzers": ["p1"]}]
        args = self.routes_arg(table) + ["--data-dir", data]
        an = [(p1.id, p1.url, 1), ("al", al_url, 1)]
        d = self.start_daemon(*args, analyzers=an)
        recs = [record("c-%d" % i, "ERROR", "s", critical=True) for i in range(200)]
        recs += [record("i-%d" % i, "INFO", "s", critical=True) for i in range(100)]
        self.post_all(d, recs, size=25)
        wait_until(lambda: p1.records() >= 300, dl(20), "primaries delivered")
        view = {x["name"]: x for x in d.req("GET", "/api/v1/routes").json()["routes"]}
        self.assertEqual(view["alerts"]["records"], 200)
        d.proc.kill()  # kill -9: the copies were never delivered
        al_ids = self.path("al-ids.txt")
        al = self.start_recorder("al", al_ids, port=al_port)
        d2 = self.start_daemon(*args, analyzers=an, name="logdistd-2")
        wait_until(lambda: len(set(read_lines(al_ids))) >= 200, dl(30),
                   "the durable copies delivered after the restart")
        got = set(read_lines(al_ids))
        self.assertEqual(got, {"c-%d" % i for i in range(200)}, "0 acknowledged copies lost")
        m = wait_until(lambda: (lambda m: m["queued_records"] == 0 and
                                m["inflight_batches"] == 0 and m)(d2.metrics()),
                       dl(20), "queue empty")
        # the WAL kept exactly the 200 records with an unsettled copy (the 100 INFO ones
        # were acknowledged by p1's 2xx); replayed, they reach both routes again
        self.assertEqual(m["records_replayed"], 200, m)
        self.assertEqual(m["records_copied"], 200, m)
        print("\ndurable copies: 200 critical ERROR records, copy analyzer down, kill -9 + "
              "restart: %d replayed, %d copies delivered, 0 lost; the primary saw %d records "
              "(%d twice: replayed with their copy)" % (m["records_replayed"], len(got),
                                                         p1.records(), p1.records() - 300),
              file=sys.stderr)

    # ------------------------------------------------------------------ reload
    def write_config(self, path, cfg):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f, indent=2)
        os.replace(tmp, path)

    def test_reload_routes_under_load(self):
        a, b, c = (self.start_analyzer(n) for n in ("a", "b", "c"))
        path = self.path("logdistd.json")
        base = {"analyzers": [{"id": x.id, "url": x.url, "weight": 1} for x in (a, b, c)]}
        cfg = dict(base, routes=[{"name": "errors", "match": {"level": "ERROR"},
                                  "analyzers": ["a"]}])
        self.write_config(path, cfg)
        d = self.start_daemon("--config", path)
        ids_path = self.path("sent.txt")
        count = scaled(40000, 8000)
        gen = self.start_gen(d, count=count, rate=count // 5, packet_size=50,
                             ids_out=ids_path, extra=["--levels", "ERROR:1,INFO:1"])
        wait_until(lambda: a.records() > 1000, dl(20), "load flowing")
        # SIGHUP: errors now go to b, a copy of every INFO record to c
        cfg["routes"] = [{"name": "errors", "match": {"level": "ERROR"}, "analyzers": ["b"]},
                         {"name": "info-tap", "copy": True, "match": {"level": "INFO"},
                          "analyzers": ["c"]}]
        self.write_config(path, cfg)
        d.proc.signal(signal.SIGHUP)
        wait_until(lambda: self.route_view(d)[1] == ["errors", "info-tap", "default"], dl(10),
                   "SIGHUP applied the new routes")
        time.sleep(0.5)
        # POST /api/v1/reload: a FATAL route in front
        cfg["routes"].insert(0, {"name": "fatal", "match": {"level": "FATAL"},
                                 "analyzers": ["a"]})
        self.write_config(path, cfg)
        r = d.req("POST", "/api/v1/reload", b"")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.route_view(d)[1], ["fatal", "errors", "info-tap", "default"])
        # a bad table changes nothing
        bad = dict(cfg, routes=[{"name": "x", "analyzers": ["nobody"]}])
        self.write_config(path, bad)
        r = d.req("POST", "/api/v1/reload", b"")
        self.assertGreaterEqual(r.status, 400, r)
        self.assertEqual(self.route_view(d)[1], ["fatal", "errors", "info-tap", "default"])
        # dropping an analyzer the routes in use name is refused (the next start would
        # fail on the same file): nothing changes
        dropped = dict(cfg, analyzers=[x for x in cfg["analyzers"] if x["id"] != "c"])
        self.write_config(path, dropped)
        r = d.req("POST", "/api/v1/reload", b"")
        self.assertEqual(r.status, 400, r)
        self.assertIn('names analyzer \\"c\\"', r.body.decode())
        self.assertEqual(d.req("GET", "/api/v1/analyzers/c").status, 200)
        self.write_config(path, cfg)
        summary = self.finish_gen(gen, dl(60))
        self.assertEqual(summary["records_accepted"], count, summary)
        sent = set(read_lines(ids_path))
        # the new table in effect: records posted now follow it
        tail = [record("t-e-%d" % i, "ERROR", "s") for i in range(20)]
        tail += [record("t-i-%d" % i, "INFO", "s") for i in range(20)]
        self.post_all(d, tail, size=40)
        self.wait_quiet(d, (a, b, c), count + 40)
        got = self.where((a, b, c))
        lost = sent - set(got)
        self.assertEqual(lost, set(), "%d records lost over the reloads" % len(lost))
        for rid, where in got.items():
            if rid in sent:
                self.assertLessEqual(len(where), 2, (rid, where))
        for i in range(20):
            self.assertEqual(got.get("t-e-%d" % i), ["b"], "ERROR after the reload goes to b")
            w = got.get("t-i-%d" % i)
            self.assertIn("c", w, "INFO after the reload is copied to c")
        copies = sum(len(w) - 1 for w in got.values())
        print("\nreload under load: %d records, 0 lost, %d info-tap copies" % (count, copies),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
