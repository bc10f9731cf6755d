"""kill -9 again and again while a producer writes with acks=all into small,
often-rolled segments, then check what recovery rebuilt: every acknowledged
record is at the offset its acknowledgement named, the offsets have no holes,
and the rebuilt offset and time indexes answer fetches from the middle and
ListOffsets by timestamp exactly as a scan of the log does. And the same kills
while the log cleaner compacts a topic under a producer's updates."""

import bisect
import random
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from test_admin_requests import create_topic
from test_produce_consume import consume

PARTITIONS = 3
KILLS = 6


def produce_through_kills(broker, topic, record, kills, pause, seed, batch_size, every=64, nap=0.002):
    """An acks=all producer sends record(i) (a dict of produce() arguments) for
    i = 0, 1, ... while the broker is killed with -9 and restarted `kills`
    times, `pause` (lo, hi) seconds apart; then it flushes. Returns
    (acknowledged messages in report order, how many were sent). Every record
    must be acknowledged in the end: the producer retries through the kills."""
    acked, failed, sent = [], [], {}
    done = threading.Event()

    def producer():
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                      "batch.size": batch_size, "message.timeout.ms": 120_000, "reconnect.backoff.max.ms": 200})

        def report(err, msg):
            (failed if err else acked).append(err or msg)

        i = 0
        while not done.is_set():
            try:
                p.produce(topic, on_delivery=report, **record(i))
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            if i % every == 0:
                p.poll(0)
                time.sleep(nap)  # a steady stream, not a flood of retries to sort out after each kill
        sent["records"], sent["unflushed"] = i, p.flush(120)

    t = threading.Thread(target=producer)
    t.start()
    rng = random.Random(seed)
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(*pause))
            broker.kill9()
            broker.start()
        time.sleep(0.5)
    finally:
        done.set()
        t.join(180)
    assert not t.is_alive(), "the producer did not finish"
    assert sent["unflushed"] == 0, "records still in flight after 120 s"
    assert failed == [], failed[:5]
    assert broker.log_text().count("unclean shutdown") >= kills
    return acked, sent["records"]


def test_repeated_kill_9_under_acks_all_keeps_every_acknowledged_record_where_it_was_acknowledged(make_broker):
    # 64 KiB segments and an index entry every 1 KiB: a roll every few batches,
    # so the kills land in appends, rolls and index writes alike.
    b = make_broker(extra_config="log.segment.bytes: 65536\nlog.index.interval.bytes: 1024\n").start()
    create_topic(b, "crash", PARTITIONS)
    base_ts = int(time.time() * 1000) - 3_600_000
    # Timestamps rise with i, a millisecond apart, so time lookups have answers to check.
    reports, sent_records = produce_through_kills(
        b, "crash", lambda i: {"value": b"%08d" % i + b"." * 200, "partition": i % PARTITIONS, "timestamp": base_ts + i},
        KILLS, (0.3, 1.2), 4, 8192)
    acked = [(m.partition(), m.offset(), m.value()) for m in reports]
    sent = {"records": sent_records}
    rng = random.Random(4)
    assert len(acked) > 1000

    def check(stage):
        log = {}
        highs = {}
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "check"})
        for p in range(PARTITIONS):
            low, highs[p] = c.get_watermark_offsets(TopicPartition("crash", p), timeout=10)
            assert low == 0, stage
        got = consume(b.bootstrap, "crash", sum(highs.values()), partitions=PARTITIONS, timeout=60)
        for m in got:
            log[(m.partition(), m.offset())] = (m.value(), m.timestamp()[1])
        # No holes: each partition's offsets run from 0 to its high watermark.
        for p in range(PARTITIONS):
            assert [o for (q, o) in sorted(log) if q == p] == list(range(highs[p])), stage
        # Every acknowledgement names the record that is at its offset.
        for part, off, value in acked:
            assert log.get((part, off), (None,))[0] == value, "%s: offset %d of partition %d" % (stage, off, part)
        # Every record produced is there (at least once: retries after a kill may repeat one).
        values = {v for v, _ in log.values()}
        assert all(b"%08d" % i + b"." * 200 in values for i in range(sent["records"])), stage

        # The rebuilt time index: the first offset, in log order, whose timestamp is
        # at least T, i.e. the first at which the running maximum reaches T.
        probes = [base_ts + rng.randrange(sent["records"]) for _ in range(20)] + [base_ts, base_ts + sent["records"] + 5]
        # One request per probe: a partition may appear once in a ListOffsets request.
        asked = [c.offsets_for_times([TopicPartition("crash", p, ts) for p in range(PARTITIONS)], timeout=10)
                 for ts in probes]
        for p in range(PARTITIONS):
            running, m = [], -1
            for o in range(highs[p]):
                m = max(m, log[(p, o)][1])
                running.append(m)
            for k, ts in enumerate(probes):
                tp = asked[k][p]
                at = bisect.bisect_left(running, ts)
                assert tp.partition == p and tp.offset == (at if at < highs[p] else -1), \
                    "%s: partition %d at %d: %d" % (stage, p, ts, tp.offset)

        # The rebuilt offset index: a fetch from the middle of each partition starts exactly there.
        for p in range(PARTITIONS):
            start = highs[p] // 2
            r = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "mid", "enable.auto.commit": False})
            r.assign([TopicPartition("crash", p, start)])
            m = None
            deadline = time.time() + 20
            while m is None and time.time() < deadline:
                m = r.poll(0.5)
            r.close()
            assert m is not None and not m.error(), stage
            assert (m.offset(), m.value()) == (start, log[(p, start)][0]), stage
        c.close()

    check("after the kills")
    # And once more after a clean restart, with the indexes the clean shutdown wrote.
    assert b.stop() == 0
    b.start()
    check("after a clean restart")


def test_kill_9_while_the_cleaner_compacts_loses_no_latest_value_and_moves_no_offset(make_broker):
    """A compacted topic in small segments, its cleaner running every 100 ms,
    killed with -9 again and again while a producer updates 40 keys: afterwards
    every key's last acknowledged value is there at its acknowledged offset,
    and every record left is the one acknowledged at its offset (the cleaner's
    swaps either happened whole or not at all)."""
    b = make_broker(extra_config="log.cleaner.backoff.ms: 100\n").start()
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic("squash", num_partitions=1, replication_factor=1, config={
        "cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01"})])["squash"].result(30)
    reports, _ = produce_through_kills(
        b, "squash", lambda i: {"key": b"key-%02d" % (i % 40), "value": b"%08d" % i + b"-" * 100},
        4, (0.8, 2.0), 9, 2048, every=32, nap=0.003)
    acked = {m.offset(): (m.key(), m.value()) for m in reports}

    latest = {}
    for offset in sorted(acked):
        key, value = acked[offset]
        latest[key] = (offset, value)
    deadline = time.time() + 30
    while True:  # let the cleaner catch up with the last writes
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "w"})
        high = c.get_watermark_offsets(TopicPartition("squash", 0), timeout=10)[1]
        c.close()
        left = consume(b.bootstrap, "squash", 10 ** 6, timeout=4)
        if len(left) < len(acked) // 4 or time.time() > deadline:
            break
    assert high > max(acked), "acknowledged offsets beyond the log end"
    assert len(left) < len(acked) // 4, "the cleaner did not compact (%d of %d left)" % (len(left), len(acked))
    offsets = [m.offset() for m in left]
    assert offsets == sorted(set(offsets)), "compaction renumbered or repeated records"
    for m in left:
        if m.offset() in acked:
            assert acked[m.offset()] == (m.key(), m.value()), "offset %d holds another record" % m.offset()
    kept = {}
    for m in left:
        kept[m.key()] = (m.offset(), m.value())
    for key, (offset, value) in latest.items():
        # The key's newest record is the last acknowledged one, or one written after it
        # (a retry after a kill, acknowledged to nobody, is a later copy).
        assert key in kept, key
        assert kept[key][0] >= offset, (key, kept[key], offset)
        if kept[key][0] == offset:
            assert kept[key][1] == value
