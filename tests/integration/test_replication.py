"""Followers fetch from leaders: three keel brokers and a ZooKeeper, a topic
with replication factor 3, a real producer with acks=all. Every acknowledged
record is on all three replicas, byte for byte as the leader wrote it; after
kill -9 of the leader a follower from the ISR leads with every acknowledged
record and takes new ones; the old leader comes back as a follower, truncates
what it had that the new leader does not, and catches up to the same bytes."""

import shutil

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from test_cluster import cluster, metadata, partition, wait_for, zk  # noqa: F401 (fixtures)
from test_produce_consume import consume


def produce_acked(bootstrap, topic, values, **conf):
    """Sends values with acks=all; returns {value: offset} of those acknowledged."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True,
                  "message.timeout.ms": 30000, **conf})
    acked = {}

    def cb(err, msg):
        if err is None:
            acked[msg.value()] = msg.offset()

    for v in values:
        p.produce(topic, value=v, partition=0, on_delivery=cb)
        p.poll(0)
    p.flush(60)
    return acked


def log_bytes(broker, topic, p=0):
    """The partition's records on this broker: its segment files in order."""
    d = broker.dir / "data" / ("%s-%d" % (topic, p))
    return b"".join(f.read_bytes() for f in sorted(d.glob("*.log")))


def test_acknowledged_records_are_on_every_replica_and_survive_the_leader(cluster):
    topic = "replicated"
    b1 = cluster[0]
    admin = AdminClient({"bootstrap.servers": b1.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(30)
    part = wait_for("a leader with all three in the ISR",
                    lambda: (p := partition(b1, topic)) and p.leader in (1, 2, 3) and len(p.isrs) == 3 and p)

    first = [b"first-%d" % i for i in range(2000)]
    acked = produce_acked(b1.bootstrap, topic, first)
    assert len(acked) == len(first), "acks=all with three live replicas: every record acknowledged"
    assert sorted(acked.values()) == list(range(len(first)))
    # The followers hold the same bytes as the leader.
    leader = cluster[part.leader - 1]
    wait_for("replicas identical to the leader",
             lambda: all(log_bytes(b, topic) == log_bytes(leader, topic) for b in cluster), timeout=30)

    # kill -9 the leader: a follower from the ISR takes over with everything.
    leader.kill9()
    survivors = [b for b in cluster if b is not leader]
    new = wait_for("a new leader", lambda: (p := partition(survivors[0], topic)) and p.leader not in (-1, leader.broker_id)
                   and p, timeout=40)
    assert new.leader in (s.broker_id for s in survivors)
    got = consume(survivors[0].bootstrap, topic, len(first), timeout=60)
    assert {m.value(): m.offset() for m in got} == acked, "every acknowledged record, at its offset"

    # New records go to the new leader, replicated to the other survivor.
    second = [b"second-%d" % i for i in range(500)]
    acked2 = produce_acked(survivors[0].bootstrap, topic, second)
    assert len(acked2) == len(second)
    assert min(acked2.values()) == len(first)

    # The old leader returns as a follower and catches up to the same bytes.
    leader.start()
    wait_for("the old leader to rejoin as a replica", lambda: set(metadata(survivors[0]).brokers) == {1, 2, 3})
    new_leader = cluster[new.leader - 1]
    wait_for("the returned broker to hold the new leader's bytes",
             lambda: log_bytes(leader, topic) == log_bytes(new_leader, topic), timeout=60)
    got = consume(survivors[0].bootstrap, topic, len(first) + len(second), timeout=60)
    assert [m.value() for m in got] == first + second


def test_a_follower_restarted_on_an_empty_data_directory_fetches_everything(cluster, tmp_path):
    topic = "refilled"
    b1 = cluster[0]
    admin = AdminClient({"bootstrap.servers": b1.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(30)
    part = wait_for("a leader", lambda: (p := partition(b1, topic)) and p.leader in (1, 2, 3) and p)
    acked = produce_acked(b1.bootstrap, topic, [b"v-%d" % i for i in range(1000)])
    assert len(acked) == 1000
    leader = cluster[part.leader - 1]
    follower = next(b for b in cluster if b is not leader)
    follower.stop()
    shutil.rmtree(follower.dir / "data")
    follower.start()
    wait_for("the wiped follower to fetch the whole log",
             lambda: (follower.dir / "data" / (topic + "-0")).is_dir()
             and log_bytes(follower, topic) == log_bytes(leader, topic), timeout=60)
