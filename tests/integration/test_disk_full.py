"""A full disk under a real producer: the broker refuses what it cannot write
(KAFKA_STORAGE_ERROR, its log dir offline), stays up, and every record it
acknowledged is read back, before and after a restart with space freed.

The log dir is a small tmpfs the test mounts (root only: skipped, saying so,
where mounting is not allowed) and unmounts."""

import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from test_produce_consume import consume

TOPIC = "filling"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % out.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def broker_on(make_broker, disk):
    b = make_broker()
    text = b.config_path.read_text()
    old = "log.dirs: %s\n" % (b.dir / "data")
    assert old in text
    b.config_path.write_text(text.replace(old, "log.dirs: %s\n" % (disk / "data")))
    return b.start()


def produce_until_full(bootstrap, count, topic=TOPIC, **conf):
    """Produces `count` numbered 1 KiB records (to partition 0); returns
    {offset: value} of the acknowledged ones and the error codes of the others."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                  "enable.idempotence": False, "message.timeout.ms": 6000, **conf})
    acked, failed = {}, []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.offset()] = msg.value()
        else:
            failed.append(err.code())

    for i in range(count):
        p.produce(topic, value=b"%08d" % i + b"x" * 1016, partition=0, on_delivery=on_delivery)
        p.poll(0)
    assert p.flush(60) == 0
    return acked, failed


def read_all(bootstrap, expected):
    """{offset: value} of the whole partition, which must end at `expected`.
    Waits for the partition to have a leader (after a restart with ZooKeeper,
    the old session of the killed broker expires first)."""
    got = consume(bootstrap, TOPIC, expected, timeout=30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "w-" + uuid.uuid4().hex})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        c.close()
    assert (low, high) == (0, expected)
    return {m.offset(): m.value() for m in got}


def test_a_full_disk_refuses_produce_and_loses_nothing_acknowledged(make_broker, small_disk):
    b = broker_on(make_broker, small_disk)
    acked, failed = produce_until_full(b.bootstrap, 12000)  # ~12 MB into 6 MiB

    assert len(acked) > 1000, "the disk filled before anything was written"
    assert failed, "12 MB fitted in a 6 MiB disk"
    assert set(failed) <= {KafkaError.KAFKA_STORAGE_ERROR, KafkaError._MSG_TIMED_OUT}, set(failed)
    # The acknowledged records are a prefix of the log, offsets without gaps.
    assert sorted(acked) == list(range(len(acked)))
    assert b.alive()
    assert "is offline after an I/O error" in b.log_text()
    # Without retries the producer sees the broker's own answer.
    _, failed = produce_until_full(b.bootstrap, 1, retries=0)
    assert failed == [KafkaError.KAFKA_STORAGE_ERROR]

    # Every acknowledged record reads back, and nothing else.
    assert read_all(b.bootstrap, len(acked)) == acked

    # Restarted after a kill -9 with space freed, the log holds exactly them,
    # and takes new records after them.
    b.kill9()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    b.start()
    assert read_all(b.bootstrap, len(acked)) == acked
    more, failed = produce_until_full(b.bootstrap, 100)
    assert not failed and sorted(more) == list(range(len(acked), len(acked) + 100))
