"""Kafka's replication matrix with real clusters: three keel processes and a
real ZooKeeper, a topic of three partitions with replication factor 3 and
min.insync.replicas=2, a producer writing continuously with acks=all while
one broker fails. The failures are a clean shutdown (SIGTERM), kill -9, and
each of those followed at once by a restart (a bounce); the broker that fails
is a partition leader that is not the controller, or the controller. The
producers are plain, compressed (gzip, snappy, lz4, zstd) and idempotent,
from librdkafka (confluent-kafka) and from kafka-python.

After the failure and the healing (the broker back, every replica in every
ISR) one checker looks at the outcome: a fresh consumer reading from the
beginning finds every acknowledged record at the offset it was acknowledged
at, an idempotent producer's values each exactly once, and every partition's
replicas byte-identical up to the leader's high watermark. The time until
every partition is led again is measured: at most 2 s after SIGTERM (the
controlled shutdown hands leaderships over before the broker goes) and 15 s
after kill -9 (zookeeper.session.timeout.ms is 6000). A control case, acks=1
with the leader killed while its followers are stopped, must make the same
checker report loss.

One cluster serves the whole module; each case gets its own topic, and the
broker it failed is started again before the next case."""

import collections
import signal
import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ZooKeeper
from kafka_schema import KafkaConnection
from test_cluster import metadata, wait_for
from test_leadership import start_cluster
from test_replication import log_bytes

PARTITIONS = 3
SIGTERM_BOUND = 2.0    # seconds from SIGTERM until every partition is led again
KILL_BOUND = 15.0      # from kill -9, with zookeeper.session.timeout.ms 6000 (the harness's)
TIMINGS = []           # (case, seconds until led again, seconds until a new controller), for the summary


@pytest.fixture(scope="module")
def matrix_cluster(tmp_path_factory):
    zk = ZooKeeper().start()
    brokers = start_cluster(zk, tmp_path_factory.mktemp("matrix"))
    yield brokers
    for b in brokers:
        if b.alive():
            b.proc.send_signal(signal.SIGCONT)
        b.stop(timeout=30)
    zk.cleanup()
    for row in TIMINGS:
        print("%-45s led again after %5.2f s%s" % (row[0], row[1], "" if row[2] is None else
                                                 ", new controller after %.2f s" % row[2]))


@pytest.fixture
def cluster(matrix_cluster):
    """The module's cluster, whole: a broker an earlier case left dead or
    stopped runs again and every broker sees all three."""
    for b in matrix_cluster:
        if b.alive():
            b.proc.send_signal(signal.SIGCONT)
        else:
            b.start()
    for b in matrix_cluster:
        wait_whole(matrix_cluster, b, "broker %d to see the cluster" % b.broker_id)
    return matrix_cluster


def wait_whole(cluster, b, what):
    """Waits until b's Metadata names all three brokers. A broker started
    again may not answer for a while (it waits for its previous ZooKeeper
    session to go, and loads its logs): an unanswered request is "not yet".
    When the wait fails, the report carries the end of every broker's log."""
    def whole():
        try:
            return set(metadata(b).brokers) == {1, 2, 3}
        except KafkaException:
            return False
    try:
        wait_for(what, whole, timeout=60)
    except Exception:
        for other in cluster:
            out = other.dir / "keel.out"
            print("--- broker %d (%s): the end of keel.log ---\n%s" % (
                other.broker_id, "running" if other.alive() else "not running",
                "\n".join(other.log_text().splitlines()[-80:])))
            if out.exists():
                print("--- broker %d: the end of keel.out ---\n%s" % (
                    other.broker_id, "\n".join(out.read_text(errors="replace").splitlines()[-20:])))
        raise


# --- the cluster as the wire shows it -------------------------------------------------------------

def view(broker, topic):
    """(controller id, {partition: (leader, leader epoch, isr)}) from broker's Metadata."""
    with KafkaConnection(broker.port, timeout=3) as c:
        md = c.call("Metadata", 9, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False})
    parts = {}
    for t in md["Topics"]:
        if t["ErrorCode"] == 0:
            parts = {p["PartitionIndex"]: (p["LeaderId"], p["LeaderEpoch"], sorted(p["IsrNodes"]))
                     for p in t["Partitions"]}
    return md["ControllerId"], parts


def high_watermark(broker, topic, p):
    """The high watermark as the broker answers ListOffsets (latest, read_uncommitted);
    None when it does not lead the partition or cannot be reached."""
    try:
        with KafkaConnection(broker.port, timeout=3) as c:
            r = c.call("ListOffsets", 5, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
                {"Name": topic, "Partitions": [{"PartitionIndex": p, "CurrentLeaderEpoch": -1, "Timestamp": -1}]}]})
    except OSError:
        return None
    part = r["Topics"][0]["Partitions"][0]
    return part["Offset"] if part["ErrorCode"] == 0 else None


def led(brokers, observer, topic, exclude=None):
    """Every partition has a leader (not exclude) whose process runs and which answers as leader."""
    try:
        _, parts = view(observer, topic)
    except OSError:
        return False
    if len(parts) != PARTITIONS:
        return False
    for p, (leader, _, _) in parts.items():
        if leader not in (1, 2, 3) or leader == exclude or not brokers[leader - 1].alive():
            return False
        if high_watermark(brokers[leader - 1], topic, p) is None:
            return False
    return True


class LeadershipWatch(threading.Thread):
    """From the moment it starts, polls until every partition is led again (by
    another broker than the victim, when a SIGTERM has to hand its leaderships
    over) and, when asked, until a live broker other than the victim is the
    controller."""

    def __init__(self, brokers, victim, topic, t_fault, want_controller, handover):
        super().__init__(daemon=True)
        self.brokers, self.victim, self.topic, self.t_fault = brokers, victim, topic, t_fault
        self.exclude = victim.broker_id if handover else None
        self.led_after = None
        self.controller_after = None if not want_controller else -1
        self.done = threading.Event()

    def run(self):
        observer = next(b for b in self.brokers if b is not self.victim)
        deadline = time.time() + 60
        while time.time() < deadline and not self.done.is_set():
            if self.led_after is None and led(self.brokers, observer, self.topic, self.exclude):
                self.led_after = time.time() - self.t_fault
            if self.controller_after == -1:
                try:
                    c, _ = view(observer, self.topic)
                    if c in (1, 2, 3) and c != self.victim.broker_id and self.brokers[c - 1].alive():
                        self.controller_after = time.time() - self.t_fault
                except OSError:
                    pass
            if self.led_after is not None and self.controller_after != -1:
                return
            time.sleep(0.05)


# --- producers: continuous writes, remembering what was acknowledged ------------------------------

class Writer:
    """Writes value i to partition i % PARTITIONS about every millisecond from a
    thread; acked maps each acknowledged value to its (partition, offset)."""

    def __init__(self, topic, tag):
        self.topic, self.tag = topic, tag
        self.acked = {}
        self.errors = []
        self.sent = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            for _ in range(20):
                self.send(b"%s-%08d" % (self.tag, self.sent), self.sent % PARTITIONS)
                self.sent += 1
            self.stop_flag.wait(0.02)
        self.flush()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(90)
        assert not self.thread.is_alive(), "the producer did not finish flushing"


class ConfluentWriter(Writer):
    def __init__(self, bootstrap, topic, tag, codec="none", idempotent=False):
        super().__init__(topic, tag)
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                           "compression.type": codec, "enable.idempotence": idempotent,
                           "message.timeout.ms": 60000, "retry.backoff.ms": 100})

    def cb(self, err, msg):
        if err is None:
            self.acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            self.errors.append(str(err))

    def send(self, value, partition):
        while True:
            try:
                self.p.produce(self.topic, value=value, partition=partition, on_delivery=self.cb)
                break
            except BufferError:
                self.p.poll(0.1)
        self.p.poll(0)

    def flush(self):
        self.p.flush(60)
        self.p = None  # librdkafka's threads go now, not at the interpreter's exit


class KafkaPythonWriter(Writer):
    """kafka-python 2.0 (no idempotence): its own record batches and codecs."""

    def __init__(self, bootstrap, topic, tag, codec=None):
        super().__init__(topic, tag)
        from kafka import KafkaProducer
        self.p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type=codec,
                               retries=100, retry_backoff_ms=200, request_timeout_ms=30000,
                               max_in_flight_requests_per_connection=1)

    def send(self, value, partition):
        def ok(md, value=value):
            self.acked[value] = (md.partition, md.offset)
        self.p.send(self.topic, value=value, partition=partition).add_callback(ok).add_errback(
            lambda e: self.errors.append(repr(e)))

    def flush(self):
        self.p.flush(60)
        self.p.close(10)


# --- the checker ----------------------------------------------------------------------------------

def consume_everything(bootstrap, topic):
    """{value: [(partition, offset), ...]} of every record up to each partition's
    high watermark, read by a fresh consumer from the beginning."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "matrix-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "enable.partition.eof": True})
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = collections.defaultdict(list)
    reached = {p: ends[p] == 0 for p in range(PARTITIONS)}
    deadline = time.time() + 60
    try:
        while not all(reached.values()) and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    reached[m.partition()] = m.offset() >= ends[m.partition()]
                    continue
                raise AssertionError("consume error: %s" % m.error())
            got[m.value()].append((m.partition(), m.offset()))
            if m.offset() + 1 >= ends[m.partition()]:
                reached[m.partition()] = True
    finally:
        c.close()
    assert all(reached.values()), "the consumer did not reach the high watermarks %s" % ends
    return got


def prefix_to(data, hw):
    """The record batches of a replica's log below offset hw, and the offset they reach."""
    pos, reached = 0, 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        (last_delta,) = struct.unpack_from(">i", data, pos + 23)
        if length <= 0 or base >= hw or pos + 12 + length > len(data):
            break
        pos += 12 + length
        reached = base + last_delta + 1
    return data[:pos], reached


def divergent_replicas(brokers, topic, timeout=30):
    """Partitions whose replicas differ below the leader's high watermark, once
    every replica is back in the ISR (a follower may hold records past the high
    watermark only for a moment, so they are compared up to it)."""
    wait_for("every replica of %s in the ISR" % topic,
             lambda: (v := view(brokers[0], topic)[1]) and len(v) == PARTITIONS
             and all(isr == [1, 2, 3] for _, _, isr in v.values()), timeout=60)
    bad = {}
    deadline = time.time() + timeout
    for p in range(PARTITIONS):
        while True:
            leader = view(brokers[0], topic)[1][p][0]
            hw = high_watermark(brokers[leader - 1], topic, p) if leader in (1, 2, 3) else None
            cuts = {b.broker_id: prefix_to(log_bytes(b, topic, p), hw or 0) for b in brokers}
            same = hw is not None and len({c for c, _ in cuts.values()}) == 1 and \
                all(r == hw for _, r in cuts.values())
            if same:
                break
            if time.time() > deadline:
                bad[p] = {"leader": leader, "hw": hw,
                          "replicas": {i: (len(c), r) for i, (c, r) in cuts.items()}}
                break
            time.sleep(0.2)
    return bad


def check(brokers, topic, acked, idempotent):
    """What went wrong: acknowledged values missing or not at their acknowledged
    offset, values more than once (idempotent producer), divergent replicas."""
    got = consume_everything(brokers[0].bootstrap, topic)
    report = {
        "lost": sorted(v for v in acked if v not in got),
        "moved": sorted(v for v, at in acked.items() if v in got and at not in got[v]),
        "duplicated": sorted(v for v, at in got.items() if len(at) > 1) if idempotent else [],
        "divergent": divergent_replicas(brokers, topic),
        "consumed": sum(len(at) for at in got.values()),
    }
    return report


def trouble(report):
    return {k: (v[:5] if isinstance(v, list) else v) for k, v in report.items()
            if k != "consumed" and v}


# --- the matrix -----------------------------------------------------------------------------------

CASES = [
    # failure, target, producer (kind, client, codec)
    ("sigterm", "leader", ("plain", "confluent", "none")),
    ("sigterm", "controller", ("compressed", "kafka-python", "lz4")),
    ("sigterm", "leader", ("idempotent", "confluent", "none")),
    ("kill9", "leader", ("compressed", "confluent", "zstd")),
    ("kill9", "controller", ("idempotent", "confluent", "none")),
    ("kill9", "leader", ("plain", "kafka-python", None)),
    ("sigterm-bounce", "leader", ("compressed", "kafka-python", "gzip")),
    ("sigterm-bounce", "controller", ("plain", "confluent", "none")),
    ("sigterm-bounce", "leader", ("idempotent", "confluent", "zstd")),
    ("kill9-bounce", "leader", ("idempotent", "confluent", "lz4")),
    ("kill9-bounce", "controller", ("compressed", "kafka-python", "snappy")),
    ("kill9-bounce", "controller", ("plain", "kafka-python", None)),
]


def case_id(case):
    failure, target, (kind, client, codec) = case
    return "%s-%s-%s-%s%s" % (failure, target, kind, client, "" if codec in (None, "none") else "-" + codec)


def create_topic(broker, topic, assignment=None):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    conf = {"min.insync.replicas": "2"}
    if assignment:
        new = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment, config=conf)
    else:
        new = NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3, config=conf)
    admin.create_topics([new])[topic].result(30)
    return wait_for("%s led with every replica in the ISR" % topic,
                    lambda: (v := view(broker, topic)) and len(v[1]) == len(assignment or range(PARTITIONS))
                    and all(leader > 0 and isr == [1, 2, 3] for leader, _, isr in v[1].values()) and v)


def writer_for(producer, bootstrap, topic, tag):
    kind, client, codec = producer
    if client == "kafka-python":
        return KafkaPythonWriter(bootstrap, topic, tag, codec)
    return ConfluentWriter(bootstrap, topic, tag, codec, idempotent=kind == "idempotent")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_acknowledged_records_survive(cluster, case):
    failure, target, producer = case
    name = case_id(case)
    topic = "m-" + uuid.uuid4().hex[:8]
    controller, parts = create_topic(cluster[0], topic)
    if target == "controller":
        victim = cluster[controller - 1]
    else:  # a broker leading a partition that is not the controller
        victim = cluster[next(leader for leader, _, _ in parts.values() if leader != controller) - 1]
    assert any(leader == victim.broker_id for leader, _, _ in parts.values()), \
        "the victim leads a partition of %s: %s" % (topic, parts)
    bootstrap = ",".join(b.bootstrap for b in cluster)

    with writer_for(producer, bootstrap, topic, name.encode()) as writer:
        time.sleep(1.5)
        sent_before = writer.sent
        t_fault = time.time()
        clean, bounce = failure.startswith("sigterm"), failure.endswith("bounce")
        # (After a bounce the victim may rightly be elected controller again.)
        watch = LeadershipWatch(cluster, victim, topic, t_fault, want_controller=target == "controller" and not bounce,
                                handover=clean)
        if clean:  # the leaderships move while the broker stops
            watch.start()
            assert victim.stop(timeout=30) == 0
            shutdown = time.time() - t_fault
        else:  # a dead broker's leaderships move when its ZooKeeper session expires
            victim.kill9()
            shutdown = 0.0
            watch.start()
        if bounce:
            victim.start()
        watch.join(60)
        watch.done.set()
        time.sleep(1.0)  # records go on to the new leaders
        if not bounce:
            victim.start()
        wait_whole(cluster, cluster[0], "the victim back in the cluster")
    TIMINGS.append((name, watch.led_after if watch.led_after is not None else float("nan"), watch.controller_after))
    print("%s: %d sent (%d before the fault), %d acked, %d errors; process gone after %.2f s, led again after %s s"
          % (name, writer.sent, sent_before, len(writer.acked), len(writer.errors), shutdown, watch.led_after))

    report = check(cluster, topic, writer.acked, idempotent=producer[0] == "idempotent")
    assert not trouble(report), "%s: %s" % (name, trouble(report))
    assert any(int(v[-8:]) >= sent_before for v in writer.acked), "records sent after the fault were acknowledged"
    bound = SIGTERM_BOUND if clean else KILL_BOUND
    assert watch.led_after is not None, "%s: a partition of %s was left without a leader" % (name, topic)
    assert watch.led_after <= bound, "%s: every partition led again only after %.2f s" % (name, watch.led_after)
    if watch.controller_after is not None:
        assert 0 <= watch.controller_after <= bound, "a new controller after %s s" % watch.controller_after


def test_the_checker_sees_loss_when_acks_1_records_die_with_their_leader(cluster):
    """The control: acks=1 records the leader took while both followers were
    stopped (SIGSTOP, after their last fetch was answered) and the leader killed
    -9 at once: the follower elected has never seen them, so the checker must
    report them lost. A checker green here is broken."""
    controller = metadata(cluster[0]).controller_id
    leader = next(b for b in cluster if b.broker_id != controller)
    followers = [b for b in cluster if b is not leader]
    topic = "m-control-" + uuid.uuid4().hex[:6]
    create_topic(cluster[0], topic, [[leader.broker_id] + [f.broker_id for f in followers]] * PARTITIONS)

    safe = ConfluentWriter(leader.bootstrap, topic, b"safe")
    for i in range(300):
        safe.send(b"safe-%d" % i, i % PARTITIONS)
    safe.flush()
    assert len(safe.acked) == 300

    risky = Producer({"bootstrap.servers": leader.bootstrap, "acks": 1, "linger.ms": 0})
    acked = dict(safe.acked)

    def cb(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
    for f in followers:
        f.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.0)  # their parked fetches are answered (replica.fetch.wait.max.ms 500) and they ask no more
        for i in range(300):
            risky.produce(topic, value=b"risky-%d" % i, partition=i % PARTITIONS, on_delivery=cb)
        risky.flush(10)
        leader.kill9()
    finally:
        for f in followers:
            f.proc.send_signal(signal.SIGCONT)
    del risky
    assert len(acked) == 600, "the leader acknowledged the acks=1 records alone"
    wait_for("a follower leading", lambda: led(cluster, followers[0], topic), timeout=40)
    leader.start()
    report = check(cluster, topic, acked, idempotent=False)
    lost = set(report["lost"])
    print("control: %d of 300 acks=1 records lost, %s" % (len(lost), trouble(report).keys()))
    assert lost, "the checker saw no loss where acks=1 records died with their leader"
    assert all(v.startswith(b"risky-") for v in lost), "only the acks=1 records can be lost"
    assert not report["divergent"], "the old leader truncated to the new one: %s" % report["divergent"]
