"""Security: bearer tokens with roles and agent binding, safe listen defaults,
HTTPS/mTLS on the listeners with SIGHUP certificate reload, a separate admin
listener, HTTPS (and mTLS) to analyzers, and the analyzer allow list.

Run: LOGDIST_BIN=build/bin python3 tests/integration/test_security.py
Certificates are made with the openssl CLI in a temp dir; every process is
started by this file, talked to on 127.0.0.1 only, and stopped by its pid."""
import atexit
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
harness.BIN = os.path.abspath(harness.BIN)  # processes run in their temp dir
from harness import (BIN, Daemon, LogdistTestCase, dl, http_request, raw_request,  # noqa: E402
                     wait_until)
from security_util import (HttpsAnalyzer, Pki, cert_serial, client_ctx, conn_request,  # noqa: E402
                           https_conn, https_request, pem_to_der, tls_handshake, tls_roundtrip)

LOGS = "/api/v1/logs"
AN = "/api/v1/analyzers"
METRICS = "/api/v1/metrics"
HASH_RE = re.compile(r"^sha256\$([0-9a-f]{32})\$([0-9a-f]{64})$")

# ---------------------------------------------------------------------------- shared PKI

PKI = {}
_PKI_DIR = None


def setUpModule():
    global _PKI_DIR
    _PKI_DIR = tempfile.mkdtemp(prefix="logdist-sec-pki-")
    atexit.register(shutil.rmtree, _PKI_DIR, True)
    pki = Pki(_PKI_DIR)
    ca = pki.make_ca("ca")
    other = pki.make_ca("other-ca")
    PKI["pki"] = pki
    PKI["ca"] = ca
    PKI["other_ca"] = other
    PKI["server"] = pki.issue("server", ca, "127.0.0.1", san="IP:127.0.0.1")
    PKI["client"] = pki.issue("client", ca, "web-1", usage="clientAuth")
    PKI["other_client"] = pki.issue("other-client", other, "web-1", usage="clientAuth")
    PKI["wrong_host"] = pki.issue("wrong-host", ca, "wrong.example",
                                  san="DNS:wrong.example,IP:127.0.0.2")


def packet(agent=None, n=3, tag="r"):
    p = {"packet_id": tag, "messages": [{"id": "%s-%d" % (tag, i), "level": "INFO",
                                         "message": "hello %d" % i} for i in range(n)]}
    if agent is not None:
        p["agent_id"] = agent
    return p


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


class SecTestCase(LogdistTestCase):
    # short drain: several daemons here hold records they can never deliver
    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "1000"}

    def err(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        j = r.json()
        if code:
            self.assertEqual(j.get("error"), code, j)
        return j

    def run_cmd(self, argv, timeout):
        """Run a (short-lived) process through the registry; -> (rc, stdout, stderr)."""
        p = self.spawn(os.path.basename(argv[0]), argv)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("%s did not exit within %.1fs" % (argv, timeout))
        return rc, p.stdout_text(), p.stderr_text()

    def start_or_exit(self, argv, timeout):
        """Start logdistd expecting a refusal: -> (exit code, stderr) once it exits,
        or (None, stderr) as soon as it prints its listening line (it started)."""
        p = self.spawn("logdistd-check", argv)
        def settled():
            if not p.running():
                return "exited"
            return "listening" if "\n" in p.stdout_text() else None
        how = wait_until(settled, timeout, "logdistd to exit or listen", interval=0.02)
        if how == "listening":
            p.stop()
            return None, p.stderr_text()
        rc = p.wait(dl(5))
        # a refusal is a clean exit with a code > 0 and a message; a crash (negative
        # code: killed by a signal) or a silent exit is not
        self.assertGreater(rc, 0, "logdistd exited with %d, not a refusal; stderr:\n%s"
                           % (rc, p.stderr_text()[-2000:]))
        self.assertTrue(p.stderr_text().strip(), "logdistd refused to start without a message")
        return rc, p.stderr_text()

    def hash_token(self, tok):
        rc, out, err = self.run_cmd([os.path.join(BIN, "logdistd"), "--hash-token", tok], dl(10))
        self.assertEqual(rc, 0, err)
        h = out.strip()
        self.assertRegex(h, HASH_RE)
        return h

    def daemon_ports(self, d):
        """(main, admin) ports of a daemon started with --admin-listen."""
        line = d.proc.first_line(dl(10))
        return int(line["listening"].rsplit(":", 1)[1]), int(line["admin"].rsplit(":", 1)[1])

    def wait_log(self, proc, text, timeout=None):
        return wait_until(lambda: text in proc.stderr_text(), timeout or dl(10),
                          "%r in %s's stderr" % (text, proc.name))

    def metrics_tls(self, port, ctx):
        r = https_request(port, ctx, "GET", METRICS)
        self.assertEqual(r.status, 200, r)
        return r.json()


# ---------------------------------------------------------------------------- 1. tokens

class TokenAuthTest(SecTestCase):

    def test_hash_token_format_and_salt(self):
        tok = secrets.token_urlsafe(24)
        h1, h2 = self.hash_token(tok), self.hash_token(tok)
        self.assertNotEqual(h1, h2, "each --hash-token call must use a fresh salt")
        for h in (h1, h2):
            salt, dig = HASH_RE.match(h).groups()
            self.assertEqual(hashlib.sha256(bytes.fromhex(salt) + tok.encode()).hexdigest(), dig,
                             "HASH is sha256(salt || token)")
        self.assertNotEqual(HASH_RE.match(h1).group(1), HASH_RE.match(h2).group(1))
        rc, _, _ = self.run_cmd([os.path.join(BIN, "logdistd"), "--hash-token", ""], dl(10))
        self.assertNotEqual(rc, 0, "an empty token must be refused")
        # a malformed hash in --token is a start-up error
        rc, err = self.start_or_exit([os.path.join(BIN, "logdistd"), "--listen", "127.0.0.1:0",
                                      "--data-dir", self.data_dir(),
                                      "--token", "role=ingest,hash=sha256$00$11"], dl(10))
        self.assertIsNotNone(rc, "started with a malformed token hash")
        self.assertNotEqual(rc, 0)
        self.assertIn("hash", err)

    def test_roles_agent_binding_metrics_and_logs(self):
        toks = {k: secrets.token_urlsafe(24) for k in ("ingest", "admin", "read", "agent",
                                                        "multi", "wrong")}
        sink = self.recording_analyzer()
        sink2 = self.recording_analyzer()
        d = self.start_daemon(
            "--token", "role=ingest,hash=" + self.hash_token(toks["ingest"]),
            "--token", "role=admin,hash=" + self.hash_token(toks["admin"]),
            "--token", "role=read,hash=" + self.hash_token(toks["read"]),
            "--token", "role=ingest,hash=%s,agent=web-1" % self.hash_token(toks["agent"]),
            "--token", "role=ingest+read,hash=" + self.hash_token(toks["multi"]),
            "--log-level", "debug", analyzers=[("s1", sink.url, 1)])
        R = lambda t: bearer(toks[t])  # noqa: E731
        exp = {"missing_token": 0, "invalid_token": 0, "missing_role": 0, "wrong_agent": 0}

        def auth_failures():
            r = d.req("GET", METRICS, headers=R("read"))
            self.assertEqual(r.status, 200, r)
            return r.json()["auth_failures"]
        base = auth_failures()
        self.assertEqual(set(base), set(exp), base)

        # no token: 401 + WWW-Authenticate: Bearer; the log line names the client address
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=dl(10))
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        r = conn_request(conn, "POST", LOGS, packet())
        conn.close()
        self.err(r, 401, "unauthorized")
        self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), r)
        exp["missing_token"] += 1
        for method, path in (("GET", AN), ("GET", METRICS), ("POST", AN), ("GET", "/api/v1/deadletter")):
            r = d.req(method, path, {"id": "x", "url": sink2.url} if method == "POST" else None)
            self.err(r, 401, "unauthorized")
            self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), r)
            exp["missing_token"] += 1
        r = d.req("GET", AN, headers={"Authorization": "Basic " + toks["admin"]})
        self.err(r, 401, "unauthorized")
        exp["missing_token"] += 1
        # wrong token
        for hdr in (R("wrong"), {"Authorization": "Bearer " + toks["admin"] + "x"},
                    {"Authorization": "Bearer " + toks["admin"][:-1]},
                    {"Authorization": "Bearer  " + toks["ingest"] + "  x"}):
            r = d.post_logs(packet(), headers=hdr)
            self.err(r, 401, "unauthorized")
            self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), r)
            exp["invalid_token"] += 1
        # an empty bearer token: 401, counted as missing or invalid
        before = auth_failures()
        self.err(d.post_logs(packet(), headers={"Authorization": "Bearer "}), 401, "unauthorized")
        after = auth_failures()
        delta = {k: after[k] - before[k] for k in exp}
        self.assertEqual(sum(delta.values()), 1, delta)
        for k in exp:
            exp[k] += delta[k]
        # every request on a keep-alive connection is checked on its own
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=dl(10))
        self.addCleanup(conn.close)
        self.assertEqual(conn_request(conn, "POST", LOGS, packet(tag="kal"), R("ingest")).status,
                         202)
        sock = conn.sock
        self.err(conn_request(conn, "POST", LOGS, packet(tag="bad")), 401, "unauthorized")
        exp["missing_token"] += 1
        self.err(conn_request(conn, "GET", AN, headers=R("ingest")), 403, "forbidden")
        exp["missing_role"] += 1
        self.assertIs(conn.sock, sock)
        conn.close()
        # the scheme is case-insensitive
        self.assertEqual(d.post_logs(packet(tag="ci"), headers={
            "Authorization": "bearer " + toks["ingest"]}).status, 202)
        # roles
        self.err(d.post_logs(packet(), headers=R("read")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.post_logs(packet(), headers=R("admin")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("GET", AN, headers=R("ingest")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("GET", METRICS, headers=R("agent")), 403, "forbidden")
        exp["missing_role"] += 1
        self.assertEqual(d.req("GET", METRICS, headers=R("read")).status, 200)
        self.assertEqual(d.req("GET", AN, headers=R("read")).status, 200)
        self.assertEqual(d.req("GET", AN + "/s1", headers=R("read")).status, 200)
        self.assertEqual(d.req("GET", METRICS, headers=R("admin")).status, 200)
        self.err(d.req("POST", AN, {"id": "a2", "url": sink2.url}, headers=R("read")), 403,
                 "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("PUT", AN + "/s1", {"weight": 5}, headers=R("read")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("DELETE", AN + "/s1", headers=R("read")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("DELETE", "/api/v1/deadletter", headers=R("read")), 403, "forbidden")
        exp["missing_role"] += 1
        self.err(d.req("POST", "/api/v1/deadletter/replay", headers=R("multi")), 403, "forbidden")
        exp["missing_role"] += 1
        r = d.req("POST", AN, {"id": "a2", "url": sink2.url}, headers=R("admin"))
        self.assertEqual(r.status, 201, r)
        # ingest and a multi-role token
        self.assertEqual(d.post_logs(packet(tag="ing"), headers=R("ingest")).status, 202)
        self.assertEqual(d.post_logs(packet(tag="mul"), headers=R("multi")).status, 202)
        self.assertEqual(d.req("GET", METRICS, headers=R("multi")).status, 200)
        # agent binding. The log keeps at most 10 auth_failed lines a second (the
        # rest are counted, docs/LOGGING.md) and the refusals above were more:
        # start a new second so the wrong-agent lines checked below are written
        time.sleep(1.1)
        self.err(d.post_logs(packet("web-2", tag="bad"), headers=R("agent")), 403, "forbidden")
        exp["wrong_agent"] += 1
        self.err(d.post_logs(packet("web-10", tag="bad"), headers=R("agent")), 403, "forbidden")
        exp["wrong_agent"] += 1
        self.err(d.post_logs(packet("web-", tag="bad"), headers=R("agent")), 403, "forbidden")
        exp["wrong_agent"] += 1
        # duplicate keys: the last agent_id is the one that counts, and it is checked
        body = '{"agent_id":"web-1","packet_id":"dup","messages":[{"id":"dup-0"}],"agent_id":"web-2"}'
        self.err(d.post_logs(body, headers=R("agent")), 403, "forbidden")
        exp["wrong_agent"] += 1
        self.assertEqual(d.post_logs(packet("web-1", tag="ok1"), headers=R("agent")).status, 202)
        bare = json.dumps([{"id": "bare-0"}, {"id": "bare-1"}])
        self.assertEqual(d.post_logs(bare, headers=R("agent")).status, 202)
        nd = b'{"id":"nd-0"}\n{"id":"nd-1"}\n'
        self.assertEqual(d.post_logs(nd, ctype="application/x-ndjson", headers=R("agent")).status,
                         202)
        # an unbound ingest token may submit as any agent
        self.assertEqual(d.post_logs(packet("web-2", tag="any"), headers=R("ingest")).status, 202)
        # /health stays open
        r = d.req("GET", "/health")
        self.assertEqual(r.status, 200, r)
        # counters: exactly one per refusal, by reason
        got = auth_failures()
        self.assertEqual({k: got[k] - base[k] for k in exp}, exp)
        # refused packets were not delivered, accepted ones were
        wait_until(lambda: (lambda m: m["records_delivered"] == m["records_accepted"] and
                            m["queued_records"] == 0)(
            d.req("GET", METRICS, headers=R("read")).json()), dl(20), "all records delivered")
        delivered = b"".join(b for (_, _, _, b) in sink.snapshot() + sink2.snapshot())
        for tag in ("ci-0", "ing-0", "mul-0", "ok1-0", "bare-1", "nd-1", "any-0"):
            self.assertIn(('"%s"' % tag).encode(), delivered)
        self.assertNotIn(b'"bad-0"', delivered)
        self.assertNotIn(b'"dup-0"', delivered)
        # logs: the client address is there, a clear token never is
        self.wait_log(d.proc, "127.0.0.1:%d" % client_port)
        self.wait_log(d.proc, "web-2")
        err = d.proc.stderr_text()
        for name, tok in toks.items():
            self.assertNotIn(tok, err, "clear %s token in logdistd's stderr" % name)
            self.assertNotIn(tok[:12], err, "part of the %s token in logdistd's stderr" % name)


# ---------------------------------------------------------------------------- 2. safe defaults

class SafeDefaultsTest(SecTestCase):

    def argv(self, *args):
        return [os.path.join(BIN, "logdistd"), "--data-dir", self.data_dir(),
                "--health-interval-ms", "200"] + list(args)

    def test_public_listener_needs_tokens_or_insecure(self):
        rc, err = self.start_or_exit(self.argv("--listen", "0.0.0.0:0"), dl(10))
        self.assertIsNotNone(rc, "0.0.0.0 without tokens must not start")
        self.assertNotEqual(rc, 0)
        self.assertIn("--insecure", err)
        # the admin listener is checked too, and so is an IPv6 wildcard
        rc, err = self.start_or_exit(self.argv("--listen", "127.0.0.1:0",
                                               "--admin-listen", "0.0.0.0:0"), dl(10))
        self.assertIsNotNone(rc, "a public admin listener without tokens must not start")
        self.assertNotEqual(rc, 0)
        self.assertIn("--insecure", err)
        rc, err = self.start_or_exit(self.argv("--listen", "[::]:0"), dl(10))
        self.assertIsNotNone(rc, "[::] without tokens must not start")
        self.assertNotEqual(rc, 0)
        self.assertIn("--insecure", err)
        # --insecure: starts (bound to 0.0.0.0; we only talk to 127.0.0.1)
        p = self.spawn("logdistd-insecure", self.argv("--listen", "0.0.0.0:0", "--insecure"))
        line = p.first_line(dl(10))
        self.assertTrue(line["listening"].startswith("0.0.0.0:"), line)
        port = int(line["listening"].rsplit(":", 1)[1])
        self.assertEqual(http_request(port, "GET", "/health").status, 200)
        p.stop()
        # with a token: starts, and the API wants the token
        tok = secrets.token_urlsafe(24)
        p = self.spawn("logdistd-token", self.argv("--listen", "0.0.0.0:0", "--token",
                                                   "role=admin,hash=" + self.hash_token(tok)))
        port = int(p.first_line(dl(10))["listening"].rsplit(":", 1)[1])
        self.assertEqual(http_request(port, "GET", "/health").status, 200)
        self.assertEqual(http_request(port, "GET", METRICS).status, 401)
        self.assertEqual(http_request(port, "GET", METRICS, headers=bearer(tok)).status, 200)
        p.stop()
        # loopback without tokens is fine
        p = self.spawn("logdistd-lo", self.argv("--listen", "127.0.0.1:0"))
        p.first_line(dl(10))


# ---------------------------------------------------------------------------- 3. TLS

class TlsListenerTest(SecTestCase):

    def start_tls(self, *extra, cert=None, key=None):
        cert = cert or PKI["server"][0]
        key = key or PKI["server"][1]
        return self.start_daemon("--tls-cert", cert, "--tls-key", key, *extra)

    def test_https_and_versions(self):
        d = self.start_tls()
        ctx = client_ctx(PKI["ca"][0])
        r = https_request(d.port, ctx, "GET", "/health")
        self.assertEqual(r.status, 200, r)
        r = https_request(d.port, ctx, "POST", LOGS, packet(tag="tls"))
        self.assertEqual(r.status, 202, r)
        # the server's certificate is the configured one
        _, der = tls_handshake(d.port, ctx)
        self.assertEqual(der, pem_to_der(PKI["server"][0]))
        # plain HTTP to the TLS port gets no HTTP answer
        out = raw_request(d.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                          timeout=dl(3))
        self.assertFalse(out.startswith(b"HTTP/"), out[:200])
        with self.assertRaises((http.client.HTTPException, OSError)):
            r = http_request(d.port, "GET", "/health", timeout=dl(3))
            raise AssertionError("plain HTTP answered: %r" % r)  # pragma: no cover
        # a client that does not trust the test CA refuses the server
        with self.assertRaises(ssl.SSLCertVerificationError):
            tls_handshake(d.port, ssl.create_default_context(cafile=PKI["other_ca"][0]))
        # TLS 1.1 refused by the server; 1.2 and 1.3 accepted
        old = client_ctx(PKI["ca"][0], min_version=ssl.TLSVersion.TLSv1,
                         max_version=ssl.TLSVersion.TLSv1_1)
        try:
            tls_handshake(d.port, old)
            self.fail("a TLS 1.1 handshake succeeded")
        except ssl.SSLError as e:
            self.assertIn("ALERT", str(e).upper(), "not the server's refusal: %s" % e)
        except (ConnectionResetError, BrokenPipeError):
            pass
        for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            c = client_ctx(PKI["ca"][0], min_version=v, max_version=v)
            self.assertEqual(tls_handshake(d.port, c)[0], name)
            r = https_request(d.port, c, "GET", "/health")
            self.assertEqual(r.status, 200, r)
        # TLS 1.2 without forward secrecy (static RSA / CBC suites) is not offered
        weak = client_ctx(PKI["ca"][0], min_version=ssl.TLSVersion.TLSv1_2,
                          max_version=ssl.TLSVersion.TLSv1_2)
        weak.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA")
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            tls_handshake(d.port, weak)
        self.assertEqual(https_request(d.port, ctx, "GET", "/health").status, 200)

    def test_stalled_handshake_is_closed(self):
        """A client that connects to the TLS port and never finishes its handshake
        is closed by the idle timeout (no slow-handshake connection hoarding)."""
        d = self.start_tls("--idle-timeout-s", "1")
        for partial in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
            self.addCleanup(s.close)
            t0 = time.monotonic()
            if partial:
                s.sendall(partial)
            try:
                got = s.recv(1024)
            except (ConnectionResetError, socket.timeout) as e:
                got = e
            took = time.monotonic() - t0
            self.assertNotIsInstance(got, socket.timeout, "stalled TLS handshake (%r) not closed "
                                     "within %.1fs with --idle-timeout-s 1" % (partial, dl(10)))
            self.assertLess(took, dl(5), "closed only after %.1fs" % took)
            s.close()
        self.assertEqual(https_request(d.port, client_ctx(PKI["ca"][0]), "GET", "/health").status,
                         200)

    def refused(self, port, ctx):
        """True when the server refuses this client before answering any request."""
        try:
            out = tls_roundtrip(port, ctx, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                                timeout=dl(5))
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True
        return not out.startswith(b"HTTP/")

    def test_mutual_tls(self):
        d = self.start_tls("--tls-client-ca", PKI["ca"][0])
        ca = PKI["ca"][0]
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            # no client certificate
            self.assertTrue(self.refused(d.port, client_ctx(ca, min_version=v, max_version=v)),
                            "client without a certificate was served (%s)" % v)
            # a certificate from an unrelated CA
            oc = PKI["other_client"]
            self.assertTrue(self.refused(d.port, client_ctx(ca, oc[0], oc[1], min_version=v,
                                                            max_version=v)),
                            "client with another CA's certificate was served (%s)" % v)
        # in TLS 1.2 the refusal is in the handshake itself
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            tls_handshake(d.port, client_ctx(ca, min_version=ssl.TLSVersion.TLSv1_2,
                                             max_version=ssl.TLSVersion.TLSv1_2))
        # a good client certificate
        c = PKI["client"]
        good = client_ctx(ca, c[0], c[1])
        r = https_request(d.port, good, "POST", LOGS, packet(tag="mtls"))
        self.assertEqual(r.status, 202, r)
        self.assertEqual(https_request(d.port, good, "GET", METRICS).status, 200)

    def test_sighup_reloads_certificate_and_keeps_connections(self):
        pki, ca = PKI["pki"], PKI["ca"]
        live_cert, live_key = self.path("live.pem"), self.path("live.key")
        shutil.copy(PKI["server"][0], live_cert)
        shutil.copy(PKI["server"][1], live_key)
        d = self.start_tls(cert=live_cert, key=live_key)
        ctx = client_ctx(ca[0])
        old_der = pem_to_der(PKI["server"][0])
        # a keep-alive connection opened before the reload
        conn = https_conn(d.port, ctx)
        self.addCleanup(conn.close)
        self.assertEqual(conn_request(conn, "GET", "/health").status, 200)
        sock_before = conn.sock
        self.assertEqual(sock_before.getpeercert(binary_form=True), old_der)
        # replace the files with a newly issued certificate, then SIGHUP
        new = pki.issue(self.unique("server-new"), ca, "127.0.0.1", san="IP:127.0.0.1")
        shutil.copy(new[0], live_cert + ".tmp")
        shutil.copy(new[1], live_key + ".tmp")
        os.replace(live_key + ".tmp", live_key)
        os.replace(live_cert + ".tmp", live_cert)
        new_der = pem_to_der(new[0])
        self.assertNotEqual(cert_serial(new_der), cert_serial(old_der))
        d.proc.signal(signal.SIGHUP)
        self.wait_log(d.proc, "TLS certificate reloaded")
        wait_until(lambda: tls_handshake(d.port, ctx)[1] == new_der, dl(10),
                   "a new connection to see the new certificate")
        self.assertEqual(cert_serial(tls_handshake(d.port, ctx)[1]), new[2])
        # the old connection still works, on the same socket and the old certificate
        for _ in range(3):
            self.assertEqual(conn_request(conn, "POST", LOGS, packet(tag="ka")).status, 202)
        self.assertIs(conn.sock, sock_before, "the keep-alive connection was re-opened")
        self.assertEqual(conn.sock.getpeercert(binary_form=True), old_der)
        # a broken file on reload: the error is logged, the last good certificate stays
        with open(live_cert, "w") as f:
            f.write("not a certificate\n")
        d.proc.signal(signal.SIGHUP)
        self.wait_log(d.proc, "TLS reload failed")
        self.assertTrue(d.proc.running())
        self.assertEqual(tls_handshake(d.port, ctx)[1], new_der)
        self.assertEqual(https_request(d.port, ctx, "GET", "/health").status, 200)


# ---------------------------------------------------------------------------- 4. admin listener

class AdminListenTest(SecTestCase):

    def test_admin_api_only_on_admin_port(self):
        sink = self.recording_analyzer()
        d = self.start_daemon("--admin-listen", "127.0.0.1:0", analyzers=[("s1", sink.url, 1)])
        main, admin = self.daemon_ports(d)
        self.assertNotEqual(main, admin)
        # main port: logs and /health only
        for method, path in (("GET", AN), ("POST", AN), ("GET", METRICS), ("GET", AN + "/s1"),
                             ("DELETE", AN + "/s1"), ("GET", "/api/v1/deadletter"),
                             ("POST", "/api/v1/deadletter/replay"),
                             ("GET", "/health/../api/v1/analyzers"),
                             ("GET", "//api/v1/analyzers")):
            body = {"id": "x", "url": sink.url} if method == "POST" and path == AN else None
            r = http_request(main, method, path, body)
            self.assertEqual(r.status, 404, "%s %s on the main port: %r" % (method, path, r))
        self.assertEqual(http_request(main, "GET", "/health").status, 200)
        self.assertEqual(http_request(main, "POST", LOGS, packet(tag="main")).status, 202)
        # admin port: the admin API, no logs
        for path in (LOGS, LOGS + "/", LOGS + "?x=1"):
            r = http_request(admin, "POST", path, packet(tag="adm"))
            self.assertEqual(r.status, 404, "POST %s on the admin port: %r" % (path, r))
        r = http_request(admin, "GET", AN)
        self.assertEqual(r.status, 200, r)
        self.assertIn("s1", [a["id"] for a in r.json()["analyzers"]])
        self.assertEqual(http_request(admin, "GET", METRICS).status, 200)
        self.assertEqual(http_request(admin, "GET", "/health").status, 200)
        d2 = Daemon(d.proc, admin)
        m = d2.wait_all_delivered(dl(20))
        self.assertEqual(m["records_accepted"], 3, m)


# ---------------------------------------------------------------------------- 5. HTTPS analyzers

class HttpsAnalyzerTest(SecTestCase):

    def https_analyzer(self, cert, client_ca=None, max_version=None):
        a = HttpsAnalyzer(cert[0], cert[1], client_ca, max_version)
        self.servers.append(a)
        return a

    def delivered(self, a, tag):
        return sum(b.count(('"%s-' % tag).encode()) for b in a.snapshot())

    def expect_delivered(self, d, a, tag, n=5):
        self.assertEqual(d.post_logs(packet(n=n, tag=tag)).status, 202)
        wait_until(lambda: self.delivered(a, tag) == n, dl(20), "%d records at the analyzer" % n)
        m = d.wait_all_delivered(dl(20))
        self.assertEqual(m["analyzer_tls_failures"], 0, m)
        self.assertEqual(d.analyzer("h")["state"], "up")

    def expect_tls_refused(self, d, a, tag):
        self.assertEqual(d.post_logs(packet(n=5, tag=tag)).status, 202)
        m = wait_until(lambda: (lambda m: m["analyzer_tls_failures"] > 0 and m)(d.metrics()),
                       dl(8), "analyzer_tls_failures > 0")
        d.wait_state("h", "down", dl(15))
        self.assertEqual(self.delivered(a, tag), 0)
        m = d.metrics()
        self.assertEqual(m["records_delivered"], 0, m)
        return m

    def test_delivery_with_analyzer_ca(self):
        a = self.https_analyzer(PKI["server"])
        d = self.start_daemon("--analyzer-ca", PKI["ca"][0], analyzers=[("h", a.url, 1)])
        self.expect_delivered(d, a, "ca")
        self.assertGreater(a.health_gets, 0, "health checks go over HTTPS too")
        self.assertEqual(a.errors(), [])

    def test_unknown_ca_not_delivered(self):
        a = self.https_analyzer(PKI["server"])
        d = self.start_daemon(analyzers=[("h", a.url, 1)])
        self.expect_tls_refused(d, a, "noca")
        self.assertTrue(a.errors(), "the analyzer saw no refused handshake")

    def test_other_ca_not_delivered(self):
        a = self.https_analyzer(PKI["server"])
        d = self.start_daemon("--analyzer-ca", PKI["other_ca"][0], analyzers=[("h", a.url, 1)])
        self.expect_tls_refused(d, a, "oca")

    def test_wrong_host_not_delivered(self):
        a = self.https_analyzer(PKI["wrong_host"])
        d = self.start_daemon("--analyzer-ca", PKI["ca"][0], analyzers=[("h", a.url, 1)])
        self.expect_tls_refused(d, a, "host")

    def client_cert_case(self, max_version):
        c = PKI["client"]
        a = self.https_analyzer(PKI["server"], client_ca=PKI["ca"][0], max_version=max_version)
        spec = "id=h,url=%s,client_cert=%s,client_key=%s" % (a.url, c[0], c[1])
        d = self.start_daemon("--analyzer-ca", PKI["ca"][0], analyzers=[spec])
        self.expect_delivered(d, a, "mtls")
        self.assertIn(pem_to_der(c[0]), a.client_certs)
        d.proc.stop()
        # the same analyzer without a client certificate: refused, counted as TLS failures
        n_err = len(a.errors())
        d = self.start_daemon("--analyzer-ca", PKI["ca"][0], analyzers=[("h", a.url, 1)])
        self.expect_tls_refused(d, a, "nocert")
        self.assertGreater(len(a.errors()), n_err)

    def test_client_cert_to_analyzer_tls12(self):
        self.client_cert_case(ssl.TLSVersion.TLSv1_2)

    def test_client_cert_to_analyzer_tls13(self):
        """With TLS 1.3 the server refuses a missing client certificate after the
        client's handshake ends (alert on the first read): still a TLS failure."""
        self.client_cert_case(None)


# ---------------------------------------------------------------------------- 6. allow list

class AnalyzerAllowTest(SecTestCase):

    def test_allow_list_and_url_validation(self):
        sink = self.recording_analyzer()
        d = self.start_daemon("--analyzer-allow", "127.0.0.1/32")
        r = d.req("POST", AN, {"id": "lh", "url": "http://localhost:1/ingest"})
        self.err(r, 403, "forbidden_analyzer")
        for url in ("http://10.0.0.1:1/ingest", "http://[::1]:1/ingest", "http://127.0.0.2:1/"):
            self.err(d.req("POST", AN, {"id": "x", "url": url}), 403, "forbidden_analyzer")
        self.err(d.req("POST", AN, {"id": "x", "url": sink.url,
                                    "health_url": "http://localhost:1/health"}), 403,
                 "forbidden_analyzer")
        r = d.req("POST", AN, {"id": "ok", "url": sink.url})
        self.assertEqual(r.status, 201, r)
        # changing the URL later is checked too
        self.err(d.req("PUT", AN + "/ok", {"url": "http://localhost:1/ingest"}), 403,
                 "forbidden_analyzer")
        self.err(d.req("PUT", AN + "/ok", {"health_url": "http://10.1.1.1:1/health"}), 403,
                 "forbidden_analyzer")
        self.assertEqual(d.analyzer("ok")["url"], sink.url)
        # URL validation
        for url in ("ftp://127.0.0.1:1/ingest", "file:///etc/passwd", "gopher://127.0.0.1:1/",
                    "http://user:secret@127.0.0.1:1/ingest", "http://user@127.0.0.1:1/ingest",
                    "not a url"):
            r = d.req("POST", AN, {"id": "v", "url": url})
            self.err(r, 400)
        r = d.req("PUT", AN + "/ok", {"url": "http://user:secret@127.0.0.1:1/ingest"})
        self.err(r, 400)
        self.assertNotIn("v", d.analyzers())
        self.assertEqual(d.analyzer("ok")["url"], sink.url)
        # a flag analyzer outside the allow list: no start
        rc, err = self.start_or_exit(
            self.daemon_argv("--analyzer-allow", "127.0.0.1/32",
                             analyzers=["id=lh,url=http://localhost:1/ingest"]), dl(10))
        self.assertIsNotNone(rc, "started with an analyzer outside --analyzer-allow")
        self.assertNotEqual(rc, 0)
        self.assertIn("analyzer-allow", err)
        # ... nor with an allowed url but a health_url outside the list
        rc, err = self.start_or_exit(
            self.daemon_argv("--analyzer-allow", "127.0.0.1/32", analyzers=[
                "id=hc,url=%s,health_url=http://localhost:%d/health" % (sink.url, sink.port)]),
            dl(10))
        self.assertIsNotNone(rc, "flag analyzer with a health_url outside --analyzer-allow "
                            "was accepted: its health checks go to localhost")
        self.assertIn("analyzer-allow", err)

    def test_restored_analyzers_obey_allow_list(self):
        """Analyzers registered at runtime are kept in <data-dir>/analyzers.db and
        restored at start; a restart with --analyzer-allow must not bring back one
        that the allow list forbids."""
        sink = self.recording_analyzer()
        data = self.data_dir()
        d = self.start_daemon("--data-dir", data)
        url = "http://localhost:%d/ingest" % sink.port
        self.assertEqual(d.req("POST", AN, {"id": "lh", "url": url}).status, 201)
        d.proc.stop()
        self.assertEqual(d.proc.popen.returncode, 0)
        p = self.spawn("logdistd-restart", self.daemon_argv(
            "--data-dir", data, "--analyzer-allow", "127.0.0.1/32"))
        # the documented answer: logdistd starts and leaves the stored analyzer out with
        # a warning (src/logdistd.c, "stored analyzer ... not restored")
        line = p.first_line(dl(10))
        d2 = Daemon(p, int(line["listening"].rsplit(":", 1)[1]))
        self.assertIn("stored analyzer lh not restored", p.stderr_text())
        self.assertIn("analyzer-allow", p.stderr_text())
        present = d2.analyzers()
        if "lh" in present:
            self.assertEqual(d2.post_logs(packet(tag="rest")).status, 202)
            time.sleep(dl(0.5))
            got = b"".join(b for (_, _, _, b) in sink.snapshot())
            self.fail("analyzer lh (%s) restored from analyzers.db despite --analyzer-allow "
                      "127.0.0.1/32 (state %s; records delivered to it: %d)"
                      % (url, present["lh"]["state"], got.count(b'"rest-')))


if __name__ == "__main__":
    unittest.main(verbosity=2)
