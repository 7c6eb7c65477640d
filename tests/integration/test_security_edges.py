"""Security edges of issue 9 (finding 6), each against the real logdistd:

- a token bound to an agent refuses "agent_id": null, a number, any non-string
  or a repeated key (403 naming agent_id), in the JSON packet form; bare arrays
  and NDJSON are attributed to the bound agent; rate limits are keyed on the
  bound agent, never on a body-supplied id or the shared client address;
- X-Logdist-Durability: critical under --durability none is refused with
  409 durability_unavailable (it would promise an fsync that never happens);
- analyzer URLs: link-local and cloud metadata hosts are denied by default
  (admin API, flags, analyzers.db), --analyzer-allow is parsed strictly
  ("10.0.0.0/" stops the start), and a NULL column in analyzers.db is named
  in a warning instead of crashing the start;
- --hash-token refuses weak tokens; --generate-token prints a usable one;
- a mutual-TLS listener resumes TLS sessions (session id context set, and
  close_notify sent before logdistd closes a connection);
- a TLS listener whose SSL_new fails closes the connection, never serves it
  as plain HTTP (with the tests/fault LD_PRELOAD shim).

Run: LOGDIST_BIN=build/bin python3 tests/integration/test_security_edges.py
Every process is started here, on 127.0.0.1 only, and stopped by its pid."""
import atexit
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import ssl
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
harness.BIN = os.path.abspath(harness.BIN)
from harness import BIN, Daemon, LogdistTestCase, dl  # noqa: E402
from security_util import Pki, client_ctx, https_request  # noqa: E402

LOGS = "/api/v1/logs"
AN = "/api/v1/analyzers"
METRICS = "/api/v1/metrics"
HASH_RE = re.compile(r"^sha256\$([0-9a-f]{32})\$([0-9a-f]{64})$")

PKI = {}


def setUpModule():
    d = tempfile.mkdtemp(prefix="logdist-secedge-pki-")
    atexit.register(shutil.rmtree, d, True)
    pki = Pki(d)
    ca = pki.make_ca("ca")
    PKI["ca"] = ca
    PKI["server"] = pki.issue("server", ca, "127.0.0.1", san="IP:127.0.0.1")
    PKI["client"] = pki.issue("client", ca, "web-1", usage="clientAuth")


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def records(tag, n):
    return [{"id": "%s-%d" % (tag, i), "level": "INFO", "message": "m%d" % i} for i in range(n)]


class EdgeCase(LogdistTestCase):
    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "1000"}

    def err(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        j = r.json()
        if code:
            self.assertEqual(j.get("error"), code, j)
        return j

    def run_cmd(self, argv):
        p = self.spawn(os.path.basename(argv[0]), argv)
        rc = p.wait(dl(10))
        return rc, p.stdout_text(), p.stderr_text()

    def hash_token(self, tok):
        rc, out, err = self.run_cmd([os.path.join(BIN, "logdistd"), "--hash-token", tok])
        self.assertEqual(rc, 0, err)
        return out.strip()

    def start_or_exit(self, argv):
        """-> (exit code, stderr) when logdistd refuses to start, (None, stderr) if it
        printed its listening line (then it is stopped)."""
        p = self.spawn("logdistd-check", argv)

        def settled():
            if not p.running():
                return "exited"
            return "listening" if "\n" in p.stdout_text() else None
        how = harness.wait_until(settled, dl(10), "logdistd to exit or listen", interval=0.02)
        if how == "listening":
            p.stop(dl(5))
            return None, p.stderr_text()
        return p.wait(dl(5)), p.stderr_text()


# ---------------------------------------------------------------------------- agent binding

class AgentBindingTest(EdgeCase):

    def start(self, *extra):
        self.toks = {k: secrets.token_urlsafe(24) for k in ("web1", "web2", "free", "read")}
        sink = self.recording_analyzer()
        return self.start_daemon(
            "--token", "role=ingest,hash=%s,agent=web-1" % self.hash_token(self.toks["web1"]),
            "--token", "role=ingest,hash=%s,agent=web-2" % self.hash_token(self.toks["web2"]),
            "--token", "role=ingest,hash=" + self.hash_token(self.toks["free"]),
            "--token", "role=read,hash=" + self.hash_token(self.toks["read"]),
            *extra, analyzers=[("s1", sink.url, 1)])

    def post(self, d, who, body, ctype="application/json"):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return d.post_logs(body, ctype=ctype, headers=bearer(self.toks[who]))

    def metrics(self, d):
        r = d.req("GET", METRICS, headers=bearer(self.toks["read"]))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_bound_token_refuses_non_string_and_repeated_agent_id(self):
        d = self.start()
        msgs = json.dumps(records("b", 2))
        refused = [
            ('{"agent_id":null,"messages":%s}' % msgs, "null"),
            ('{"agent_id":7,"messages":%s}' % msgs, "number"),
            ('{"messages":%s,"agent_id":false}' % msgs, "boolean"),
            ('{"agent_id":{"id":"web-1"},"messages":%s}' % msgs, "object"),
            ('{"agent_id":["web-1"],"messages":%s}' % msgs, "array"),
            ('{"agent_id":"web-1","messages":%s,"agent_id":"web-1"}' % msgs, "more than once"),
            ('{"agent_id":"web-2","messages":%s,"agent_id":"web-1"}' % msgs, "more than once"),
            ('{"agent_id":null,"agent\\u005fid":"web-1","messages":%s}' % msgs, "more than once"),
            ('{"\\u0061gent_id":null,"messages":%s}' % msgs, "null"),
        ]
        base = self.metrics(d)
        for body, why in refused:
            r = self.post(d, "web1", body)
            j = self.err(r, 403, "forbidden")
            self.assertIn("agent_id", j.get("message", ""), (body, j))
            self.assertIn(why, j["message"], (body, j))
            self.assertIn("offset", j, (body, j))
            self.assertLess(j["offset"], len(body.encode()))
        # a plain wrong agent is refused as before
        self.err(self.post(d, "web1", {"agent_id": "web-2", "messages": records("w", 1)}), 403,
                 "forbidden")
        m = self.metrics(d)
        self.assertEqual(m["auth_failures"]["wrong_agent"] - base["auth_failures"]["wrong_agent"],
                         len(refused) + 1, m["auth_failures"])
        self.assertEqual(m["records_accepted"], base["records_accepted"],
                         "a refused packet must change nothing")
        # accepted: its own agent once, no agent_id, bare arrays and NDJSON; nested
        # "agent_id" keys in records or other objects are record content
        ok = [
            ({"agent_id": "web-1", "messages": records("o1", 2)}, "application/json"),
            ({"messages": records("o2", 2), "meta": {"agent_id": None}}, "application/json"),
            (records("o3", 2) + [{"id": "o3-x", "agent_id": 5}], "application/json"),
            ("\n".join(json.dumps(r) for r in records("o4", 2)) + "\n", "application/x-ndjson"),
        ]
        for body, ctype in ok:
            r = self.post(d, "web1", body, ctype)
            self.assertEqual(r.status, 202, (body, r))
        # an unbound token keeps the lenient reading (the scanner's: last key wins)
        r = self.post(d, "free", '{"agent_id":null,"agent_id":7,"messages":%s}' % msgs)
        self.assertEqual(r.status, 202, r)

    def test_rate_limits_keyed_on_the_bound_agent(self):
        # 1 byte/s with a 60 s bucket: a packet empties its agent's bucket for a minute
        d = self.start("--agent-bytes-per-s", "1", "--rate-burst-s", "60")
        # every request comes from 127.0.0.1: keyed on the address, web-2 (and the
        # unbound client claiming web-1) would share web-1's empty bucket
        self.assertEqual(self.post(d, "web1", records("r1", 3)).status, 202)
        r = self.post(d, "web1", records("r1b", 3))
        self.err(r, 429, "rate_limited")
        self.assertIn("agent", r.json()["message"])
        r = self.post(d, "web1", {"messages": records("r1c", 1)})  # packet form, no agent_id
        self.err(r, 429, "rate_limited")
        nd = "\n".join(json.dumps(x) for x in records("r2", 3)) + "\n"
        self.assertEqual(self.post(d, "web2", nd, "application/x-ndjson").status, 202,
                         "web-2 spent web-1's bucket: limits keyed on the client address")
        self.err(self.post(d, "web2", {"agent_id": "web-2", "messages": records("r2b", 1)}),
                 429, "rate_limited")
        # a body claiming web-1 through an unbound token has its own bucket, and cannot
        # spend (or be refused by) the bound agent's
        r = self.post(d, "free", {"agent_id": "web-1", "messages": records("r3", 3)})
        self.assertEqual(r.status, 202, "an unbound body claiming web-1 hit the bound "
                         "token's bucket: %r" % (r,))
        r = self.post(d, "free", {"agent_id": "web-1", "messages": records("r3b", 1)})
        self.err(r, 429, "rate_limited")
        # no agent_id and no binding: the client address
        self.assertEqual(self.post(d, "free", records("r4", 2)).status, 202)
        self.err(self.post(d, "free", records("r4b", 2)), 429, "rate_limited")
        m = self.metrics(d)
        self.assertEqual(m["rate_limits"]["agent"], 5, m["rate_limits"])
        self.assertEqual(m["rate_limits"]["agents_tracked"], 4, m["rate_limits"])


# ---------------------------------------------------------------------------- durability header

class DurabilityHeaderTest(EdgeCase):

    def test_critical_header_refused_without_a_wal(self):
        sink = self.recording_analyzer()
        d = self.start_daemon("--durability", "none", analyzers=[("s1", sink.url, 1)])
        base = d.metrics()
        for v in ("critical", "CRITICAL"):
            r = d.post_logs({"messages": records("c", 2)},
                            headers={"X-Logdist-Durability": v})
            j = self.err(r, 409, "durability_unavailable")
            self.assertIn("X-Logdist-Durability", j["message"])
            self.assertIn("--durability none", j["message"])
            self.assertNotIn("retry-after", r.headers)
        m = d.metrics()
        self.assertEqual(m["records_accepted"], base["records_accepted"])
        self.assertEqual(m["packets_rejected_by_reason"]["durability_unavailable"], 2)
        # without the header: accepted, memory only (docs/DURABILITY.md: policy none);
        # a record's own "critical": true does not change the policy
        self.assertEqual(d.post_logs({"messages": records("n", 2)}).status, 202)
        self.assertEqual(d.post_logs({"messages": [{"id": "k", "critical": True}]}).status, 202)
        self.assertEqual(d.metrics()["records_durable"], 0)

    def test_critical_header_accepted_with_a_wal(self):
        sink = self.recording_analyzer()
        d = self.start_daemon("--durability", "critical", analyzers=[("s1", sink.url, 1)])
        r = d.post_logs({"messages": records("w", 3)}, headers={"X-Logdist-Durability": "critical"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(d.metrics()["records_durable"], 3)


# ---------------------------------------------------------------------------- analyzer hosts

class AnalyzerHostTest(EdgeCase):

    META = ("http://169.254.169.254/latest/meta-data/", "http://0xA9FEA9FE/",
            "http://169.254.169.254./x", "http://[fe80::1]:80/x", "http://[fd00:ec2::254]/x",
            "http://[::ffff:169.254.169.254]/x", "http://metadata.google.internal/x",
            "http://METADATA.google.internal./x", "http://100.100.100.200/x")

    def test_metadata_denied_by_default_admin_api(self):
        sink = self.recording_analyzer()
        d = self.start_daemon()
        for url in self.META:
            j = self.err(d.req("POST", AN, {"id": "m", "url": url}), 403, "forbidden_analyzer")
            self.assertIn("analyzer-allow", j["message"])
            self.err(d.req("POST", AN, {"id": "m", "url": sink.url, "health_url": url}), 403,
                     "forbidden_analyzer")
        self.assertEqual(d.req("POST", AN, {"id": "ok", "url": sink.url}).status, 201)
        for url in self.META[:3]:
            self.err(d.req("PUT", AN + "/ok", {"url": url}), 403, "forbidden_analyzer")
            self.err(d.req("PUT", AN + "/ok", {"health_url": url}), 403, "forbidden_analyzer")
        self.assertEqual(set(d.analyzers()), {"ok"})
        self.assertEqual(d.analyzer("ok")["url"], sink.url)

    def test_metadata_denied_for_flags_and_allow_list_syntax(self):
        for spec in ("id=m,url=http://169.254.169.254/x",
                     "id=m,url=http://127.0.0.1:1/x,health_url=http://metadata/x"):
            rc, err = self.start_or_exit(self.daemon_argv(analyzers=[spec]))
            self.assertIsNotNone(rc, "started with analyzer %s" % spec)
            self.assertNotEqual(rc, 0)
            self.assertIn("link-local or cloud metadata", err)
        # a wide allow list does not open it; a narrow entry does
        rc, _ = self.start_or_exit(self.daemon_argv(
            "--analyzer-allow", "0.0.0.0/0", analyzers=["id=m,url=http://169.254.169.254/x"]))
        self.assertIsNotNone(rc)
        rc, _ = self.start_or_exit(self.daemon_argv(
            "--analyzer-allow", "127.0.0.0/8,169.254.169.254",
            analyzers=["id=m,url=http://169.254.169.254:9/x"]))
        self.assertIsNone(rc, "an explicit entry must allow the metadata address")
        for bad in ("10.0.0.0/", "10.0.0.0/33", "10.0.0.1/8", "127.0.0.1/32,", "10.0.0/8"):
            rc, err = self.start_or_exit(self.daemon_argv("--analyzer-allow", bad))
            self.assertIsNotNone(rc, "--analyzer-allow %r accepted" % bad)
            self.assertEqual(rc, 2)
            self.assertIn("analyzer-allow entry", err)

    def write_store(self, data, rows):
        os.makedirs(data, exist_ok=True)
        db = sqlite3.connect(os.path.join(data, "analyzers.db"))
        db.executescript("CREATE TABLE analyzers (id, url, health_url, weight, updated_ms, "
                         "client_cert, client_key); PRAGMA user_version = 2;")
        db.executemany("INSERT INTO analyzers VALUES (?, ?, ?, ?, 0, ?, ?)", rows)
        db.commit()
        db.close()

    def test_analyzers_db_metadata_and_null_columns(self):
        sink = self.recording_analyzer()
        data = self.data_dir()
        self.write_store(data, [
            ("meta", "http://169.254.169.254/x", "http://169.254.169.254/health", 1, "", ""),
            ("nul", None, "http://127.0.0.1:1/health", 1, "", ""),
            ("nw", sink.url, sink.url, None, "", ""),
            ("good", sink.url, "http://127.0.0.1:%d/health" % sink.port, 1, "", ""),
        ])
        p = self.spawn("logdistd", self.daemon_argv("--data-dir", data))
        line = p.first_line(dl(10))
        d = Daemon(p, int(line["listening"].rsplit(":", 1)[1]))
        err = p.stderr_text()
        self.assertIn("stored analyzer meta not restored", err)
        self.assertIn("link-local or cloud metadata", err)
        self.assertIn("row 2: column url is NULL", err)
        self.assertIn("row 3: column weight is NULL", err)
        self.assertEqual(set(d.analyzers()), {"good"})
        self.assertEqual(d.post_logs({"messages": records("db", 2)}).status, 202)


# ---------------------------------------------------------------------------- tokens

class TokenCommandTest(EdgeCase):

    def test_hash_token_strength_and_generate(self):
        exe = os.path.join(BIN, "logdistd")
        for weak in ("x", "hunter2", "0123456789abcdef0123456789abcde",
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "has space in it 0123456789abcdef"):
            rc, out, err = self.run_cmd([exe, "--hash-token", weak])
            self.assertNotEqual(rc, 0, "weak token %r hashed: %s" % (weak, out))
            self.assertEqual(out, "")
            self.assertIn("--hash-token", err)
        for strong in (secrets.token_hex(16), secrets.token_urlsafe(17)):
            self.assertRegex(self.hash_token(strong), HASH_RE)
        rc, out, err = self.run_cmd([exe, "--generate-token"])
        self.assertEqual(rc, 0, err)
        tok, h = out.split("\n")[:2]
        self.assertRegex(tok, r"^[A-Za-z0-9_-]{43}$")
        salt, dig = HASH_RE.match(h).groups()
        self.assertEqual(hashlib.sha256(bytes.fromhex(salt) + tok.encode()).hexdigest(), dig)
        rc2, out2, _ = self.run_cmd([exe, "--generate-token"])
        self.assertNotEqual(out2.split("\n")[0], tok)
        # the generated pair works
        d = self.start_daemon("--token", "role=ingest+read,hash=" + h)
        self.assertEqual(d.req("GET", METRICS, headers=bearer(tok)).status, 200)
        self.assertEqual(d.req("GET", METRICS, headers=bearer(tok[:-1])).status, 401)


# ---------------------------------------------------------------------------- mTLS resumption

class MtlsResumptionTest(EdgeCase):

    def get_health(self, port, ctx, session=None, server_closes=True):
        """One GET /health on a new TLS connection; -> (status line, session, reused).
        server_closes: "Connection: close" (logdistd closes after the answer); else
        the client reads the answer and closes first (with a close_notify, as curl
        does: a client that just drops the socket spoils its own session)."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=dl(10))
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                      % (b"Connection: close\r\n" if server_closes else b""))
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
                head, _, body = out.partition(b"\r\n\r\n")
                n = re.search(rb"(?i)content-length: *(\d+)", head)
                if not server_closes and n and len(body) >= int(n.group(1)):
                    break
            line, sess, reused = out.split(b"\r\n", 1)[0], s.session, s.session_reused
            if not server_closes:
                s = s.unwrap()
            return line, sess, reused
        finally:
            s.close()

    def check_resumes(self, port, ctx, what):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            for server_closes in (True, False):
                how = "%s %s, %s closes" % (what, v.name, "server" if server_closes else "client")
                ctx.minimum_version = ctx.maximum_version = v
                line, sess, reused = self.get_health(port, ctx, None, server_closes)
                self.assertEqual(line, b"HTTP/1.1 200 OK")
                self.assertFalse(reused)
                self.assertIsNotNone(sess, "%s: no session to resume" % how)
                # let logdistd see the end of the first connection: resuming must not
                # depend on racing it
                time.sleep(0.3)
                try:
                    line, _, reused = self.get_health(port, ctx, sess)
                except (ssl.SSLError, ConnectionError) as e:
                    self.fail("%s: resuming the session failed the handshake: %r" % (how, e))
                self.assertEqual(line, b"HTTP/1.1 200 OK")
                self.assertTrue(reused, "%s: the session was not resumed" % how)

    def test_session_resumption_with_and_without_client_certificates(self):
        srv, ca, cl = PKI["server"], PKI["ca"][0], PKI["client"]
        d = self.start_daemon("--tls-cert", srv[0], "--tls-key", srv[1])
        self.check_resumes(d.port, client_ctx(ca), "TLS")
        m = self.start_daemon("--tls-cert", srv[0], "--tls-key", srv[1],
                              "--tls-client-ca", ca, name="logdistd-mtls")
        self.check_resumes(m.port, client_ctx(ca, cl[0], cl[1]), "mTLS")


# ---------------------------------------------------------------------------- TLS fails closed

def fault_lib():
    """The LD_PRELOAD shim of tests/fault (built next to the binaries' tests/)."""
    p = os.environ.get("LOGDIST_FAULT_LIB") or os.path.join(os.path.dirname(BIN), "tests",
                                                          "libldfault.so")
    return p if os.path.exists(p) else None


class TlsFailClosedTest(EdgeCase):
    """SSL_new failing for a connection of a TLS listener (out of memory; here the
    fault shim's ssl_new rule): the connection is closed without a byte, counted in
    tls_setup_failures, and logged - never served as plain HTTP."""

    def test_ssl_new_failure_closes_the_connection(self):
        lib = fault_lib()
        if not lib:
            self.skipTest("tests/fault shim not built (cmake --build <dir> --target ldfault)")
        ctl = self.path("faults")
        with open(ctl + ".tmp", "w") as f:
            f.write("ssl_new count=2\n")
        os.rename(ctl + ".tmp", ctl)
        srv, ca = PKI["server"], PKI["ca"][0]
        argv = self.daemon_argv("--tls-cert", srv[0], "--tls-key", srv[1])
        env = {"LD_PRELOAD": lib, "LDFAULT_CONTROL": ctl}
        if harness.SANITIZED:  # the shim comes before libasan: ASan must accept that order
            opts = os.environ.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
        p = self.spawn("logdistd", argv, env=env)
        port = int(p.first_line(dl(10))["listening"].rsplit(":", 1)[1])
        # 1. plain HTTP on the TLS port while SSL_new fails: no HTTP answer, closed
        raw = socket.create_connection(("127.0.0.1", port), timeout=dl(10))
        try:
            raw.sendall(b"GET /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            got, closed = b"", False
            try:
                while True:
                    chunk = raw.recv(4096)
                    if not chunk:
                        closed = True
                        break
                    got += chunk
            except ConnectionResetError:
                closed = True
            except socket.timeout:
                pass
        finally:
            raw.close()
        self.assertEqual(got, b"", "a TLS listener answered in plain text: %r" % got[:200])
        self.assertTrue(closed, "connection left open %.0fs after SSL_new failed" % dl(10))
        # 2. a TLS client while SSL_new fails: the handshake fails
        ctx = client_ctx(ca)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            raw = socket.create_connection(("127.0.0.1", port), timeout=dl(10))
            try:
                ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
            finally:
                raw.close()
        # 3. the fault spent: served again, over TLS only; both refusals counted
        r = https_request(port, ctx, "GET", METRICS)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["tls_setup_failures"], 2)
        self.assertIn("cannot set up TLS for a connection", p.stderr_text())


if __name__ == "__main__":
    unittest.main()
