#!/usr/bin/python3
"""Cluster benchmarks (issue 21), three keel brokers and a ZooKeeper on this
machine, each figure beside a limit measured in the same run:

  throughput   RF=3 acks=all against RF=1 on the same load (keel-load, 1 KiB)
  latency      p99 / p99.9 at 10,000 records/s of 1 KiB, RF=3, acks=all
  failover     kill -9 of a leader: time until a producer's new records are acked
  shutdown     SIGTERM of a broker: the longest any partition goes without an
               acknowledged write while a producer runs (controlled shutdown)
  big-shutdown SIGTERM of a broker leading 2,000 partitions: its controlled shutdown
  catch-up     a follower restarted on an empty data directory: bytes/s until it is
               back in every ISR, against the disk's sequential write rate (dd)

    benchmarks/cluster_bench.py [--only NAME,...] [--keel build/src/keel]
        [--load build/benchmarks/load/keel-load] [--workdir DIR] [--keep]

The brokers' data (gigabytes: catch-up alone writes --catch-up-mib three
times) goes to --workdir, deleted when the run ends, however it ends, unless
--keep is given.

Prints one JSON object per measurement and a summary; nothing here is a test.
The brokers are started from tests/integration's harness (conftest.Broker,
ZooKeeper), so their settings are the tests' defaults plus what is set here."""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def log(**kv):
    print(json.dumps(kv), flush=True)


def load_average():
    return float(open("/proc/loadavg").read().split()[0])


def disk_write_rate(where, mib=512):
    """Sequential write with an fsync at the end (dd conv=fdatasync): MB/s."""
    path = Path(where) / "dd-probe"
    start = time.time()
    subprocess.run(["dd", "if=/dev/zero", "of=%s" % path, "bs=1M", "count=%d" % mib, "conv=fdatasync"],
                   check=True, capture_output=True)
    took = time.time() - start
    path.unlink()
    return mib * 1048576 / took / 1e6


class Cluster:
    def __init__(self, workdir, extra=""):
        from conftest import Broker, ZooKeeper
        self.zk = ZooKeeper().start()
        chroot = self.zk.connect + "/bench"
        self.brokers = [Broker(Path(workdir) / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=extra)
                        for i in (1, 2, 3)]
        try:
            for b in self.brokers:
                # The harness logs at debug for the tests; a benchmark does not.
                b.config_path.write_text(b.config_path.read_text().replace("level: debug", "level: info"))
                b.start()
            self.wait(lambda: set(self.metadata().brokers) == {1, 2, 3}, "the cluster")
        except BaseException:
            self.stop()  # main() has no cluster to stop yet
            raise

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap()})

    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers if b.alive())

    def metadata(self, topic=None):
        try:
            return self.admin().list_topics(topic, timeout=10)
        except Exception:
            return None

    def partitions(self, topic):
        for _ in range(5):  # a busy machine may time a metadata request out
            md = self.metadata(topic)
            t = md.topics.get(topic) if md else None
            if t is not None and t.error is None:
                return t.partitions
            time.sleep(0.5)
        return {}

    def wait(self, check, what, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if check():
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("timed out waiting for " + what)

    def create(self, topic, partitions, rf, assignment=None, configs=None):
        from confluent_kafka.admin import NewTopic
        if assignment:
            nt = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment,
                          config=configs or {})
        else:
            nt = NewTopic(topic, num_partitions=partitions, replication_factor=rf, config=configs or {})
        admin = self.admin()
        admin.create_topics([nt], request_timeout=120)[topic].result(120)
        n = len(assignment) if assignment else partitions
        r = len(assignment[0]) if assignment else rf
        self.wait(lambda: (ps := self.partitions(topic)) and len(ps) == n
                  and all(p.leader >= 0 and len(p.isrs) == r for p in ps.values()), topic + " in sync", 300)

    def stop(self):
        for b in self.brokers:
            b.stop(timeout=60)
        self.zk.stop() if hasattr(self.zk, "stop") else None
        if hasattr(self.zk, "cleanup"):
            self.zk.cleanup()


def keel_load(args, *extra):
    out = subprocess.run([args.load, *extra], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("keel-load failed: " + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_throughput(args, c):
    c.create("rf1", 6, 1)
    c.create("rf3", 6, 3, configs={"min.insync.replicas": "2"})
    rounds = []
    for r in range(args.rounds):
        row = {}
        for topic in ("rf1", "rf3") if r % 2 == 0 else ("rf3", "rf1"):
            res = keel_load(args, "produce", "--bootstrap", c.bootstrap(), "--topic", topic, "--duration",
                            str(args.seconds), "--record-size", "1024", "--acks", "all", "--partitions", "6",
                            "--linger-ms", "5")
            row[topic] = res
        ratio = row["rf3"]["records_per_s"] / row["rf1"]["records_per_s"]
        log(bench="throughput", round=r, rf1=row["rf1"]["records_per_s"], rf3=row["rf3"]["records_per_s"],
            rf1_mb_s=row["rf1"].get("mb_per_s"), rf3_mb_s=row["rf3"].get("mb_per_s"), ratio=round(ratio, 3),
            load=load_average())
        rounds.append(ratio)
    return {"rf3_over_rf1": sorted(rounds)}


def bench_latency(args, c):
    c.create("lat", 6, 3, configs={"min.insync.replicas": "2"})
    # Warm-up, not measured: a follower that fetched before its leader had the
    # new partition backs off replica.fetch.backoff.ms (1 s, as in Kafka), and
    # the first second of acks=all records would wait for it.
    keel_load(args, "produce", "--bootstrap", c.bootstrap(), "--topic", "lat", "--records", "20000",
              "--record-size", "1024", "--acks", "all", "--partitions", "6", "--rate", "10000", "--linger-ms", "1")
    res = keel_load(args, "produce", "--bootstrap", c.bootstrap(), "--topic", "lat", "--records",
                    str(10000 * args.seconds), "--record-size", "1024", "--acks", "all", "--partitions", "6",
                    "--rate", "10000", "--linger-ms", "1", "--latency-every", "1")
    lat = res.get("latency_ms", {})
    log(bench="latency", **res, load=load_average())
    return {"rate": res.get("records_per_s"), "p99_ms": lat.get("p99"), "p999_ms": lat.get("p999")}


class Writer:
    """A confluent-kafka producer writing acks=all as fast as it is acked (a
    bounded number in flight); records per partition the times of its acks."""

    def __init__(self, bootstrap, topic, partitions):
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 1,
                           "message.timeout.ms": 60000, "retry.backoff.ms": 50,
                           "topic.metadata.refresh.interval.ms": 1000})
        self.topic, self.partitions = topic, partitions
        self.acks = {p: [] for p in range(partitions)}
        self.sent_at = {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.lock = threading.Lock()

    def cb(self, err, msg):
        if err is None:
            with self.lock:
                self.acks[msg.partition()].append((time.time(), float(msg.value())))

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            if len(self.p) < 200:
                self.p.produce(self.topic, value=b"%.6f" % time.time(), partition=i % self.partitions,
                               on_delivery=self.cb)
                i += 1
            self.p.poll(0.001)
        self.p.flush(60)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(120)


def leader_of(c, topic, p):
    return c.partitions(topic)[p].leader


def bench_failover(args, c):
    c.create("fail", 3, 3, configs={"min.insync.replicas": "2"})
    victim_id = leader_of(c, "fail", 0)
    victim = c.brokers[victim_id - 1]
    with Writer(c.bootstrap(), "fail", 3) as w:
        time.sleep(3)
        killed = time.time()
        victim.kill9()
        time.sleep(20)
    # The first record produced after the kill and acked, per partition:
    # how long after the kill its ack came (the worst partition).
    worst = 0.0
    for p, acks in w.acks.items():
        after = [t for t, sent in acks if sent >= killed]
        if after:
            worst = max(worst, min(after) - killed)
    victim.start()
    c.wait(lambda: all(len(p.isrs) == 3 for p in c.partitions("fail").values()), "the victim back")
    log(bench="failover", writes_again_after_s=round(worst, 2), session_timeout_ms=6000, load=load_average())
    return {"writes_again_after_s": round(worst, 2)}


def bench_shutdown(args, c):
    c.create("term", 6, 3, configs={"min.insync.replicas": "2"})
    ps = c.partitions("term")
    counts = {b.broker_id: sum(1 for p in ps.values() if p.leader == b.broker_id) for b in c.brokers}
    controller = c.metadata().controller_id
    victim = max((b for b in c.brokers if b.broker_id != controller), key=lambda b: counts[b.broker_id])
    with Writer(c.bootstrap(), "term", 6) as w:
        time.sleep(3)
        start = time.time()
        victim.stop(timeout=60)
        stopped = time.time()
        time.sleep(5)
    # The longest stretch without an ack on any partition around the stop.
    worst, where = 0.0, None
    for p, acks in w.acks.items():
        times = [t for t, _ in acks if start - 2 <= t <= stopped + 5]
        for a, b in zip(times, times[1:]):
            if b - a > worst:
                worst, where = b - a, (p, round(a - start, 3))
    text = victim.log_path.read_text()
    m = re.findall(r"controlled shutdown succeeded in (\d+) ms", text)
    victim.start()
    c.wait(lambda: all(len(p.isrs) == 3 for p in c.partitions("term").values()), "the victim back")
    log(bench="shutdown", longest_gap_without_ack_s=round(worst, 3), gap_partition_and_start_s=where,
        victim_led=[i for i, p in ps.items() if p.leader == victim.broker_id], sigterm_to_exit_s=round(stopped - start, 3),
        controlled_shutdown_ms=int(m[-1]) if m else None, led=counts[victim.broker_id], load=load_average())
    return {"longest_gap_s": round(worst, 3), "controlled_shutdown_ms": int(m[-1]) if m else None}


def stop_phases(text):
    """The broker's own account of its stop: the "stopped in N ms: phase M ms, ..."
    lines (the broker's, the replica manager's), by logger."""
    return {name: line for name, line in re.findall(r"\[([\w-]+)\] stopped in (.*)", text)}


def wait_hosted(broker, topic, n, timeout_s=300):
    """Until `broker` answers ListOffsets for each of the topic's n partitions:
    it has applied the LeaderAndIsr that made it their leader. A creation
    returns once the metadata names the leaders, seconds before a leader has
    made 2,000 logs, and a stop meanwhile waits for that request to finish
    (what big-shutdown measured until 2026-12-07)."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=timeout_s * 1000,
                             connections_max_idle_ms=(timeout_s + 60) * 1000)
    try:
        consumer.end_offsets([TopicPartition(topic, p) for p in range(n)])  # retries until answered
    finally:
        consumer.close()


def log_time(line):
    """The time of a broker log line ("2026-12-07T13:08:50.366132Z info ..."), in seconds."""
    from datetime import datetime, timezone
    stamp = line.split(" ", 1)[0].rstrip("Z")
    return datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()


LAIR_LINE = r"LeaderAndIsr from controller \d+ \(epoch \d+\) applied in \d+ ms: (\d+) partitions, (\d+) led"


def handover_times(victim_text, others_texts, n):
    """When the new leaders had taken the victim's n partitions, against the
    victim's controlled-shutdown answer and its last log line (its exit), from
    the brokers' own log lines ("LeaderAndIsr ... applied ... N led here"). A
    positive ready_after_answer_ms is a time the victim had been told to stop
    leading while its successors did not lead yet."""
    answered = [log_time(l) for l in victim_text.splitlines() if "controlled shutdown succeeded" in l]
    lines = [l for l in victim_text.splitlines() if l[:4].isdigit()]
    if not answered or not lines:
        return {}
    exited = log_time(lines[-1])
    led, ready = 0, None
    for text in others_texts.values():
        for l in text.splitlines():
            m = re.search(LAIR_LINE, l)
            if m and int(m.group(2)) > 0:
                led += int(m.group(2))
                ready = max(ready or 0, log_time(l))
    if ready is None:
        return {"new_leaders_led": 0}
    # The victim's own LeaderAndIsr making it a follower: from then on it
    # leads nothing, so a new leader ready later left partitions leaderless.
    demoted = [log_time(l) for l in victim_text.splitlines()
               if re.search(LAIR_LINE, l) and re.search(LAIR_LINE, l).group(2) == "0"]
    out = {"new_leaders_led": led, "ready_after_answer_ms": int((ready - answered[-1]) * 1000),
           "ready_after_exit_ms": int((ready - exited) * 1000)}
    if demoted:
        out["leaderless_ms"] = max(0, int((ready - demoted[0]) * 1000))
    return out


def start_patiently(broker, timeout_s=180):
    """Broker.start, with more than the harness's 15 s to listen: a broker
    recovering 2,000 logs on a loaded machine needs more."""
    import conftest
    try:
        broker.start()
    except RuntimeError:
        if not broker.alive():
            raise
        conftest.wait_for_port(broker.port, broker.proc, timeout_s)


def bench_big_shutdown(args, c):
    n = args.big_partitions
    controller = c.metadata().controller_id
    victim = next(b for b in c.brokers if b.broker_id != controller)
    # The controller's own broker takes the leaderships: its share of the
    # handover runs on the controller's local channel, the case to watch.
    other = controller
    others = [b for b in c.brokers if b is not victim]
    # Binaries compared on the victim, round by round in turn (the others keep --keel).
    import conftest
    keels = args.victim_keel or [args.keel]
    if keels[0] != args.keel:
        victim.stop(timeout=120)
        conftest.KEEL_BIN = keels[0]
        start_patiently(victim)
        c.wait(lambda: victim.broker_id in c.metadata().brokers, "the victim back")
    rounds = []
    for i in range(args.big_rounds):
        # A topic of its own per round, made with the victim first in every
        # assignment: it leads all of it (a restarted broker leads nothing
        # until a preferred election), and the last round's topic is gone.
        topic = "big" if i == 0 else "big%d" % i
        started = time.time()
        c.create(topic, n, 2, assignment=[[victim.broker_id, other] for _ in range(n)])
        created = time.time() - started
        hosted = None
        if not args.big_stop_at_once:
            wait_hosted(victim, topic, n)
            hosted = time.time() - started
            time.sleep(1)
        log_before = len(victim.log_path.read_text())
        others_before = {b.broker_id: len(b.log_path.read_text()) for b in others}
        load = load_average()
        start = time.time()
        victim.stop(timeout=120)
        took = time.time() - start
        text = victim.log_path.read_text()[log_before:]
        m = re.findall(r"controlled shutdown succeeded in (\d+) ms", text)
        led_after = sum(1 for p in c.partitions(topic).values() if p.leader == victim.broker_id)
        handover = handover_times(text, {b.broker_id: b.log_path.read_text()[others_before[b.broker_id]:]
                                         for b in others}, n)
        log(bench="big-shutdown", round=i, keel=keels[i % len(keels)], partitions=n, create_s=round(created, 1),
            hosted_s=round(hosted, 1) if hosted else None, sigterm_to_exit_s=round(took, 2),
            controlled_shutdown_ms=int(m[-1]) if m else None, still_led_by_victim=led_after, load_before=load,
            load=load_average(), phases=stop_phases(text), **handover)
        rounds.append({"controlled_shutdown_ms": int(m[-1]) if m else None, "sigterm_to_exit_s": round(took, 2),
                       **handover})
        conftest.KEEL_BIN = keels[(i + 1) % len(keels)]
        start_patiently(victim)
        c.wait(lambda: all(len(p.isrs) == 2 for p in c.partitions(topic).values()), "the victim back")
        if i + 1 < args.big_rounds:
            admin = c.admin()  # kept until the answer: a dropped client fails its futures
            admin.delete_topics([topic], request_timeout=120)[topic].result(120)
            c.wait(lambda: topic not in c.metadata().topics, "the deletion of " + topic)
    return dict(rounds[0], partitions=n, rounds=rounds)


def bench_catch_up(args, c, workdir):
    c.create("wipe", 3, 3)
    res = keel_load(args, "produce", "--bootstrap", c.bootstrap(), "--topic", "wipe", "--records",
                    str(args.catch_up_mib * 1024), "--record-size", "1024", "--acks", "all", "--partitions", "3")
    leader_ids = {p.leader for p in c.partitions("wipe").values()}
    victim = next(b for b in c.brokers if b.broker_id not in leader_ids) if len(leader_ids) < 3 else c.brokers[2]
    victim.stop(timeout=60)
    data = victim.dir / "data"
    size = sum(f.stat().st_size for f in data.glob("wipe-*/*.log"))
    shutil.rmtree(data)
    start = time.time()
    victim.start()
    c.wait(lambda: all(victim.broker_id in p.isrs for p in c.partitions("wipe").values()), "the wiped follower",
           600)
    took = time.time() - start
    disk = disk_write_rate(workdir)
    log(bench="catch-up", bytes=size, seconds=round(took, 2), mb_s=round(size / took / 1e6, 1),
        disk_mb_s=round(disk, 1), ratio=round(size / took / 1e6 / disk, 3), produced=res.get("records"),
        load=load_average())
    return {"mb_s": round(size / took / 1e6, 1), "disk_mb_s": round(disk, 1), "ratio": round(size / took / 1e6 / disk, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="throughput,latency,failover,shutdown,big-shutdown,catch-up")
    ap.add_argument("--keel", default=str(REPO / "build" / "src" / "keel"))
    ap.add_argument("--load", default=str(REPO / "build" / "benchmarks" / "load" / "keel-load"))
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--big-partitions", type=int, default=2000)
    ap.add_argument("--big-rounds", type=int, default=1, help="big-shutdown: stops of the victim, a new topic each")
    ap.add_argument("--big-stop-at-once", action="store_true",
                    help="big-shutdown: SIGTERM as soon as the creation returns, the victim still making its logs")
    ap.add_argument("--victim-keel", action="append",
                    help="big-shutdown: the victim's binary, one per round in turn (repeat to compare; default --keel)")
    ap.add_argument("--catch-up-mib", type=int, default=512)
    ap.add_argument("--workdir", default="/var/tmp/keel-cluster-bench")
    ap.add_argument("--keep", action="store_true", help="keep --workdir (the brokers' data and logs) at the end")
    args = ap.parse_args()
    # SIGTERM (timeout(1), a CI job's end) unwinds through the finally below
    # like Ctrl-C, so the brokers stop and the work directory goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ["KEEL_BIN"] = args.keel
    os.environ["KEEL_STORE"] = "zookeeper"
    only = args.only.split(",")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    summary = {}
    c = None
    try:
        c = Cluster(args.workdir, "log.segment.bytes: 268435456\n")
        if "throughput" in only:
            summary["throughput"] = bench_throughput(args, c)
        if "latency" in only:
            summary["latency"] = bench_latency(args, c)
        if "failover" in only:
            summary["failover"] = bench_failover(args, c)
        if "shutdown" in only:
            summary["shutdown"] = bench_shutdown(args, c)
        if "catch-up" in only:
            summary["catch-up"] = bench_catch_up(args, c, args.workdir)
        if "big-shutdown" in only:
            summary["big-shutdown"] = bench_big_shutdown(args, c)
    finally:
        try:
            if c is not None:
                c.stop()
        finally:
            # Last session's leftover bench directories filled the disk.
            if args.keep:
                print("kept " + args.workdir, file=sys.stderr)
            else:
                shutil.rmtree(args.workdir, ignore_errors=True)
    log(summary=summary, nproc=os.cpu_count())


if __name__ == "__main__":
    main()
