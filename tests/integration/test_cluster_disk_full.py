"""A full disk on one broker of three (replication factor 3, min.insync.replicas
2, acks=all): the broker's log dir goes offline, it tells the controller
(/log_dir_event_notification, as Kafka's brokers do), and the controller moves
the leadership of its partitions to the other in-sync replicas and takes its
replicas out of the ISRs at once, not after replica.lag.time.max.ms (set to
two minutes here). A real producer writing through the failure gets every
record acknowledged, and every acknowledged record is read back, at its
offset, without gaps. The full broker stays up.

Freed and restarted, the broker catches up and rejoins the ISRs.

Broker 1's log dir is a small tmpfs the test mounts (root only: skipped,
saying so, where mounting is not allowed) and unmounts."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from test_cluster import partition, start_all, wait_for, zk  # noqa: F401 (fixtures)
from test_disk_full import produce_until_full, small_disk  # noqa: F401 (fixture)
from test_produce_consume import consume

LAG_MS = 120000
CONFIG = ("replica.lag.time.max.ms: %d\n"
          "offsets.topic.replication.factor: 3\n"
          "default.replication.factor: 3\n"
          "min.insync.replicas: 2\n" % LAG_MS)


@pytest.fixture
def cluster(zk, tmp_path, small_disk):  # noqa: F811 (fixtures)
    chroot = zk.connect + "/disk-" + uuid.uuid4().hex[:8]
    brokers = [Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=CONFIG)
               for i in (1, 2, 3)]
    text = brokers[0].config_path.read_text()
    old = "log.dirs: %s\n" % (brokers[0].dir / "data")
    assert old in text
    brokers[0].config_path.write_text(text.replace(old, "log.dirs: %s\n" % (small_disk / "data")))
    start_all(brokers)
    yield brokers
    for b in brokers:
        b.stop()


def produce(bootstrap, topic, count):
    """acks=all, idempotent, retried for a minute: ({offset: value}, [error codes])."""
    return produce_until_full(bootstrap, count, topic=topic,
                              **{"enable.idempotence": True, "message.timeout.ms": 60000})


def test_a_full_disk_moves_leadership_and_isr_membership_and_loses_nothing(cluster, small_disk):  # noqa: F811
    b1, b2, b3 = cluster
    admin = AdminClient({"bootstrap.servers": b2.bootstrap})
    # "filling" is led by broker 1 (first in its assignment), whose disk it
    # fills; broker 1 only follows "followed".
    fs = admin.create_topics([NewTopic("filling", num_partitions=1, replica_assignment=[[1, 2, 3]]),
                              NewTopic("followed", num_partitions=1, replica_assignment=[[2, 1, 3]])])
    for f in fs.values():
        f.result(30)
    for t, leader in (("filling", 1), ("followed", 2)):
        wait_for("%s led by %d with a full ISR" % (t, leader),
                 lambda t=t, leader=leader: (p := partition(b2, t)) and p.leader == leader and len(p.isrs) == 3)

    # ~12 MB through a 6 MiB disk: the leader's log dir fails on the way.
    acked, failed = produce(b2.bootstrap, "filling", 12000)
    assert "is offline after an I/O error" in b1.log_text(), "the disk never filled"
    assert not failed, "the cluster lost writes it should have taken: %s" % sorted(set(failed))
    assert len(acked) == 12000
    assert sorted(acked) == list(range(12000)), "offsets without gaps"
    assert b1.alive()

    # Leadership moved at once, and broker 1 left both ISRs long before the
    # lag time would have taken it out.
    p = wait_for("filling led elsewhere without broker 1 in its ISR",
                 lambda: (p := partition(b2, "filling")) and p.leader in (2, 3) and 1 not in p.isrs and p)
    assert sorted(p.isrs) == [2, 3]
    q = wait_for("broker 1 out of followed's ISR", lambda: (q := partition(b2, "followed")) and 1 not in q.isrs and q,
                 timeout=30)
    assert q.leader == 2
    controller_logs = "".join(b.log_text() for b in cluster)
    assert "reports a failed log dir" in controller_logs
    # min.insync.replicas 2 of the two left: acks=all writes go on at once.
    started = time.time()
    more, failed = produce(b2.bootstrap, "followed", 200)
    assert not failed and len(more) == 200
    assert time.time() - started < LAG_MS / 1000 / 2

    # Every acknowledged record reads back, from the new leader, at its offset.
    got = consume(b2.bootstrap, "filling", len(acked), timeout=60)
    assert {m.offset(): m.value() for m in got} == acked

    # The operator frees space and restarts broker 1 (kill -9: no clean stop
    # on a full disk): its replicas catch up and are back in both ISRs.
    b1.kill9()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    b1.start()
    for t in ("filling", "followed"):
        wait_for("broker 1 back in %s's ISR" % t, lambda t=t: (p := partition(b2, t)) and sorted(p.isrs) == [1, 2, 3],
                 timeout=60)
    got = consume(b2.bootstrap, "filling", len(acked), timeout=60)
    assert {m.offset(): m.value() for m in got} == acked
