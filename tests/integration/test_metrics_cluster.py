"""/metrics on a three-broker cluster (a real ZooKeeper): each partition's
series come from its leader only and each group's from its coordinator only,
so the sum over brokers is the cluster's figure, as dashboards compute it."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, free_port
from test_cluster import metadata, wait_for, zk  # noqa: F401 (zk: the fixture, and the cluster marker)
from test_metrics import consume, http_get, scrape


@pytest.fixture
def cluster(zk, tmp_path):
    chroot = zk.connect + "/metrics-" + uuid.uuid4().hex[:8]
    brokers = []
    for i in (1, 2, 3):
        port = free_port()
        b = Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot,
                   extra_config="http.listeners: http://127.0.0.1:%d\noffsets.topic.num.partitions: 3\n" % port)
        b.http_port = port
        brokers.append(b.start())
    for b in brokers:
        wait_for("broker %d to see the cluster" % b.broker_id, lambda b=b: set(metadata(b).brokers) == {1, 2, 3})
    yield brokers
    for b in brokers:
        b.stop()


def series(scrapes, name, **labels):
    """[(broker index, labels, value)] of `name` matching labels, over all scrapes."""
    out = []
    for i, s in enumerate(scrapes):
        for l, v in s.get(name, []):
            if all(l.get(k) == str(want) for k, want in labels.items()):
                out.append((i, l, v))
    return out


def test_per_broker_series_sum_to_the_cluster(cluster):
    topic = "spread-" + uuid.uuid4().hex[:6]
    bootstrap = ",".join(b.bootstrap for b in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(30):
        p.produce(topic, b"v%d" % i, partition=i % 3)
    assert p.flush(30) == 0
    group = "g-" + uuid.uuid4().hex[:8]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    consume(c, 30)
    c.commit(asynchronous=False)
    try:
        # Followers catch up (every ISR full) before the sums are checked.
        def settled():
            s = [scrape(b.http_port) for b in cluster]
            urp = sum(v for _, _, v in series(s, "kafka_server_replicamanager_underreplicatedpartitions"))
            offsets = series(s, "kafka_consumergroup_current_offset", consumergroup=group)
            return s if urp == 0 and len(offsets) == 3 else None
        s = wait_for("the cluster to settle", settled, timeout=30)

        assert sum(v for _, _, v in series(s, "kafka_controller_kafkacontroller_activecontrollercount")) == 1
        # Leaders: every partition of the cluster is led by exactly one broker.
        leaders = sum(v for _, _, v in series(s, "kafka_server_replicamanager_leadercount"))
        global_partitions = sum(v for _, _, v in series(s, "kafka_controller_kafkacontroller_globalpartitioncount"))
        assert leaders == global_partitions == 3 + 3  # the topic and __consumer_offsets
        assert len([v for _, _, v in series(s, "kafka_controller_kafkacontroller_globaltopiccount") if v > 0]) == 1
        # Every broker hosts every replica of the topic ...
        assert sum(v for _, _, v in series(s, "kafka_server_replicamanager_partitioncount")) >= 9
        # ... but a partition's series come from its leader alone.
        end = series(s, "kafka_topic_partition_current_offset", topic=topic)
        assert sorted(l["partition"] for _, l, _ in end) == ["0", "1", "2"]
        assert sum(v for _, _, v in end) == 30
        replicas = series(s, "kafka_cluster_partition_replicascount", topic=topic)
        assert sum(v for _, _, v in replicas) == 9, "3 per partition, 0 on followers"
        assert sum(v for _, _, v in series(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic)) == 30
        # The group's series come from its coordinator alone, for all three
        # partitions (it hosts a replica of each: lag known everywhere).
        offsets = series(s, "kafka_consumergroup_current_offset", consumergroup=group)
        assert len({i for i, _, _ in offsets}) == 1, "one broker (the coordinator) emits the group"
        assert sorted(l["partition"] for _, l, _ in offsets) == ["0", "1", "2"]
        assert sum(v for _, _, v in offsets) == 30
        lag = series(s, "kafka_consumergroup_lag", consumergroup=group)
        assert len(lag) == 3 and sum(v for _, _, v in lag) == 0
        members = series(s, "kafka_consumergroup_members", consumergroup=group)
        assert len(members) == 1 and members[0][2] == 1
        assert len(series(s, "keel_consumergroup_status", consumergroup=group, status="OK")) == 1
        # The histogram adds up across brokers; each broker answered requests.
        produce = series(s, "keel_request_latency_seconds_count", request="Produce")
        assert sum(v for _, _, v in produce) >= 1
        assert len({i for i, _, _ in series(s, "keel_request_latency_seconds_count")}) == 3
        for b in cluster:
            assert http_get(b.http_port, "/ready")[0] == 200
    finally:
        c.close()
