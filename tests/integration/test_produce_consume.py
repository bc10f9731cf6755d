"""Produce and consume through real clients (confluent-kafka / librdkafka and
kcat): every codec, keys, null values, headers, timestamps, messages near
max.message.bytes, acks 0/1/all, restarts and kill -9, and the proof that
record bytes leave through sendfile."""

import os
import re
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce(bootstrap, topic, messages, **conf):
    """messages: list of dicts with key/value/headers/timestamp. Returns the
    delivery reports (offset per message, in order)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    reports = [None] * len(messages)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg.offset() if msg is not None else None)
        return cb

    for i, m in enumerate(messages):
        p.produce(topic, value=m.get("value"), key=m.get("key"), headers=m.get("headers"),
                  timestamp=m.get("timestamp", 0), partition=m.get("partition", -1), on_delivery=on_delivery(i))
        p.poll(0)
    assert p.flush(30) == 0, "messages still in flight after 30 s"
    for r in reports:
        assert r is not None and r[0] is None, "delivery failed: %r" % (r,)
    return [r[1] for r in reports]


def consume(bootstrap, topic, count, partitions=1, timeout=30, **conf):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", **conf})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < count and time.time() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError("consume error: %s" % msg.error())
            out.append(msg)
    finally:
        c.close()
    return out


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_every_codec_round_trips_keys_values_headers_and_timestamps(broker, codec):
    topic = "codec-" + codec
    # (A header with a None value round-trips too, but Debian's
    # confluent-kafka crashes at interpreter exit after consuming one — a
    # refcount bug in its C extension — so headers here carry bytes.)
    messages = [{"key": b"k%d" % i, "value": b"v%d" % i * (i % 50 + 1),
                 "headers": [("h", b"x%d" % i), ("empty", b"")], "timestamp": 1700000000000 + i}
                for i in range(500)]
    messages.append({"key": b"tombstone", "value": None})
    messages.append({"key": None, "value": b"no key"})
    offsets = produce(broker.bootstrap, topic, messages, **{"compression.type": codec})
    assert offsets == list(range(len(messages)))
    # check.crcs: librdkafka verifies each fetched batch's CRC-32C, as stored by keel.
    got = consume(broker.bootstrap, topic, len(messages), **{"check.crcs": True})
    assert len(got) == len(messages)
    for i, (m, g) in enumerate(zip(messages, got)):
        assert g.offset() == i
        assert g.key() == m.get("key")
        assert g.value() == m.get("value")
        if "headers" in m:
            assert g.headers() == m["headers"]
        if "timestamp" in m:
            assert g.timestamp() == (1, m["timestamp"])  # CreateTime


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(log_dir):
    """(codec, base offset, last offset) of each batch in a partition's segment files, read from disk."""
    batches = []
    for name in sorted(os.listdir(log_dir)):
        if not name.endswith(".log"):
            continue
        data = open(os.path.join(log_dir, name), "rb").read()
        pos = 0
        while pos + 27 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            if length == 0:
                break  # space reserved past the last batch
            base = int.from_bytes(data[pos:pos + 8], "big")
            last_delta = int.from_bytes(data[pos + 23:pos + 27], "big")
            batches.append((int.from_bytes(data[pos + 21:pos + 23], "big") & 7, base, base + last_delta))
            pos += 12 + length
    return batches


def stored_codecs(log_dir):
    """The codec of each batch in a partition's segment files."""
    return [codec for codec, _, _ in stored_batches(log_dir)]


@pytest.mark.parametrize("topic_codec,producer_codec", [
    ("zstd", "lz4"), ("gzip", "none"), ("uncompressed", "snappy"), ("producer", "snappy"), ("lz4", "lz4")])
def test_the_topic_compression_type_recompresses_or_keeps_the_producers(broker, topic_codec, producer_codec):
    """compression.type on the topic: the batches are stored (and served) in the
    topic's codec whatever the producer used, or as the producer sent them
    with "producer"; records, keys, headers and timestamps come back unchanged."""
    topic = "tc-%s-%s" % (topic_codec, producer_codec)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                              config={"compression.type": topic_codec})])[topic].result(30)
    messages = [{"key": b"k%d" % i, "value": b"value %d " % i * 20, "headers": [("n", b"%d" % i)],
                 "timestamp": 1700000000000 + i} for i in range(300)]
    assert produce(broker.bootstrap, topic, messages, **{"compression.type": producer_codec}) == list(range(300))
    expected = {"producer": producer_codec, "uncompressed": "none"}.get(topic_codec, topic_codec)
    codecs = stored_codecs(broker.dir / "data" / (topic + "-0"))
    assert codecs and set(codecs) == {CODEC_IDS[expected]}, codecs
    got = consume(broker.bootstrap, topic, 300, **{"check.crcs": True})  # recompressed batches' CRCs too
    assert [(g.offset(), g.key(), g.value(), g.headers(), g.timestamp()) for g in got] == \
        [(i, m["key"], m["value"], m["headers"], (1, m["timestamp"])) for i, m in enumerate(messages)]


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_a_fetch_from_inside_a_batch_starts_at_that_record(broker, codec):
    """Offsets inside a batch: the broker answers with the whole batch that holds
    the offset (Kafka serves batches, never parts of them) and the client drops
    the records before it; a compressed batch the same."""
    topic = "inside-" + codec
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 200})
    for i in range(100):
        p.produce(topic, value=b"r%d" % i, partition=0)
    assert p.flush(30) == 0
    # Start at the second and at the last record of every batch of more than one
    # record (usually one batch of all hundred), and at the very last offset.
    batches = stored_batches(broker.dir / "data" / (topic + "-0"))
    starts = sorted({o for _, base, last in batches if last > base for o in (base + 1, last)} | {99})
    assert any(last > base + 1 for _, base, last in batches), batches
    for start in starts:
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                      "enable.auto.commit": False, "check.crcs": True})
        c.assign([TopicPartition(topic, 0, start)])
        got = []
        deadline = time.time() + 20
        while len(got) < 100 - start and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append((m.offset(), m.value()))
        c.close()
        assert got == [(i, b"r%d" % i) for i in range(start, 100)], start


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks_settings_all_deliver(broker, acks):
    topic = "acks-" + acks
    n = 200
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": acks, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=b"m%d" % i)
    assert p.flush(30) == 0
    got = consume(broker.bootstrap, topic, n)
    assert [g.value() for g in got] == [b"m%d" % i for i in range(n)]


def test_a_message_near_max_message_bytes_is_accepted_and_a_larger_one_refused(make_broker):
    b = make_broker(extra_config="message.max.bytes: 200000\n").start()
    big = os.urandom(199000)
    produce(b.bootstrap, "big", [{"value": big}])
    got = consume(b.bootstrap, "big", 1)
    assert got[0].value() == big
    p = Producer({"bootstrap.servers": b.bootstrap, "message.max.bytes": 1000000})
    result = {}
    p.produce("big", value=os.urandom(300000), on_delivery=lambda err, msg: result.setdefault("err", err))
    p.flush(30)
    assert result["err"] is not None
    assert result["err"].code() == KafkaError.MSG_SIZE_TOO_LARGE


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
def test_log_append_time_topics_stamp_records_with_the_broker_clock(make_broker, codec):
    """Every record of the batch gets the broker's append time, compressed ones
    too (the batch header carries it; the records inside are not rewritten), and
    the producer learns it from the produce response."""
    b = make_broker(extra_config="log.message.timestamp.type: LogAppendTime\n").start()
    before = int(time.time() * 1000)
    reports = []
    p = Producer({"bootstrap.servers": b.bootstrap, "compression.type": codec, "linger.ms": 50})
    for i in range(20):
        p.produce("lat", value=b"x%d" % i, timestamp=1000 + i,
                  on_delivery=lambda err, msg: reports.append((err, msg.timestamp())))
    assert p.flush(30) == 0
    after = int(time.time() * 1000)
    assert [r[0] for r in reports] == [None] * 20
    assert all(kind == 2 and before <= ts <= after for _, (kind, ts) in reports), reports
    got = consume(b.bootstrap, "lat", 20, **{"check.crcs": True})  # the CRC covers the rewritten header
    assert [g.value() for g in got] == [b"x%d" % i for i in range(20)]
    stamps = {g.timestamp() for g in got}
    assert all(kind == 2 and before <= ts <= after for kind, ts in stamps), stamps
    # The times consumers see are those the producer was told.
    assert {ts for _, (_, ts) in reports} == {ts for _, ts in stamps}


def test_kcat_produces_and_consumes_with_keys(broker):
    lines = "".join("key%d:value%d\n" % (i, i) for i in range(100))
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", "kc", "-K:"], input=lines,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "kc", "-e", "-f", "%k=%s@%o\n"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["key%d=value%d@%d" % (i, i, i) for i in range(100)]


def test_long_poll_fetch_wakes_when_data_arrives(broker):
    produce(broker.bootstrap, "lp", [{"value": b"first"}])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lp", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 5000, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("lp", 0, 1)])
    time.sleep(1.0)  # the consumer is now parked in a long poll at offset 1
    sent = time.time()
    produce(broker.bootstrap, "lp", [{"value": b"second"}])
    msg = None
    while time.time() - sent < 10:
        msg = c.poll(0.1)
        if msg is not None and not msg.error():
            break
    latency = time.time() - sent
    c.close()
    assert msg is not None and msg.value() == b"second"
    assert latency < 2.5, "the parked fetch was not woken by the append (took %.2f s)" % latency


def test_list_offsets_earliest_latest_and_by_time(broker):
    produce(broker.bootstrap, "lo", [{"value": b"%d" % i, "timestamp": 1700000000000 + 1000 * i} for i in range(10)])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lo"})
    low, high = c.get_watermark_offsets(TopicPartition("lo", 0), timeout=10)
    assert (low, high) == (0, 10)
    found = c.offsets_for_times([TopicPartition("lo", 0, 1700000000000 + 4500)], timeout=10)
    assert found[0].offset == 5
    after = c.offsets_for_times([TopicPartition("lo", 0, 1800000000000)], timeout=10)
    assert after[0].offset == -1  # no record that late: the end
    c.close()


def test_records_survive_a_clean_restart_and_a_kill_9(make_broker):
    b = make_broker(extra_config="log.flush.interval.messages: 1\n").start()
    produce(b.bootstrap, "durable", [{"value": b"a%d" % i} for i in range(100)], acks="all")
    assert b.stop() == 0
    b.start()
    produce(b.bootstrap, "durable", [{"value": b"b%d" % i} for i in range(100)], acks="all")
    # Give the flusher its turn, then kill without warning.
    time.sleep(1.5)
    b.kill9()
    b.start()
    got = consume(b.bootstrap, "durable", 200)
    assert [g.value() for g in got] == [b"a%d" % i for i in range(100)] + [b"b%d" % i for i in range(100)]
    assert "unclean shutdown" in b.log_text()


def test_a_kill_9_with_space_reserved_past_the_log_loses_nothing(make_broker):
    """From 1 MiB on a segment reserves disk space ahead of its appends
    (docs/storage.md), so a kill -9 leaves blocks reserved past the data. Every
    acknowledged record comes back after the restart, and the roll that
    follows frees what the killed run had reserved."""
    b = make_broker(extra_config="log.flush.interval.messages: 1\nlog.segment.bytes: 4194304\n").start()
    first = [os.urandom(10000) for _ in range(300)]  # ~3 MB in the first segment
    produce(b.bootstrap, "reserved", [{"value": v, "partition": 0} for v in first], acks="all")
    segment = b.dir / "data" / "reserved-0" / "00000000000000000000.log"
    st = os.stat(segment)
    assert st.st_blocks * 512 > st.st_size + 64 * 1024, "no space reserved ahead of the appends"
    b.kill9()
    b.start()
    assert [g.value() for g in consume(b.bootstrap, "reserved", 300)] == first
    # Past 4 MiB the segment rolls, and what the killed run reserved goes.
    more = [os.urandom(10000) for _ in range(200)]
    produce(b.bootstrap, "reserved", [{"value": v, "partition": 0} for v in more], acks="all")
    assert len(list(segment.parent.glob("*.log"))) >= 2, "the segment did not roll"
    st = os.stat(segment)
    assert st.st_blocks * 512 < st.st_size + 64 * 1024, "the rolled segment kept blocks past its data"
    assert [g.value() for g in consume(b.bootstrap, "reserved", 500)] == first + more


def test_fetched_record_bytes_leave_through_sendfile(make_broker):
    b = make_broker().start()
    payload = [{"value": os.urandom(1000)} for _ in range(20000)]  # ~20 MB
    produce(b.bootstrap, "zc", payload, **{"batch.size": 1000000})
    got = consume(b.bootstrap, "zc", len(payload), timeout=60)
    assert len(got) == len(payload)
    assert b.stop() == 0
    m = re.search(r"bytes sent: (\d+) by sendfile in (\d+) calls, (\d+) by write", b.log_text())
    assert m, "the broker did not report its byte counters"
    sendfile_bytes, write_bytes = int(m.group(1)), int(m.group(3))
    assert sendfile_bytes >= 20000 * 1000, "record bytes did not go through sendfile: %d" % sendfile_bytes
    # Headers and metadata only go through write: far less than the records.
    assert write_bytes < sendfile_bytes / 10, (write_bytes, sendfile_bytes)


def test_timestamps_too_old_for_the_topic_are_refused(broker):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic("fresh-only", num_partitions=1, replication_factor=1,
                              config={"message.timestamp.before.max.ms": "60000"})])["fresh-only"].result(30)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    result = {}
    p.produce("fresh-only", value=b"old", timestamp=1000, on_delivery=lambda err, msg: result.setdefault("old", err))
    p.flush(30)
    assert result["old"] is not None and result["old"].code() == KafkaError.INVALID_TIMESTAMP
    offsets = produce(broker.bootstrap, "fresh-only", [{"value": b"now", "timestamp": int(time.time() * 1000)}])
    assert offsets == [0]


def test_idempotent_producer_delivers_exactly_once_across_a_restart(make_broker):
    b = make_broker().start()
    conf = {"enable.idempotence": True, "linger.ms": 5, "max.in.flight.requests.per.connection": 5}
    produce(b.bootstrap, "idem", [{"key": b"%d" % i, "value": b"a%d" % i} for i in range(500)], **conf)
    assert b.stop() == 0
    b.start()
    produce(b.bootstrap, "idem", [{"key": b"%d" % i, "value": b"b%d" % i} for i in range(500)], **conf)
    got = consume(b.bootstrap, "idem", 1000)
    assert [g.value() for g in got] == [b"a%d" % i for i in range(500)] + [b"b%d" % i for i in range(500)]
    # The first producer's state was snapshotted at the clean stop and loaded
    # back at the start (deduplication survives restarts).
    assert "producer state of 1 producers loaded (0 batches replayed)" in b.log_text()
