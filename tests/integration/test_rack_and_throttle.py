"""Racks and replication throttles (issue 21): three keel processes and a
real ZooKeeper, each broker in its own rack (broker.rack).

- The rack reaches the broker's registration and, through the controller's
  UpdateMetadata, every broker's Metadata and DescribeCluster; CreateTopics
  spreads each partition's replicas over the racks.
- Follower fetching (KIP-392): with RackAwareReplicaSelector the leader
  answers a consumer in another rack preferred_read_replica (no records), the
  follower in that rack serves the consumer's fetches up to its own high
  watermark, and a librdkafka consumer with client.rack reads every record
  from the follower in its rack.
- Replication throttles: a wiped follower catching up on a throttled replica
  takes at least what the rate implies; unthrottled, it is quick.
"""

import shutil
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import Broker
from kafka_schema import KafkaConnection
from test_cluster import metadata, partition, start_all, wait_for, zk  # noqa: F401 (fixtures)
from test_replication import log_bytes, produce_acked

RACKS = {1: "rack-a", 2: "rack-b", 3: "rack-c"}
# Throttles measure their rate over 2 windows of 1 s (Kafka: 11), so a fresh
# quota lets only about one second's worth through at once before it holds.
WINDOWS = 2
NOT_LEADER_OR_FOLLOWER, OFFSET_OUT_OF_RANGE = 6, 1


@pytest.fixture
def rack_cluster(zk, tmp_path):
    """Brokers 1, 2, 3 in racks a, b, c; leaders choose replicas by rack."""
    chroot = zk.connect + "/racks-" + uuid.uuid4().hex[:8]
    brokers = [Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot, extra_config=(
        "broker.rack: %s\n"
        "replica.selector.class: org.apache.kafka.common.replica.RackAwareReplicaSelector\n"
        "replication.quota.window.num: %d\n"
        "replica.fetch.backoff.ms: 200\n" % (RACKS[i], WINDOWS))) for i in (1, 2, 3)]
    start_all(brokers)
    yield brokers
    for b in brokers:
        b.stop()


def batches(records):
    """(base offset, last offset) of each whole batch in a Records blob."""
    out, pos = [], 0
    while records and pos + 12 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        (last_delta,) = struct.unpack_from(">i", records, pos + 23)
        out.append((base, base + last_delta))
        pos += 12 + length
    return out


def fetch(broker, topic, offset, version=11, rack="", replica=-1):
    with KafkaConnection(broker.port) as c:
        resp = c.call("Fetch", version, {
            "ReplicaId": replica, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": 1 << 20, "IsolationLevel": 0,
            "SessionId": 0, "SessionEpoch": -1, "RackId": rack,
            "Topics": [{"Topic": topic, "Partitions": [{"Partition": 0, "FetchOffset": offset,
                                                        "PartitionMaxBytes": 1 << 20}]}]})
    return resp["Responses"][0]["Partitions"][0]


def test_racks_reach_metadata_and_describe_cluster_and_createtopics_spreads_replicas(rack_cluster):
    for b in rack_cluster:
        with KafkaConnection(b.port) as c:
            md = c.call("Metadata", 9, {"Topics": None, "AllowAutoTopicCreation": False})
            assert {x["NodeId"]: x["Rack"] for x in md["Brokers"]} == RACKS, "broker %d's Metadata" % b.broker_id
            dc = c.call("DescribeCluster", 0, {"IncludeClusterAuthorizedOperations": False})
            assert {x["BrokerId"]: x["Rack"] for x in dc["Brokers"]} == RACKS
    admin = AdminClient({"bootstrap.servers": rack_cluster[0].bootstrap})
    admin.create_topics([NewTopic("spread", num_partitions=6, replication_factor=2)])["spread"].result(30)
    t = wait_for("spread's partitions", lambda: (t := metadata(rack_cluster[0], "spread").topics.get("spread"))
                 and t.error is None and len(t.partitions) == 6 and t)
    leaders = {}
    for p in t.partitions.values():
        racks = [RACKS[r] for r in p.replicas]
        assert len(set(racks)) == 2, "partition %d's replicas %s share a rack" % (p.id, p.replicas)
        leaders[p.replicas[0]] = leaders.get(p.replicas[0], 0) + 1
    assert sorted(leaders.values()) == [2, 2, 2], "preferred leaders balanced over the brokers: %s" % leaders
    # CreatePartitions uses the same assignment.
    from confluent_kafka.admin import NewPartitions
    admin.create_partitions([NewPartitions("spread", 9)])["spread"].result(30)
    t = wait_for("nine partitions", lambda: (t := metadata(rack_cluster[0], "spread").topics.get("spread"))
                 and len(t.partitions) == 9 and t)
    assert all(len({RACKS[r] for r in p.replicas}) == 2 for p in t.partitions.values())


def test_a_consumer_reads_from_the_follower_in_its_rack(rack_cluster):
    b1, b2, b3 = rack_cluster
    topic = "near"
    admin = AdminClient({"bootstrap.servers": b1.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]])])[topic].result(30)
    wait_for("leader 1 with a full ISR", lambda: (p := partition(b1, topic)) and p.leader == 1 and len(p.isrs) == 3)
    values = [b"near-%d" % i for i in range(3000)]
    acked = produce_acked(b1.bootstrap, topic, values)
    assert len(acked) == len(values)

    # The leader names the follower in the consumer's rack, and reads nothing itself.
    answer = wait_for("the leader to prefer broker 2 for rack-b",
                      lambda: (a := fetch(b1, topic, 0, rack="rack-b")) and a["PreferredReadReplica"] == 2 and a)
    assert answer["ErrorCode"] == 0 and not answer["Records"]
    assert answer["HighWatermark"] == len(values)
    assert fetch(b1, topic, 0, rack="rack-c")["PreferredReadReplica"] == 3
    own = fetch(b1, topic, 0, rack="rack-a")
    assert own["PreferredReadReplica"] == -1 and own["Records"], "a consumer in the leader's rack reads there"
    assert fetch(b1, topic, 0)["PreferredReadReplica"] == -1, "no client rack: the leader"

    # The follower serves consumers on Fetch v11+, up to its own high watermark.
    served = wait_for("the follower's high watermark to reach the end",
                      lambda: (a := fetch(b2, topic, 0)) and a["HighWatermark"] == len(values) and a)
    assert served["ErrorCode"] == 0 and served["PreferredReadReplica"] == -1
    got = batches(served["Records"])
    assert got and got[0][0] == 0 and all(last < served["HighWatermark"] for _, last in got)
    assert fetch(b2, topic, 0, version=10)["ErrorCode"] == NOT_LEADER_OR_FOLLOWER, "before v11: leaders only"
    # Past the follower's log end: sent to the leader (Kafka: OFFSET_OUT_OF_RANGE,
    # which resets clients without KIP-320; docs/compatibility.md) ...
    assert fetch(b2, topic, len(values) + 100)["ErrorCode"] == NOT_LEADER_OR_FOLLOWER
    # ... and the leader, past its own end, says what Kafka says.
    assert fetch(b1, topic, len(values) + 100)["ErrorCode"] == OFFSET_OUT_OF_RANGE
    assert fetch(b2, topic, len(values))["Records"] in (None, b""), "at its high watermark: nothing yet"

    # A real consumer with client.rack=rack-b, bootstrapped at the leader, gets
    # every record, once and in order, and broker 2 is the one serving it.
    c = Consumer({"bootstrap.servers": b1.bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                  "client.rack": "rack-b", "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "debug": "fetch"})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + 60
    try:
        while len(out) < len(values) and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m)
    finally:
        c.close()
    assert [m.value() for m in out] == values
    assert [m.offset() for m in out] == list(range(len(values)))
    log = b2.log_path.read_text()
    assert "%s-0: serving consumer fetches as a follower" % topic in log
    assert "serving consumer fetches as a follower" not in b3.log_path.read_text(), "rack-c's follower stays idle"


def catch_up_seconds(cluster, topic, follower):
    """Wipes `follower`'s data, restarts it and times until its log is the leader's."""
    leader = cluster[0]
    follower.stop()
    shutil.rmtree(follower.dir / "data")
    follower.start()
    start = time.time()
    wait_for("the wiped follower to catch up",
             lambda: (follower.dir / "data" / (topic + "-0")).is_dir()
             and log_bytes(follower, topic) == log_bytes(leader, topic), timeout=120)
    return time.time() - start


@pytest.mark.parametrize("side", ["follower", "leader"])
def test_a_throttled_catch_up_takes_what_the_rate_implies_and_an_unthrottled_one_does_not(rack_cluster, side):
    b1, b2, b3 = rack_cluster
    rate = 1 << 20
    admin = AdminClient({"bootstrap.servers": b1.bootstrap})
    # The rate belongs to the broker on that side: broker 3 follows, broker 1 leads.
    throttled_broker = "3" if side == "follower" else "1"
    res = ConfigResource("BROKER", throttled_broker, set_config={"%s.replication.throttled.rate" % side: str(rate)})
    admin.alter_configs([res])[res].result(30)
    topics = {"slow": {"%s.replication.throttled.replicas" % side: "*"}, "fast": {}}
    for name, config in topics.items():
        admin.create_topics([NewTopic(name, num_partitions=1, replica_assignment=[[1, 2, 3]],
                                      config=config)])[name].result(30)
        wait_for("%s led by 1 with a full ISR" % name,
                 lambda name=name: (p := partition(b1, name)) and p.leader == 1 and len(p.isrs) == 3)
    values = [b"%06d" % i + b"x" * 994 for i in range(6000)]
    for name in topics:
        acked = produce_acked(b1.bootstrap, name, values, **{"compression.type": "none"})
        assert len(acked) == 6000
    size = len(log_bytes(b1, "slow"))
    assert size > 5 * rate

    fast = catch_up_seconds(rack_cluster, "fast", b3)
    slow = catch_up_seconds(rack_cluster, "slow", b3)
    # The first (windows - 1) seconds' worth passes at once, the rest at the rate.
    floor = (size - (WINDOWS - 1) * rate) / rate
    print("%s throttle: %d bytes, throttled %.1f s (floor %.1f s), unthrottled %.1f s" % (side, size, slow, floor, fast))
    assert slow >= floor * 0.9, "throttled catch-up took %.1f s, the rate implies at least %.1f s" % (slow, floor)
    assert slow < floor * 3 + 10, "throttled, but not stalled"
    assert fast < slow / 2, "the unthrottled topic is not held back (%.1f s vs %.1f s)" % (fast, slow)
