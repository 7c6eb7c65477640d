"""Fault injection: logdistd under the LD_PRELOAD shim (tests/fault/ldfault.c) and under
an RLIMIT_FSIZE, checked with kill -9 (docs/DURABILITY.md, issue 9 and issue 16 promise 1).

Each loss check starts logdistd with two analyzers that are not listening yet (so no
record can leave except through the WAL), runs critical load, injects one fault in the
WAL, clears it, kills logdistd with SIGKILL under load, starts the recording analyzers
and restarts logdistd on the same data dir. It then checks:
- every record that got a 202 is delivered (recorders write ids before answering);
- every refusal is 503 with the fault's reason (disk_full for ENOSPC, disk_error for
  any other write or fsync error) and a Retry-After equal to the body's retry_after_s;
- the daemon served 202s again after the fault was cleared;
- the shim's log proves the fault fired.
A FIGURES line per check gives acknowledged / delivered / lost / duplicates.

Run: LOGDIST_BIN=<build>/bin python3 tests/integration/test_faults.py
(LOGDIST_FAULT_LIB=<build>/tests/libldfault.so when it is elsewhere; LOGDIST_SANITIZED=1
for ASan builds; LOGDIST_KEEP_TMP=1 keeps logs, data dirs and the shim's logs.)
"""
import os
import resource
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_util import (CriticalLoad, FaultCase, FaultControl, critical_packet,  # noqa: E402
                        crash_figures, dl, figures, outcome, wait_more_accepted, wait_until)
from durability_util import T_RECORD, parse_wal, post_packet, read_file, wal_files  # noqa: E402
from harness import free_port, http_request  # noqa: E402

# every daemon here: no dead letters while the analyzers are away, retries stay quick
DAEMON_ARGS = ("--max-attempts", "1000", "--retry-max-ms", "300", "--health-interval-ms", "100")


class FaultTestBase(FaultCase):

    def down_analyzers(self, n=2):
        """(ports, specs) of n analyzers that are not started yet."""
        ports = [free_port() for _ in range(n)]
        specs = [("r%d" % i, "http://127.0.0.1:%d/ingest" % p, 1) for i, p in enumerate(ports)]
        return ports, specs

    def restart_and_collect(self, name, data, ports, specs, acked):
        """Start the recorders on their ports, restart logdistd (no shim) on `data`,
        wait until nothing is left in the WAL; print and return the figures."""
        recs = [self.start_recorder(aid, self.path("%s-%s.ids" % (name, aid)), port=p)
                for (aid, _, _), p in zip(specs, ports)]
        d = self.start_faulty(data, None, *DAEMON_ARGS, analyzers=specs)
        self.wait_drained(d, dl(90))
        figs = crash_figures(acked, recs)
        figures(name, **figs)
        return d, figs

    def assertNoLoss(self, figs):
        self.assertGreater(figs["acknowledged"], 0, "nothing was acknowledged: %r" % figs)
        self.assertEqual(figs["lost"], 0, "acknowledged records lost after kill -9: %r" % figs)

    def loss_check(self, name, rules, reason, min_refusals=1, word="fault"):
        """The kill -9 loss check under one WAL fault (see the module comment).
        reason None: the fault must cause no refusal at all."""
        ports, specs = self.down_analyzers()
        data = self.new_data_dir(name)
        fc = FaultControl(self.tmp, name)
        d = self.start_faulty(data, fc, *DAEMON_ARGS, analyzers=specs)
        load = CriticalLoad(d.port, name).start()
        try:
            wait_more_accepted(load, 20, dl(30), "202s before the fault")
            fc.set(*rules)
            self.wait_fired(fc, 1, word)
            if min_refusals:
                wait_until(lambda: load.counts()[1] >= min_refusals, dl(30),
                           "%d refusals under the fault" % min_refusals)
            else:
                wait_more_accepted(load, 20, dl(30), "202s under the fault")
            fc.clear()
            refused_at_clear = load.counts()[1]
            wait_more_accepted(load, 20, dl(30), "202s after the fault was cleared")
            wait_more_accepted(load, 5, dl(30), "202s just before the kill")
        finally:
            self.kill9(d.proc)
            load.stop()
        fired = len(fc.fired(word))
        d2, figs = self.restart_and_collect(name, data, ports, specs, load.acked)
        figs.update(refusals=len(load.refused), faults_injected=fired,
                    packets_accepted=load.counts()[0])
        figures(name + "-load", refusals=len(load.refused), faults_injected=fired,
                refusals_after_clear=len(load.refused) - refused_at_clear,
                packets_cut_by_kill=load.cut)
        for r in load.refused:
            if reason is None:
                self.fail("refusal under a fault that should cause none: %r" % (r,))
            self.assertRefusal(r, reason)
        self.assertNoLoss(figs)
        return figs


# ============================================================================ WAL faults

class WalFaultTest(FaultTestBase):

    def test_enospc_on_wal_write(self):
        self.loss_check("enospc", ["write path=/wal- errno=ENOSPC"], "disk_full", 3)

    def test_enospc_after_bytes_cuts_a_write_short(self):
        """The disk fills mid-write: the write that crosses 64 KiB is partial, the
        next ones fail with ENOSPC."""
        self.loss_check("enospc-after", ["write path=/wal- errno=ENOSPC after_bytes=65536"],
                        "disk_full", 3)

    def test_eio_on_wal_write(self):
        self.loss_check("eio-write", ["write path=/wal- errno=EIO"], "disk_error", 3)

    def test_eio_on_wal_fdatasync(self):
        """fdatasync EIO is a WAL failure (disk_error): the packets waiting on it are
        refused, and the file is not trusted with later 202s either."""
        self.loss_check("eio-fsync", ["fsync path=/wal- errno=EIO"], "disk_error", 3)

    def test_short_wal_writes(self):
        """Short writes are no error: nothing is refused, nothing is lost."""
        self.loss_check("short", ["write path=/wal- short=7"], None, 0, word="short")

    def test_enospc_on_big_write_mid_round_fails_every_packet_of_the_round(self):
        """Issue 9 finding 1: one round holds several packets; the WAL writes its buffer
        once it passes 1 MiB, in the middle of the round, and that write gets ENOSPC.
        Every packet of the round whose records did not all reach the file must get a
        503; those that got a 202 must survive kill -9."""
        ports, specs = self.down_analyzers()
        data = self.new_data_dir("midround")
        fc = FaultControl(self.tmp, "midround")
        d = self.start_faulty(data, fc, *DAEMON_ARGS, analyzers=specs)
        # the first round's write is held, so the big packets pile up in the next round;
        # the first big write fails (today's wal.c writes its buffer once it holds 1 MiB)
        fc.set("write path=/wal- errno=ENOSPC min_size=65536 count=1",
               "write path=/wal- delay_ms=%d count=1" % int(dl(1.5) * 1000))
        results = {}

        def post(key, ids, pad):
            r = post_packet(d.port, critical_packet(ids, pad), timeout=dl(30))
            results[key] = (ids, r.status, outcome(r.status, r.headers, r.body))

        first = threading.Thread(target=post, args=("p0", ["mid-0"], 10))
        first.start()
        self.wait_fired(fc, 1, "delay")
        big = [threading.Thread(target=post, args=("p%d" % k, ["mid-%d-%d" % (k, i)
                                                              for i in range(100)], 2000))
               for k in range(1, 9)]
        for t in big:
            t.start()
        for t in [first] + big:
            t.join(dl(60))
        self.assertEqual(len(results), 9, "not every post answered: %r" % sorted(results))
        hits = self.wait_fired(fc, 1, "fault")
        self.assertIn("errno=28", hits[0])
        size = int(hits[0].rsplit("size=", 1)[1])
        acked = [i for ids, st, _ in results.values() if st == 202 for i in ids]
        refused = [o for _, st, o in results.values() if st != 202]
        self.assertTrue(refused, "the failed write refused no packet")
        for o in refused:
            self.assertRefusal(o, "disk_full")
        # the fault is spent: the daemon serves again
        r = post_packet(d.port, critical_packet(["mid-after"]))
        self.assertEqual(r.status, 202, r)
        acked.append("mid-after")
        self.kill9(d.proc)
        _, figs = self.restart_and_collect("midround", data, ports, specs, acked)
        figures("midround-load", packets=9, refused=len(refused), failed_write_bytes=size)
        self.assertNoLoss(figs)

    def test_fsync_eio_at_segment_roll_reaches_every_round_it_covered(self):
        """Issue 9 finding 1 (fsync gate): the syncer's fdatasync of segment 1 is slow;
        meanwhile the writer fills segment 1 with more rounds and rolls, and the
        fdatasync it does at the roll gets the one EIO (the kernel reports a writeback
        error once per open file). No packet whose records only sit in segment 1
        after the slow sync began may get a 202: nothing ever synced them."""
        ports, specs = self.down_analyzers()
        data = self.new_data_dir("rollsync")
        fc = FaultControl(self.tmp, "rollsync")
        d = self.start_faulty(data, fc, *DAEMON_ARGS, "--wal-segment-bytes", "256KiB",
                              analyzers=specs)
        seg1 = "wal-%016x.log" % 1
        # a first packet opens segment 1 (its header's fdatasync is not the one to slow)
        r = post_packet(d.port, critical_packet(["roll-prime"]))
        self.assertEqual(r.status, 202, r)
        self.assertTrue(os.path.exists(os.path.join(data, seg1)), os.listdir(data))
        fc.set("fsync path=%s delay_ms=%d count=1" % (seg1, int(dl(1.5) * 1000)),
               "fsync path=%s errno=EIO count=1" % seg1)
        results = {}

        def post(key, ids, pad):
            r = post_packet(d.port, critical_packet(ids, pad), timeout=dl(30))
            results[key] = (ids, r.status, outcome(r.status, r.headers, r.body))

        first = threading.Thread(target=post, args=("p0", ["roll-0"], 10))
        first.start()
        self.wait_fired(fc, 1, "delay")  # the syncer sleeps in its fdatasync of segment 1
        more = [threading.Thread(target=post, args=("p%d" % k, ["roll-%d-%d" % (k, i)
                                                               for i in range(24)], 2000))
                for k in range(1, 9)]  # 8 x 48 KiB: segment 1 fills and rolls
        for t in more:
            t.start()
        for t in [first] + more:
            t.join(dl(60))
        self.assertEqual(len(results), 9, "not every post answered: %r" % sorted(results))
        hit = self.wait_fired(fc, 1, "fault")[0]
        self.assertIn(seg1, hit)
        acked = [i for ids, st, _ in results.values() if st == 202 for i in ids]
        refused = [o for _, st, o in results.values() if st != 202]
        for o in refused:
            self.assertRefusal(o, "disk_error")
        r = post_packet(d.port, critical_packet(["roll-after"]))
        self.assertEqual(r.status, 202, r)
        acked += ["roll-prime", "roll-after"]
        self.kill9(d.proc)
        # where each record is: segment 1 only, or also a later segment (rewritten)
        where = {}
        for path in wal_files(data):
            entries, _ = parse_wal(read_file(path))
            for e in entries:
                if e.type == T_RECORD and e.record_id():
                    where.setdefault(e.record_id(), set()).add(os.path.basename(path))
        unsynced = sorted(i for i in acked if i not in ("roll-prime", "roll-0") and where.get(i) == {seg1})
        _, figs = self.restart_and_collect("rollsync", data, ports, specs, acked)
        figures("rollsync-load", packets=9, refused=len(refused),
                acked_only_in_failed_segment=len(unsynced),
                segments=sorted({s for v in where.values() for s in v}))
        self.assertEqual(unsynced, [], "%d records got a 202 though the only fdatasync of "
                         "their segment after their write failed" % len(unsynced))
        self.assertNoLoss(figs)


# ============================================================================ crash loop

# (rules, refusal reason or None) the crash loop draws from
LOOP_FAULTS = [
    (["write path=/wal- errno=ENOSPC"], "disk_full"),
    (["write path=/wal- errno=ENOSPC after_bytes=32768"], "disk_full"),
    (["write path=/wal- errno=EIO"], "disk_error"),
    (["fsync path=/wal- errno=EIO"], "disk_error"),
    (["write path=/wal- short=13"], None),
]


class CrashLoopFaultTest(FaultTestBase):

    def test_kill9_loop_under_switching_faults(self):
        """The crash test with faults: analyzers up, critical load over keep-alive
        connections, and in each of several lives of logdistd one WAL fault is switched
        on for a while, then off, then logdistd is killed with SIGKILL at a random
        moment (sometimes while the fault is still on) and restarted on the same port
        and data dir. At the end every record that got a 202 is at an analyzer; every
        refusal named the fault on at the time; duplicates are counted."""
        import random
        seed = int(os.environ.get("LOGDIST_SEED", str(int(time.time() * 1000) % 1000000)))
        rnd = random.Random(seed)
        sys.stderr.write("\n[fault crash loop seed %d: LOGDIST_SEED=%d repeats it]\n"
                         % (seed, seed))
        recs = [self.start_recorder("c%d" % i, self.path("loop-c%d.ids" % i)) for i in range(2)]
        specs = [(r.id, r.url, w) for r, w in zip(recs, (1, 2))]
        data = self.new_data_dir("loop")
        fc = FaultControl(self.tmp, "loop")
        d = self.start_faulty(data, fc, *DAEMON_ARGS, analyzers=specs)
        port = d.port
        load = CriticalLoad(port, "loop", threads=3, pause=0.002).start()
        lives, fired_total, reasons = [], 0, set()
        try:
            for life in range(6):
                rules, reason = LOOP_FAULTS[life % len(LOOP_FAULTS)] if life < len(LOOP_FAULTS) \
                    else rnd.choice(LOOP_FAULTS)
                wait_more_accepted(load, 5, dl(30), "202s in life %d" % life)
                refused0 = load.counts()[1]
                fc.set(*rules)
                time.sleep(rnd.uniform(0.2, 0.6))
                on_at_kill = rnd.random() < 0.3
                if not on_at_kill:
                    fc.clear()
                    wait_more_accepted(load, 5, dl(30), "202s after the fault in life %d" % life)
                    time.sleep(rnd.uniform(0.0, 0.3))
                self.kill9(d.proc)
                fired = len(fc.fired("short" if reason is None else "fault"))
                fired_total += fired
                new_refusals = load.refused[refused0:]
                lives.append({"rules": rules, "fired": fired, "refusals": len(new_refusals),
                              "on_at_kill": on_at_kill})
                for r in new_refusals:
                    if reason is None:
                        self.fail("refusal under short writes: %r" % (r,))
                    self.assertRefusal(r, reason)
                    reasons.add(reason)
                fc = FaultControl(self.tmp, "loop-%d" % (life + 1))
                d = self.start_faulty(data, fc, *DAEMON_ARGS, port=port, analyzers=specs)
        finally:
            load.stop()
        self.wait_drained(d, dl(90))
        figs = crash_figures(load.acked, recs)
        figures("crash-loop-faults", lives=len(lives), faults_injected=fired_total,
                refusals=len(load.refused), packets_cut_by_kills=load.cut, seed=seed, **figs)
        for lf in lives:
            sys.stderr.write("  life %r\n" % (lf,))
        self.assertGreater(fired_total, 0, "no fault fired in the loop")
        self.assertNoLoss(figs)


# ============================================================================ dead letters

class DeadLetterFaultTest(FaultTestBase):

    def test_deadletter_write_eio_loses_nothing_acknowledged(self):
        """Issue 9 finding 2: attempts run out while the analyzers are down, and the
        dead-letter store cannot be written (EIO). The critical records must stay in
        the WAL: after kill -9 and a restart with the analyzers up, all arrive."""
        ports, specs = self.down_analyzers()
        data = self.new_data_dir("dlq")
        fc = FaultControl(self.tmp, "dlq")
        # one attempt, and analyzers that stay routable however often they fail: every
        # batch is dead-lettered at its first failure, whatever order the health checks,
        # passive marks and retries take on a loaded machine (none is parked)
        d = self.start_faulty(data, fc, "--max-attempts", "1", "--retry-base-ms", "10",
                              "--retry-max-ms", "20", "--connect-timeout-ms", "200",
                              "--health-fall", "100", "--passive-fall", "100",
                              "--breaker-failures", "0", "--breaker-error-pct", "0",
                              analyzers=specs)
        fc.set("write path=deadletter.log errno=EIO")
        acked = []
        for k in range(5):
            ids = ["dlq-%d-%d" % (k, i) for i in range(20)]
            r = post_packet(d.port, critical_packet(ids))
            self.assertEqual(r.status, 202, r)
            acked.extend(ids)
        self.wait_fired(fc, 1)
        # let the daemon act on the failure (acknowledge, keep or retry): wait until its
        # counters stop moving for a second, at most 15 s; the check is after the restart
        keys = ("wal_live_records", "queued_records", "inflight_batches",
                "records_deadlettered", "records_deadletter_evicted")
        last = {"v": None, "n": 0}

        def settled():
            m = d.metrics()
            v = tuple(m.get(k) for k in keys)
            last["n"] = last["n"] + 1 if v == last["v"] else 0
            last["v"] = v
            return last["n"] >= 10
        try:
            wait_until(settled, dl(15), "metrics settled", interval=0.1)
        except AssertionError:
            pass  # still retrying: fine, the loss check below decides
        fired = len(fc.fired())
        self.kill9(d.proc)
        _, figs = self.restart_and_collect("dlq", data, ports, specs, acked)
        figures("dlq-load", deadletter_write_faults=fired, metrics_before_kill=last["v"])
        self.assertNoLoss(figs)


# ============================================================================ RLIMIT_FSIZE

class FileSizeLimitTest(FaultTestBase):

    def test_fsize_limit_gives_disk_error_not_sigxfsz(self):
        """Under `prlimit --fsize`, a WAL write past the limit must give EFBIG ->
        503 disk_error (logdistd ignores SIGXFSZ), and once the limit is lifted
        logdistd accepts again; nothing acknowledged is lost across kill -9."""
        limit = 256 << 10
        ports, specs = self.down_analyzers()
        data = self.new_data_dir("fsize")
        d = self.start_faulty(data, None, *DAEMON_ARGS, analyzers=specs,
                              wrapper=("prlimit", "--fsize=%d:unlimited" % limit, "--"))
        load = CriticalLoad(d.port, "fsize", threads=2, pad=400).start()
        try:
            wait_until(lambda: load.counts()[1] >= 3 or not d.proc.running(), dl(60),
                       "refusals at the file size limit (%r)" % (load.counts(),))
            self.assertTrue(d.proc.running(), "logdistd died at the file size limit: rc %s"
                            % d.proc.popen.returncode)
            resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            refused_at_clear = load.counts()[1]
            wait_more_accepted(load, 20, dl(30), "202s after the limit was lifted")
        finally:
            self.kill9(d.proc)
            load.stop()
        self.assertNotEqual(d.proc.popen.returncode, -25, "logdistd died of SIGXFSZ")
        _, figs = self.restart_and_collect("fsize", data, ports, specs, load.acked)
        figures("fsize-load", refusals=len(load.refused),
                refusals_after_clear=len(load.refused) - refused_at_clear)
        for r in load.refused:
            self.assertRefusal(r, "disk_error")
        self.assertNoLoss(figs)


# ============================================================================ TLS

class SslNewFaultTest(FaultTestBase):

    def test_ssl_new_failure_closes_the_connection(self):
        """Issue 9 finding 6: when SSL_new fails on a TLS listener the connection is
        closed, never served as plain HTTP; once it works again, HTTPS is served."""
        from security_util import Pki, client_ctx, https_request
        pki = Pki(self.path("pki"))
        ca = pki.make_ca("ca")
        cert, key, _ = pki.issue("server", ca, "127.0.0.1", san="IP:127.0.0.1")
        fc = FaultControl(self.tmp, "ssl")
        d = self.start_faulty(self.new_data_dir("ssl"), fc, "--tls-cert", cert,
                              "--tls-key", key)
        fc.set("ssl_new")
        plain = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        for _ in range(3):
            got = self.plain_exchange(d.port, plain)
            self.assertNotIn(b"HTTP/1.", got, "served as plain HTTP while SSL_new failed")
        self.assertGreaterEqual(len(self.wait_fired(fc, 3)), 3)
        ctx = client_ctx(ca[0])
        with self.assertRaises(OSError):  # ssl.SSLError and resets are OSErrors
            https_request(d.port, ctx, "GET", "/health", timeout=dl(5))
        fc.clear()
        r = wait_until(lambda: https_request(d.port, ctx, "GET", "/health", timeout=dl(5)),
                       dl(20), "HTTPS served after SSL_new works again", ignore=(OSError,))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(d.proc.running())

    def plain_exchange(self, port, data):
        """Send plain HTTP bytes; what comes back before close or a 3 s silence."""
        s = socket.create_connection(("127.0.0.1", port), timeout=dl(3))
        out = b""
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            s.close()
        return out


if __name__ == "__main__":
    unittest.main(verbosity=2)
