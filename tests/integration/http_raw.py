"""Raw-socket HTTP/1.1 client helpers for the conformance and pre-auth memory tests
(Python 3 stdlib only). Nothing here trusts the server: every read has a deadline,
responses are parsed byte for byte (no http.client normalisation), and "the
server closed the connection" is something a test can assert.

RawConn wraps a connected socket (plain or ssl) with a receive buffer:
    c = RawConn.open(port)                # 127.0.0.1 only
    c.send(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    r = c.response()                      # RawResp: status, headers, body, raw
    c.closed_within(3.0)                  # True once EOF/RST arrives
"""
import json
import select
import socket
import time

HOST = "127.0.0.1"


class NoResponse(AssertionError):
    """The server closed the connection or stayed silent instead of answering."""


class RawResp:
    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.header_list = headers              # [(name as sent, value)]
        self.headers = {}                       # lower-case name -> last value
        for k, v in headers:
            self.headers[k.lower()] = v
        self.body = body
        self.raw = raw

    def header_count(self, name):
        return sum(1 for k, _ in self.header_list if k.lower() == name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "RawResp(%s %d, %r, %.300r)" % (self.version, self.status, self.header_list,
                                               self.body)


def req(method, target, headers=(), body=b"", version="HTTP/1.1", host=True,
        content_length=None):
    """Request bytes. headers: [(name, value)] written as given (values may be bytes).
    content_length: True = add Content-Length of body; an int/str = that value;
    None = add it only when there is a body."""
    out = [("%s %s %s\r\n" % (method, target, version)).encode("latin-1")]
    if host:
        out.append(b"Host: 127.0.0.1\r\n")
    for k, v in headers:
        k = k.encode("latin-1") if isinstance(k, str) else k
        v = v.encode("latin-1") if isinstance(v, str) else v
        out.append(k + b": " + v + b"\r\n")
    if isinstance(body, str):
        body = body.encode()
    if content_length is True or (content_length is None and body):
        out.append(b"Content-Length: %d\r\n" % len(body))
    elif content_length not in (None, False):
        out.append(b"Content-Length: " + str(content_length).encode() + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out) + body


def chunked(parts, ext=None, trailer=b""):
    """A chunked body from byte strings; ext: chunk extension added to every size line."""
    out = []
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        out.append(b"%x" % len(p) + ((";" + ext).encode() if ext else b"") + b"\r\n" + p +
                   b"\r\n")
    out.append(b"0\r\n" + trailer + b"\r\n")
    return b"".join(out)


def read_response(sock):
    """One HTTP response from a plain socket: (status, lower-case headers, body).
    For tests that drive a socket themselves; RawConn.response() is the strict
    parser."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:n]


class RawConn:
    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = b""
        self.timeout = timeout
        self.eof = False
        self.reset = False
        if sock is not None:
            sock.settimeout(timeout)

    @classmethod
    def from_bytes(cls, data):
        """Parse responses from bytes already received (no socket)."""
        c = cls(None)
        c.buf, c.eof = data, True
        return c

    @classmethod
    def open(cls, port, timeout=10.0, ssl_ctx=None):
        s = socket.create_connection((HOST, port), timeout=timeout)
        if ssl_ctx is not None:
            try:
                s = ssl_ctx.wrap_socket(s, server_hostname=HOST)
            except BaseException:
                s.close()
                raise
        return cls(s, timeout)

    def close(self):
        if self.sock is None:
            return
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline):
        """Read once more into buf. False on EOF/reset/deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.eof = self.reset = True
            return False
        except OSError as e:  # ssl errors on a reset TLS connection
            if "timed out" in str(e):
                return False
            self.eof = self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def head(self, timeout=None):
        """Read one response head (status line + headers) from the buffer, leaving the
        body unread. -> (version, status, reason, [(name, value)], raw head bytes)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise NoResponse("no complete response head (%s); got %.400r" % (
                    "reset" if self.reset else "closed" if self.eof else
                    "timed out after %.1fs" % (timeout or self.timeout), self.buf))
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise AssertionError("not an HTTP status line: %r" % lines[0])
        hdrs = []
        for ln in lines[1:]:
            if ":" not in ln:
                raise AssertionError("malformed response header line %r in %r" % (ln, head))
            k, v = ln.split(":", 1)
            hdrs.append((k.strip(), v.strip()))
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", hdrs, head + b"\r\n\r\n"

    def response(self, timeout=None, head_only=False):
        """One complete response. head_only: the answer to a HEAD (no body read).
        An interim 1xx answer is returned like any other (never skipped), so a test
        that did not expect a 100 Continue sees it and can fail."""
        deadline = time.monotonic() + (timeout or self.timeout)
        version, status, reason, hdrs, raw = self.head(timeout)
        h = {k.lower(): v for k, v in hdrs}
        body = b""
        if head_only or 100 <= status < 200 or status in (204, 304):
            return RawResp(version, status, reason, hdrs, body, raw)
        if "chunked" in h.get("transfer-encoding", "").lower():
            body = self._read_chunked(deadline)
        elif "content-length" in h:
            n = int(h["content-length"])
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise NoResponse("body cut: %d of %d bytes (%s)" % (len(self.buf), n, raw))
            body, self.buf = self.buf[:n], self.buf[n:]
        else:  # delimited by close
            while self._fill(deadline):
                pass
            body, self.buf = self.buf, b""
        return RawResp(version, status, reason, hdrs, body, raw + body)

    def _read_chunked(self, deadline):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise NoResponse("chunked response cut")
            line, self.buf = self.buf.split(b"\r\n", 1)
            n = int(line.split(b";")[0], 16)
            while len(self.buf) < n + 2:
                if not self._fill(deadline):
                    raise NoResponse("chunked response cut")
            if n == 0:
                # trailers until an empty line
                while not self.buf.startswith(b"\r\n"):
                    while b"\r\n" not in self.buf:
                        if not self._fill(deadline):
                            raise NoResponse("chunked trailer cut")
                    self.buf = self.buf.split(b"\r\n", 1)[1]
                self.buf = self.buf[2:]
                return body
            body += self.buf[:n]
            self.buf = self.buf[n + 2:]

    def closed_within(self, timeout):
        """True when the server closes (EOF or reset) within `timeout` seconds; bytes
        that arrive meanwhile are kept in self.buf (check it is empty if it must be)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline):
                if self.eof:
                    break
                return False
        return True

    def pending(self, wait=0.3):
        """Whatever arrives within `wait` seconds (without waiting for EOF)."""
        deadline = time.monotonic() + wait
        while self._fill(deadline):
            pass
        return self.buf


# ---------------------------------------------------------------------------- /proc

def proc_status(pid):
    """-> dict of /proc/<pid>/status fields in kB for VmRSS, VmHWM, VmPeak."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("VmRSS", "VmHWM", "VmPeak", "VmSize"):
                out[k] = int(v.split()[0])
    return out


def rss_mib(pid):
    return proc_status(pid)["VmRSS"] / 1024.0


def hwm_mib(pid):
    return proc_status(pid)["VmHWM"] / 1024.0


def wait_readable(socks, timeout):
    if not socks:
        time.sleep(timeout)
        return []
    r, _, _ = select.select(socks, [], [], timeout)
    return r


def raise_nofile(n=4096):
    import resource as _r
    soft, hard = _r.getrlimit(_r.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    if want > soft:
        _r.setrlimit(_r.RLIMIT_NOFILE, (want, hard))


__all__ = ["RawConn", "RawResp", "NoResponse", "req", "chunked", "proc_status", "rss_mib",
           "hwm_mib", "wait_readable", "raise_nofile", "HOST"]
