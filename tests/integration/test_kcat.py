"""kcat (librdkafka's command-line client), as operators use it against a
broker: every codec with keys and headers (checked in the segment files too),
NULL keys and values, each way of choosing a start offset, offsets by time,
a file sent as one message near message.max.bytes and one past it, and a
balanced consumer group whose committed offsets a second run resumes from.
Records kcat writes are read back by confluent-kafka as well, and the other
way round, so neither client checks only itself."""

import json
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from test_produce_consume import CODEC_IDS, consume, produce, stored_codecs


def kcat(broker, *args, stdin=None, timeout=60, check=True):
    out = subprocess.run(["kcat", "-b", broker.bootstrap, *args], input=stdin, capture_output=True,
                         timeout=timeout)
    if check:
        assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out


def kcat_json(broker, topic, *args):
    """Every record of `topic` (or from the offset given in args) as kcat's JSON envelopes."""
    out = kcat(broker, "-C", "-t", topic, "-e", "-J", *args)
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def create_topic(broker, name, partitions=1, config=None):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                              config=config or {})])[name].result(30)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_every_codec_with_keys_and_headers(broker, codec):
    topic = "kc-" + codec
    create_topic(broker, topic)
    lines = b"".join(b"key%d:value %d %s\n" % (i, i, b"x" * (i % 50)) for i in range(200))
    kcat(broker, "-P", "-t", topic, "-K:", "-H", "app=keel-test", "-H", "seq=1",
         "-X", "compression.codec=" + codec, "-X", "linger.ms=50", stdin=lines)
    # Stored as the producer compressed it (the topic's compression.type is "producer").
    codecs = stored_codecs(broker.dir / "data" / (topic + "-0"))
    assert codecs and set(codecs) == {CODEC_IDS[codec]}, codecs

    got = kcat_json(broker, topic)
    assert [(r["partition"], r["offset"], r["key"], r["payload"]) for r in got] == \
        [(0, i, "key%d" % i, "value %d %s" % (i, "x" * (i % 50))) for i in range(200)]
    assert all(r["headers"] == ["app", "keel-test", "seq", "1"] for r in got)
    assert all(r["tstype"] == "create" and r["ts"] > 0 for r in got)
    # Another client reads the same records.
    other = consume(broker.bootstrap, topic, 200)
    assert [(m.key(), m.headers()) for m in other] == \
        [(b"key%d" % i, [("app", b"keel-test"), ("seq", b"1")]) for i in range(200)]


def test_kcat_null_keys_and_values(broker):
    create_topic(broker, "kn")
    # -Z: an empty key or value is sent as NULL, not as zero bytes.
    kcat(broker, "-P", "-t", "kn", "-K:", "-Z", stdin=b"k0:v0\nk1:\n:v2\n")
    got = kcat_json(broker, "kn")
    assert [(r["key"], r["payload"]) for r in got] == [("k0", "v0"), ("k1", None), (None, "v2")]
    other = consume(broker.bootstrap, "kn", 3)
    assert [(m.key(), m.value()) for m in other] == [(b"k0", b"v0"), (b"k1", None), (None, b"v2")]
    # Without -Z the same lines are empty, present, keys and values.
    kcat(broker, "-P", "-t", "kn", "-K:", stdin=b"k3:\n")
    assert consume(broker.bootstrap, "kn", 4)[3].value() == b""


def test_kcat_start_offsets_and_offsets_by_time(broker):
    create_topic(broker, "ko")
    base = 1_700_000_000_000
    produce(broker.bootstrap, "ko", [{"value": b"r%d" % i, "timestamp": base + 1000 * i} for i in range(20)])

    def offsets(*args):
        return [r["offset"] for r in kcat_json(broker, "ko", *args)]

    assert offsets("-o", "beginning") == list(range(20))
    assert offsets("-o", "7") == list(range(7, 20))
    assert offsets("-o", "-3") == [17, 18, 19]  # relative to the end
    assert offsets("-o", "s@%d" % (base + 12_500)) == list(range(13, 20))  # the first at or after the time
    assert [r["ts"] for r in kcat_json(broker, "ko", "-o", "15")] == [base + 1000 * i for i in range(15, 20)]
    # -Q: offsets for times, as ListOffsets answers them (-1 past the last record).
    # One partition per query: a partition named twice in one ListOffsets is
    # INVALID_REQUEST in Kafka (and keel), which kcat prints as offset -1.
    for ts, offset in ((base + 4000, 4), (base + 4001, 5), (base, 0), (base + 99_000, -1)):
        out = kcat(broker, "-Q", "-t", "ko:0:%d" % ts).stdout.decode()
        assert "ko [0] offset %d\n" % offset in out, (ts, out)
    # The end: a consumer starting there sees only what comes after.
    out = kcat(broker, "-C", "-t", "ko", "-o", "end", "-e", "-f", "%o\n")
    assert out.stdout.decode().split() == []


def test_kcat_a_file_near_message_max_bytes_is_one_message_and_a_larger_one_is_refused(make_broker, tmp_path):
    b = make_broker(extra_config="message.max.bytes: 200000\n").start()
    create_topic(b, "kbig")
    near, over = tmp_path / "near.bin", tmp_path / "over.bin"
    near.write_bytes(bytes(range(256)) * 777)  # 198,912 bytes: one record under the limit with its framing
    over.write_bytes(b"o" * 300_000)
    # Each file named after -P is one message.
    kcat(b, "-P", "-t", "kbig", str(near))
    got = consume(b.bootstrap, "kbig", 1)
    assert got[0].value() == near.read_bytes()
    refused = kcat(b, "-P", "-t", "kbig", "-X", "message.max.bytes=1000000", str(over), check=False)
    assert refused.returncode != 0
    assert b"too large" in refused.stderr.lower(), refused.stderr
    # Nothing of it was stored: the next record follows the first.
    assert produce(b.bootstrap, "kbig", [{"value": b"after"}]) == [1]


def test_kcat_balanced_consumer_group_resumes_from_its_commits(broker):
    create_topic(broker, "kg", partitions=3)
    # Keyed, so librdkafka's partitioner spreads them over all three whatever
    # the timing (keyless records stick to one partition per linger window).
    kcat(broker, "-P", "-t", "kg", "-p", "-1", "-K", ":", stdin=b"".join(b"k%d:m%d\n" % (i, i) for i in range(30)))

    def group_read(*args):
        out = kcat(broker, "-G", "kgroup", *args, "-e", "-f", "%p %o %s\n", "kg", timeout=90)
        rows = [line.split() for line in out.stdout.decode().splitlines() if line.strip()]
        return sorted((int(p), int(o), v) for p, o, v in rows)

    first = group_read("-o", "beginning")  # no commits yet: from the start, not librdkafka's "latest"
    assert sorted(v for _, _, v in first) == sorted("m%d" % i for i in range(30))
    assert len({p for p, _, _ in first}) == 3, first  # the keys hash to all three
    kcat(broker, "-P", "-t", "kg", "-p", "1", stdin=b"late0\nlate1\n")
    # Without -o the group starts at its committed offsets: only the new
    # records (a group with no commits would start at the end and read none;
    # with -o, kcat itself moves every assigned partition there).
    second = group_read()
    assert [v for _, _, v in second] == ["late0", "late1"], second
    assert {p for p, _, _ in second} == {1}
