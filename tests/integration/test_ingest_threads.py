"""--ingest-threads: several ingest loops, each its own thread and SO_REUSEPORT
listener on the same port, in front of the one delivery thread.

Checked with 2 and 3 loops (more than this machine's cores is fine):
  - many concurrent connections: every record delivered exactly once, the split exact
    to the weights (SWRR: within 2 records, as test_distribution.py), and more than one
    loop served packets (/api/v1/metrics "ingest_loops");
  - a per-agent rate limit stays exact with the agent's packets arriving on every loop;
  - durable (X-Logdist-Durability: critical) packets acknowledged by both loops survive
    kill -9;
  - SIGHUP TLS reloads while new TLS connections arrive on every loop: no crash, every
    request answered;
  - SIGTERM under load: exit 0, every acknowledged record delivered.

Run: LOGDIST_BIN=<build>/bin python3 tests/integration/test_ingest_threads.py
"""
import http.client
import json
import os
import shutil
import signal
import ssl
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, read_lines, scaled, wait_until  # noqa: E402
from durability_util import DurabilityCase, packet, post_packet, record  # noqa: E402
from security_util import Pki, client_ctx, https_conn  # noqa: E402

WEIGHTS = [("w40", 0.4), ("w30", 0.3), ("w20", 0.2), ("w10", 0.1)]
SWRR_RECORDS = 2  # README: "within a record or two at any point of the stream"
LOGS = "/api/v1/logs"


def loops_with_packets(m):
    return sum(1 for lp in m["ingest_loops"] if lp["packets"] > 0)


def run_threads(n, fn):
    """Run fn(i) on n threads; re-raise the first exception."""
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(dl(120))
    if errors:
        raise errors[0]


class IngestThreadsTest(LogdistTestCase):

    def check_split(self, threads):
        analyzers = [self.start_analyzer(aid) for aid, _ in WEIGHTS]
        d = self.start_daemon("--ingest-threads", str(threads),
                              analyzers=[(a.id, a.url, w) for a, (_, w) in zip(analyzers, WEIGHTS)])
        count = scaled(100000, 20000)
        ids_path = self.path("ids-%d.txt" % threads)
        summary = self.run_gen(d, count=count, packet_size=50, connections=16, ids_out=ids_path,
                               prefix=self.unique("t%d" % threads))
        self.assertEqual(summary["records_accepted"], count, summary)
        self.assertEqual(summary["records_rejected"], 0, summary)
        m = d.wait_all_delivered(dl(60), expect_accepted=count)
        self.assertEqual(m["records_delivered"], count)
        self.assertEqual(m["records_deadlettered"], 0)
        # only queue_full refusals, each retried by gen
        self.assertEqual(m["packets_rejected"], m["packets_rejected_by_reason"]["queue_full"], m)
        loops = m["ingest_loops"]
        print("[ingest-threads %d] loops: %s" % (threads, json.dumps(loops)), flush=True)
        self.assertEqual(len(loops), threads, loops)
        self.assertGreaterEqual(loops_with_packets(m), 2, loops)
        self.assertEqual(sum(lp["packets"] for lp in loops), m["packets_accepted"], loops)
        self.assertEqual(sum(lp["records"] for lp in loops), count, loops)

        sent = read_lines(ids_path)
        self.assertEqual(len(sent), count)
        union, total = set(), 0
        for a, (_, w) in zip(analyzers, WEIGHTS):
            st = a.stats()
            self.assertEqual(st["duplicate_ids"], 0, st)
            self.assertEqual(st["bad_batches"], 0, st)
            total += st["records"]
            union.update(a.ids())
            self.assertLessEqual(abs(st["records"] - w * count), SWRR_RECORDS,
                                 "%s got %d records of %d, weight %.2f: more than %d off"
                                 % (a.id, st["records"], count, w, SWRR_RECORDS))
        self.assertEqual(total, count, "records received by all analyzers (duplicates?)")
        self.assertEqual(union, set(sent), "union of analyzer ids == ids accepted by gen")

    def test_split_exact_two_loops(self):
        self.check_split(2)

    def test_split_exact_three_loops(self):
        self.check_split(3)

    def test_agent_rate_limit_exact_across_loops(self):
        """Two agents, each posting from 6 connections (spread over both loops) as fast
        as they can for ~2 s against --agent-records-per-s 2000 (burst 1 s): each agent
        gets at most rate x (burst + elapsed) records (+ one packet), and not far less
        (the buckets are shared, not per loop: per-loop buckets would let twice through)."""
        rate, pkt = 2000, 10
        sink = self.start_analyzer("rl")
        d = self.start_daemon("--ingest-threads", "2", "--agent-records-per-s", str(rate),
                              "--rate-burst-s", "1", analyzers=[(sink.id, sink.url, 1)])
        accepted = {"A": 0, "B": 0}
        limited = {"A": 0, "B": 0}
        lock = threading.Lock()
        duration = 2.0
        start = time.monotonic()

        def client(i):
            agent = "A" if i % 2 == 0 else "B"
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=dl(15))
            n = 0
            try:
                while time.monotonic() - start < duration:
                    recs = [{"id": "%s-%d-%d-%d" % (agent, i, n, k), "message": "x"}
                            for k in range(pkt)]
                    body = json.dumps({"agent_id": agent, "messages": recs}).encode()
                    conn.request("POST", LOGS, body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    n += 1
                    with lock:
                        if r.status == 202:
                            accepted[agent] += pkt
                        elif r.status == 429:
                            limited[agent] += 1
                        else:
                            raise AssertionError("status %d" % r.status)
                    if r.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=dl(15))
            finally:
                conn.close()
        run_threads(12, client)
        elapsed = time.monotonic() - start
        m = d.metrics()
        print("[ingest-threads rate] accepted %s, 429s %s in %.2fs; loops %s"
              % (accepted, limited, elapsed, json.dumps(m["ingest_loops"])), flush=True)
        self.assertGreaterEqual(sum(1 for lp in m["ingest_loops"] if lp["requests"] > 0), 2,
                                m["ingest_loops"])
        for agent in ("A", "B"):
            self.assertGreater(limited[agent], 0, "agent %s never limited" % agent)
            bound = rate * (1 + elapsed) + pkt
            self.assertLessEqual(accepted[agent], bound,
                                 "agent %s: %d records in %.2fs, limit %d/s burst 1 s (%d)"
                                 % (agent, accepted[agent], elapsed, rate, bound))
            # the first second's burst plus most of the rest (the clients are fast)
            self.assertGreaterEqual(accepted[agent], rate * (1 + duration) * 0.6,
                                    "agent %s: only %d records" % (agent, accepted[agent]))
        self.assertEqual(m["rate_limits"]["agent"], sum(limited.values()), m)

    def test_sigterm_under_load_exits_zero(self):
        """SIGTERM while 16 connections send: exit 0, and every record acknowledged with
        a 202 reached the analyzer (the drain delivered it)."""
        sink = self.start_analyzer("drain")
        d = self.start_daemon("--ingest-threads", "2", analyzers=[(sink.id, sink.url, 1)])
        ids_path = self.path("drain-ids.txt")
        g = self.start_gen(d, duration=30, packet_size=20, connections=16, ids_out=ids_path,
                           extra=("--max-retries", "0"))
        wait_until(lambda: loops_with_packets(d.metrics()) >= 2 and
                   d.metrics()["records_accepted"] > 20000, dl(20), "both loops ingesting")
        d.proc.signal(signal.SIGTERM)
        rc = d.proc.wait(dl(30))
        self.assertEqual(rc, 0, "exit code after SIGTERM; stderr tail:\n%s"
                         % d.proc.stderr_text()[-2000:])
        self.finish_gen(g, dl(60), expect_rc=None)
        acked = set(read_lines(ids_path))
        self.assertGreater(len(acked), 20000)
        got = set(sink.ids())
        missing = acked - got
        self.assertFalse(missing, "%d acknowledged records not delivered by the drain, e.g. %s"
                         % (len(missing), sorted(missing)[:5]))
        self.assertIn("stopped; 0 records undelivered at exit", d.proc.stderr_text())


class IngestThreadsDurableTest(DurabilityCase):

    def test_durable_acks_from_both_loops_survive_kill9(self):
        """Critical packets from 8 connections, with the analyzer stopped (nothing is
        delivered or acknowledged): each 202 came after the fsync, on whichever loop
        served it. kill -9, restart on the same data dir: every acknowledged record is
        replayed and delivered."""
        data = self.new_data_dir("threads")
        sink = self.start_analyzer("k9")
        self.stop_process(sink.proc)  # hangs: batches wait, WAL records stay live
        d = self.start_dd(data, "--ingest-threads", "2", "--request-timeout-ms", "60000",
                          analyzers=[(sink.id, sink.url, 1)])
        acked = []
        lock = threading.Lock()
        per_client = scaled(40, 10)

        def client(i):
            for n in range(per_client):
                recs = [record("k9-%d-%d-%d" % (i, n, k)) for k in range(10)]
                r = post_packet(d.port, packet(recs), {"X-Logdist-Durability": "critical"})
                self.assertEqual(r.status, 202, r)
                with lock:
                    acked.extend(x["id"] for x in recs)
        run_threads(8, client)
        m = d.metrics()
        print("[ingest-threads durable] loops %s, records_durable %d"
              % (json.dumps(m["ingest_loops"]), m["records_durable"]), flush=True)
        self.assertGreaterEqual(loops_with_packets(m), 2, m["ingest_loops"])
        self.assertEqual(m["records_durable"], len(acked), m)
        self.kill9(d.proc)
        self.cont_process(sink.proc)
        d2 = self.start_dd(data, "--ingest-threads", "2", port=d.port,
                           analyzers=[(sink.id, sink.url, 1)])
        self.assertGreaterEqual(d2.metrics()["records_replayed"], len(acked))
        self.wait_ids([sink], acked, dl(60), "acknowledged durable records")
        self.sigterm(d2.proc)


class IngestThreadsTlsTest(LogdistTestCase):

    def test_sighup_reload_under_load(self):
        """New TLS connections on every loop (each request its own handshake) while the
        certificate is reloaded 20 times (SIGHUP, alternating two certificates): no crash,
        every request answered 202, both certificates served, both loops used."""
        pki = Pki(self.path("pki"))
        ca = pki.make_ca("ca")
        certs = [pki.issue("srv%d" % i, ca, "127.0.0.1", san="IP:127.0.0.1") for i in range(2)]
        live_cert, live_key = self.path("live.pem"), self.path("live.key")
        shutil.copy(certs[0][0], live_cert)
        shutil.copy(certs[0][1], live_key)
        sink = self.start_analyzer("tls")
        d = self.start_daemon("--ingest-threads", "2", "--tls-cert", live_cert, "--tls-key",
                              live_key, analyzers=[(sink.id, sink.url, 1)])
        ctx = client_ctx(ca[0])
        stop = threading.Event()
        served = {"n": 0, "serials": set()}
        lock = threading.Lock()

        def client(i):
            n = 0
            while not stop.is_set():
                conn = https_conn(d.port, ctx)
                try:
                    body = json.dumps({"messages": [{"id": "tls-%d-%d" % (i, n)}]}).encode()
                    conn.request("POST", LOGS, body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    self.assertEqual(r.status, 202)
                    der = conn.sock.getpeercert(binary_form=True)
                finally:
                    conn.close()
                n += 1
                with lock:
                    served["n"] += 1
                    served["serials"].add(der)

        def reloader(_):
            try:
                for k in range(20):
                    src = certs[(k + 1) % 2]
                    shutil.copy(src[0], live_cert + ".tmp")
                    shutil.copy(src[1], live_key + ".tmp")
                    os.replace(live_key + ".tmp", live_key)
                    os.replace(live_cert + ".tmp", live_cert)
                    d.proc.signal(signal.SIGHUP)
                    time.sleep(0.1)
            finally:
                time.sleep(0.3)
                stop.set()

        def worker(i):
            if i == 0:
                reloader(i)
            else:
                client(i)
        run_threads(7, worker)
        self.assertTrue(d.proc.running(), d.proc.stderr_text()[-2000:])
        self.assertGreaterEqual(d.proc.stderr_text().count("TLS certificate reloaded"), 15)
        self.assertGreater(served["n"], 50, served)
        self.assertEqual(len(served["serials"]), 2, "both certificates served")
        conn = https_conn(d.port, ctx)
        conn.request("GET", "/api/v1/metrics")
        r = conn.getresponse()
        m = json.loads(r.read())
        conn.close()
        print("[ingest-threads tls] %d requests; loops %s"
              % (served["n"], json.dumps(m["ingest_loops"])), flush=True)
        self.assertGreaterEqual(loops_with_packets(m), 2, m["ingest_loops"])
        self.assertEqual(m["packets_accepted"], served["n"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
