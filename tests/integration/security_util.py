"""Helpers for test_security.py (Python 3 stdlib only): a throw-away PKI made with
the `openssl` CLI, HTTPS client requests with python's ssl module, and an HTTPS
analyzer (http.server wrapped in ssl, handshake done per connection thread)."""
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Resp, dl


# ---------------------------------------------------------------------------- PKI

def openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + [str(a) for a in args], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode,
                                                          p.stderr.decode(errors="replace")))
    return p.stdout


_REQ_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = %s
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""


class Pki:
    """Certificates in `directory`: CAs (self-signed) and leaf certs signed by them.
    EC P-256 keys: fast to make, and logdistd offers ECDHE-ECDSA suites."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._serial = 0x1000

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _keygen(self, key):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", key)

    def make_ca(self, name, cn=None):
        """-> (cert_path, key_path)"""
        cnf, key, crt = self._p(name + ".cnf"), self._p(name + ".key"), self._p(name + ".pem")
        with open(cnf, "w") as f:
            f.write(_REQ_CNF % (cn or ("logdist test CA " + name)))
        self._keygen(key)
        openssl("req", "-config", cnf, "-new", "-x509", "-key", key, "-out", crt, "-days", "30",
                "-extensions", "v3_ca", "-sha256")
        return crt, key

    def issue(self, name, ca, cn, san=None, usage="serverAuth"):
        """A leaf certificate signed by ca=(cert, key); a new serial each time.
        -> (cert_path, key_path, serial)"""
        self._serial += 1
        serial = self._serial
        cnf, key, csr = self._p(name + ".cnf"), self._p(name + ".key"), self._p(name + ".csr")
        crt, ext = self._p(name + ".pem"), self._p(name + ".ext")
        with open(cnf, "w") as f:
            f.write(_REQ_CNF % cn)
        with open(ext, "w") as f:
            f.write("[v3]\nbasicConstraints = critical,CA:FALSE\n"
                    "keyUsage = critical,digitalSignature\n"
                    "extendedKeyUsage = %s\n"
                    "authorityKeyIdentifier = keyid\n" % usage)
            if san:
                f.write("subjectAltName = %s\n" % san)
        self._keygen(key)
        openssl("req", "-config", cnf, "-new", "-key", key, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial",
                str(serial), "-days", "30", "-sha256", "-extfile", ext, "-extensions", "v3",
                "-out", crt)
        return crt, key, serial


def cert_serial(der):
    """Serial number of a DER certificate, via the openssl CLI."""
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode:
        raise RuntimeError(p.stderr.decode(errors="replace"))
    return int(p.stdout.decode().strip().split("=", 1)[1], 16)


def pem_to_der(path):
    with open(path, "rb") as f:
        return ssl.PEM_cert_to_DER_cert(f.read().decode())


# ---------------------------------------------------------------------------- clients

def client_ctx(cafile, cert=None, key=None, min_version=None, max_version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    if min_version is not None or max_version is not None:
        if (max_version is not None and max_version < ssl.TLSVersion.TLSv1_2):
            # let the client really offer the old version, so the refusal is the server's
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # TLSv1/TLSv1_1 are deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            if min_version is not None:
                ctx.minimum_version = min_version
            if max_version is not None:
                ctx.maximum_version = max_version
    return ctx


def https_conn(port, ctx, timeout=None):
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout or dl(15))


def conn_request(conn, method, path, body=None, headers=None):
    """One request on an existing http.client connection (kept open)."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)


def https_request(port, ctx, method, path, body=None, headers=None, timeout=None):
    conn = https_conn(port, ctx, timeout)
    try:
        return conn_request(conn, method, path, body, headers)
    finally:
        conn.close()


def tls_handshake(port, ctx, timeout=None):
    """Connect and handshake; returns (version, peer cert DER). Raises on failure.
    With TLS 1.3 a server's refusal of the client certificate arrives after the
    client's handshake ends, so also read once: a refused client sees an alert/EOF."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout or dl(10))
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise
    try:
        return s.version(), s.getpeercert(binary_form=True)
    finally:
        s.close()


def tls_roundtrip(port, ctx, request, timeout=None):
    """Handshake, send raw HTTP bytes, return the bytes read until EOF/timeout."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout or dl(10))
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise
    out = b""
    try:
        s.sendall(request)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":", 1)[1]):
                            return out
    finally:
        s.close()
    return out


# ---------------------------------------------------------------------------- HTTPS analyzer

class HttpsAnalyzer:
    """A threaded HTTPS analyzer: POST -> 200 (body recorded), GET /health -> 200.
    The TLS handshake runs in the connection's thread; failures are recorded."""

    def __init__(self, cert, key, client_ca=None, max_version=None):
        self.lock = threading.Lock()
        self.bodies = []
        self.health_gets = 0
        self.handshake_errors = []
        self.client_certs = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if max_version is not None:
            ctx.maximum_version = max_version
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx = ctx
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/health":
                    with outer.lock:
                        outer.health_gets += 1
                    self._reply(200, b'{"status":"ok"}')
                else:
                    self._reply(404, b'{"error":"not_found"}')

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.bodies.append(body)
                self._reply(200, b'{"ok":true}')

        class S(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                request.settimeout(dl(10))
                try:
                    tls = outer.ctx.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with outer.lock:
                        outer.handshake_errors.append(repr(e))
                    return
                try:
                    peer = tls.getpeercert(binary_form=True)
                    if peer:
                        with outer.lock:
                            outer.client_certs.append(peer)
                    self.RequestHandlerClass(tls, client_address, self)
                except (ssl.SSLError, OSError) as e:
                    with outer.lock:
                        outer.handshake_errors.append("after handshake: " + repr(e))
                finally:
                    try:
                        tls.close()
                    except OSError:
                        pass

        self.httpd = S(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.url = "https://127.0.0.1:%d/ingest" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.bodies)

    def errors(self):
        with self.lock:
            return list(self.handshake_errors)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
