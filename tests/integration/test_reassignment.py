"""Partition reassignment as operators do it (KIP-455, ZooKeeper mode): four
keel processes and a real ZooKeeper. AlterPartitionReassignments and
ListPartitionReassignments go to the controller (the installed clients, Debian's
confluent-kafka 1.7 and kafka-python 2.0.2, do not wrap them, so the requests
are built from Kafka's own schemas by kafka_schema.KafkaConnection); the legacy
/admin/reassign_partitions node is written with ZooKeeper's own zkCli, as the
old kafka-reassign-partitions --zookeeper did. Producers and consumers are real
clients (confluent-kafka).

Each move is checked the same way: every record acknowledged with acks=all is
consumable, the new replicas hold the leader's bytes, a removed replica's log
directory is gone, and every live broker's metadata shows the target replicas
with all of them in the ISR."""

import json
import signal
import subprocess
import threading
import time
import uuid

import pytest

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from kafka_schema import KafkaConnection
from test_cluster import metadata, partition, wait_for, zk  # noqa: F401 (fixture)
from test_produce_consume import consume
from test_replication import log_bytes, produce_acked

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REPLICA_ASSIGNMENT = 39
NOT_CONTROLLER = 41
NO_REASSIGNMENT_IN_PROGRESS = 85
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


class Cluster:
    """Brokers in one ZooKeeper chroot; more may join (add)."""

    def __init__(self, zookeeper, tmp_path):
        self.chroot = zookeeper.connect + "/reassign-" + uuid.uuid4().hex[:8]
        self.tmp_path = tmp_path
        self.brokers = {}

    def add(self, broker_id):
        b = Broker(self.tmp_path / ("b%d" % broker_id), broker_id=broker_id, zookeeper=self.chroot)
        self.brokers[broker_id] = b
        return b.start()

    def __getitem__(self, broker_id):
        return self.brokers[broker_id]

    def alive(self):
        return [b for b in self.brokers.values() if b.alive()]

    def any(self):
        return self.alive()[0]

    def controller(self):
        return wait_for("a controller", lambda: self.brokers.get(metadata(self.any()).controller_id)
                        if metadata(self.any()).controller_id in {b.broker_id for b in self.alive()} else None,
                        timeout=60)

    def wait_for_brokers(self, ids):
        for b in self.alive():
            wait_for("broker %d to see brokers %s" % (b.broker_id, sorted(ids)),
                     lambda b=b: set(metadata(b).brokers) == set(ids), timeout=60)


@pytest.fixture
def cluster(zk, tmp_path):
    c = Cluster(zk, tmp_path)
    for i in (1, 2, 3, 4):
        c.add(i)
    c.wait_for_brokers({1, 2, 3, 4})
    yield c
    for b in c.brokers.values():
        if b.proc is not None and b.proc.poll() is None:
            b.proc.send_signal(signal.SIGCONT)
        b.stop()


# --- the two requests, to whichever broker is controller ------------------------------------

def call_controller(cluster, api, values):
    """The controller's answer, retried while the metadata names a broker that is not (yet) it."""
    def attempt():
        c = cluster.controller()
        try:
            with KafkaConnection(c.port) as conn:
                r = conn.call(api, 0, values)
        except (OSError, ConnectionError):
            return None
        return None if r["ErrorCode"] == NOT_CONTROLLER else r
    return wait_for("the controller to answer " + api, attempt, timeout=60)


def alter(cluster, topic, targets):
    """{partition: replicas or None (cancel)} -> {partition: (error code, message)}."""
    r = call_controller(cluster, "AlterPartitionReassignments", {"TimeoutMs": 30000, "Topics": [
        {"Name": topic, "Partitions": [{"PartitionIndex": p, "Replicas": rs} for p, rs in targets.items()]}]})
    assert r["ErrorCode"] == 0, r
    (t,) = r["Responses"]
    return {p["PartitionIndex"]: (p["ErrorCode"], p["ErrorMessage"]) for p in t["Partitions"]}


def alter_ok(cluster, topic, targets):
    answers = alter(cluster, topic, targets)
    assert all(code == 0 for code, _ in answers.values()), answers


def ongoing(cluster, topics=None):
    """{(topic, partition): (replicas, adding, removing)} of the reassignments under way."""
    r = call_controller(cluster, "ListPartitionReassignments", {"TimeoutMs": 30000, "Topics": topics})
    assert r["ErrorCode"] == 0, r
    return {(t["Name"], p["PartitionIndex"]): (p["Replicas"], p["AddingReplicas"], p["RemovingReplicas"])
            for t in r["Topics"] for p in t["Partitions"]}


def wait_reassigned(cluster, topic, targets, timeout=90):
    """Until no reassignment of these partitions is listed and every live broker's
    metadata shows each target, in order, with all of it in the ISR."""
    def done():
        if any(k[0] == topic for k in ongoing(cluster, [{"Name": topic, "PartitionIndexes": list(targets)}])):
            return False
        for b in cluster.alive():
            for p, target in targets.items():
                info = partition(b, topic, p)
                if info is None or list(info.replicas) != target or sorted(info.isrs) != sorted(target) \
                        or info.leader not in target:
                    return False
        return True
    wait_for("%s %s reassigned on every broker" % (topic, targets), done, timeout=timeout)


def leader_of(cluster, topic, p=0):
    return cluster[wait_for("a leader", lambda: (i := partition(cluster.any(), topic, p)) and i.leader > 0
                            and i.leader)]


def assert_replicas_identical(cluster, topic, p, replicas):
    leader = leader_of(cluster, topic, p)
    wait_for("%s-%d identical on %s" % (topic, p, replicas),
             lambda: all(log_bytes(cluster[r], topic, p) == log_bytes(leader, topic, p) for r in replicas), timeout=60)


def log_dir_gone(broker, topic, p=0):
    """The partition's directory is gone (renamed for deletion, or deleted)."""
    return not (broker.dir / "data" / ("%s-%d" % (topic, p))).exists()


def create(cluster, topic, assignment):
    a = AdminClient({"bootstrap.servers": cluster.any().bootstrap})
    a.create_topics([NewTopic(topic, len(assignment), replica_assignment=assignment)])[topic].result(30)
    for p, replicas in enumerate(assignment):
        wait_for("%s-%d online with its whole ISR" % (topic, p),
                 lambda p=p, replicas=replicas: (i := partition(cluster.any(), topic, p)) and i.leader > 0
                 and sorted(i.isrs) == sorted(replicas))


class BackgroundProducer:
    """acks=all with idempotence, one record every few ms until stopped."""

    def __init__(self, bootstrap, topic):
        self.acked = {}
        self.errors = []
        self.stop_flag = threading.Event()
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 5, "message.timeout.ms": 60000})
        self.topic = topic
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def cb(self, err, msg):
        if err is None:
            self.acked[msg.value()] = msg.offset()
        else:
            self.errors.append(err)

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            self.p.produce(self.topic, value=b"bg-%d" % i, partition=0, on_delivery=self.cb)
            i += 1
            self.p.poll(0.003)
        self.p.flush(60)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(90)
        return self.acked


def assert_all_consumable(cluster, topic, acked, p=0):
    got = consume(cluster.any().bootstrap, topic, max(acked.values()) + 1 if acked else 0, timeout=60)
    have = {m.value(): m.offset() for m in got if m.partition() == p}
    missing = {v: o for v, o in acked.items() if have.get(v) != o}
    assert not missing, "%d acknowledged records not consumable at their offsets, e.g. %s" % (
        len(missing), list(missing.items())[:3])


# --- the API ------------------------------------------------------------------------------------

def test_the_controller_answers_and_refuses_as_kafka_does(cluster):
    create(cluster, "rules", [[1, 2, 3]])
    c = cluster.controller()
    other = next(b for b in cluster.alive() if b is not c)
    with KafkaConnection(other.port) as conn:
        assert conn.served("AlterPartitionReassignments") == (0, 0)
        assert conn.served("ListPartitionReassignments") == (0, 0)
        r = conn.call("AlterPartitionReassignments", 0, {"Topics": [
            {"Name": "rules", "Partitions": [{"PartitionIndex": 0, "Replicas": [1, 2, 4]}]}]})
        assert r["ErrorCode"] == NOT_CONTROLLER and r["Responses"] == []
        assert conn.call("ListPartitionReassignments", 0, {"Topics": None})["ErrorCode"] == NOT_CONTROLLER

    answers = alter(cluster, "rules", {0: []})
    assert answers[0][0] == INVALID_REPLICA_ASSIGNMENT and "Empty replica list" in answers[0][1]
    assert alter(cluster, "rules", {0: [1, 2, 1]})[0][0] == INVALID_REPLICA_ASSIGNMENT
    assert alter(cluster, "rules", {0: [1, -3]})[0][0] == INVALID_REPLICA_ASSIGNMENT
    answers = alter(cluster, "rules", {0: [1, 2, 99]})
    assert answers[0][0] == INVALID_REPLICA_ASSIGNMENT and "not alive" in answers[0][1]
    assert alter(cluster, "rules", {0: None})[0][0] == NO_REASSIGNMENT_IN_PROGRESS
    assert alter(cluster, "rules", {5: [1, 2, 3]})[5][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert alter(cluster, "nosuch", {0: [1, 2]})[0][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert alter(cluster, "nosuch", {0: None})[0][0] == NO_REASSIGNMENT_IN_PROGRESS
    assert ongoing(cluster) == {}
    # Nothing changed.
    assert list(partition(cluster.any(), "rules").replicas) == [1, 2, 3]


def test_a_move_under_acks_all_load_loses_nothing_and_deletes_the_old_replica(cluster):
    """[1, 2, 3] -> [4, 2, 3] while a producer sends with acks=all: broker 1
    (the preferred leader, so leading) hands over to 4 once 4 is in sync."""
    topic = "moving"
    create(cluster, topic, [[1, 2, 3]])
    before = produce_acked(cluster[1].bootstrap, topic, [b"pre-%d" % i for i in range(3000)])
    assert len(before) == 3000
    bg = BackgroundProducer(cluster[2].bootstrap, topic)
    time.sleep(1)
    alter_ok(cluster, topic, {0: [4, 2, 3]})
    listed = ongoing(cluster)
    if ("moving", 0) in listed:  # it may already be done
        replicas, adding, removing = listed[("moving", 0)]
        assert replicas == [4, 2, 3, 1] and adding == [4] and removing == [1]
    wait_reassigned(cluster, topic, {0: [4, 2, 3]})
    time.sleep(1)
    acked = bg.stop()
    assert len(acked) > 100, "the producer kept going through the move (%d acked, errors %s)" % (
        len(acked), bg.errors[:3])
    acked.update(before)
    assert partition(cluster.any(), topic).leader == 4, "the reassignment election picks the target's first replica"
    assert_all_consumable(cluster, topic, acked)
    assert_replicas_identical(cluster, topic, 0, [4, 2, 3])
    wait_for("broker 1's replica deleted", lambda: log_dir_gone(cluster[1], topic))
    assert ongoing(cluster) == {}


def test_replication_factor_one_to_three_and_three_to_two(cluster):
    topic = "rf"
    create(cluster, topic, [[2]])
    acked = produce_acked(cluster[1].bootstrap, topic, [b"r-%d" % i for i in range(2000)])
    assert len(acked) == 2000
    alter_ok(cluster, topic, {0: [2, 3, 4]})
    wait_reassigned(cluster, topic, {0: [2, 3, 4]})
    assert_replicas_identical(cluster, topic, 0, [2, 3, 4])
    assert partition(cluster.any(), topic).leader == 2, "the leader stays when it is in the target"
    # Now acks=all needs all three.
    more = produce_acked(cluster[1].bootstrap, topic, [b"s-%d" % i for i in range(500)])
    assert len(more) == 500
    acked.update(more)

    alter_ok(cluster, topic, {0: [3, 4]})  # 3 -> 2, and the leader (2) leaves
    wait_reassigned(cluster, topic, {0: [3, 4]})
    assert partition(cluster.any(), topic).leader == 3
    wait_for("broker 2's replica deleted", lambda: log_dir_gone(cluster[2], topic))
    assert_all_consumable(cluster, topic, acked)
    assert_replicas_identical(cluster, topic, 0, [3, 4])


def test_decommissioning_a_broker_and_filling_a_new_empty_one(cluster):
    """Every replica off broker 4, which then stops; broker 5 joins empty and
    takes replicas of every partition."""
    topic = "fleet"
    layout = [[4, 1], [1, 4], [2, 3], [3, 4]]
    create(cluster, topic, layout)
    acked = {}
    for p in range(len(layout)):
        pr = Producer({"bootstrap.servers": cluster[1].bootstrap, "acks": "all", "linger.ms": 5})
        got = {}
        for i in range(500):
            pr.produce(topic, value=b"p%d-%d" % (p, i), partition=p,
                       on_delivery=lambda err, m, got=got: err is None and got.__setitem__(m.value(), m.offset()))
        pr.flush(60)
        assert len(got) == 500
        acked[p] = got

    # Decommission 4: each of its replicas moves to a broker the partition lacks.
    targets = {}
    for p, replicas in enumerate(layout):
        if 4 in replicas:
            spare = next(b for b in (1, 2, 3) if b not in replicas)
            targets[p] = [spare if r == 4 else r for r in replicas]
    alter_ok(cluster, topic, targets)
    wait_reassigned(cluster, topic, targets)
    for p in targets:
        wait_for("broker 4's replica of %s-%d deleted" % (topic, p), lambda p=p: log_dir_gone(cluster[4], topic, p))
    assert not any(d.name.startswith(topic + "-") and not d.name.endswith("-delete")
                   for d in (cluster[4].dir / "data").iterdir())
    assert cluster[4].stop() == 0
    cluster.wait_for_brokers({1, 2, 3})
    for p in range(len(layout)):
        info = partition(cluster.any(), topic, p)
        assert info.leader in (1, 2, 3) and 4 not in info.replicas

    # A new, empty broker 5 takes a replica of every partition (RF 2 -> 3).
    cluster.add(5)
    cluster.wait_for_brokers({1, 2, 3, 5})
    grow = {p: list(partition(cluster.any(), topic, p).replicas) + [5] for p in range(len(layout))}
    alter_ok(cluster, topic, grow)
    wait_reassigned(cluster, topic, grow)
    for p in range(len(layout)):
        assert_replicas_identical(cluster, topic, p, grow[p])
        assert consume_partition(cluster[5].bootstrap, topic, p, 500) == acked[p], \
            "partition %d: every acknowledged record, at its offset" % p


def consume_partition(bootstrap, topic, p, count):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0)])
    out = {}
    deadline = time.time() + 60
    try:
        while len(out) < count and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out[m.value()] = m.offset()
    finally:
        c.close()
    return out


def test_cancelling_goes_back_to_the_original_replicas(cluster):
    """A move that cannot finish (its new replica's broker is stopped) is
    listed with its adding and removing replicas; cancelling it restores the
    original replicas and the half-made replica is deleted."""
    topic = "cancelled"
    c = cluster.controller()
    a, b, d = [x.broker_id for x in cluster.alive() if x is not c]
    original = [c.broker_id, a, b]
    create(cluster, topic, [original])
    acked = produce_acked(cluster[a].bootstrap, topic, [b"c-%d" % i for i in range(1000)])
    stuck = cluster[d]
    stuck.proc.send_signal(signal.SIGSTOP)  # registered for the session timeout (6 s), fetching nothing
    try:
        alter_ok(cluster, topic, {0: [c.broker_id, a, d]})
        moving = ([c.broker_id, a, d, b], [d], [b])
        assert ongoing(cluster)[(topic, 0)] == moving
        assert ongoing(cluster, [{"Name": topic, "PartitionIndexes": [0, 7]}]) == {(topic, 0): moving}
        answers = alter(cluster, topic, {0: None})
        assert answers[0][0] == 0, answers
        assert ongoing(cluster) == {}
    finally:
        stuck.proc.send_signal(signal.SIGCONT)
    wait_reassigned(cluster, topic, {0: original})
    # The replica d was given goes again once it hears (LeaderAndIsr, then StopReplica with delete).
    wait_for("the half-made replica deleted", lambda: log_dir_gone(stuck, topic), timeout=60)
    assert_all_consumable(cluster, topic, acked)
    assert alter(cluster, topic, {0: None})[0][0] == NO_REASSIGNMENT_IN_PROGRESS


def zk_cli(cluster, *command):
    out = subprocess.run([ZKCLI, "-server", cluster.chroot, *command], capture_output=True, text=True, timeout=120)
    return out.stdout + out.stderr


def test_the_legacy_znode_starts_reassignments_and_goes_when_they_finish(cluster):
    topic = "legacy"
    create(cluster, topic, [[1, 2], [2, 3]])
    acked = produce_acked(cluster[1].bootstrap, topic, [b"l-%d" % i for i in range(1000)])
    node = json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [3, 4], "log_dirs": ["any", "any"]},
        {"topic": topic, "partition": 1, "replicas": [2, 3, 4]}]}, separators=(",", ":"))
    out = zk_cli(cluster, "create", "/admin/reassign_partitions", node)
    assert "Created /admin/reassign_partitions" in out, out
    wait_reassigned(cluster, topic, {0: [3, 4], 1: [2, 3, 4]})
    wait_for("the node deleted once done",
             lambda: "Node does not exist" in zk_cli(cluster, "stat", "/admin/reassign_partitions"), timeout=60)
    assert_replicas_identical(cluster, topic, 0, [3, 4])
    wait_for("broker 1's replica deleted", lambda: log_dir_gone(cluster[1], topic, 0))
    assert_all_consumable(cluster, topic, acked)

    # An entry the controller refuses (an unknown broker) leaves the node too.
    bad = json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [3, 77]}]},
                     separators=(",", ":"))
    assert "Created" in zk_cli(cluster, "create", "/admin/reassign_partitions", bad)
    wait_for("the refused node deleted",
             lambda: "Node does not exist" in zk_cli(cluster, "stat", "/admin/reassign_partitions"), timeout=60)
    assert list(partition(cluster.any(), topic, 0).replicas) == [3, 4]


def test_a_new_controller_finishes_what_a_killed_one_started(cluster):
    """kill -9 of the controller mid-reassignment: the next controller reads
    RS, AR and RR from the assignment node and completes the move."""
    topic = "handover"
    c = cluster.controller()
    o1, o2, o3 = [b.broker_id for b in cluster.alive() if b is not c]
    create(cluster, topic, [[o1, c.broker_id]])
    acked = produce_acked(cluster[o1].bootstrap, topic, [b"h-%d" % i for i in range(2000)])
    assert len(acked) == 2000
    cluster[o3].proc.send_signal(signal.SIGSTOP)  # keeps the move from finishing under c
    try:
        alter_ok(cluster, topic, {0: [o1, o2, o3]})
        assert (topic, 0) in ongoing(cluster)
        c.kill9()
    finally:
        cluster[o3].proc.send_signal(signal.SIGCONT)
    wait_for("a new controller", lambda: metadata(cluster[o1]).controller_id in (o1, o2, o3), timeout=60)
    wait_reassigned(cluster, topic, {0: [o1, o2, o3]}, timeout=120)
    assert_replicas_identical(cluster, topic, 0, [o1, o2, o3])
    assert_all_consumable(cluster, topic, acked)
    # The node in the store says it too (no adding/removing left).
    out = zk_cli(cluster, "get", "/brokers/topics/" + topic)
    assigned = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert assigned["partitions"] == {"0": [o1, o2, o3]}
    assert assigned.get("adding_replicas", {}) == {} and assigned.get("removing_replicas", {}) == {}


def test_moving_a_replica_off_the_coordinators_broker_keeps_the_groups_offsets(cluster):
    """A reassignment's StopReplica (delete) on the group coordinator's broker
    used to tombstone every group's offsets for that partition, as if the topic
    had been deleted (found by the four-broker chaos run, seed 4747). Kafka
    drops offsets only for partitions UpdateMetadata marks as being deleted."""
    from confluent_kafka import Consumer, TopicPartition
    group, topic = "g-move-" + uuid.uuid4().hex[:6], "offs-move"
    create(cluster, topic, [[1, 2, 3, 4]])

    def coordinator():
        with KafkaConnection(cluster.any().port) as conn:
            r = conn.call("FindCoordinator", 0, {"Key": group})
        return r["NodeId"] if r["ErrorCode"] == 0 else None
    node = wait_for("the group's coordinator", coordinator, timeout=60)
    c = Consumer({"bootstrap.servers": cluster.any().bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        assert c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 5
        rest = [b for b in (1, 2, 3, 4) if b != node]
        alter_ok(cluster, topic, {0: rest})
        wait_reassigned(cluster, topic, {0: rest})
        wait_for("the old replica's log deleted", lambda: log_dir_gone(cluster.brokers[node], topic), timeout=30)
        got = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        assert got == 5, "broker %d (the coordinator) left the partition and the offset became %s" % (node, got)
    finally:
        c.close()
