"""Consumer groups in a cluster: __consumer_offsets replicated with
offsets.topic.replication.factor 3, the group coordinator following the
leadership of the group's partition. Three brokers and a real ZooKeeper; a
librdkafka consumer (confluent-kafka) commits, the coordinator's broker is
killed with kill -9, FindCoordinator names another broker, the consumer carries
on and a kafka-python consumer of the same group starts exactly where the
last commit says; then the new coordinator is stopped cleanly and restarted,
and every replica of __consumer_offsets is byte-identical once healed."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

from cluster_harness import by_id, live, start_cluster, stop_cluster
from conftest import Broker
from test_cluster import metadata, partition, wait_for, zk  # noqa: F401 (fixture)
from test_groups import GroupWire
from test_replication import log_bytes

OFFSETS = "__consumer_offsets"
OFFSETS_PARTITIONS = 3
CONFIG = "offsets.topic.replication.factor: 3\noffsets.topic.num.partitions: %d\n" % OFFSETS_PARTITIONS
NONE = 0
COORDINATOR_NOT_AVAILABLE = 15


@pytest.fixture
def groups_cluster(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path, "groups", extra_config=CONFIG)
    yield brokers
    stop_cluster(brokers)


def partition_for(key, partitions):
    """Kafka's partitionFor (groups and transactional ids alike): Utils.abs of
    Java's String.hashCode, modulo the partitions."""
    h = 0
    for ch in key:  # BMP characters: one UTF-16 unit each
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    if h >= 1 << 31:  # a negative int32: Utils.abs negates it (MIN_VALUE gives 0)
        h = 0 if h == 1 << 31 else (1 << 32) - h
    return h % partitions


def offsets_partition(group):
    return partition_for(group, OFFSETS_PARTITIONS)


def find_coordinator(broker, group):
    w = GroupWire(broker.port)
    try:
        return w.find_coordinator(group, timeout=5)
    finally:
        w.close()


def coordinator(brokers, group, not_on=None):
    """The coordinator every live broker names (FindCoordinator asked of each),
    once they agree on a live broker other than `not_on`: its id."""
    def agreed():
        named = set()
        for b in live(brokers):
            r = find_coordinator(b, group)
            if r.error_code != NONE:
                return None
            named.add(r.coordinator_id)
        if len(named) != 1:
            return None
        (node,) = named
        return node if node != not_on and by_id(brokers, node).alive() else None

    return wait_for("the brokers to agree on the coordinator of %s" % group, agreed, timeout=60)


def committed(brokers, group, topic, partitions):
    """{partition: committed offset} as the coordinator answers OffsetFetch,
    leaving out partitions with none."""
    b = by_id(brokers, coordinator(brokers, group))
    w = GroupWire(b.port)
    try:
        out = {}
        for p in partitions:
            offset, err = w.fetch(group, topic, p, timeout=30)
            assert err == NONE, "OffsetFetch of %s-%d: error %d" % (topic, p, err)
            if offset >= 0:
                out[p] = offset
        return out
    finally:
        w.close()


def fully_replicated(brokers, topic, partitions):
    """Every partition of `topic` has all three brokers in its ISR, as every live broker sees it."""
    def check():
        for b in live(brokers):
            for p in range(partitions):
                part = partition(b, topic, p)
                if part is None or sorted(part.isrs) != [1, 2, 3]:
                    return False
        return True

    wait_for("%s fully replicated" % topic, check, timeout=90)


def produce_spread(brokers, topic, count, partitions):
    p = Producer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers), "acks": "all", "linger.ms": 5,
                  "enable.idempotence": True})
    failed = []
    for i in range(count):
        p.produce(topic, value=b"v-%d" % i, partition=i % partitions,
                  on_delivery=lambda err, msg: err and failed.append(err))
        p.poll(0)
    assert p.flush(60) == 0 and not failed, failed[:3]


def consume(c, count, into, timeout=90):
    """Polls the librdkafka consumer until `count` more records are in `into`
    as (partition, offset, value)."""
    target = len(into) + count
    deadline = time.time() + timeout
    while len(into) < target:
        assert time.time() < deadline, "consumed %d of %d" % (len(into), target)
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        into.append((m.partition(), m.offset(), m.value()))


def commit_sync(c, timeout=90):
    """Commits the consumer's positions, retrying the errors of a coordinator
    failover (the commit is retriable) until one is acknowledged."""
    deadline = time.time() + timeout
    errors = []
    while True:
        try:
            done = c.commit(asynchronous=False)
            bad = [tp.error for tp in done if tp.error is not None]
            if not bad:
                return errors
            errors.extend(bad)
        except KafkaException as e:
            if e.args[0].code() == KafkaError._NO_OFFSET:
                return errors  # nothing consumed since the last commit
            errors.append(e.args[0])
        assert time.time() < deadline, "no commit acknowledged: %r" % errors[-3:]
        time.sleep(0.5)


def positions(records):
    """{partition: next offset} after these (partition, offset, value) records."""
    out = {}
    for p, o, _ in records:
        out[p] = max(out.get(p, 0), o + 1)
    return out


def test_consumers_carry_on_from_their_committed_offsets_when_the_coordinator_moves(groups_cluster):
    brokers = groups_cluster
    topic, group, parts, total = "orders", "billing", 3, 3000
    admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=parts, replication_factor=3)])[topic].result(30)
    fully_replicated(brokers, topic, parts)
    produce_spread(brokers, topic, total, parts)

    a = Consumer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers), "group.id": group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "session.timeout.ms": 30000,
                  "client.id": "librdkafka-member"})
    a.subscribe([topic])
    seen_a = []
    try:
        consume(a, 1000, seen_a)
        commit_sync(a)
        before = committed(brokers, group, topic, range(parts))
        assert before == positions(seen_a)
        # Acknowledged commits are on every replica of the group's partition:
        # its ISR is all three (acks=all waited for them).
        fully_replicated(brokers, OFFSETS, OFFSETS_PARTITIONS)

        old = by_id(brokers, coordinator(brokers, group))
        assert partition(brokers[0], OFFSETS, offsets_partition(group)).leader == old.broker_id
        old.kill9()
        new = coordinator(brokers, group, not_on=old.broker_id)
        assert partition(by_id(brokers, new), OFFSETS, offsets_partition(group)).leader == new
        assert committed(brokers, group, topic, range(parts)) == before, "the new coordinator lost commits"

        # The member goes on from where it was, with no record twice and none
        # skipped, and its commits reach the new coordinator.
        consume(a, 1000, seen_a)
        failover_errors = commit_sync(a)
        print("commit errors met after the failover: %r" % failover_errors)
        last = committed(brokers, group, topic, range(parts))
        assert last == positions(seen_a)
    finally:
        a.close()

    # A kafka-python member of the same group starts exactly at the last commit.
    b = KafkaConsumer(topic, bootstrap_servers=[x.bootstrap for x in live(brokers)], group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10000,
                      request_timeout_ms=30000, client_id="kafka-python-member")
    seen_b = []
    try:
        deadline = time.time() + 90
        while len(seen_a) + len(seen_b) < total:
            assert time.time() < deadline, "read %d of %d" % (len(seen_a) + len(seen_b), total)
            for tp, records in b.poll(timeout_ms=500).items():
                seen_b.extend((tp.partition, r.offset, r.value) for r in records)
        b.commit()
    finally:
        b.close()
    first_b = {}
    for p, o, _ in seen_b:
        first_b.setdefault(p, o)
    per_partition = total // parts
    expected_first = {p: last.get(p, 0) for p in range(parts) if last.get(p, 0) < per_partition}
    assert first_b == expected_first, "kafka-python did not start at the last commit"
    everything = sorted(seen_a + seen_b)
    assert [(p, o) for p, o, _ in everything] == [(p, o) for p in range(parts) for o in range(per_partition)]
    assert sorted(v for _, _, v in everything) == sorted(b"v-%d" % i for i in range(total))
    final = committed(brokers, group, topic, range(parts))
    assert final == {p: per_partition for p in range(parts)}

    # The killed broker returns as a follower; then the coordinator's broker
    # stops cleanly and the coordinator moves again, with every commit.
    old.start()
    fully_replicated(brokers, OFFSETS, OFFSETS_PARTITIONS)
    second = by_id(brokers, coordinator(brokers, group))
    assert second.stop() == 0
    third = coordinator(brokers, group, not_on=second.broker_id)
    assert third != second.broker_id
    assert committed(brokers, group, topic, range(parts)) == final
    second.start()
    fully_replicated(brokers, OFFSETS, OFFSETS_PARTITIONS)
    assert committed(brokers, group, topic, range(parts)) == final

    # Healed: every replica of __consumer_offsets holds the same bytes.
    for p in range(OFFSETS_PARTITIONS):
        wait_for("%s-%d byte-identical on every broker" % (OFFSETS, p),
                 lambda p=p: len({log_bytes(x, OFFSETS, p) for x in brokers}) == 1, timeout=60)
    assert log_bytes(brokers[0], OFFSETS, offsets_partition(group)), "the group's partition is empty"


def test_the_offsets_topic_waits_for_as_many_brokers_as_its_replication_factor(zk, tmp_path):
    """Kafka's rule: with fewer live brokers than offsets.topic.replication.factor
    FindCoordinator answers COORDINATOR_NOT_AVAILABLE and creates nothing; once
    the third broker registers, the topic is created with three replicas."""
    brokers = start_cluster(zk, tmp_path, "rf", ids=(1, 2), extra_config=CONFIG)
    try:
        for _ in range(5):
            assert find_coordinator(brokers[0], "early").error_code == COORDINATOR_NOT_AVAILABLE
            time.sleep(0.2)
        assert OFFSETS not in metadata(brokers[0]).topics
        assert "does not meet the required replication factor" in brokers[0].log_text()

        third = Broker(tmp_path / "b3", broker_id=3, zookeeper=brokers[0].zookeeper, extra_config=CONFIG)
        brokers.append(third.start())
        wait_for("the third broker in the cluster", lambda: set(metadata(brokers[0]).brokers) == {1, 2, 3})
        node = coordinator(brokers, "early")
        assert node in (1, 2, 3)
        t = metadata(brokers[0], OFFSETS).topics[OFFSETS]
        assert len(t.partitions) == OFFSETS_PARTITIONS
        assert all(sorted(p.replicas) == [1, 2, 3] for p in t.partitions.values())
    finally:
        stop_cluster(brokers)
