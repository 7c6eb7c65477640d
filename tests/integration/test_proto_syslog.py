"""The syslog receiver (--syslog-listen udp|tcp|tls://): real senders (util-linux
logger, rsyslog omfwd, syslog-ng), every message at the analyzers with shares by
weight and the mapped fields checked; limits (oversize, bad frames), overload (TCP
backpressure, counted UDP drops) and kill -9 durability of critical records."""
import calendar
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durability_util import DurabilityCase  # noqa: E402
from harness import Daemon, dl, split_batch_records, wait_until  # noqa: E402
from security_util import Pki, client_ctx, https_request  # noqa: E402
from syslog_util import SyslogCase, free_udp_port, hostport  # noqa: E402


def ts_epoch(ts):
    """Seconds since the epoch of our RFC 3339 UTC timestamps."""
    base, frac = (ts[:-1].split(".") + ["0"])[:2]
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)


def by_message(records, strip=False):
    """records by message; strip: rsyslog's RFC 5424 template keeps the space that
    followed the 3164 TAG's colon in MSG (%msg% is " text"), which we keep too."""
    out = {}
    for r in records:
        out.setdefault(r["message"].strip() if strip else r["message"], []).append(r)
    return out


class LoggerTest(SyslogCase):
    """util-linux logger over UDP, TCP (LF framing) and TCP octet counting."""

    def test_logger_udp_tcp_octet(self):
        d = self.start_syslog("udp", "tcp")
        udp, tcp = self.urls["udp"][0], self.urls["tcp"][0]
        n = 25
        groups = {
            # name: (url, logger args, pri, format)
            "u5424": (udp, ["--rfc5424", "-t", "app5424", "-p", "local0.err", "--id=4242",
                            "--msgid", "MID7", "--sd-id", "zoo@32473",
                            "--sd-param", 'tiger="hungry \\"very\\""'], 16 * 8 + 3, "rfc5424"),
            "u3164": (udp, ["--rfc3164", "-t", "app3164", "-p", "daemon.warning"], 3 * 8 + 4,
                      "rfc3164"),
            "tlf": (tcp, ["--rfc5424", "-t", "applf", "-p", "user.info"], 8 + 6, "rfc5424"),
            "toct": (tcp, ["--octet-count", "--rfc3164", "-t", "appoct", "-p", "mail.crit"], 2 * 8 + 2,
                     "rfc3164"),
        }
        t0 = time.time()
        for name, (url, args, _pri, _fmt) in groups.items():
            lines = "".join("%s-msg-%d é ü\n" % (name, i) for i in range(n))
            self.logger(url, *args, stdin=lines.encode())
        recs = self.wait_records(d, 4 * n)
        msgs = by_message(recs)
        levels = {3: "ERROR", 4: "WARN", 6: "INFO", 2: "FATAL"}
        facilities = {16: "local0", 3: "daemon", 1: "user", 2: "mail"}
        sev_names = {3: "err", 4: "warning", 6: "info", 2: "crit"}
        for name, (url, args, pri, fmt) in groups.items():
            tag = args[args.index("-t") + 1]
            for i in range(n):
                text = "%s-msg-%d é ü" % (name, i)
                self.assertIn(text, msgs, "message %r missing" % text)
                self.assertEqual(len(msgs[text]), 1, text)
                r = msgs[text][0]
                md = r["metadata"]
                self.assertEqual(r["type"], "syslog")
                self.assertEqual(r["source"], tag)
                self.assertEqual(r["level"], levels[pri & 7])
                self.assertEqual(md["pri"], pri)
                self.assertEqual(md["facility"], facilities[pri >> 3])
                self.assertEqual(md["facility_code"], pri >> 3)
                self.assertEqual(md["severity"], sev_names[pri & 7])
                self.assertEqual(md["format"], fmt)
                self.assertEqual(md["transport"], url.split("://")[0])
                self.assertTrue(md["peer"].startswith("127.0.0.1:"), md)
                self.assertEqual(md["hostname"].split(".")[0], socket.gethostname().split(".")[0])
                # logger stamps local time; 3164 has no zone (taken as UTC), 5424 has one
                slack = 60 if fmt == "rfc5424" else 15 * 3600
                self.assertLess(abs(ts_epoch(r["timestamp"]) - t0), slack, r["timestamp"])
                if name == "u5424":
                    self.assertEqual(md["procid"], "4242")
                    self.assertEqual(md["msgid"], "MID7")
                    self.assertEqual(md["sd"]["zoo@32473"]["tiger"], 'hungry "very"')
                    # logger adds its own timeQuality element
                    self.assertIn("timeQuality", md["sd"])
        m, _ = self.syslog_metrics(d)
        self.assertEqual(m["records_accepted"], 4 * n)
        self.assertEqual(m["messages"], 4 * n)
        self.assertEqual(m["decode_errors"], 0)
        self.assertGreaterEqual(m["connections"], 1 + 2)  # the UDP socket + logger connections


class RsyslogTest(SyslogCase):
    """rsyslogd's omfwd: octet-counted RFC 5424 and LF-framed RSYSLOG_ForwardFormat
    over TCP, and RFC 5425 TLS with a client certificate (rsyslog-openssl)."""

    def feed(self, port, tag, n, pri=11):
        self.send_udp_lines(port, ["<%d>Dec  6 10:00:00 rshost %s[77]: %s-%d" % (pri, tag, tag, i)
                                   for i in range(n)])

    def test_rsyslog_omfwd_octet_and_lf(self):
        d = self.start_syslog("tcp")
        host, port = hostport(self.urls["tcp"][0])
        in_port = free_udp_port()
        action = (
            'action(type="omfwd" target="%s" port="%d" protocol="tcp" '
            'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n'
            '  action(type="omfwd" target="%s" port="%d" protocol="tcp" '
            'template="RSYSLOG_ForwardFormat")' % (host, port, host, port))
        self.start_rsyslog("rsyslog", action, in_port)
        n = 40
        self.feed(in_port, "rsapp", n)
        recs = self.wait_records(d, 2 * n)
        msgs = by_message(recs, strip=True)
        for i in range(n):
            got = msgs.get("rsapp-%d" % i, [])
            self.assertEqual(sorted(r["metadata"]["format"] for r in got), ["rfc3164", "rfc5424"],
                             "rsapp-%d: %s" % (i, got))
            for r in got:
                self.assertEqual(r["source"], "rsapp")
                self.assertEqual(r["level"], "ERROR")
                self.assertEqual(r["metadata"]["hostname"], "rshost")
                self.assertEqual(r["metadata"]["procid"], "77")
                self.assertEqual(r["metadata"]["pri"], 11)
                self.assertEqual(r["metadata"]["transport"], "tcp")
                self.assertTrue(r["timestamp"][5:].startswith("12-06T10:00:00"), r["timestamp"])

    def test_rsyslog_tls_client_cert(self):
        pki = Pki(self.path("pki"))
        ca = pki.make_ca("ca")
        srv = pki.issue("server", ca, "localhost", san="DNS:localhost,IP:127.0.0.1")
        cli = pki.issue("client", ca, "rsyslog-client", usage="clientAuth")
        d = self.start_syslog("tls", extra=["--tls-cert", srv[0], "--tls-key", srv[1],
                                            "--tls-client-ca", ca[0]])
        host, port = hostport(self.urls["tls"][0])
        admin_ctx = client_ctx(ca[0], cli[0], cli[1])  # the HTTP listener is TLS too
        d.metrics = lambda: https_request(d.port, admin_ctx, "GET", "/api/v1/metrics").json()
        # a client without a certificate is refused in the handshake
        ctx = client_ctx(ca[0])
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            s = socket.create_connection((host, port), timeout=dl(5))
            t = ctx.wrap_socket(s, server_hostname="localhost")
            t.sendall(b"<13>no cert\n")
            t.recv(1)  # TLS 1.3: the refusal of the certificate arrives after the handshake
            t.close()
        in_port = free_udp_port()
        wd = self.path("rsyslog-tls")
        os.makedirs(wd, exist_ok=True)
        action = (
            'action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" '
            'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format" '
            'StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
            'StreamDriverPermittedPeers="localhost" StreamDriver.CAFile="%s" '
            'StreamDriver.CertFile="%s" StreamDriver.KeyFile="%s")'
            % (port, ca[0], cli[0], cli[1]))
        self.start_rsyslog("rsyslog-tls", action, in_port)
        n = 30
        self.feed(in_port, "tlsapp", n, pri=8 * 16 + 6)
        recs = self.wait_records(d, n)
        msgs = by_message(recs, strip=True)
        for i in range(n):
            r = msgs["tlsapp-%d" % i][0]
            self.assertEqual(r["metadata"]["transport"], "tls")
            self.assertEqual(r["metadata"]["format"], "rfc5424")
            self.assertEqual(r["source"], "tlsapp")
            self.assertEqual(r["level"], "INFO")
            self.assertEqual(r["metadata"]["facility"], "local0")
        m = d.metrics()["protocols"]["syslog"]
        self.assertEqual(m["records_accepted"], n)


class SyslogNgTest(SyslogCase):
    """syslog-ng (the Debian binary, unpacked): syslog() (RFC 5424, octet counting) and
    network() (RFC 3164, LF) destinations over TCP, and network() over UDP."""

    def test_syslog_ng_destinations(self):
        d = self.start_syslog("udp", "tcp")
        th, tp = hostport(self.urls["tcp"][0])
        uh, up = hostport(self.urls["udp"][0])
        dest = ('syslog("%s" port(%d) transport("tcp") persist-name("ng5424")); '
                'network("%s" port(%d) transport("tcp") persist-name("ng3164")); '
                'network("%s" port(%d) transport("udp") persist-name("ngudp"));'
                % (th, tp, th, tp, uh, up))
        in_port = free_udp_port()
        self.start_syslog_ng("syslog-ng", dest, in_port)
        n = 30
        self.send_udp_lines(in_port, ["<%d>Dec  6 11:00:00 nghost ngapp[5]: ng-%d" % (8 * 20 + 4, i)
                                      for i in range(n)])
        recs = self.wait_records(d, 3 * n)
        msgs = by_message(recs)
        for i in range(n):
            got = msgs.get("ng-%d" % i, [])
            self.assertEqual(sorted((r["metadata"]["transport"], r["metadata"]["format"])
                                    for r in got),
                             [("tcp", "rfc3164"), ("tcp", "rfc5424"), ("udp", "rfc3164")],
                             "ng-%d: %s" % (i, got))
            for r in got:
                self.assertEqual(r["source"], "ngapp")
                self.assertEqual(r["level"], "WARN")
                self.assertEqual(r["metadata"]["hostname"], "nghost")
                self.assertEqual(r["metadata"]["procid"], "5")
                self.assertEqual(r["metadata"]["facility"], "local4")


def octet(msg):
    b = msg.encode() if isinstance(msg, str) else msg
    return b"%d " % len(b) + b


class LimitsTest(SyslogCase):
    """--syslog-max-message-bytes: oversize counted and refused (never cut); a bad
    MSG-LEN closes the connection; undecodable datagrams are counted drops."""

    def test_oversize_and_bad_frames(self):
        d = self.start_syslog("udp", "tcp", extra=["--syslog-max-message-bytes", "1024"])
        th, tp = hostport(self.urls["tcp"][0])
        uh, up = hostport(self.urls["udp"][0])
        big = "<13>1 - h big - - - " + "x" * 2000
        # octet counting: the oversize frame is skipped whole, its neighbours arrive
        s = socket.create_connection((th, tp), timeout=dl(10))
        s.sendall(octet("<13>1 - h oc - - - before") + octet(big) +
                  octet("<13>1 - h oc - - - after"))
        # LF framing: the oversize line is discarded up to its LF
        s2 = socket.create_connection((th, tp), timeout=dl(10))
        s2.sendall(b"<13>lf: line-before\n" + big.encode() + b"\n<13>lf: line-after\n")
        # a last LF-framed message without its LF, then EOF: still a message
        s4 = socket.create_connection((th, tp), timeout=dl(10))
        s4.sendall(b"<13>lf: tail-without-lf")
        s4.shutdown(socket.SHUT_WR)
        # UDP: oversize and undecodable datagrams are dropped and counted
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(big.encode(), (uh, up))
        u.sendto(b"<999>not a pri", (uh, up))
        u.sendto(b"<13>1 2026-13-45T00:00:00Z bad date - - - x", (uh, up))
        u.sendto(b"<13>udp: datagram-ok", (uh, up))
        recs = self.wait_records(d, 6)
        self.assertEqual(sorted(r["message"] for r in recs),
                         ["after", "before", "datagram-ok", "line-after", "line-before",
                          "tail-without-lf"])
        for r in recs:
            self.assertLess(len(r["message"]), 100)  # nothing truncated got through
        # a MSG-LEN that is not a number closes the connection
        s.sendall(b"12x <13>junk")
        s.settimeout(dl(10))
        self.assertEqual(s.recv(10), b"")
        # an absurd MSG-LEN too
        s3 = socket.create_connection((th, tp), timeout=dl(10))
        s3.sendall(b"99999999999 x")
        self.assertEqual(s3.recv(10), b"")
        for c in (s, s2, s3, s4, u):
            c.close()

        def counted():
            m, top = self.syslog_metrics(d)
            return (m["oversize"] == 3 and m["decode_errors"] == 4 and
                    top["syslog_udp_dropped_total"] == 3) and (m, top)
        m, top = wait_until(counted, dl(10), "oversize 3, decode errors 4, udp drops 3",
                            interval=0.05)
        self.assertEqual(m["records_accepted"], 6)


class OverloadTest(SyslogCase):
    """Queue full: TCP senders are not read (backpressure) and lose nothing; UDP
    datagrams are dropped and counted."""

    WEIGHTS = (1,)

    def test_tcp_backpressure_udp_drops(self):
        d = self.start_syslog("udp", "tcp", extra=["--max-queue-bytes", "65536"])
        rec = self.recs[0][0]
        rec.gate = threading.Semaphore(0)  # deliveries wait: the queue fills
        th, tp = hostport(self.urls["tcp"][0])
        uh, up = hostport(self.urls["udp"][0])
        n = 12000  # ~11 MB: more than the kernel's socket buffers can hide
        payload = b"".join(octet("<14>1 - h bp - - - bp-%06d %s" % (i, "p" * 900))
                           for i in range(n))
        sent = [0]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.settimeout(dl(120))
        s.connect((th, tp))

        def writer():
            view = memoryview(payload)
            while sent[0] < len(payload):
                sent[0] += s.send(view[sent[0]:sent[0] + 65536])
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        # the queue fills and logdistd stops reading: the sender's window closes
        wait_until(lambda: self.syslog_metrics(d)[0]["records_accepted"] > 0, dl(20),
                   "first records")
        last = [-1]

        def stalled():
            now, last[0] = sent[0], sent[0]
            time.sleep(0.5)
            return sent[0] == now
        wait_until(stalled, dl(30), "the sender held back", interval=0)
        self.assertLess(sent[0], len(payload), "the sender was never held back")
        accepted = self.syslog_metrics(d)[0]["records_accepted"]
        self.assertLess(accepted, n)
        # UDP meanwhile: dropped and counted
        before = d.metrics()["syslog_udp_dropped_total"]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(20):
            u.sendto(b"<13>udp: dropped-%d" % i, (uh, up))
        u.close()
        wait_until(lambda: d.metrics()["syslog_udp_dropped_total"] >= before + 20, dl(10),
                   "20 UDP drops counted")
        # release: every TCP message arrives, none lost, none twice
        gate = rec.gate
        rec.gate = None  # new POSTs pass; the ones waiting are let through
        gate.release(100000)
        t.join(dl(60))
        self.assertFalse(t.is_alive())
        s.shutdown(socket.SHUT_WR)
        recs = self.wait_records(d, n, timeout=dl(60))
        got = sorted(int(r["message"][3:9]) for r in recs)
        self.assertTrue(all(len(r["message"]) == 10 + 900 for r in recs))
        self.assertEqual(got, list(range(n)))
        s.close()


class UdpAccountingTest(SyslogCase):
    """Every datagram is either a record or counted in syslog_udp_dropped_total,
    including the kernel's own receive-queue drops (SO_RXQ_OVFL) while logdistd
    cannot read (SIGSTOP)."""

    WEIGHTS = (1,)

    def test_kernel_drops_counted(self):
        d = self.start_syslog("udp")
        uh, up = hostport(self.urls["udp"][0])
        n = 40000
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pad = b"d" * 900
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            for i in range(n):
                u.sendto(b"<13>udp: k-%06d " % i + pad, (uh, up))
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)

        # the queue drains; the kernel dropped some (its counter rides on later datagrams)
        time.sleep(0.5)
        # one more datagram carries the kernel's final drop count
        u.sendto(b"<13>udp: sentinel", (uh, up))
        u.close()

        def exact():
            a, m = self.syslog_metrics(d)
            drops = m["syslog_udp_dropped_total"]
            return a["records_accepted"] + drops == n + 1 and (a, drops)
        a, drops = wait_until(exact, dl(30), "accepted + dropped == sent", interval=0.1)
        self.assertGreater(drops, 0, "the kernel queue never overflowed: the test proves nothing")
        self.assertEqual(a["records_refused"] + a["oversize"] + a["decode_errors"], 0)
        d.wait_all_delivered(dl(30))
        delivered = sum(len(x) for x in self.records_by_analyzer())
        self.assertEqual(delivered, a["records_accepted"])


def tcp_rx_queue(local_port, remote_port):
    """Bytes in the kernel's receive queue of the 127.0.0.1 TCP socket local_port <->
    remote_port (what the process has not read yet), from /proc/net/tcp."""
    want_l, want_r = ":%04X" % local_port, ":%04X" % remote_port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want_l) and fields[2].endswith(want_r):
                return int(fields[4].split(":")[1], 16)
    raise AssertionError("no TCP socket %d <- %d" % (local_port, remote_port))


class DurableReadTest(DurabilityCase):
    """"Durable before the next read": while a critical record waits for its fsync
    (made slow by the LD_PRELOAD fault shim), logdistd does not read the connection:
    the next bytes stay in the kernel's receive queue until the record is on disk."""

    def test_no_read_while_durable_in_flight(self):
        from fault_util import FAULT_LIB, FaultControl
        if not os.path.exists(FAULT_LIB):
            self.fail("fault shim %s not built" % FAULT_LIB)
        rec = self.recording_analyzer()
        fc = FaultControl(self.tmp)
        argv = self.daemon_argv("--critical-levels", "FATAL", "--syslog-listen",
                                "tcp://127.0.0.1:0", analyzers=[("r0", rec.url, 1)])
        p = self.spawn("logdistd", argv, env=fc.env())
        line = p.first_line(dl(10))
        d = Daemon(p, int(line["listening"].rsplit(":", 1)[1]), line)
        th, tp = hostport(line["syslog"][0])
        fc.set("fsync path=/wal- delay_ms=2500 count=1")
        s = socket.create_connection((th, tp), timeout=dl(10))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cport = s.getsockname()[1]
        s.sendall(octet("<10>1 - h app - - - durable-one"))  # crit -> FATAL: durable
        wait_until(lambda: fc.fired("delay"), dl(10), "the slow fsync")
        later = octet("<14>1 - h app - - - after-durable")
        s.sendall(later)
        time.sleep(0.5)  # the fsync is still sleeping (2.5 s)
        self.assertEqual(tcp_rx_queue(tp, cport), len(later),
                         "logdistd read the connection while a durable record was in flight")
        self.assertEqual(d.metrics()["protocols"]["syslog"]["records_accepted"], 0)
        # the fsync completes: the record is accepted, then the next bytes are read
        wait_until(lambda: d.metrics()["protocols"]["syslog"]["records_accepted"] == 2,
                   dl(15), "both records accepted")
        self.assertEqual(tcp_rx_queue(tp, cport), 0)
        self.assertEqual(d.metrics()["records_durable"], 1)
        s.close()

    def test_wal_refusal_is_retried(self):
        """The WAL refuses a durable submission (a write fails with ENOSPC): the sender
        has no ack to lose, so the same bytes are kept and submitted again."""
        from fault_util import FAULT_LIB, FaultControl
        if not os.path.exists(FAULT_LIB):
            self.fail("fault shim %s not built" % FAULT_LIB)
        rec = self.recording_analyzer()
        fc = FaultControl(self.tmp)
        argv = self.daemon_argv("--critical-levels", "FATAL", "--syslog-listen",
                                "tcp://127.0.0.1:0", analyzers=[("r0", rec.url, 1)])
        p = self.spawn("logdistd", argv, env=fc.env())
        line = p.first_line(dl(10))
        d = Daemon(p, int(line["listening"].rsplit(":", 1)[1]), line)
        th, tp = hostport(line["syslog"][0])
        fc.set("write path=/wal- errno=ENOSPC count=1")
        s = socket.create_connection((th, tp), timeout=dl(10))
        s.sendall(octet("<10>1 - h app - - - retried-one") +
                  octet("<14>1 - h app - - - behind-it"))
        wait_until(lambda: fc.fired("fault"), dl(10), "the WAL write fault")
        m = wait_until(lambda: (lambda x: x["records_accepted"] == 2 and x)(
            d.metrics()["protocols"]["syslog"]), dl(15), "both records accepted")
        self.assertGreaterEqual(m["records_refused"], 1)
        d.wait_all_delivered(dl(10))
        msgs = [json.loads(r)["message"] for _m, _p, _h, b in rec.snapshot()
                for r in split_batch_records(b)]
        self.assertEqual(sorted(msgs), ["behind-it", "retried-one"])
        s.close()


class KillTest(DurabilityCase):
    """kill -9 while a TCP sender streams critical records: every record logdistd
    counted as durable (fsync'ed to the WAL) reaches the analyzers after a restart
    on the same --data-dir."""

    def test_kill9_durable_tcp(self):
        rec = self.recording_analyzer()
        dd = self.new_data_dir()
        args = ["--critical-levels", "FATAL,ERROR", "--syslog-listen", "tcp://127.0.0.1:0",
                "--batch-linger-ms", "20"]
        argv = self.daemon_argv("--data-dir", dd, *args, analyzers=[("r0", rec.url, 1)])
        p = self.spawn("logdistd", argv)
        line = p.first_line(dl(10))
        d = Daemon(p, int(line["listening"].rsplit(":", 1)[1]), line)
        th, tp = hostport(line["syslog"][0])
        s = socket.create_connection((th, tp), timeout=dl(30))
        stop = threading.Event()

        def writer():
            i = 0
            try:
                while not stop.is_set():
                    chunk = b"".join(octet("<10>1 - h kill - - - k-%07d" % (i + j))
                                     for j in range(50))
                    s.sendall(chunk)
                    i += 50
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        durable = [0]

        def enough():
            durable[0] = d.metrics()["records_durable"]
            return durable[0] >= 2000
        wait_until(enough, dl(30), "2000 durable records", interval=0.01)
        last = durable[0]
        self.kill9(p)
        stop.set()
        s.close()
        t.join(dl(10))
        # restart on the same data dir: the WAL is replayed
        d2 = self.start_dd(dd, *args, analyzers=[("r0", rec.url, 1)])
        self.wait_drained(d2, dl(30))
        seen = set()
        for _m, _p, _h, body in rec.snapshot():
            for r in split_batch_records(body):
                seen.add(int(json.loads(r)["message"][2:]))
        missing = [i for i in range(last) if i not in seen]
        self.assertEqual(missing, [], "%d of the %d durable records lost" % (len(missing), last))


if __name__ == "__main__":
    unittest.main()
