"""Chaos tests: network partition, kill -9 / restart storms, latency, resets, a
flapping analyzer, a load spike against a small queue budget, slowloris and
oversized headers, rate limits and the memory limit.

Faults between logdistd and an analyzer come from logdist-faultproxy
(tools/faultproxy), a TCP proxy driven through its HTTP control API. Figures are
printed to stdout ("[chaos] ..." lines) so they can be quoted.

Run: LOGDIST_BIN=build/bin python3 tests/integration/test_chaos.py
(LOGDIST_SANITIZED=1 scales the load and the storm length down, deadlines up.)
"""
import json
import os
import random
import re
import signal
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SANITIZED, Daemon, LogdistTestCase, dl, http_request,  # noqa: E402
                     raw_request, read_lines, require_option, scaled, wait_until)
from chaos_util import (FAULTPROXY, MiB, closed_by_peer, fmt_shares, monotonic,  # noqa: E402
                        open_partial, proc_cpu_seconds, proc_status_kib, say, shares,
                        start_faultproxy, uniform)

WEIGHTS = {"a1": 4, "a2": 3, "a3": 2, "a4": 1}
WSUM = sum(WEIGHTS.values())
DOWNISH = ("down", "open")
BREAKER_LOG = re.compile(r"analyzer (\S+): breaker open for (\d+) ms \(trip (\d+)\)")


def _wait_quiet(fn, timeout, desc, interval=0.3):
    """Wait until fn() returns the same value twice in a row `interval` apart."""
    last = [object()]

    def same():
        v = fn()
        ok = v == last[0]
        last[0] = v
        return ok
    return wait_until(same, timeout, desc, interval=interval)


class ChaosCase(LogdistTestCase):

    def setUp(self):
        super().setUp()
        if not os.access(FAULTPROXY, os.X_OK):
            self.fail("binary %s not found (set LOGDIST_BIN)" % FAULTPROXY)

    def tearDown(self):
        # harness.tearDown reads _outcome.success, which Python >= 3.11 no longer sets
        # before tearDown: find this test among the result's failures / errors instead
        res = getattr(getattr(self, "_outcome", None), "result", None)
        failed = res is not None and any(t is self for t, _ in
                                         list(res.failures) + list(res.errors))
        if not failed or os.environ.get("LOGDIST_KEEP_TMP"):
            return super().tearDown()
        for p in self.procs:
            if p.name.startswith(("logdistd", "faultproxy")):
                sys.stderr.write("\n---- %s stderr (%s), tail ----\n%s\n" %
                                 (p.name, p.stderr_path, p.stderr_text()[-3000:]))
        os.environ["LOGDIST_KEEP_TMP"] = "1"
        try:
            super().tearDown()
        finally:
            del os.environ["LOGDIST_KEEP_TMP"]

    def daemon_argv(self, *args, analyzers=()):
        given = {a.split("=", 1)[0] for a in args if isinstance(a, str) and a.startswith("--")}
        if SANITIZED and "--memory-limit" not in given:
            # ASan's shadow memory and quarantine would trip the default memory budget
            args = args + ("--memory-limit", "8GiB")
        return super().daemon_argv(*args, analyzers=analyzers)

    def union_ids(self, analyzers):
        u = set()
        for a in analyzers:
            u.update(a.ids())
        return u

    def assert_nothing_lost(self, d, analyzers, ids_paths, timeout=None, what=""):
        """Everything accepted delivered, no dead letters, every accepted id (the gens'
        --ids-out files together) at some analyzer."""
        m = d.wait_all_delivered(timeout or dl(90))
        self.assertEqual(m["records_deadlettered"], 0, m)
        self.assertEqual(m["records_delivered"], m["records_accepted"], m)
        sent = []
        for p in ([ids_paths] if isinstance(ids_paths, str) else ids_paths):
            sent += read_lines(p)
        self.assertEqual(len(sent), m["records_accepted"], "ids-out vs records_accepted")
        missing = set(sent) - self.union_ids(analyzers)
        self.assertFalse(missing, "%s: %d accepted ids missing at the analyzers, e.g. %s"
                         % (what, len(missing), sorted(missing)[:5]))
        return m

    def settle_others(self, d, ids):
        """Wait until redistribution stopped and every record already assigned to the
        analyzers `ids` was delivered (so a measuring window sees the steady state)."""
        _wait_quiet(lambda: d.metrics()["records_redistributed"], dl(15),
                    "redistribution to stop")
        v = d.analyzers()
        assigned = {k: v[k]["records_routed"] + v[k]["records_redistributed_in"] for k in ids}
        wait_until(lambda: (lambda v: all(v[k]["records_delivered"] >= n
                                          for k, n in assigned.items()))(d.analyzers()),
                   dl(15), "records assigned before the window delivered", interval=0.05)

    def wait_state(self, d, aid, states, timeout):
        """Wait until analyzer aid's state is one of `states`; the failure shows its JSON."""
        states = (states,) if isinstance(states, str) else tuple(states)
        last = {}

        def ok():
            a = d.analyzer(aid)
            last["a"] = a
            return a["state"] in states and a
        try:
            return wait_until(ok, timeout, "analyzer %s state in %s" % (aid, states),
                              interval=0.02)
        except AssertionError as e:
            raise AssertionError("%s; analyzer: %s" % (e, json.dumps(last.get("a")))) from None

    def breaker_log(self, d):
        return [(m.group(1), int(m.group(2)), int(m.group(3)))
                for m in BREAKER_LOG.finditer(d.proc.stderr_text())]


# --------------------------------------------------------------------------- partition

class PartitionTest(ChaosCase):

    def test_partition_blackhole_then_heal(self):
        """a1..a4 weights 4:3:2:1, a2 behind the proxy (its health checks too). Under
        load a2 is blackholed: it must go down/open within a few seconds, its share move
        to the others by weight, nothing accepted be lost; healed, it is back."""
        an = {aid: self.start_analyzer(aid) for aid in WEIGHTS}
        px = start_faultproxy(self, an["a2"].port)
        specs = [(aid, px.url if aid == "a2" else an[aid].url, w) for aid, w in WEIGHTS.items()]
        d = self.start_daemon("--health-interval-ms", "200", "--health-timeout-ms", "500",
                              "--request-timeout-ms", "1000", "--connect-timeout-ms", "500",
                              analyzers=specs)
        for aid in WEIGHTS:
            d.wait_state(aid, "up", dl(10))
        rate = scaled(20000, 4000)
        ids = self.path("ids.txt")
        # gen runs until stopped below (a fixed duration may end before the window on a
        # busy machine)
        g = self.start_gen(d, rate=rate, duration=int(dl(120)), ids_out=ids, connections=4)
        wait_until(lambda: d.analyzer("a2")["records_delivered"] > 0 and
                   d.metrics()["records_routed"] >= 2 * rate, dl(30), "2 s of load")

        px.set(blackhole=True)
        t_fault = monotonic()
        a2 = wait_until(lambda: (lambda a: a["state"] in DOWNISH and a)(d.analyzer("a2")),
                        dl(10), "a2 down/open after the partition", interval=0.02)
        reaction = monotonic() - t_fault
        say("partition: a2 %s after %.2f s (breaker %s, last_error %r)", a2["state"], reaction,
            a2["breaker"], a2["last_error"][:80])
        self.assertFalse(a2["routable"], a2)

        others = ("a1", "a3", "a4")
        self.settle_others(d, others)
        v0 = d.analyzers()
        time.sleep(2.5)  # the partition window (the scenario, not a wait for a condition)
        v1 = d.analyzers()
        self.assertIn(v1["a2"]["state"], DOWNISH)
        self.assertEqual(v1["a2"]["records_routed"], v0["a2"]["records_routed"],
                         "nothing is routed to a partitioned analyzer")
        wo = {k: WEIGHTS[k] / (WSUM - WEIGHTS["a2"]) for k in others}
        routed = shares({k: v1[k]["records_routed"] - v0[k]["records_routed"] for k in others})
        deliv_d = {k: v1[k]["records_delivered"] - v0[k]["records_delivered"] for k in others}
        deliv = shares(deliv_d)
        say("partition window 2.5 s: delivered %d; shares delivered: %s", sum(deliv_d.values()),
            fmt_shares(deliv, wo))
        say("partition window: shares routed: %s", fmt_shares(routed, wo))
        # enough records in the window for the tolerances below (SWRR is exact to a
        # record or two; delivered shares within 2 %): a floor, not a throughput bound
        self.assertGreaterEqual(sum(v1[k]["records_routed"] - v0[k]["records_routed"]
                                    for k in others), 1000, "too little load in the window")
        for k in others:
            self.assertShare(routed[k], wo[k], 0.01, "%s routed during the partition" % k)
            self.assertShare(deliv[k], wo[k], 0.02, "%s delivered during the partition" % k)

        before_heal = d.analyzer("a2")["records_delivered"]
        px.clear()
        t_heal = monotonic()
        self.wait_state(d, "a2", "up", dl(15))
        up_after = monotonic() - t_heal
        wait_until(lambda: d.analyzer("a2")["records_delivered"] > before_heal or not g.running(),
                   dl(20), "a2 receiving again")
        g.signal(signal.SIGTERM)  # stop the load explicitly; gen exits 0 with its summary
        s = self.finish_gen(g, dl(60))
        if d.analyzer("a2")["records_delivered"] == before_heal:  # gen ended first: a little more
            self.run_gen(d, count=5000, ids_out=ids)
        recv = wait_until(lambda: (lambda n: n > before_heal and n)(
            d.analyzer("a2")["records_delivered"]), dl(20), "a2 receiving again")
        say("partition healed: a2 up after %.2f s, delivered %d more to it; proxy %s",
            up_after, recv - before_heal, json.dumps(px.status()))
        m = self.assert_nothing_lost(d, an.values(), ids, what="partition")
        say("partition: gen accepted %d throttled %d errors %d; logdistd accepted %d delivered %d "
            "retried %d redistributed %d", s["records_accepted"], s["throttled"], s["errors"],
            m["records_accepted"], m["records_delivered"], m["records_retried"],
            m["records_redistributed"])


# --------------------------------------------------------------------------- kill -9 storm

class KillStormTest(ChaosCase):

    def test_random_kill9_restart_storm(self):
        """Recorder analyzers (ids on disk before the 200, so kill -9 loses nothing they
        acknowledged), weights 4:3:2:1. For 60 s (30 s sanitized) a random one is killed
        with SIGKILL every 3-6 s and restarted on its port 2-4 s later (at least two stay
        alive). End: delivered == accepted, every accepted id at some analyzer; shares
        over the all-healthy periods within 2 % of the weights."""
        rng = random.Random(int(os.environ.get("LOGDIST_CHAOS_SEED", "0")) or None)
        seed = rng.randrange(1 << 30)
        rng.seed(seed)
        storm = 30.0 if SANITIZED else 60.0
        recs, files, ports = {}, {}, {}
        for aid in WEIGHTS:
            files[aid] = self.path(aid + ".ids")
            recs[aid] = self.start_recorder(aid, files[aid])
            ports[aid] = recs[aid].port
        d = self.start_daemon("--health-interval-ms", "200", "--health-timeout-ms", "500",
                              "--connect-timeout-ms", "500", "--request-timeout-ms", "2000",
                              "--batch-linger-ms", "20",
                              analyzers=[(aid, recs[aid].url, w) for aid, w in WEIGHTS.items()])
        for aid in WEIGHTS:
            d.wait_state(aid, "up", dl(10))
        # the recorders are Python: keep well under what they take on a shared 2-core box
        rate = scaled(10000, 2500)
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=rate, duration=int(storm) + 3, ids_out=ids, connections=4)

        alive = {aid: True for aid in WEIGHTS}
        restart_at = {}
        kills = []
        t0 = monotonic()
        next_kill = t0 + uniform(3, 6, rng)
        next_sample = t0
        last_event = t0
        prev = None  # (t, {id: delivered}, all_up, all_alive)
        acc = {aid: 0 for aid in WEIGHTS}
        healthy_s = 0.0
        intervals = 0
        while True:
            now = monotonic()
            if now - t0 >= storm and not restart_at:
                break
            for aid, t in list(restart_at.items()):
                if now >= t:
                    recs[aid] = self.start_recorder(aid, files[aid], port=ports[aid])
                    alive[aid] = True
                    del restart_at[aid]
                    last_event = monotonic()
            if now >= next_kill and now - t0 < storm:
                cand = [a for a in WEIGHTS if alive[a]]
                if len(cand) > 2:
                    victim = rng.choice(cand)
                    recs[victim].proc.kill()  # SIGKILL, by pid
                    alive[victim] = False
                    restart_at[victim] = monotonic() + uniform(2, 4, rng)
                    kills.append((round(now - t0, 1), victim))
                    last_event = monotonic()
                next_kill = now + uniform(3, 6, rng)
            if now >= next_sample:
                next_sample = now + 0.5
                t_before = monotonic()
                v = d.analyzers()
                all_up = all(v[a]["state"] == "up" for a in WEIGHTS)
                all_alive = all(alive.values())
                cur = (t_before, {a: v[a]["records_delivered"] for a in WEIGHTS}, all_up,
                       all_alive)
                if (prev is not None and prev[2] and prev[3] and all_up and all_alive
                        and last_event < prev[0]):
                    for a in WEIGHTS:
                        acc[a] += cur[1][a] - prev[1][a]
                    healthy_s += cur[0] - prev[0]
                    intervals += 1
                prev = cur
            time.sleep(0.02)
        say("kill storm (seed %d): %d kills in %.0f s: %s", seed, len(kills), storm,
            " ".join("%.1fs:%s" % k for k in kills))
        for aid in WEIGHTS:  # every restarted analyzer is taken back
            self.wait_state(d, aid, "up", dl(15))
        s = self.finish_gen(g, dl(90))
        t_end = monotonic()
        m = self.assert_nothing_lost(d, recs.values(), ids, timeout=dl(120), what="kill storm")
        say("kill storm: everything delivered %.1f s after the load ended", monotonic() - t_end)
        sh = shares(acc)
        want = {a: WEIGHTS[a] / WSUM for a in WEIGHTS}
        say("kill storm: all-healthy time %.1f s over %d sampled intervals, %d records; "
            "shares: %s", healthy_s, intervals, sum(acc.values()), fmt_shares(sh, want))
        say("kill storm: gen accepted %d throttled %d errors %d; logdistd accepted %d "
            "delivered %d failed batches %d redistributed %d dead-lettered %d",
            s["records_accepted"], s["throttled"], s["errors"], m["records_accepted"],
            m["records_delivered"], m["batches_failed"], m["records_redistributed"],
            m["records_deadlettered"])
        self.assertGreaterEqual(len(kills), int(storm / 6) - 1, kills)
        self.assertGreater(m["batches_failed"] + m["records_redistributed"], 0, m)
        self.assertGreaterEqual(healthy_s, 2.0, "too little all-healthy time to measure shares")
        # enough records for a 2 % tolerance: a floor, not a throughput bound
        self.assertGreaterEqual(sum(acc.values()), 1000, acc)
        for a in WEIGHTS:
            self.assertShare(sh[a], want[a], 0.02, "%s while all healthy" % a)


# --------------------------------------------------------------------------- latency, resets

class LatencyResetTest(ChaosCase):

    def _three(self, *daemon_args, direct_health=False):
        """b1, b2 direct, b3 behind the proxy, equal weights."""
        an = [self.start_analyzer(aid) for aid in ("b1", "b2", "b3")]
        px = start_faultproxy(self, an[2].port)
        b3 = "id=b3,url=%s,weight=1" % px.url
        if direct_health:
            b3 += ",health_url=http://127.0.0.1:%d/health" % an[2].port
        d = self.start_daemon("--health-interval-ms", "200", "--health-timeout-ms", "500",
                              *daemon_args, analyzers=[("b1", an[0].url, 1),
                                                       ("b2", an[1].url, 1), b3])
        for aid in ("b1", "b2", "b3"):
            d.wait_state(aid, "up", dl(10))
        return an, px, d

    def _fault_under_load(self, fault, what):
        an, px, d = self._three("--request-timeout-ms", "200", "--retry-base-ms", "20")
        rate = scaled(10000, 2000)
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=rate, duration=int(dl(120)), ids_out=ids, connections=4)
        wait_until(lambda: d.analyzer("b3")["records_delivered"] > 0, dl(20), "b3 receiving")
        m0 = d.metrics()
        f0 = d.analyzer("b3")["batches_failed"]
        px.set(**fault)
        t = monotonic()
        b3 = wait_until(lambda: (lambda a: a["batches_failed"] > f0 and a)(d.analyzer("b3")),
                        dl(15), "failed batches at b3 (%s)" % what, interval=0.02)
        first_fail = monotonic() - t
        b3 = wait_until(lambda: (lambda a: a["state"] in DOWNISH and a)(d.analyzer("b3")),
                        dl(15), "b3 down/open (%s)" % what, interval=0.02)
        down_after = monotonic() - t
        time.sleep(1.0)  # some load while b3 is faulty
        px.clear()
        self.wait_state(d, "b3", "up", dl(15))
        g.signal(signal.SIGTERM)  # the load ends here, whatever the machine's speed
        s = self.finish_gen(g, dl(60))
        m = self.assert_nothing_lost(d, an, ids, what=what)
        say("%s: first failed batch after %.2f s, b3 %s after %.2f s (last_error %r); "
            "b3 batches_failed %d; retried records %d, redistributed %d; accepted %d delivered "
            "%d dead-lettered %d; gen errors %d", what, first_fail, b3["state"], down_after,
            b3["last_error"][:80], d.analyzer("b3")["batches_failed"],
            m["records_retried"] - m0["records_retried"],
            m["records_redistributed"] - m0["records_redistributed"], m["records_accepted"],
            m["records_delivered"], m["records_deadlettered"], s["errors"])
        self.assertGreater(m["records_retried"] - m0["records_retried"], 0, m)
        self.assertEqual(s["errors"], 0, s)
        return d, b3

    def test_latency_over_request_timeout(self):
        """300 ms each way on b3 with --request-timeout-ms 200: its batches time out and
        are retried on b1/b2; nothing is lost."""
        d, b3 = self._fault_under_load({"latency_ms": 300}, "latency 300 ms")
        self.assertRegex(b3["last_error"].lower(), "time", b3)

    def test_connection_resets(self):
        """Every connection to b3 reset (RST): batches fail and are retried elsewhere."""
        self._fault_under_load({"reset": True}, "reset")

    def test_flapping_analyzer_trips_breaker(self):
        """b3's connections reset for 1 s, fine for 1 s, and so on (its health checks go
        direct and --passive-fall is high, so only the breaker reacts): breaker trips,
        the open period doubles on consecutive trips, nothing is lost."""
        base = 250
        an, px, d = self._three("--breaker-failures", "3", "--breaker-cooldown-ms", str(base),
                                "--breaker-max-cooldown-ms", "4000", "--breaker-probes", "1",
                                "--passive-fall", "100", "--retry-base-ms", "20",
                                "--max-attempts", "20", direct_health=True)
        rate = scaled(8000, 2000)
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=rate, duration=10, ids_out=ids, connections=4)
        wait_until(lambda: d.analyzer("b3")["records_delivered"] > 0, dl(20), "b3 receiving")
        states = []
        on = False
        t0 = monotonic()
        next_flip = t0
        while monotonic() - t0 < 8.0:
            now = monotonic()
            if now >= next_flip:
                on = not on
                px.set(reset=on)
                next_flip = now + 1.0
            a = d.analyzer("b3")
            if not states or states[-1][1] != (a["breaker"], a["state"]):
                states.append((round(now - t0, 2), (a["breaker"], a["state"])))
            time.sleep(0.02)
        px.clear()
        t_clear = monotonic() - t0
        b3 = d.analyzer("b3")
        opens = [(ms, trip) for aid, ms, trip in self.breaker_log(d) if aid == "b3"]
        say("flapping: b3 breaker_trips %d; open periods (ms, trip): %s", b3["breaker_trips"],
            opens)
        say("flapping: breaker/state transitions: %s; fault cleared at %.2f",
            " ".join("%.2f:%s/%s" % (t, b, st) for t, (b, st) in states), t_clear)
        # the last open period is at most 4 s: then a probe goes through and closes it.
        # A half-open breaker needs traffic to probe with: once gen is done (slow
        # sanitized runs), keep a trickle of packets coming.
        extra = self.path("probe-ids.txt")
        open(extra, "w").close()
        trickle = [0]

        def closed():
            if d.analyzer("b3")["breaker"] == "closed":
                return True
            if not g.running():
                trickle[0] += 1
                rid = "probe-%d" % trickle[0]
                r = d.post_logs('{"packet_id":"%s","messages":[{"id":"%s"},{"id":"%s-b"},'
                                '{"id":"%s-c"}]}' % (rid, rid, rid, rid))
                if r.status == 202:
                    with open(extra, "a") as f:
                        f.write("%s\n%s-b\n%s-c\n" % (rid, rid, rid))
            return False
        try:
            wait_until(closed, dl(4 + 6), "b3's breaker closed after the fault cleared",
                       interval=0.2)
        except AssertionError as e:
            b3 = d.analyzer("b3")
            raise AssertionError("%s: b3 %s; logdistd breaker log: %s" % (
                e, json.dumps(b3), [l for l in d.proc.stderr_text().splitlines()
                                    if "breaker" in l][-6:])) from None
        s = self.finish_gen(g, dl(60))
        if trickle[0]:
            say("flapping: gen had finished; %d trickle packets gave the half-open breaker "
                "its probes", trickle[0])
        m = self.assert_nothing_lost(d, an, [ids, extra], what="flapping")
        b3 = d.analyzer("b3")
        opens = [(ms, trip) for aid, ms, trip in self.breaker_log(d) if aid == "b3"]
        say("flapping: b3 breaker_trips %d (metrics breaker_trips %d); open periods (ms, trip): "
            "%s", b3["breaker_trips"], m["breaker_trips"], opens)
        say("flapping: accepted %d delivered %d retried %d dead-lettered %d; gen errors %d",
            m["records_accepted"], m["records_delivered"], m["records_retried"],
            m["records_deadlettered"], s["errors"])
        self.assertGreater(b3["breaker_trips"], 0, b3)
        self.assertGreaterEqual(m["breaker_trips"], b3["breaker_trips"], m)
        self.assertIn("open", [b for _, (b, _) in states], states)
        self.assertTrue(opens, "no 'breaker open for N ms' line in logdistd's log")
        self.assertEqual(len(opens), b3["breaker_trips"], opens)
        self.assertEqual(opens[0][0], base, opens)
        self.assertGreaterEqual(max(ms for ms, _ in opens), 2 * base,
                                "the cool-down never grew: %s" % opens)
        for (ms1, _), (ms2, _) in zip(opens, opens[1:]):
            self.assertIn(ms2, (base, min(2 * ms1, 4000)), "cool-down sequence %s" % opens)


# --------------------------------------------------------------------------- spike

class SpikeTest(ChaosCase):

    def _throughput(self, d, seconds, prefix):
        """Records/s delivered during a saturating run (gen at full speed) of `seconds`."""
        g = self.start_gen(d, rate=0, duration=seconds + 1, connections=4,
                           ids_out=self.path(prefix + ".ids"), prefix=prefix)
        wait_until(lambda: d.metrics()["records_delivered"] > 0, dl(20), "deliveries")
        time.sleep(0.5)
        m0, t0 = d.metrics()["records_delivered"], monotonic()
        time.sleep(seconds - 0.5)
        m1, t1 = d.metrics()["records_delivered"], monotonic()
        s = self.finish_gen(g, dl(60))
        return (m1 - m0) / (t1 - t0), s

    def test_spike_10x_small_queue(self):
        """Analyzers with 50 ms latency (200 sanitized) and small batches make delivery the
        bottleneck.
        A 10x spike against --max-queue-bytes 8MiB is refused with 503 (gen: throttled,
        no errors), RSS stays bounded, what was accepted is delivered, throughput
        recovers."""
        lat = 200 if SANITIZED else 50  # delivery capacity ~ 4 x 2 x 100 / latency
        an = [self.start_analyzer("s%d" % i, "--latency-ms", str(lat)) for i in range(1, 5)]
        d = self.start_daemon("--max-queue-bytes", "8MiB", "--batch-max-records", "100",
                              "--max-inflight", "2",
                              analyzers=[(a.id, a.url, 1) for a in an])
        for a in an:
            d.wait_state(a.id, "up", dl(10))
        sustainable, s0 = self._throughput(d, 3.0, "warm")
        d.wait_all_delivered(dl(60))
        say("spike: sustainable (delivery-bound) rate %.0f rec/s (gen: accepted %d throttled %d)",
            sustainable, s0["records_accepted"], s0["throttled"])
        self.assertGreater(sustainable, 0)

        ids = self.path("spike.ids")
        spike_rate = int(10 * sustainable)
        g = self.start_gen(d, rate=spike_rate, duration=10, connections=8, ids_out=ids,
                           prefix="spike")
        peak_queue, hwm = 0, 0
        t0 = monotonic()
        while g.running() and monotonic() - t0 < dl(60):
            m = d.metrics()
            peak_queue = max(peak_queue, m["queued_bytes"])
            hwm = max(hwm, proc_status_kib(d.proc.pid, "VmHWM") or 0)
            time.sleep(0.2)
        s = self.finish_gen(g, dl(60))
        m = d.metrics()
        rej = m["packets_rejected_by_reason"]
        # ASan's shadow memory and quarantine make RSS meaningless: a loose bound there
        budget_kib = (1024 if SANITIZED else 128) * 1024
        hwm = max(hwm, proc_status_kib(d.proc.pid, "VmHWM") or 0)
        say("spike: offered %d rec/s for 10 s: gen accepted %d (%.0f rec/s) rejected %d "
            "throttled %d errors %d; logdistd queue_full %d, peak queued %.1f MiB of 8 MiB",
            spike_rate, s["records_accepted"], s["records_per_s"], s["records_rejected"],
            s["throttled"], s["errors"], rej["queue_full"], peak_queue / MiB)
        say("spike: logdistd VmHWM %.1f MiB (budget %d MiB)", hwm / 1024, budget_kib // 1024)
        self.assertGreater(s["throttled"], 0, s)
        self.assertEqual(s["errors"], 0, s)
        self.assertGreater(rej["queue_full"], 0, rej)
        # OVERLOAD.md: routing may pass the budget by the packet being copied into
        # batches (gen packets are ~20 KiB) plus open batches (100 records each)
        slack = 256 * 1024
        self.assertLessEqual(peak_queue, 8 * MiB + slack,
                             "queued_bytes above --max-queue-bytes + the documented slack")
        self.assertLess(hwm, budget_kib, "peak RSS %.1f MiB" % (hwm / 1024))
        self.assertEqual(s["records_accepted"], len(read_lines(ids)))
        t = monotonic()
        m = self.assert_nothing_lost(d, an, [self.path("warm.ids"), ids], what="spike")
        say("spike: drained in %.1f s; logdistd accepted %d delivered %d (all runs)",
            monotonic() - t, m["records_accepted"], m["records_delivered"])

        after, s_after = self._throughput(d, 3.0, "after")
        say("spike: throughput after %.0f rec/s = %.0f %% of sustainable", after,
            100 * after / sustainable)
        # recovered: delivering again, no transport errors (the ratio is printed, not
        # asserted: on a shared machine it measures the neighbours as much as logdistd)
        self.assertGreater(after, 0)
        self.assertEqual(s_after["errors"], 0, s_after)
        m = self.assert_nothing_lost(d, an, [self.path("warm.ids"), ids,
                                             self.path("after.ids")], what="after the spike")


# --------------------------------------------------------------------------- abusive clients

class AbusiveClientTest(ChaosCase):

    def test_slowloris(self):
        """200 connections sending a partial request at 1 byte/s: /health and a normal
        client's packets are served during the attack; the attackers are closed after
        --idle-timeout-s 2."""
        an = self.start_analyzer("c1")
        d = self.start_daemon("--idle-timeout-s", "2", analyzers=[("c1", an.url, 1)])
        d.wait_state("c1", "up", dl(10))
        n = 200
        head = b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        drip = b"X-Slow: " + b"a" * 64
        socks, closed_at = [], {}
        t0 = monotonic()
        for _ in range(n):
            socks.append(open_partial(d.port, head[:10]))
        opened = monotonic() - t0
        # control group: 5 connections that send the same start and then nothing
        idle = [open_partial(d.port, head[:10]) for _ in range(5)]
        idle_closed = {}
        # the service during the attack
        t = monotonic()
        h = http_request(d.port, "GET", "/health", timeout=dl(5))
        health_ms = (monotonic() - t) * 1000
        self.assertEqual(h.status, 200, h)
        ids = self.path("ids.txt")
        s = self.run_gen(d, count=2000, packet_size=100, connections=1, ids_out=ids,
                         timeout=dl(20))
        self.assertEqual(s["records_accepted"], 2000, s)
        served_at = monotonic() - t0
        # drip one byte a second on every open attacker until all are closed
        pos = 10
        data = head + drip * 100
        deadline = t0 + 2 + dl(6)
        next_drip = t0 + 1.0
        while (len(closed_at) < n or len(idle_closed) < len(idle)) and monotonic() < deadline:
            now = monotonic()
            if now >= next_drip:
                for i, sk in enumerate(socks):
                    if i not in closed_at:
                        try:
                            sk.send(data[pos:pos + 1])
                        except OSError:
                            closed_at[i] = now - t0
                pos += 1
                next_drip += 1.0
            for i, sk in enumerate(socks):
                if i not in closed_at and closed_by_peer(sk):
                    closed_at[i] = monotonic() - t0
            for i, sk in enumerate(idle):
                if i not in idle_closed and closed_by_peer(sk):
                    idle_closed[i] = monotonic() - t0
            time.sleep(0.05)
        for sk in socks + idle:
            sk.close()
        h2 = http_request(d.port, "GET", "/health", timeout=dl(5))
        times = sorted(closed_at.values())
        say("slowloris: %d connections opened in %.2f s; during the attack /health %d in %.0f ms, "
            "2000 records accepted by %.2f s; attackers closed: %d of %d, after %s s "
            "(min/median/max); %d bytes dripped each", n, opened, h.status, health_ms, served_at,
            len(times), n, "%.1f/%.1f/%.1f" % (times[0], times[len(times) // 2], times[-1])
            if times else "-", pos - 10)
        say("slowloris: control group (stalled, no drip): %d of %d closed, after %s s",
            len(idle_closed), len(idle), sorted(round(x, 1) for x in idle_closed.values()))
        self.assertEqual(h2.status, 200, h2)
        d.wait_all_delivered(dl(30))
        self.assertEqual(len(idle_closed), len(idle), "stalled connections not closed")
        self.assertEqual(len(closed_at), n, "slowloris connections still open after %.0f s "
                         "of 1 byte/s with --idle-timeout-s 2 (%d closed)"
                         % (deadline - t0, len(closed_at)))

    def test_oversized_headers_refused(self):
        """64 KiB of headers (default --max-header-bytes 16KiB): refused, service up."""
        an = self.start_analyzer("c1")
        d = self.start_daemon(analyzers=[("c1", an.url, 1)])
        body = b'{"packet_id":"h1","messages":[{"id":"h-1","message":"x"}]}'
        hdrs = b"".join(b"X-Pad-%04d: %s\r\n" % (i, b"p" * 120) for i in range(512))
        self.assertGreaterEqual(len(hdrs), 64 * 1024)
        req = (b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
               hdrs + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        out = raw_request(d.port, req, timeout=dl(5))
        status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.") else None
        say("oversized headers (%d bytes): answer %r", len(hdrs), out.split(b"\r\n", 1)[0])
        self.assertTrue(status is None or 400 <= status < 500, out[:300])
        self.assertEqual(d.metrics()["records_accepted"], 0)
        self.assertEqual(d.req("GET", "/health").status, 200)
        r = d.post_logs(body)
        self.assertEqual(r.status, 202, r)

    def test_descriptor_exhaustion_backs_off(self):
        """logdistd limited to 128 open files and 300 idle connections: accept() fails
        (EMFILE). logdistd backs off instead of retrying in a busy loop (little CPU, one
        warning a second, accept_errors counted) and serves again once they are gone."""
        an = self.start_analyzer("c1")
        argv = ["prlimit", "--nofile=128:128", "--"] + self.daemon_argv(
            analyzers=[("c1", an.url, 1)])
        p = self.spawn("logdistd", argv)
        d = Daemon(p, int(p.first_line(dl(10))["listening"].rsplit(":", 1)[1]))
        d.wait_state("c1", "up", dl(10))
        self.assertIn("open-file limit 128", p.stderr_text())
        socks = []
        try:
            for _ in range(300):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=0.5))
                except OSError:
                    break  # the listen backlog is full too
            time.sleep(0.5)
            c0, t0 = proc_cpu_seconds(p.pid), monotonic()
            time.sleep(2.0)
            cpu = (proc_cpu_seconds(p.pid) - c0) / (monotonic() - t0)
        finally:
            for s in socks:
                s.close()
        m = {}

        def serving():
            m.update(d.metrics())
            return True
        wait_until(serving, dl(10), "metrics answered again", ignore=(OSError,))
        warnings = p.stderr_text().count("accept failed")
        say("descriptor exhaustion: %d connections opened against 128 open files; logdistd CPU "
            "%.0f %% of a core while out of descriptors; accept_errors %d, warnings logged %d",
            len(socks), 100 * cpu, m["accept_errors"], warnings)
        self.assertGreater(m["accept_errors"], 0, m)
        self.assertLess(cpu, 0.3, "a busy accept loop?")
        self.assertLessEqual(warnings, 10)
        r = d.post_logs('{"packet_id":"fd1","messages":[{"id":"fd1-1"}]}')
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: an.stats()["records"] == 1, dl(10), "the record delivered")

    def test_keepalive_request_flood(self):
        """10,000 tiny requests on one keep-alive connection with
        --max-requests-per-conn-s 100: 429 + Retry-After beyond the rate, service up."""
        an = self.start_analyzer("c1")
        d = self.start_daemon("--max-requests-per-conn-s", "100",
                              analyzers=[("c1", an.url, 1)])
        s = socket.create_connection(("127.0.0.1", d.port), timeout=dl(10))
        f = s.makefile("rb")
        codes = {}
        retry_after = set()
        closed_after = None
        t0 = monotonic()
        sent = 0
        try:
            for i in range(10000):
                if monotonic() - t0 > dl(60):
                    break
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                sent += 1
                line = f.readline()
                if not line:
                    closed_after = i
                    break
                code = int(line.split()[1])
                length, hdr = 0, {}
                while True:
                    hl = f.readline()
                    if hl in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = hl.decode().partition(":")
                    hdr[k.strip().lower()] = v.strip()
                length = int(hdr.get("content-length", "0"))
                body = f.read(length) if length else b""
                codes[code] = codes.get(code, 0) + 1
                if code == 429:
                    retry_after.add(hdr.get("retry-after"))
                    self.assertEqual(json.loads(body)["error"], "rate_limited", body)
                if hdr.get("connection", "").lower() == "close":
                    closed_after = i + 1
                    break
        except (ConnectionResetError, BrokenPipeError) as e:
            closed_after = "%d (%s)" % (sent, e.__class__.__name__)
        finally:
            f.close()
            s.close()
        el = monotonic() - t0
        m = d.metrics()
        say("request flood: %d requests in %.2f s on one connection: answers %s, Retry-After %s, "
            "connection closed by the server after %s; requests_rate_limited %d",
            sent, el, codes, sorted(x for x in retry_after if x), closed_after,
            m["requests_rate_limited"])
        self.assertGreater(codes.get(429, 0), 0, codes)
        self.assertLessEqual(codes.get(200, 0), 100 + 100 * el + 5, codes)
        self.assertTrue(retry_after and all(x and x.isdigit() and int(x) >= 1
                                            for x in retry_after), retry_after)
        self.assertEqual(m["requests_rate_limited"], codes.get(429, 0))
        self.assertEqual(d.req("GET", "/health").status, 200)
        self.assertEqual(d.post_logs('{"packet_id":"f1","messages":[{"id":"f-1"}]}').status, 202)


# --------------------------------------------------------------------------- rate limits, memory

class RateLimitTest(ChaosCase):

    def test_agent_rate_limit(self):
        """--agent-records-per-s 2000: an agent offering 10,000 rec/s is held near 2000
        with 429 + Retry-After {"error":"rate_limited"}; another agent is not affected;
        everything accepted is delivered."""
        require_option("--agent-records-per-s")  # ours: a missing option fails, not skips
        an = self.start_analyzer("r1")
        d = self.start_daemon("--agent-records-per-s", "2000", "--rate-burst-s", "1",
                              analyzers=[("r1", an.url, 1)])
        ids = [self.path("fast.ids"), self.path("slow.ids")]
        g1 = self.start_gen(d, rate=10000, duration=4, ids_out=ids[0], prefix="fast",
                            extra=["--agent-id", "fast"])
        g2 = self.start_gen(d, rate=500, duration=4, ids_out=ids[1], prefix="slow",
                            extra=["--agent-id", "slow"])
        s1, s2 = self.finish_gen(g1, dl(60)), self.finish_gen(g2, dl(60))
        r = d.post_logs('{"packet_id":"x","agent_id":"fast","messages":[%s]}' % ",".join(
            '{"id":"rl-%d"}' % i for i in range(5000)))
        say("agent rate limit 2000 rec/s: fast agent accepted %d in %.1f s (%.0f rec/s), "
            "throttled %d; slow agent accepted %d throttled %d; a 5000-record packet: %d %s",
            s1["records_accepted"], s1["elapsed_s"], s1["records_per_s"], s1["throttled"],
            s2["records_accepted"], s2["throttled"], r.status, r.body[:80])
        self.assertGreater(s1["throttled"], 0, s1)
        self.assertEqual(s1["errors"], 0, s1)
        self.assertLessEqual(s1["records_accepted"], 2000 * (s1["elapsed_s"] + 1) * 1.15 + 100)
        self.assertEqual(s2["throttled"], 0, s2)
        self.assertEqual(r.status, 429, r)
        self.assertTrue(r.headers.get("retry-after", "").isdigit(), r)
        self.assertEqual(r.json()["error"], "rate_limited", r)
        m = self.assert_nothing_lost(d, [an], ids, what="rate limit")
        self.assertGreater(m["packets_rejected_by_reason"].get("rate_limited", 0), 0, m)
        # visible in metrics by scope: every refusal here is an agent limit
        self.assertEqual(m["rate_limits"]["agent"], m["packets_rejected_by_reason"]["rate_limited"])
        self.assertEqual(m["rate_limits"]["global"], 0, m["rate_limits"])
        self.assertGreaterEqual(m["rate_limits"]["agents_tracked"], 2, m["rate_limits"])

    def test_global_bytes_rate_limit(self):
        """--global-bytes-per-s 1MiB: two agents together are held near 1 MiB/s."""
        require_option("--global-bytes-per-s")
        an = self.start_analyzer("r1")
        d = self.start_daemon("--global-bytes-per-s", "1MiB", "--rate-burst-s", "1",
                              analyzers=[("r1", an.url, 1)])
        ids = [self.path("g%d.ids" % i) for i in range(2)]
        gs = [self.start_gen(d, rate=20000, duration=4, ids_out=ids[i], prefix="g%d" % i,
                             extra=["--agent-id", "g%d" % i]) for i in range(2)]
        ss = [self.finish_gen(g, dl(60)) for g in gs]
        m = self.assert_nothing_lost(d, [an], ids, what="global bytes limit")
        el = max(s["elapsed_s"] for s in ss)
        say("global bytes limit 1 MiB/s: received %.2f MiB in %.1f s, throttled %s",
            m["bytes_received"] / MiB, el, [s["throttled"] for s in ss])
        self.assertGreater(sum(s["throttled"] for s in ss), 0, ss)
        self.assertEqual(sum(s["errors"] for s in ss), 0, ss)
        self.assertLessEqual(m["bytes_received"], MiB * (el + 1) * 1.2 + 256 * 1024, m)
        self.assertEqual(m["rate_limits"]["global"], m["packets_rejected_by_reason"]["rate_limited"])
        self.assertGreater(m["rate_limits"]["global"], 0, m["rate_limits"])


class MemoryLimitTest(ChaosCase):

    @unittest.skipIf(SANITIZED, "RSS under ASan is mostly shadow memory and quarantine")
    def test_memory_limit_bounds_rss(self):
        """The analyzer down, a queue budget larger than the memory, --memory-limit 96MiB:
        logdistd sheds load (503, then no new connections) before its RSS passes the
        limit (plus slack); once the analyzer is back and the queue drained, it accepts
        again, reports rss_bytes / memory_limit_bytes, and everything accepted is
        delivered."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        limit = 96 * MiB
        d = self.start_daemon("--memory-limit", "96MiB", "--max-queue-bytes", "1GiB",
                              analyzers=[("m1", "http://127.0.0.1:%d/ingest" % port, 1)])
        d.wait_state("m1", "down", dl(10))
        ids = self.path("ids.txt")
        g = self.start_gen(d, rate=0, duration=8, connections=4, ids_out=ids,
                           extra=["--max-retries", "5", "--timeout-ms", "5000"])
        hwm = 0
        t0 = monotonic()
        while g.running() and monotonic() - t0 < dl(60):
            hwm = max(hwm, proc_status_kib(d.proc.pid, "VmHWM") or 0)
            time.sleep(0.1)
        s = self.finish_gen(g, dl(60), expect_rc=None)
        hwm = max(hwm, proc_status_kib(d.proc.pid, "VmHWM") or 0)
        rss_full = proc_status_kib(d.proc.pid, "VmRSS")
        # still shedding (nothing drains): the listener also serves the admin API, so
        # health and metrics stay reachable (docs/OVERLOAD.md), and new packets get 503
        t = monotonic()
        m_shed = d.metrics()
        r = d.post_logs('{"packet_id":"mp","messages":[{"id":"mp-1"}]}')
        say("memory limit: while shedding, metrics answered in %.0f ms (rss_bytes %.1f MiB, "
            "shed episodes %s); a new packet got %d %s retry-after %s", (monotonic() - t) * 1000,
            m_shed["rss_bytes"] / MiB, m_shed.get("memory_shed_episodes"), r.status,
            r.body[:60], r.headers.get("retry-after"))
        self.assertGreaterEqual(m_shed["rss_bytes"], limit * 0.75, m_shed)
        self.assertGreaterEqual(m_shed["memory_shed_episodes"], 1, m_shed)
        self.assertGreater(m_shed["packets_rejected_by_reason"]["memory_pressure"], 0, m_shed)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"], "memory_pressure", r)
        self.assertEqual(r.headers.get("retry-after"), "2", r)  # docs/API.md: Retry-After: 2
        self.assertEqual(r.json()["retry_after_s"], 2, r)
        # it stops reading from a client it cannot serve: the connection is closed
        self.assertEqual(r.headers.get("connection", "").lower(), "close", r)
        self.assertGreater(d.metrics()["connections_shed"], 0)
        an = self.start_analyzer("m1", port=port)
        t1 = monotonic()
        wait_until(lambda: proc_status_kib(d.proc.pid, "VmRSS") * 1024 < limit * 0.75, dl(60),
                   "RSS back under 75 % of the limit once the queue drained", interval=0.2)
        wait_until(lambda: d.metrics()["queued_records"] == 0, dl(30), "queue drained",
                   interval=0.2)
        # RSS is re-read every 50 ms: a packet is accepted again soon after
        manual = self.path("manual.ids")
        tries = [0]

        def accepted_again():
            tries[0] += 1
            rid = "mq-%d" % tries[0]
            r = d.post_logs('{"packet_id":"%s","messages":[{"id":"%s"}]}' % (rid, rid))
            if r.status == 202:
                with open(manual, "a") as f:
                    f.write(rid + "\n")
                return True
            self.assertEqual((r.status, r.json()["error"]), (503, "memory_pressure"), r)
            return False
        wait_until(accepted_again, dl(5), "a packet accepted again", interval=0.1)
        m = d.metrics()
        back = monotonic() - t1
        say("memory limit 96 MiB: VmHWM %.1f MiB (bound: limit + slack = %.0f MiB), RSS at "
            "the end of the load %.1f MiB; gen accepted %d throttled %d rejected %d errors %d; "
            "rejected by reason %s; accepting again %.1f s after the analyzer came back "
            "(rss_bytes %.1f MiB, memory_limit_bytes %d, shed episodes %s)",
            hwm / 1024, (limit + (32 if SANITIZED else 8) * MiB) / MiB, (rss_full or 0) / 1024,
            s["records_accepted"], s["throttled"], s["records_rejected"], s["errors"],
            {k: v for k, v in m["packets_rejected_by_reason"].items() if v}, back,
            m.get("rss_bytes", 0) / MiB, m.get("memory_limit_bytes", -1),
            m.get("memory_shed_episodes"))
        self.assertEqual(m["memory_limit_bytes"], limit, m)
        self.assertGreater(m["rss_bytes"], 0, m)
        self.assertGreater(s["records_accepted"], 0, s)
        self.assertGreater(s["throttled"] + s["errors"], 0, "the memory limit never pushed back")
        # RSS is polled every 50 ms, so a client at full speed overshoots the shedding
        # point (90 %): by 88-91 MiB on the machine this bound was first set on, but
        # 88-115 MiB on a 2-CPU machine of 2026-12-06 with the very same binary
        # (d1384b5, five runs: 102, 105, 106, 115; current main: 89-105). Bound the peak
        # at the limit + 24 MiB (+ 32 under ASan, whose allocator holds on to freed
        # memory): without the limit the 1 GiB queue budget lets RSS grow far past it.
        slack = (32 if SANITIZED else 24) * MiB
        self.assertLess(hwm * 1024, limit + slack, "VmHWM %.1f MiB" % (hwm / 1024))
        self.assert_nothing_lost(d, [an], [ids, manual], what="memory limit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
