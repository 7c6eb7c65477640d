"""logdistctl against a running logdistd with tokens (admin and read roles):

- usage errors exit 2 before any request; no daemon listening exits 3; a wrong or
  missing token exits 4 (401), a read token doing a change exits 4 (403); an unknown
  analyzer exits 1 with the API's error as one line on stderr;
- status, analyzers, add, set-weight, remove, metrics (JSON and --prometheus),
  reload: each against the API's own answer; --json prints exactly what the API
  answers (compared with the same GET made directly);
- drain / undrain observed in routing: records stop going to the drained analyzer
  (its weight kept, state "drained") and go to it again after undrain;
- deadletters list / purge ID / replay / purge --all with real dead letters (an
  analyzer that always answers 500);
- TLS with --cacert and mutual TLS with --cert/--key; an untrusted server or a
  missing client certificate exits 3.
"""
import json
import os
import secrets
import shutil
import sys
import tempfile
import atexit
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BIN, LogdistTestCase, RecordingAnalyzer, dl, free_port,  # noqa: E402
                     hash_token, http_request, split_batch_records, wait_until)
from security_util import Pki  # noqa: E402

CTL = os.path.join(BIN, "logdistctl")
AN = "/api/v1/analyzers"


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def records_of(rec):
    """Number of records a RecordingAnalyzer received (every POST body is a batch)."""
    return sum(len(split_batch_records(body)) for _, _, _, body in rec.snapshot())


class CtlCase(LogdistTestCase):
    DAEMON_DEFAULTS = {"--health-interval-ms": "100", "--drain-timeout-ms": "2000"}

    def setUp(self):
        super().setUp()
        if not os.access(CTL, os.X_OK):
            self.fail("binary %s not found" % CTL)
        self.admin_tok = secrets.token_urlsafe(24)
        self.read_tok = secrets.token_urlsafe(24)
        self.ingest_tok = secrets.token_urlsafe(24)

    def token_args(self):
        return ("--token", "role=admin,hash=" + hash_token(self.admin_tok),
                "--token", "role=read,hash=" + hash_token(self.read_tok),
                "--token", "role=ingest,hash=" + hash_token(self.ingest_tok))

    def recorder(self, status=200):
        r = RecordingAnalyzer(status=status)
        self.servers.append(r)
        return r

    def ctl(self, *args, token=None, url=None, env=None):
        """Run logdistctl (the token in LOGDIST_TOKEN, never in argv) -> (rc, out, err)."""
        # Proc adds these to our environment: empty means unset to logdistctl
        e = {"LOGDIST_TOKEN": token or "", "LOGDIST_URL": url or ""}
        e.update(env or {})
        p = self.spawn("logdistctl", [CTL] + list(args), env=e)
        rc = p.wait(dl(30))
        return rc, p.stdout_text(), p.stderr_text()

    def api(self, d, method, path, body=None, tok=None):
        return d.req(method, path, body, bearer(tok or self.admin_tok))

    def wait_up(self, d, ids):
        def up():
            r = self.api(d, "GET", AN)
            return r.status == 200 and all(a["state"] == "up" for a in r.json()["analyzers"]
                                           if a["id"] in ids)
        wait_until(up, dl(15), "analyzers %s up" % (ids,))

    def post(self, d, tag, n):
        body = {"packet_id": tag, "messages": [{"id": "%s-%d" % (tag, i)} for i in range(n)]}
        h = {"Content-Type": "application/json"}
        h.update(bearer(self.ingest_tok))
        r = d.req("POST", "/api/v1/logs", body, h)
        self.assertEqual(r.status, 202, r)

    def wait_delivered(self, d):
        def done():
            m = self.api(d, "GET", "/api/v1/metrics").json()
            return (m["records_delivered"] == m["records_accepted"] and
                    m["queued_records"] == 0 and m["inflight_batches"] == 0)
        wait_until(done, dl(20), "every record delivered")

    def assert_one_error_line(self, err, start):
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith(start), err)


class UsageTest(CtlCase):

    def test_usage_errors_exit_2(self):
        for args in ([], ["frob"], ["--insecure", "status"], ["-k", "status"],
                     ["set-weight", "a1", "heavy"], ["set-weight", "a1", "-1"],
                     ["drain", "bad id"], ["drain"], ["add", "a1"], ["add", "a1", "ftp://h/"],
                     ["--timeout", "0", "status"], ["--timeout", "99999", "status"],
                     ["--url", "file:///etc/passwd", "status"], ["--bogus", "status"],
                     ["deadletters", "purge"], ["deadletters", "purge", "--all", "x-1"],
                     ["deadletters", "replay", "b-1"], ["deadletters", "list", "--all"],
                     ["status", "--weight", "2"], ["analyzers", "--prometheus"],
                     ["--cert", "c.pem", "status"], ["--token", "a", "--token-file", "f",
                                                     "status"]):
            rc, out, err = self.ctl(*args, url="http://127.0.0.1:9")
            self.assertEqual(rc, 2, "%s: rc %d, %s" % (args, rc, err))
            self.assert_one_error_line(err, "logdistctl: ")
            self.assertEqual(out, "", args)

    def test_help_and_version(self):
        rc, out, _ = self.ctl("--help")
        self.assertEqual(rc, 0)
        for word in ("status", "analyzers", "drain", "deadletters", "--cacert", "Exit codes",
                     "--json", "--timeout"):
            self.assertIn(word, out)
        self.assertNotIn("--insecure", out)
        rc, out, _ = self.ctl("--version")
        self.assertEqual((rc, out.split()[0]), (0, "logdistctl"))

    def test_no_daemon_exits_3(self):
        port = free_port()
        rc, out, err = self.ctl("status", url="http://127.0.0.1:%d" % port)
        self.assertEqual(rc, 3, err)
        self.assert_one_error_line(err, "logdistctl: http://127.0.0.1:%d: " % port)
        # --url wins over LOGDIST_URL
        rc, _, err = self.ctl("--url", "http://127.0.0.1:%d" % port, "analyzers",
                              url="http://127.0.0.1:1")
        self.assertEqual(rc, 3, err)
        self.assertIn(":%d" % port, err)


class CommandsTest(CtlCase):

    def start(self, *extra, analyzers=None):
        self.r1, self.r2 = self.recorder(), self.recorder()
        specs = analyzers or [("a1", self.r1.url, 2), ("a2", self.r2.url, 1)]
        d = self.start_daemon(*(self.token_args() + extra), analyzers=specs)
        self.url = "http://127.0.0.1:%d" % d.port
        return d

    def test_auth_exit_codes(self):
        d = self.start()
        rc, _, err = self.ctl("analyzers", url=self.url)  # no token
        self.assertEqual(rc, 4, err)
        self.assert_one_error_line(err, "logdistctl: 401 unauthorized")
        rc, _, err = self.ctl("analyzers", url=self.url, token="wrong-" + self.read_tok)
        self.assertEqual(rc, 4, err)
        self.assert_one_error_line(err, "logdistctl: 401 ")
        self.assertNotIn(self.read_tok, err)
        # the read token reads, but may not change anything
        rc, out, err = self.ctl("analyzers", url=self.url, token=self.read_tok)
        self.assertEqual(rc, 0, err)
        for args in (["set-weight", "a1", "3"], ["drain", "a1"], ["remove", "a2"],
                     ["add", "a9", "http://127.0.0.1:9/ingest"], ["deadletters", "purge", "--all"]):
            rc, _, err = self.ctl(*args, url=self.url, token=self.read_tok)
            self.assertEqual(rc, 4, "%s: %s" % (args, err))
            self.assert_one_error_line(err, "logdistctl: 403 forbidden")
        self.assertEqual(self.api(d, "GET", AN + "/a1").json()["weight"], 2)
        # --token on the command line and --token-file work as well as the environment
        rc, _, err = self.ctl("--token", self.admin_tok, "set-weight", "a1", "3", url=self.url)
        self.assertEqual(rc, 0, err)
        tf = self.path("tok")
        with open(tf, "w") as f:
            f.write(self.admin_tok + "\n")
        rc, _, err = self.ctl("--token-file", tf, "set-weight", "a1", "2", url=self.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.api(d, "GET", AN + "/a1").json()["weight"], 2)

    def test_every_command(self):
        d = self.start()
        self.wait_up(d, ["a1", "a2"])
        tok = self.admin_tok
        self.post(d, "s", 30)
        self.wait_delivered(d)

        rc, out, err = self.ctl("status", url=self.url, token=self.read_tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("2 up / 2 total", out)
        self.assertIn("30 accepted, 30 delivered", out)
        self.assertIn("dead letters 0 batches", out)
        # --json status: the three answers as they are
        rc, out, err = self.ctl("--json", "status", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual(j["health"], self.api(d, "GET", "/health").json())
        self.assertEqual(j["metrics"]["records_delivered"], 30)
        self.assertEqual(j["deadletter"], self.api(d, "GET", "/api/v1/deadletter").json())

        # analyzers: table and --json equal to the API's answer
        rc, out, err = self.ctl("analyzers", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[1].startswith("ID "), out)
        for h in ("STATE", "BREAKER", "WEIGHT", "TARGET", "ACTUAL", "LATENCY", "QUEUED",
                  "DELIVERED", "LAST ERROR"):
            self.assertIn(h, lines[1])
        rows = {l.split()[0]: l.split() for l in lines[2:]}
        self.assertEqual(sorted(rows), ["a1", "a2"])
        self.assertEqual(rows["a1"][1:4], ["up", "closed", "2"])
        self.assertIn("66.7%", rows["a1"])
        self.assertIn("33.3%", rows["a2"])
        rc, out, err = self.ctl("--json", "analyzers", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), self.api(d, "GET", AN).json())

        # add, set-weight, remove (and the unknown id afterwards)
        r3 = self.recorder()
        rc, out, err = self.ctl("add", "a3", r3.url, "--weight", "0.5", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("a3 added", out)
        a3 = self.api(d, "GET", AN + "/a3").json()
        self.assertEqual((a3["url"], a3["weight"]), (r3.url, 0.5))
        rc, out, err = self.ctl("--json", "set-weight", "a3", "4", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["weight"], 4)
        rc, out, err = self.ctl("add", "a3", r3.url, url=self.url, token=tok)
        self.assertEqual(rc, 1, err)
        self.assert_one_error_line(err, "logdistctl: 409 conflict")
        rc, out, err = self.ctl("remove", "a3", url=self.url, token=tok)
        self.assertEqual((rc, out), (0, "removed a3\n"), err)
        for args in (["remove", "a3"], ["drain", "a3"], ["set-weight", "a3", "1"]):
            rc, out, err = self.ctl(*args, url=self.url, token=tok)
            self.assertEqual(rc, 1, err)
            self.assertEqual(err, "logdistctl: 404 not_found: no analyzer with this id\n")
            self.assertEqual(out, "")

        # metrics: a NAME VALUE table of the JSON, or the JSON as it is
        rc, out, err = self.ctl("metrics", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        vals = dict(l.split(None, 1) for l in out.splitlines()[1:])
        self.assertEqual(vals["records_accepted"].strip(), "30")
        rc, out, err = self.ctl("--json", "metrics", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["records_accepted"], 30)
        # --prometheus prints the Prometheus text; reload prints the API's answer
        rc, out, err = self.ctl("metrics", "--prometheus", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("logdist_records_accepted_total 30\n", out)
        rc, out, err = self.ctl("--json", "reload", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        body = json.loads(out)
        self.assertEqual((body["changed"], body["restart_required"]), ([], []))
        self.assertEqual(body["generation"], 1)
        rc, out, err = self.ctl("reload", url=self.url, token=self.read_tok)
        self.assertEqual(rc, 4, err)
        self.assert_one_error_line(err, "logdistctl: 403 ")

        # routes: one row per route and analyzer; --json is the API's answer
        self.assertEqual(self.api(d, "POST", "/api/v1/routes", {
            "name": "errors", "match": {"level": ["ERROR"]}, "analyzers": {"a2": 1},
            "copy": True}).status, 201)
        rc, out, err = self.ctl("routes", url=self.url, token=self.read_tok)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:4], ["ROUTE", "KIND", "MATCH", "ANALYZER"])
        self.assertEqual(lines[1].split()[:2], ["errors", "copy"])
        self.assertIn('{"level":["ERROR"]}', lines[1])
        self.assertIn("100.0%", lines[1])
        self.assertEqual(lines[2].split()[:3], ["default", "first", "-"])
        self.assertEqual(len(lines), 4, out)  # the heads; errors: a2; default: a1, a2
        rc, out, err = self.ctl("--json", "routes", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertEqual([r["name"] for r in json.loads(out)["routes"]], ["errors", "default"])

    def test_drain_and_undrain_in_routing(self):
        d = self.start(analyzers=None)
        self.wait_up(d, ["a1", "a2"])
        tok = self.admin_tok
        self.post(d, "before", 300)
        self.wait_delivered(d)
        n1, n2 = records_of(self.r1), records_of(self.r2)
        self.assertEqual(n1 + n2, 300)
        self.assertGreater(n2, 0)

        rc, out, err = self.ctl("drain", "a2", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("a2 drained", out)
        a2 = self.api(d, "GET", AN + "/a2").json()
        self.assertEqual((a2["state"], a2["drained"], a2["weight"]), ("drained", True, 1), a2)
        self.assertEqual(a2["target_share"], 0)
        rc, out, err = self.ctl("analyzers", url=self.url, token=self.read_tok)
        self.assertIn("drained", [l.split()[1] for l in out.splitlines()[2:]], out)
        for k in range(3):
            self.post(d, "drained%d" % k, 200)
        self.wait_delivered(d)
        self.assertEqual(records_of(self.r2), n2, "a drained analyzer got new records")
        self.assertEqual(records_of(self.r1), n1 + 600)

        rc, out, err = self.ctl("undrain", "a2", url=self.url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("a2 undrained", out)
        a2 = self.api(d, "GET", AN + "/a2").json()
        self.assertEqual((a2["state"], a2["drained"], a2["weight"]), ("up", False, 1), a2)
        self.post(d, "after", 300)
        self.wait_delivered(d)
        got = records_of(self.r2) - n2
        # SWRR 2:1 is exact within 2 records of the stream the balancer sees
        self.assertTrue(97 <= got <= 103, "a2 got %d of 300 after undrain" % got)


class DeadLetterTest(CtlCase):

    def test_list_purge_replay(self):
        bad = self.recorder(status=500)
        d = self.start_daemon(*(self.token_args() + ("--max-attempts", "2", "--retry-base-ms",
                                                      "10", "--batch-linger-ms", "5")),
                              analyzers=[("bad", bad.url, 1)])
        url = "http://127.0.0.1:%d" % d.port
        tok = self.admin_tok
        for k in range(3):
            self.post(d, "dl%d" % k, 5)
            wait_until(lambda: self.api(d, "GET", "/api/v1/deadletter").json()["records"]
                       == 5 * (k + 1), dl(20), "dead letters")
        api = self.api(d, "GET", "/api/v1/deadletter").json()
        ids = [s["batch_id"] for s in api["sample"]]
        self.assertEqual(len(ids), 3, api)

        rc, out, err = self.ctl("deadletters", url=url, token=self.read_tok)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("3 batches, 15 records"), out)
        for b in ids:
            self.assertIn(b, out)
        rc, out, err = self.ctl("--json", "deadletters", "list", url=url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), self.api(d, "GET", "/api/v1/deadletter").json())

        rc, out, err = self.ctl("deadletters", "purge", ids[0], "no-such-batch", url=url,
                                token=tok)
        self.assertEqual((rc, out), (0, "purged 5 records\n"), err)
        left = [s["batch_id"] for s in self.api(d, "GET", "/api/v1/deadletter").json()["sample"]]
        self.assertEqual(left, ids[1:])

        # replay onto a working analyzer, added and the failing one removed with logdistctl
        good = self.recorder()
        self.assertEqual(self.ctl("add", "good", good.url, url=url, token=tok)[0], 0)
        self.assertEqual(self.ctl("remove", "bad", url=url, token=tok)[0], 0)
        self.wait_up(d, ["good"])
        rc, out, err = self.ctl("deadletters", "replay", url=url, token=tok)
        self.assertEqual((rc, out), (0, "replayed 2 batches, 10 records\n"), err)
        wait_until(lambda: records_of(good) == 10, dl(20), "replayed records delivered")
        got = sorted(json.loads(r)["id"] for _, _, _, b in good.snapshot()
                     for r in split_batch_records(b))
        self.assertEqual(got, sorted("dl%d-%d" % (k, i) for k in (1, 2) for i in range(5)))

        rc, out, err = self.ctl("deadletters", "purge", "--all", url=url, token=tok)
        self.assertEqual((rc, out), (0, "purged 0 records\n"), err)


class TlsTest(CtlCase):
    pki_dir = None

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="logdist-ctl-pki-")
        atexit.register(shutil.rmtree, cls.pki_dir, True)
        pki = Pki(cls.pki_dir)
        cls.ca = pki.make_ca("ca")
        cls.other_ca = pki.make_ca("other")
        cls.server = pki.issue("server", cls.ca, "127.0.0.1", san="IP:127.0.0.1")
        cls.client = pki.issue("client", cls.ca, "ops", usage="clientAuth")

    def test_tls_and_mutual_tls(self):
        r1 = self.recorder()
        d = self.start_daemon(*(self.token_args() + (
            "--tls-cert", self.server[0], "--tls-key", self.server[1],
            "--tls-client-ca", self.ca[0])), analyzers=[("a1", r1.url, 1)])
        url = "https://127.0.0.1:%d" % d.port
        tok = self.admin_tok
        rc, out, err = self.ctl("--cacert", self.ca[0], "--cert", self.client[0], "--key",
                                self.client[1], "analyzers", url=url, token=tok)
        self.assertEqual(rc, 0, err)
        self.assertIn("a1", out)
        rc, out, err = self.ctl("--cacert", self.ca[0], "--cert", self.client[0], "--key",
                                self.client[1], "drain", "a1", url=url, token=tok)
        self.assertEqual(rc, 0, err)
        # no client certificate, an untrusted server, plain http to a TLS port: exit 3
        for args in (["--cacert", self.ca[0]],
                     ["--cacert", self.other_ca[0], "--cert", self.client[0], "--key",
                      self.client[1]],
                     ["--cert", self.client[0], "--key", self.client[1]]):
            rc, out, err = self.ctl(*(args + ["status"]), url=url, token=tok)
            self.assertEqual(rc, 3, "%s: %s" % (args, err))
            self.assert_one_error_line(err, "logdistctl: " + url)
            self.assertNotIn(tok, err)


if __name__ == "__main__":
    unittest.main()
