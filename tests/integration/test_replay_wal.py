"""logdistd --replay-wal DIR --to URL: the takeover of an abandoned node's WAL. A node
holding unacknowledged critical records (its analyzer down) is killed with SIGKILL; its
WAL is replayed through another node; every record reaches the analyzer; a second run
sends nothing; a run against a dead target acknowledges nothing."""
import json
import os
import signal
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, LogdistTestCase, dl, free_port, hash_token,  # noqa: E402
                     read_lines, wait_until)

TOKEN = "replay-test-token-0123456789abcdef"


class ReplayWalTest(LogdistTestCase):

    def replay(self, data_dir, to, *extra, env_token=None, token_file=None, expect_rc=0):
        argv = [os.path.join(BIN, "logdistd"), "--replay-wal", data_dir, "--to", to] + list(extra)
        env = dict(os.environ)
        env.pop("LOGDIST_TOKEN", None)
        if env_token:
            env["LOGDIST_TOKEN"] = env_token
        if token_file:
            argv += ["--token-file", token_file]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=dl(60))
        self.assertEqual(r.returncode, expect_rc, "replay exit code; stderr: %s"
                         % r.stderr.decode()[-2000:])
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def test_takeover_after_kill9(self):
        n = 3000
        dead_analyzer = "http://127.0.0.1:%d/ingest" % free_port()
        dir_a = self.data_dir()
        a = self.start_daemon("--data-dir", dir_a, analyzers=[("r1", dead_analyzer, 1)],
                              name="nodeA")
        ids_out = self.path("gen.ids")
        s = self.run_gen(a, count=n, packet_size=100, ids_out=ids_out,
                         extra=["--critical-ratio", "1"])
        self.assertEqual(s["records_accepted"], n, s)
        wait_until(lambda: a.metrics()["wal_live_records"] == n, dl(20), "A's WAL holds all")
        a.proc.signal(signal.SIGKILL)
        a.proc.wait(dl(10))

        rec_ids = self.path("rec.ids")
        rec = self.start_recorder("r1", rec_ids)
        b = self.start_daemon("--token", "role=ingest,hash=" + hash_token(TOKEN),
                              analyzers=[("r1", rec.url, 1)], name="nodeB")

        # a dead target: nothing is acknowledged, exit 1
        dead = "http://127.0.0.1:%d" % free_port()
        r0 = self.replay(dir_a, dead, "--batch-records", "700", env_token=TOKEN, expect_rc=1)
        self.assertEqual((r0["records_sent"], r0["records_failed"]), (0, n), r0)
        # no token: B answers 401, nothing acknowledged
        r1 = self.replay(dir_a, "http://127.0.0.1:%d/" % b.port, expect_rc=1)
        self.assertEqual((r1["records_sent"], r1["records_failed"]), (0, n), r1)

        tok = self.path("token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        r2 = self.replay(dir_a, b.logs_url, "--batch-records", "700", token_file=tok)
        print("replay summaries:", r0, r1, r2, file=sys.stderr)
        self.assertEqual(r2["records_sent"], n, r2)
        self.assertEqual((r2["records_failed"], r2["records_rejected"]), (0, 0), r2)
        self.assertEqual(r2["batches"], 5, r2)  # 3000 records in batches of <= 700

        want = set(read_lines(ids_out))
        self.assertEqual(len(want), n)
        wait_until(lambda: want <= set(read_lines(rec_ids)), dl(30),
                   "every replayed record at the analyzer")

        r3 = self.replay(dir_a, b.logs_url, env_token=TOKEN)
        self.assertEqual((r3["records_sent"], r3["records_failed"], r3["batches"]), (0, 0, 0), r3)

    def test_usage_errors(self):
        d = self.data_dir()
        os.makedirs(d)
        for argv in (["--replay-wal", d], ["--replay-wal", d, "--to", "ftp://x"],
                     ["--replay-wal", self.path("missing"), "--to", "http://127.0.0.1:1"],
                     ["--replay-wal", d, "--to", "http://127.0.0.1:1", "--batch-records", "0"]):
            r = subprocess.run([os.path.join(BIN, "logdistd")] + argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=dl(20))
            self.assertEqual(r.returncode, 2, (argv, r.stderr))
            self.assertIn(b"replay-wal", r.stderr)


if __name__ == "__main__":
    unittest.main()
