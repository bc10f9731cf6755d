#!/usr/bin/python3
"""Transactions benchmark (issue 25): transactional against idempotent produce
on the same load, and the commit latency, on keel brokers it starts itself.

    benchmarks/txn_bench.py [--keel build/src/keel] [--producers 1,2,4,8]
        [--rounds 5] [--seconds 6] [--partitions 1] [--records-per-txn 100]
        [--record-size 1024] [--brokers 1|3] [--librdkafka DIR] [--keep]

The issue's bar: transactional produce at least 0.8 of idempotent produce on
the same load (1 KiB records, 100 records per transaction), and the commit
latency p50/p99. Applications scale transactional producers out, one per
partition or task, so "the same load" is N transactional producers against N
idempotent producers, for each N of --producers:

  transactional  each producer loops begin_transaction / 100 records /
                 commit_transaction(); records/s is the sum over the N
  idempotent     each producer sends the same records as fast as they are
                 acked (enable.idempotence, up to five requests in flight);
                 its final flush counts in its time
  ratio          transactional records/s / idempotent records/s of the same
                 round and N (target: at least 0.8)
  commit         the time of each commit_transaction() call: p50 and p99

Every producer runs in a worker process of its own (multiprocessing, spawned:
one interpreter's GIL would otherwise serialize N producers' Python code) and
writes only its own partition(s): worker i writes partitions
i*P .. i*P+P-1 of one topic (P = --partitions), its transactional.id is
txn-bench-<i>. max(N) workers are started and warmed up once (the first
transaction of a producer loads the coordinator and takes about 0.5 s); a
round with N uses workers 0..N-1, the others stay idle. Rounds interleave: in
each round every N runs once, its transactional and idempotent sides back to
back, the order of the Ns rotating and the side that goes first alternating,
so a change in the machine's load lands on every N and both sides alike. Both
producers are confluent-kafka with acks=all and linger.ms 5, on the same
machine as the broker (Debian's librdkafka 2.0.2, or the librdkafka.so.1 in
--librdkafka DIR, e.g. "$(scripts/build-librdkafka.sh --print-dir)/lib" for
2.15, loaded by the workers through LD_LIBRARY_PATH).

The broker is a single node on the embedded store with the internal topics on
one replica, as the tests' single node (tests/integration/conftest.py), logging
at info; the topic keeps 256 MiB per partition (retention.bytes, 64 MiB
segments) so a long run does not fill the disk. With --brokers 3: three brokers
and a ZooKeeper, the topic and __transaction_state on three replicas with
min.insync.replicas 2, so markers, the transaction log and the KIP-890
verification cross brokers as they do in production.

Output: lines starting with "#" say what is being done and what each side of
each round measured, as it happens; every other line is one JSON object: one
per round and N ("round"), then one per N ("summary") and a closing table.
Per side it also records the CPU seconds the brokers and the workers used,
the wall time, and machine_busy, the share of every core of the machine that
was busy meanwhile: near 1.0 means the cores, not a wait, set the rate, and
the ratio then says how the CPU was shared, not what the broker can do.
For the brokers it also records, per side, their voluntary and involuntary
context switches (each voluntary one is a thread that slept and was woken)
and the CPU and switches per thread (/proc/<pid>/task), and prints the
brokers' CPU and voluntary switches and the workers' CPU per transaction
against the same per records-per-txn idempotent records. Nothing here is a
test.
"""

import argparse
import faulthandler
import json
import math
import multiprocessing
import multiprocessing.connection
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
CLUSTER_CONFIG = ("transaction.state.log.replication.factor: 3\n"
                  "transaction.state.log.min.isr: 2\n"
                  "transaction.state.log.num.partitions: 5\n"
                  "offsets.topic.replication.factor: 3\n")
# Old segments go soon: an idempotent side writes up to ~2 GB a round.
RETENTION_CONFIG = ("log.retention.check.interval.ms: 5000\n"
                    "log.segment.delete.delay.ms: 1000\n")
TOPIC_CONFIG = {"retention.bytes": str(256 << 20), "segment.bytes": str(64 << 20)}

WARM_UP_S = 2
# A side that has not answered by then is stuck: its run, a 60 s flush or
# commit, and slack for a loaded machine.
SIDE_SLACK_S = 180


def log(**kv):
    print(json.dumps(kv), flush=True)


def note(text):
    print("# " + text, flush=True)


def load_average():
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


def percentile(values, q):
    """Nearest-rank percentile of a non-empty list (q in 0..100)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100.0 * len(s)) - 1))]


def base_conf(bootstrap):
    return {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5}


def produce_one(p, topic, value, partition):
    deadline = None
    while True:
        try:
            p.produce(topic, value=value, partition=partition)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            deadline = deadline or time.time() + 60
            if time.time() > deadline:
                raise RuntimeError("the producer's queue stayed full for 60 s") from None
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


def run_idempotent(p, topic, partitions, args, value, seconds):
    """(records/s, seconds of the final flush) of an idempotent producer over
    `seconds`, flush included (sent in groups of records-per-txn, so the
    records are those of the transactional run)."""
    sent = 0
    start = time.time()
    while time.time() - start < seconds:
        for i in range(args.records_per_txn):
            produce_one(p, topic, value, partitions[(sent + i) % len(partitions)])
        sent += args.records_per_txn
        p.poll(0)
    flushing = time.time()
    left = p.flush(60)
    took = time.time() - start
    if left:
        raise RuntimeError("idempotent producer: %d records not delivered" % left)
    return sent / took, time.time() - flushing


def run_transactional(p, topic, partitions, args, value, seconds, commit_times, produce_times=None):
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
            produce_one(p, topic, value, partitions[(sent + i) % len(partitions)])
        c0 = time.time()
        p.commit_transaction(60)
        commit_times.append(time.time() - c0)
        if produce_times is not None:
            produce_times.append(c0 - b0)
        sent += args.records_per_txn
    return sent / (time.time() - start)


def worker(index, bootstrap, topic, args, conn):
    """One benchmark process: a transactional and an idempotent producer on
    this worker's own partitions, warmed up, then one measured run per
    ("txn"|"idem", start time) message until None. Replies with a dict per
    run, or {"error": text}."""
    try:
        import confluent_kafka
        partitions = list(range(index * args.partitions, (index + 1) * args.partitions))
        value = os.urandom(args.record_size)
        # Warm-up: the first transaction creates and loads __transaction_state
        # and waits for the coordinator, which is not the steady state.
        # A worker stuck past the parent's patience prints where it is.
        faulthandler.dump_traceback_later(60 + 2 * WARM_UP_S + SIDE_SLACK_S - 10)
        txn = transactional_producer(bootstrap, "txn-bench-%d" % index)
        idem = idempotent_producer(bootstrap)
        run_transactional(txn, topic, partitions, args, value, WARM_UP_S, [])
        run_idempotent(idem, topic, partitions, args, value, WARM_UP_S)
        faulthandler.cancel_dump_traceback_later()
        conn.send({"ready": index, "librdkafka": confluent_kafka.libversion()[0], "partitions": partitions})
        while True:
            msg = conn.recv()
            if msg is None:
                break
            kind, start_at = msg
            time.sleep(max(0.0, start_at - time.time()))
            faulthandler.dump_traceback_later(args.seconds + SIDE_SLACK_S - 10)
            cpu = time.process_time()  # every thread of this process: Python and librdkafka's
            if kind == "txn":
                commits, produces = [], []
                rate = run_transactional(txn, topic, partitions, args, value, args.seconds, commits, produces)
                conn.send({"rate": rate, "commits": commits, "produces": produces,
                           "cpu_s": time.process_time() - cpu})
            else:
                rate, flush_s = run_idempotent(idem, topic, partitions, args, value, args.seconds)
                conn.send({"rate": rate, "flush_s": flush_s, "cpu_s": time.process_time() - cpu})
            faulthandler.cancel_dump_traceback_later()
        txn.flush(10)
        idem.flush(10)
        conn.send({"done": index})
    except Exception:
        import traceback
        conn.send({"error": "worker %d: %s" % (index, traceback.format_exc())})


class Workers:
    """The worker processes and their pipes. Every wait also watches the
    processes, so a worker that dies (a crash in librdkafka, a failed spawn)
    is reported at once with its exit code instead of a silent wait."""

    def __init__(self, count, bootstrap, topic, args):
        # "spawn": the parent's librdkafka threads (the admin client) must
        # not be forked into the workers.
        ctx = multiprocessing.get_context("spawn")
        self.conns, self.procs = [], []
        for i in range(count):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(i, bootstrap, topic, args, child_end), daemon=True)
            proc.start()
            # Only the child holds its end now: if it dies, the pipe reports EOF.
            child_end.close()
            self.conns.append(parent_end)
            self.procs.append(proc)

    def send(self, indexes, msg):
        for i in indexes:
            self.conns[i].send(msg)

    def receive(self, indexes, timeout_s, what):
        """One reply from each of the workers `indexes`; raises a worker's
        error, its death, or the timeout (naming who is late)."""
        replies = {}
        deadline = time.time() + timeout_s
        while len(replies) < len(indexes):
            waiting = [i for i in indexes if i not in replies]
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("%s: workers %s did not answer within %.0f s" % (what, waiting, timeout_s))
            ready = multiprocessing.connection.wait(
                [self.conns[i] for i in waiting] + [self.procs[i].sentinel for i in waiting], left)
            for i in waiting:
                if self.conns[i] in ready or self.conns[i].poll():
                    try:
                        r = self.conns[i].recv()
                    except EOFError:
                        self.procs[i].join(5)
                        raise RuntimeError("%s: worker %d exited (code %s) without answering"
                                           % (what, i, self.procs[i].exitcode)) from None
                    if "error" in r:
                        raise RuntimeError(r["error"])
                    replies[i] = r
                elif self.procs[i].sentinel in ready:
                    self.procs[i].join(5)
                    raise RuntimeError("%s: worker %d exited (code %s) without answering"
                                       % (what, i, self.procs[i].exitcode))
        return [replies[i] for i in indexes]

    def stop(self):
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def process_cpu_s(pid):
    """CPU seconds (user + system, every thread) a process has used so far."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_counters(pid):
    """Per thread of a process ("name/tid"): [CPU seconds, voluntary,
    involuntary context switches] so far (a thread that ended meanwhile is
    no longer counted: compare snapshots of threads that live for the run)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            stat = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
            status = open("/proc/%d/task/%s/status" % (pid, tid)).read()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        sw = dict(line.split(":\t") for line in status.splitlines() if "ctxt_switches" in line)
        out["%s/%s" % (name, tid)] = [(int(fields[11]) + int(fields[12])) / tick,
                                      int(sw.get("voluntary_ctxt_switches", 0)),
                                      int(sw.get("nonvoluntary_ctxt_switches", 0))]
    return out


def thread_delta(before, after):
    """after - before per thread, busiest first."""
    rows = []
    for name, (cpu, vol, invol) in after.items():
        b = before.get(name, [0.0, 0, 0])
        rows.append((name, round(cpu - b[0], 2), vol - b[1], invol - b[2]))
    return sorted(rows, key=lambda r: (-r[1], -r[2], r[0]))


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
    config = dict(TOPIC_CONFIG)
    if rf > 1:
        config["min.insync.replicas"] = "2"
    admin.create_topics([NewTopic(topic, partitions, rf, config=config)])[topic].result(60)
    deadline = time.time() + 60
    while time.time() < deadline:
        t = admin.list_topics(topic, timeout=10).topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 and len(p.isrs) == rf for p in t.partitions.values()):
            return
        time.sleep(0.2)
    raise RuntimeError("topic %s has no leaders" % topic)


def start_brokers(work, count):
    """(brokers, stop function): one broker on the embedded store, or three
    on a ZooKeeper of their own, logging at info."""
    from conftest import Broker, ZooKeeper
    zk = None
    if count == 1:
        brokers = [Broker(Path(work) / "broker", extra_config=CONFIG + RETENTION_CONFIG)]
    else:
        zk = ZooKeeper().start()
        chroot = zk.connect + "/txn-bench"
        brokers = [Broker(Path(work) / ("b%d" % i), broker_id=i, zookeeper=chroot,
                          extra_config=CLUSTER_CONFIG + RETENTION_CONFIG)
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


def run_side(workers, brokers, n, kind, args):
    """Workers 0..n-1 run `kind` at once; (records/s summed, replies, cpu)."""
    indexes = list(range(n))
    workers.send(indexes, (kind, time.time() + 0.2))  # all start together
    time.sleep(0.2)
    threads = [thread_counters(b.proc.pid) for b in brokers]
    broker_cpu = sum(process_cpu_s(b.proc.pid) for b in brokers)
    busy, total = machine_busy()
    wall = time.time()
    replies = workers.receive(indexes, args.seconds + SIDE_SLACK_S, "%s side, N=%d" % (kind, n))
    wall = time.time() - wall
    busy2, total2 = machine_busy()
    per_thread = [thread_delta(t, thread_counters(b.proc.pid)) for t, b in zip(threads, brokers)]
    # Where the side's CPU went: the brokers, the benchmark's workers, and
    # how busy the whole machine was (is it the cap?).
    cpu = {"broker_s": round(sum(process_cpu_s(b.proc.pid) for b in brokers) - broker_cpu, 2),
           "workers_s": round(sum(x["cpu_s"] for x in replies), 2),
           "wall_s": round(wall, 2),
           "machine_busy": round((busy2 - busy) / max(1, total2 - total), 2),
           # The brokers' context switches (voluntary: a thread that waited
           # for something, i.e. a wake-up; involuntary: preempted).
           "broker_voluntary_cs": sum(r[2] for rows in per_thread for r in rows),
           "broker_involuntary_cs": sum(r[3] for rows in per_thread for r in rows),
           # Per broker thread that did anything: ["name/tid", CPU s, voluntary, involuntary].
           "broker_threads": [[list(r) for r in rows if r[1] or r[2]] for rows in per_thread]}
    return sum(x["rate"] for x in replies), replies, cpu


def spread(values):
    return [round(min(values), 3), round(max(values), 3)]


def summarize(n, rows):
    """One N's figures over its rounds."""
    ratios = [r["ratio"] for r in rows]
    txn = [r["transactional_records_s"] for r in rows]
    idem = [r["idempotent_records_s"] for r in rows]
    ms = [c * 1000 for r in rows for c in r["commit_times"]]
    produces = [p for r in rows for p in r["produce_times"]]
    return {"producers": n, "rounds": len(rows),
            "median_ratio": round(statistics.median(ratios), 3), "ratio_spread": spread(ratios),
            "ratios": [round(x, 3) for x in ratios],
            "transactional_records_s_median": round(statistics.median(txn)),
            "idempotent_records_s_median": round(statistics.median(idem)),
            "idempotent_records_s_max": round(max(idem)),
            # The transactional median against the idempotent side's best
            # round: a slow idempotent round (a flush stalled behind the
            # disk's writeback) raises its ratio without any transaction
            # getting cheaper.
            "ratio_vs_fastest_idempotent": round(statistics.median(txn) / max(idem), 3),
            "commits": len(ms), "produce_mean_ms": mean_ms(produces),
            "commit_p50_ms": round(percentile(ms, 50), 2) if ms else None,
            "commit_p99_ms": round(percentile(ms, 99), 2) if ms else None,
            "commit_max_ms": round(max(ms), 2) if ms else None,
            "machine_busy_median": round(statistics.median(
                [r["cpu"][k]["machine_busy"] for r in rows for k in ("txn", "idem")]), 2),
            "load_1min_spread": spread([r["load"][0] for r in rows])}


def print_table(summaries):
    note("")
    note("N producers per side; ratio = transactional/idempotent records/s of the same round (target >= 0.8);")
    note("'vs best idem' = median transactional records/s / the fastest idempotent round; busy = machine_busy")
    note("%3s %8s %15s %11s %11s %11s %12s %16s %5s %11s" % (
        "N", "ratio", "ratio min-max", "vs best", "txn rec/s", "idem rec/s", "idem best", "commit p50/p99",
        "busy", "load 1-min"))
    for s in summaries:
        note("%3d %8.3f %15s %11.3f %11d %11d %12d %16s %5.2f %11s" % (
            s["producers"], s["median_ratio"], "%.3f-%.3f" % tuple(s["ratio_spread"]),
            s["ratio_vs_fastest_idempotent"], s["transactional_records_s_median"],
            s["idempotent_records_s_median"], s["idempotent_records_s_max"],
            "%.2f/%.2f ms" % (s["commit_p50_ms"] or 0, s["commit_p99_ms"] or 0), s["machine_busy_median"],
            "%.1f-%.1f" % tuple(s["load_1min_spread"])))
    note("")
    note("Reading it: with machine_busy near 1.0 the cores were the limit for both sides, so the ratio shows how")
    note("%d cores were shared among the broker, the N workers and anything else on the machine, not what the"
         % os.cpu_count())
    note("broker can do; compare Ns only within one run; a ratio well above 'vs best idem' means slow idempotent")
    note("rounds (see idempotent_flush_s in the round lines), not cheaper transactions.")


def parse_producers(text):
    try:
        ns = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of counts, e.g. 1,2,4,8") from None
    if not ns or ns[0] < 1:
        raise argparse.ArgumentTypeError("counts must be at least 1")
    return ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=os.environ.get("KEEL_BIN", str(REPO / "build" / "src" / "keel")))
    ap.add_argument("--producers", type=parse_producers, default=[1, 2, 4, 8],
                    help="the Ns to compare, comma-separated (default 1,2,4,8): N transactional producers "
                         "against N idempotent ones, each in its own process on its own partition(s)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6, help="per side per N per round")
    ap.add_argument("--partitions", type=int, default=1, help="partitions per producer")
    ap.add_argument("--records-per-txn", type=int, default=100)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--brokers", type=int, choices=(1, 3), default=1)
    ap.add_argument("--librdkafka", metavar="DIR",
                    help="directory with the librdkafka.so.1 the workers load (default: Debian's)")
    ap.add_argument("--keep", action="store_true", help="keep the broker's directory (its log) after the run")
    args = ap.parse_args()
    if args.rounds < 1 or args.partitions < 1:
        ap.error("--rounds and --partitions must be at least 1")
    if not os.path.exists(args.keel):
        ap.error("no keel binary at %s (--keel)" % args.keel)
    os.environ["KEEL_BIN"] = args.keel
    os.environ["KEEL_STORE"] = "embedded" if args.brokers == 1 else "zookeeper"
    if args.librdkafka:
        if not os.path.exists(os.path.join(args.librdkafka, "librdkafka.so.1")):
            ap.error("no librdkafka.so.1 in %s" % args.librdkafka)
        # Read by the workers' dynamic loader when they start; this process
        # keeps the library it has.
        os.environ["LD_LIBRARY_PATH"] = args.librdkafka + os.pathsep + os.environ.get("LD_LIBRARY_PATH", "")
    workers_n = max(args.producers)

    note("txn_bench: N transactional producers vs N idempotent producers, N in %s; %d rounds of %g s per side; "
         "%d records of %d bytes per transaction; %d partition(s) per producer; %d broker(s); keel %s"
         % (args.producers, args.rounds, args.seconds, args.records_per_txn, args.record_size, args.partitions,
            args.brokers, args.keel))
    note("machine: %d cores, load average %s at the start" % (os.cpu_count(), load_average()))
    work = tempfile.mkdtemp(prefix="keel-txn-bench-")
    brokers, stop_brokers = start_brokers(work, args.brokers)
    bootstrap = ",".join(b.bootstrap for b in brokers)
    workers = None
    try:
        topic = "txn-bench"
        create_topic(bootstrap, topic, workers_n * args.partitions, rf=args.brokers)
        note("broker(s) up at %s, topic %s with %d partitions; starting and warming up %d workers"
             % (bootstrap, topic, workers_n * args.partitions, workers_n))
        t0 = time.time()
        workers = Workers(workers_n, bootstrap, topic, args)
        ready = workers.receive(list(range(workers_n)), 60 + 2 * WARM_UP_S + SIDE_SLACK_S, "warm-up")
        versions = sorted({r["librdkafka"] for r in ready})
        note("workers ready in %.1f s; their librdkafka: %s" % (time.time() - t0, ", ".join(versions)))
        rows = {n: [] for n in args.producers}
        for r in range(args.rounds):
            shift = r % len(args.producers)
            for j, n in enumerate(args.producers[shift:] + args.producers[:shift]):
                order = ("txn", "idem") if (r + j) % 2 == 0 else ("idem", "txn")
                rate, replies, cpu = {}, {}, {}
                load = load_average()
                for kind in order:
                    rate[kind], replies[kind], cpu[kind] = run_side(workers, brokers, n, kind, args)
                    extra = ""
                    if kind == "txn":
                        ms = [c * 1000 for x in replies[kind] for c in x["commits"]]
                        extra = ", %d commits, p50 %.2f ms" % (len(ms), percentile(ms, 50)) if ms else ""
                    else:
                        extra = ", final flush %.2f s" % max(x["flush_s"] for x in replies[kind])
                    note("round %d/%d N=%d %-13s %9.0f records/s%s; machine_busy %.2f, load %.2f"
                         % (r + 1, args.rounds, n, "transactional" if kind == "txn" else "idempotent",
                            rate[kind], extra, cpu[kind]["machine_busy"], load_average()[0]))
                commits = [c for x in replies["txn"] for c in x["commits"]]
                produces = [p for x in replies["txn"] for p in x["produces"]]
                # The broker's cost per records_per_txn records on each side
                # (on the transactional side: per transaction).
                for kind in ("txn", "idem"):
                    groups = len(commits) if kind == "txn" else \
                        rate[kind] * cpu[kind]["wall_s"] / args.records_per_txn
                    cpu[kind]["broker_cpu_us_per_group"] = round(cpu[kind]["broker_s"] * 1e6 / max(1, groups))
                    cpu[kind]["workers_cpu_us_per_group"] = round(cpu[kind]["workers_s"] * 1e6 / max(1, groups))
                    cpu[kind]["broker_voluntary_cs_per_group"] = round(
                        cpu[kind]["broker_voluntary_cs"] / max(1, groups), 2)
                # With the cores full, the ratio tends to the idempotent side's
                # CPU per records-per-txn records over a transaction's CPU:
                # what the broker's part of the latter could change at most.
                note("N=%d per %d records: transactional broker %d us CPU (%.2f voluntary context switches), "
                     "clients %d us; idempotent broker %d us (%.2f), clients %d us"
                     % (n, args.records_per_txn, cpu["txn"]["broker_cpu_us_per_group"],
                        cpu["txn"]["broker_voluntary_cs_per_group"], cpu["txn"]["workers_cpu_us_per_group"],
                        cpu["idem"]["broker_cpu_us_per_group"], cpu["idem"]["broker_voluntary_cs_per_group"],
                        cpu["idem"]["workers_cpu_us_per_group"]))
                row = {"round": r, "producers": n, "first": order[0],
                       "transactional_records_s": round(rate["txn"]), "idempotent_records_s": round(rate["idem"]),
                       "ratio": rate["txn"] / rate["idem"],
                       "idempotent_flush_s": round(max(x["flush_s"] for x in replies["idem"]), 2),
                       "transactions": len(commits), "produce_mean_ms": mean_ms(produces),
                       "commit_mean_ms": mean_ms(commits),
                       "commit_p50_ms": round(percentile([c * 1000 for c in commits], 50), 2) if commits else None,
                       "cpu": cpu, "load": load}
                log(**dict(row, ratio=round(row["ratio"], 3)))
                rows[n].append(dict(row, commit_times=commits, produce_times=produces))
        summaries = [summarize(n, rows[n]) for n in args.producers]
        for s in summaries:
            log(summary=s)
        log(records_per_txn=args.records_per_txn, record_size=args.record_size, partitions_per_producer=args.partitions,
            brokers=args.brokers, seconds=args.seconds, librdkafka=versions, load=load_average(),
            nproc=os.cpu_count())
        print_table(summaries)
    finally:
        if workers is not None:
            workers.stop()
        code = stop_brokers()
        if code != 0 or args.keep:
            print("keel exited with %s; its directory is kept: %s" % (code, work), file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
