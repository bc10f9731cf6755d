"""The case ZooKeeper-mode Kafka leaves open: the only in-sync replica comes
back with less than the high watermark it acknowledged (its machine lost an
unflushed tail), and its followers hold acknowledged records it no longer
has. Kafka makes it leader and the followers truncate to it, so those
records are gone everywhere. Keel's replica refuses to lead (it checkpointed
its high watermark), the partition stays offline and says why, and an
unclean election by the operator picks a replica that still has the records.

The lost tail is made by hand: the leader is killed with kill -9 and its
segment file cut back, as a power loss would leave it."""

import time
import uuid

import pytest

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

import cluster_harness
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_leadership import elect_leaders, partitions
from test_replication import produce_acked

QUICK = ("replica.high.watermark.checkpoint.interval.ms: 200\n"
         "replica.lag.time.max.ms: 3000\n")


def brokers_seen(broker):
    try:
        return set(metadata(broker).brokers)
    except Exception:  # still starting: its old session has not expired yet
        return set()


def segment(broker, topic):
    files = sorted((broker.dir / "data" / ("%s-0" % topic)).glob("*.log"))
    assert len(files) == 1
    return files[0]


def consume_values(bootstrap, topic, want):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tail-" + uuid.uuid4().hex[:6],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = set()
    deadline = time.time() + 20
    while time.time() < deadline and len(got) < want:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.add(m.value())
    c.close()
    return got


@pytest.mark.parametrize("checkpoint", ["kept", "removed (control: Kafka's behaviour)"])
def test_a_sole_isr_member_that_lost_acknowledged_records_does_not_lead(zk, tmp_path, checkpoint):
    cluster = cluster_harness.start_cluster(zk, tmp_path, "tail", extra_config=QUICK)
    try:
        topic = "tail"
        admin = AdminClient({"bootstrap.servers": cluster[0].bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(30)
        p = wait_for("all three in sync", lambda: (p := partitions(cluster[0], topic).get(0)) and len(p.isrs) == 3 and p)
        leader = cluster[p.leader - 1]
        followers = [b for b in cluster if b is not leader]

        # 100 records, then the leader's file size (what it will keep), then
        # 100 more: all 200 on every replica.
        first = produce_acked(leader.bootstrap, topic, [b"a-%03d" % i for i in range(100)])
        assert len(first) == 100
        kept_bytes = segment(leader, topic).stat().st_size
        second = produce_acked(leader.bootstrap, topic, [b"b-%03d" % i for i in range(100)])
        assert len(second) == 100
        for f in followers:
            wait_for("follower %d to have all 200" % f.broker_id,
                     lambda f=f: segment(f, topic).stat().st_size == segment(leader, topic).stat().st_size)

        # The followers die: the leader is the ISR alone and acknowledges 100
        # more (min.insync.replicas 1), past what the followers have.
        for f in followers:
            f.kill9()
        wait_for("the ISR down to the leader", lambda: partitions(leader, topic)[0].isrs == [leader.broker_id],
                 timeout=40)
        third = produce_acked(leader.bootstrap, topic, [b"c-%03d" % i for i in range(100)])
        assert len(third) == 100
        time.sleep(1)  # the high watermark (300) is checkpointed

        # The leader's machine fails and comes back with only the first 100.
        leader.kill9()
        with open(segment(leader, topic), "r+b") as f:
            f.truncate(kept_bytes)
        follower_bytes = {f.broker_id: segment(f, topic).read_bytes() for f in followers}
        if checkpoint != "kept":
            (leader.dir / "data" / "replication-offset-checkpoint").unlink()

        for f in followers:
            f.start()
        wait_for("the followers back", lambda: brokers_seen(followers[0]) >= {f.broker_id for f in followers},
                 timeout=60)
        leader.start()
        if checkpoint != "kept":
            # Without its high watermark the replica cannot know what it lost:
            # it leads, the followers truncate to it, and the acknowledged
            # records b-000..b-099 are gone everywhere. The checker sees it.
            wait_for("the replica that lost its tail leading",
                     lambda: partitions(followers[0], topic)[0].leader == leader.broker_id, timeout=60)
            got = consume_values(followers[0].bootstrap, topic, 200)
            assert set(first) <= got
            assert not (set(second) & got), "the control must lose the records only the followers held"
            return
        wait_for("the refusal", lambda: "refusing to lead" in leader.log_path.read_text(), timeout=40)
        time.sleep(2)
        now = partitions(followers[0], topic)[0]
        assert now.leader == -1, "the partition must stay offline, not be led (leader %d)" % now.leader
        for f in followers:
            assert segment(f, topic).read_bytes() == follower_bytes[f.broker_id], "a follower truncated"

        # The operator's unclean election picks a replica that kept the
        # records, not the one that lost them.
        resp = elect_leaders(cluster, 1, {topic: [0]})
        assert resp["ReplicaElectionResults"][0]["PartitionResult"][0]["ErrorCode"] == 0, resp
        now = wait_for("a new leader", lambda: (p := partitions(followers[0], topic)[0]) and p.leader >= 0 and p)
        assert now.leader in (f.broker_id for f in followers)
        got = consume_values(followers[0].bootstrap, topic, 200)
        assert set(first) | set(second) <= got, "records the followers held were lost"
    finally:
        for b in cluster:
            b.stop(timeout=30)
