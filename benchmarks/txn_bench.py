#!/usr/bin/python3
"""Transactions benchmark (issue 25) on one keel broker it starts itself:

  throughput  a transactional producer (100 records of 1 KiB per transaction,
              begin / produce / commit_transaction in a loop) against an
              idempotent producer writing the same records as fast as they are
              acked; the two alternate for several rounds, each round's
              transactional/idempotent ratio is printed and the median is the
              figure (issue target: at least 0.8)
  commit      the time of each commit_transaction() call over every
              transactional round: p50 and p99

    benchmarks/txn_bench.py [--keel build/src/keel] [--rounds 5] [--seconds 8]
        [--partitions 1] [--records-per-txn 100] [--record-size 1024]
        [--brokers 1|3] [--producers 1]

Both producers are confluent-kafka (librdkafka) with acks=all and linger.ms 5,
on the same machine as the broker. With --producers N, N worker processes
(multiprocessing: one interpreter's GIL would serialize them) each hold one
transactional producer (transactional.id txn-bench-<i>) and one idempotent
producer; in each round all N run the same kind at once, and the round's
records/s is the sum over the processes. N=1 (the default) is the original
single pair, so its numbers compare with earlier runs. Each round also
reports the mean per transaction of the time in begin_transaction() and the
produce() calls and of the time in commit_transaction(), which includes
librdkafka's flush of the transaction's records before its EndTxn; and per
side the CPU seconds the brokers and the workers used, the side's wall time,
and the share of the whole machine's CPU that was busy meanwhile (1.0: every
core busy, so the cores, not a wait, set the rate).

The broker is a single node with the internal topics on one replica
(transaction.state.log replication factor and min ISR 1, offsets replication
factor 1), the tests' defaults (tests/integration/conftest.py), logging at info. With --brokers 3:
three brokers and a ZooKeeper, the topic and __transaction_state on three
replicas with min.insync.replicas 2, so markers, the transaction log and the
KIP-890 verification cross brokers as they do in production. Prints one JSON
object per round and a summary with the load average; nothing here is a test.
"""

import argparse
import json
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

CONFIG = ("transaction.state.log.replication.factor: 1\n"
          "transaction.state.log.min.isr: 1\n"
          "transaction.state.log.num.partitions: 5\n"
          "offsets.topic.replication.factor: 1\n")


def log(**kv):
    print(json.dumps(kv), flush=True)


def load_average():
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


def percentile(values, q):
    """Nearest-rank percentile of a non-empty list (q in 0..100)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100.0 * len(s)) - 1))]


def base_conf(bootstrap):
    return {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5}


def produce_one(p, topic, value, partition):
    while True:
        try:
            p.produce(topic, value=value, partition=partition)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            p.poll(0.01)


def idempotent_producer(bootstrap):
    from confluent_kafka import Producer
    conf = base_conf(bootstrap)
    conf["enable.idempotence"] = True
    return Producer(conf)


def transactional_producer(bootstrap, txn_id):
    from confluent_kafka import Producer
    conf = base_conf(bootstrap)
    conf.update({"transactional.id": txn_id, "transaction.timeout.ms": 60000})
    p = Producer(conf)
    p.init_transactions(60)
    return p


def run_idempotent(p, topic, args, value, seconds):
    """(records/s, seconds of the final flush) of an idempotent producer over
    `seconds`, flush included (sent in groups of records-per-txn, so the
    records are those of the transactional run)."""
    sent = 0
    start = time.time()
    while time.time() - start < seconds:
        for i in range(args.records_per_txn):
            produce_one(p, topic, value, (sent + i) % args.partitions)
        sent += args.records_per_txn
        p.poll(0)
    flushing = time.time()
    left = p.flush(60)
    took = time.time() - start
    if left:
        raise RuntimeError("idempotent producer: %d records not delivered" % left)
    return sent / took, time.time() - flushing


def run_transactional(p, topic, args, value, seconds, commit_times, produce_times=None):
    """Records/s of a transactional producer over `seconds` (begin, records,
    commit_transaction, again); appends each commit_transaction() time
    (seconds) to commit_times and, if given, each begin + produce() time to
    produce_times."""
    sent = 0
    start = time.time()
    while time.time() - start < seconds:
        b0 = time.time()
        p.begin_transaction()
        for i in range(args.records_per_txn):
            produce_one(p, topic, value, (sent + i) % args.partitions)
        c0 = time.time()
        p.commit_transaction(60)
        commit_times.append(time.time() - c0)
        if produce_times is not None:
            produce_times.append(c0 - b0)
        sent += args.records_per_txn
    return sent / (time.time() - start)


def worker(index, bootstrap, topic, args, conn):
    """One benchmark process: a transactional and an idempotent producer,
    warmed up, then one measured run per ("txn"|"idem", start time) message
    until None. Replies with a dict per run, or {"error": text}."""
    try:
        value = os.urandom(args.record_size)
        # Warm-up: the first transaction creates and loads __transaction_state
        # and waits for the coordinator, which is not the steady state.
        txn = transactional_producer(bootstrap, "txn-bench-%d" % index)
        idem = idempotent_producer(bootstrap)
        run_transactional(txn, topic, args, value, 2, [])
        run_idempotent(idem, topic, args, value, 2)
        conn.send({"ready": index})
        while True:
            msg = conn.recv()
            if msg is None:
                break
            kind, start_at = msg
            time.sleep(max(0.0, start_at - time.time()))
            cpu = time.process_time()  # every thread of this process: Python and librdkafka's
            if kind == "txn":
                commits, produces = [], []
                rate = run_transactional(txn, topic, args, value, args.seconds, commits, produces)
                conn.send({"rate": rate, "commits": commits, "produces": produces,
                           "cpu_s": time.process_time() - cpu})
            else:
                rate, flush_s = run_idempotent(idem, topic, args, value, args.seconds)
                conn.send({"rate": rate, "flush_s": flush_s, "cpu_s": time.process_time() - cpu})
        txn.flush(10)
        idem.flush(10)
        conn.send({"done": index})
    except Exception:
        import traceback
        conn.send({"error": "worker %d: %s" % (index, traceback.format_exc())})


def receive(conns):
    """One reply from each worker; raises a worker's error."""
    replies = []
    for c in conns:
        if not c.poll(300):
            raise RuntimeError("a benchmark worker did not answer within 300 s")
        r = c.recv()
        if "error" in r:
            raise RuntimeError(r["error"])
        replies.append(r)
    return replies


def process_cpu_s(pid):
    """CPU seconds (user + system, every thread) a process has used so far."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy():
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def mean_ms(values):
    return round(statistics.fmean(values) * 1000, 3) if values else None


def create_topic(bootstrap, topic, partitions, rf=1):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": "2"} if rf > 1 else {}
    admin.create_topics([NewTopic(topic, partitions, rf, config=config)])[topic].result(60)
    deadline = time.time() + 60
    while time.time() < deadline:
        t = admin.list_topics(topic, timeout=10).topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 and len(p.isrs) == rf for p in t.partitions.values()):
            return
        time.sleep(0.2)
    raise RuntimeError("topic %s has no leaders" % topic)


CLUSTER_CONFIG = ("transaction.state.log.replication.factor: 3\n"
                  "transaction.state.log.min.isr: 2\n"
                  "transaction.state.log.num.partitions: 5\n"
                  "offsets.topic.replication.factor: 3\n")


def start_brokers(work, count):
    """(brokers, stop function): one broker on the embedded store, or three
    on a ZooKeeper of their own, logging at info."""
    from conftest import Broker, ZooKeeper
    zk = None
    if count == 1:
        brokers = [Broker(Path(work) / "broker", extra_config=CONFIG)]
    else:
        zk = ZooKeeper().start()
        chroot = zk.connect + "/txn-bench"
        brokers = [Broker(Path(work) / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=CLUSTER_CONFIG)
                   for i in range(1, count + 1)]
    for b in brokers:
        # The harness logs at debug for the tests; a benchmark does not.
        b.config_path.write_text(b.config_path.read_text().replace("level: debug", "level: info"))
        b.start()
    if count > 1:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": ",".join(b.bootstrap for b in brokers)})
        deadline = time.time() + 60
        while len(admin.list_topics(timeout=10).brokers) < count:
            if time.time() > deadline:
                raise RuntimeError("the brokers did not form a cluster")
            time.sleep(0.2)

    def stop():
        codes = [b.stop(timeout=60) for b in brokers]
        if zk is not None:
            zk.cleanup()
        return max(code or 0 for code in codes)
    return brokers, stop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keel", default=os.environ.get("KEEL_BIN", str(REPO / "build" / "src" / "keel")))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8, help="per producer per round")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--records-per-txn", type=int, default=100)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--brokers", type=int, choices=(1, 3), default=1)
    ap.add_argument("--producers", type=int, default=1,
                    help="N processes, each with one transactional and one idempotent producer")
    ap.add_argument("--keep", action="store_true", help="keep the broker's directory (its log) after the run")
    args = ap.parse_args()
    if args.producers < 1:
        ap.error("--producers must be at least 1")
    os.environ["KEEL_BIN"] = args.keel
    os.environ["KEEL_STORE"] = "embedded" if args.brokers == 1 else "zookeeper"

    work = tempfile.mkdtemp(prefix="keel-txn-bench-")
    brokers, stop_brokers = start_brokers(work, args.brokers)
    bootstrap = ",".join(b.bootstrap for b in brokers)
    try:
        topic = "txn-bench"
        create_topic(bootstrap, topic, args.partitions, rf=args.brokers)
        # "spawn": the parent's librdkafka threads (the admin client) must
        # not be forked into the workers.
        ctx = multiprocessing.get_context("spawn")
        conns, procs = [], []
        for i in range(args.producers):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(i, bootstrap, topic, args, child_end), daemon=True)
            proc.start()
            conns.append(parent_end)
            procs.append(proc)
        receive(conns)  # every worker warmed up
        ratios, commit_times, produce_times = [], [], []
        for r in range(args.rounds):
            order = ("txn", "idem") if r % 2 == 0 else ("idem", "txn")
            rate, commits, produces, flush_s, cpu = {}, [], [], 0.0, {}
            for kind in order:
                start_at = time.time() + 0.2  # all workers start together
                for c in conns:
                    c.send((kind, start_at))
                time.sleep(0.2)
                broker_cpu = sum(process_cpu_s(b.proc.pid) for b in brokers)
                busy, total = machine_busy()
                wall = time.time()
                replies = receive(conns)
                wall = time.time() - wall
                busy2, total2 = machine_busy()
                # Where the round's CPU went: the brokers, the benchmark's
                # workers, and how busy the whole machine was (2 cores: is it
                # the cap?).
                cpu[kind] = {"broker_s": round(sum(process_cpu_s(b.proc.pid) for b in brokers) - broker_cpu, 2),
                             "workers_s": round(sum(x["cpu_s"] for x in replies), 2),
                             "wall_s": round(wall, 2),
                             "machine_busy": round((busy2 - busy) / max(1, total2 - total), 2)}
                rate[kind] = sum(x["rate"] for x in replies)
                if kind == "txn":
                    for x in replies:
                        commits += x["commits"]
                        produces += x["produces"]
                else:
                    flush_s = max(x["flush_s"] for x in replies)
            ratio = rate["txn"] / rate["idem"]
            ratios.append(ratio)
            commit_times += commits
            produce_times += produces
            log(round=r, first=order[0], producers=args.producers,
                transactional_records_s=round(rate["txn"]),
                idempotent_records_s=round(rate["idem"]), ratio=round(ratio, 3),
                idempotent_flush_s=round(flush_s, 2), transactions=len(commits),
                produce_mean_ms=mean_ms(produces), commit_mean_ms=mean_ms(commits),
                commit_p50_ms=round(percentile([c * 1000 for c in commits], 50), 2), cpu=cpu, load=load_average())
        for c in conns:
            c.send(None)
        receive(conns)
        for proc in procs:
            proc.join(30)
        ms = [t * 1000 for t in commit_times]
        log(summary={"median_ratio": round(statistics.median(ratios), 3),
                     "ratios": [round(x, 3) for x in ratios],
                     "commits": len(ms),
                     "produce_mean_ms": mean_ms(produce_times),
                     "commit_mean_ms": mean_ms(commit_times),
                     "commit_p50_ms": round(percentile(ms, 50), 2),
                     "commit_p99_ms": round(percentile(ms, 99), 2),
                     "commit_max_ms": round(max(ms), 2)},
            producers=args.producers, records_per_txn=args.records_per_txn, record_size=args.record_size,
            partitions=args.partitions, brokers=args.brokers, seconds=args.seconds, load=load_average(),
            nproc=os.cpu_count())
    finally:
        code = stop_brokers()
        if code != 0 or args.keep:
            print("keel exited with %s; its directory is kept: %s" % (code, work), file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
