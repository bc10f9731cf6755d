"""Several keel processes as one cluster, with a real ZooKeeper: the
controller tells every broker what it hosts (LeaderAndIsr) and what the
cluster looks like (UpdateMetadata) over the inter-broker listener, so any
broker answers Metadata for the whole cluster and is a valid bootstrap
server; a dead leader's partitions get a new leader from the ISR and leave
the dead broker out of the ISR; a deleted topic's logs go on every broker.

Replication itself (followers fetching) comes with the rest of the cluster
issue; these tests check the controller's side."""

import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, ZooKeeper


@pytest.fixture
def zk():
    z = ZooKeeper().start()
    yield z
    z.cleanup()


@pytest.fixture
def cluster(zk, tmp_path):
    """Three brokers (ids 1, 2, 3) in one ZooKeeper chroot."""
    chroot = zk.connect + "/cluster-" + uuid.uuid4().hex[:8]
    brokers = start_all([Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot) for i in (1, 2, 3)])
    yield brokers
    for b in brokers:
        b.stop()


def start_all(brokers):
    """Starts the brokers; returns them once every one has heard of all of
    them from the controller."""
    for b in brokers:
        b.start()
    ids = {b.broker_id for b in brokers}
    for b in brokers:
        wait_for("broker %d to see the cluster" % b.broker_id, lambda b=b: set(metadata(b).brokers) == ids)
    return brokers


def wait_for(what, check, timeout=30.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def metadata(broker, topic=None):
    return AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(topic, timeout=10)


def partition(broker, topic, p=0):
    """Partition p of topic as broker's metadata shows it; None when not there."""
    t = metadata(broker, topic).topics.get(topic)
    return t.partitions.get(p) if t is not None and t.error is None else None


def test_every_broker_answers_for_the_whole_cluster(cluster):
    b1, b2, b3 = cluster
    # Each broker, asked alone, lists all three brokers and one controller.
    for b in cluster:
        md = wait_for("broker %d to see the cluster" % b.broker_id,
                      lambda b=b: (m := metadata(b)) and set(m.brokers) == {1, 2, 3} and m)
        assert md.controller_id in (1, 2, 3)
        for bid, info in md.brokers.items():
            assert info.port == cluster[bid - 1].port, "each broker's own advertised endpoint"
    controllers = {metadata(b).controller_id for b in cluster}
    assert len(controllers) == 1, "every broker names the same controller"

    # A topic created through broker 2 with replication factor 3: every
    # broker hosts every partition (its log exists) and every broker's
    # metadata shows the same leaders.
    a = AdminClient({"bootstrap.servers": b2.bootstrap})
    a.create_topics([NewTopic("spread", num_partitions=3, replication_factor=3)])["spread"].result(30)
    for b in cluster:
        wait_for("broker %d to show spread's leaders" % b.broker_id,
                 lambda b=b: (t := metadata(b, "spread").topics.get("spread")) and len(t.partitions) == 3
                 and all(p.leader in (1, 2, 3) for p in t.partitions.values()))
    views = [{p: (i.leader, tuple(i.replicas), tuple(i.isrs)) for p, i in metadata(b, "spread").topics["spread"]
              .partitions.items()} for b in cluster]
    assert views[0] == views[1] == views[2]
    for p, (leader, replicas, isr) in views[0].items():
        assert sorted(replicas) == [1, 2, 3] and sorted(isr) == [1, 2, 3]
    for b in cluster:
        for p in range(3):
            wait_for("the log of spread-%d on broker %d" % (p, b.broker_id),
                     lambda b=b, p=p: (b.dir / "data" / ("spread-%d" % p)).is_dir())


def test_a_dead_leader_is_replaced_from_the_isr_and_leaves_it(cluster):
    b1, b2, b3 = cluster
    a = AdminClient({"bootstrap.servers": b1.bootstrap})
    a.create_topics([NewTopic("failover", num_partitions=1, replication_factor=3)])["failover"].result(30)
    part = wait_for("a leader", lambda: (p := partition(b1, "failover")) and p.leader in (1, 2, 3) and p)
    old_leader = part.leader
    victim = cluster[old_leader - 1]
    survivors = [b for b in cluster if b is not victim]
    victim.kill9()
    # ZooKeeper notices after the session timeout (6 s in the harness); the
    # controller (a survivor, or a new one elected) moves the leadership.
    for b in survivors:
        p = wait_for("broker %d to show a new leader" % b.broker_id,
                     lambda b=b: (p := partition(b, "failover")) and p.leader not in (-1, old_leader) and p,
                     timeout=40)
        assert p.leader in (s.broker_id for s in survivors)
        assert old_leader not in p.isrs, "the dead broker left the ISR"
        assert sorted(p.isrs) == sorted(s.broker_id for s in survivors)
        assert set(metadata(b).brokers) == {s.broker_id for s in survivors}
    # The dead broker comes back: it is live again and hosts its replica,
    # outside the ISR until it has caught up.
    victim.start()
    for b in cluster:
        wait_for("broker %d to list the returned broker" % b.broker_id,
                 lambda b=b: set(metadata(b).brokers) == {1, 2, 3})


def test_a_deleted_topic_goes_from_every_broker(cluster):
    b1, b2, b3 = cluster
    a = AdminClient({"bootstrap.servers": b3.bootstrap})
    a.create_topics([NewTopic("doomed", num_partitions=2, replication_factor=3)])["doomed"].result(30)
    for b in cluster:
        wait_for("doomed on broker %d" % b.broker_id, lambda b=b: (b.dir / "data" / "doomed-1").is_dir())
    a.delete_topics(["doomed"])["doomed"].result(30)
    for b in cluster:
        wait_for("broker %d to forget doomed" % b.broker_id,
                 lambda b=b: "doomed" not in metadata(b).topics)
        wait_for("doomed's logs to go from broker %d" % b.broker_id,
                 lambda b=b: not any(d.name.startswith("doomed-") and not d.name.endswith("-delete")
                                     for d in (b.dir / "data").iterdir()))


def test_a_new_controller_takes_the_dead_controller_out_of_every_isr(cluster):
    """The controller dies: the broker elected after it never saw it alive, so
    it must find it missing from the live brokers and take it out of every
    ISR, also of partitions whose leader lives (else acks=all would wait for
    it forever)."""
    b1 = cluster[0]
    a = AdminClient({"bootstrap.servers": b1.bootstrap})
    a.create_topics([NewTopic("spread-out", num_partitions=6, replication_factor=3)])["spread-out"].result(30)
    wait_for("leaders", lambda: (t := metadata(b1, "spread-out").topics.get("spread-out")) and t.error is None
             and len(t.partitions) == 6 and all(p.leader > 0 and len(p.isrs) == 3 for p in t.partitions.values()))
    dead = cluster[metadata(b1).controller_id - 1]
    survivors = [b for b in cluster if b is not dead]
    dead.kill9()

    def clean(b):
        md = metadata(b, "spread-out")
        t = md.topics.get("spread-out")
        return (md.controller_id != dead.broker_id and t is not None and t.error is None and len(t.partitions) == 6
                and all(p.leader in (s.broker_id for s in survivors) and dead.broker_id not in p.isrs
                        for p in t.partitions.values()))
    for b in survivors:
        wait_for("broker %d: no partition led by or in sync with the dead controller" % b.broker_id,
                 lambda b=b: clean(b), timeout=40)
