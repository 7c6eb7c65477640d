"""Adaptive weights, slow start and analyzer weight hints (issue 13, parts 1-3),
with the real logdistd and real logdist-analyzers on 127.0.0.1.

- equal analyzers under --adaptive-weights: nothing moves (no factor change at
  all), so the counts are SWRR's exact ones (within 2 records of weight x count);
- one analyzer made 5x slower through its /control endpoint loses share within
  5 s and, once it recovers, regains its configured share within 30 s; the
  steady states (slow, then recovered) hold their shares within +-2 points
  without any factor change (no flapping). Measured times are printed;
- slow start: an analyzer added through the API ramps its effective weight
  from the floor to full over the window (start-up analyzers do not ramp);
- weight hints: "X-Logdist-Weight: 50%" halves the weight, an invalid hint is
  counted and ignored, the TTL restores the configured weight, and
  --weight-hints off ignores hints.

The only time bounds asserted are the issue's (5 s, 30 s), with polling; the
figures are printed for the record.
"""
import os
import sys
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LogdistTestCase, dl, http_request, scaled, wait_until  # noqa: E402

SWRR_RECORDS = 2


def control(analyzer, **kw):
    q = urllib.parse.urlencode(kw)
    r = http_request(analyzer.port, "POST", "/control?" + q)
    assert r.status == 200, r
    return r.json()


def fmt(xs):
    return "[" + " ".join("%.3f" % x for x in xs) + "]"


def report(what, value):
    sys.stderr.write("\n[adaptive] %s: %s\n" % (what, value))


class AdaptiveTest(LogdistTestCase):

    def routed(self, d):
        return {k: v["records_routed"] for k, v in d.analyzers().items()}

    def window_share(self, d, aid, seconds, key="records_routed"):
        """Share of `aid` among the records routed (or delivered) over the next `seconds`."""
        a0 = d.analyzers()
        time.sleep(seconds)
        a1 = d.analyzers()
        delta = {k: a1[k][key] - a0[k][key] for k in a1}
        total = sum(delta.values())
        return (delta[aid] / total if total else 0.0), total, a1

    def steady(self, d, aid, seconds):
        """Routed share of aid in each of `seconds` one-second windows, and its effective
        weight at the end of each."""
        shares, weights = [], []
        for _ in range(seconds):
            share, _, a = self.window_share(d, aid, 1.0)
            shares.append(share)
            weights.append(a[aid]["effective_weight"])
        return shares, weights

    def test_equal_analyzers_keep_exact_shares(self):
        analyzers = [self.start_analyzer("e%d" % i, "--latency-ms", "5") for i in range(4)]
        d = self.start_daemon("--adaptive-weights", "--batch-linger-ms", "20",
                              analyzers=[(a.id, a.url, 1) for a in analyzers])
        count = scaled(40000, 4000)
        count -= count % 4
        summary = self.run_gen(d, count=count, rate=scaled(20000, 2000))
        self.assertEqual(summary["records_accepted"], count, summary)
        m = d.wait_all_delivered(dl(60), expect_accepted=count)
        self.assertEqual(m["weight_factor_changes"], 0, "a factor moved between equal analyzers")
        for aid, x in d.analyzers().items():
            self.assertEqual(x["effective_weight"], x["weight"], x)
            self.assertEqual(x["weight_factors"]["factor"], 1, x)
            self.assertEqual(x["weight_factors"]["reason"], "", x)
            self.assertGreater(x["weight_factors"]["latency_peak_ewma_ms"], 0, x)
        for a in analyzers:
            got = a.records()
            self.assertLessEqual(abs(got - count / 4), SWRR_RECORDS,
                                 "%s got %d of %d" % (a.id, got, count))

    def test_slow_analyzer_loses_and_regains_share(self):
        ids = ["s%d" % i for i in range(4)]
        # 40 ms, then 200 ms: scheduler noise of a loaded 2-core machine (tens of ms)
        # stays small against the analyzers' own latency
        analyzers = [self.start_analyzer(aid, "--latency-ms", "40") for aid in ids]
        d = self.start_daemon("--adaptive-weights", "--batch-linger-ms", "100",
                              analyzers=[(a.id, a.url, 1) for a in analyzers])
        slow = analyzers[3]
        self.start_gen(d, rate=scaled(4000, 1000), duration=120)
        wait_until(lambda: all(x["records_delivered"] > 500 for x in d.analyzers().values()),
                   dl(20), "every analyzer delivering")
        base, _, _ = self.window_share(d, slow.id, 1.0)
        self.assertLess(abs(base - 0.25), 0.02, "share before: %.4f" % base)

        # 5x slower: 40 ms -> 200 ms
        control(slow, latency_ms=200)
        t0 = time.monotonic()
        prev = {k: v["records_delivered"] for k, v in d.analyzers().items()}
        lost = {}

        def share_fell():
            time.sleep(0.5)
            cur = d.analyzers()
            if "w" not in lost and cur[slow.id]["effective_weight"] < 1:
                lost["w"] = time.monotonic() - t0
            now = {k: v["records_delivered"] for k, v in cur.items()}
            delta = {k: now[k] - prev[k] for k in now}
            prev.update(now)
            total = sum(delta.values())
            if total and delta[slow.id] / total < 0.20 and \
                    cur[slow.id]["effective_weight"] < 1:
                lost["t"] = time.monotonic() - t0
                lost["a"] = cur[slow.id]
                return True
            return False
        wait_until(share_fell, dl(15), "the slow analyzer's delivered share to fall", interval=0)
        report("time to lose share", "effective weight < 1 after %.2f s, delivered share of "
               "the last 0.5 s < 20 %% after %.2f s" % (lost.get("w", lost["t"]), lost["t"]))
        self.assertLessEqual(lost["t"], 5.0 * dl(1))
        self.assertIn("latency", lost["a"]["weight_factors"]["reason"], lost["a"])

        # steady state while slow: the routed share per second stays within +-2 points
        # (the factor follows the pool median, which moves with the machine's load; it
        # must not swing the share)
        time.sleep(1.0)
        shares, weights = self.steady(d, slow.id, 4)
        report("slow steady state", "routed share per second %s, effective weight %s, "
               "reason %r" % (fmt(shares), fmt(weights),
                              d.analyzer(slow.id)["weight_factors"]["reason"]))
        self.assertLessEqual(max(shares) - min(shares), 0.04, shares)
        self.assertLess(max(shares), 0.20, shares)
        self.assertLess(max(weights), 1, weights)

        # recover: back to 40 ms
        control(slow, latency_ms=40)
        t1 = time.monotonic()
        back = {}

        def regained():
            time.sleep(0.25)
            x = d.analyzer(slow.id)
            if x["effective_weight"] == x["weight"]:
                back["t"] = time.monotonic() - t1
                return True
            return False
        wait_until(regained, dl(45), "the recovered analyzer's full weight", interval=0)
        report("time to regain the configured weight after recovering", "%.2f s" % back["t"])
        self.assertLessEqual(back["t"], 30.0 * dl(1))
        shares, weights = self.steady(d, slow.id, 3)
        dshare, dtotal, _ = self.window_share(d, slow.id, 2.0, key="records_delivered")
        report("recovered steady state", "routed share per second %s (target 0.25), effective "
               "weight %s, delivered share %.4f over %d records" % (fmt(shares), fmt(weights),
                                                                   dshare, dtotal))
        for x in shares:
            self.assertLess(abs(x - 0.25), 0.02, shares)
        self.assertLess(abs(dshare - 0.25), 0.02)

    def test_slow_start_ramps_added_analyzers(self):
        a1 = self.start_analyzer("r1")
        a2 = self.start_analyzer("r2")
        a3 = self.start_analyzer("r3")
        a4 = self.start_analyzer("r4")
        d = self.start_daemon("--slow-start-ms", "3000",
                              analyzers=[(a.id, a.url, 2) for a in (a1, a2)])
        for x in d.analyzers().values():  # start-up analyzers do not ramp
            self.assertEqual(x["effective_weight"], 2, x)
        r = d.req("POST", "/api/v1/analyzers", {"id": "r3", "url": a3.url, "weight": 2})
        self.assertIn(r.status, (200, 201), r)
        r = d.req("POST", "/api/v1/analyzers", {"id": "r4", "url": a4.url, "weight": 2,
                                                "slow_start_ms": 0})
        self.assertIn(r.status, (200, 201), r)
        samples, reasons = [], set()
        end = time.monotonic() + dl(4.5)
        while time.monotonic() < end:
            x = d.analyzers()
            samples.append(x["r3"]["effective_weight"])
            reasons.add(x["r3"]["weight_factors"]["reason"].split(" ")[0])
            self.assertEqual(x["r4"]["effective_weight"], 2, "slow_start_ms 0 must not ramp")
            time.sleep(0.1)
        report("slow start samples of r3 (weight 2, window 3 s)",
               " ".join("%.2f" % s for s in samples[::4]))
        self.assertLessEqual(samples[0], 0.8, samples)     # near the floor (0.2) at first
        self.assertGreaterEqual(min(samples), 0.2, samples)  # never below the floor
        self.assertEqual(samples[-1], 2, samples)           # full at the end
        self.assertEqual(samples, sorted(samples), "not a ramp")
        self.assertGreaterEqual(len({s for s in samples if 0.2 < s < 2}), 5, samples)
        self.assertIn("slow", reasons)
        # a per-analyzer window is kept by the API
        self.assertNotIn("slow_start_ms", d.analyzer("r3"))
        self.assertEqual(d.analyzer("r4")["slow_start_ms"], 0)
        r = d.req("PUT", "/api/v1/analyzers/r3", {"slow_start_ms": 1500})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(d.analyzer("r3")["slow_start_ms"], 1500)
        r = d.req("PUT", "/api/v1/analyzers/r3", {"slow_start_ms": -1})
        self.assertEqual(r.status, 400, r)
        self.assertIn("slow_start_ms", r.json()["error"]["message"]
                      if isinstance(r.json().get("error"), dict) else r.body.decode())

    def hint_daemon(self, *args):
        a1 = self.start_analyzer("h1")
        a2 = self.start_analyzer("h2")
        d = self.start_daemon("--weight-hint-ttl-ms", "1500", *args,
                              analyzers=[(a.id, a.url, 1) for a in (a1, a2)])
        return a1, a2, d

    def test_weight_hints(self):
        a1, a2, d = self.hint_daemon()
        control(a2, weight_hint="50%")
        wait_until(lambda: d.analyzer("h2")["effective_weight"] == 0.5, dl(10),
                   "the hint to halve h2's weight")
        x = d.analyzer("h2")
        self.assertEqual(x["weight_factors"]["hint"], 0.5, x)
        self.assertIn("hint 50%", x["weight_factors"]["reason"], x)
        gen = self.start_gen(d, rate=scaled(4000, 1000), duration=30)
        wait_until(lambda: d.analyzers()["h2"]["records_routed"] > 200, dl(10), "traffic")
        share, total, _ = self.window_share(d, "h2", 2.0)
        report("hint 50%", "routed share %.4f over %d records (target 0.3333)" % (share, total))
        self.assertLess(abs(share - 1 / 3), 0.02)
        gen.stop(5)

        # an invalid hint: counted, ignored; the valid one then expires (TTL 1.5 s)
        m0 = d.metrics()
        control(a2, weight_hint="bogus")
        wait_until(lambda: d.analyzer("h2")["weight_factors"]["hints_refused"] > 0, dl(10),
                   "the invalid hint to be refused")
        self.assertGreater(d.metrics()["weight_hints_refused"], m0["weight_hints_refused"])
        wait_until(lambda: d.analyzer("h2")["effective_weight"] == 1, dl(10),
                   "the hint to expire")
        x = d.analyzer("h2")
        self.assertEqual(x["weight_factors"]["reason"], "", x)
        # a hint above --weight-hint-max-pct (100) is refused too
        n = x["weight_factors"]["hints_refused"]
        control(a2, weight_hint="150%")
        wait_until(lambda: d.analyzer("h2")["weight_factors"]["hints_refused"] > n, dl(10),
                   "the 150% hint to be refused")
        self.assertEqual(d.analyzer("h2")["effective_weight"], 1)
        prom = d.req("GET", "/metrics").body.decode()
        self.assertIn('logdist_analyzer_weight_factor{analyzer="h2",factor="hint"} 1', prom)
        self.assertIn("logdist_weight_hints_refused_total", prom)

    def test_weight_hints_off(self):
        a1, a2, d = self.hint_daemon("--weight-hints", "off")
        control(a2, weight_hint="50%")
        wait_until(lambda: d.metrics()["weight_hints_ignored"] >= 3, dl(10),
                   "hints to arrive (health checks) and be ignored")
        x = d.analyzer("h2")
        self.assertEqual(x["effective_weight"], 1, x)
        self.assertEqual(x["weight_factors"]["hints_accepted"], 0, x)


if __name__ == "__main__":
    unittest.main()
