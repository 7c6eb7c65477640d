"""Reload without restart (SIGHUP and POST /api/v1/reload): analyzers added, removed and
re-weighted under load with 0 records lost and 0 sent twice; a bad config changes nothing;
tokens, limits and the log level change live; other options are reported as needing a
restart and keep their running value."""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LogdistTestCase, dl, get_json, hash_token, http_request,  # noqa: E402
                     read_lines, wait_until)

ADMIN_TOK = "r3load-admin-0123456789abcdef0123"
NEW_TOK = "r3load-newer-0123456789abcdef0123"


class ReloadTest(LogdistTestCase):

    def write_config(self, path, cfg):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=2))
        os.replace(tmp, path)  # a reload never sees half a file

    def reload(self, d, headers=None):
        r = d.req("POST", "/api/v1/reload", b"", headers)
        return r.status, r.json()

    def weights(self, d):
        return {aid: a["weight"] for aid, a in d.analyzers().items()}

    def test_reload_under_load(self):
        a1, a2, a3 = (self.start_analyzer(n) for n in ("a1", "a2", "a3"))
        path = self.path("logdistd.json")
        cfg = {"batch_linger_ms": "5ms", "max_records_per_packet": 1000,
               "analyzers": [{"id": "a1", "url": a1.url, "weight": 1},
                             {"id": "a2", "url": a2.url, "weight": 1}]}
        self.write_config(path, cfg)
        d = self.start_daemon("--config", path)
        ids = self.path("accepted.ids")
        g = self.start_gen(d, rate=20000, duration=8, ids_out=ids, connections=4)
        time.sleep(1.5)

        # SIGHUP: a1 re-weighted to 3, a3 added
        cfg["analyzers"] = [{"id": "a1", "url": a1.url, "weight": 3},
                            {"id": "a2", "url": a2.url, "weight": 1},
                            {"id": "a3", "url": a3.url, "weight": 1}]
        self.write_config(path, cfg)
        d.proc.signal(signal.SIGHUP)
        wait_until(lambda: self.weights(d) == {"a1": 3, "a2": 1, "a3": 1}, dl(10),
                   "SIGHUP applied the new analyzers")
        time.sleep(1.5)

        # the API: a2 removed (its queued records move to the others)
        cfg["analyzers"] = cfg["analyzers"][0:1] + cfg["analyzers"][2:]
        self.write_config(path, cfg)
        st, body = self.reload(d)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["analyzers"], {"added": [], "removed": ["a2"], "updated": []})
        self.assertEqual(body["changed"], ["analyzer"])
        self.assertEqual(body["restart_required"], [])
        self.assertEqual(self.weights(d), {"a1": 3, "a3": 1})
        time.sleep(1)

        # a config that does not parse, then one that does not validate: nothing changes
        self.write_config(path, '{\n  "analyzers": [\n    {"id": "a1", "url": "%s",}\n  ]\n}'
                          % a1.url)
        st, body = self.reload(d)
        self.assertEqual(st, 400, body)
        self.assertEqual(body["error"], "invalid_config")
        self.assertTrue(body["message"].startswith(path + ":3:"), body)
        self.write_config(path, {"analyzers": [{"id": "a1", "url": a1.url, "weight": -2}]})
        st, body = self.reload(d)
        self.assertEqual(st, 400, body)
        self.assertIn("analyzers[0]", body["message"])
        d.proc.signal(signal.SIGHUP)  # the same through the signal: logged, nothing changes
        wait_until(lambda: d.proc.stderr_text().count("reload refused") >= 3, dl(10),
                   "three refusals logged")
        self.assertEqual(self.weights(d), {"a1": 3, "a3": 1})

        summary = self.finish_gen(g, dl(60))
        print("gen: %s" % summary, file=sys.stderr)
        m = d.wait_all_delivered(dl(60), expect_accepted=summary["records_accepted"])
        accepted = read_lines(ids)
        self.assertEqual(len(accepted), summary["records_accepted"])
        got = a1.ids() + a2.ids() + a3.ids()
        self.assertEqual(len(got), len(set(got)), "a record was delivered twice")
        self.assertEqual(set(got), set(accepted), "a record was lost")
        self.assertGreater(len(a3.ids()), 0)
        self.assertEqual(m["records_delivered"], len(accepted))
        self.assertEqual(m.get("records_deadlettered", 0), 0)

    def test_reload_tokens_limits_restart(self):
        a1 = self.start_analyzer("a1")
        path = self.path("logdistd.json")
        cfg = {"tokens": ["role=admin+ingest,hash=" + hash_token(ADMIN_TOK)],
               "max_records_per_packet": 10, "log_level": "info",
               "analyzers": [{"id": "a1", "url": a1.url}]}
        self.write_config(path, cfg)
        d = self.start_daemon("--config", path)
        old = {"Authorization": "Bearer " + ADMIN_TOK}
        new = {"Authorization": "Bearer " + NEW_TOK}
        six = "\n".join(json.dumps({"message": "m%d" % i}) for i in range(6)).encode()
        self.assertEqual(d.post_logs(six, "application/x-ndjson", headers=old).status, 202)
        self.assertEqual(d.req("GET", "/api/v1/analyzers", headers=new).status, 401)
        self.assertEqual(self.reload(d)[0], 401)  # the reload needs a token itself

        listen_before = d.port
        cfg.update({"tokens": ["role=admin+ingest,hash=" + hash_token(NEW_TOK)],
                    "max_records_per_packet": 5, "log_level": "debug",
                    "listen": "127.0.0.1:1", "max_header_bytes": "32KiB"})
        self.write_config(path, cfg)
        st, body = self.reload(d, old)
        self.assertEqual(st, 200, body)
        self.assertEqual(sorted(body["changed"]),
                         ["log-level", "max-records-per-packet", "token"])
        # --listen is also a flag, which keeps overriding the file
        self.assertEqual(body["restart_required"], ["max-header-bytes"])
        self.assertNotIn(NEW_TOK, json.dumps(body))
        # the new token set is live, the old one is gone
        self.assertEqual(d.req("GET", "/api/v1/analyzers", headers=old).status, 401)
        self.assertEqual(d.req("GET", "/api/v1/analyzers", headers=new).status, 200)
        # the new limit holds from the next request
        r = d.post_logs(six, "application/x-ndjson", headers=new)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(d.post_logs(six[:six.rindex(b"\n")], "application/x-ndjson",
                                     headers=new).status, 202)
        # the restart-only options kept their running values
        self.assertEqual(d.port, listen_before)
        # a second reload of the same file changes nothing, and still says what needs a restart
        st, body = self.reload(d, new)
        self.assertEqual((st, body["changed"], body["restart_required"]), (200, [], ["max-header-bytes"]))
        self.assertEqual(body["generation"], 2)
        err = d.proc.stderr_text()
        for tok in (ADMIN_TOK, NEW_TOK):
            self.assertNotIn(tok, err)

    def test_reload_keeps_api_analyzers(self):
        """Analyzers registered through the API (restored from the store after a restart)
        are not the config's: a reload leaves them alone, and a drained one stays drained."""
        a1, a2 = self.start_analyzer("a1"), self.start_analyzer("a2")
        path, data = self.path("logdistd.json"), self.data_dir()
        self.write_config(path, {"analyzers": [{"id": "a1", "url": a1.url, "weight": 1}]})
        d = self.start_daemon("--config", path, "--data-dir", data)
        r = d.req("POST", "/api/v1/analyzers", json.dumps({"id": "a2", "url": a2.url}).encode())
        self.assertEqual(r.status, 201, r)
        d.proc.stop()
        d = self.start_daemon("--config", path, "--data-dir", data, name="logdistd-2")
        self.assertEqual(set(d.analyzers()), {"a1", "a2"})  # a2 restored from the store
        r = d.req("PUT", "/api/v1/analyzers/a1", b'{"drained": true}')
        self.assertEqual(r.status, 200, r)
        st, body = self.reload(d)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["analyzers"], {"added": [], "removed": [], "updated": []})
        an = d.analyzers()
        self.assertEqual(set(an), {"a1", "a2"})
        self.assertTrue(an["a1"]["drained"])
        # the config now re-weights a1: updated in place, still drained
        self.write_config(path, {"analyzers": [{"id": "a1", "url": a1.url, "weight": 4}]})
        st, body = self.reload(d)
        self.assertEqual(body["analyzers"]["updated"], ["a1"])
        an = d.analyzers()
        self.assertEqual((an["a1"]["weight"], an["a1"]["drained"]), (4, True))
        self.assertEqual(set(an), {"a1", "a2"})

    def test_concurrent_reloads(self):
        """POST /api/v1/reload on several ingest loops at once with SIGHUPs in between:
        one lock order (the reload's, then the admin mutex), so no deadlock; every reload
        answers 200 and the daemon keeps serving."""
        a1 = self.start_analyzer("a1")
        path = self.path("logdistd.json")
        self.write_config(path, {"analyzers": [{"id": "a1", "url": a1.url, "weight": 1}]})
        d = self.start_daemon("--config", path, "--ingest-threads", "4")
        stop = threading.Event()
        codes, lock = [], threading.Lock()

        def poster():
            while not stop.is_set():
                r = http_request(d.port, "POST", "/api/v1/reload", b"", timeout=dl(10))
                with lock:
                    codes.append(r.status)
        threads = [threading.Thread(target=poster) for _ in range(6)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 3
        w = 1
        try:
            while time.monotonic() < deadline:
                w = 3 - w
                self.write_config(path, {"analyzers": [{"id": "a1", "url": a1.url, "weight": w}]})
                d.proc.signal(signal.SIGHUP)
                time.sleep(0.01)
        finally:
            stop.set()
            for t in threads:
                t.join(dl(20))
        self.assertFalse(any(t.is_alive() for t in threads), "a reload never answered")
        self.assertGreater(len(codes), 20)
        self.assertEqual(set(codes), {200}, codes[:20])
        self.assertEqual(d.req("GET", "/health", timeout=dl(5)).status, 200)
        st, body = self.reload(d)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.weights(d), {"a1": w})

    def test_reload_without_config_file(self):
        a1 = self.start_analyzer("a1")
        d = self.start_daemon(analyzers=[("a1", a1.url, 2)])
        st, body = self.reload(d)
        self.assertEqual(st, 200, body)
        self.assertEqual((body["file"], body["changed"], body["restart_required"]),
                         (None, [], []))
        self.assertEqual(self.weights(d), {"a1": 2})
        r = d.req("GET", "/api/v1/reload")
        self.assertEqual(r.status, 405)


if __name__ == "__main__":
    unittest.main(verbosity=2)
