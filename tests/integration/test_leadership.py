"""Moving leadership on purpose: controlled shutdown (SIGTERM hands every
leadership to another ISR member before the broker goes), ElectLeaders
(preferred and unclean, as kafka-leader-election sends it) and the
controller's automatic preferred-leader balancing. Three keel brokers and a
real ZooKeeper; records produced with acks=all while leadership moves must
all be consumable afterwards."""

import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import cluster_harness
from kafka_schema import KafkaConnection
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)

QUICK = "replica.lag.time.max.ms: 3000\n"


def start_cluster(zk, tmp_path, extra=""):
    return cluster_harness.start_cluster(zk, tmp_path, "lead", extra_config=QUICK + extra)


@pytest.fixture
def cluster(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path)
    yield brokers
    for b in brokers:
        b.stop(timeout=30)


@pytest.fixture
def balancing_cluster(zk, tmp_path):
    brokers = start_cluster(zk, tmp_path, "leader.imbalance.check.interval.seconds: 1\n")
    yield brokers
    for b in brokers:
        b.stop(timeout=30)


def partitions(broker, topic):
    t = metadata(broker, topic).topics.get(topic)
    return {} if t is None or t.error is not None else t.partitions


def create(broker, topic, n, rf=3):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=n, replication_factor=rf)])[topic].result(30)
    return wait_for("%s fully in sync" % topic,
                    lambda: (ps := partitions(broker, topic)) and len(ps) == n
                    and all(p.leader >= 0 and len(p.isrs) == rf for p in ps.values()) and ps)


def controller_of(broker):
    return metadata(broker).controller_id


def elect_leaders(cluster, election_type, topic_partitions, version=1):
    """ElectLeaders as kafka-leader-election sends it, to the controller."""
    alive = next(b for b in cluster if b.alive())
    controller = controller_of(alive)
    port = next(b.port for b in cluster if b.broker_id == controller)
    with KafkaConnection(port) as c:
        req = {"TopicPartitions": [{"Topic": t, "Partitions": ps} for t, ps in topic_partitions.items()],
               "TimeoutMs": 10000}
        if version >= 1:
            req["ElectionType"] = election_type
        return c.call("ElectLeaders", version, req)


class BackgroundProducer:
    """acks=all, idempotent, every value distinct; remembers what was acked."""

    def __init__(self, bootstrap, topic):
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 2, "message.timeout.ms": 60000})
        self.topic = topic
        self.acked = set()
        self.errors = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def cb(self, err, msg):
        if err is None:
            self.acked.add(msg.value())
        else:
            self.errors.append(err)

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            self.p.produce(self.topic, value=b"v-%08d" % i, on_delivery=self.cb)
            i += 1
            self.p.poll(0.001)
        self.p.flush(60)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(90)


def consume_all(bootstrap, topic, expected):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "check-" + uuid.uuid4().hex[:6],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = set()
    deadline = time.time() + 60
    while time.time() < deadline and not expected <= got:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.add(m.value())
    c.close()
    return got


def test_sigterm_moves_every_leadership_before_the_broker_stops(cluster):
    b1 = cluster[0]
    topic = "handover"
    ps = create(b1, topic, 6)
    # The broker leading the most partitions goes; one that is not the
    # controller, so the controller's own election stays out of the picture.
    controller = controller_of(b1)
    counts = {b.broker_id: sum(1 for p in ps.values() if p.leader == b.broker_id) for b in cluster}
    victim = max((b for b in cluster if b.broker_id != controller), key=lambda b: counts[b.broker_id])
    assert counts[victim.broker_id] > 0
    survivors = [b for b in cluster if b is not victim]
    with BackgroundProducer(survivors[0].bootstrap, topic) as prod:
        time.sleep(2)
        started = time.time()
        assert victim.stop(timeout=30) == 0
        took = time.time() - started
        # The moment it is gone, the others already lead everything: nothing
        # waits for a session to expire, no partition is without a leader.
        for b in survivors:
            now = partitions(b, topic)
            assert all(p.leader in (s.broker_id for s in survivors) for p in now.values()), \
                {i: p.leader for i, p in now.items()}
            assert all(victim.broker_id not in p.isrs for p in now.values())
        time.sleep(2)
    log = victim.log_path.read_text()
    assert "controlled shutdown succeeded" in log
    assert took < 10, "a controlled shutdown of six partitions took %.1f s" % took
    assert not prod.errors, prod.errors[:3]
    assert len(prod.acked) > 100
    got = consume_all(survivors[0].bootstrap, topic, prod.acked)
    assert prod.acked <= got, "%d acknowledged records missing" % len(prod.acked - got)
    # It comes back as a follower of everything and rejoins every ISR.
    victim.start()
    wait_for("the returned broker back in every ISR",
             lambda: (ps := partitions(survivors[0], topic)) and all(victim.broker_id in p.isrs for p in ps.values()),
             timeout=60)


def test_a_sole_in_sync_replica_keeps_leading_and_the_stop_goes_on(cluster):
    """A partition nobody else can lead stays with the stopping broker until it
    goes (Kafka's rule); the broker retries, then stops anyway."""
    b1 = cluster[0]
    admin = AdminClient({"bootstrap.servers": b1.bootstrap})
    admin.create_topics([NewTopic("lonely", num_partitions=1, replication_factor=1)])["lonely"].result(30)
    create(b1, "paired", 1, rf=2)
    leader = partitions(b1, "paired")[0].leader
    victim = cluster[leader - 1]
    assert victim.stop(timeout=30) == 0
    others = [b for b in cluster if b is not victim]
    p = partitions(others[0], "paired")[0]
    assert p.leader in (b.broker_id for b in others) and p.isrs == [p.leader]


def test_elect_leaders_preferred_moves_leadership_back_to_the_first_replica(cluster):
    b1 = cluster[0]
    topic = "preferred"
    ps = create(b1, topic, 3)
    # Take every partition's preferred leader away and bring it back: it
    # returns as a follower, and only an election makes it lead again.
    first = ps[0].replicas[0]
    victim = cluster[first - 1]
    moved = [i for i, p in ps.items() if p.replicas[0] == first]
    observer = next(b for b in cluster if b is not victim)  # never the restarting broker
    victim.stop(timeout=30)
    victim.start()
    wait_for("the returned broker in every ISR",
             lambda: (ps := partitions(observer, topic)) and all(first in p.isrs for p in ps.values()), timeout=60)
    now = partitions(observer, topic)
    assert all(now[i].leader != first for i in moved), "leadership came back on its own"

    resp = elect_leaders(cluster, 0, {topic: [0, 1, 2]})
    assert resp["ErrorCode"] == 0
    results = {r["PartitionId"]: r["ErrorCode"] for t in resp["ReplicaElectionResults"]
               for r in t["PartitionResult"]}
    for i in range(3):
        # 84 ELECTION_NOT_NEEDED where the preferred replica already led.
        assert results[i] == (0 if i in moved else 84), results
    for b in cluster:
        wait_for("broker %d to show the preferred leaders" % b.broker_id,
                 lambda b=b: all(p.leader == p.replicas[0] for p in partitions(b, topic).values()))

    # Asking a broker that is not the controller: NOT_CONTROLLER (41).
    other = next(b for b in cluster if b.broker_id != controller_of(b1))
    with KafkaConnection(other.port) as c:
        resp = c.call("ElectLeaders", 1, {"ElectionType": 0, "TopicPartitions": [{"Topic": topic, "Partitions": [0]}],
                                          "TimeoutMs": 1000})
    assert resp["ErrorCode"] == 41
    # An unknown partition is named as such (3 UNKNOWN_TOPIC_OR_PARTITION).
    resp = elect_leaders(cluster, 0, {"no-such-topic": [0]})
    assert resp["ReplicaElectionResults"][0]["PartitionResult"][0]["ErrorCode"] == 3


def test_elect_leaders_unclean_brings_back_a_partition_whose_isr_is_gone(cluster):
    b1 = cluster[0]
    topic = "unclean"
    ps = create(b1, topic, 1, rf=2)
    leader = ps[0].leader
    follower = next(r for r in ps[0].replicas if r != leader)
    others = [b for b in cluster if b.broker_id not in (leader, follower)]
    observer = others[0]
    # The follower dies first (it leaves the ISR), then the leader: the
    # partition is offline with the dead leader as its last ISR member.
    cluster[follower - 1].kill9()
    wait_for("the follower out of the ISR", lambda: partitions(observer, topic)[0].isrs == [leader], timeout=40)
    cluster[leader - 1].kill9()
    wait_for("the partition offline", lambda: partitions(observer, topic)[0].leader == -1, timeout=40)
    cluster[follower - 1].start()
    wait_for("the follower live", lambda: follower in metadata(observer).brokers, timeout=40)
    time.sleep(1)
    assert partitions(observer, topic)[0].leader == -1, "a clean election cannot pick the out-of-sync replica"
    # A preferred election cannot help either.
    resp = elect_leaders(cluster, 0, {topic: [0]})
    assert resp["ReplicaElectionResults"][0]["PartitionResult"][0]["ErrorCode"] != 0
    resp = elect_leaders(cluster, 1, {topic: [0]})
    assert resp["ReplicaElectionResults"][0]["PartitionResult"][0]["ErrorCode"] == 0, resp
    p = wait_for("the out-of-sync replica leading",
                 lambda: (p := partitions(observer, topic)[0]) and p.leader == follower and p)
    assert p.isrs == [follower]


def test_the_controller_gives_preferred_replicas_their_leadership_back(balancing_cluster):
    cluster = balancing_cluster
    b1 = cluster[0]
    topic = "balance"
    ps = create(b1, topic, 6)
    assert all(p.leader == p.replicas[0] for p in ps.values())
    controller = controller_of(b1)
    victim = next(b for b in cluster if b.broker_id != controller)
    observer = cluster[controller - 1]
    victim.stop(timeout=30)
    assert all(p.leader != victim.broker_id for p in partitions(observer, topic).values())
    victim.start()
    # Back in the ISRs, then the imbalance check (every second here) makes
    # it lead its preferred partitions again.
    wait_for("every partition led by its preferred replica again",
             lambda: all(p.leader == p.replicas[0] for p in partitions(observer, topic).values()), timeout=60)
    assert "leader imbalance: broker %d" % victim.broker_id in observer.log_path.read_text()
