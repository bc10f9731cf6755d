"""Retention as clients see it: segments rolled by segment.bytes and
segment.ms, the oldest deleted by retention.bytes and retention.ms (the active
segment too, when every record in it has expired, as Kafka rolls and deletes
it), the log start moving for consumers and ListOffsets, and the new start kept
across a restart."""

import os
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from test_produce_consume import consume, produce

# Retention runs every 200 ms and files go at once, so a test waits little.
FAST_RETENTION = "log.retention.check.interval.ms: 200\nlog.segment.delete.delay.ms: 0\n"
RECORD = 1024


def create(broker, name, partitions=1, **config):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                              config={k: str(v) for k, v in config.items()})])[name].result(30)


def watermarks(broker, topic, partition=0):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def wait_for_low(broker, topic, partition, done, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        low, high = watermarks(broker, topic, partition)
        if done(low, high) or time.time() > deadline:
            return low, high
        time.sleep(0.2)


def segment_files(broker, topic, partition=0):
    d = broker.dir / "data" / ("%s-%d" % (topic, partition))
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


def values(n, start=0, ts=0):
    return [{"value": b"%08d" % i + b"x" * (RECORD - 8), "timestamp": ts} for i in range(start, start + n)]


def test_retention_bytes_deletes_the_oldest_segments_and_readers_start_after_them(make_broker):
    b = make_broker(extra_config=FAST_RETENTION).start()
    segment, retention = 64 * 1024, 256 * 1024
    create(b, "rb", **{"segment.bytes": segment, "retention.bytes": retention})
    # Batches smaller than a segment, so the log rolls many times: 2 MB of records.
    total = 2000
    offsets = produce(b.bootstrap, "rb", values(total), **{"batch.size": 16384, "linger.ms": 1})
    assert offsets == list(range(total))

    # A check may run while the producer is still sending: wait for the one after the last record.
    settled = lambda lo, hi: lo > 0 and (hi - lo) * RECORD <= retention + segment + 16384  # noqa: E731
    low, high = wait_for_low(b, "rb", 0, settled)
    assert high == total
    assert low > 0, "retention.bytes deleted nothing"
    kept = high - low
    # Kafka deletes whole segments while what stays is at least retention.bytes:
    # never below it, and never more than a segment (and a batch) above it.
    assert kept * RECORD <= retention + segment + 16384, "kept %d records" % kept
    assert kept * (RECORD + 80) >= retention, "deleted below retention.bytes: kept %d records" % kept
    files = segment_files(b, "rb")
    assert 2 <= len(files) <= (retention + 2 * segment) // segment + 1, files
    assert files[0] == "%020d.log" % low, "the first segment file starts at the log start"

    # A consumer asking for offset 0 is reset to the log start and reads the tail exactly.
    got = consume(b.bootstrap, "rb", kept)
    assert [m.offset() for m in got] == list(range(low, high))
    assert [int(m.value()[:8]) for m in got] == list(range(low, high))

    # The new start is kept across a restart, and producing carries on after it.
    assert b.stop() == 0
    b.start()
    assert watermarks(b, "rb") == (low, high)
    assert produce(b.bootstrap, "rb", values(1, total)) == [total]


def test_retention_ms_deletes_expired_segments_including_the_active_one(make_broker):
    b = make_broker(extra_config=FAST_RETENTION).start()
    create(b, "rt", partitions=2, **{"retention.ms": 3600 * 1000})
    now_ms = int(time.time() * 1000)
    old = [dict(v, partition=0) for v in values(100, ts=now_ms - 2 * 3600 * 1000)]
    fresh = [dict(v, partition=1) for v in values(100, ts=now_ms)]
    assert produce(b.bootstrap, "rt", old) == list(range(100))
    assert produce(b.bootstrap, "rt", fresh) == list(range(100))

    # Partition 0's only segment is the active one and every record in it is two
    # hours old: Kafka rolls a new segment and deletes the old one, so the log is
    # empty from offset 100 on. Partition 1's records are new and stay.
    low, high = wait_for_low(b, "rt", 0, lambda lo, hi: lo == hi)
    assert (low, high) == (100, 100)
    assert segment_files(b, "rt", 0) == ["%020d.log" % 100]
    time.sleep(0.6)  # three more retention checks
    assert watermarks(b, "rt", 1) == (0, 100)

    # New records go on at offset 100 and are what a reader from the start sees.
    assert produce(b.bootstrap, "rt", [dict(v, partition=0) for v in values(5, 100)]) == list(range(100, 105))
    got = consume(b.bootstrap, "rt", 5)
    assert [m.offset() for m in got] == list(range(100, 105))
    assert [int(m.value()[:8]) for m in got] == list(range(100, 105))
    time.sleep(0.6)
    assert watermarks(b, "rt", 0) == (100, 105), "fresh records were deleted"


def test_segment_ms_rolls_a_segment_by_age_and_retention_then_deletes_it(make_broker):
    b = make_broker(extra_config=FAST_RETENTION).start()
    create(b, "age", **{"segment.ms": 1000})
    assert produce(b.bootstrap, "age", values(10)) == list(range(10))
    time.sleep(1.3)
    # The next append finds the active segment older than segment.ms and rolls.
    assert produce(b.bootstrap, "age", values(10, 10)) == list(range(10, 20))
    assert segment_files(b, "age") == ["%020d.log" % 0, "%020d.log" % 10]

    # Shortening retention.ms at run time deletes the first segment once it has
    # expired; its records' timestamps are now, so the limit is a second.
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    res = ConfigResource("topic", "age", set_config={"segment.ms": "1000", "retention.ms": "1500"})
    a.alter_configs([res])[res].result(30)
    low, high = wait_for_low(b, "age", 0, lambda lo, hi: lo >= 10)
    assert high == 20 and low >= 10
