"""Overload promises of docs/OVERLOAD.md and docs/API.md, each checked on its own:

- --max-connections: a connection over the limit gets 503 too_many_connections
  (Retry-After: 1, retry_after_s, Connection: close), counted in
  connections_refused; a freed slot is served again.
- queue hysteresis: after 503 queue_full, ingest accepts again only once the
  queue is back under 80 % of --max-queue-bytes.
- panic mode (--panic-threshold): fewer routable analyzers than the threshold ->
  route to all of them ("panic": true), failed batches retried on the others,
  nothing lost; above the threshold, no panic.
- circuit breaker: the error-% rule counts only with --breaker-min-requests
  batches in the window, and opens at --breaker-error-pct failed; half-open lets
  at most --breaker-probes batches through until they succeed.

Each 503 body carries retry_after_s (docs/API.md). Analyzers with scripted
answers are in-process RecordingAnalyzers (harness.py).

Run: LOGDIST_BIN=build/bin python3 tests/integration/test_overload.py
"""
import json
import os
import signal
import socket
import sys
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, free_port, http_request, wait_until  # noqa: E402
from http_raw import read_response  # noqa: E402


def send_request(sock, method, path, body=b""):
    sock.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n\r\n" % (method, path, len(body))).encode() + body)




def record(rid, pad):
    return '{"id":"%s","m":"%s"}' % (rid, "x" * pad)


class MaxConnectionsTest(LogdistTestCase):

    def test_connection_over_the_limit_gets_503(self):
        d = self.start_daemon("--max-connections", "3")
        held = [socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
                for _ in range(3)]
        try:
            for s in held:  # a connection counts from its first request
                send_request(s, "GET", "/health")
                self.assertEqual(read_response(s)[0], 200)
            extra = socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
            try:
                send_request(extra, "POST", "/api/v1/logs", b'[{"id":"mc-1"}]')
                st, h, body = read_response(extra)
                self.assertEqual(st, 503, "a 4th connection with --max-connections 3: %r" % body)
                j = json.loads(body)
                self.assertEqual(j["error"], "too_many_connections", j)
                self.assertEqual(j["retry_after_s"], 1, j)
                self.assertEqual(h.get("retry-after"), "1", h)
                self.assertEqual(h.get("connection", "").lower(), "close", h)
                self.assertEqual(extra.recv(1), b"", "refused connection left open")
            finally:
                extra.close()
            # the held connections are still served
            send_request(held[0], "GET", "/health")
            self.assertEqual(read_response(held[0])[0], 200)
        finally:
            held[0].close()
        # one slot freed (its close is noticed asynchronously): served again; an
        # attempt that comes before the close is noticed is refused and counted too
        refused_while_waiting = []

        def metrics_when_served():
            r = d.req("GET", "/api/v1/metrics")
            if r.status == 503:
                refused_while_waiting.append(r.json()["error"])
            return r.status == 200 and r.json()
        m = wait_until(metrics_when_served, dl(10), "a freed slot served")
        for s in held[1:]:
            s.close()
        self.assertEqual(set(refused_while_waiting) - {"too_many_connections"}, set())
        self.assertEqual(m["connections_refused"], 1 + len(refused_while_waiting), m)
        self.assertEqual(m["records_accepted"], 0, m)


    def test_admin_listener_counts_on_its_own(self):
        """A separate --admin-listen has its own connection count: agents holding
        every ingest slot cannot lock operators out of the admin API."""
        d = self.start_daemon("--max-connections", "2", "--admin-listen", "127.0.0.1:0")
        line = d.proc.first_line(dl(10))
        admin = int(line["admin"].rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
                for _ in range(2)]
        try:
            for s in held:
                send_request(s, "GET", "/health")
                self.assertEqual(read_response(s)[0], 200)
            extra = socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
            try:
                send_request(extra, "GET", "/health")
                self.assertEqual(read_response(extra)[0], 503, "a 3rd ingest connection")
            finally:
                extra.close()
            r = http_request(admin, "GET", "/api/v1/metrics")
            self.assertEqual(r.status, 200, "the admin listener while ingest is full: %r" % r)
            self.assertEqual(r.json()["connections_refused"], 1, r.json())
        finally:
            for s in held:
                s.close()


class QueueHysteresisTest(LogdistTestCase):

    def test_accepts_again_only_under_80_percent(self):
        """--max-queue-bytes 64KiB, packets of one ~1 KiB record, one batch per record
        held by a gated analyzer. Once full (503 queue_full), batches are let through
        one at a time: while the queue is between 80 % and 100 % a packet is still
        refused; the first packet accepted again finds the queue under 80 %."""
        budget = 64 * 1024  # many batches: one released is a few % of the budget
        rec = self.recording_analyzer()
        rec.gate = threading.Semaphore(0)
        d = self.start_daemon("--max-queue-bytes", str(budget), "--batch-max-records", "1",
                              "--max-inflight", "1", "--batch-linger-ms", "1",
                              "--request-timeout-ms", "120000",
                              analyzers=[("g", rec.url, 1)])
        d.wait_state("g", "up", dl(10))
        pad = 1000
        seq = [0]

        def post():
            seq[0] += 1
            r = d.post_logs("[%s]" % record("hy-%d" % seq[0], pad))
            if r.status == 503:
                self.assertEqual(r.json()["error"], "queue_full", r)
                self.assertEqual(r.json()["retry_after_s"], 1, r)
                self.assertEqual(r.headers.get("retry-after"), "1", r)
            else:
                self.assertEqual(r.status, 202, r)
            return r.status
        accepted = 0
        while post() == 202:
            accepted += 1
            self.assertLess(accepted, 256, "the queue budget never refused a packet")
        full = d.metrics()["queued_bytes"]
        self.assertGreaterEqual(full, budget * 0.8, full)
        size = full / accepted  # record bytes per packet as the budget counts them
        probes = []  # (queued_bytes before the probe, status)
        for _ in range(accepted):
            q0 = d.metrics()["queued_bytes"]
            rec.release_gate(1)
            q = wait_until(lambda: (lambda q: q < q0 and q)(d.metrics()["queued_bytes"]),
                           dl(10), "one batch delivered")
            st = post()
            probes.append((q, st))
            if st == 202:
                break
        print("[overload] hysteresis: budget %d, full at %d bytes (%d packets of %.0f); "
              "probes (queued bytes, answer): %s" % (budget, full, accepted, size, probes),
              flush=True)
        self.assertEqual(probes[-1][1], 202, "never accepted again: %s" % probes)
        # accepted again only under 80 % of the budget
        self.assertLess(probes[-1][0], 0.8 * budget, probes)
        # and refused while between 80 % and the budget (the hysteresis band was seen)
        band = [st for q, st in probes if 0.8 * budget <= q < budget]
        self.assertTrue(band, "no probe fell in the 80-100 %% band: %s" % probes)
        self.assertEqual(set(band), {503}, probes)
        rec.release_gate(1000)
        m = d.wait_all_delivered(dl(30))
        self.assertEqual(m["records_accepted"], accepted + 1, m)


class QueueShareShrinkTest(LogdistTestCase):

    def test_allowance_shrinks_when_the_others_need_their_shares(self):
        """docs/OVERLOAD.md: an analyzer's allowance is its share plus the idle part of
        the others' shares, so it "shrinks when the others need it". Four analyzers
        4:3:2:1, all equally slow, 1 MiB budget, gen at full speed: w40 (4x the
        records, same capacity) fills its share, so w10's allowance must fall well
        below the whole budget during the load, and be the whole budget again at idle."""
        budget = 1024 * 1024
        an = [self.start_analyzer(aid, "--latency-ms", "50")
              for aid in ("w40", "w30", "w20", "w10")]
        d = self.start_daemon("--max-queue-bytes", "1MiB", "--batch-max-records", "200",
                              "--batch-max-bytes", "16KiB",
                              analyzers=[(a.id, a.url, w) for a, w in zip(an, (4, 3, 2, 1))])
        view = d.analyzers()
        self.assertEqual(view["w10"]["queue_allowance_bytes"], budget, view["w10"])
        samples, errors = [], []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    samples.append(d.analyzers())
                except (OSError, ValueError) as e:  # busy daemon: note it, wait, retry
                    errors.append(repr(e))
                stop.wait(0.05)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        g = self.start_gen(d, rate=0, duration=int(dl(60)), connections=4,
                           ids_out=self.path("ids.txt"), extra=["--max-retries", "1000"])
        try:
            # load until w40's queue has been seen over its own share for a while
            wait_until(lambda: sum(1 for v in samples if v["w40"]["queue_bytes"] >
                                   v["w40"]["queue_share_bytes"]) >= 10, dl(60),
                       "w40's queue over its share")
        finally:
            g.signal(signal.SIGTERM)
            self.finish_gen(g, dl(60), expect_rc=None)
            stop.set()
            t.join(dl(10))
        self.assertGreaterEqual(len(samples), 10, "too few samples: %s" % errors[-3:])
        low = min(v["w10"]["queue_allowance_bytes"] for v in samples)
        share10 = samples[-1]["w10"]["queue_share_bytes"]
        print("[overload] queue shares: w10 allowance fell to %.2f MiB (its share %.2f MiB, "
              "budget %.2f MiB); w40 queue peaked at %.2f MiB" % (
                  low / 2**20, share10 / 2**20, budget / 2**20,
                  max(v["w40"]["queue_bytes"] for v in samples) / 2**20), flush=True)
        # the others' shares are 0.9 MiB: with w40's queue over its share, at most
        # share10 + idle(w30) + idle(w20) = 0.6 MiB is left to w10
        self.assertLessEqual(low, 0.6 * budget + 16 * 1024, "w10's allowance never shrank")
        self.assertGreaterEqual(low, share10 - 2, "an allowance is at least the own share")
        d.wait_all_delivered(dl(60))
        wait_until(lambda: all(a["queue_bytes"] == 0 for a in d.analyzers().values()),
                   dl(30), "analyzer queues empty")
        view = d.analyzers()
        for aid in ("w40", "w30", "w20", "w10"):
            self.assertEqual(view[aid]["queue_allowance_bytes"], budget, view[aid])


class PanicModeTest(LogdistTestCase):

    def start(self, threshold, up):
        """Four analyzers, `up` of them alive (the rest: nothing listens)."""
        live = [self.start_analyzer("p%d" % i) for i in range(up)]
        dead = ["http://127.0.0.1:%d/ingest" % free_port() for _ in range(4 - up)]
        specs = [(a.id, a.url, 1) for a in live] + [("d%d" % i, u, 1) for i, u in enumerate(dead)]
        # breakers off: an open breaker holds the batches queued at a dead analyzer
        # that panic keeps routable until its cool-down ends (up to 30 s); this checks
        # panic routing alone
        d = self.start_daemon("--panic-threshold", str(threshold), "--retry-base-ms", "10",
                              "--retry-max-ms", "50", "--max-attempts", "50",
                              "--batch-max-records", "10", "--breaker-failures", "0",
                              "--breaker-error-pct", "0", analyzers=specs)
        for i in range(4 - up):
            d.wait_state("d%d" % i, "down", dl(10))
        return live, d

    def send(self, d, n):
        for i in range(n // 10):
            r = d.post_logs("[%s]" % ",".join('{"id":"pm-%d-%d"}' % (i, j) for j in range(10)))
            self.assertEqual(r.status, 202, r)

    def test_panic_routes_to_all(self):
        live, d = self.start(50, 1)  # 1 of 4 routable: 25 % < 50 %
        j = d.req("GET", "/api/v1/analyzers").json()
        self.assertTrue(j["panic"], j)
        self.send(d, 400)
        m = d.wait_all_delivered(dl(30), expect_accepted=400)
        view = d.analyzers()
        routed_dead = sum(view["d%d" % i]["records_routed"] for i in range(3))
        print("[overload] panic: records routed to the 3 dead analyzers %d of 400; retried %d"
              % (routed_dead, m["records_retried"]), flush=True)
        self.assertGreater(routed_dead, 0, "panic mode routed nothing to the down analyzers")
        self.assertGreater(m["records_retried"], 0, m)
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(len(live[0].ids()), 400)

    def test_no_panic_above_threshold(self):
        live, d = self.start(50, 3)  # 3 of 4 routable: 75 % >= 50 %
        j = d.req("GET", "/api/v1/analyzers").json()
        self.assertFalse(j["panic"], j)
        self.send(d, 300)
        d.wait_all_delivered(dl(30), expect_accepted=300)
        self.assertEqual(d.analyzers()["d0"]["records_routed"], 0)
        self.assertEqual(sum(len(a.ids()) for a in live), 300)

    def test_panic_off_by_default(self):
        live, d = self.start(0, 1)
        self.assertFalse(d.req("GET", "/api/v1/analyzers").json()["panic"])
        self.send(d, 100)
        d.wait_all_delivered(dl(30), expect_accepted=100)
        self.assertEqual(sum(d.analyzers()["d%d" % i]["records_routed"] for i in range(3)), 0)


class BreakerRulesTest(LogdistTestCase):

    def breaker_daemon(self, an, *args):
        return self.start_daemon("--batch-max-records", "1", "--batch-linger-ms", "1",
                                 "--max-attempts", "1", "--passive-fall", "100",
                                 "--breaker-failures", "0", "--breaker-window-ms", "600000",
                                 *args, analyzers=[("b", an.url, 1)])

    def post_one(self, d, rid):
        r = d.post_logs('[{"id":"%s"}]' % rid)
        self.assertEqual(r.status, 202, r)

    def settle(self, d, batches):
        """Wait until `batches` batches were attempted and nothing is in flight."""
        return wait_until(lambda: (lambda m: m["batches_sent"] >= batches and
                                   m["inflight_batches"] == 0 and m)(d.metrics()),
                          dl(15), "%d batches attempted" % batches)

    def test_error_pct_needs_min_requests(self):
        """Every batch fails: no trip before --breaker-min-requests (20) batches are in
        the window, a trip at the 20th."""
        an = self.recording_analyzer(status=500)
        d = self.breaker_daemon(an, "--breaker-error-pct", "50", "--breaker-min-requests", "20")
        for i in range(19):
            self.post_one(d, "mr-%d" % i)
        self.settle(d, 19)
        a = d.analyzer("b")
        self.assertEqual((a["breaker"], a["breaker_trips"]), ("closed", 0), a)
        self.post_one(d, "mr-19")
        a = wait_until(lambda: (lambda a: a["breaker_trips"] == 1 and a)(d.analyzer("b")),
                       dl(10), "the breaker to open at the 20th failed batch")
        self.assertIn(a["breaker"], ("open", "half_open"), a)

    def test_error_pct_threshold(self):
        """Failures at 40 % of 40 batches (>= min-requests): closed. Then failures only,
        until the window holds more than 50 % failed: open."""
        def script(n):  # 40 % failed (2 of every 5) for the first 40, then all fail
            return (500 if n >= 40 or n % 5 < 2 else 200), 0
        an = self.recording_analyzer(script=script)
        d = self.breaker_daemon(an, "--breaker-error-pct", "50", "--breaker-min-requests", "20",
                                "--breaker-cooldown-ms", "600000")
        for i in range(40):
            self.post_one(d, "ep-%d" % i)
        m = self.settle(d, 40)
        a = d.analyzer("b")
        self.assertEqual((a["breaker"], a["breaker_trips"]), ("closed", 0),
                         "opened at 40 %% failed: %s %s" % (a, m))
        self.assertEqual(m["batches_failed"], 16, m)
        # 16 of 40 failed; 8 more make 24 of 48 = 50 %, 12 more 28 of 52 > 50 %
        for i in range(40, 52):
            self.post_one(d, "ep-%d" % i)
        a = wait_until(lambda: (lambda a: a["breaker_trips"] == 1 and a)(d.analyzer("b")),
                       dl(10), "the breaker to open over 50 % failed")
        m = wait_until(lambda: (lambda m: m["inflight_batches"] == 0 and m)(d.metrics()),
                       dl(10), "attempts sent before the trip finished")
        failed = m["batches_failed"]
        print("[overload] breaker opened with %d failed of %d batches attempted"
              % (failed, m["batches_sent"]), flush=True)
        self.assertEqual(a["breaker"], "open", a)
        self.assertGreaterEqual(failed * 100, 50 * m["batches_sent"], m)

    def test_half_open_probe_cap(self):
        """Three failed batches, one at a time, open the breaker (--breaker-failures 3;
        their retries wait >= 1 s, so no attempt is in flight when it opens). Packets
        posted while it is open wait. After the 300 ms cool-down it is half-open: with
        --breaker-probes 1 exactly one batch goes out (the analyzer holds it 1 s) and
        nothing else until it succeeded; then the breaker is closed and batches go out
        --max-inflight (4) at a time again."""
        def script(n):
            return (500, 0) if n < 3 else (200, 1.0 if n == 3 else 0.3)
        an = self.recording_analyzer(script=script)
        d = self.start_daemon("--batch-max-records", "1", "--batch-linger-ms", "1",
                              "--max-attempts", "100", "--retry-base-ms", "2000",
                              "--retry-max-ms", "4000", "--passive-fall", "100",
                              "--breaker-failures", "3", "--breaker-error-pct", "0",
                              "--breaker-cooldown-ms", "300", "--breaker-probes", "1",
                              "--max-inflight", "4", analyzers=[("b", an.url, 1)])
        d.wait_state("b", "up", dl(10))
        for i in range(3):
            self.post_one(d, "hp-%d" % i)
            wait_until(lambda: d.metrics()["batches_failed"] == i + 1, dl(10),
                       "batch %d failed" % i)
        a = d.analyzer("b")
        self.assertEqual(a["breaker_trips"], 1, a)
        for i in range(3, 12):  # waiting while open: more than --max-inflight of them
            self.post_one(d, "hp-%d" % i)
        m = d.wait_all_delivered(dl(30), expect_accepted=12)
        a = d.analyzer("b")
        spans = sorted(an.spans)
        self.assertEqual([st for _, _, st in spans[:3]], [500] * 3, spans)
        probe_start, probe_end, _ = spans[3]
        rest = spans[4:]
        overlap = [s for s in rest if s[0] < probe_end]
        conc = max(sum(1 for s in rest if s[0] <= t < s[1]) for t, _, _ in rest)
        print("[overload] half-open: probe held %.2f s, %d batches started during it; "
              "after it %d batches, up to %d at once" % (
                  probe_end - probe_start, len(overlap), len(rest), conc), flush=True)
        self.assertGreaterEqual(probe_end - probe_start, 0.9, "the held probe: %s" % spans)
        self.assertEqual(a["breaker"], "closed", a)
        self.assertEqual(a["breaker_trips"], 1, a)
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(overlap, [], "batches sent while the half-open probe was out; "
                         "spans (start, end, status) from the first: %s" % [
                             (round(t0 - spans[0][0], 2), round(t1 - spans[0][0], 2), st)
                             for t0, t1, st in spans])
        self.assertGreater(conc, 1, "after closing, batches should go out in parallel")


if __name__ == "__main__":
    unittest.main(verbosity=2)
