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
        commit at once, to see whether their commits overlap; and where each
        transaction's wall time goes (below)
  acks  one acks=all record at a time on an RF=3 partition (min ISR 2): the
        leader's Produce time and the follower Fetches per produce

    benchmarks/round_trips.py txn  [--keel build/src/keel] [--brokers 1|3] [--partitions 3] [--count 60]
                                   [--producers 1] [--librdkafka DIR] [--linger-ms 5] [--broker-log-level debug]
    benchmarks/round_trips.py acks [--keel build/src/keel] [--count 300]

The brokers are the integration tests' (conftest.Broker; three on a ZooKeeper
of their own, or one on the embedded store) with `logging.request.level:
debug`, so each answered request is one log line; only the lines written
between the warm-up and the end of the run are counted. A count per
operation above the protocol's minimum is a retry: a request refused and sent
again after the client's backoff. Counts do not depend on the machine's load;
the times do. Nothing here is a test.

The txn timeline: a request log line is written when the broker hands the
response to the connection, stamped to the microsecond (the log pattern's
%f), and names the broker's time for the request ("0.1 ms": from the router's
start, i.e. the whole frame read, to that hand-off). So per request
out = the line's time and in = out - the broker's time; the broker's time is
printed to 0.1 ms, so each `in` is good to +-50 us (a 0.0 ms request was
held under 50 us). The client side stamps, with the same clock (the
broker's system_clock, Python's time.time()), when begin_transaction() was
called, when its 100 produce() calls returned, and when
commit_transaction() returned. Each transaction's requests are the ones the
broker received between its begin and its commit's return; per transaction
(per producer with --producers N, each producer being its own client.id)
the script prints the segments in order, p50 / p90 / mean in microseconds:

  begin -> AddPartitionsToTxn in, its hold (in -> out), -> Produce in, its
  hold, -> EndTxn in, its hold, EndTxn out -> commit_transaction() returned,
  -> the next begin

and the sum of the three holds (the broker's part of the wall time) against
the rest (the client's, the kernel's and the loopback's part). --librdkafka
DIR runs the client against the librdkafka.so.1 in DIR (e.g.
"$(scripts/build-librdkafka.sh --print-dir)/lib" for 2.15): the script
re-executes itself with LD_LIBRARY_PATH set. --broker-log-level info keeps
the broker's other debug output (which costs it CPU on every request) out
of the run; the request log stays at debug, the coordinator's phase lines
are then not written."""

import argparse
import collections
import concurrent.futures
import datetime
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
# The request log line with its time (common/log.cc's pattern, UTC, microseconds).
TIMED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z \w+ (?:broker=\d+ )?\[request\] (\w+) v\d+ "
                   r"correlation \d+ from client '([^']*)' connection (\d+) .*?: ([\d.]+) ms", re.M)
# The transaction's requests, in the order librdkafka sends them.
TXN_APIS = ("AddPartitionsToTxn", "Produce", "EndTxn")


def start(args, extra):
    from conftest import Broker, ZooKeeper
    from cluster_harness import start_cluster
    work = Path(tempfile.mkdtemp(prefix="keel-round-trips-"))
    extra = "logging.request.level: debug\n" + extra
    if args.brokers == 1:
        b = Broker(work / "b", extra_config=extra)
        level = getattr(args, "broker_log_level", "debug")
        b.config_path.write_text(b.config_path.read_text().replace("\n  level: debug", "\n  level: " + level))
        b.start()

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


def epoch_s(text):
    """A log line's UTC time (without the Z) as seconds since the epoch."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def timed_requests(brokers, marks):
    """(in, out, api, client id) in seconds of every request answered since
    `marks`, from the request log (in = out - the broker's time)."""
    out = []
    for b, mark in zip(brokers, marks):
        with open(b.log_path, errors="replace") as f:
            f.seek(mark)
            for m in TIMED.finditer(f.read()):
                t = epoch_s(m.group(1))
                out.append((t - float(m.group(5)) / 1000, t, m.group(2), m.group(3)))
    return sorted(out)


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))]


def print_timeline(stamps, requests):
    """Where each transaction's wall time went. stamps: per client id, a list
    of (begin, produced, committed) per transaction (time.time()); requests:
    timed_requests()."""
    segments = collections.defaultdict(list)
    names = ("begin -> AddPartitionsToTxn in", "AddPartitionsToTxn held (in -> out)",
             "AddPartitionsToTxn out -> Produce in", "Produce held", "Produce out -> EndTxn in", "EndTxn held",
             "EndTxn out -> commit returned", "commit returned -> next begin")
    extra = collections.defaultdict(list)
    shapes = collections.Counter()
    for client, txns in stamps.items():
        mine = [r for r in requests if r[3] == client and r[2] in TXN_APIS]
        i = 0
        for k, (begin, produced, committed) in enumerate(txns):
            got = []
            while i < len(mine) and mine[i][0] < committed:
                if mine[i][0] >= begin - 0.0001:
                    got.append(mine[i])
                i += 1
            shapes[" ".join(r[2] for r in got)] += 1
            if [r[2] for r in got] != list(TXN_APIS) or k + 1 >= len(txns):
                continue  # a retry, or the last one (no next begin): not in the timeline
            apt, prod, end = got
            nxt = txns[k + 1][0]
            parts = (apt[0] - begin, apt[1] - apt[0], prod[0] - apt[1], prod[1] - prod[0], end[0] - prod[1],
                     end[1] - end[0], committed - end[1], nxt - committed)
            for name, v in zip(names, parts):
                segments[name].append(v * 1e6)
            extra["cycle (begin -> next begin)"].append((nxt - begin) * 1e6)
            extra["broker holds (the three)"].append((apt[1] - apt[0] + prod[1] - prod[0] + end[1] - end[0]) * 1e6)
            extra["100 produce() calls returned, after begin"].append((produced - begin) * 1e6)
            extra["  ... relative to AddPartitionsToTxn in"].append((produced - apt[0]) * 1e6)
            extra["  ... relative to Produce in"].append((produced - prod[0]) * 1e6)
    print("requests per transaction as received between its begin and its commit's return: %s"
          % dict(shapes.most_common(4)))
    if not segments:
        print("no transaction with exactly %s to put in the timeline" % ", ".join(TXN_APIS))
        return
    n = len(segments[names[0]])
    print("timeline of %d transactions (us; the broker's in is good to +-50 us):" % n)
    print("  %-44s %8s %8s %8s" % ("segment", "p50", "p90", "mean"))
    for name in names + tuple(extra):
        v = segments.get(name) or extra[name]
        print("  %-44s %8.0f %8.0f %8.0f" % (name, pct(v, .5), pct(v, .9), statistics.fmean(v)))
    cycle = statistics.fmean(extra["cycle (begin -> next begin)"])
    held = statistics.fmean(extra["broker holds (the three)"])
    print("of %.0f us per transaction (mean) the broker held the requests %.0f us (%.0f%%); the rest, %.0f us, "
          "is the client's, the kernel's and the loopback's" % (cycle, held, 100 * held / cycle, cycle - held))


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
            # Its own client id, so its requests can be told apart in the request log.
            p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": args.linger_ms,
                          "transactional.id": tid, "client.id": "rt-%d" % i})
            p.init_transactions(60)
            producers.append(("rt-%d" % i, p))
        value = os.urandom(1024)
        stamps = collections.defaultdict(list)

        def one(client, p):
            b = time.time()
            p.begin_transaction()
            for i in range(100):
                p.produce("t", value, partition=i % args.partitions)
            c = time.time()
            p.commit_transaction(60)
            d = time.time()
            stamps[client].append((b, c, d))
            return d - c

        def run(count):
            # librdkafka releases the GIL while it waits: the producers' commits overlap.
            with concurrent.futures.ThreadPoolExecutor(len(producers)) as pool:
                per = list(pool.map(lambda cp: [one(*cp) for _ in range(count)], producers))
            return [c for times in per for c in times]
        run(10)
        time.sleep(0.5)
        stamps.clear()
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
        import confluent_kafka
        print("transactions/s %.1f, commit p50 %.2f ms, p90 %.2f ms, load %s; librdkafka %s, linger.ms %s" % (
            args.count / took, statistics.median(commits) * 1000, sorted(commits)[int(len(commits) * .9)] * 1000,
            open("/proc/loadavg").read().split()[0], confluent_kafka.libversion()[0], args.linger_ms))
        for (api, client, broker), times in sorted(per.items()):
            print("%-20s from %-16s at broker %d: %.2f per transaction, broker time p50 %.1f ms" % (
                api, client, broker, len(times) / args.count, statistics.median(times)))
        print_phases(*coordinator_phases(brokers, marks), args.count)
        print_timeline(stamps, timed_requests(brokers, marks))
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
    ap.add_argument("--librdkafka", metavar="DIR", help="txn: the librdkafka.so.1 to run (default: Debian's)")
    ap.add_argument("--linger-ms", type=float, default=5, help="txn: the producers' linger.ms")
    ap.add_argument("--broker-log-level", default="debug", choices=("debug", "info"),
                    help="the broker's log level (the request log stays at debug)")
    args = ap.parse_args()
    if args.librdkafka and os.environ.get("ROUND_TRIPS_LIBRDKAFKA") != args.librdkafka:
        # The dynamic loader reads LD_LIBRARY_PATH when the process starts.
        if not os.path.exists(os.path.join(args.librdkafka, "librdkafka.so.1")):
            ap.error("no librdkafka.so.1 in %s" % args.librdkafka)
        env = dict(os.environ, ROUND_TRIPS_LIBRDKAFKA=args.librdkafka,
                   LD_LIBRARY_PATH=args.librdkafka + os.pathsep + os.environ.get("LD_LIBRARY_PATH", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    os.environ["KEEL_BIN"] = args.keel
    os.environ["KEEL_STORE"] = "embedded" if args.what == "txn" and args.brokers == 1 else "zookeeper"
    (txn if args.what == "txn" else acks)(args)


if __name__ == "__main__":
    main()
