"""Configuration: JSON file + flags overriding it, bad files and flags, --help."""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Daemon, LogdistTestCase, dl  # noqa: E402

LOGDISTD = os.path.join(BIN, "logdistd")


class ConfigTest(LogdistTestCase):

    def write(self, name, content):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return p

    def run_bad(self, argv, *expect_in, rc=2, prefix="logdistd: "):
        # --listen first (a later one overrides it): never bind the default port 8080
        p = self.spawn("logdistd-bad", [LOGDISTD, "--listen", "127.0.0.1:0", "--data-dir",
                                        self.data_dir()] + argv)
        try:
            code = p.wait(dl(10))
        except subprocess.TimeoutExpired:
            self.fail("logdistd %s did not exit" % argv)
        err = p.stderr_text()
        self.assertEqual(code, rc, "argv %s: exit %s, stderr %r" % (argv, code, err))
        self.assertNotIn("listening", p.stdout_text())
        self.assertTrue(err.startswith(prefix), err)
        for s in expect_in:
            self.assertIn(s, err, "argv %s" % argv)
        return err

    def test_file_with_flag_override(self):
        c1 = self.start_analyzer("c1")
        c2 = self.start_analyzer("c2")
        cfg = self.write("logdistd.json", {
            "listen": "127.0.0.1:0",
            "log_level": "warn",
            "strategy": "random",
            "max_records_per_packet": 10,
            "batch_max_records": 50,
            "batch_linger_ms": 1000,
            "health_interval_ms": 200,
            "max_body_bytes": "1MiB",
            "analyzers": [
                {"id": "c1", "url": c1.url, "weight": 3},
                {"id": "c2", "url": c2.url, "weight": 1,
                 "health_url": "http://127.0.0.1:%d/health" % c2.port},
            ],
        })
        p = self.spawn("logdistd", [LOGDISTD, "--data-dir", self.data_dir(),
                                    "--config", cfg, "--max-records-per-packet=20",
                                    "--batch-linger-ms", "5",
                                    "--analyzer", "id=c2,url=%s,weight=2" % c2.url])
        d = Daemon(p, int(p.first_line(dl(10))["listening"].rsplit(":", 1)[1]))
        lst = d.req("GET", "/api/v1/analyzers").json()
        self.assertEqual(lst["strategy"], "random")
        by = {a["id"]: a for a in lst["analyzers"]}
        self.assertEqual(sorted(by), ["c1", "c2"])
        self.assertEqual(by["c1"]["weight"], 3)
        self.assertEqual(by["c2"]["weight"], 2, "the --analyzer flag replaces the file's c2")
        self.assertEqual(by["c2"]["health_url"], "http://127.0.0.1:%d/health" % c2.port)
        self.assertAlmostEqual(by["c1"]["target_share"], 0.6)
        # the flag (20) overrides the file (10)
        recs = lambda n, k: ",".join('{"id":"cf-%d-%d"}' % (k, i) for i in range(n))  # noqa
        r = d.post_logs('{"messages":[%s]}' % recs(15, 0))
        self.assertEqual(r.status, 202, r)
        r = d.post_logs('{"messages":[%s]}' % recs(21, 1))
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["error"], "too_many_records")
        # batch_max_records 50 from the file: 10 x 20 records -> more than 4 batches
        for k in range(2, 12):
            self.assertEqual(d.post_logs('{"messages":[%s]}' % recs(20, k)).status, 202)
        m = d.wait_all_delivered(dl(20), expect_accepted=215)
        self.assertGreaterEqual(m["batches_sent"], 5, m)
        self.assertEqual(c1.records() + c2.records(), 215)
        # log_level warn from the file: no INFO lines
        self.assertNotIn(" INFO ", p.stderr_text())

    def check_config(self, argv):
        p = self.spawn("logdistd-check", [LOGDISTD] + argv)
        code = p.wait(dl(10))
        return code, p.stdout_text(), p.stderr_text()

    def test_check_config(self):
        """--check-config validates without starting anything: 0 or 1 with FILE:LINE:COLUMN."""
        good = self.write("good.json", {
            "listen": "127.0.0.1:0", "batch_linger_ms": "20ms", "idle_timeout_s": "1m",
            "critical_levels": ["FATAL", "ERROR"], "insecure": False,
            "analyzers": [{"id": "a1", "url": "http://127.0.0.1:1/", "weight": 2}]})
        code, out, err = self.check_config(["--check-config", good])
        self.assertEqual((code, err), (0, ""))
        self.assertIn("configuration ok: 1 analyzers", out)
        bad = self.write("bad.json", '{\n  "listen": "127.0.0.1:0",\n  "max_depth": 5000\n}\n')
        code, out, err = self.check_config(["--check-config", bad])
        self.assertEqual(code, 1)
        self.assertEqual(err.strip(), "logdistd: %s:3:3: max_depth: invalid value '5000' for "
                         "max-depth (2..1000) (JSON nesting depth of a record)" % bad)
        # checks across options, and the TLS files themselves
        code, _, err = self.check_config(["--check-config", good, "--listen", "0.0.0.0:0"])
        self.assertEqual(code, 1)
        self.assertIn("without authentication", err)
        code, _, err = self.check_config(["--check-config", good, "--tls-cert", self.path("no.pem"),
                                          "--tls-key", self.path("no.pem")])
        self.assertEqual(code, 1)
        self.assertIn("TLS", err)
        code, _, err = self.check_config(["--check-config", self.path("missing.json")])
        self.assertEqual(code, 1)
        self.assertIn("missing.json: No such file", err)
        # nothing was started: no data dir, no listener line
        self.assertFalse(os.path.exists(self.path("data")))

    def test_bad_config_files(self):
        missing = self.path("does-not-exist.json")
        self.run_bad(["--config", missing], missing)
        p = self.write("syntax.json", '{"strategy": "swrr",}')
        self.run_bad(["--config", p], p + ":1:")
        self.run_bad(["--config", self.write("arr.json", "[1]")], "top level must be an object")
        self.run_bad(["--config", self.write("unk.json", {"bogus": 1})],
                     "unk.json:1:2: bogus: unknown option")
        self.run_bad(["--config", self.write("val.json", {"max_depth": 1})],
                     "invalid value '1' for max-depth")
        self.run_bad(["--config", self.write("neg.json", {"max_depth": -5})],
                     "must be a string or a non-negative integer")
        self.run_bad(["--config", self.write("float.json", {"max_depth": 2.5})],
                     "must be a string or a non-negative integer")
        self.run_bad(["--config", self.write("strat.json", {"strategy": "roundrobin"})],
                     "invalid value 'roundrobin' for strategy")
        self.run_bad(["--config", self.write("size.json", {"max_body_bytes": "12XB"})],
                     "max-body-bytes")
        self.run_bad(["--config", self.write("dup.json", '{"max_depth": 8, "max_depth": 9}')],
                     "dup.json")
        self.run_bad(["--config", self.write("an1.json", {"analyzers": {"id": "x"}})],
                     "an1.json:1:2: analyzers: must be an array")
        self.run_bad(["--config", self.write("an2.json", {"analyzers": [{"url": "http://h/"}]})],
                     "analyzers[0]")
        self.run_bad(["--config", self.write("an3.json", {"analyzers": [
            {"id": "ok", "url": "http://127.0.0.1:1/"},
            {"id": "x", "url": "ftp://127.0.0.1/"}]})], "analyzers[1]", "not a valid http(s) URL")
        self.run_bad(["--config", self.write("an4.json", {"analyzers": [
            {"id": "x", "url": "http://127.0.0.1:1/", "weight": -1}]})], "weight")
        self.run_bad(["--config", self.write("an5.json", {"analyzers": [
            {"id": "x", "url": "http://127.0.0.1:1/", "weight": "1"}]})], "analyzers[0]")
        self.run_bad(["--config"], "--config needs a file")

    def test_bad_flags(self):
        self.run_bad(["--bogus", "1"], "unknown option --bogus")
        self.run_bad(["--max_depth", "8"], "unknown option --max_depth")
        self.run_bad(["--max-depth", "1"], "invalid value '1' for max-depth")
        self.run_bad(["--max-depth"], "needs a value")
        self.run_bad(["--max-queue-bytes", "lots"], "max-queue-bytes")
        self.run_bad(["--listen", "127.0.0.1:99999"], "listen")
        self.run_bad(["--strategy", "fastest"], "strategy")
        self.run_bad(["positional"], "unexpected argument 'positional'")
        self.run_bad(["--analyzer", "id=x"], "--analyzer", "not a valid http(s) URL")
        self.run_bad(["--analyzer", "id=x,url=http://u:pw@127.0.0.1:1/"], "credentials")
        self.run_bad(["--analyzer", "id=x,url=http://127.0.0.1:1/,weight=-1"], "weight")
        self.run_bad(["--analyzer", "color=red,id=x,url=http://127.0.0.1:1/"], "expected id=")
        self.run_bad(["--analyzer", "id=bad id,url=http://127.0.0.1:1/"], "analyzer id")

    def test_listen_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            port = s.getsockname()[1]
            err = self.run_bad(["--listen", "127.0.0.1:%d" % port], rc=1, prefix="")
            self.assertIn("cannot listen", err)
        finally:
            s.close()

    def test_help_and_version(self):
        p = self.spawn("logdistd-help", [LOGDISTD, "--help"])
        self.assertEqual(p.wait(dl(10)), 0)
        out = p.stdout_text()
        self.assertIn("Usage: logdistd", out)
        for opt in ("--config", "--analyzer", "--listen", "--strategy", "--max-body-bytes",
                    "--max-decoded-bytes", "--max-records-per-packet", "--max-depth",
                    "--max-queue-bytes", "--batch-max-records", "--max-attempts",
                    "--retry-base-ms", "--health-interval-ms", "--passive-fall",
                    "--drain-timeout-ms", "--deadletter-max-bytes"):
            self.assertIn(opt, out)
        p = self.spawn("logdistd-help", [LOGDISTD, "--max-depth", "5", "-h"])
        self.assertEqual(p.wait(dl(10)), 0)
        self.assertIn("Usage: logdistd", p.stdout_text())
        p = self.spawn("logdistd-version", [LOGDISTD, "--version"])
        self.assertEqual(p.wait(dl(10)), 0)
        self.assertRegex(p.stdout_text(), r"^logdistd \d+\.\d+\.\d+")
        for tool in ("logdist-analyzer", "logdist-gen"):
            p = self.spawn(tool + "-help", [os.path.join(BIN, tool), "--help"])
            self.assertEqual(p.wait(dl(10)), 0)
            self.assertIn("usage: " + tool, p.stdout_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
