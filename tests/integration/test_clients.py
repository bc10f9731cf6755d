"""Real Kafka clients against a real keel process: librdkafka (kcat and
confluent-kafka-python) and kafka-python."""

import time

import pytest
import json
import subprocess

from confluent_kafka.admin import AdminClient


def test_kcat_lists_the_broker(broker):
    out = subprocess.run(["kcat", "-L", "-b", broker.bootstrap, "-m", "10"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "1 brokers:" in out.stdout
    assert "broker 0 at 127.0.0.1:%d (controller)" % broker.port in out.stdout
    assert "0 topics:" in out.stdout


def test_kcat_json_metadata(broker):
    out = subprocess.run(["kcat", "-L", "-J", "-b", broker.bootstrap, "-m", "10"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    md = json.loads(out.stdout)
    assert md["controllerid"] == 0
    assert md["brokers"] == [{"id": 0, "name": "127.0.0.1:%d" % broker.port}]
    assert md["topics"] == []


def test_confluent_admin_list_topics(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=10)
    assert list(md.brokers) == [0]
    assert md.brokers[0].host == "127.0.0.1"
    assert md.brokers[0].port == broker.port
    assert md.topics == {}
    assert md.controller_id == 0
    assert len(md.cluster_id) == 22  # Kafka's base64 UUID form


def test_unknown_topic_is_reported_missing_without_auto_create(make_broker):
    b = make_broker(extra_config="auto.create.topics.enable: false\n").start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    md = admin.list_topics(topic="no-such-topic", timeout=10)
    t = md.topics["no-such-topic"]
    assert t.error is not None
    assert t.error.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
    assert admin.list_topics(timeout=10).topics == {}


def test_metadata_for_an_unknown_topic_auto_creates_it(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    first = admin.list_topics(topic="made-on-demand", timeout=10).topics["made-on-demand"]
    # Kafka answers LEADER_NOT_AVAILABLE while the new topic's leader is elected.
    assert first.error is None or first.error.code() == 5
    deadline = time.time() + 10
    while time.time() < deadline:
        t = admin.list_topics(topic="made-on-demand", timeout=10).topics["made-on-demand"]
        if t.error is None and len(t.partitions) == 1 and t.partitions[0].leader == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("auto-created topic never got a leader: %r" % t)


def test_cluster_id_survives_restart(make_broker):
    b = make_broker().start()
    first = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).cluster_id
    assert b.stop() == 0
    b.start()
    second = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).cluster_id
    assert first == second
    assert (b.dir / "data" / "meta.properties").read_text().count("cluster.id=" + first) == 1


def test_kafka_python_negotiates_and_reads_metadata(broker):
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000,
                             api_version_auto_timeout_ms=10000)
    try:
        assert consumer.topics() == set()
        # kafka-python probes ApiVersions and settles on a protocol level.
        assert consumer.config["api_version"] >= (0, 10)
    finally:
        consumer.close()


@pytest.mark.parametrize("api_version", [(0, 9), (0, 10, 1)])
def test_old_protocol_clients_produce_legacy_and_fetch_down_converted(broker, api_version):
    """kafka-python pinned to 0.9 (Produce/Fetch v1, magic 0) and 0.10.1
    (Produce/Fetch v2-3, magic 1): their message sets are up-converted on
    the way in and down-converted on the way out."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP
    topic = "legacy-%d" % api_version[1]
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, api_version=api_version)
    for i in range(20):
        p.send(topic, key=b"k%d" % i, value=b"v%d" % i).get(timeout=30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=api_version, consumer_timeout_ms=5000,
                      enable_auto_commit=False)
    c.assign([KTP(topic, 0)])
    c.seek(KTP(topic, 0), 0)
    got = [(m.offset, m.key, m.value) for m in c]
    c.close()
    assert got == [(i, b"k%d" % i, b"v%d" % i) for i in range(20)]


def test_kafka_python_round_trip_with_keys_values_and_headers(broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type="gzip")
    for i in range(100):
        p.send("kp-rt", key=b"k%d" % i, value=None if i == 7 else b"v%d" % i,
               headers=[("h", b"%d" % i)]).get(timeout=30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=5000, enable_auto_commit=False)
    c.assign([KTP("kp-rt", 0)])
    c.seek_to_beginning()
    got = [(m.offset, m.key, m.value, m.headers) for m in c]
    c.close()
    assert got == [(i, b"k%d" % i, None if i == 7 else b"v%d" % i, [("h", b"%d" % i)]) for i in range(100)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_encodes_every_codec_itself(broker, codec):
    """kafka-python builds its record batches and compresses them in Python
    (its own framing for lz4 and snappy, not librdkafka's): the broker takes
    each codec from it, stores the batch as sent, and librdkafka reads it; and
    the other way round, kafka-python decodes what librdkafka compressed."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP
    from test_produce_consume import CODEC_IDS, consume, produce, stored_codecs
    topic = "kp-" + codec
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec, linger_ms=20)
    futures = [p.send(topic, key=b"k%d" % i, value=b"value %d " % i * 30, headers=[("n", b"%d" % i)])
               for i in range(300)]
    offsets = [f.get(timeout=30).offset for f in futures]
    p.close()
    assert offsets == list(range(300))
    codecs = stored_codecs(broker.dir / "data" / (topic + "-0"))
    assert codecs and set(codecs) == {CODEC_IDS[codec]}, codecs
    got = consume(broker.bootstrap, topic, 300, **{"check.crcs": True})
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == \
        [(i, b"k%d" % i, b"value %d " % i * 30, [("n", b"%d" % i)]) for i in range(300)]

    produce(broker.bootstrap, topic + "-rd", [{"key": b"r%d" % i, "value": b"rd %d " % i * 30} for i in range(300)],
            **{"compression.type": codec})
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=5000, enable_auto_commit=False)
    c.assign([KTP(topic + "-rd", 0)])
    c.seek_to_beginning()
    back = []
    for m in c:  # until all 300, or 5 s without a record
        back.append((m.offset, m.key, m.value))
        if len(back) == 300:
            break
    c.close()
    assert back == [(i, b"r%d" % i, b"rd %d " % i * 30) for i in range(300)]
