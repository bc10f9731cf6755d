#!/usr/bin/python3
"""Requests per operation, from the brokers' request logs (issues 21 and 25):

  txn   a transactional producer (100 records of 1 KiB per transaction,
        acks=all, linger.ms 5): every request the brokers answered per
        transaction, by API, client and broker, with the broker's time for it;
        and the coordinator's phases of each commit (its debug line: EndTxn to
        the Prepare record written, the markers answered, the Complete record
        written; the completions in flight; the time a next
        AddPartitionsToTxn waited for the previous completion). With
        --producers N, N producers (threads, transactional.id round-trips-<i>)
        commit at once, to see whether their commits overlap
  acks  one acks=all record at a time on an RF=3 partition (min ISR 2): the
        leader's Produce time and the follower Fetches per produce

    benchmarks/round_trips.py txn  [--keel build/src/keel] [--brokers 1|3] [--partitions 3] [--count 60]
                                   [--producers 1]
    benchmarks/round_trips.py acks [--keel build/src/keel] [--count 300]

The brokers are the integration tests' (conftest.Broker; three on a ZooKeeper
of their own, or one on the embedded store) with `logging.request.level:
debug`, so each answered request is one log line; only the lines written
between the warm-up and the end of the run are counted. A count per
operation above the protocol's minimum is a retry: a request refused and sent
again after the client's backoff. Counts do not depend on the machine's load;
the times do. Nothing here is a test."""

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

LINE = re.compile(r"\] (\w+) v\d+ correlation \d+ from client '([^']*)'.*?: ([\d.]+) ms")
# txn/completion.cc's and txn/coordinator.cc's debug lines.
PHASES = re.compile(r"\[txn\] transactional id '[^']*' (?:commit|abort): EndTxn to \w+ written (\d+) us, markers "
                    r"answered (\d+) us, \w+ written (\d+) us \(total (\d+) us\); completions still in flight (\d+)")
PARKED = re.compile(r"\[txn\] transactional id '[^']*': AddPartitionsToTxn waited (\d+) us")


def start(args, extra):
    from conftest import Broker, ZooKeeper
    from cluster_harness import start_cluster
    work = Path(tempfile.mkdtemp(prefix="keel-round-trips-"))
    extra = "logging.request.level: debug\n" + extra
    if args.brokers == 1:
        b = Broker(work / "b", extra_config=extra).start()

        def stop_one():
            b.stop()
            shutil.rmtree(work, ignore_errors=True)
        return [b], stop_one
    zk = ZooKeeper().start()
    brokers = start_cluster(zk, work, "rt", extra_config=extra)

    def stop():
        for b in brokers:
            b.stop()
        zk.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return brokers, stop


def wait_in_sync(admin, topic, partitions, rf):
    for _ in range(300):
        t = admin.list_topics(topic, timeout=10).topics.get(topic)
        if t and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 and len(p.isrs) == rf for p in t.partitions.values()):
            return t
        time.sleep(0.2)
    raise RuntimeError(topic + " not in sync")


def log_lines(brokers, marks):
    for b, mark in zip(brokers, marks):
        with open(b.log_path, errors="replace") as f:
            f.seek(mark)
            for m in LINE.finditer(f.read()):
                yield b.broker_id, m.group(1), m.group(2), float(m.group(3))


def coordinator_phases(brokers, marks):
    """The coordinator's debug lines written since `marks`: a list of
    (prepare, markers, complete, total, in flight) per completion and the
    AddPartitionsToTxn waits, in microseconds."""
    phases, parked = [], []
    for b, mark in zip(brokers, marks):
        with open(b.log_path, errors="replace") as f:
            f.seek(mark)
            text = f.read()
        phases += [tuple(int(x) for x in m.groups()) for m in PHASES.finditer(text)]
        parked += [int(m.group(1)) for m in PARKED.finditer(text)]
    return phases, parked


def print_phases(phases, parked, count):
    if not phases:
        print("no coordinator phase lines (is the txn logger at debug?)")
        return
    names = ("EndTxn -> Prepare written", "Prepare -> markers answered", "markers -> Complete written",
             "EndTxn -> Complete written")
    for i, name in enumerate(names):
        v = sorted(p[i] for p in phases)
        print("%-30s p50 %7.0f us  p90 %7.0f us  max %7.0f us  (%d completions)" % (
            name, v[len(v) // 2], v[int(len(v) * .9)], v[-1], len(v)))
    inflight = collections.Counter(p[4] for p in phases)
    print("other completions in flight when one was written: %s" % dict(sorted(inflight.items())))
    if parked:
        v = sorted(parked)
        print("AddPartitionsToTxn waits for the previous completion: %.2f per transaction, p50 %.0f us, max %.0f us"
              % (len(v) / count, v[len(v) // 2], v[-1]))


def txn(args):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    rf = args.brokers
    brokers, stop = start(args, "transaction.state.log.replication.factor: %d\n"
                                "transaction.state.log.min.isr: %d\n"
                                "transaction.state.log.num.partitions: 3\n" % (rf, min(rf, 2)))
    try:
        boot = ",".join(b.bootstrap for b in brokers)
        admin = AdminClient({"bootstrap.servers": boot})
        config = {"min.insync.replicas": "2"} if rf > 1 else {}
        admin.create_topics([NewTopic("t", args.partitions, rf, config=config)])["t"].result(60)
        wait_in_sync(admin, "t", args.partitions, rf)
        producers = []
        for i in range(args.producers):
            tid = "round-trips" if args.producers == 1 else "round-trips-%d" % i
            p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 5, "transactional.id": tid})
            p.init_transactions(60)
            producers.append(p)
        value = os.urandom(1024)

        def one(p):
            p.begin_transaction()
            for i in range(100):
                p.produce("t", value, partition=i % args.partitions)
            c = time.time()
            p.commit_transaction(60)
            return time.time() - c

        def run(count):
            # librdkafka releases the GIL while it waits: the producers' commits overlap.
            with concurrent.futures.ThreadPoolExecutor(len(producers)) as pool:
                per = list(pool.map(lambda p: [one(p) for _ in range(count)], producers))
            return [c for times in per for c in times]
        run(10)
        time.sleep(0.5)
        marks = [b.log_path.stat().st_size for b in brokers]
        t0 = time.time()
        commits = run(args.count)
        took = time.time() - t0
        time.sleep(0.5)
        args.count *= len(producers)  # transactions in all
        per = collections.defaultdict(list)
        for broker, api, client, ms in log_lines(brokers, marks):
            if not client.startswith("replica-fetcher"):
                per[(api, re.sub(r"-\d+$", "", client), broker)].append(ms)
        print("transactions/s %.1f, commit p50 %.2f ms, p90 %.2f ms, load %s" % (
            args.count / took, statistics.median(commits) * 1000, sorted(commits)[int(len(commits) * .9)] * 1000,
            open("/proc/loadavg").read().split()[0]))
        for (api, client, broker), times in sorted(per.items()):
            print("%-20s from %-16s at broker %d: %.2f per transaction, broker time p50 %.1f ms" % (
                api, client, broker, len(times) / args.count, statistics.median(times)))
        print_phases(*coordinator_phases(brokers, marks), args.count)
    finally:
        stop()


def acks(args):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    args.brokers = 3
    brokers, stop = start(args, "")
    try:
        boot = ",".join(b.bootstrap for b in brokers)
        admin = AdminClient({"bootstrap.servers": boot})
        admin.create_topics([NewTopic("t", 1, 3, config={"min.insync.replicas": "2"})])["t"].result(60)
        leader_id = wait_in_sync(admin, "t", 1, 3).partitions[0].leader
        leader = next(b for b in brokers if b.broker_id == leader_id)
        p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 0, "enable.idempotence": True})
        for _ in range(20):
            p.produce("t", b"x" * 1024, partition=0)
            p.flush(10)
        time.sleep(0.5)
        marks = [b.log_path.stat().st_size for b in brokers]
        client = []
        for _ in range(args.count):
            t = time.time()
            p.produce("t", b"x" * 1024, partition=0)
            p.flush(10)
            client.append((time.time() - t) * 1000)
            time.sleep(0.002)
        time.sleep(0.5)
        produce, fetches = [], 0
        for broker, api, cid, ms in log_lines(brokers, marks):
            if broker != leader_id:
                continue
            if api == "Produce":
                produce.append(ms)
            elif api == "Fetch" and cid.startswith("replica-fetcher"):
                fetches += 1

        def pct(v, q):
            v = sorted(v)
            return v[min(len(v) - 1, int(len(v) * q))]
        print("client: p50 %.2f p99 %.2f max %.2f ms; load %s" % (
            pct(client, .5), pct(client, .99), max(client), open("/proc/loadavg").read().split()[0]))
        print("leader %d: %d Produce, p50 %.1f p90 %.1f p99 %.1f max %.1f ms; %.2f follower Fetches per produce" % (
            leader.broker_id, len(produce), pct(produce, .5), pct(produce, .9), pct(produce, .99), max(produce),
            fetches / max(1, len(produce))))
    finally:
        stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("txn", "acks"))
    ap.add_argument("--keel", default=os.environ.get("KEEL_BIN", str(REPO / "build" / "src" / "keel")))
    ap.add_argument("--brokers", type=int, choices=(1, 3), default=3)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--count", type=int, default=60, help="transactions per producer")
    ap.add_argument("--producers", type=int, default=1, help="txn: transactional producers committing at once")
    args = ap.parse_args()
    os.environ["KEEL_BIN"] = args.keel
    os.environ["KEEL_STORE"] = "embedded" if args.what == "txn" and args.brokers == 1 else "zookeeper"
    (txn if args.what == "txn" else acks)(args)


if __name__ == "__main__":
    main()
