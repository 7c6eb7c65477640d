"""systemd readiness notifications (sd_notify, Type=notify in packaging/logdistd.service.in)
without systemd: the test owns a unix datagram socket, points NOTIFY_SOCKET at it and reads
what logdistd sends.

- READY=1 comes after the WAL replay (its log line is already written) and once the
  listener is bound (a connection made right after READY=1 is served);
- a SIGHUP reload sends RELOADING=1, then READY=1 with the reload's outcome in STATUS;
  a config that does not load is reported in STATUS, the daemon keeps running;
- SIGTERM sends STOPPING=1, and the daemon still exits 0 after its drain;
- a NOTIFY_SOCKET nobody listens on changes nothing (the daemon starts and serves)."""
import json
import os
import signal
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, LogdistTestCase, dl, get_json, http_request, wait_until  # noqa: E402


def packet(pid, n):
    return ('{"packet_id":"%s","messages":[%s]}' % (
        pid, ",".join('{"id":"%s-%d","message":"m%d"}' % (pid, i, i) for i in range(n)))).encode()


class NotifySocket:
    """A unix datagram socket in the test's temp dir; next() returns one message as a dict
    of its KEY=VALUE lines."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def next(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError("no sd_notify message within %.1fs" % timeout) from None
        fields = {}
        for line in data.decode("utf-8").split("\n"):
            if line:
                k, _, v = line.partition("=")
                fields[k] = v
        return fields

    def assert_quiet(self, seconds):
        """Nothing more arrives within `seconds` (the daemon sent exactly what was read)."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        raise AssertionError("unexpected sd_notify message %r" % data)

    def close(self):
        self.sock.close()


class NotifyTest(LogdistTestCase):

    def notify_socket(self):
        s = NotifySocket(self.path("notify.sock"))
        self.addCleanup(s.close)
        return s

    def start_notified(self, ns, *args):
        """Start logdistd with NOTIFY_SOCKET; returns (proc, argv). Does not wait for the
        listening line: the test waits for READY=1 instead."""
        argv = self.daemon_argv(*args)
        return self.spawn("logdistd", argv, env={"NOTIFY_SOCKET": ns.path}), argv

    def test_ready_after_replay_then_reload_and_stop(self):
        data = self.data_dir()
        cfg_path = self.path("logdistd.json")
        with open(cfg_path, "w") as f:
            json.dump({"log_level": "info"}, f)
        # 1. records made durable and never delivered (no analyzer), then a crash
        d = self.start_daemon("--durability", "all", "--data-dir", data)
        for i in range(3):
            r = d.post_logs(packet("p%d" % i, 10))
            self.assertEqual(r.status, 202, r.body)
        d.proc.kill()

        # 2. restart under "systemd": READY=1 only after the replay and the listeners
        ns = self.notify_socket()
        p, _ = self.start_notified(ns, "--durability", "all", "--data-dir", data,
                                   "--config", cfg_path)
        msg = ns.next(dl(15))
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertNotIn("RELOADING", msg)
        self.assertIn("listening on 127.0.0.1:", msg.get("STATUS", ""))
        # the replay was logged before READY=1 was sent
        self.assertIn("replaying 30 unacknowledged durable records", p.stderr_text())
        # the listener is bound: the port in STATUS is the one of the listening line,
        # and it answers at once
        line = p.first_line(dl(5))
        port = int(line["listening"].rsplit(":", 1)[1])
        self.assertIn("127.0.0.1:%d " % port, msg["STATUS"])
        r = http_request(port, "GET", "/health")
        self.assertIn(r.status, (200, 503), r.body)  # 503: no analyzer is healthy
        self.assertEqual(get_json(port, "/api/v1/metrics")["queued_records"], 30)

        # 3. SIGHUP: RELOADING=1, then READY=1 with the outcome
        p.signal(signal.SIGHUP)
        msg = ns.next(dl(10))
        self.assertEqual(msg.get("RELOADING"), "1", msg)
        msg = ns.next(dl(10))
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(msg.get("STATUS"), "running; configuration reloaded")

        # 4. a config file that does not parse: still RELOADING=1 / READY=1, the failure
        # in STATUS, and the daemon keeps serving
        with open(cfg_path, "w") as f:
            f.write('{"log_level": ')
        p.signal(signal.SIGHUP)
        self.assertEqual(ns.next(dl(10)).get("RELOADING"), "1")
        msg = ns.next(dl(10))
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertIn("the last reload failed", msg.get("STATUS", ""))
        self.assertTrue(p.running())
        self.assertEqual(get_json(port, "/api/v1/metrics")["queued_records"], 30)

        # 5. SIGTERM: STOPPING=1, then the usual drain and exit 0
        p.signal(signal.SIGTERM)
        msg = ns.next(dl(10))
        self.assertEqual(msg.get("STOPPING"), "1", msg)
        self.assertEqual(p.wait(dl(30)), 0, p.stderr_text()[-2000:])
        ns.assert_quiet(0.2)

    def test_ready_once_per_start(self):
        """Exactly one READY=1 at start-up (no reload, no stop in between)."""
        ns = self.notify_socket()
        p, _ = self.start_notified(ns, "--durability", "none")
        msg = ns.next(dl(15))
        self.assertEqual(msg.get("READY"), "1", msg)
        ns.assert_quiet(0.5)
        p.first_line(dl(5))

    def test_notify_socket_without_listener(self):
        """sd_notify fails (nobody bound the path): logdistd starts, serves, stops as usual."""
        d_argv = self.daemon_argv("--durability", "none")
        p = self.spawn("logdistd", d_argv,
                       env={"NOTIFY_SOCKET": self.path("nobody-here.sock")})
        line = p.first_line(dl(10))
        port = int(line["listening"].rsplit(":", 1)[1])
        r = http_request(port, "POST", "/api/v1/logs", packet("q", 5),
                         {"Content-Type": "application/json"})
        self.assertEqual(r.status, 202, r.body)
        p.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in p.stderr_text(), dl(10),
                   "the reload's log line")
        self.assertTrue(p.running())


if __name__ == "__main__":
    unittest.main()
