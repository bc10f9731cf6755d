"""Topic deletion as Kafka's ZooKeeper-mode controller runs it
(TopicDeletionManager), with keel processes and a real ZooKeeper: a topic's
nodes leave the store only once every replica has deleted its log. A replica
whose broker is down (kill -9) waits for it: the topic stays in
/admin/delete_topics (read with ZooKeeper's own zkCli), clients see it as
deleted, a topic of that name cannot be created meanwhile, and when the
broker comes back its log goes and the name is free. A topic being
reassigned is deleted only once the reassignment is done; CreatePartitions
is refused while it moves. A replica a reassignment removed while its broker
was down deletes its log when the broker returns."""

import signal
import subprocess

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from cluster_harness import by_id, live, start_cluster, stop_cluster
from test_cluster import metadata, partition, wait_for, zk  # noqa: F401 (fixture)
from test_produce_consume import consume
from test_reassignment import ZKCLI, alter_ok, create, ongoing, wait_reassigned
from test_replication import produce_acked

REASSIGNMENT_IN_PROGRESS = 60


class Brokers:
    """What test_reassignment's helpers need of a cluster (alive, any, controller, [id])."""

    def __init__(self, brokers):
        self.brokers = brokers

    def __getitem__(self, broker_id):
        return by_id(self.brokers, broker_id)

    def alive(self):
        return live(self.brokers)

    def any(self):
        return self.alive()[0]

    def controller(self):
        return wait_for("a controller", lambda: next(
            (b for b in self.alive() if b.broker_id == metadata(self.any()).controller_id), None), timeout=60)


@pytest.fixture
def three(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path, "deletion", ids=(1, 2, 3))
    yield Brokers(brokers)
    stop_cluster(brokers)


@pytest.fixture
def four(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path, "deletion", ids=(1, 2, 3, 4))
    yield Brokers(brokers)
    stop_cluster(brokers)


@pytest.fixture
def four_long_sessions(zk, tmp_path):
    # Sessions long enough that a broker stopped (SIGSTOP) for a while stays registered.
    brokers = start_cluster(zk, tmp_path, "deletion", ids=(1, 2, 3, 4),
                            extra_config="zookeeper.session.timeout.ms: 30000\n")
    yield Brokers(brokers)
    for b in brokers:
        if b.alive():
            b.proc.send_signal(signal.SIGCONT)
    stop_cluster(brokers)


def zk_exists(cluster, path):
    """Whether the node exists, as zkCli sees it (in the cluster's chroot)."""
    out = subprocess.run([ZKCLI, "-server", cluster.brokers[0].zookeeper, "stat", path],
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert "Node does not exist" in text or "cZxid" in text, text
    return "cZxid" in text


def log_dirs(broker, topic):
    """The topic's partition directories on the broker (not those renamed for deletion)."""
    return sorted(d.name for d in (broker.dir / "data").iterdir()
                  if d.name.startswith(topic + "-") and not d.name.endswith("-delete"))


def create_error(cluster, topic):
    """The KafkaError CreateTopics answers for topic (None when created)."""
    a = AdminClient({"bootstrap.servers": cluster.any().bootstrap})
    try:
        a.create_topics([NewTopic(topic, 1, replication_factor=1)])[topic].result(30)
        return None
    except KafkaException as e:
        return e.args[0]


def test_a_replica_on_a_dead_broker_keeps_the_topic_being_deleted_until_it_returns(three):
    topic = "doomed"
    c = three.controller()
    dead = next(b for b in three.alive() if b is not c)
    create(three, topic, [[1, 2, 3], [2, 3, 1]])
    assert len(produce_acked(c.bootstrap, topic, [b"d-%d" % i for i in range(500)])) == 500
    for b in three.alive():
        wait_for("both replicas on broker %d" % b.broker_id, lambda b=b: len(log_dirs(b, topic)) == 2)

    dead.kill9()
    others = {b.broker_id for b in three.alive()}
    for b in three.alive():
        wait_for("broker %d to see broker %d gone" % (b.broker_id, dead.broker_id),
                 lambda b=b: set(metadata(b).brokers) == others, timeout=60)
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.delete_topics([topic])[topic].result(30)

    # Clients see it deleted; the live replicas delete their logs; the store keeps it.
    for b in three.alive():
        wait_for("broker %d to forget %s" % (b.broker_id, topic), lambda b=b: topic not in metadata(b).topics)
        wait_for("%s's logs to go from broker %d" % (topic, b.broker_id), lambda b=b: log_dirs(b, topic) == [])
    assert log_dirs(dead, topic) == ["doomed-0", "doomed-1"]
    assert zk_exists(three, "/admin/delete_topics/" + topic), "still being deleted"
    assert zk_exists(three, "/brokers/topics/" + topic)
    err = create_error(three, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err
    assert "marked for deletion" in err.str(), err.str()

    # The broker comes back: StopReplica (delete), then the topic's nodes go.
    dead.start()
    wait_for("broker %d's logs of %s to go" % (dead.broker_id, topic), lambda: log_dirs(dead, topic) == [],
             timeout=60)
    wait_for("the deletion to complete in the store",
             lambda: not zk_exists(three, "/admin/delete_topics/" + topic), timeout=60)
    assert not zk_exists(three, "/brokers/topics/" + topic)
    assert topic not in metadata(dead).topics

    # The name is free: a new topic of that name starts empty.
    wait_for("the topic to be created again", lambda: create_error(three, topic) is None, timeout=30)
    wait_for("the new topic online", lambda: (i := partition(c, topic)) and i.leader > 0)
    assert produce_acked(c.bootstrap, topic, [b"new"]) == {b"new": 0}
    got = consume(c.bootstrap, topic, 1)
    assert got[0].offset() == 0 and got[0].value() == b"new"


def test_a_topic_being_reassigned_is_deleted_once_the_reassignment_completes(four_long_sessions):
    four = four_long_sessions
    topic = "moving"
    c = four.controller()
    a_id, b_id, d_id = [b.broker_id for b in four.alive() if b is not c]
    original, target = [c.broker_id, a_id, b_id], [c.broker_id, a_id, d_id]
    create(four, topic, [original])
    acked = produce_acked(c.bootstrap, topic, [b"m-%d" % i for i in range(1000)])
    assert len(acked) == 1000
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    stuck = four[d_id]
    stuck.proc.send_signal(signal.SIGSTOP)  # the new replica fetches nothing: the move stays under way
    try:
        alter_ok(four, topic, {0: target})
        assert (topic, 0) in ongoing(four)

        # No new partitions while replicas move (Kafka's ZkAdminManager).
        with pytest.raises(KafkaException) as e:
            admin.create_partitions([NewPartitions(topic, 2)])[topic].result(30)
        assert e.value.args[0].code() == REASSIGNMENT_IN_PROGRESS, e.value.args[0]
        assert "reassignment is in progress" in e.value.args[0].str()

        # Deleted meanwhile: marked, but ineligible until the move is done.
        try:
            admin.delete_topics([topic], operation_timeout=2)[topic].result(30)
        except KafkaException as ex:
            assert ex.args[0].code() == KafkaError.REQUEST_TIMED_OUT, ex.args[0]
        assert zk_exists(four, "/admin/delete_topics/" + topic)
        assert (topic, 0) in ongoing(four), "the reassignment goes on"
        assert list(partition(c, topic).replicas) == target + [b_id]
        for r in original:
            assert log_dirs(four[r], topic) == ["moving-0"], "broker %d keeps its replica meanwhile" % r
    finally:
        stuck.proc.send_signal(signal.SIGCONT)

    # The move completes, then the deletion runs: every replica (the removed one too) goes.
    for b in four.alive():
        wait_for("broker %d to forget %s" % (b.broker_id, topic), lambda b=b: topic not in metadata(b).topics,
                 timeout=90)
    wait_for("the deletion to complete in the store",
             lambda: not zk_exists(four, "/admin/delete_topics/" + topic), timeout=60)
    assert not zk_exists(four, "/brokers/topics/" + topic)
    for b in four.alive():
        wait_for("%s's log to go from broker %d" % (topic, b.broker_id), lambda b=b: log_dirs(b, topic) == [],
                 timeout=60)
    assert ongoing(four) == {}


def test_a_replica_removed_while_its_broker_is_down_goes_when_it_returns(four):
    topic = "leaving"
    c = four.controller()
    a_id, b_id, d_id = [b.broker_id for b in four.alive() if b is not c]
    create(four, topic, [[c.broker_id, a_id, b_id]])
    acked = produce_acked(c.bootstrap, topic, [b"l-%d" % i for i in range(1000)])
    assert len(acked) == 1000
    gone = four[b_id]
    gone.kill9()
    wait_for("broker %d out of the ISR" % b_id, lambda: b_id not in partition(c, topic).isrs, timeout=60)

    alter_ok(four, topic, {0: [c.broker_id, a_id, d_id]})
    wait_reassigned(four, topic, {0: [c.broker_id, a_id, d_id]})
    assert log_dirs(gone, topic) == ["leaving-0"]

    gone.start()
    wait_for("broker %d's removed replica to delete its log" % b_id, lambda: log_dirs(gone, topic) == [],
             timeout=60)
    assert list(partition(gone, topic).replicas) == [c.broker_id, a_id, d_id]
    got = consume(gone.bootstrap, topic, len(acked))
    assert {m.value(): m.offset() for m in got} == acked
