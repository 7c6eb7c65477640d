"""bench/cluster_scale.py - 20 logdistd nodes against a 3-member etcd (issue 14):
config propagation and etcd load, with an estimate for 200 nodes. Run through
bench/cluster_scale.sh (`make bench-cluster`).

1. A 3-member etcd on loopback ports (tests/integration/etcd_util.py) and NODES
   logdistd nodes (--cluster-etcd with the three members; each its own data dir,
   --durability none); waits until every node lists NODES nodes.
2. Idle window (IDLE_S): the etcd load of the cluster at rest - lease keep-alives
   and node-value refreshes (every 3 s per node) and the watch fan-out of those
   refreshes. From every member's /metrics: grpc_server_handled_total (requests
   finished), grpc_server_msg_received_total / msg_sent_total by grpc service
   (Watch messages sent = events fanned out to the watchers), and
   etcd_server_proposals_committed_total (raft writes, counted on one member).
3. Propagation: ROUNDS re-weights of one analyzer, each on a node in turn; one
   poller thread per other node GETs /api/v1/analyzers/<id> every 5 ms until it
   shows the new weight. Per node: the time from just before the PUT until that
   node applied it; figures p50/p99/max over all (node, round) pairs, and the
   p50/p99 of the per-round slowest node.
4. The estimate for 200 nodes from the measured per-node rates (linear: keepalives,
   refreshes, proposals) and the fan-out (quadratic: every refresh goes to every
   node's watch).
Output: a text report on stdout (and OUT if set). Processes are stopped by pid.
"""
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("LOGDIST_BIN", os.path.join(ROOT, os.environ.get("BIN", "build/bin")))
import harness  # noqa: E402
import etcd_util  # noqa: E402

NODES = int(os.environ.get("NODES", "20"))
ROUNDS = int(os.environ.get("ROUNDS", "30"))
IDLE_S = float(os.environ.get("IDLE_S", "30"))
BIN = harness.BIN
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))


def scrape(url):
    """{metric name with labels: value} of an etcd member's /metrics."""
    with OPENER.open(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^(\S+)\s+(\S+)$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def etcd_counters(etcd):
    """Summed over the members: requests handled, messages received/sent by grpc
    service, proposals committed (max over members: every member commits each)."""
    c = {"requests": 0.0, "proposals": 0.0}
    for i in range(len(etcd.members)):
        m = scrape(etcd.url(i))
        for k, v in m.items():
            if k.startswith("grpc_server_handled_total{"):
                c["requests"] += v
            for kind in ("received", "sent"):
                if k.startswith("grpc_server_msg_%s_total{" % kind):
                    svc = re.search(r'grpc_service="([^"]+)"', k).group(1).split(".")[-1]
                    key = "msg_%s_%s" % (kind, svc)
                    c[key] = c.get(key, 0.0) + v
        c["proposals"] = max(c["proposals"], m.get("etcd_server_proposals_committed_total", 0))
    return c


def rates(c0, c1, el):
    return {k: (c1.get(k, 0) - c0.get(k, 0)) / el for k in sorted(set(c0) | set(c1))}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


def main():
    tmp = tempfile.mkdtemp(prefix="logdist-bench-cluster-")
    procs = []
    report = []

    def out(s):
        report.append(s)
        print(s, flush=True)
    try:
        log("etcd: 3 members")
        etcd = etcd_util.EtcdCluster(tmp, members=3, start_timeout=60)
        procs += [m["proc"] for m in etcd.members]
        an = harness.Proc("analyzer", [os.path.join(BIN, "logdist-analyzer"), "--listen",
                                       "127.0.0.1:0", "--id", "s1"], tmp)
        procs.append(an)
        an_port = int(an.first_line(10)["listening"].rsplit(":", 1)[1])
        nodes = []
        log("starting %d logdistd nodes" % NODES)
        for i in range(NODES):
            d = os.path.join(tmp, "data%02d" % i)
            p = harness.Proc("logdistd-%02d" % i, [
                os.path.join(BIN, "logdistd"), "--listen", "127.0.0.1:0", "--data-dir", d,
                "--durability", "none", "--ingest-threads", "1",
                "--cluster-etcd", etcd.endpoints, "--node-id", "n%02d" % i,
                "--cluster-prefix", "/bench", "--log-level", "warn"] +
                (["--analyzer", "id=s1,url=http://127.0.0.1:%d/ingest,weight=1" % an_port]
                 if i == 0 else []), tmp)
            procs.append(p)
            nodes.append(int(p.first_line(20)["listening"].rsplit(":", 1)[1]))
        t0 = time.monotonic()
        for port in nodes:
            harness.wait_until(lambda port=port: len(harness.get_json(
                port, "/api/v1/cluster")["nodes"]) >= NODES, 60, "all nodes seen", interval=0.2)
            harness.wait_until(lambda port=port: harness.http_request(
                port, "GET", "/api/v1/analyzers/s1").status == 200, 30, "analyzer seen")
        log("cluster of %d formed (%.1f s after the last start)" % (NODES, time.monotonic() - t0))

        out("# cluster scale: %d logdistd nodes, 3-member etcd (%s), %s, %d CPUs" % (
            NODES, etcd_version(etcd), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            os.cpu_count()))
        log("idle window %.0f s" % IDLE_S)
        c0, ta = etcd_counters(etcd), time.monotonic()
        time.sleep(IDLE_S)
        c1, el = etcd_counters(etcd), time.monotonic() - ta
        idle = rates(c0, c1, el)
        out("## etcd load at rest over %.0f s (sum over the 3 members, per second)" % el)
        for k, v in idle.items():
            if v:
                out("  %-36s %10.1f/s" % (k, v))

        log("propagation: %d re-weights" % ROUNDS)
        per_node, per_round = [], []
        c2, tb = etcd_counters(etcd), time.monotonic()
        for r in range(ROUNDS):
            src = r % NODES
            w = 2 + r
            done = {}

            def poll(port, t_start):
                end = t_start + 10
                while time.monotonic() < end:
                    res = harness.http_request(port, "GET", "/api/v1/analyzers/s1", timeout=5)
                    if res.status == 200 and res.json().get("weight") == w:
                        done[port] = time.monotonic() - t_start
                        return
                    time.sleep(0.005)
            t_start = time.monotonic()
            res = harness.http_request(nodes[src], "PUT", "/api/v1/analyzers/s1", {"weight": w},
                                       timeout=10)
            if res.status != 200:
                raise SystemExit("PUT on node %d: %s %s" % (src, res.status, res.body[:300]))
            ths = [threading.Thread(target=poll, args=(p, t_start)) for i, p in enumerate(nodes)
                   if i != src]
            for t in ths:
                t.start()
            for t in ths:
                t.join()
            if len(done) != NODES - 1:
                raise SystemExit("round %d: only %d of %d nodes applied it within 10 s"
                                 % (r, len(done), NODES - 1))
            per_node += list(done.values())
            per_round.append(max(done.values()))
        c3, el2 = etcd_counters(etcd), time.monotonic() - tb
        ms = lambda s: "%.1f ms" % (s * 1000)  # noqa: E731
        out("## config propagation: re-weight on one node (each in turn), %d rounds, "
            "%d other nodes polled every 5 ms" % (ROUNDS, NODES - 1))
        out("  per node:  p50 %s  p99 %s  max %s  (%d samples)" % (
            ms(pct(per_node, 0.5)), ms(pct(per_node, 0.99)), ms(max(per_node)), len(per_node)))
        out("  slowest node of a round:  p50 %s  p99 %s" % (ms(pct(per_round, 0.5)),
                                                          ms(pct(per_round, 0.99))))
        busy = rates(c2, c3, el2)
        out("  etcd during the rounds (polling through the nodes' admin API, not etcd): "
            "requests %.1f/s, proposals %.1f/s" % (busy["requests"], busy["proposals"]))

        n = NODES
        req_node = idle["requests"] / n
        prop_node = idle["proposals"] / n
        watch_sent = idle.get("msg_sent_Watch", 0.0)
        fan = watch_sent / (n * n) if n else 0
        out("## estimate for 200 nodes (per-node rates measured at %d, fan-out per node pair)" % n)
        out("  requests (keep-alives, node-value puts, ...): %.2f/s per node -> %.0f/s at 200"
            % (req_node, req_node * 200))
        out("  proposals (raft writes): %.2f/s per node -> %.0f/s at 200" % (prop_node,
                                                                             prop_node * 200))
        out("  watch messages sent: %.1f/s at %d = %.4f per node pair -> %.0f/s at 200"
            % (watch_sent, n, fan, fan * 200 * 200))
        if os.environ.get("OUT"):
            with open(os.environ["OUT"], "w") as f:
                f.write("\n".join(report) + "\n")
    finally:
        for p in reversed(procs):
            p.stop(10)
        if os.environ.get("KEEP_TMP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


def etcd_version(etcd):
    try:
        with OPENER.open(etcd.url(0) + "/version", timeout=5) as r:
            return "etcd " + json.loads(r.read().decode()).get("etcdserver", "?")
    except OSError:
        return "etcd ?"


if __name__ == "__main__":
    main()
