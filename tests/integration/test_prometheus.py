"""GET /metrics (Prometheus text format 0.0.4) against the real binaries and a real
Prometheus server.

One logdistd with tokens (ingest, read) and two logdist-analyzer processes weighted
1:3 gets a fixed traffic: 40 packets of 40 records from 40 agents, one packet over
an agent's rate limit (its 40 records are counted in
logdist_records_rejected_total{reason="rate_limited"}), one malformed packet and one
request without a token. After traffic stops and everything is delivered:

1. `promtool check metrics` on the /metrics text exits 0 with no lint output;
2. every counter /metrics shares with GET /api/v1/metrics (and the per-analyzer ones
   with its "analyzers") has the same value, and the records identity
   received = accepted + rejected holds;
3. /metrics answers 401 without a token, 403 with an ingest-only token, 200 with a
   read token (GET and HEAD, Content-Type text/plain; version=0.0.4);
4. a real Prometheus (/usr/bin/prometheus, its own config and TSDB in the test's temp
   dir, scrape_interval 1s, bearer token) scrapes logdistd; once it has scraped after
   the traffic, its /api/v1/query answer for logdist_records_delivered_total equals,
   per analyzer, the records each logdist-analyzer counted itself. Prometheus is
   stopped by pid.

Every wait is bounded (harness.wait_until with dl() deadlines).
"""
import json
import os
import re
import shutil
import subprocess
import unittest
import urllib.parse

from harness import (LogdistTestCase, dl, free_port, hash_token, http_request, wait_until)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

TOKENS = {"ingest": "ingest-token-0123456789abcdef", "read": "read-token-0123456789abcdef"}
PACKETS, PER_PACKET = 40, 40
BURST = 50  # the per-agent bucket (records): one 40-record packet fits, a second does not

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_prom(text):
    """{(name, frozenset(labels)): float} of every sample; HELP/TYPE lines checked."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "unparsable line %r" % line
        labels = frozenset((k, unescape(v)) for k, v in LABEL.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in out, "series twice: %r" % line
        out[key] = float(m.group(4))
    return out, types


def packet(agent, i, n):
    recs = ",".join('{"id":"%s-%d-%d","level":"INFO","message":"m"}' % (agent, i, k)
                    for k in range(n))
    return '{"packet_id":"%s-%d","agent_id":"%s","messages":[%s]}' % (agent, i, agent, recs)


class PrometheusTest(LogdistTestCase):

    def setUp(self):
        super().setUp()
        self.a1 = self.start_analyzer("a1")
        self.a2 = self.start_analyzer("a2")
        self.d = self.start_daemon(
            "--token", "role=ingest,hash=" + hash_token(TOKENS["ingest"]),
            "--token", "role=read,hash=" + hash_token(TOKENS["read"]),
            "--agent-records-per-s", "1", "--rate-burst-s", str(BURST),
            "--batch-linger-ms", "20",
            analyzers=[("a1", self.a1.url, 1), ("a2", self.a2.url, 3)])

    # -- helpers
    def auth(self, role):
        return {"Authorization": "Bearer " + TOKENS[role]}

    def get(self, path, role="read", method="GET"):
        return self.d.req(method, path, headers=self.auth(role) if role else None)

    def get_json(self, path):
        r = self.get(path)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def scrape(self):
        r = self.get("/metrics")
        self.assertEqual(r.status, 200, r)
        return r.body.decode("utf-8")

    def send_traffic(self):
        """The fixed traffic; returns the number of records accepted."""
        for name in ("a1", "a2"):
            wait_until(lambda: self.get_json("/api/v1/analyzers/" + name)["state"] == "up",
                       dl(15), "analyzer %s up" % name)
        for i in range(PACKETS):
            r = self.d.post_logs(packet("agent-%d" % i, i, PER_PACKET), headers=self.auth("ingest"))
            self.assertEqual(r.status, 202, r)
        # agent-0 has BURST - PER_PACKET records left, refilled at 1/s: refused whole
        r = self.d.post_logs(packet("agent-0", 99, PER_PACKET), headers=self.auth("ingest"))
        self.assertEqual(r.status, 429, r)
        r = self.d.post_logs('{"messages":[{"id":1},', headers=self.auth("ingest"))
        self.assertEqual(r.status, 400, r)
        r = self.d.post_logs(packet("agent-x", 0, 1))  # no token
        self.assertEqual(r.status, 401, r)
        accepted = PACKETS * PER_PACKET

        def settled():
            m = self.get_json("/api/v1/metrics")
            return (m["records_accepted"] == accepted and m["records_delivered"] == accepted
                    and m["queued_records"] == 0 and m["inflight_batches"] == 0)
        wait_until(settled, dl(30), "all records delivered", interval=0.1)
        wait_until(lambda: self.a1.records() + self.a2.records() == accepted, dl(30),
                   "analyzers counted every record")
        return accepted

    # -- tests
    def test_metrics(self):
        accepted = self.send_traffic()
        text = self.scrape()
        json_m = self.get_json("/api/v1/metrics")
        text_after = self.scrape()

        # (1) promtool: valid and lint-clean
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=dl(30))
        self.assertEqual(r.returncode, 0, "promtool: %s %s" % (r.stdout, r.stderr))
        self.assertEqual((r.stdout + r.stderr).strip(), b"", "promtool lint output")

        # (2) the same values as the JSON. Each request of the test is a new connection
        # and health checks go on, so a few counters move while we look: the JSON must
        # lie between the scrape before it and the one after it, and equal both when
        # they agree (every record and packet counter does: asserted below).
        s, types = parse_prom(text)
        after, _ = parse_prom(text_after)

        def val(name, **labels):
            key = (name, frozenset(labels.items()))
            self.assertIn(key, s, "series %s%s missing" % (name, labels))
            return s[key]

        def same(name, want, **labels):
            key = (name, frozenset(labels.items()))
            self.assertIn(key, s, "series %s%s missing" % (name, labels))
            lo, hi = s[key], after[key]
            self.assertTrue(lo <= want <= hi, "%s%s: JSON %s, scrapes %s and %s"
                            % (name, labels, want, lo, hi))
            if lo == hi:
                self.assertEqual(lo, want, name)

        plain = {  # prom name -> JSON key of /api/v1/metrics
            "packets_received_total": "packets_received",
            "packets_accepted_total": "packets_accepted",
            "records_received_total": "records_received",
            "records_accepted_total": "records_accepted",
            "bytes_received_total": "bytes_received",
            "batches_sent_total": "batches_sent",
            "batches_delivered_total": "batches_delivered",
            "batches_failed_total": "batches_failed",
            "batches_retried_total": "batches_retried",
            "records_redistributed_total": "records_redistributed",
            "records_deadletter_evicted_total": "records_deadletter_evicted",
            "records_deadletter_kept_in_wal_total": "records_deadletter_kept_in_wal",
            "records_lost_at_shutdown_total": "records_lost_at_shutdown",
            "records_durable_total": "records_durable",
            "records_replayed_total": "records_replayed",
            "records_replay_failed_total": "records_replay_failed",
            "analyzer_tls_failures_total": "analyzer_tls_failures",
            "connections_accepted_total": "connections_accepted",
            "connections_refused_total": "connections_refused",
            "connections_refused_per_ip_total": "connections_refused_per_ip",
            "accept_errors_total": "accept_errors",
            "connections_shed_total": "connections_shed",
            "requests_rate_limited_total": "requests_rate_limited",
            "requests_paused_total": "requests_paused",
            "requests_pause_expired_total": "requests_pause_expired",
            "slow_clients_closed_total": "slow_clients_closed",
            "http_bad_requests_total": "http_bad_requests",
            "body_budget_waits_total": "body_budget_waits",
            "tls_handshake_failures_total": "tls_handshake_failures",
            "tls_setup_failures_total": "tls_setup_failures",
            "breaker_trips_total": "breaker_trips",
            "routing_holds_total": "routing_holds",
            "routing_failures_total": "routing_failures",
            "health_checks_total": "health_checks",
            "health_check_failures_total": "health_check_failures",
            "memory_shed_episodes_total": "memory_shed_episodes",
            "wal_fsyncs_total": "wal_fsyncs",
            "syslog_udp_dropped_total": "syslog_udp_dropped_total",
            "forward_acks_total": "forward_acks",
            "queue_bytes": "queued_bytes",
            "queue_records": "queued_records",
            "wal_bytes": "wal_bytes",
            "wal_live_records": "wal_live_records",
            "inflight_batches": "inflight_batches",
            "rate_limit_agents": None,
            "memory_limit_bytes": "memory_limit_bytes",
        }
        for name, key in plain.items():
            want = json_m["rate_limits"]["agents_tracked"] if key is None else json_m[key]
            same("logdist_" + name, want)
        for name in ("packets_received_total", "packets_accepted_total", "records_received_total",
                     "records_accepted_total", "bytes_received_total", "batches_delivered_total",
                     "queue_bytes", "queue_records", "inflight_batches"):
            key = ("logdist_" + name, frozenset())
            self.assertEqual(s[key], after[key], "%s moved after the traffic" % name)
        for reason, n in json_m["packets_rejected_by_reason"].items():
            same("logdist_packets_rejected_total", n, reason=reason)
        for reason, n in json_m["records_rejected_by_reason"].items():
            same("logdist_records_rejected_total", n, reason=reason)
        self.assertEqual(len([k for k in s if k[0] == "logdist_records_rejected_total"]),
                         len(json_m["records_rejected_by_reason"]))
        for reason, n in json_m["auth_failures"].items():
            same("logdist_auth_failures_total", n, reason=reason)
        for scope in ("global", "agent"):
            same("logdist_rate_limited_packets_total", json_m["rate_limits"][scope], scope=scope)
        for proto, fields in json_m["protocols"].items():
            for f, n in fields.items():
                same("logdist_protocol_%s_total" % f, n, proto=proto)
        per_analyzer = {
            "logdist_records_routed_total": "records_routed",
            "logdist_records_delivered_total": "records_delivered",
            "logdist_records_retried_total": "records_retried",
            "logdist_records_deadlettered_total": "records_deadlettered",
            "logdist_records_redistributed_in_total": "records_redistributed_in",
            "logdist_analyzer_batches_failed_total": "batches_failed",
            "logdist_analyzer_weight": "weight",
            "logdist_analyzer_effective_weight": "effective_weight",
            "logdist_analyzer_target_share": "target_share",
            "logdist_analyzer_actual_share": "actual_share",
            "logdist_analyzer_queue_bytes": "queue_bytes",
            "logdist_analyzer_inflight_batches": "inflight_batches",
        }
        self.assertEqual(len(json_m["analyzers"]), 2)
        for a in json_m["analyzers"]:
            for name, key in per_analyzer.items():
                same(name, a[key], analyzer=a["id"])
            self.assertEqual(val("logdist_analyzer_up", analyzer=a["id"]), 1)
            for st in ("closed", "open", "half_open"):
                self.assertEqual(val("logdist_analyzer_breaker_state", analyzer=a["id"],
                                     state=st), 1 if st == a["breaker"] else 0)
            n = val("logdist_delivery_duration_seconds_count", analyzer=a["id"])
            self.assertEqual(n, a["batches_delivered"] + a["batches_failed"])
            self.assertEqual(val("logdist_delivery_duration_seconds_bucket", analyzer=a["id"],
                                 le="+Inf"), n)
            self.assertGreater(a["latency_p99_ms"], 0)
            self.assertGreaterEqual(a["latency_p99_ms"], a["latency_p50_ms"])

        # the figures themselves: what was sent
        total_delivered = sum(a["records_delivered"] for a in json_m["analyzers"])
        self.assertEqual(total_delivered, accepted)
        self.assertEqual(val("logdist_records_accepted_total"), accepted)
        self.assertEqual(val("logdist_records_rejected_total", reason="rate_limited"), PER_PACKET)
        self.assertEqual(val("logdist_records_received_total"),
                         accepted + sum(v for k, v in s.items()
                                        if k[0] == "logdist_records_rejected_total"))
        self.assertEqual(val("logdist_packets_rejected_total", reason="bad_json"), 1)
        self.assertEqual(val("logdist_packets_rejected_total", reason="rate_limited"), 1)
        self.assertEqual(val("logdist_auth_failures_total", reason="missing_token"), 1)
        # 1:3 by SWRR, exact within a batch boundary: shares of delivered records
        self.assertAlmostEqual(val("logdist_analyzer_actual_share", analyzer="a2"), 0.75,
                               delta=0.02)
        self.assertEqual(val("logdist_analyzer_target_share", analyzer="a1"), 0.25)
        # everything was delivered within the last 10 s (or the window is empty)
        shares10 = [val("logdist_analyzer_actual_share_10s", analyzer=x) for x in ("a1", "a2")]
        self.assertIn(round(sum(shares10), 9), (0.0, 1.0))
        # every POST /api/v1/logs was timed, the refused ones too
        self.assertEqual(val("logdist_ingest_request_duration_seconds_count"),
                         json_m["packets_received"])
        self.assertEqual(val("logdist_batch_records_sum"), accepted)
        self.assertEqual(val("logdist_batch_records_count"),
                         sum(a["batches_delivered"] for a in json_m["analyzers"]))
        self.assertEqual(val("logdist_build_info", version="0.1.0"), 1)
        self.assertGreaterEqual(val("process_cpu_seconds_total"), 0)  # 10 ms ticks: may be 0
        for name in ("process_resident_memory_bytes",
                     "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                     "process_start_time_seconds"):
            self.assertGreater(val(name), 0, name)
        self.assertEqual(types["logdist_delivery_duration_seconds"], "histogram")
        self.assertEqual(types["logdist_records_delivered_total"], "counter")
        self.assertEqual(types["logdist_queue_bytes"], "gauge")

    def test_tokens(self):
        r = self.get("/metrics", role=None)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")
        r = self.d.req("GET", "/metrics", headers={"Authorization": "Bearer wrong-token"})
        self.assertEqual(r.status, 401, r)
        r = self.get("/metrics", role="ingest")
        self.assertEqual(r.status, 403, r)
        r = self.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn(b"\n# TYPE logdist_records_delivered_total counter\n", r.body)
        h = self.get("/metrics", method="HEAD")
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.headers["content-type"], r.headers["content-type"])
        r = self.d.req("POST", "/metrics", body="x", headers=self.auth("read"))
        self.assertIn(r.status, (401, 403), r)  # a read token may not POST anywhere
        r = self.d.req("DELETE", "/metrics", headers=self.auth("read"))
        self.assertIn(r.status, (401, 403), r)

    def test_prometheus_server(self):
        accepted = self.send_traffic()
        per_analyzer = {"a1": self.a1.records(), "a2": self.a2.records()}
        self.assertEqual(sum(per_analyzer.values()), accepted)
        token_file = self.path("prom-token")
        with open(token_file, "w") as f:
            f.write(TOKENS["read"])
        cfg = self.path("prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: logdist\n"
                    "    metrics_path: /metrics\n"
                    "    authorization:\n"
                    "      type: Bearer\n"
                    "      credentials_file: %s\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (token_file, self.d.port))
        port = free_port()
        prom = self.spawn("prometheus", [
            PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + self.path("tsdb"),
            "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"])

        def query(q):
            r = http_request(port, "GET", "/api/v1/query?query=" + urllib.parse.quote(q),
                             timeout=dl(10))
            if r.status != 200:
                return None
            body = r.json()
            if body.get("status") != "success":
                return None
            return {x["metric"].get("analyzer", ""): float(x["value"][1])
                    for x in body["data"]["result"]}

        last = {}

        def settled():
            up = query('up{job="logdist"}')
            got = query('logdist_records_delivered_total{job="logdist"}')
            last["up"], last["got"] = up, got
            return up == {"": 1.0} and got == {k: float(v) for k, v in per_analyzer.items()}
        try:
            wait_until(settled, dl(60), "Prometheus scraped the delivered counts",
                       interval=0.5, ignore=(OSError, ValueError))
        except AssertionError as e:
            raise AssertionError("%s; last answers %s; analyzers %s; prometheus stderr %s"
                                 % (e, last, per_analyzer, prom.stderr_text()[-2000:])) from None
        # the counters Prometheus stored are logdistd's own (the same as its JSON)
        m = self.get_json("/api/v1/metrics")
        got = query('logdist_records_accepted_total{job="logdist"}')
        self.assertEqual(got, {"": float(m["records_accepted"])})
        shares = query('logdist_analyzer_target_share{job="logdist"}')
        self.assertEqual(shares, {"a1": 0.25, "a2": 0.75})
        prom.stop(dl(20))
        self.assertEqual(prom.exit_problem(True), None, prom.stderr_text()[-2000:])



class PrometheusRetryTest(LogdistTestCase):
    """Per-analyzer retried and dead-lettered records: an analyzer that answers 500 to
    every batch, alone, with --max-attempts 2 - every batch fails twice on it (the
    first failure is retried there, as it is the only one) and is dead-lettered."""

    def test_retried_and_deadlettered(self):
        bad = self.start_analyzer("bad", "--status", "500")
        d = self.start_daemon("--max-attempts", "2", "--retry-base-ms", "10",
                              "--retry-max-ms", "20", "--passive-fall", "100",
                              "--breaker-failures", "0", "--breaker-error-pct", "0",
                              "--batch-linger-ms", "20", analyzers=[("bad", bad.url, 1)])
        wait_until(lambda: d.analyzer("bad")["state"] == "up", dl(15), "analyzer up")
        n = 0
        for i in range(5):
            r = d.post_logs(packet("agent", i, 10))
            self.assertEqual(r.status, 202, r)
            n += 10
        wait_until(lambda: d.metrics()["records_deadlettered"] == n, dl(30),
                   "every record dead-lettered", interval=0.1)
        text = d.req("GET", "/metrics").body.decode()
        m = d.metrics()
        s, _ = parse_prom(text)
        a = m["analyzers"][0]
        self.assertEqual(a["records_retried"], n)
        self.assertEqual(a["records_deadlettered"], n)
        self.assertEqual(m["records_retried"], n)
        for name, key in (("logdist_records_retried_total", "records_retried"),
                          ("logdist_records_deadlettered_total", "records_deadlettered"),
                          ("logdist_records_delivered_total", "records_delivered"),
                          ("logdist_analyzer_batches_failed_total", "batches_failed")):
            self.assertEqual(s[(name, frozenset({("analyzer", "bad")}))], a[key], name)
        self.assertEqual(a["records_delivered"], 0)
        self.assertEqual(a["actual_share"], 0)
        self.assertEqual(a["actual_share_10s"], 0)
        # every attempt was timed: two per batch
        self.assertEqual(s[("logdist_delivery_duration_seconds_count",
                            frozenset({("analyzer", "bad")}))], a["batches_failed"])
        self.assertEqual(a["batches_failed"], m["batches_sent"])  # every attempt failed
        self.assertEqual(a["batches_failed"] % 2, 0)              # two attempts per batch


if __name__ == "__main__":
    unittest.main()
