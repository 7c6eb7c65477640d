#!/usr/bin/env python3
"""demo.py - `make demo`: logdist in front of 4 analyzers for about 30 seconds.

Starts 4 logdist-analyzer processes (weights 0.4/0.3/0.2/0.1), logdistd and
logdist-gen on 127.0.0.1 ephemeral ports; stops analyzer a2 a third of the way
in and restarts it at two thirds; prints a table every second (analyzer,
target %, actual % overall and over the last second, healthy) and a final line
with records sent, delivered and lost (lost must be 0). Every process it
starts is stopped by pid at exit.
"""
import json, os, signal, subprocess, sys, tempfile, time, urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build", "bin")
DURATION = float(os.environ.get("DEMO_SECONDS", "30"))
RATE = int(os.environ.get("DEMO_RATE", "20000"))
WEIGHTS = [("a1", 0.4), ("a2", 0.3), ("a3", 0.2), ("a4", 0.1)]
procs = []
tmp = tempfile.mkdtemp(prefix="logdist-demo.")


def start(args, name):
    out = open(os.path.join(tmp, name + ".out"), "w+")
    err = open(os.path.join(tmp, name + ".err"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=err)
    procs.append(p)
    deadline = time.time() + 10
    while time.time() < deadline:
        out.seek(0)
        line = out.readline()
        if line.endswith("\n"):
            return p, json.loads(line)["listening"]
        if p.poll() is not None:
            sys.exit("%s exited early; see %s" % (name, err.name))
        time.sleep(0.05)
    sys.exit("%s did not start" % name)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def cleanup():
    import shutil
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    analyzers = {}
    for aid, w in WEIGHTS:
        p, addr = start([os.path.join(BIN, "logdist-analyzer"), "--listen", "127.0.0.1:0", "--id", aid], aid)
        analyzers[aid] = {"proc": p, "addr": addr, "weight": w}
    args = [os.path.join(BIN, "logdistd"), "--listen", "127.0.0.1:0", "--health-interval-ms", "250",
            "--data-dir", os.path.join(tmp, "data")]
    for aid, w in WEIGHTS:
        args += ["--analyzer", "id=%s,url=http://%s/ingest,weight=%s" % (aid, analyzers[aid]["addr"], w)]
    _, daddr = start(args, "logdistd")
    gen = subprocess.Popen([os.path.join(BIN, "logdist-gen"), "--url", "http://%s/api/v1/logs" % daddr,
                            "--rate", str(RATE), "--packet-size", "100", "--duration", str(DURATION),
                            "--connections", "4", "--quiet"],
                           stdout=subprocess.PIPE, text=True)
    procs.append(gen)
    print("logdistd on %s, 4 analyzers, generator at %d records/s for %.0f s" % (daddr, RATE, DURATION))
    print("a2 will be stopped at %.0f s and restarted at %.0f s\n" % (DURATION / 3, 2 * DURATION / 3))
    t0 = time.time()
    stopped = restarted = False
    prev = {}
    while gen.poll() is None:
        time.sleep(1)
        t = time.time() - t0
        if not stopped and t >= DURATION / 3:
            analyzers["a2"]["proc"].kill()
            analyzers["a2"]["proc"].wait()
            stopped = True
            print(">>> stopped analyzer a2 (kill -9)")
        if stopped and not restarted and t >= 2 * DURATION / 3:
            port = analyzers["a2"]["addr"].split(":")[1]
            p, _ = start([os.path.join(BIN, "logdist-analyzer"), "--listen", "127.0.0.1:" + port, "--id", "a2"], "a2-restarted")
            analyzers["a2"]["proc"] = p
            analyzers["a2"]["restarted"] = True
            restarted = True
            print(">>> restarted analyzer a2")
        try:
            lst = get("http://%s/api/v1/analyzers" % daddr)["analyzers"]
        except Exception as e:  # noqa: BLE001 - keep the demo going
            print("metrics unavailable: %s" % e)
            continue
        total_delta = sum(a["records_delivered"] - prev.get(a["id"], 0) for a in lst) or 1
        print("t=%4.0fs  %-4s %8s %9s %10s %8s" % (t, "id", "target%", "actual%", "last-1s%", "healthy"))
        for a in lst:
            d = a["records_delivered"] - prev.get(a["id"], 0)
            print("         %-4s %8.1f %9.2f %10.1f %8s" % (a["id"], 100 * a["target_share"],
                  100 * a["actual_share"], 100.0 * d / total_delta, "yes" if a["healthy"] else "NO"))
            prev[a["id"]] = a["records_delivered"]
    summary = json.loads(gen.stdout.read().strip().splitlines()[-1])
    # wait until logdistd has delivered everything it accepted
    deadline = time.time() + 30
    while time.time() < deadline:
        m = get("http://%s/api/v1/metrics" % daddr)
        if m["queued_records"] == 0:
            break
        time.sleep(0.2)
    m = get("http://%s/api/v1/metrics" % daddr)
    # a2 was killed with -9, so the ids it had received died with it: count
    # delivery by what the analyzers acknowledged to logdistd
    lost = max(0, summary["records_accepted"] - m["records_delivered"] - m["records_deadlettered"])
    print("\nsent %d, accepted %d, delivered %d (acknowledged by analyzers; %d redistributed after "
          "failures, %d dead-lettered), queued %d, lost %d"
          % (summary["records_sent"], summary["records_accepted"], m["records_delivered"],
             m["records_redistributed"], m["records_deadlettered"], m["queued_records"], lost))
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        cleanup()
    sys.exit(rc)
