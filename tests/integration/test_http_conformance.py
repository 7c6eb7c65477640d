"""HTTP/1.1 conformance of logdistd's connection layer (issue 10; contract in
src/ingress/conn.h and src/ingress/http.h), over raw sockets:

- keep-alive, HTTP/1.0, Connection: close; pipelining (answers in order);
- chunked request bodies (with chunk extensions; malformed size -> 400; over the
  body limit -> 413);
- Expect: 100-continue (100 before the body; a refusal decided on the head comes
  instead of the 100); decide before the body (401/403/413 with no body sent);
- HEAD (headers only, no body bytes); GET /health;
- refusals, each a JSON {"error","message"} answer (application/json) and a close:
  request line/URI over the limit 414, header bytes 431, header lines 431, unknown
  method 501, smuggling shapes (CL+TE, repeated/conflicting/list/negative/non-numeric
  Content-Length) 400, HTTP/2 preface and garbage 400 (505/501 allowed for the
  preface), NUL in a header 400;
- timeouts: a half head and a stalled body get 408 or a close, slowloris is closed
  although it keeps sending, idle keep-alive and silent connections are closed;
- a half-closed client (SHUT_WR after its request) still gets its answer;
- a client that never reads its answers: memory stays bounded, others are served;
- --max-connections counts silent connections from accept (503 too_many_connections),
  --max-connections-per-ip;
- TLS 1.2/1.3 (POST, keep-alive, pipelining, a 2 MiB body), 1.0/1.1 refused, plain
  HTTP on the TLS port gets no 2xx.

Every process is started by this file on 127.0.0.1 and stopped by its pid.
Run: LOGDIST_BIN=build/bin python3 tests/integration/test_http_conformance.py
"""
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SANITIZED, LogdistTestCase, dl, get_json,  # noqa: E402
                     hash_token, http_request, require_option, wait_until)
from http_raw import NoResponse, RawConn, chunked, req, rss_mib, hwm_mib  # noqa: E402

LOGS = "/api/v1/logs"
MAX_BODY = 64 * 1024
MAX_HEADER = 16 * 1024
BASE_ARGS = ["--max-body-bytes", "64KiB", "--max-header-bytes", "16KiB"]
JSON_CT = [("Content-Type", "application/json")]


def packet(pid, n):
    """A packet body with n records; the 202 answer is {"accepted":n,"packet_id":pid}."""
    return ('{"packet_id":"%s","messages":[%s]}' % (
        pid, ",".join('{"id":"%s-%d","message":"m%d"}' % (pid, i, i) for i in range(n)))).encode()


def post(pid, n, extra=(), version="HTTP/1.1"):
    return req("POST", LOGS, list(JSON_CT) + list(extra), packet(pid, n), version=version)


GET_HEALTH = req("GET", "/health")




class HttpCase(LogdistTestCase):
    # short drain: nothing here waits for delivery
    DAEMON_DEFAULTS = {"--health-interval-ms": "200", "--drain-timeout-ms": "1000"}

    def conn(self, d, timeout=None, ssl_ctx=None):
        c = RawConn.open(d.port, timeout or dl(5), ssl_ctx)
        self.addCleanup(c.close)
        return c

    def one(self, d, data, timeout=None, head_only=False):
        """Send data on a fresh connection, return (first response, conn)."""
        c = self.conn(d, timeout)
        c.send(data)
        return c.response(timeout or dl(5), head_only=head_only), c

    def assert_error(self, r, status, code=None, what=""):
        """A JSON error answer: status (int or tuple), application/json, a string
        "error" (== code when given) and a string "message" (docs/API.md)."""
        ok = status if isinstance(status, tuple) else (status,)
        self.assertIn(r.status, ok, "%s: want %s, got %r" % (what, status, r))
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"),
                        "%s: error answer without Content-Type application/json: %r" % (what, r))
        try:
            j = r.json()
        except ValueError:
            self.fail("%s: error body is not JSON: %r" % (what, r))
        self.assertIsInstance(j, dict, "%s: %r" % (what, r))
        self.assertIsInstance(j.get("error"), str, "%s: no string \"error\": %r" % (what, j))
        self.assertTrue(j["error"], "%s: empty \"error\": %r" % (what, j))
        if code is not None:
            self.assertEqual(j["error"], code, "%s: %r" % (what, j))
        self.assertIsInstance(j.get("message"), str, "%s: no string \"message\": %r" % (what, j))
        return j

    def assert_closed(self, c, what="", timeout=None):
        """The server closes the connection (EOF or reset) soon, sending nothing more."""
        closed = c.closed_within(timeout or dl(3))
        self.assertTrue(closed, "%s: connection still open %.1fs after the answer"
                        % (what, timeout or dl(3)))
        self.assertEqual(c.buf, b"", "%s: bytes after the answer: %.300r" % (what, c.buf))

    def assert_open(self, c, what="", wait=0.5):
        self.assertFalse(c.closed_within(wait), "%s: connection closed by the server" % what)
        self.assertEqual(c.buf, b"", "%s: unexpected bytes: %.300r" % (what, c.buf))

    def assert_accepted(self, r, pid, n, what=""):
        self.assertEqual(r.status, 202, "%s: %r" % (what, r))
        self.assertEqual(r.json(), {"accepted": n, "packet_id": pid}, "%s: %r" % (what, r))


# ---------------------------------------------------------------------------- keep-alive, pipelining

class KeepAliveTest(HttpCase):

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(*BASE_ARGS)

    def test_two_requests_on_one_connection(self):
        c = self.conn(self.d)
        c.send(GET_HEALTH)
        r = c.response()
        self.assertEqual(r.status, 200, r)
        self.assert_open(c, "after a first HTTP/1.1 answer")
        c.send(post("ka-1", 2))
        self.assert_accepted(c.response(), "ka-1", 2, "second request on the connection")
        c.send(GET_HEALTH)
        self.assertEqual(c.response().status, 200)
        self.assert_open(c, "after three answers")

    def test_http10_without_keepalive_closes(self):
        r, c = self.one(self.d, req("GET", "/health", version="HTTP/1.0"))
        self.assertEqual(r.status, 200, r)
        self.assert_closed(c, "HTTP/1.0 without keep-alive")

    def test_http10_keepalive_kept(self):
        c = self.conn(self.d)
        c.send(req("GET", "/health", [("Connection", "keep-alive")], version="HTTP/1.0"))
        r = c.response()
        self.assertEqual(r.status, 200, r)
        self.assertIn("content-length", r.headers, "a kept-alive HTTP/1.0 answer needs a length")
        c.send(req("GET", "/health", [("Connection", "keep-alive")], version="HTTP/1.0"))
        self.assertEqual(c.response().status, 200)

    def test_connection_close_closes_after_answer(self):
        r, c = self.one(self.d, post("cc-1", 1, [("Connection", "close")]))
        self.assert_accepted(r, "cc-1", 1, "Connection: close")
        self.assert_closed(c, "Connection: close")

    def test_pipelined_posts_answered_in_order(self):
        c = self.conn(self.d)
        c.send(post("p1", 1) + post("p2", 2) + post("p3", 3) + GET_HEALTH)  # one send()
        for pid, n in (("p1", 1), ("p2", 2), ("p3", 3)):
            self.assert_accepted(c.response(), pid, n, "pipelined %s" % pid)
        r = c.response()
        self.assertEqual(r.status, 200, "pipelined GET /health after three POSTs: %r" % r)
        self.assertIsInstance(r.json(), dict)
        self.assert_open(c, "after four pipelined answers")
        m = get_json(self.d.port, "/api/v1/metrics")
        self.assertEqual(m["records_accepted"], 6, m)

    def test_pipelined_good_then_malformed(self):
        """A good request before a malformed one in the same send() is answered first;
        then the 400, then the close."""
        c = self.conn(self.d)
        c.send(post("pg-1", 1) + req("POST", LOGS, JSON_CT, content_length="abc"))
        self.assert_accepted(c.response(), "pg-1", 1, "good request before a bad one")
        self.assert_error(c.response(), 400, what="malformed pipelined request")
        self.assert_closed(c, "after the 400")


# ---------------------------------------------------------------------------- chunked, Expect, HEAD

class BodyFramingTest(HttpCase):

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(*BASE_ARGS)

    def test_chunked_body(self):
        body = packet("ch-1", 5)
        parts = [body[:7], body[7:30], body[30:31], body[31:]]
        c = self.conn(self.d)
        c.send(req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")], content_length=False)
               + chunked(parts, ext="name=value"))
        self.assert_accepted(c.response(), "ch-1", 5, "chunked body with extensions")
        # keep-alive after a chunked body: the next request is parsed from where it ended
        c.send(req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")], content_length=False)
               + chunked([packet("ch-2", 2)]))
        self.assert_accepted(c.response(), "ch-2", 2, "second chunked body")
        c.send(GET_HEALTH)
        self.assertEqual(c.response().status, 200)

    def test_chunked_split_across_sends(self):
        body = packet("ch-3", 4)
        data = (req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")],
                    content_length=False) + chunked([body[:20], body[20:]]))
        c = self.conn(self.d)
        for i in range(0, len(data), 9):  # 9-byte writes: size lines and CRLFs split
            c.send(data[i:i + 9])
            time.sleep(0.002)
        self.assert_accepted(c.response(), "ch-3", 4, "chunked body in 9-byte writes")

    def test_chunked_malformed_size(self):
        data = (req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")],
                    content_length=False) + b"zz\r\n" + packet("x", 1) + b"\r\n0\r\n\r\n")
        r, c = self.one(self.d, data)
        self.assert_error(r, 400, what="chunk size 'zz'")
        self.assert_closed(c, "malformed chunk size")

    def test_chunked_over_body_limit(self):
        big = b"x" * 8192
        data = (req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")],
                    content_length=False) + chunked([big] * 16))  # 128 KiB > 64 KiB
        r, c = self.one(self.d, data)
        self.assert_error(r, 413, "body_too_large", what="chunked body over --max-body-bytes")
        self.assert_closed(c, "chunked 413")

    def test_expect_100_continue(self):
        body = packet("ex-1", 3)
        c = self.conn(self.d)
        c.send(req("POST", LOGS, JSON_CT + [("Expect", "100-continue")], content_length=len(body)))
        r = c.response(dl(5))
        self.assertEqual(r.status, 100, "want 100 Continue before the body is sent, got %r" % r)
        self.assertTrue(r.raw.startswith(b"HTTP/1.1 100"), r.raw)
        c.send(body)
        self.assert_accepted(c.response(), "ex-1", 3, "after 100 Continue")
        c.send(GET_HEALTH)  # and the connection is still usable
        self.assertEqual(c.response().status, 200)

    def test_expect_over_limit_gets_413_without_100(self):
        c = self.conn(self.d)
        c.send(req("POST", LOGS, JSON_CT + [("Expect", "100-continue")],
                   content_length=MAX_BODY * 16))
        r = c.response(dl(5))
        self.assertNotEqual(r.status, 100, "100 Continue for a body over --max-body-bytes")
        self.assert_error(r, 413, "body_too_large", what="Expect with Content-Length over limit")
        self.assert_closed(c, "413 before the body")

    def test_413_before_the_body_without_expect(self):
        """Content-Length over the limit: 413 once the head is in, the body never sent
        (between 1x and 2x the limit too: evhttp read those bodies in full)."""
        for n in (MAX_BODY + 1, MAX_BODY * 3 // 2, MAX_BODY * 64):
            with self.subTest(content_length=n):
                c = self.conn(self.d)
                c.send(req("POST", LOGS, JSON_CT, content_length=n))
                try:
                    r = c.response(dl(5))
                except NoResponse as e:
                    self.fail("no answer to a head with Content-Length %d > %d before the "
                              "body: %s" % (n, MAX_BODY, e))
                self.assert_error(r, 413, "body_too_large", what="CL %d" % n)
                self.assert_closed(c, "413 CL %d" % n)

    def test_head_health(self):
        c = self.conn(self.d)
        c.send(req("HEAD", "/health") + GET_HEALTH)  # pipelined: no body may sit between
        h = c.response(head_only=True)
        self.assertEqual(h.status, 200, h)
        g = c.response()
        self.assertEqual(g.status, 200, "the GET after the HEAD (body bytes after the HEAD "
                         "answer would show up here): %r" % g)
        self.assertTrue(g.headers.get("content-type", "").startswith("application/json"), g)
        self.assertEqual(g.json().get("status") in ("ok", "degraded", "down"), True, g.body)
        if "content-length" in h.headers:
            self.assertEqual(int(h.headers["content-length"]), len(g.body),
                             "HEAD Content-Length %s vs GET body %d bytes"
                             % (h.headers["content-length"], len(g.body)))
        self.assert_open(c, "after HEAD + GET")

    def test_head_alone_sends_no_body(self):
        c = self.conn(self.d)
        c.send(req("HEAD", "/health", [("Connection", "close")]))
        h = c.response(head_only=True)
        self.assertEqual(h.status, 200, h)
        c.closed_within(dl(3))
        self.assertEqual(c.buf, b"", "body bytes after a HEAD answer: %.300r" % c.buf)

    def test_get_health_json(self):
        r, _ = self.one(self.d, GET_HEALTH)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        self.assertIn("status", r.json())


# ---------------------------------------------------------------------------- refusals

def many_headers(n):
    return [("a", "1")] * n


class RefusalTableTest(HttpCase):
    """Raw request -> status; every refusal is JSON and closes the connection."""

    # (name, raw bytes, status or tuple of allowed statuses)
    CASES = [
        ("uri over the limit", req("GET", "/health?" + "u" * (2 * MAX_HEADER)), 414),
        ("request line over the limit (POST)", post("x", 1)[:5] + b"/api/v1/logs?" +
         b"q" * (2 * MAX_HEADER) + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        ("header bytes over --max-header-bytes",
         req("GET", "/health", [("X-Big-%d" % i, "v" * 6000) for i in range(4)]), 431),
        ("one header over --max-header-bytes", req("GET", "/health", [("X-Big", "v" * 20000)]),
         431),
        ("1000 header lines", req("GET", "/health", many_headers(1000)), 431),
        ("unknown method BREW", req("BREW", LOGS), 501),
        ("unknown method on /health", req("FROB", "/health"), 501),
        ("Content-Length with Transfer-Encoding",
         req("POST", LOGS, JSON_CT + [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
             content_length=False) + b"5\r\nhello\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding then Content-Length",
         req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
             content_length=False) + b"5\r\nhello\r\n0\r\n\r\n", 400),
        ("two different Content-Length", req("POST", LOGS, JSON_CT + [
            ("Content-Length", "2"), ("Content-Length", "4")], content_length=False) + b"[]  ",
         400),
        ("repeated identical Content-Length", req("POST", LOGS, JSON_CT + [
            ("Content-Length", "2"), ("Content-Length", "2")], content_length=False) + b"[]",
         400),
        ("Content-Length: 1, 2", req("POST", LOGS, JSON_CT + [("Content-Length", "1, 2")],
                                     content_length=False) + b"[]", 400),
        ("negative Content-Length", req("POST", LOGS, JSON_CT, content_length=-1), 400),
        ("non-numeric Content-Length", req("POST", LOGS, JSON_CT, content_length="abc"), 400),
        ("Content-Length overflowing 64 bits", req("POST", LOGS, JSON_CT,
                                                   content_length="99999999999999999999999"),
         (400, 413)),
        # RFC 9112 6.3: chunked not the final coding of a request -> 400 and close;
        # 6.1: a coding the server does not understand -> 501
        ("unknown Transfer-Encoding", req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "gzip")],
                                          content_length=False) + b"[]", (400, 501)),
        ("Transfer-Encoding: identity", req("POST", LOGS, JSON_CT + [
            ("Transfer-Encoding", "identity")], content_length=False) + b"[]", (400, 501)),
        ("Transfer-Encoding: chunked, gzip (chunked not last)", req("POST", LOGS, JSON_CT + [
            ("Transfer-Encoding", "chunked, gzip")], content_length=False) + b"[]", 400),
        ("Transfer-Encoding: gzip, chunked (coding not understood)", req("POST", LOGS, JSON_CT + [
            ("Transfer-Encoding", "gzip, chunked")], content_length=False) + chunked([b"[]"]),
         (400, 501)),
        ("GET with Transfer-Encoding: gzip", req("GET", "/health", [
            ("Transfer-Encoding", "gzip")]), (400, 501)),
        # the h2 preface: an HTTP/1.1 server may call it malformed (400), an unsupported
        # version (505) or an unknown method (501); it must not be served
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 501, 505)),
        ("bad version token", b"GET /health HTTX/1.1\r\nHost: a\r\n\r\n", 400),
        ("TLS ClientHello on the plain port",
         b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32 + b"\r\n\r\n", 400),
        ("binary garbage line", b"\x01\x02\x03\x04 garbage \xff\xfe\r\n\r\n", 400),
        ("NUL in a header value", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
         400),
        ("NUL in a header name", b"GET /health HTTP/1.1\r\nHost: a\r\nX-\x00A: b\r\n\r\n", 400),
        ("space before the colon", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),
        ("header line without a colon", b"GET /health HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
         400),
    ]

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(*BASE_ARGS)

    def test_refusals(self):
        seen = []
        for name, data, status in self.CASES:
            with self.subTest(case=name):
                if not self.d.proc.running():  # a crash fails in tearDown; go on testing
                    seen.append(("(logdistd died; restarted)", "-"))
                    self.d = self.start_daemon(*BASE_ARGS)
                c = self.conn(self.d)
                try:
                    c.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused mid-send: the answer may still be readable
                try:
                    r = c.response(dl(4))
                except NoResponse as e:
                    seen.append((name, "no answer"))
                    try:  # did it die? (then the next case restarts it, not blames it)
                        self.d.proc.popen.wait(1)
                    except subprocess.TimeoutExpired:
                        pass
                    self.fail("%s: no answer (want %s): %s; request %.200r" % (name, status, e,
                                                                                data))
                seen.append((name, r.status, r.body[:80]))
                self.assert_error(r, status, what="%s (request %.120r)" % (name, data))
                self.assert_closed(c, name)
        sys.stderr.write("[conformance] refusals: %s\n" % json.dumps(
            [(s[0], s[1]) for s in seen]))
        # the daemon survived all of them
        self.assertEqual(http_request(self.d.port, "GET", "/health").status, 200)

    def test_within_limits_served(self):
        """The counterparts of the limits: a 2000-byte URI, 40 header lines and 12 KiB of
        headers are served (so the refusals above are the limits, not a broken parser)."""
        for name, data in (
                ("2000-byte URI", req("GET", "/health?" + "u" * 2000)),
                ("40 header lines", req("GET", "/health", many_headers(40))),
                ("12 KiB of headers", req("GET", "/health", [("X-Big-%d" % i, "v" * 3000)
                                                             for i in range(4)])),
                ("header with obs-text", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n"),
                ("lower-case header names", b"GET /health HTTP/1.1\r\nhost: a\r\nx-a: b\r\n\r\n")):
            with self.subTest(case=name):
                r, c = self.one(self.d, data)
                self.assertEqual(r.status, 200, "%s: %r" % (name, r))
                self.assert_open(c, name, wait=0.2)
        body = packet("cl0", 1)
        r, _ = self.one(self.d, req("POST", LOGS, JSON_CT + [("Content-Length", "0" + str(len(body)))],
                                    body, content_length=False))
        self.assert_accepted(r, "cl0", 1, "Content-Length with a leading zero")


class ExistingErrorsTest(HttpCase):
    """Errors the API already had keep {"error","message"} and their codes."""

    def test_existing_error_shapes(self):
        d = self.start_daemon(*BASE_ARGS)
        cases = [
            ("unknown path", req("GET", "/nope"), 404, "not_found"),
            ("GET on the ingest path", req("GET", LOGS), 405, "method_not_allowed"),
            ("PUT on the ingest path", req("PUT", LOGS, JSON_CT, b"[]"), 405, "method_not_allowed"),
            ("bad JSON", req("POST", LOGS, JSON_CT, b'{"messages":[{"id":"a",}]}'), 400, "bad_json"),
            ("body over the limit, sent", req("POST", LOGS, JSON_CT, b" " * (MAX_BODY + 100)),
             413, "body_too_large"),
            ("unsupported media type", req("POST", LOGS, [("Content-Type", "text/xml")], b"<a/>"),
             415, "unsupported_media_type"),
        ]
        for name, data, status, code in cases:
            with self.subTest(case=name):
                r, c = self.one(d, data)
                j = self.assert_error(r, status, code, what=name)
                self.assertTrue(j["message"], j)
                if status == 405:
                    self.assertIn("POST", r.headers.get("allow", ""), r)
        r, _ = self.one(d, req("POST", LOGS, JSON_CT, b'{"messages":[{"id":"a",}]}'))
        self.assertEqual(r.json().get("offset"), len('{"messages":[{"id":"a",'), r)


# ---------------------------------------------------------------------------- auth before the body

class AuthBeforeBodyTest(HttpCase):

    def setUp(self):
        super().setUp()
        self.tok = "conformance-ingest-token-0123456789"
        self.rtok = "conformance-read-token-0123456789"
        self.d = self.start_daemon(*BASE_ARGS, "--token", "role=ingest,hash=" + hash_token(self.tok),
                                   "--token", "role=read,hash=" + hash_token(self.rtok))

    def head_only(self, headers, n, expect=False):
        hdrs = JSON_CT + list(headers) + ([("Expect", "100-continue")] if expect else [])
        c = self.conn(self.d)
        c.send(req("POST", LOGS, hdrs, content_length=n))
        return c

    def test_refused_on_the_head(self):
        bad = [("Authorization", "Bearer wrong-token")]
        cases = [
            ("no token", [], 10000, False, 401, "unauthorized"),
            ("wrong token", bad, 10000, False, 401, "unauthorized"),
            ("wrong token + Expect", bad, 10000, True, 401, "unauthorized"),
            ("no token, Content-Length over the limit (auth first)", [], MAX_BODY * 4, False,
             401, "unauthorized"),
            ("read-only token", [("Authorization", "Bearer " + self.rtok)], 10000, False, 403,
             "forbidden"),
            ("valid token, Content-Length over the limit",
             [("Authorization", "Bearer " + self.tok)], MAX_BODY * 4, True, 413,
             "body_too_large"),
        ]
        for name, hdrs, n, expect, status, code in cases:
            with self.subTest(case=name):
                c = self.head_only(hdrs, n, expect)
                try:
                    r = c.response(dl(5))
                except NoResponse as e:
                    self.fail("%s: no answer before the body was sent: %s" % (name, e))
                self.assertNotEqual(r.status, 100, "%s: 100 Continue before a refusal" % name)
                self.assert_error(r, status, code, what=name)
                if status == 401:
                    self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), r)
                self.after_refusal(c, n, name)

    SKIP_MAX = 64 * 1024

    def after_refusal(self, c, n, name):
        """http.h: a request answered from on_head is closed after the answer, its body
        never read; docs/OVERLOAD.md: a small announced body (up to 64 KiB) is skipped
        to keep the connection, a larger one closes it. A body over 64 KiB must close.
        A smaller one may close; if the connection stays, the announced body (which
        holds a request line) must be skipped whole: the request after it is the one
        answered, the one inside it never is."""
        if n > self.SKIP_MAX:
            self.assert_closed(c, name + " (refused on the head, %d-byte body never sent)" % n)
            return
        if c.closed_within(0.5):
            self.assertEqual(c.buf, b"", "%s: bytes after the answer: %.300r" % (name, c.buf))
            return
        inner = req("GET", "/api/v1/smuggled")
        c.send(inner + b" " * (n - len(inner)))
        c.send(GET_HEALTH)
        r = c.response(dl(5))
        self.assertEqual(r.status, 200, "%s: connection kept after the refusal, then the %d "
                         "announced body bytes (holding a request) and GET /health: %r"
                         % (name, n, r))
        self.assertIn(b"status", r.body, r)

    def test_valid_token_with_expect(self):
        body = packet("auth-1", 2)
        c = self.head_only([("Authorization", "Bearer " + self.tok)], len(body), expect=True)
        r = c.response(dl(5))
        self.assertEqual(r.status, 100, "want 100 Continue for an authorised head: %r" % r)
        c.send(body)
        self.assert_accepted(c.response(), "auth-1", 2, "authorised POST after 100")


# ---------------------------------------------------------------------------- timeouts

IDLE_S = 2


class TimeoutTest(HttpCase):

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(*BASE_ARGS, "--idle-timeout-s", str(IDLE_S))

    def closed_or_408(self, c, t0, what, bound):
        """Wait for the close (an optional 408 JSON answer first); -> seconds it took."""
        closed = c.closed_within(bound)
        took = time.monotonic() - t0
        self.assertTrue(closed, "%s: still open after %.1fs (--idle-timeout-s %d); got %.200r"
                        % (what, took, IDLE_S, c.buf))
        if c.buf:
            self.assertTrue(c.buf.startswith(b"HTTP/1.1 408"), "%s: %.300r" % (what, c.buf))
            self.assert_error(RawConn.from_bytes(c.buf).response(1), 408, what=what)
        return took

    def test_half_head(self):
        c = self.conn(self.d, timeout=dl(15))
        t0 = time.monotonic()
        c.send(b"POST /api/v1/logs HTTP/1.1\r\nHost: a\r\nContent-Ty")
        took = self.closed_or_408(c, t0, "half a head", IDLE_S + dl(4))
        self.assertGreaterEqual(took, IDLE_S * 0.5, "closed after %.2fs, before the timeout" % took)

    def test_stalled_body(self):
        c = self.conn(self.d, timeout=dl(15))
        t0 = time.monotonic()
        c.send(req("POST", LOGS, JSON_CT, content_length=1000) + b'{"messages":[')
        self.closed_or_408(c, t0, "a body that stops", IDLE_S + dl(6))

    def test_silent_connection_closed(self):
        c = self.conn(self.d, timeout=dl(15))
        t0 = time.monotonic()
        closed = c.closed_within(IDLE_S + dl(4))
        self.assertTrue(closed, "a connection that sends nothing is still open after %.1fs"
                        % (time.monotonic() - t0))
        self.assertFalse(c.buf.startswith(b"HTTP/1.1 2"), c.buf)

    def test_idle_keepalive_closed(self):
        c = self.conn(self.d, timeout=dl(15))
        c.send(GET_HEALTH)
        self.assertEqual(c.response().status, 200)
        t0 = time.monotonic()
        closed = c.closed_within(IDLE_S + dl(4))
        took = time.monotonic() - t0
        self.assertTrue(closed, "idle keep-alive connection open after %.1fs" % took)
        self.assertEqual(c.buf, b"", "an idle keep-alive close sends nothing: %.200r" % c.buf)
        self.assertGreaterEqual(took, IDLE_S * 0.5, "closed %.2fs after the answer" % took)

    def test_slowloris(self):
        """One header byte every 0.5 s: the head deadline closes it although bytes keep
        coming (an idle timer reset by each byte would not)."""
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=dl(5))
        self.addCleanup(s.close)
        t0 = time.monotonic()
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        bound = IDLE_S + dl(4)
        got, how = b"", None
        while time.monotonic() - t0 < bound:
            r, _, _ = select.select([s], [], [], 0.5)
            if r:
                try:
                    chunk = s.recv(4096)
                except (ConnectionResetError, OSError):
                    how = "reset"
                    break
                if not chunk:
                    how = "eof"
                    break
                got += chunk
            try:
                s.send(b"a")
            except (BrokenPipeError, ConnectionResetError):
                how = "send failed"
                break
        took = time.monotonic() - t0
        self.assertIsNotNone(how, "slowloris connection still open after %.1fs of one byte per "
                             "0.5 s (--idle-timeout-s %d); got %.200r" % (took, IDLE_S, got))
        self.assertFalse(got.startswith(b"HTTP/1.1 2"), got)
        if got:
            self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)
        # still serving
        self.assertEqual(http_request(self.d.port, "GET", "/health").status, 200)


# ---------------------------------------------------------------------------- half-closed, non-reading

class HalfClosedTest(HttpCase):

    def test_answer_after_shut_wr(self):
        d = self.start_daemon(*BASE_ARGS)
        for name, data, check in (
                ("GET /health", GET_HEALTH, lambda r: self.assertEqual(r.status, 200, r)),
                ("POST", post("hc-1", 2), lambda r: self.assert_accepted(r, "hc-1", 2, "SHUT_WR")),
                ("two pipelined", post("hc-2", 1) + GET_HEALTH, None)):
            with self.subTest(case=name):
                c = self.conn(d)
                c.send(data)
                c.shutdown_write()
                try:
                    r = c.response(dl(5))
                except NoResponse as e:
                    self.fail("%s then SHUT_WR: no answer: %s" % (name, e))
                if check:
                    check(r)
                else:
                    self.assert_accepted(r, "hc-2", 1, "first of two then SHUT_WR")
                    self.assertEqual(c.response(dl(5)).status, 200, "second of two then SHUT_WR")
                self.assertTrue(c.closed_within(dl(5)), "%s: not closed after the client's EOF"
                                % name)


class NonReadingClientTest(HttpCase):

    """Pipelined GET /health requests from a client that never reads an answer:
    answers cannot be sent, so the server must stop reading that connection. Up to
    256 MiB are offered; a server that keeps reading (and buffering requests or
    answers) passes the 200 MiB RSS bound long before that."""
    RSS_BOUND_MIB = 200
    SEND_MAX = 256 << 20

    def test_client_that_never_reads(self):
        d = self.start_daemon(*BASE_ARGS)
        pid = d.proc.pid
        base = rss_mib(pid)
        one = req("GET", "/health")
        block = one * (65536 // len(one))
        hog = socket.create_connection(("127.0.0.1", d.port), timeout=dl(5))
        self.addCleanup(hog.close)
        hog.setblocking(False)
        sent, last_progress, t0 = 0, time.monotonic(), time.monotonic()
        peak, served, errors = base, 0, []
        pos = 0
        next_probe = t0 + 0.5
        while sent < self.SEND_MAX and time.monotonic() - t0 < dl(25):
            try:
                n = hog.send(block[pos:] if pos else block)
                pos = (pos + n) % len(block)
                sent += n
                last_progress = time.monotonic()
            except BlockingIOError:
                select.select([], [hog], [], 0.1)
            except (BrokenPipeError, ConnectionResetError) as e:
                errors.append(repr(e))
                break
            now = time.monotonic()
            if now >= next_probe:
                next_probe = now + 0.5
                peak = max(peak, rss_mib(pid))
                try:  # another client is served meanwhile
                    r = http_request(d.port, "GET", "/health", timeout=dl(5))
                    served += r.status == 200
                    if r.status != 200:
                        errors.append("health %d" % r.status)
                except OSError as e:
                    errors.append("health: %r" % e)
                if now - last_progress > 3:  # not read any more: backpressure works
                    break
        peak = max(peak, rss_mib(pid), hwm_mib(pid))
        sys.stderr.write("[conformance] non-reading client: sent %.1f MiB of pipelined GETs in "
                         "%.1fs; RSS %.1f MiB at start, peak %.1f MiB; other clients served %d; "
                         "errors %s\n" % (sent / 2**20, time.monotonic() - t0, base, peak, served,
                                          errors[:5]))
        self.assertTrue(d.proc.running(), "logdistd died")
        if not SANITIZED:  # ASan's shadow memory and quarantine: RSS is only reported
            self.assertLess(peak, self.RSS_BOUND_MIB, "RSS grew to %.1f MiB for a client that "
                            "never reads (sent %.1f MiB)" % (peak, sent / 2**20))
        self.assertGreater(served, 0, "no other client was served meanwhile: %s" % errors[:5])
        self.assertFalse([e for e in errors if e.startswith("health")],
                         "other clients refused meanwhile: %s" % errors[:5])
        hog.close()
        self.assertEqual(http_request(d.port, "GET", "/health").status, 200)


# ---------------------------------------------------------------------------- connection limits

class ConnectionLimitTest(HttpCase):

    def silent(self, d, n):
        out = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=dl(5))
            self.addCleanup(s.close)
            out.append(s)
        time.sleep(0.5)  # accepted by now (they send nothing: counted from accept)
        return out

    def refused_503(self, d, what):
        c = self.conn(d)
        try:
            c.send(post("mc-1", 1))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.response(dl(5))
        except NoResponse as e:
            self.fail("%s: no 503 answer: %s" % (what, e))
        j = self.assert_error(r, 503, what=what)
        self.assertEqual(r.headers.get("connection", "").lower(), "close", r)
        self.assert_closed(c, what)
        return r, j

    def served_again(self, d, what):
        wait_until(lambda: http_request(d.port, "GET", "/health", timeout=dl(3)).status == 200,
                   dl(10), what, interval=0.1, ignore=(OSError,))

    def test_max_connections_counts_silent_connections(self):
        d = self.start_daemon(*BASE_ARGS, "--max-connections", "5")
        held = self.silent(d, 5)
        r, j = self.refused_503(d, "6th connection, 5 silent ones open (--max-connections 5)")
        self.assertEqual(j["error"], "too_many_connections", j)
        self.assertEqual(j.get("retry_after_s"), 1, j)
        self.assertEqual(r.headers.get("retry-after"), "1", r)
        for s in held:
            s.close()
        self.served_again(d, "served once the silent connections closed")
        m = get_json(d.port, "/api/v1/metrics")
        self.assertGreaterEqual(m["connections_refused"], 1, m)
        self.assertEqual(m["records_accepted"], 0, m)

    def test_max_connections_per_ip(self):
        require_option("--max-connections-per-ip")
        d = self.start_daemon(*BASE_ARGS, "--max-connections-per-ip", "2")
        held = self.silent(d, 2)
        self.refused_503(d, "3rd connection from 127.0.0.1 (--max-connections-per-ip 2)")
        held[0].close()
        self.served_again(d, "served once one connection closed")
        held[1].close()


# ---------------------------------------------------------------------------- TLS

class TlsTest(HttpCase):
    PKI = None

    @classmethod
    def setUpClass(cls):
        from security_util import Pki
        cls.pki_dir = tempfile.mkdtemp(prefix="logdist-conf-pki-")
        pki = Pki(cls.pki_dir)
        ca = pki.make_ca("ca")
        cls.PKI = {"ca": ca, "server": pki.issue("server", ca, "127.0.0.1", san="IP:127.0.0.1")}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        srv = self.PKI["server"]
        self.d = self.start_daemon("--max-body-bytes", "4MiB", "--tls-cert", srv[0],
                                   "--tls-key", srv[1])

    def ctx(self, v=None):
        from security_util import client_ctx
        return client_ctx(self.PKI["ca"][0], min_version=v, max_version=v)

    def test_tls12_and_tls13_post_keepalive_pipelining(self):
        for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            with self.subTest(version=name):
                c = self.conn(self.d, ssl_ctx=self.ctx(v))
                self.assertEqual(c.sock.version(), name)
                tag = name.replace(".", "")
                c.send(post(tag + "-a", 2))
                self.assert_accepted(c.response(), tag + "-a", 2, name)
                c.send(GET_HEALTH)  # keep-alive over TLS
                self.assertEqual(c.response().status, 200)
                c.send(post(tag + "-b", 1) + post(tag + "-c", 3))  # pipelined in one record
                self.assert_accepted(c.response(), tag + "-b", 1, name + " pipelined 1")
                self.assert_accepted(c.response(), tag + "-c", 3, name + " pipelined 2")
                self.assert_open(c, name)

    def test_tls_big_body(self):
        n = 30000  # ~1.2 MiB packet: many TLS records, partial reads
        body = packet("tls-big", n)
        self.assertGreater(len(body), 1 << 20)
        c = self.conn(self.d, timeout=dl(20), ssl_ctx=self.ctx())
        c.send(req("POST", LOGS, JSON_CT, body))
        self.assert_accepted(c.response(dl(20)), "tls-big", n, "1 MiB over TLS")
        c.send(req("POST", LOGS, JSON_CT + [("Transfer-Encoding", "chunked")],
                   content_length=False) + chunked([body[i:i + 70000]
                                                    for i in range(0, len(body), 70000)]))
        self.assert_accepted(c.response(dl(20)), "tls-big", n, "1 MiB chunked over TLS")

    def test_old_tls_refused(self):
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=str(v)):
                from security_util import client_ctx
                old = client_ctx(self.PKI["ca"][0], min_version=v, max_version=v)
                try:
                    c = RawConn.open(self.d.port, dl(5), old)
                except ssl.SSLError as e:
                    self.assertIn("ALERT", str(e).upper(), "not the server's refusal: %s" % e)
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    continue
                c.close()
                self.fail("a %s handshake succeeded" % v)

    def test_plain_http_on_tls_port(self):
        c = self.conn(self.d)
        try:
            c.send(GET_HEALTH)
        except (BrokenPipeError, ConnectionResetError):
            return
        c.closed_within(dl(4))
        self.assertFalse(c.buf.startswith(b"HTTP/1.1 2") or c.buf.startswith(b"HTTP/1.0 2"),
                         "plain HTTP served on the TLS port: %.200r" % c.buf)
        self.assertTrue(c.eof, "plain HTTP on the TLS port: connection left open")

    def test_tls_expect_and_half_close(self):
        body = packet("tls-ex", 2)
        c = self.conn(self.d, ssl_ctx=self.ctx())
        c.send(req("POST", LOGS, JSON_CT + [("Expect", "100-continue")], content_length=len(body)))
        r = c.response(dl(5))
        self.assertEqual(r.status, 100, r)
        c.send(body)
        self.assert_accepted(c.response(), "tls-ex", 2, "TLS after 100")


if __name__ == "__main__":
    unittest.main(verbosity=2)
