"""kill -9 again and again while a producer writes with acks=all into small,
often-rolled segments, then check what recovery rebuilt: every acknowledged
record is at the offset its acknowledgement named, the offsets have no holes,
and the rebuilt offset and time indexes answer fetches from the middle and
ListOffsets by timestamp exactly as a scan of the log does."""

import bisect
import random
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from test_admin_requests import create_topic
from test_produce_consume import consume

PARTITIONS = 3
KILLS = 6


def test_repeated_kill_9_under_acks_all_keeps_every_acknowledged_record_where_it_was_acknowledged(make_broker):
    # 64 KiB segments and an index entry every 1 KiB: a roll every few batches,
    # so the kills land in appends, rolls and index writes alike.
    b = make_broker(extra_config="log.segment.bytes: 65536\nlog.index.interval.bytes: 1024\n").start()
    create_topic(b, "crash", PARTITIONS)
    base_ts = int(time.time() * 1000) - 3_600_000
    acked, failed = [], []
    sent = {}
    done = threading.Event()

    def producer():
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 2, "batch.size": 8192,
                      "message.timeout.ms": 120_000, "reconnect.backoff.max.ms": 200})

        def report(err, msg):
            if err:
                failed.append(err)
            else:
                acked.append((msg.partition(), msg.offset(), msg.value()))

        i = 0
        while not done.is_set():
            try:
                # Timestamps rise with i, a millisecond apart, so time lookups have answers to check.
                p.produce("crash", b"%08d" % i + b"." * 200, partition=i % PARTITIONS, timestamp=base_ts + i,
                          on_delivery=report)
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            if i % 64 == 0:
                p.poll(0)
                time.sleep(0.002)  # a steady stream, not a flood of retries to sort out after each kill
        sent["records"], sent["unflushed"] = i, p.flush(120)

    t = threading.Thread(target=producer)
    t.start()
    rng = random.Random(4)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            b.kill9()
            b.start()
        time.sleep(0.5)
    finally:
        done.set()
        t.join(180)
    assert not t.is_alive(), "the producer did not finish"
    assert sent["unflushed"] == 0, "records still in flight after 120 s"
    assert failed == [], failed[:5]
    assert len(acked) > 1000
    assert b.log_text().count("unclean shutdown") >= KILLS

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
