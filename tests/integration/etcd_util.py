"""etcd for the cluster tests (Python 3 stdlib only): a real etcd (Debian's
etcd-server, installed by scripts/setup-deps.sh) on 127.0.0.1 ephemeral ports.

- EtcdCluster(tmpdir, members=3): a 3-member cluster (or members=1: one member,
  quicker), each member a harness.Proc with its data dir in `tmpdir`, started
  together and waited for (every member's GET /health says "true") within a
  bound; stopped by pid only (stop_member / stop / the harness registry at exit).
- A member stopped with stop_member(i) comes back with start_member(i) on the
  same ports and data dir (it rejoins the cluster it left).
- kv_put / kv_get / kv_range talk to the v3 JSON gateway (keys and values
  base64, as logdistd does), for tests that look at or change etcd directly.

`python3 etcd_util.py selftest` starts one member and a 3-member cluster, writes
through one member and reads through another, and stops them.
"""
import base64
import json
import os
import shutil
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s):
    return base64.b64decode(s).decode("utf-8", "replace")


def _opener(ssl_ctx=None):
    handlers = [urllib.request.ProxyHandler({})]
    if ssl_ctx is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl_ctx))
    return urllib.request.build_opener(*handlers)


def post_json(url, body, timeout=5, ssl_ctx=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with _opener(ssl_ctx).open(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def get_json(url, timeout=2, ssl_ctx=None):
    with _opener(ssl_ctx).open(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


class EtcdCluster:
    """A running etcd cluster of `members` members on loopback ephemeral ports."""

    def __init__(self, tmpdir, members=3, name="etcd", spawn=None, start_timeout=30, extra=(),
                 tls=None):
        if not os.access(ETCD, os.X_OK):
            raise RuntimeError("etcd not found: scripts/setup-deps.sh installs etcd-server")
        self.tmpdir = tmpdir
        self.name = name
        self.spawn = spawn  # LogdistTestCase.spawn (tearDown stops them), else harness.Proc
        self.extra = list(extra)  # more etcd flags (e.g. --auth-token-ttl)
        # tls: {"ca", "cert", "key", "client_cert", "client_key"} -> https:// client URLs,
        # client certificates required (--client-cert-auth); peers stay plain
        self.tls = tls
        self.ssl_ctx = None
        if tls:
            import ssl
            self.ssl_ctx = ssl.create_default_context(cafile=tls["ca"])
            self.ssl_ctx.load_cert_chain(tls["client_cert"], tls["client_key"])
            self.extra += ["--cert-file", tls["cert"], "--key-file", tls["key"],
                           "--trusted-ca-file", tls["ca"], "--client-cert-auth"]
        self.members = []
        for i in range(members):
            self.members.append({"name": "%s%d" % (name, i), "client": harness.free_port(),
                                 "peer": harness.free_port(),
                                 "dir": os.path.join(tmpdir, "%s%d.data" % (name, i)),
                                 "proc": None})
        self.initial = ",".join("%s=http://127.0.0.1:%d" % (m["name"], m["peer"])
                                for m in self.members)
        for i in range(members):
            self.start_member(i, wait=False)
        self.wait_healthy(start_timeout)

    def url(self, i):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.members[i]["client"])

    @property
    def endpoints(self):
        """Every member's client URL, comma-separated (--cluster-etcd)."""
        return ",".join(self.url(i) for i in range(len(self.members)))

    def start_member(self, i, wait=True, timeout=30):
        m = self.members[i]
        argv = [ETCD, "--name", m["name"], "--data-dir", m["dir"],
                "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
                "--listen-peer-urls", "http://127.0.0.1:%d" % m["peer"],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % m["peer"],
                "--initial-cluster", self.initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "logdist-test-%d" % os.getpid(),
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--log-level", "warn", "--logger", "zap"] + self.extra
        if self.spawn:
            m["proc"] = self.spawn(m["name"], argv)
        else:
            m["proc"] = harness.Proc(m["name"], argv, self.tmpdir)
        m["proc"].term_grace = 10
        if wait:
            harness.wait_until(lambda: self.member_healthy(i), timeout,
                               "etcd member %s healthy" % m["name"], interval=0.1)

    def member_healthy(self, i):
        try:
            return get_json(self.url(i) + "/health", timeout=1,
                            ssl_ctx=self.ssl_ctx).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout=30):
        for i, m in enumerate(self.members):
            if m["proc"] is not None and m["proc"].running():
                harness.wait_until(lambda i=i: self.member_healthy(i), timeout,
                                   "etcd member %s healthy" % m["name"], interval=0.1)

    def stop_member(self, i):
        """SIGTERM (then SIGKILL after 10 s) to member i, by its pid."""
        p = self.members[i]["proc"]
        if p is not None:
            p.stop(10)

    def kill_member(self, i):
        p = self.members[i]["proc"]
        if p is not None:
            p.kill()

    def stop(self):
        for i in range(len(self.members)):
            self.stop_member(i)

    def ctl(self, *args, i=0):
        """Run etcdctl (v3 API) against member i; its stdout (raises on failure)."""
        import subprocess
        r = subprocess.run([ETCDCTL, "--endpoints", self.url(i)] + list(args),
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        if r.returncode:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    # -- the v3 JSON gateway
    def kv_put(self, key, value, i=0):
        return post_json(self.url(i) + "/v3/kv/put", {"key": b64(key), "value": b64(value)},
                         ssl_ctx=self.ssl_ctx)

    def kv_get(self, key, i=0):
        r = post_json(self.url(i) + "/v3/kv/range", {"key": b64(key)}, ssl_ctx=self.ssl_ctx)
        kvs = r.get("kvs") or []
        return unb64(kvs[0].get("value", "")) if kvs else None

    def kv_range(self, prefix, i=0):
        """{key: value} of every key under prefix."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = post_json(self.url(i) + "/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)},
                      ssl_ctx=self.ssl_ctx)
        return {unb64(kv["key"]): unb64(kv.get("value", "")) for kv in r.get("kvs") or []}


def _selftest():
    import tempfile
    tmp = tempfile.mkdtemp(prefix="etcd-util-")
    try:
        t0 = time.monotonic()
        one = EtcdCluster(tmp, members=1, name="solo")
        one.kv_put("/x/a", "1")
        assert one.kv_get("/x/a") == "1"
        one.stop()
        t1 = time.monotonic()
        three = EtcdCluster(tmp, members=3, name="trio")
        three.kv_put("/x/b", "2", i=0)
        got = harness.wait_until(lambda: three.kv_get("/x/b", i=2), 5, "read through member 2")
        assert got == "2", got
        assert three.kv_range("/x/") == {"/x/b": "2"}
        three.stop_member(0)  # a majority of 2 still answers
        three.kv_put("/x/c", "3", i=1)
        three.start_member(0)
        harness.wait_until(lambda: three.kv_get("/x/c", i=0) == "3", 10, "member 0 caught up")
        three.stop()
        print("etcd_util selftest ok: 1 member up in %.1fs, 3 members in %.1fs"
              % (t1 - t0, time.monotonic() - t1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        _selftest()
    else:
        sys.exit("usage: etcd_util.py selftest")
