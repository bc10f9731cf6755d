"""Confluent v3 records produce and cluster-wide broker configs on one keel
process, with real HTTP requests; what REST writes is read back with real
clients: confluent-kafka consumes the records (key, value, headers,
timestamp, partition by Kafka's murmur2 as a Java producer picks it) and
kafka-python's DescribeConfigs sees the broker configs; an ACL that refuses
WRITE refuses the REST produce as it refuses a Kafka producer."""

import base64
import json
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka.admin import KafkaAdminClient

from kafka_schema import KafkaConnection

from test_rest_api import AUTHORIZER, Rest, start, wait_serving

TOPIC_AUTHORIZATION_FAILED = 29


def b64(data):
    return base64.b64encode(data).decode()


def read_all(b, topic, partition, count):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    try:
        for _ in range(60):
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m)
            if len(out) >= count:
                break
    finally:
        c.close()
    return out


def test_records_produce_is_what_a_consumer_reads(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic = "rec-" + uuid.uuid4().hex[:6]
    base = "/v3/clusters/%s/topics/%s/records" % (cid, topic)
    assert rest.call("POST", "/v3/clusters/%s/topics" % cid, {"topic_name": topic, "partitions_count": 3})[0] == 201

    status, body, _ = rest.call("POST", base, {
        "partition_id": 2, "headers": [{"name": "trace", "value": b64(b"abc")}],
        "key": {"type": "STRING", "data": "k1"}, "value": {"type": "JSON", "data": {"n": 1, "s": "x"}},
        "timestamp": "2024-05-01T12:00:00.250Z"})
    assert status == 200, body
    assert body["error_code"] == 200 and body["cluster_id"] == cid and body["topic_name"] == topic
    assert body["partition_id"] == 2 and body["offset"] == 0
    assert body["timestamp"] == "2024-05-01T12:00:00.250Z"
    assert body["key"] == {"type": "STRING", "size": 2} and body["value"]["type"] == "JSON"
    status, second, _ = rest.call("POST", base, {"partition_id": 2, "value": {"type": "BINARY", "data": b64(b"\x00\xff")}})
    assert status == 200 and second["offset"] == 1 and second["key"] is None

    (first, binary) = read_all(b, topic, 2, 2)
    assert first.key() == b"k1" and json.loads(first.value()) == {"n": 1, "s": "x"}
    assert first.headers() == [("trace", b"abc")]
    assert first.timestamp()[1] == 1714564800250
    assert binary.key() is None and binary.value() == b"\x00\xff"

    # Without partition_id, the key picks the partition as librdkafka's murmur2 partitioner does.
    p = Producer({"bootstrap.servers": b.bootstrap, "partitioner": "murmur2"})
    placed = {}
    for key in ("alpha", "beta", "gamma", "delta"):
        p.produce(topic, key=key, value=b"v", on_delivery=lambda e, m, key=key: placed.__setitem__(key, m.partition()))
    p.flush(10)
    for key, partition in placed.items():
        status, body, _ = rest.call("POST", base, {"key": {"type": "STRING", "data": key},
                                                   "value": {"type": "STRING", "data": "r"}})
        assert status == 200 and body["partition_id"] == partition, (key, body, placed)

    # Bad input: 4xx naming it, nothing written.
    for bad, code, words in (({"value": {"type": "AVRO", "data": 1}}, 400, "BINARY, JSON or STRING"),
                             ({"value": {"type": "BINARY", "data": "!!"}}, 400, "not base64"),
                             ({"value": {"data": "x"}}, 400, "'type' is required"),
                             ({"partition_id": 9, "value": {"type": "STRING", "data": "x"}}, 404, "no partition 9"),
                             ({"timestamp": "yesterday"}, 400, "ISO 8601"),
                             ({"valeu": {}}, 400, "unknown field 'valeu'")):
        status, body, _ = rest.call("POST", base, bad)
        assert status == code and words in body["message"], (bad, body)
    status, body, _ = rest.call("POST", "/v3/clusters/%s/topics/nope-%s/records" % (cid, topic),
                                {"value": {"type": "STRING", "data": "x"}})
    assert status == 404 and body["error_code"] == 40403
    # Partition 2 holds the two records above, and each keyed one placed there (by the producer and by REST).
    expected = 2 + 2 * sum(1 for partition in placed.values() if partition == 2)
    assert len(read_all(b, topic, 2, expected + 1)) == expected


def test_cluster_wide_and_per_broker_configs(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    base = "/v3/clusters/" + cid
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        def described(name):
            # kafka-python cannot name the cluster-wide entity (""): the request from Kafka's schema.
            with KafkaConnection(b.port) as conn:
                r = conn.call("DescribeConfigs", 1, {"Resources": [
                    {"ResourceType": 4, "ResourceName": name, "ConfigurationKeys": None}], "IncludeSynonyms": False})
            (res,) = r["Results"]
            assert res["ErrorCode"] == 0, res
            return {c["Name"]: c["Value"] for c in res["Configs"]}

        assert rest.call("PUT", base + "/broker-configs/log.retention.ms", {"value": "7200000"})[0] == 204
        status, c, _ = rest.call("GET", base + "/broker-configs/log.retention.ms")
        assert status == 200 and c["kind"] == "KafkaClusterConfig" and c["config_type"] == "BROKER"
        assert c["value"] == "7200000" and c["metadata"]["resource_name"] == \
            "crn:///kafka=%s/broker-config=log.retention.ms" % cid
        assert "broker_id" not in c
        assert described("").get("log.retention.ms") == "7200000"
        status, listed, _ = rest.call("GET", base + "/broker-configs")
        assert status == 200 and listed["kind"] == "KafkaClusterConfigList"
        assert [x["name"] for x in listed["data"]] == ["log.retention.ms"]

        status, _, _ = rest.call("POST", base + "/broker-configs:alter", {"data": [
            {"name": "log.retention.ms", "operation": "DELETE"},
            {"name": "log.retention.bytes", "value": "1073741824"}], "validate_only": True})
        assert status == 204 and described("").get("log.retention.ms") == "7200000"  # validate only
        assert rest.call("DELETE", base + "/broker-configs/log.retention.ms")[0] == 204
        assert "log.retention.ms" not in described("")
        assert rest.call("GET", base + "/broker-configs/log.retention.ms")[0] == 404

        # One broker's own value, and a wrong value refused by Kafka's check.
        # With ZooKeeper a broker's own dynamic value takes effect when the
        # change notification reaches it (as in Kafka): DescribeConfigs may
        # show the old value for a moment.
        def eventually(check, timeout=10.0):
            deadline = time.monotonic() + timeout
            while not check() and time.monotonic() < deadline:
                time.sleep(0.1)
            return check()

        assert rest.call("PUT", base + "/brokers/0/configs/log.retention.ms", {"value": "3600000"})[0] == 204
        assert eventually(lambda: described("0")["log.retention.ms"] == "3600000"), described("0")
        status, body, _ = rest.call("PUT", base + "/brokers/0/configs/log.retention.ms", {"value": "soon"})
        assert status == 400 and body["kafka_error_code"] in (40, 42), body
        assert rest.call("POST", base + "/brokers/0/configs:alter",
                         {"data": [{"name": "log.retention.ms", "operation": "DELETE"}]})[0] == 204
        assert eventually(lambda: described("0")["log.retention.ms"] != "3600000"), described("0")
        assert rest.call("PUT", base + "/brokers/x/configs/log.retention.ms", {"value": "1"})[0] == 404
    finally:
        admin.close()


def test_produce_needs_write_like_a_producer(make_broker):
    b = start(make_broker, AUTHORIZER)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic = "locked-" + uuid.uuid4().hex[:6]
    assert rest.call("POST", "/v3/clusters/%s/topics" % cid, {"topic_name": topic, "partitions_count": 1})[0] == 201
    status, _, _ = rest.call("POST", "/v3/clusters/%s/acls:batch" % cid, {"data": [
        {"resource_type": "TOPIC", "resource_name": topic, "pattern_type": "LITERAL",
         "principal": "User:ANONYMOUS", "host": "*", "operation": "WRITE", "permission": "DENY"},
        {"resource_type": "TOPIC", "resource_name": "*", "pattern_type": "LITERAL",
         "principal": "User:ANONYMOUS", "host": "*", "operation": "ALL", "permission": "ALLOW"}]})
    assert status == 201
    status, body, _ = rest.call("POST", "/v3/clusters/%s/topics/%s/records" % (cid, topic),
                                {"value": {"type": "STRING", "data": "x"}})
    assert status == 403 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED, body
    p = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 5000})
    errors = []
    p.produce(topic, b"x", on_delivery=lambda e, m: errors.append(e))
    p.flush(10)
    assert errors and errors[0] is not None and errors[0].code() == TOPIC_AUTHORIZATION_FAILED
