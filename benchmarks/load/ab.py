#!/usr/bin/python3
"""Interleaved A/B load runs of two keel brokers on this machine.

Two brokers (two binaries, or one binary with two configs) run side by side,
each on a free port with a fresh data directory. Every round runs each load
once against A and once against B, in alternating order (A B, then B A), next
to the sendfile limit, so a noisy minute on the shared machine hits both. It
prints each round's numbers and the per-round B/A ratios, then their median.
Never run by CI.

  benchmarks/load/ab.py --build BUILD --a BIN_A --b BIN_B [--rounds N]
      [--a-conf 'key: value;key: value'] [--b-conf ...] [--loads fetch,p1k,p100]
      [--fetch-client-a RAW_FETCH] [--fetch-client-b RAW_FETCH] [--fetch-args '...'] [--reps R]

With --reps R each load runs R times per side and round and the best counts
(as sendfile-limit takes its best of rounds): on a shared machine noise only
ever slows a run down.

BUILD gives keel-load, raw-fetch and sendfile-limit. Loads:
  fetch  raw-fetch of a page-cached 1 KiB-record topic (written once at start)
  fetch64  the same with 64 KiB records
  consume, consume64  keel-load's librdkafka consumer on those two topics
  p1k    1 KiB records in ~1 MiB batches, acks=1 (a fresh topic each round)
  p100   100-byte records, acks=1, linger 5 ms
  rawp   raw-produce: pre-encoded ~1 MiB batches of 1 KiB records, 5 in flight
         (a fresh topic each round)
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_json(cmd, timeout=600):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


class Broker:
    def __init__(self, name, binary, extra_conf, work):
        self.name = name
        self.port = free_port()
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "keel.yaml")
        with open(conf, "w") as f:
            f.write("broker.id: 0\nlisteners: PLAINTEXT://127.0.0.1:%d\nlog.dirs: %s/data\n"
                    "num.partitions: 1\nlogging:\n  level: warn\n  file: %s/keel.log\n"
                    % (self.port, self.dir, self.dir))
            for kv in filter(None, (x.strip() for x in (extra_conf or "").split(";"))):
                f.write(kv + "\n")
        self.proc = subprocess.Popen([binary, "--config", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.bootstrap = "127.0.0.1:%d" % self.port

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--a-conf", default="")
    ap.add_argument("--b-conf", default="")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--loads", default="fetch,p1k,p100")
    ap.add_argument("--fetch-records", type=int, default=300000)
    ap.add_argument("--p1k-records", type=int, default=300000)
    ap.add_argument("--p100-records", type=int, default=1000000)
    ap.add_argument("--rawp-batches", type=int, default=600)
    ap.add_argument("--fetch-client-a", default="")
    ap.add_argument("--fetch-client-b", default="")
    ap.add_argument("--fetch-args", default="16777216")
    ap.add_argument("--reps", type=int, default=1, help="runs per load, side and round; the best counts")
    args = ap.parse_args()
    load = os.path.join(args.build, "benchmarks/load/keel-load")
    raw = os.path.join(args.build, "benchmarks/load/raw-fetch")
    rawp = os.path.join(args.build, "benchmarks/load/raw-produce")
    limit = os.path.join(args.build, "benchmarks/load/sendfile-limit")
    clients = {"A": args.fetch_client_a or raw, "B": args.fetch_client_b or raw}
    loads = args.loads.split(",")
    work = tempfile.mkdtemp(prefix="keel-ab.", dir="/var/tmp")
    brokers = {}
    try:
        brokers["A"] = Broker("A", args.a, args.a_conf, work)
        brokers["B"] = Broker("B", args.b, args.b_conf, work)
        for b in brokers.values():
            for t, rs in (("f1k", 1024), ("f64k", 65536)):
                if (t == "f1k" and ({"fetch", "consume"} & set(loads))) or \
                        (t == "f64k" and ({"fetch64", "consume64"} & set(loads))):
                    subprocess.run([load, "create", "--bootstrap", b.bootstrap, "--topic", t], check=True,
                                   capture_output=True)
                    n = args.fetch_records if rs == 1024 else args.fetch_records // 64
                    run_json([load, "produce", "--bootstrap", b.bootstrap, "--topic", t, "--records", str(n),
                              "--record-size", str(rs), "--acks", "1", "--linger-ms", "20",
                              "--batch-bytes", "1048576"])
        def run_load(ld, b, client, tag):
            """One run of load `ld` against broker `b`: MB/s (p100: thousand records/s)."""
            if ld in ("fetch", "fetch64"):
                topic = "f1k" if ld == "fetch" else "f64k"
                return run_json([client, "127.0.0.1", str(b.port), topic, "0"] + args.fetch_args.split())["mb_per_s"]
            if ld in ("consume", "consume64"):
                topic, n = ("f1k", args.fetch_records) if ld == "consume" else ("f64k", args.fetch_records // 64)
                return run_json([load, "consume", "--bootstrap", b.bootstrap, "--topic", topic,
                                 "--records", str(n)])["mb_per_s"]
            if ld == "rawp":
                topic = "rawp_%s" % tag
                subprocess.run([load, "create", "--bootstrap", b.bootstrap, "--topic", topic], check=True,
                               capture_output=True)
                return run_json([rawp, "127.0.0.1", str(b.port), topic, "0",
                                 str(args.rawp_batches)])["mb_per_s"]
            if ld not in ("p1k", "p100"):
                sys.exit("unknown load " + ld)
            topic = "%s_%s" % (ld, tag)
            subprocess.run([load, "create", "--bootstrap", b.bootstrap, "--topic", topic], check=True,
                           capture_output=True)
            if ld == "p1k":
                return run_json([load, "produce", "--bootstrap", b.bootstrap, "--topic", topic, "--records",
                                 str(args.p1k_records), "--record-size", "1024", "--acks", "1",
                                 "--linger-ms", "20", "--batch-bytes", "1048576"])["mb_per_s"]
            return run_json([load, "produce", "--bootstrap", b.bootstrap, "--topic", topic, "--records",
                             str(args.p100_records), "--record-size", "100", "--acks", "1",
                             "--linger-ms", "5"])["records_per_s"] / 1e3

        results = {}  # (load, side) -> [values]
        cpus = {}  # (load, side) -> [broker CPU seconds of the best run]
        limits = []
        for rnd in range(args.rounds):
            order = ["A", "B"] if rnd % 2 == 0 else ["B", "A"]
            limits.append(run_json([limit, os.path.join(work, "sendfile.bin"), "256", "2"])["mb_per_s"])
            line = ["round %d sendfile %.0f" % (rnd, limits[-1])]
            for ld in loads:
                for side in order:
                    b = brokers[side]
                    best = None
                    for rep in range(args.reps):
                        before = b.cpu_ticks()
                        v = run_load(ld, b, clients[side], "%d_%d" % (rnd, rep))
                        cpu = (b.cpu_ticks() - before) / os.sysconf("SC_CLK_TCK")
                        if best is None or v > best[0]:
                            best = (v, cpu)
                    results.setdefault((ld, side), []).append(best[0])
                    cpus.setdefault((ld, side), []).append(best[1])
                    line.append("%s/%s %.0f (cpu %.2fs)" % (ld, side, best[0], best[1]))
            print("  ".join(line), flush=True)
        print("median sendfile limit %.0f MB/s (units: MB/s; p100 in krec/s)" % statistics.median(limits))
        for ld in loads:
            a, b = results[(ld, "A")], results[(ld, "B")]
            ratios = [y / x for x, y in zip(a, b)]
            of_limit = ""
            if ld.startswith("fetch") or ld.startswith("consume"):
                of_limit = "  A/limit %s  B/limit %s" % (
                    " ".join("%.2f" % (x / l) for x, l in zip(a, limits)),
                    " ".join("%.2f" % (y / l) for y, l in zip(b, limits)))
            print("%-7s A %s | B %s | B/A %s median %.2f%s" % (
                ld, " ".join("%.0f" % x for x in a), " ".join("%.0f" % y for y in b),
                " ".join("%.2f" % r for r in ratios), statistics.median(ratios), of_limit))
            ca, cb = cpus[(ld, "A")], cpus[(ld, "B")]
            print("%-7s broker CPU s per run: A %s | B %s | median B/A %.2f" % (
                "", " ".join("%.2f" % x for x in ca), " ".join("%.2f" % y for y in cb),
                statistics.median(cb) / max(1e-9, statistics.median(ca))))
    finally:
        for b in brokers.values():
            b.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
