"""Durability: kill -9 crash loop, torn WAL tails, disk budget, analyzer store across
restarts, dead letters on disk, durability policies and the X-Logdist-Durability header.

Run: LOGDIST_BIN=<build>/bin python3 tests/integration/test_durability.py
(LOGDIST_SANITIZED=1 for ASan builds: fewer records, longer deadlines; LOGDIST_SEED=N
to repeat the crash test's kill schedule; LOGDIST_KEEP_TMP=1 keeps logs and data dirs.)
Every logdistd gets its own --data-dir under the test's temp dir.
"""
import json
import os
import random
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durability_util import (ANALYZERS, DEADLETTER, SANITIZED, WAL_HEADER,  # noqa: E402
                             DurabilityCase, dl, duplicate_figures, http_request, log_lines,
                             packet, parse_wal, post_packet, read_file, read_lines, record,
                             scaled, union_ids, wait_until, wal_bytes, wal_files)

CUT_RE = r"torn or corrupt tail: cut (\d+) bytes at offset (\d+)"
WAL_LINE_RE = (r"WAL: (\d+) segments, (\d+) records \((\d+) acknowledged\), (\d+) bytes cut "
               r"from (\d+) damaged segments")


def figures(name, **kv):
    """Print a figures line (collected for docs) on stderr."""
    sys.stderr.write("\nFIGURES %s %s\n" % (name, json.dumps(kv, sort_keys=True)))
    sys.stderr.flush()


# ============================================================================ 1. crash loop

class CrashTest(DurabilityCase):

    def test_kill9_loop_critical_records_survive(self):
        """4 analyzers; two generators (critical-ratio 1 and 0, different id prefixes)
        run at a bounded rate across >= 10 kill -9s of logdistd, each at a random moment
        of its life; logdistd is restarted at once on the same port and data dir. At the
        end every critical record that got a 202 is at some analyzer."""
        seed = int(os.environ.get("LOGDIST_SEED", str(int(time.time() * 1000) % 1000000)))
        rnd = random.Random(seed)
        sys.stderr.write("\n[crash test seed %d: LOGDIST_SEED=%d repeats the schedule]\n"
                         % (seed, seed))
        ans = [self.start_analyzer("c%d" % i) for i in range(4)]
        specs = [(a.id, a.url, w) for a, w in zip(ans, (1, 2, 3, 4))]
        data = self.new_data_dir("crash")
        kills = 12 if not SANITIZED else 10
        rate = scaled(3000, 300)  # records/s per stream

        d = self.start_dd(data, analyzers=specs)
        port = d.port
        crit_file, nc_file = self.path("crit.ids"), self.path("nc.ids")
        gens = [self.start_gen(d, rate=rate, duration=3600, packet_size=20, connections=2,
                               ids_out=crit_file, prefix="crit",
                               extra=("--critical-ratio", "1", "--max-retries", "1000")),
                self.start_gen(d, rate=rate, duration=3600, packet_size=20, connections=2,
                               ids_out=nc_file, prefix="nc",
                               extra=("--critical-ratio", "0", "--max-retries", "1000"))]
        lives = []  # per life: WAL line at start, records_replayed, lifetime before the kill
        for i in range(kills):
            # a random moment of this life: sometimes while the replay of the previous
            # life is still being delivered, mostly under steady load
            short = rnd.random() < 0.3
            delay = rnd.uniform(0.0, 0.15) if short else rnd.uniform(0.1, 1.2)
            stall = i == kills - 1
            if not short:
                # under load: the generators may still be backing off after the last kill
                wait_until(lambda: d.metrics()["records_accepted"] > 0, dl(10),
                           "generators sending to the new logdistd")
            if stall:
                before_stall = duplicate_figures(ans)
                # the last life: the analyzers hang (SIGSTOP), critical records pile up
                # unacknowledged in the WAL, so the next start must replay them (the
                # duplicate figures are also taken before this life: it makes many)
                for a in ans:
                    self.stop_process(a.proc)
                base = d.metrics()["records_durable"]
                wait_until(lambda: d.metrics()["records_durable"] >= base + scaled(400, 60),
                           dl(10), "critical records accepted while analyzers hang")
            time.sleep(delay)
            m = d.metrics()
            self.kill9(d.proc)
            if stall:
                for a in ans:
                    self.cont_process(a.proc)
            lives.append({"life": i, "delay_s": round(delay, 3), "stalled": stall,
                          "accepted": m["records_accepted"], "durable": m["records_durable"]})
            time.sleep(rnd.uniform(0.0, 0.3))  # down for a moment
            d = self.start_dd(data, port=port, analyzers=specs)
            m = d.metrics()
            wal = log_lines(d.proc, WAL_LINE_RE)
            self.assertTrue(wal, "no WAL line in logdistd stderr")
            lives[-1].update(replayed_next=m["records_replayed"],
                             wal_at_start=[int(x) for x in wal[0]])
            self.assertTrue(gens[0].running() and gens[1].running(),
                            "a generator gave up: %s" % gens[0].stderr_text()[-1000:])

        # final life: some load, then stop the generators (SIGTERM: they drain and
        # write their --ids-out files) and let logdistd deliver everything
        time.sleep(1.0)
        for g in gens:
            g.signal(signal.SIGTERM)
        sums = [self.finish_gen(g, dl(30), expect_rc=None) for g in gens]
        self.wait_drained(d, dl(60))
        m = d.metrics()
        self.assertEqual(m["records_deadlettered"], 0)

        crit = set(read_lines(crit_file))
        nc = set(read_lines(nc_file))
        self.assertEqual(len(crit), sums[0]["records_accepted"])
        self.assertGreater(len(crit), scaled(2000, 200), "too little load got through")
        union = union_ids(ans)
        missing = sorted(crit - union)
        nc_lost = len(nc - union)
        uniq, dups, within, across = duplicate_figures(ans)
        accepted = crit | nc
        extra = len(union - accepted)  # delivered although their packet got no 202
        stats = [a.stats() for a in ans]
        replayed = [x.get("replayed_next", 0) for x in lives]
        cut = sum(x["wal_at_start"][3] for x in lives if "wal_at_start" in x)
        sys.stderr.write("\nlives: %s\n" % json.dumps(lives))
        figures("crash", seed=seed, kills=kills, rate_per_stream=rate,
                critical_accepted=len(crit), noncritical_accepted=len(nc),
                critical_missing=len(missing), noncritical_lost=nc_lost,
                noncritical_lost_pct=round(100.0 * nc_lost / max(1, len(nc)), 3),
                unique_delivered=uniq, duplicates=dups, duplicates_within_analyzer=within,
                duplicates_across_analyzers=across,
                duplicate_rate_pct=round(100.0 * dups / max(1, uniq), 3),
                before_stall_unique=before_stall[0], before_stall_duplicates=before_stall[1],
                before_stall_duplicate_rate_pct=round(100.0 * before_stall[1] /
                                                      max(1, before_stall[0]), 3),
                delivered_without_202=extra, restarts_with_replay=sum(1 for r in replayed if r),
                records_replayed_total=sum(replayed), wal_bytes_cut_total=cut,
                gen_errors=[s["errors"] for s in sums],
                analyzer_duplicate_batches=sum(s["duplicate_batches"] for s in stats),
                analyzer_batch_id_conflicts=sum(s["batch_id_conflicts"] for s in stats),
                stats_duplicate_rate_pct=round(100.0 * sum(s["duplicate_ids"] for s in stats) /
                                               max(1, sum(s["unique_ids"] for s in stats)), 3))
        self.assertFalse(missing, "%d critical records that got a 202 were never delivered "
                         "(seed %d), e.g. %s" % (len(missing), seed, missing[:10]))
        self.assertTrue(any(r > 0 for r in replayed),
                        "no restart replayed anything: %s" % lives)


# ============================================================================ batch ids

class BatchIdTest(DurabilityCase):

    def test_batch_ids_unique_across_fast_restarts(self):
        """Batch ids (X-Logdist-Batch-Id) are what analyzers de-duplicate retries by
        (docs/DURABILITY.md), so two different batches must never share one, also
        across restarts. Two logdistd lives started within one wall-clock second."""
        rec = self.recording_analyzer()
        data = self.new_data_dir("bid")
        for attempt in range(3):
            time.sleep(1.02 - time.time() % 1)  # just after a second boundary
            t0 = int(time.time())
            for life in range(2):
                d = self.start_dd(data, analyzers=[("rec", rec.url, 1)])
                r = post_packet(d.port, packet([record("bid-%d-%d-%d" % (attempt, life, i),
                                                       critical=True) for i in range(5)]))
                self.assertEqual(r.status, 202, r)
                n = len(rec.snapshot())
                wait_until(lambda: len(rec.snapshot()) > n, dl(10), "batch delivered")
                self.wait_drained(d, dl(10))
                self.sigterm(d.proc)
            if int(time.time()) == t0:
                break
        ids = [h.get("x-logdist-batch-id") for _, _, h, _ in rec.snapshot()]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        self.assertFalse(dup, "different batches of two logdistd lives share batch ids %s "
                         "(all: %s)" % (dup, ids))


# ============================================================================ replay shapes

class ReplayShapesTest(DurabilityCase):

    def test_multiline_records_are_replayed(self):
        """Records are stored in the WAL byte for byte, so a record of a pretty-printed
        JSON packet contains raw newlines (valid JSON whitespace). Critical records of
        every accepted shape must be replayed after kill -9, and a record of one shape
        must not take others down with it."""
        data = self.new_data_dir("shapes")
        d = self.start_dd(data)
        compact = ["compact-%d" % i for i in range(20)]
        crlf = ["crlf-%d" % i for i in range(20)]
        pretty = ["pretty-%d" % i for i in range(20)]
        r = post_packet(d.port, packet([record(x, critical=True) for x in compact]))
        self.assertEqual(r.status, 202, r)
        body = b"".join(json.dumps(record(x, critical=True)).encode() + b"\r\n" for x in crlf)
        r = post_packet(d.port, body, {"Content-Type": "application/x-ndjson"})
        self.assertEqual(r.status, 202, r)
        body = json.dumps({"agent_id": "pretty", "messages": [record(x, critical=True)
                                                              for x in pretty]}, indent=2)
        r = post_packet(d.port, body.encode())
        self.assertEqual(r.status, 202, r)
        self.assertEqual(d.metrics()["wal_live_records"], 60)
        self.kill9(d.proc)

        a = self.start_analyzer("shapes")
        d = self.start_dd(data, analyzers=[(a.id, a.url, 1)])
        skipped = log_lines(d.proc, r"replayed records do not parse.*")
        if skipped:
            sys.stderr.write("\nlogdistd: %s\n" % skipped)
        self.wait_drained(d, dl(10), wal=False)
        self.wait_ids([a], compact + crlf, dl(3), "single-line critical records")
        self.wait_ids([a], pretty, dl(3), "multi-line (pretty-printed) critical records")
        self.wait_drained(d, dl(10))  # and the WAL lets go of them


# ============================================================================ 2. torn writes

class TornWriteTest(DurabilityCase):

    def test_damaged_wal_tail_is_cut_and_the_rest_delivered(self):
        """N critical records are accepted with no analyzer registered (nothing is
        acknowledged), logdistd is killed -9; the last WAL segment is damaged (one
        scenario per offset, each on a fresh copy of the data dir); a restart with live
        analyzers cuts the tail, says so, and delivers every record whose entry lies
        entirely before the damage."""
        src = self.new_data_dir("torn-src")
        d = self.start_dd(src)
        n = scaled(600, 150)
        ids_file = self.path("torn.ids")
        s = self.run_gen(d, count=n, packet_size=10, connections=2, ids_out=ids_file,
                         prefix="torn", extra=("--critical-ratio", "1"))
        self.assertEqual(s["records_accepted"], n)
        accepted = set(read_lines(ids_file))
        self.assertEqual(len(accepted), n)
        self.assertEqual(d.metrics()["wal_live_records"], n)
        self.kill9(d.proc)

        segs = wal_files(src)
        self.assertEqual(len(segs), 1, segs)
        seg_name = os.path.basename(segs[-1])
        img = read_file(segs[-1])
        entries, good = parse_wal(img)
        # the pristine segment: every entry valid (CRC32C), records stored verbatim
        self.assertEqual(good, len(img), "logdistd's own WAL does not parse to the end")
        recs = [e for e in entries if e.type == 1]
        self.assertEqual({e.record_id() for e in recs}, accepted)
        for e in recs[:: max(1, len(recs) // 20)]:
            pos = img.find(b'"id":"%s"' % e.record_id().encode())
            self.assertTrue(e.off < pos < e.end, "record bytes not verbatim in its entry")

        size = len(img)
        mid_entry = recs[len(recs) // 2]
        last = entries[-1]
        scenarios = [
            ("truncate 3 bytes before the end", "truncate", size - 3),
            ("truncate in the middle", "truncate", size // 2),
            ("truncate inside an entry header", "truncate", mid_entry.off + 5),
            ("flip a byte near the end", "flip", size - 5),
            ("flip a byte of the last entry's length", "flip", last.off),
            ("flip a byte in the middle", "flip", mid_entry.off + 30),
        ]
        ans = [self.start_analyzer("t1"), self.start_analyzer("t2")]
        specs = [(a.id, a.url, 1) for a in ans]
        results = []
        for name, kind, off in scenarios:
            with self.subTest(scenario=name):
                for a in ans:
                    r = http_request(a.port, "POST", "/stats/reset")
                    self.assertEqual(r.status, 200)
                dst = self.path(self.unique("torn-copy"))
                shutil.copytree(src, dst)
                path = os.path.join(dst, seg_name)
                with open(path, "r+b") as f:
                    if kind == "truncate":
                        f.truncate(off)
                    else:
                        f.seek(off)
                        b = f.read(1)
                        f.seek(off)
                        f.write(bytes([b[0] ^ 0x5A]))
                damaged_len = os.path.getsize(path)
                # records whose entry ends at or before the damage are intact
                keep_end = max([WAL_HEADER] + [e.end for e in entries if e.end <= off])
                expected = {e.record_id() for e in recs if e.end <= keep_end}
                d = self.start_dd(dst, analyzers=specs)
                cuts = log_lines(d.proc, CUT_RE)
                self.assertEqual(len(cuts), 1, "no/several cut lines in logdistd stderr:\n%s"
                                 % d.proc.stderr_text()[-2000:])
                cut_bytes, cut_at = int(cuts[0][0]), int(cuts[0][1])
                self.assertEqual(cut_at, keep_end, "cut offset")
                self.assertEqual(cut_bytes, damaged_len - keep_end, "bytes cut")
                self.wait_ids(ans, expected, dl(30), "records before the damage")
                self.wait_drained(d, dl(30))
                got = union_ids(ans)
                self.assertLessEqual(got, accepted)
                self.assertEqual(d.metrics()["records_replayed"], len(expected))
                results.append({"scenario": name, "offset": off, "kept": len(expected),
                                "delivered": len(got & accepted), "lost_after_damage":
                                n - len(expected)})
                self.sigterm(d.proc)
                # the cut is permanent: a second start finds nothing to cut or replay
                d = self.start_dd(dst)
                self.assertFalse(log_lines(d.proc, CUT_RE))
                self.assertEqual(d.metrics()["records_replayed"], 0)
                self.sigterm(d.proc)
        figures("torn", records=n, wal_bytes=size, scenarios=results)


# ============================================================================ 3. disk budget

class WalSyncTest(DurabilityCase):

    def test_every_durable_ack_follows_an_fdatasync(self):
        """strace on logdistd: each durable packet posted alone (its 202 awaited before
        the next) is acknowledged only after an fdatasync/fsync system call of the WAL
        writer; a WAL that skipped them (fast, and loses acknowledged records at a power
        cut) would keep every other test green."""
        data = self.new_data_dir("sync")
        d = self.start_dd(data)
        trace = self.path("fsync.strace")
        st = self.spawn("strace", ["strace", "-f", "-p", str(d.proc.pid), "-e",
                                   "trace=fdatasync,fsync", "-e", "signal=none", "-o", trace])
        wait_until(lambda: "attached" in st.stderr_text() or not st.running(), dl(10),
                   "strace to attach")
        self.assertTrue(st.running(), "strace could not attach: %s" % st.stderr_text())
        n = 5
        for i in range(n):
            r = post_packet(d.port, packet([record("sync-%d" % i, critical=True)]))
            self.assertEqual(r.status, 202, r)
        m = d.metrics()
        st.signal(signal.SIGINT)  # strace detaches and exits
        st.wait(dl(10))
        calls = [ln for ln in read_file(trace).decode().splitlines()
                 if ("fdatasync(" in ln or "fsync(" in ln) and "= 0" in ln]
        print("[durability] %d durable packets: wal_fsyncs %d, fdatasync/fsync calls seen %d"
              % (n, m["wal_fsyncs"], len(calls)), flush=True)
        self.assertEqual(m["records_durable"], n, m)
        self.assertGreaterEqual(m["wal_fsyncs"], n, m)
        self.assertGreaterEqual(len(calls), m["wal_fsyncs"],
                                "the WAL counted %d syncs but made %d sync calls:\n%s"
                                % (m["wal_fsyncs"], len(calls), "\n".join(calls)))


class DiskBudgetTest(DurabilityCase):

    def test_disk_full_then_recovery(self):
        """--max-disk-bytes 2MiB, 256KiB segments, no analyzer: critical packets end in
        503 disk_full + Retry-After; nothing that got a 202 is lost once analyzers come;
        delivered segments are deleted and durable packets are accepted again."""
        data = self.new_data_dir("disk")
        d = self.start_dd(data, "--max-disk-bytes", "2MiB", "--wal-segment-bytes", "256KiB")
        accepted, refused = [], None
        for i in range(400):
            ids = ["disk-%04d-%03d" % (i, j) for j in range(50)]
            r = post_packet(d.port, packet([record(x, critical=True, pad=300) for x in ids]))
            if r.status == 202:
                accepted += ids
                continue
            refused = r
            break
        self.assertIsNotNone(refused, "2 MiB budget never filled")
        self.assertEqual(refused.status, 503, refused)
        self.assertEqual(refused.json().get("error"), "disk_full", refused)
        # docs/API.md: disk_full -> Retry-After: 5, and retry_after_s in the body
        self.assertEqual(refused.headers.get("retry-after"), "5", refused)
        self.assertEqual(refused.json().get("retry_after_s"), 5, refused)
        # still full: the same packet again is refused too
        r = post_packet(d.port, packet([record("disk-again-%d" % j, critical=True, pad=300)
                                        for j in range(50)]))
        self.assertEqual((r.status, r.json().get("error")), (503, "disk_full"), r)
        m = d.metrics()
        self.assertGreaterEqual(m["packets_rejected_by_reason"]["disk_full"], 2)
        self.assertLessEqual(m["wal_bytes"], 2 << 20)
        self.assertLessEqual(wal_bytes(data), 2 << 20)
        segs_full = len(wal_files(data))
        bytes_full = wal_bytes(data)
        self.assertGreaterEqual(segs_full, 4, "segments did not roll at 256KiB")
        # records that are not durable do not need the disk
        r = post_packet(d.port, packet([record("disk-nc-%d" % j) for j in range(10)]))
        self.assertEqual(r.status, 202, r)
        accepted += ["disk-nc-%d" % j for j in range(10)]

        ans = [self.start_analyzer("k1"), self.start_analyzer("k2")]
        for a in ans:
            self.add_analyzer_api(d, a.id, a.url)
        self.wait_ids(ans, accepted, dl(60), "accepted records")
        self.wait_drained(d, dl(30))

        def shrunk():
            return len(wal_files(data)) <= 2 and wal_bytes(data) < bytes_full // 2
        wait_until(shrunk, dl(20), "delivered WAL segments deleted (%d segments, %d bytes "
                   "when full)" % (segs_full, bytes_full), interval=0.1)
        segs_after, bytes_after = len(wal_files(data)), wal_bytes(data)
        r = post_packet(d.port, packet([record("disk-after-%d" % j, critical=True, pad=300)
                                        for j in range(50)]))
        self.assertEqual(r.status, 202, r)
        self.wait_ids(ans, ["disk-after-%d" % j for j in range(50)], dl(30))
        figures("disk", accepted_before_full=len(accepted) - 10, segments_full=segs_full,
                bytes_full=bytes_full, segments_after=segs_after, bytes_after=bytes_after)


# ============================================================================ 4. restart

class RestartTest(DurabilityCase):

    def _specs(self, d):
        return {k: (v["url"], v["health_url"], v["weight"]) for k, v in d.analyzers().items()}

    def test_analyzers_survive_restart(self):
        """Analyzers added (POST), re-weighted (PUT) and removed (DELETE) through the API
        come back after SIGTERM + restart with no --analyzer flag; a flag naming a stored
        id overrides it and is written back to the store."""
        a1, a2, a3, a4 = [self.start_analyzer("r%d" % i) for i in range(1, 5)]
        data = self.new_data_dir("restart")
        d = self.start_dd(data)
        self.add_analyzer_api(d, "r1", a1.url, 1)
        self.add_analyzer_api(d, "r2", a2.url, 2, health_url="http://127.0.0.1:%d/health"
                              % a2.port)
        self.add_analyzer_api(d, "r3", a3.url, 3)
        r = d.req("PUT", ANALYZERS + "/r2", {"weight": 5})
        self.assertEqual(r.status, 200, r)
        r = d.req("DELETE", ANALYZERS + "/r3")
        self.assertEqual(r.status, 200, r)
        before = self._specs(d)
        self.assertEqual(set(before), {"r1", "r2"})
        self.assertEqual(before["r2"][2], 5.0)
        self.sigterm(d.proc)

        d = self.start_dd(data)
        self.assertEqual(self._specs(d), before)
        # they are used, not just listed
        r = post_packet(d.port, packet([record("rs-%d" % i) for i in range(60)]))
        self.assertEqual(r.status, 202, r)
        self.wait_ids([a1, a2], ["rs-%d" % i for i in range(60)], dl(20))
        self.assertEqual(a3.records(), 0)
        self.sigterm(d.proc)

        # a flag naming r1 wins over the stored r1 (url and weight), r2 stays as stored
        d = self.start_dd(data, analyzers=[("r1", a4.url, 7)])
        got = self._specs(d)
        self.assertEqual(set(got), {"r1", "r2"})
        self.assertEqual(got["r1"][0], a4.url)
        self.assertEqual(got["r1"][2], 7.0)
        self.assertEqual(got["r2"], before["r2"])
        self.sigterm(d.proc)
        # observed (and documented in docs/DURABILITY.md): the flag's version is written
        # back to the store, so it is still there after a restart without the flag
        d = self.start_dd(data)
        got2 = self._specs(d)
        self.assertEqual(got2, got)
        self.sigterm(d.proc)


# ============================================================================ 5. dead letters

class DeadLetterTest(DurabilityCase):

    def _dl(self, d):
        r = d.req("GET", DEADLETTER)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_deadletters_persist_replay_and_purge(self):
        bad = self.start_analyzer("bad", "--status", "500")
        hc = self.recording_analyzer()  # answers /health 200 so 'bad' stays up
        health = "http://127.0.0.1:%d/health" % hc.port
        data = self.new_data_dir("dlq")
        args = ("--max-attempts", "2", "--retry-base-ms", "10")
        d = self.start_dd(data, *args, analyzers=[
            "id=bad,url=%s,weight=1,health_url=%s" % (bad.url, health)])
        n = scaled(300, 100)
        ids = ["dl-%04d" % i for i in range(n)]
        for k in range(0, n, 50):  # half critical (durable), half not
            r = post_packet(d.port, packet([record(x, critical=(i % 2 == 0))
                                            for i, x in enumerate(ids[k:k + 50])]))
            self.assertEqual(r.status, 202, r)
        wait_until(lambda: self._dl(d)["records"] == n, dl(30), "all records dead-lettered")
        j = self._dl(d)
        self.assertTrue(j["persistent"], j)
        self.assertTrue(j["sample"] and j["sample"][0]["attempts"] == 2, j)
        self.assertEqual(j["sample"][0]["last_analyzer"], "bad")
        self.wait_drained(d, dl(20))  # dead-lettered durable records are acknowledged
        self.sigterm(d.proc)

        d = self.start_dd(data, *args)  # 'bad' comes back from the analyzer store
        j2 = self._dl(d)
        self.assertEqual((j2["records"], j2["batches"]), (j["records"], j["batches"]))
        self.assertEqual(d.metrics()["records_replayed"], 0,
                         "dead-lettered records were also replayed from the WAL")

        good = self.start_analyzer("good")
        self.add_analyzer_api(d, "good", good.url)
        self.assertEqual(d.req("DELETE", ANALYZERS + "/bad").status, 200)
        r = d.req("POST", DEADLETTER + "/replay")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["replayed_records"], n, r)
        self.assertEqual(r.json()["replayed_batches"], j["batches"], r)
        self.wait_ids([good], ids, dl(30), "replayed dead letters")
        self.wait_drained(d, dl(20))
        self.assertEqual(self._dl(d)["records"], 0)
        self.assertEqual(good.stats()["duplicate_ids"], 0)

        # purge: dead-letter more, DELETE, and the purge survives a restart
        self.add_analyzer_api(d, "bad", bad.url, health_url=health)
        self.assertEqual(d.req("DELETE", ANALYZERS + "/good").status, 200)
        more = ["dl2-%03d" % i for i in range(40)]
        r = post_packet(d.port, packet([record(x, critical=True) for x in more]))
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: self._dl(d)["records"] == 40, dl(30), "second dead letters")
        r = d.req("DELETE", DEADLETTER)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["purged_records"], 40, r)
        self.assertEqual(self._dl(d)["records"], 0)
        self.sigterm(d.proc)
        d = self.start_dd(data, *args)
        self.assertEqual(self._dl(d)["records"], 0)
        self.assertEqual(d.metrics()["records_replayed"], 0)
        self.assertEqual(good.stats()["unique_ids"], n)


# ============================================================================ 6. policies

class DurabilityPolicyTest(DurabilityCase):

    def _survivors(self, data, extra_args, sends):
        """Start logdistd without analyzers, send packets [(ids, body, headers)], kill -9,
        restart with one analyzer; return the set of ids delivered after the restart."""
        d = self.start_dd(data, *extra_args)
        for ids, body, headers in sends:
            r = post_packet(d.port, body, headers)
            self.assertEqual(r.status, 202, r)
        self.kill9(d.proc)
        a = self.start_analyzer(self.unique("p"))
        d = self.start_dd(data, *extra_args, analyzers=[(a.id, a.url, 1)])
        self.wait_drained(d, dl(20))  # delivered = acknowledged by the analyzer
        return set(a.ids()), d

    def test_none_writes_no_wal(self):
        data = self.new_data_dir("none")
        d = self.start_dd(data, "--durability", "none")
        for k in range(5):
            r = post_packet(d.port, packet([record("none-%d-%d" % (k, i), critical=True,
                                                   level="FATAL") for i in range(50)]))
            self.assertEqual(r.status, 202, r)
        # asking for durability it cannot give is refused (409), not silently downgraded
        r = post_packet(d.port, packet([record("none-h", critical=True)]),
                        {"X-Logdist-Durability": "critical"})
        self.assertEqual((r.status, r.json().get("error")), (409, "durability_unavailable"), r)
        m = d.metrics()
        self.assertEqual(m["records_accepted"], 250, m)
        self.assertEqual((m["records_durable"], m["wal_bytes"], m["wal_fsyncs"]), (0, 0, 0), m)
        self.assertEqual(wal_files(data), [], os.listdir(data))
        self.kill9(d.proc)
        self.assertEqual(wal_files(data), [])

    def test_header_and_critical_levels_are_durable(self):
        data = self.new_data_dir("hdr")
        hdr_ids = ["hdr-%d" % i for i in range(30)]
        plain_ids = ["plain-%d" % i for i in range(30)]
        sends = [
            (hdr_ids, packet([record(x) for x in hdr_ids]), {"X-Logdist-Durability": "critical"}),
            (plain_ids, packet([record(x) for x in plain_ids]), None),
            (["fatal-1", "error-1"], packet([record("fatal-1", level="FATAL"),
                                             record("error-1", level="ERROR")]), None),
        ]
        got, d = self._survivors(data, ("--critical-levels", "FATAL"), sends)
        self.assertLessEqual(set(hdr_ids), got, "header packet not durable")
        self.assertIn("fatal-1", got, "FATAL record not durable with --critical-levels FATAL")
        # memory-only records die with the process (this also shows the test is real)
        self.assertFalse(set(plain_ids) & got)
        self.assertNotIn("error-1", got)
        self.assertEqual(d.metrics()["records_replayed"], len(hdr_ids) + 1)

    def test_all_makes_every_record_durable(self):
        data = self.new_data_dir("all")
        ids = ["all-%d" % i for i in range(40)]
        got, _ = self._survivors(data, ("--durability", "all"),
                                 [(ids, packet([record(x) for x in ids]), None)])
        self.assertEqual(got, set(ids))


if __name__ == "__main__":
    unittest.main(verbosity=2)
