"""Topic and config administration through real clients: confluent-kafka's
AdminClient (librdkafka) and kafka-python's KafkaAdminClient."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from test_produce_consume import consume, produce


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def wait(futures, timeout=30):
    return {k: f.result(timeout=timeout) for k, f in futures.items()}


def error_of(future):
    try:
        future.result(timeout=30)
    except KafkaException as e:
        return e.args[0]
    return None


def test_create_topics_with_partitions_and_configs_then_describe(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("orders", num_partitions=4, replication_factor=1,
                                   config={"retention.ms": "3600000", "cleanup.policy": "compact"})]))
    md = a.list_topics(timeout=10)
    t = md.topics["orders"]
    assert sorted(t.partitions) == [0, 1, 2, 3]
    assert all(p.leader == 0 and p.isrs == [0] for p in t.partitions.values())
    res = ConfigResource(ConfigResource.Type.TOPIC, "orders")
    configs = wait(a.describe_configs([res]))[res]
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
    assert configs["cleanup.policy"].value == "compact"
    assert configs["segment.bytes"].is_default
    assert configs["segment.bytes"].value == "1073741824"


def test_create_topic_errors_are_kafkas(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("dup", num_partitions=1, replication_factor=1)]))
    cases = {
        "dup": (NewTopic("dup", num_partitions=1, replication_factor=1), KafkaError.TOPIC_ALREADY_EXISTS),
        "rf": (NewTopic("rf3", num_partitions=1, replication_factor=3), KafkaError.INVALID_REPLICATION_FACTOR),
        "parts": (NewTopic("zero", num_partitions=0, replication_factor=1), KafkaError.INVALID_PARTITIONS),
        "name": (NewTopic("bad/name", num_partitions=1, replication_factor=1), KafkaError.TOPIC_EXCEPTION),
        "config": (NewTopic("badcfg", num_partitions=1, replication_factor=1, config={"retention.msx": "1"}),
                   KafkaError.INVALID_CONFIG),
        "value": (NewTopic("badval", num_partitions=1, replication_factor=1, config={"segment.bytes": "3"}),
                  KafkaError.INVALID_CONFIG),
    }
    for label, (topic, expected) in cases.items():
        err = error_of(a.create_topics([topic])[topic.topic])
        assert err is not None and err.code() == expected, (label, err)
    assert "rf3" not in a.list_topics(timeout=10).topics
    # A name twice in one request: every entry of it INVALID_REQUEST, none created, the rest as usual.
    from kafka_schema import KafkaConnection
    with KafkaConnection(broker.port) as conn:
        for v in range(conn.served("CreateTopics")[1] + 1):
            twice = {"Name": "twice-%d" % v, "NumPartitions": 1, "ReplicationFactor": 1, "Assignments": [],
                     "Configs": []}
            once = dict(twice, Name="once-%d" % v)
            resp = conn.call("CreateTopics", v, {"Topics": [twice, once, twice], "TimeoutMs": 10000,
                                                 "ValidateOnly": False})
            got = [(t["Name"], t["ErrorCode"], t.get("ErrorMessage")) for t in resp["Topics"]]
            message = "Found multiple entries for this topic." if v >= 1 else None  # v0 has no message field
            assert got == [("twice-%d" % v, 42, message), ("once-%d" % v, 0, None), ("twice-%d" % v, 42, message)], v
    topics = a.list_topics(timeout=10).topics
    assert not any(t.startswith("twice-") for t in topics) and "once-0" in topics


def test_validate_only_creates_nothing(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("dry", num_partitions=3, replication_factor=1)], validate_only=True))
    time.sleep(0.3)
    assert "dry" not in a.list_topics(timeout=10).topics


def test_create_partitions_grows_a_topic_and_refuses_shrinking(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("grow", num_partitions=2, replication_factor=1)]))
    wait(a.create_partitions([NewPartitions("grow", 5)]))
    assert sorted(a.list_topics(timeout=10).topics["grow"].partitions) == [0, 1, 2, 3, 4]
    produce(broker.bootstrap, "grow", [{"value": b"x", "partition": 4}])
    err = error_of(a.create_partitions([NewPartitions("grow", 3)])["grow"])
    assert err is not None and err.code() == KafkaError.INVALID_PARTITIONS
    # A topic named twice in one request grows by neither entry and gets one result, as in Kafka.
    from kafka_schema import KafkaConnection
    with KafkaConnection(broker.port) as conn:
        for v in range(conn.served("CreatePartitions")[1] + 1):
            resp = conn.call("CreatePartitions", v, {"Topics": [
                {"Name": "grow", "Count": 6, "Assignments": None}, {"Name": "grow", "Count": 7, "Assignments": None}],
                "TimeoutMs": 5000, "ValidateOnly": False})
            assert [(r["Name"], r["ErrorCode"], r["ErrorMessage"]) for r in resp["Results"]] == \
                [("grow", 42, "Duplicate topic in request.")], "CreatePartitions v%d" % v
    assert sorted(a.list_topics(timeout=10).topics["grow"].partitions) == [0, 1, 2, 3, 4]


def test_delete_topics_removes_data_and_metadata(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("gone", num_partitions=2, replication_factor=1)]))
    produce(broker.bootstrap, "gone", [{"value": b"x"}] * 10)
    wait(a.delete_topics(["gone"]))
    assert "gone" not in a.list_topics(timeout=10).topics
    err = error_of(a.delete_topics(["gone"])["gone"])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Re-created under the same name, the topic starts empty.
    wait(a.create_topics([NewTopic("gone", num_partitions=1, replication_factor=1)]))
    produce(broker.bootstrap, "gone", [{"value": b"new"}])
    got = consume(broker.bootstrap, "gone", 1)
    assert got[0].offset() == 0 and got[0].value() == b"new"


def test_delete_disabled_is_refused(make_broker):
    b = make_broker(extra_config="delete.topic.enable: false\n").start()
    a = admin(b)
    wait(a.create_topics([NewTopic("keep", num_partitions=1, replication_factor=1)]))
    err = error_of(a.delete_topics(["keep"])["keep"])
    assert err is not None and err.code() == KafkaError.TOPIC_DELETION_DISABLED
    assert "keep" in a.list_topics(timeout=10).topics


def test_alter_configs_applies_to_produce_at_once(broker):
    a = admin(broker)
    wait(a.create_topics([NewTopic("limits", num_partitions=1, replication_factor=1)]))
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("limits", value=b"x" * 5000)
    assert p.flush(30) == 0  # the producer knows the topic's leader before the change
    res = ConfigResource(ConfigResource.Type.TOPIC, "limits", set_config={"max.message.bytes": "2000"})
    wait(a.alter_configs([res]))
    # The broker that answered has applied the change: the very next record is
    # held to it (another broker would hear of it from the store a moment later).
    result = {}
    p.produce("limits", value=b"x" * 5000, on_delivery=lambda err, msg: result.setdefault("err", err))
    p.flush(30)
    assert result["err"] is not None and result["err"].code() == KafkaError.MSG_SIZE_TOO_LARGE
    desc = wait(a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "limits")]))
    assert list(desc.values())[0]["max.message.bytes"].value == "2000"
    bad = ConfigResource(ConfigResource.Type.TOPIC, "limits", set_config={"no.such.key": "1"})
    err = error_of(a.alter_configs([bad])[bad])
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG


def test_broker_configs_are_described_from_the_file(make_broker):
    b = make_broker(extra_config="log.retention.hours: 24\n").start()
    a = admin(b)
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = wait(a.describe_configs([res]))[res]
    assert configs["log.retention.hours"].value == "24"
    assert configs["log.retention.hours"].source == 4  # STATIC_BROKER_CONFIG
    assert configs["num.partitions"].is_default


def test_kafka_python_admin_round_trip(broker):
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic, ConfigResource as KRes, ConfigResourceType
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="kp-admin")
    try:
        a.create_topics([KNewTopic("kp", num_partitions=3, replication_factor=1,
                                   topic_configs={"retention.bytes": "1048576"})])
        cluster = a.describe_cluster()
        assert cluster["controller_id"] == 0
        assert [b["node_id"] for b in cluster["brokers"]] == [0]
        described = a.describe_configs([KRes(ConfigResourceType.TOPIC, "kp")])
        entries = {e[0]: e[1] for e in described[0].resources[0][4]}
        assert entries["retention.bytes"] == "1048576"
        assert "kp" in a.list_topics()
        a.delete_topics(["kp"])
        deadline = time.time() + 10
        while "kp" in a.list_topics() and time.time() < deadline:
            time.sleep(0.1)
        assert "kp" not in a.list_topics()
    finally:
        a.close()


def test_dynamic_broker_configs_apply_to_topics_and_survive_a_restart(make_broker):
    b = make_broker().start()
    a = admin(b)
    wait(a.create_topics([NewTopic("dyn", num_partitions=1, replication_factor=1)]))
    # The cluster-wide default (empty broker name): confluent-kafka cannot name
    # it, kafka-python can.
    from kafka.admin import KafkaAdminClient, ConfigResource as KRes, ConfigResourceType
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    result = kp.alter_configs([KRes(ConfigResourceType.BROKER, "", configs={"message.max.bytes": "3000"})])
    assert result.resources[0][0] == 0, result
    kp.close()
    # The default entity describes only what was set on it (kafka-configs --entity-default), as in Kafka
    # (kafka-python will not name it in a DescribeConfigs: the request is made by hand).
    from kafka_schema import KafkaConnection
    with KafkaConnection(b.port) as conn:
        for v in range(conn.served("DescribeConfigs")[1] + 1):
            resp = conn.call("DescribeConfigs", v, {"Resources": [
                {"ResourceType": 4, "ResourceName": "", "ConfigurationKeys": None}], "IncludeSynonyms": True})
            [r] = resp["Results"]
            assert r["ErrorCode"] == 0
            got = [(c["Name"], c["Value"], c.get("ConfigSource", 3), c["ReadOnly"]) for c in r["Configs"]]
            assert got == [("message.max.bytes", "3000", 3, False)], "DescribeConfigs v%d" % v  # DYNAMIC_DEFAULT_BROKER
    topic = ConfigResource(ConfigResource.Type.TOPIC, "dyn")
    deadline = time.time() + 10
    while time.time() < deadline:
        entry = wait(a.describe_configs([topic]))[topic]["max.message.bytes"]
        if entry.value == "3000":
            break
        time.sleep(0.1)
    assert entry.value == "3000" and entry.source == 3  # DYNAMIC_DEFAULT_BROKER_CONFIG
    p = Producer({"bootstrap.servers": b.bootstrap})
    result = {}
    p.produce("dyn", value=b"x" * 8000, on_delivery=lambda err, msg: result.setdefault("err", err))
    p.flush(30)
    assert result["err"] is not None and result["err"].code() == KafkaError.MSG_SIZE_TOO_LARGE
    # This broker's own value wins over the cluster default.
    wait(a.alter_configs([ConfigResource(ConfigResource.Type.BROKER, "0",
                                         set_config={"message.max.bytes": "100000"})]))
    broker = ConfigResource(ConfigResource.Type.BROKER, "0")
    assert b.stop() == 0
    b.start()
    a = admin(b)
    entry = wait(a.describe_configs([broker]))[broker]["message.max.bytes"]
    assert entry.value == "100000" and entry.source == 2  # DYNAMIC_BROKER_CONFIG
    produce(b.bootstrap, "dyn", [{"value": b"x" * 8000}])
    # Keys that need a restart are refused.
    bad = ConfigResource(ConfigResource.Type.BROKER, "0", set_config={"num.network.threads": "8"})
    err = error_of(a.alter_configs([bad])[bad])
    assert err is not None and err.code() == KafkaError.INVALID_REQUEST


def test_a_compacted_topic_keeps_the_latest_value_per_key_at_its_original_offsets(make_broker):
    b = make_broker(extra_config="log.cleaner.backoff.ms: 100\n").start()
    a = admin(b)
    wait(a.create_topics([NewTopic("compacted", num_partitions=1, replication_factor=1,
                                   config={"cleanup.policy": "compact", "segment.bytes": "2000",
                                           "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})]))
    messages = [{"key": b"k%d" % (i % 10), "value": b"v%d" % i} for i in range(400)]
    messages.append({"key": b"k3", "value": None})  # a tombstone for k3
    produce(b.bootstrap, "compacted", messages, **{"batch.size": 200, "linger.ms": 0})
    latest = {}
    for offset, m in enumerate(messages):
        latest[m["key"]] = (offset, m["value"])
    deadline = time.time() + 30
    while time.time() < deadline:
        everything = consume(b.bootstrap, "compacted", 10 ** 6, timeout=3)
        if len(everything) < 100:
            break
        time.sleep(0.5)
    offsets = [m.offset() for m in everything]
    assert offsets == sorted(offsets), "compaction never renumbers or reorders"
    assert len(everything) < 100, "the cleaner did not run (%d records left)" % len(everything)
    seen = {}
    for m in everything:
        seen[m.key()] = (m.offset(), m.value())
    # Every key's latest record survives at its original offset (the
    # tombstone may be gone already: delete.retention.ms is 0).
    for key, (offset, value) in latest.items():
        if value is None:
            assert key not in seen or seen[key] == (offset, None)
        else:
            assert seen[key] == (offset, value), key
