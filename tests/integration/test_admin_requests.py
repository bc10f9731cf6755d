"""The requests that the installed clients use little or not at all, at every
version keel lists in ApiVersions: DeleteRecords (kafkajs's admin client, then
by hand), ListOffsets (earliest, latest, by time, max timestamp, leader-epoch
fencing), OffsetForLeaderEpoch, DescribeLogDirs, DeleteTopics by topic id, the
idempotent producer's sequence and epoch checks (across a clean restart and a
kill -9), and Fetch's isolation level. Hand-built requests come from the
protocol's own schemas (kafka_schema.py)."""

import os
import struct
import time
import uuid
import zlib

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from cluster_harness import by_id, start_cluster, stop_cluster
from kafka_schema import SCHEMAS, KafkaConnection, record_batch, schema
from test_cluster import metadata, partition as partition_in, wait_for, zk  # noqa: F401 (zk: the fixture)
from test_kafkajs import scripts, node  # noqa: F401 (fixtures)
from test_produce_consume import consume, produce

NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 1, 3
INVALID_REQUEST, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 42, 45, 47
UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID = 75, 100
EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3


def create_topic(broker, name, partitions=1):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def versions(conn, api):
    lo, hi = conn.served(api)
    return range(lo, hi + 1)


def list_offset(conn, version, topic, partition, timestamp, leader_epoch=-1, isolation=0):
    """(error, offset, timestamp, leader epoch) of one ListOffsets answer; v0's old-style list gives offset only."""
    resp = conn.call("ListOffsets", version, {
        "ReplicaId": -1, "IsolationLevel": isolation,
        "Topics": [{"Name": topic, "Partitions": [{"PartitionIndex": partition, "Timestamp": timestamp,
                                                   "CurrentLeaderEpoch": leader_epoch, "MaxNumOffsets": 1}]}]})
    p = resp["Topics"][0]["Partitions"][0]
    if version == 0:
        return p["ErrorCode"], (p["OldStyleOffsets"] or [None])[0], None, None
    return p["ErrorCode"], p["Offset"], p["Timestamp"], p.get("LeaderEpoch")


def delete_records(conn, version, topic, offsets):
    """{partition: (error, low watermark)} for DeleteRecords of {partition: offset}."""
    resp = conn.call("DeleteRecords", version, {
        "Topics": [{"Name": topic, "Partitions": [{"PartitionIndex": p, "Offset": o} for p, o in offsets.items()]}],
        "TimeoutMs": 5000})
    return {p["PartitionIndex"]: (p["ErrorCode"], p["LowWatermark"]) for p in resp["Topics"][0]["Partitions"]}


def test_delete_records_through_kafkajs_moves_the_log_start_for_every_reader(make_broker, scripts):  # noqa: F811
    b = make_broker().start()
    create_topic(b, "dr", 2)
    for p in (0, 1):
        produce(b.bootstrap, "dr", [{"value": b"p%d-%d" % (p, i), "partition": p} for i in range(10)])

    s = scripts("delete_records.js", {"brokers": [b.bootstrap], "topic": "dr",
                                      "partitions": [{"partition": 0, "offset": "4"},
                                                     {"partition": 1, "offset": "-1"}]})
    deleted = s.next_event("deleted", 60)
    s.finish()
    assert deleted["offsets"] == {"0": {"low": 4, "high": 10}, "1": {"low": 10, "high": 10}}

    def check():
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "dr"})
        assert c.get_watermark_offsets(TopicPartition("dr", 0), timeout=10) == (4, 10)
        assert c.get_watermark_offsets(TopicPartition("dr", 1), timeout=10) == (10, 10)
        c.close()
        # A consumer asking for offset 0 is out of range and resets to the new start.
        got = consume(b.bootstrap, "dr", 6)
        assert [(m.offset(), m.value()) for m in got] == [(i, b"p0-%d" % i) for i in range(4, 10)]
        with KafkaConnection(b.port) as conn:
            for v in versions(conn, "ListOffsets"):
                assert list_offset(conn, v, "dr", 0, EARLIEST)[:2] == (NONE, 4), "ListOffsets v%d" % v

    check()
    # The log start is checkpointed at a clean stop and read back.
    assert b.stop() == 0
    b.start()
    check()


def test_delete_records_answers_kafkas_errors_at_every_version(broker):
    create_topic(broker, "dre")
    produce(broker.bootstrap, "dre", [{"value": b"%d" % i} for i in range(20)])
    with KafkaConnection(broker.port) as conn:
        vs = list(versions(conn, "DeleteRecords"))
        assert vs == [0, 1, 2]
        for n, v in enumerate(vs):
            start = 3 * (n + 1)
            assert delete_records(conn, v, "dre", {0: start}) == {0: (NONE, start)}
            # Below the start: nothing moves, the answer is the start.
            assert delete_records(conn, v, "dre", {0: 1}) == {0: (NONE, start)}
            # Beyond the high watermark: out of range, the log untouched.
            assert delete_records(conn, v, "dre", {0: 21}) == {0: (OFFSET_OUT_OF_RANGE, -1)}
            assert delete_records(conn, v, "dre", {7: 1}) == {7: (UNKNOWN_TOPIC_OR_PARTITION, -1)}
            resp = conn.call("DeleteRecords", v, {"Topics": [{"Name": "no-such-topic", "Partitions": [
                {"PartitionIndex": 0, "Offset": 1}]}], "TimeoutMs": 1000})
            assert resp["Topics"][0]["Partitions"][0]["ErrorCode"] == UNKNOWN_TOPIC_OR_PARTITION
            assert list_offset(conn, 1, "dre", 0, EARLIEST)[:2] == (NONE, start)
        # -1: everything below the high watermark.
        assert delete_records(conn, 2, "dre", {0: -1}) == {0: (NONE, 20)}
        assert list_offset(conn, 1, "dre", 0, EARLIEST)[:2] == (NONE, 20)
        assert list_offset(conn, 1, "dre", 0, LATEST)[:2] == (NONE, 20)
    # New records follow on from the end.
    assert produce(broker.bootstrap, "dre", [{"value": b"after"}]) == [20]


def test_delete_records_named_twice_is_answered_once_with_the_last_offset(broker):
    """Kafka gathers a DeleteRecords request into one map by partition: a
    partition (or topic) named twice gets one answer, and the last offset asked
    for is the one applied, wherever the earlier one pointed."""
    create_topic(broker, "drd", 2)
    for p in (0, 1):
        produce(broker.bootstrap, "drd", [{"value": b"%d" % i, "partition": p} for i in range(10)])
    with KafkaConnection(broker.port) as conn:
        for v in versions(conn, "DeleteRecords"):
            base = v + 1
            resp = conn.call("DeleteRecords", v, {"TimeoutMs": 5000, "Topics": [
                # Out of range first, then a good offset: the good one wins.
                {"Name": "drd", "Partitions": [{"PartitionIndex": 0, "Offset": 99},
                                               {"PartitionIndex": 1, "Offset": base},
                                               {"PartitionIndex": 0, "Offset": base}]},
                # The topic again: partition 1 named a second time, further on.
                {"Name": "drd", "Partitions": [{"PartitionIndex": 1, "Offset": base + 2}]}]})
            assert [t["Name"] for t in resp["Topics"]] == ["drd"], "DeleteRecords v%d" % v
            got = {p["PartitionIndex"]: (p["ErrorCode"], p["LowWatermark"]) for p in resp["Topics"][0]["Partitions"]}
            assert len(resp["Topics"][0]["Partitions"]) == 2
            assert got == {0: (NONE, base), 1: (NONE, base + 2)}, "DeleteRecords v%d" % v
            assert list_offset(conn, 1, "drd", 0, EARLIEST)[:2] == (NONE, base)
            assert list_offset(conn, 1, "drd", 1, EARLIEST)[:2] == (NONE, base + 2)
        # The last one asked is out of range: nothing moves, whatever came before.
        resp = conn.call("DeleteRecords", 2, {"TimeoutMs": 5000, "Topics": [
            {"Name": "drd", "Partitions": [{"PartitionIndex": 0, "Offset": 8},
                                           {"PartitionIndex": 0, "Offset": 11}]}]})
        assert [(p["PartitionIndex"], p["ErrorCode"]) for p in resp["Topics"][0]["Partitions"]] == \
            [(0, OFFSET_OUT_OF_RANGE)]
        assert list_offset(conn, 1, "drd", 0, EARLIEST)[:2] == (NONE, 3)


def test_list_offsets_at_every_version(broker):
    create_topic(broker, "lov")
    # The largest timestamp is not the last record's: max-timestamp must find it.
    stamps = [1_700_000_000_000 + d for d in (0, 1000, 9000, 3000, 5000)]
    produce(broker.bootstrap, "lov", [{"value": b"r%d" % i, "timestamp": t} for i, t in enumerate(stamps)])
    with KafkaConnection(broker.port) as conn:
        served = list(versions(conn, "ListOffsets"))
        assert served[0] == 0 and served[-1] >= 7
        for v in served:
            what = "ListOffsets v%d" % v
            assert list_offset(conn, v, "lov", 0, EARLIEST)[:2] == (NONE, 0), what
            assert list_offset(conn, v, "lov", 0, LATEST)[:2] == (NONE, 5), what
            if v == 0:
                continue  # v0 answers the earliest and latest offsets only (Kafka's old-style list)
            # By time: the first record at or after it, with that record's timestamp.
            assert list_offset(conn, v, "lov", 0, stamps[0] + 2000) == (NONE, 2, stamps[2], 0 if v >= 4 else None), what
            assert list_offset(conn, v, "lov", 0, stamps[2] + 1)[:2] == (NONE, -1), what
            if v >= 2:
                # read_committed: the last stable offset, the high watermark with no transactions.
                assert list_offset(conn, v, "lov", 0, LATEST, isolation=1)[:2] == (NONE, 5), what
            if v >= 4:
                assert list_offset(conn, v, "lov", 0, LATEST, leader_epoch=0)[:2] == (NONE, 5), what
                assert list_offset(conn, v, "lov", 0, LATEST, leader_epoch=1)[0] == UNKNOWN_LEADER_EPOCH, what
            if v >= 7:
                assert list_offset(conn, v, "lov", 0, MAX_TIMESTAMP) == (NONE, 2, stamps[2], 0), what
            assert list_offset(conn, v, "no-such-topic", 0, LATEST)[0] == UNKNOWN_TOPIC_OR_PARTITION, what
            assert list_offset(conn, v, "lov", 3, LATEST)[0] == UNKNOWN_TOPIC_OR_PARTITION, what
            # A partition named twice, here in two topic entries: Kafka answers both INVALID_REQUEST
            # and the rest of the request as usual.
            resp = conn.call("ListOffsets", v, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
                {"Name": "lov", "Partitions": [{"PartitionIndex": 0, "Timestamp": LATEST, "CurrentLeaderEpoch": -1},
                                               {"PartitionIndex": 1, "Timestamp": LATEST, "CurrentLeaderEpoch": -1}]},
                {"Name": "lov", "Partitions": [{"PartitionIndex": 0, "Timestamp": EARLIEST,
                                                "CurrentLeaderEpoch": -1}]}]})
            rows = [(t["Name"], p["PartitionIndex"], p["ErrorCode"], p["Offset"])
                    for t in resp["Topics"] for p in t["Partitions"]]
            assert rows == [("lov", 0, INVALID_REQUEST, -1), ("lov", 1, UNKNOWN_TOPIC_OR_PARTITION, -1),
                            ("lov", 0, INVALID_REQUEST, -1)], what


def test_metadata_answers_each_topic_once_by_name_or_id(broker):
    """A topic named twice is answered once, as Kafka's set of requested topics
    does; v12 may ask by id, and an unknown id answers UNKNOWN_TOPIC_ID."""
    create_topic(broker, "meta-a", 2)
    create_topic(broker, "meta-b")
    with KafkaConnection(broker.port) as conn:
        tid = meta_topic_id(conn, "meta-a")
        for v in versions(conn, "Metadata"):
            resp = conn.call("Metadata", v, {"Topics": [{"Name": "meta-a"}, {"Name": "meta-b"}, {"Name": "meta-a"}],
                                             "AllowAutoTopicCreation": False})
            got = sorted((t["Name"], t["ErrorCode"], len(t["Partitions"])) for t in resp["Topics"])
            assert got == [("meta-a", NONE, 2), ("meta-b", NONE, 1)], "Metadata v%d" % v
        stranger = uuid.uuid4()
        resp = conn.call("Metadata", 12, {"Topics": [{"Name": None, "TopicId": tid}, {"Name": None, "TopicId": tid},
                                                     {"Name": None, "TopicId": stranger}],
                                          "AllowAutoTopicCreation": False})
        got = [(t["Name"], t["TopicId"], t["ErrorCode"]) for t in resp["Topics"]]
        assert got == [("meta-a", tid, NONE), (None, stranger, UNKNOWN_TOPIC_ID)]


def test_offset_for_leader_epoch_at_every_version(broker):
    create_topic(broker, "ofle")
    produce(broker.bootstrap, "ofle", [{"value": b"%d" % i} for i in range(7)])
    with KafkaConnection(broker.port) as conn:
        served = list(versions(conn, "OffsetForLeaderEpoch"))
        assert served == [0, 1, 2, 3, 4]
        for v in served:
            def ask(epoch, current=-1, topic="ofle", partition=0):
                resp = conn.call("OffsetForLeaderEpoch", v, {"ReplicaId": -1, "Topics": [
                    {"Topic": topic, "Partitions": [{"Partition": partition, "CurrentLeaderEpoch": current,
                                                     "LeaderEpoch": epoch}]}]})
                p = resp["Topics"][0]["Partitions"][0]
                return p["ErrorCode"], p.get("LeaderEpoch"), p["EndOffset"]

            what = "OffsetForLeaderEpoch v%d" % v
            epoch_field = 0 if v >= 1 else None
            # The current epoch ends at the log end; a later one is unknown (-1, -1).
            assert ask(0) == (NONE, epoch_field, 7), what
            assert ask(5) == (NONE, -1 if v >= 1 else None, -1), what
            assert ask(0, topic="no-such-topic")[0] == UNKNOWN_TOPIC_OR_PARTITION, what
            assert ask(0, partition=4)[0] == UNKNOWN_TOPIC_OR_PARTITION, what
            if v >= 2:
                assert ask(0, current=0) == (NONE, 0, 7), what
                assert ask(0, current=3)[0] == UNKNOWN_LEADER_EPOCH, what


def test_describe_log_dirs_at_every_version(broker):
    with KafkaConnection(broker.port) as conn:
        # Right after CreateTopics answers, every partition is hosted.
        resp = conn.call("CreateTopics", 7, {"Topics": [{"Name": "dld", "NumPartitions": 3, "ReplicationFactor": 1}],
                                             "TimeoutMs": 10000})
        assert resp["Topics"][0]["ErrorCode"] == NONE
        resp = conn.call("DescribeLogDirs", 4, {"Topics": None})
        [only] = resp["Results"]
        assert sorted(p["PartitionIndex"] for t in only["Topics"] if t["Name"] == "dld" for p in t["Partitions"]) == [
            0, 1, 2]
    produce(broker.bootstrap, "dld", [{"value": b"x" * 1000, "partition": 0} for _ in range(50)])
    data_dir = str(broker.dir / "data")
    on_disk = sum(os.path.getsize(os.path.join(data_dir, "dld-0", f))
                  for f in os.listdir(os.path.join(data_dir, "dld-0")) if f.endswith(".log"))
    assert on_disk > 50_000
    with KafkaConnection(broker.port) as conn:
        served = list(versions(conn, "DescribeLogDirs"))
        assert served == [0, 1, 2, 3, 4]
        for v in served:
            what = "DescribeLogDirs v%d" % v
            resp = conn.call("DescribeLogDirs", v, {"Topics": None})
            if v >= 3:
                assert resp["ErrorCode"] == NONE, what
            [result] = resp["Results"]
            assert result["ErrorCode"] == NONE and result["LogDir"] == data_dir, what
            sizes = {p["PartitionIndex"]: p["PartitionSize"] for t in result["Topics"] if t["Name"] == "dld"
                     for p in t["Partitions"]}
            assert sizes == {0: on_disk, 1: 0, 2: 0}, what
            if v >= 4:
                st = os.statvfs(data_dir)
                assert result["TotalBytes"] == st.f_blocks * st.f_frsize, what
                assert 0 < result["UsableBytes"] <= result["TotalBytes"], what
            # Asked for some partitions: those only; a topic not here: nothing.
            resp = conn.call("DescribeLogDirs", v, {"Topics": [{"Topic": "dld", "Partitions": [2]},
                                                               {"Topic": "elsewhere", "Partitions": [0]}]})
            [result] = resp["Results"]
            assert [(t["Name"], [(p["PartitionIndex"], p["PartitionSize"]) for p in t["Partitions"]])
                    for t in result["Topics"]] == [("dld", [(2, 0)])], what


def test_delete_topics_by_topic_id(broker):
    with KafkaConnection(broker.port) as conn:
        assert list(versions(conn, "DeleteTopics"))[-1] == 6
        resp = conn.call("CreateTopics", 7, {"Topics": [
            {"Name": n, "NumPartitions": 1, "ReplicationFactor": 1} for n in ("by-id", "by-name", "both")],
            "TimeoutMs": 10000})
        ids = {t["Name"]: t["TopicId"] for t in resp["Topics"]}
        assert all(t["ErrorCode"] == NONE for t in resp["Topics"]) and len(set(ids.values())) == 3

        unknown = uuid.uuid4()
        resp = conn.call("DeleteTopics", 6, {"Topics": [
            {"Name": None, "TopicId": ids["by-id"]},
            {"Name": "by-name"},
            {"Name": None, "TopicId": unknown},
            {"Name": "both", "TopicId": ids["both"]}], "TimeoutMs": 10000})
        answers = [(r["Name"], r["TopicId"], r["ErrorCode"]) for r in resp["Responses"]]
        assert answers == [("by-id", ids["by-id"], NONE), ("by-name", ids["by-name"], NONE),
                           (None, unknown, UNKNOWN_TOPIC_ID), ("both", ids["both"], INVALID_REQUEST)]
        meta = conn.call("Metadata", 12, {"Topics": None, "AllowAutoTopicCreation": False})
        assert sorted(t["Name"] for t in meta["Topics"]) == ["both"]

        # One topic asked for three times, by name and by id: one answer, as Kafka's results are keyed by name.
        for v in versions(conn, "DeleteTopics"):
            resp = conn.call("CreateTopics", 7, {"Topics": [{"Name": "dup", "NumPartitions": 1, "ReplicationFactor": 1}],
                                                 "TimeoutMs": 10000})
            dup_id = resp["Topics"][0]["TopicId"]
            entries = [{"Name": "dup"}, {"Name": None, "TopicId": dup_id}, {"Name": "dup"}] if v >= 6 else None
            resp = conn.call("DeleteTopics", v, {"Topics": entries, "TopicNames": ["dup", "dup"], "TimeoutMs": 10000})
            assert [(r["Name"], r["ErrorCode"]) for r in resp["Responses"]] == [("dup", NONE)], "DeleteTopics v%d" % v


def produce_batch(conn, topic, batch, version=9):
    resp = conn.call("Produce", version, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10000, "TopicData": [
        {"Name": topic, "PartitionData": [{"Index": 0, "Records": batch}]}]})
    p = resp["Responses"][0]["PartitionResponses"][0]
    return p["ErrorCode"], p["BaseOffset"]


def high_watermark(conn, topic):
    return list_offset(conn, 1, topic, 0, LATEST)[1]


@pytest.mark.parametrize("restart", ["sigterm", "kill9"])
def test_idempotent_sequences_and_epochs_by_hand_across_a_restart(make_broker, restart):
    b = make_broker().start()
    create_topic(b, "seq")
    with KafkaConnection(b.port) as conn:
        lo, hi = conn.served("InitProducerId")
        init = conn.call("InitProducerId", hi, {"TransactionalId": None, "TransactionTimeoutMs": 60000,
                                                "ProducerId": -1, "ProducerEpoch": -1})
        assert init["ErrorCode"] == NONE and init["ProducerId"] >= 0
        pid, epoch = init["ProducerId"], init["ProducerEpoch"]

        def batch(seq, n=3, producer_epoch=None):
            return record_batch([b"s%d" % (seq + i) for i in range(n)], base_timestamp=int(time.time() * 1000),
                                producer_id=pid, producer_epoch=epoch if producer_epoch is None else producer_epoch,
                                base_sequence=seq)

        first, second = batch(0), batch(3)
        assert produce_batch(conn, "seq", first) == (NONE, 0)
        assert produce_batch(conn, "seq", second) == (NONE, 3)
        # A retry of either is answered with the offsets it got, and appends nothing.
        assert produce_batch(conn, "seq", second) == (NONE, 3)
        assert produce_batch(conn, "seq", first) == (NONE, 0)
        assert high_watermark(conn, "seq") == 6
        # A gap in the sequence is refused.
        assert produce_batch(conn, "seq", batch(10))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert high_watermark(conn, "seq") == 6

    if restart == "sigterm":
        assert b.stop() == 0
    else:
        b.kill9()
    b.start()
    with KafkaConnection(b.port) as conn:
        # The producer's state came back (snapshot or log replay): still a duplicate, still a gap.
        deadline = time.time() + 30
        while True:
            answer = produce_batch(conn, "seq", second)
            if answer[0] == NONE or time.time() > deadline:
                break
            time.sleep(0.2)  # the partition may still be loading (ZooKeeper: the old session)
        assert answer == (NONE, 3)
        assert produce_batch(conn, "seq", batch(10))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce_batch(conn, "seq", batch(6)) == (NONE, 6)
        # A bumped epoch starts again at sequence 0; the old epoch is fenced from then on.
        assert produce_batch(conn, "seq", batch(5, producer_epoch=epoch + 1))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce_batch(conn, "seq", batch(0, producer_epoch=epoch + 1)) == (NONE, 9)
        assert produce_batch(conn, "seq", batch(9))[0] == INVALID_PRODUCER_EPOCH
        assert high_watermark(conn, "seq") == 12
    got = consume(b.bootstrap, "seq", 12)
    assert [m.value() for m in got] == [b"s%d" % i for i in range(9)] + [b"s%d" % i for i in range(3)]


def test_an_idempotent_retry_is_recognised_within_the_last_five_batches_only(broker):
    """Kafka keeps the producer's last five batches per partition: a retry of one
    of them is answered with its original offset and appends nothing; a retry of
    an older one is out of order (OUT_OF_ORDER_SEQUENCE_NUMBER), as in Kafka."""
    create_topic(broker, "window")
    with KafkaConnection(broker.port) as conn:
        init = conn.call("InitProducerId", conn.served("InitProducerId")[1], {
            "TransactionalId": None, "TransactionTimeoutMs": 60000, "ProducerId": -1, "ProducerEpoch": -1})
        pid, epoch = init["ProducerId"], init["ProducerEpoch"]
        batches = [record_batch([b"w%d-%d" % (k, i) for i in range(2)], base_timestamp=int(time.time() * 1000),
                                producer_id=pid, producer_epoch=epoch, base_sequence=2 * k) for k in range(7)]
        for k, bt in enumerate(batches):
            assert produce_batch(conn, "window", bt) == (NONE, 2 * k)
        for k in range(2, 7):  # the last five
            assert produce_batch(conn, "window", batches[k]) == (NONE, 2 * k), "batch %d" % k
        for k in (0, 1):
            assert produce_batch(conn, "window", batches[k])[0] == OUT_OF_ORDER_SEQUENCE_NUMBER, "batch %d" % k
        assert high_watermark(conn, "window") == 14


def legacy_message_set(value, magic=1):
    """One uncompressed legacy message (magic 0 or 1, no key) at offset 0."""
    body = struct.pack(">bb", magic, 0) + (struct.pack(">q", int(time.time() * 1000)) if magic == 1 else b"")
    body += struct.pack(">i", -1) + struct.pack(">i", len(value)) + value
    message = struct.pack(">I", zlib.crc32(body) & 0xffffffff) + body
    return struct.pack(">qi", 0, len(message)) + message


def test_produce_versions_take_the_record_formats_kafka_allows(broker):
    """Kafka's checks by Produce version, per partition: legacy message sets up
    to v2 only (INVALID_RECORD from v3), zstd batches from v7 only
    (UNSUPPORTED_COMPRESSION_TYPE before); the other partitions of the request
    are appended as usual."""
    UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD = 76, 87
    create_topic(broker, "formats", 2)
    # A real zstd batch: librdkafka's, read back from the segment it was stored in.
    produce(broker.bootstrap, "formats", [{"value": b"z" * 500, "partition": 1}], **{"compression.type": "zstd"})
    raw = (broker.dir / "data" / "formats-1" / ("%020d.log" % 0)).read_bytes()
    zstd_batch = raw[:12 + struct.unpack_from(">i", raw, 8)[0]]
    assert struct.unpack_from(">h", zstd_batch, 21)[0] & 7 == 4
    with KafkaConnection(broker.port) as conn:
        def produce_two(v, records):
            """Partition 0 gets `records`, partition 1 a plain v2 batch (v2 on: legacy before)."""
            plain = record_batch([b"p"], int(time.time() * 1000)) if v >= 3 else legacy_message_set(b"p")
            resp = conn.call("Produce", v, {"TransactionalId": None, "Acks": 1, "TimeoutMs": 5000, "TopicData": [
                {"Name": "formats", "PartitionData": [{"Index": 0, "Records": records}, {"Index": 1, "Records": plain}]}]})
            return {p["Index"]: p["ErrorCode"] for p in resp["Responses"][0]["PartitionResponses"]}

        for v in versions(conn, "Produce"):
            what = "Produce v%d" % v
            expected = NONE if v <= 2 else INVALID_RECORD
            assert produce_two(v, legacy_message_set(b"old")) == {0: expected, 1: NONE}, what
            if v >= 3:
                expected = NONE if v >= 7 else UNSUPPORTED_COMPRESSION_TYPE
                assert produce_two(v, zstd_batch) == {0: expected, 1: NONE}, what
        top = versions(conn, "Produce")[-1]
        appended = 3 + (top - 6)  # the legacy sets of v0-v2, the zstd batches of v7 on
        assert high_watermark(conn, "formats") == appended
    got = consume(broker.bootstrap, "formats", appended)  # partition 0
    assert [m.value() for m in got] == [b"old"] * 3 + [b"z" * 500] * (top - 6)


def test_fetch_isolation_levels_agree_without_transactions(broker):
    create_topic(broker, "iso")
    produce(broker.bootstrap, "iso", [{"value": b"%d" % i} for i in range(25)])
    committed = consume(broker.bootstrap, "iso", 25, **{"isolation.level": "read_committed"})
    assert [m.value() for m in committed] == [b"%d" % i for i in range(25)]
    with KafkaConnection(broker.port) as conn:
        for v in versions(conn, "Fetch"):
            if v < 4:
                continue  # the isolation level and last stable offset arrived in v4
            for isolation in (0, 1):
                topic = {"Topic": "iso", "TopicId": None} if v < 13 else {"TopicId": meta_topic_id(conn, "iso")}
                topic["Partitions"] = [{"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 1 << 20,
                                        "CurrentLeaderEpoch": -1, "LogStartOffset": -1, "LastFetchedEpoch": -1}]
                resp = conn.call("Fetch", v, {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20,
                                              "IsolationLevel": isolation, "SessionId": 0, "SessionEpoch": -1,
                                              "Topics": [topic], "ForgottenTopicsData": [], "RackId": ""})
                [p] = resp["Responses"][0]["Partitions"]
                what = "Fetch v%d isolation %d" % (v, isolation)
                assert p["ErrorCode"] == NONE and p["HighWatermark"] == 25 and p["LastStableOffset"] == 25, what
                assert not p["AbortedTransactions"], what
                if v >= 11:
                    assert p["PreferredReadReplica"] == -1, what
                assert len(p["Records"]) > 0, what


def test_fetch_before_v10_is_refused_on_a_zstd_topic(broker):
    """Fetch v10 is the first a zstd-reading client sends: Kafka answers an
    older fetch of a topic whose compression.type is zstd with
    UNSUPPORTED_COMPRESSION_TYPE for that partition (and no records), and
    serves the request's other partitions as usual."""
    UNSUPPORTED_COMPRESSION_TYPE = 76
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in a.create_topics([NewTopic("zt", 1, 1, config={"compression.type": "zstd"}),
                              NewTopic("zplain", 1, 1)]).values():
        f.result(30)
    for t in ("zt", "zplain"):
        produce(broker.bootstrap, t, [{"value": b"%s-%d" % (t.encode(), i)} for i in range(5)])
    with KafkaConnection(broker.port) as conn:
        ids = {t: meta_topic_id(conn, t) for t in ("zt", "zplain")}
        for v in versions(conn, "Fetch"):
            topics = []
            for t in ("zt", "zplain"):
                topic = {"Topic": t, "TopicId": None} if v < 13 else {"TopicId": ids[t]}
                topic["Partitions"] = [{"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 1 << 20,
                                        "CurrentLeaderEpoch": -1, "LogStartOffset": -1, "LastFetchedEpoch": -1}]
                topics.append(topic)
            resp = conn.call("Fetch", v, {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20,
                                          "IsolationLevel": 0, "SessionId": 0, "SessionEpoch": -1,
                                          "Topics": topics, "ForgottenTopicsData": [], "RackId": ""})
            [zt], [plain] = (r["Partitions"] for r in resp["Responses"])
            what = "Fetch v%d" % v
            if v < 10:
                assert zt["ErrorCode"] == UNSUPPORTED_COMPRESSION_TYPE, what
                assert zt["HighWatermark"] == -1 and not zt["Records"], what
            else:
                assert zt["ErrorCode"] == NONE and zt["HighWatermark"] == 5, what
                # Recompressed to the topic's codec: the stored batch says zstd.
                assert struct.unpack_from(">h", zt["Records"], 21)[0] & 7 == 4, what
            assert plain["ErrorCode"] == NONE and plain["HighWatermark"] == 5 and plain["Records"], what


def meta_topic_id(conn, topic):
    resp = conn.call("Metadata", 12, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False})
    return resp["Topics"][0]["TopicId"]


TOPIC, BROKER = 2, 4  # config resource types
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
NOT_ENOUGH_REPLICAS, INVALID_CONFIG = 19, 40
DYNAMIC_TOPIC_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, DEFAULT_CONFIG = 1, 3, 5


def alter(conn, version, resource_type, name, ops, validate_only=False):
    resp = conn.call("IncrementalAlterConfigs", version, {"Resources": [
        {"ResourceType": resource_type, "ResourceName": name,
         "Configs": [{"Name": k, "ConfigOperation": op, "Value": v} for k, op, v in ops]}],
        "ValidateOnly": validate_only})
    [r] = resp["Responses"]
    return r["ErrorCode"]


def topic_config(conn, topic, key):
    resp = conn.call("DescribeConfigs", 4, {"Resources": [
        {"ResourceType": TOPIC, "ResourceName": topic, "ConfigurationKeys": [key]}], "IncludeSynonyms": False})
    [r] = resp["Results"]
    assert r["ErrorCode"] == NONE
    [c] = r["Configs"]
    return c["Value"], c["ConfigSource"]


def produce_plain(conn, topic, acks):
    batch = record_batch([b"v"], base_timestamp=int(time.time() * 1000))
    resp = conn.call("Produce", 9, {"TransactionalId": None, "Acks": acks, "TimeoutMs": 5000, "TopicData": [
        {"Name": topic, "PartitionData": [{"Index": 0, "Records": batch}]}]})
    return resp["Responses"][0]["PartitionResponses"][0]["ErrorCode"]


def produces_with(conn, topic, acks, error, timeout=15):
    """True once a produce answers `error`. For a broker other than the one
    that answered the config change: it learns of it from the store's change
    notification, a moment later, as in Kafka's ZooKeeper mode. The answering
    broker has applied it before answering (produce_plain at once)."""
    deadline = time.time() + timeout
    while produce_plain(conn, topic, acks) != error:
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_incremental_alter_configs_and_min_insync_replicas(make_broker):
    b = make_broker().start()
    create_topic(b, "isr")
    create_topic(b, "other")
    with KafkaConnection(b.port) as conn:
        served = list(versions(conn, "IncrementalAlterConfigs"))
        assert served == [0, 1]
        for v in served:
            what = "IncrementalAlterConfigs v%d" % v
            # min.insync.replicas above the replicas in sync: acks=all is refused, acks=1 is not.
            assert alter(conn, v, TOPIC, "isr", [("min.insync.replicas", SET, "2")]) == NONE, what
            assert topic_config(conn, "isr", "min.insync.replicas") == ("2", DYNAMIC_TOPIC_CONFIG), what
            assert produce_plain(conn, "isr", -1) == NOT_ENOUGH_REPLICAS, what
            assert produce_plain(conn, "isr", 1) == NONE, what
            assert alter(conn, v, TOPIC, "isr", [("min.insync.replicas", DELETE, None)]) == NONE, what
            assert topic_config(conn, "isr", "min.insync.replicas") == ("1", DEFAULT_CONFIG), what
            assert produce_plain(conn, "isr", -1) == NONE, what

            # List-valued keys take APPEND and SUBTRACT (from the default when not set).
            assert alter(conn, v, TOPIC, "isr", [("cleanup.policy", APPEND, "compact")]) == NONE, what
            assert topic_config(conn, "isr", "cleanup.policy") == ("delete,compact", DYNAMIC_TOPIC_CONFIG), what
            assert alter(conn, v, TOPIC, "isr", [("cleanup.policy", SUBTRACT, "delete")]) == NONE, what
            assert topic_config(conn, "isr", "cleanup.policy") == ("compact", DYNAMIC_TOPIC_CONFIG), what
            assert alter(conn, v, TOPIC, "isr", [("cleanup.policy", DELETE, None)]) == NONE, what

            # Refused, and nothing changes: validate-only, bad values, unknown keys, APPEND to a
            # single value, unknown topics.
            assert alter(conn, v, TOPIC, "isr", [("retention.ms", SET, "1000")], validate_only=True) == NONE, what
            assert alter(conn, v, TOPIC, "isr", [("min.insync.replicas", SET, "0")]) == INVALID_CONFIG, what
            assert alter(conn, v, TOPIC, "isr", [("no.such.key", SET, "1")]) == INVALID_CONFIG, what
            assert alter(conn, v, TOPIC, "isr", [("retention.ms", APPEND, "5")]) == INVALID_CONFIG, what
            assert alter(conn, v, TOPIC, "nope", [("retention.ms", SET, "5")]) == UNKNOWN_TOPIC_OR_PARTITION, what
            assert topic_config(conn, "isr", "retention.ms") == ("604800000", DEFAULT_CONFIG), what
            assert topic_config(conn, "isr", "min.insync.replicas") == ("1", DEFAULT_CONFIG), what

        # The cluster-wide broker default applies to every topic without its own value.
        assert alter(conn, 1, BROKER, "", [("min.insync.replicas", SET, "2")]) == NONE
        assert alter(conn, 1, TOPIC, "other", [("min.insync.replicas", SET, "1")]) == NONE
        # The answering broker has applied it when it answers.
        assert topic_config(conn, "isr", "min.insync.replicas") == ("2", DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert produce_plain(conn, "isr", -1) == NOT_ENOUGH_REPLICAS
        assert produce_plain(conn, "other", -1) == NONE

    # Both live in the store: they are there after a restart.
    assert b.stop() == 0
    b.start()
    with KafkaConnection(b.port) as conn:
        deadline = time.time() + 30
        while produce_plain(conn, "other", -1) != NONE and time.time() < deadline:
            time.sleep(0.2)  # the partitions may still be loading (ZooKeeper: the old session)
        assert produce_plain(conn, "isr", -1) == NOT_ENOUGH_REPLICAS
        assert topic_config(conn, "other", "min.insync.replicas") == ("1", DYNAMIC_TOPIC_CONFIG)
        assert alter(conn, 0, BROKER, "", [("min.insync.replicas", DELETE, None)]) == NONE
        assert produce_plain(conn, "isr", -1) == NONE
    # librdkafka sees the refusal too, as its own error.
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.alter_configs([ConfigResource("topic", "isr", set_config={"min.insync.replicas": "2"})])[
        ConfigResource("topic", "isr")].result(30)
    with KafkaConnection(b.port) as conn:
        assert produce_plain(conn, "isr", -1) == NOT_ENOUGH_REPLICAS
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "retries": 0, "message.timeout.ms": 10000})
    errors = []
    p.produce("isr", b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert [e.code() for e in errors] == [KafkaError.NOT_ENOUGH_REPLICAS]


def test_config_changes_apply_on_the_answering_broker_before_it_answers(broker):
    """The broker that answers a config change has applied it: the very next
    produce and describe on it see the new value, every time. Twenty changes
    each way, each checked at once: a broker that applied its own changes
    only from the store's notification, a moment after answering, was late
    for about half of them on ZooKeeper and a few on the embedded store."""
    create_topic(broker, "flip")
    late = []
    with KafkaConnection(broker.port) as conn:
        for i in range(20):
            assert alter(conn, 1, TOPIC, "flip", [("min.insync.replicas", SET, "2")]) == NONE
            if (got := produce_plain(conn, "flip", -1)) != NOT_ENOUGH_REPLICAS:
                late.append(("topic set", i, got))
            assert alter(conn, 1, TOPIC, "flip", [("min.insync.replicas", DELETE, None)]) == NONE
            if (got := produce_plain(conn, "flip", -1)) != NONE:
                late.append(("topic deleted", i, got))
            assert alter(conn, 1, BROKER, "", [("min.insync.replicas", SET, "2")]) == NONE
            if (got := topic_config(conn, "flip", "min.insync.replicas")[0]) != "2":
                late.append(("broker set, described", i, got))
            if (got := produce_plain(conn, "flip", -1)) != NOT_ENOUGH_REPLICAS:
                late.append(("broker set", i, got))
            assert alter(conn, 1, BROKER, "", [("min.insync.replicas", DELETE, None)]) == NONE
            if (got := topic_config(conn, "flip", "min.insync.replicas")[0]) != "1":
                late.append(("broker deleted, described", i, got))
            if (got := produce_plain(conn, "flip", -1)) != NONE:
                late.append(("broker deleted", i, got))
    assert late == []


def test_config_changes_reach_a_broker_that_is_not_the_controller(zk, tmp_path):  # noqa: F811
    """A non-controller broker hosting a topic: a cluster-wide broker config
    changed through it applies to its partitions before it answers; changes
    answered by the controller reach it from the store's notification."""
    brokers = start_cluster(zk, tmp_path, "configs", ids=(1, 2))
    try:
        controller = metadata(brokers[0]).controller_id
        ctl = by_id(brokers, controller)
        other = next(b for b in brokers if b.broker_id != controller)
        a = AdminClient({"bootstrap.servers": ctl.bootstrap})
        a.create_topics([NewTopic("hosted", num_partitions=1, replica_assignment=[[other.broker_id]])])["hosted"].result(30)
        wait_for("broker %d to lead hosted-0" % other.broker_id,
                 lambda: (p := partition_in(other, "hosted")) is not None and p.leader == other.broker_id)
        with KafkaConnection(other.port) as conn, KafkaConnection(ctl.port) as ctl_conn:
            wait_for("hosted-0 to take acks=all", lambda: produce_plain(conn, "hosted", -1) == NONE)
            # Through the broker that hosts it: applied when it answers.
            assert alter(conn, 1, BROKER, "", [("min.insync.replicas", SET, "2")]) == NONE
            assert topic_config(conn, "hosted", "min.insync.replicas") == ("2", DYNAMIC_DEFAULT_BROKER_CONFIG)
            assert produce_plain(conn, "hosted", -1) == NOT_ENOUGH_REPLICAS
            # Through the controller: the hosting broker hears of it a moment later.
            assert alter(ctl_conn, 1, BROKER, "", [("min.insync.replicas", DELETE, None)]) == NONE
            assert produces_with(conn, "hosted", -1, NONE)
            assert alter(ctl_conn, 1, TOPIC, "hosted", [("min.insync.replicas", SET, "2")]) == NONE
            assert produces_with(conn, "hosted", -1, NOT_ENOUGH_REPLICAS)
            assert alter(ctl_conn, 1, TOPIC, "hosted", [("min.insync.replicas", DELETE, None)]) == NONE
            assert alter(ctl_conn, 1, BROKER, "", [("min.insync.replicas", SET, "2")]) == NONE
            assert produces_with(conn, "hosted", -1, NOT_ENOUGH_REPLICAS)
    finally:
        stop_cluster(brokers)


def test_alter_configs_requests_of_the_wrong_shape_are_refused_whole(broker):
    """Kafka's checks before any resource is looked at: a resource named twice is
    refused at every entry, a key named twice or a null value (but for a DELETE)
    refuses its resource, and the other resources of the request still apply."""
    create_topic(broker, "shape")
    create_topic(broker, "shape2")
    with KafkaConnection(broker.port) as conn:
        def answers(api, version, resources):
            resp = conn.call(api, version, {"Resources": [
                {"ResourceType": t, "ResourceName": n,
                 "Configs": [{"Name": k, "ConfigOperation": op, "Value": v} for k, op, v in ops]}
                for t, n, ops in resources], "ValidateOnly": False})
            return [(r["ResourceName"], r["ErrorCode"], r["ErrorMessage"]) for r in resp["Responses"]]

        for api in ("AlterConfigs", "IncrementalAlterConfigs"):
            for v in versions(conn, api):
                what = "%s v%d" % (api, v)
                got = answers(api, v, [(TOPIC, "shape", [("retention.ms", SET, "1000")]),
                                       (TOPIC, "shape2", [("retention.ms", SET, "2000")]),
                                       (TOPIC, "shape", [("retention.ms", SET, "3000")])])
                assert got == [("shape", INVALID_REQUEST, "Each resource must appear at most once."),
                               ("shape2", NONE, None),
                               ("shape", INVALID_REQUEST, "Each resource must appear at most once.")], what
                assert topic_config(conn, "shape", "retention.ms")[0] == "604800000", what
                assert topic_config(conn, "shape2", "retention.ms") == ("2000", DYNAMIC_TOPIC_CONFIG), what
                got = answers(api, v, [(TOPIC, "shape", [("retention.ms", SET, "1000"),
                                                         ("retention.ms", SET, "1000")])])
                assert got == [("shape", INVALID_REQUEST, "Error due to duplicate config keys")], what
                got = answers(api, v, [(TOPIC, "shape", [("retention.ms", SET, None),
                                                         ("segment.ms", SET, None)])])
                assert got == [("shape", INVALID_REQUEST, "Null value not supported for : retention.ms, segment.ms")], what
                assert topic_config(conn, "shape", "retention.ms")[0] == "604800000", what
                assert topic_config(conn, "shape", "segment.ms")[0] == "604800000", what
                answers(api, v, [(TOPIC, "shape2", [("retention.ms", DELETE, None)])] if api != "AlterConfigs"
                        else [(TOPIC, "shape2", [])])
        # A DELETE takes no value.
        assert answers("IncrementalAlterConfigs", 1, [(TOPIC, "shape", [("retention.ms", DELETE, None)])]) == \
            [("shape", NONE, None)]


def whole_batches(records):
    """(base offset, size) of each complete batch in a fetched partition's records."""
    out, pos = [], 0
    records = records or b""
    while pos + 12 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break  # a partial batch at the end, as Kafka may send: clients drop it
        out.append((base, 12 + length))
        pos += 12 + length
    return out


def fetch(conn, v, topic_id, parts, max_bytes, min_bytes=0, max_wait_ms=0):
    """{partition: [(base offset, size)...]} for a fetch of {partition: (offset, partition max bytes)}."""
    topic = {"Topic": "lim", "TopicId": topic_id, "Partitions": [
        {"Partition": p, "FetchOffset": o, "PartitionMaxBytes": m, "CurrentLeaderEpoch": -1, "LogStartOffset": -1,
         "LastFetchedEpoch": -1} for p, (o, m) in parts.items()]}
    resp = conn.call("Fetch", v, {"ReplicaId": -1, "MaxWaitMs": max_wait_ms, "MinBytes": min_bytes,
                                  "MaxBytes": max_bytes, "IsolationLevel": 0, "SessionId": 0, "SessionEpoch": -1,
                                  "Topics": [topic], "ForgottenTopicsData": [], "RackId": ""})
    [t] = resp["Responses"]
    assert all(p["ErrorCode"] == NONE for p in t["Partitions"])
    # One broker: no follower to send the reader to (KIP-392's field, v11+), and
    # every partition's header gives its high watermark and log start.
    if v >= 11:
        assert all(p["PreferredReadReplica"] == -1 for p in t["Partitions"]), "Fetch v%d" % v
    assert all(p["HighWatermark"] == {0: 6, 1: 3}[p["PartitionIndex"]] for p in t["Partitions"]), "Fetch v%d" % v
    if v >= 5:
        assert all(p["LogStartOffset"] == 0 for p in t["Partitions"]), "Fetch v%d" % v
    return {p["PartitionIndex"]: whole_batches(p["Records"]) for p in t["Partitions"]}


def fill_lim(conn):
    """Topic "lim": one record of 10,000 bytes per batch, six batches in partition 0, three in 1."""
    for p, n in ((0, 6), (1, 3)):
        for _ in range(n):
            resp = conn.call("Produce", 9, {"TransactionalId": None, "Acks": 1, "TimeoutMs": 5000, "TopicData": [
                {"Name": "lim", "PartitionData": [
                    {"Index": p, "Records": record_batch([b"x" * 10_000], int(time.time() * 1000))}]}]})
            assert resp["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == NONE


def test_fetch_honours_max_bytes_partition_max_bytes_and_min_bytes(broker):
    create_topic(broker, "lim", 2)
    with KafkaConnection(broker.port) as conn:
        fill_lim(conn)
        topic_id = meta_topic_id(conn, "lim")
        size = fetch(conn, 12, topic_id, {0: (0, 1 << 20)}, 1 << 20)[0][0][1]
        assert 10_000 < size < 10_100
        for v in versions(conn, "Fetch"):
            if v < 3:
                continue  # the response-wide limit arrived in v3 (KIP-74)
            what = "Fetch v%d" % v
            both = lambda pmb: {0: (0, pmb), 1: (0, pmb)}  # noqa: E731
            # Everything fits.
            got = fetch(conn, v, topic_id, both(1 << 20), 1 << 20)
            assert [len(got[0]), len(got[1])] == [6, 3], what
            # The response limit: whole batches while they fit, in partition order.
            got = fetch(conn, v, topic_id, both(1 << 20), int(2.5 * size))
            assert [len(got[0]), len(got[1])] == [2, 0], what
            # Below one batch: the first partition's first batch comes anyway, so the consumer moves on.
            got = fetch(conn, v, topic_id, both(1 << 20), 100)
            assert [len(got[0]), len(got[1])] == [1, 0], what
            # The partition limit, with room in the response.
            got = fetch(conn, v, topic_id, both(int(1.5 * size)), 1 << 20)
            assert [len(got[0]), len(got[1])] == [1, 1], what
            got = fetch(conn, v, topic_id, both(100), 1 << 20)
            assert [len(got[0]), len(got[1])] == [1, 0], what
            # From offset 4: what is left, with the right offsets.
            got = fetch(conn, v, topic_id, {0: (4, 1 << 20)}, 1 << 20)
            assert [b for b, _ in got[0]] == [4, 5], what
        # MinBytes more than there is: the fetch waits MaxWaitMs, then answers with what there is.
        start = time.time()
        got = fetch(conn, 12, topic_id, both(1 << 20), 1 << 20, min_bytes=1 << 20, max_wait_ms=600)
        waited = time.time() - start
        assert [len(got[0]), len(got[1])] == [6, 3]
        assert 0.5 <= waited < 5, "waited %.2f s" % waited
        # MinBytes already there: no wait.
        start = time.time()
        fetch(conn, 12, topic_id, both(1 << 20), 1 << 20, min_bytes=size, max_wait_ms=5000)
        assert time.time() - start < 2


# Fields a minimal request must set for the broker to answer at all.
MINIMAL = {
    "Produce": {"Acks": 1, "TimeoutMs": 1000},  # acks 0 gets no answer
    "Fetch": {"ReplicaId": -1, "MaxBytes": 1 << 20, "SessionEpoch": -1},
    "ListOffsets": {"ReplicaId": -1},
}


def test_the_brokers_fetch_max_bytes_caps_what_a_consumer_asks_for(make_broker):
    """fetch.max.bytes (KIP-541): whatever a consumer's MaxBytes, the answer
    holds no more (whole batches, at least one), and a real consumer that
    asks for Kafka's default 50 MiB still reads everything."""
    b = make_broker(extra_config="fetch.max.bytes: 25000\n")
    b.start()
    create_topic(b, "lim", 2)
    with KafkaConnection(b.port) as conn:
        fill_lim(conn)
        topic_id = meta_topic_id(conn, "lim")
        got = fetch(conn, 12, topic_id, {0: (0, 1 << 20), 1: (0, 1 << 20)}, 1 << 20)
        assert [len(got[0]), len(got[1])] == [2, 0]
        got = fetch(conn, 12, topic_id, {0: (5, 1 << 20), 1: (0, 1 << 20)}, 1 << 20)
        assert [len(got[0]), len(got[1])] == [1, 1], "room for the second partition's first batch"
    values = consume(b.bootstrap, "lim", 9, partitions=2)
    assert len(values) == 9
    assert b.stop() == 0


def test_every_served_version_answers_a_minimal_request_that_decodes_whole(broker):
    """Each (API, version) keel lists, sent with the schema's defaults (empty
    lists, nulls, zeros): the answer parses by a second reading of the schemas
    with no byte left over."""
    with KafkaConnection(broker.port) as conn:
        listed = conn.call("ApiVersions", 3, {"ClientSoftwareName": "pytest", "ClientSoftwareVersion": "0"})["ApiKeys"]
    names = {schema(path.stem)["apiKey"]: path.stem[:-len("Request")] for path in SCHEMAS.glob("*Request.json")}
    checked = 0
    for entry in listed:
        api = names[entry["ApiKey"]]
        for v in range(entry["MinVersion"], entry["MaxVersion"] + 1):
            # A connection per call: some answers (SASL on a plain listener) end the connection.
            with KafkaConnection(broker.port) as conn:
                try:
                    conn.call(api, v, MINIMAL.get(api, {}))
                except Exception as e:  # noqa: BLE001 (named in the failure)
                    raise AssertionError("%s v%d: %s" % (api, v, e)) from e
            checked += 1
    assert checked >= 150, "only %d (API, version) pairs listed" % checked
