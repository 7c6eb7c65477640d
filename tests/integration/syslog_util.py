"""Helpers for the syslog receiver's integration tests (test_proto_syslog.py): a
logdistd with --syslog-listen and weighted recording analyzers, the real senders
(util-linux logger, rsyslogd, syslog-ng unpacked by scripts/setup-deps.sh into
tests/.deps/syslog-ng), each started by pid with its config in the test's temp dir."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, split_batch_records, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSLOG_NG_DIR = os.path.join(ROOT, "tests", ".deps", "syslog-ng")
SYSLOG_NG = os.path.join(SYSLOG_NG_DIR, "usr", "sbin", "syslog-ng")
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
LOGGER = shutil.which("logger") or "/usr/bin/logger"


def free_udp_port():
    """An ephemeral UDP port on 127.0.0.1 that was free a moment ago (for a sender's
    own input: rsyslog and syslog-ng cannot bind port 0 and report it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hostport(url):
    """("127.0.0.1", 514) of "tcp://127.0.0.1:514"."""
    hp = url.split("://", 1)[1]
    host, port = hp.rsplit(":", 1)
    return host.strip("[]"), int(port)


class SyslogCase(LogdistTestCase):
    """A logdistd receiving syslog, delivering to two recording analyzers of
    weights 3 and 1 (shares are checked)."""

    WEIGHTS = (3, 1)

    def start_syslog(self, *listen, extra=(), weights=None):
        """listen: "udp", "tcp", "tls" (each a --syslog-listen on 127.0.0.1:0).
        Returns the daemon; self.urls maps transport -> [url, ...]."""
        self.recs = []
        weights = weights or self.WEIGHTS
        for i, w in enumerate(weights):
            self.recs.append((self.recording_analyzer(), w))
        args = ["--batch-linger-ms", "20"]
        for t in listen:
            args += ["--syslog-listen", "%s://127.0.0.1:0" % t]
        d = self.start_daemon(*(args + list(extra)),
                              analyzers=[("r%d" % i, r.url, w)
                                         for i, (r, w) in enumerate(self.recs)])
        self.urls = {}
        for u in d.line.get("syslog", []):
            self.urls.setdefault(u.split("://")[0], []).append(u)
        self.assertEqual(sum(len(v) for v in self.urls.values()), len(listen), d.line)
        return d

    def records_by_analyzer(self):
        out = []
        for r, _ in self.recs:
            recs = []
            for _m, _p, _h, body in r.snapshot():
                recs += [json.loads(x) for x in split_batch_records(body)]
            out.append(recs)
        return out

    def wait_records(self, d, n, timeout=None, what="records"):
        """Wait until the analyzers together hold n records (never more); returns
        them all, and checks the shares by weight."""
        def enough():
            return sum(len(x) for x in self.records_by_analyzer()) >= n
        wait_until(enough, timeout or dl(20), "%d %s at the analyzers" % (n, what),
                   interval=0.05)
        d.wait_all_delivered(dl(10))
        per = self.records_by_analyzer()
        total = sum(len(x) for x in per)
        self.assertEqual(total, n, "records delivered")
        wsum = sum(w for _, w in self.recs)
        if n >= 20:
            for (r, w), recs in zip(self.recs, per):
                self.assertShare(len(recs) / n, w / wsum, 0.05 + 2.0 / n, "analyzer weight %d" % w)
        return [x for recs in per for x in recs]

    def syslog_metrics(self, d):
        m = d.metrics()
        return m["protocols"]["syslog"], m

    # ---- senders
    def logger(self, url, *args, msg=None, stdin=None):
        """Run util-linux logger towards url (udp:// or tcp://) and wait for it."""
        host, port = hostport(url)
        argv = [LOGGER, "-n", host, "-P", str(port)]
        argv += ["--udp"] if url.startswith("udp://") else ["--tcp"]
        argv += list(args)
        if msg is not None:
            argv.append(msg)
        r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=dl(30))
        self.assertEqual(r.returncode, 0, "logger %s: %s" % (argv, r.stderr.decode()))

    def start_rsyslog(self, name, action, in_port):
        """rsyslogd -n with imudp on 127.0.0.1:in_port feeding `action` (an omfwd
        action(...) statement); its work dir, config and pid file in the temp dir."""
        wd = self.path(name)
        os.makedirs(wd, exist_ok=True)
        conf = os.path.join(wd, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write('global(workDirectory="%s" maxMessageSize="64k")\n'
                    'module(load="imudp")\n'
                    'input(type="imudp" address="127.0.0.1" port="%d" ruleset="fwd")\n'
                    'ruleset(name="fwd") {\n  %s\n}\n' % (wd, in_port, action))
        p = self.spawn(name, [RSYSLOGD, "-n", "-f", conf, "-i", os.path.join(wd, "pid")])
        self.wait_udp_bound(p, in_port)
        return p

    def start_syslog_ng(self, name, destination, in_port):
        """syslog-ng -F (the unpacked Debian binary) with a network() UDP source on
        127.0.0.1:in_port and `destination` (a destination body)."""
        if not os.path.exists(SYSLOG_NG):
            self.fail("syslog-ng not unpacked at %s: run scripts/setup-deps.sh" % SYSLOG_NG)
        wd = self.path(name)
        os.makedirs(wd, exist_ok=True)
        conf = os.path.join(wd, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write('@version: 3.38\n'
                    'options { keep_hostname(yes); log_msg_size(65536); };\n'
                    'source s_in { network(ip("127.0.0.1") port(%d) transport("udp")); };\n'
                    'destination d_out { %s };\n'
                    'log { source(s_in); destination(d_out); };\n' % (in_port, destination))
        lib = os.path.join(SYSLOG_NG_DIR, "usr", "lib", "syslog-ng")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        p = self.spawn(name, [SYSLOG_NG, "-F", "-f", conf,
                              "--module-path=" + os.path.join(lib, "3.38"),
                              "-R", os.path.join(wd, "persist"), "-p", os.path.join(wd, "pid"),
                              "-c", os.path.join(wd, "ctl"), "--no-caps"], env=env)
        self.wait_udp_bound(p, in_port)
        return p

    def wait_udp_bound(self, proc, port):
        """Until a UDP socket is bound on 127.0.0.1:port (from /proc/net/udp)."""
        needle = ":%04X" % port

        def bound():
            if not proc.running():
                raise AssertionError("%s exited: %s" % (proc.name, proc.stderr_text()[-2000:]))
            with open("/proc/net/udp") as f:
                return any(line.split()[1].endswith(needle) and
                           line.split()[1].startswith("0100007F") for line in f.readlines()[1:])
        wait_until(bound, dl(15), "%s bound on udp %d" % (proc.name, port), interval=0.05)

    def send_udp_lines(self, port, lines, pace=0.001):
        """Datagrams to a sender's own input (rsyslog/syslog-ng imudp)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for ln in lines:
            s.sendto(ln.encode() if isinstance(ln, str) else ln, ("127.0.0.1", port))
            time.sleep(pace)
        s.close()
