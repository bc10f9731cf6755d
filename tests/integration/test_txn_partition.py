"""The partition side of transactions on the wire, driven by hand with
requests built from the protocol's schemas (kafka_schema.py), so the tests do
not depend on the transaction coordinator: transactional batches produced
with KIP-890 verification off (transaction.partition.verification.enable:
false), WriteTxnMarkers sent as an admin client would (kafka-transactions.sh
abort), and what consumers see: the last stable offset, the aborted list of
read_committed fetches, ListOffsets under read_committed, DescribeProducers,
a real read_committed consumer (librdkafka) skipping the aborted records, and
random commits and aborts of five producers over small segments read back
from many offsets by a consumer that follows Kafka's client rules.
Two tests go through the transaction coordinator instead: librdkafka's
transactional producers interleave commits and aborts over small segments,
and librdkafka's and kafkajs' read_committed consumers see the committed
records only."""

import random
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_harness import by_id, start_cluster, stop_cluster
from kafka_schema import KafkaConnection, crc32c, decode, encode, record_batch, schema
from kafka_wire import uvarint
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_kafkajs import node, scripts  # noqa: F401 (fixtures)
from test_transactions import CLUSTER_CONFIG, find_txn_coordinator, init_producer_id, until_ready

NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH, COORDINATOR_FENCED = 0, 3, 47, 52
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
LATEST = -1
TXN_CONFIG = "transaction.partition.verification.enable: false\n"
# Record timestamps near now: a segment whose first batch looks older than
# segment.ms rolls at the next append, and a fetch reads one segment at a time.
NOW = int(time.time() * 1000)


@pytest.fixture
def txn_broker(make_broker):
    return make_broker(extra_config=TXN_CONFIG).start()


def create_topic(broker, name, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    for f in futures.values():
        f.result(30)


def txn_batch(values, pid, seq, epoch=0, timestamp=NOW):
    """A transactional batch (attribute bit 0x10) as a transactional producer sends it."""
    b = bytearray(record_batch(values, base_timestamp=timestamp, producer_id=pid, producer_epoch=epoch,
                               base_sequence=seq))
    struct.pack_into(">h", b, 21, 0x10)  # attributes follow the CRC, which covers them
    struct.pack_into(">I", b, 17, crc32c(bytes(b[21:])))
    return bytes(b)


def produce(conn, topic, batch, transactional_id=None):
    resp = conn.call("Produce", 8, {"TransactionalId": transactional_id, "Acks": -1, "TimeoutMs": 10000,
                                    "TopicData": [{"Name": topic, "PartitionData": [
                                        {"Index": 0, "Records": batch}]}]})
    p = resp["Responses"][0]["PartitionResponses"][0]
    assert p["ErrorCode"] == NONE, p
    return p["BaseOffset"]


def write_marker(conn, pid, commit, coordinator_epoch, topic, epoch=0, partitions=(0,)):
    resp = conn.call("WriteTxnMarkers", 1, {"Markers": [{
        "ProducerId": pid, "ProducerEpoch": epoch, "TransactionResult": commit,
        "Topics": [{"Name": topic, "PartitionIndexes": list(partitions)}], "CoordinatorEpoch": coordinator_epoch}]})
    assert len(resp["Markers"]) == 1 and resp["Markers"][0]["ProducerId"] == pid
    return {(t["Name"], p["PartitionIndex"]): p["ErrorCode"]
            for t in resp["Markers"][0]["Topics"] for p in t["Partitions"]}


def fetch_values(isolation, topic, offset, max_wait=0, max_bytes=1 << 20):
    return {"MaxWaitMs": max_wait, "MinBytes": 1, "IsolationLevel": isolation,
            "Topics": [{"Topic": topic, "Partitions": [{"Partition": 0, "FetchOffset": offset,
                                                        "PartitionMaxBytes": max_bytes}]}]}


def fetch(conn, topic, offset, isolation, version=11, max_bytes=1 << 20):
    resp = conn.call("Fetch", version, fetch_values(isolation, topic, offset, max_bytes=max_bytes))
    return resp["Responses"][0]["Partitions"][0]


def batches(records):
    """(base offset, producer id, is control, record count) of each batch in fetched bytes."""
    out, pos = [], 0
    while records and pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        attributes, = struct.unpack_from(">h", records, pos + 21)
        pid, = struct.unpack_from(">q", records, pos + 43)
        count, = struct.unpack_from(">i", records, pos + 57)
        out.append((base, pid, bool(attributes & 0x20), count))
        pos += 12 + length
    return out


def legacy_offsets(records):
    """The offsets of the messages in a legacy (magic 0/1) message set."""
    out, pos = [], 0
    while records and pos + 12 <= len(records):
        offset, size = struct.unpack_from(">qi", records, pos)
        out.append(offset)
        pos += 12 + size
    return out


def data_offsets(p):
    return [b[0] for b in batches(p["Records"]) if not b[2]]


def list_latest(conn, topic, isolation, timestamp=LATEST):
    resp = conn.call("ListOffsets", 5, {"ReplicaId": -1, "IsolationLevel": isolation, "Topics": [
        {"Name": topic, "Partitions": [{"PartitionIndex": 0, "Timestamp": timestamp}]}]})
    p = resp["Topics"][0]["Partitions"][0]
    assert p["ErrorCode"] == NONE, p
    return p["Offset"]


def open_txns(conn, topic):
    resp = conn.call("DescribeProducers", 0, {"Topics": [{"Name": topic, "PartitionIndexes": [0]}]})
    p = resp["Topics"][0]["Partitions"][0]
    assert p["ErrorCode"] == NONE, p
    return {s["ProducerId"]: (s["CurrentTxnStartOffset"], s["CoordinatorEpoch"]) for s in p["ActiveProducers"]}


def consume(bootstrap, topic, isolation, want, timeout=20, **conf):
    """What librdkafka's consumer delivers from partition 0: `want` messages,
    then anything more within half a second (or what came within `timeout` s)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "isolation.level": isolation, "fetch.wait.max.ms": 50, **conf})
    c.assign([TopicPartition(topic, 0, 0)])
    seen, deadline = [], time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(0.1)
            if m is not None and not m.error():
                seen.append(m.value())
            if len(seen) >= want:
                deadline = min(deadline, time.time() + 0.5)
    finally:
        c.close()
    return seen


def test_markers_move_the_stable_offset_and_fill_the_aborted_list(txn_broker):
    topic = "txp-" + uuid.uuid4().hex[:8]
    create_topic(txn_broker, topic)
    with KafkaConnection(txn_broker.port) as conn:
        assert conn.served("WriteTxnMarkers") == (0, 1)
        assert conn.served("DescribeProducers") == (0, 0)
        # 0-2: producer 901's transaction (to be aborted), 3-4: 902's (to be
        # committed), 5: a plain record.
        assert produce(conn, topic, txn_batch([b"a0", b"a1", b"a2"], 901, 0), "tx-a") == 0
        assert produce(conn, topic, txn_batch([b"b0", b"b1"], 902, 0, timestamp=NOW + 2000), "tx-b") == 3
        assert produce(conn, topic, record_batch([b"plain"], base_timestamp=NOW + 3000)) == 5

        assert list_latest(conn, topic, READ_COMMITTED) == 0, "the open transaction pins the LSO"
        assert list_latest(conn, topic, READ_UNCOMMITTED) == 6
        assert list_latest(conn, topic, READ_COMMITTED, timestamp=NOW + 2000) == -1, "lookups stop at the LSO"
        assert list_latest(conn, topic, READ_UNCOMMITTED, timestamp=NOW + 2000) == 3
        assert open_txns(conn, topic) == {901: (0, -1), 902: (3, -1)}

        p = fetch(conn, topic, 0, READ_COMMITTED)
        assert p["ErrorCode"] == NONE and p["HighWatermark"] == 6 and p["LastStableOffset"] == 0
        assert p["AbortedTransactions"] == [] and data_offsets(p) == []
        p = fetch(conn, topic, 0, READ_UNCOMMITTED)
        assert p["LastStableOffset"] == 0 and p["AbortedTransactions"] is None
        assert data_offsets(p) == [0, 3, 5]

        assert write_marker(conn, 901, False, 3, topic) == {(topic, 0): NONE}  # offset 6
        assert list_latest(conn, topic, READ_COMMITTED) == 3, "902's transaction is still open"
        assert write_marker(conn, 902, True, 3, topic) == {(topic, 0): NONE}  # offset 7
        assert list_latest(conn, topic, READ_COMMITTED) == 8
        assert open_txns(conn, topic) == {901: (-1, 3), 902: (-1, 3)}

        p = fetch(conn, topic, 0, READ_COMMITTED)
        assert p["LastStableOffset"] == 8 and p["HighWatermark"] == 8
        assert p["AbortedTransactions"] == [{"ProducerId": 901, "FirstOffset": 0}]
        assert [(b[0], b[1], b[2]) for b in batches(p["Records"])] == [
            (0, 901, False), (3, 902, False), (5, -1, False), (6, 901, True), (7, 902, True)]
        # A fetch starting after the aborted transaction's marker does not get it.
        p = fetch(conn, topic, 7, READ_COMMITTED)
        assert p["AbortedTransactions"] == []
        p = fetch(conn, topic, 0, READ_UNCOMMITTED)
        assert p["AbortedTransactions"] is None and p["LastStableOffset"] == 8
        # Fetch v3 (no isolation level) down-converts to legacy messages: the
        # markers are not messages.
        p = fetch(conn, topic, 0, READ_UNCOMMITTED, version=3)
        assert legacy_offsets(p["Records"]) == [0, 1, 2, 3, 4, 5]

        # A coordinator older than the one that wrote the last marker is fenced;
        # an older producer epoch too; a partition not here is unknown.
        assert write_marker(conn, 901, False, 2, topic) == {(topic, 0): COORDINATOR_FENCED}
        assert write_marker(conn, 902, True, 3, topic, epoch=-1) == {(topic, 0): INVALID_PRODUCER_EPOCH}
        assert write_marker(conn, 901, False, 3, "no-such-topic") == {("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION}
        # A producer with no open transaction gets its marker anyway.
        assert write_marker(conn, 903, True, 1, topic) == {(topic, 0): NONE}
        assert list_latest(conn, topic, READ_UNCOMMITTED) == 9


def test_a_sequence_reused_after_its_transaction_ended_is_out_of_order_not_a_duplicate(txn_broker):
    """A retry inside its transaction is answered as a duplicate with the original
    offset; the same sequence after the transaction's marker is OUT_OF_ORDER_SEQUENCE_NUMBER,
    not a duplicate that would drop the new records (what librdkafka sends after
    purging, at an abort, a batch whose leader died after writing it: docs/chaos.md)."""
    out_of_order = 45
    topic = "txs-" + uuid.uuid4().hex[:8]
    create_topic(txn_broker, topic)

    def send(conn, batch):
        resp = conn.call("Produce", 8, {"TransactionalId": "tx-s", "Acks": -1, "TimeoutMs": 10000,
                                        "TopicData": [{"Name": topic, "PartitionData": [
                                            {"Index": 0, "Records": batch}]}]})
        p = resp["Responses"][0]["PartitionResponses"][0]
        return p["ErrorCode"], p["BaseOffset"]

    with KafkaConnection(txn_broker.port) as conn:
        assert send(conn, txn_batch([b"first"], 905, 0)) == (NONE, 0)
        assert send(conn, txn_batch([b"first"], 905, 0)) == (NONE, 0), "a retry in its transaction"
        assert write_marker(conn, 905, False, 1, topic) == {(topic, 0): NONE}  # offset 1
        error, _ = send(conn, txn_batch([b"second"], 905, 0))
        assert error == out_of_order
        assert send(conn, txn_batch([b"third"], 905, 1)) == (NONE, 2), "the next sequence goes on"
        assert write_marker(conn, 905, True, 1, topic) == {(topic, 0): NONE}
        p = fetch(conn, topic, 0, READ_COMMITTED)
        assert p["LastStableOffset"] == 4
        assert p["AbortedTransactions"] == [{"ProducerId": 905, "FirstOffset": 0}]
    # A real read_committed consumer sees the committed record only.
    assert consume(txn_broker.bootstrap, topic, "read_committed", 1) == [b"third"]


def test_a_read_committed_fetch_waiting_at_the_stable_offset_wakes_on_the_marker(txn_broker):
    topic = "txw-" + uuid.uuid4().hex[:8]
    create_topic(txn_broker, topic)
    with KafkaConnection(txn_broker.port) as conn, KafkaConnection(txn_broker.port) as waiter:
        produce(conn, topic, txn_batch([b"w0", b"w1"], 904, 0), "tx-w")
        # Sent now, answered when something is stable past offset 0.
        req = schema("FetchRequest")
        payload = (struct.pack(">hhih", req["apiKey"], 11, 77, 4) + b"wait" +
                   encode("FetchRequest", 11, fetch_values(READ_COMMITTED, topic, 0, max_wait=10000)))
        waiter.sock.sendall(struct.pack(">i", len(payload)) + payload)
        time.sleep(0.5)
        start = time.monotonic()
        assert write_marker(conn, 904, True, 1, topic) == {(topic, 0): NONE}
        waiter.sock.settimeout(10)
        size, = struct.unpack(">i", waiter._recv_exact(4))
        data = waiter._recv_exact(size)
        elapsed = time.monotonic() - start
        assert struct.unpack_from(">i", data, 0)[0] == 77
        p = decode("FetchResponse", 11, data[4:])["Responses"][0]["Partitions"][0]
        assert elapsed < 5, "the marker did not wake the waiting fetch (%.1f s)" % elapsed
        assert p["LastStableOffset"] == 3 and data_offsets(p) == [0]


def test_a_read_committed_consumer_skips_aborted_records(txn_broker):
    """librdkafka's consumer (isolation.level=read_committed, its default)
    against interleaved committed and aborted transactions of three producers
    and plain records, with markers in between."""
    topic = "txc-" + uuid.uuid4().hex[:8]
    create_topic(txn_broker, topic)
    expected_committed = []
    with KafkaConnection(txn_broker.port) as conn:
        seq = {}
        for round_ in range(4):
            for pid in (911, 912, 913):
                values = [b"%d-%d-%d" % (pid, round_, i) for i in range(3)]
                produce(conn, topic, txn_batch(values, pid, seq.get(pid, 0)), "tx-%d" % pid)
                seq[pid] = seq.get(pid, 0) + 3
                if (pid + round_) % 2 == 0:
                    expected_committed += values
            plain = b"plain-%d" % round_
            produce(conn, topic, record_batch([plain], base_timestamp=NOW))
            expected_committed.append(plain)
            for pid in (911, 912, 913):
                commit = (pid + round_) % 2 == 0
                assert write_marker(conn, pid, commit, 1, topic) == {(topic, 0): NONE}
        assert list_latest(conn, topic, READ_COMMITTED) == list_latest(conn, topic, READ_UNCOMMITTED)

    committed = consume(txn_broker.bootstrap, topic, "read_committed", len(expected_committed))
    assert committed == expected_committed
    everything = consume(txn_broker.bootstrap, topic, "read_uncommitted", 4 * (3 * 3 + 1))
    assert len(everything) == 4 * (3 * 3 + 1) and set(expected_committed) < set(everything)


# The coordinator on one broker: __transaction_state on one replica.
COORDINATOR_CONFIG = ("transaction.state.log.replication.factor: 1\n"
                      "transaction.state.log.min.isr: 1\n"
                      "transaction.state.log.num.partitions: 3\n")


def interleaved_transactions(broker, topic):
    """Two librdkafka transactional producers interleave committed and
    aborted transactions on partition 0 of `topic` (small segments, so an
    aborted transaction's records and its marker land in different segments,
    AutoMQ #754). Returns (the committed values in log order, all values)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": "1024"})])[topic].result(30)
    producers = {}
    for name in ("a", "b"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "txi-%s-%s" % (name, topic),
                      "linger.ms": 0})
        p.init_transactions(30)
        producers[name] = p
    committed, everything = [], []
    for round_ in range(6):
        for p in producers.values():
            p.begin_transaction()
        for i in range(4):
            for name, p in producers.items():
                value = b"%s-%d-%d-" % (name.encode(), round_, i) + b"x" * 100
                p.produce(topic, value=value, partition=0)
                p.flush(10)  # one batch each: the producers' batches alternate in the log
                everything.append(value)
        for name, p in producers.items():
            if (round_ + (name == "b")) % 2 == 0:
                p.commit_transaction(30)
                committed += [v for v in everything[-8:] if v.startswith(name.encode())]
            else:
                p.abort_transaction(30)
    segments = list((broker.dir / "data" / (topic + "-0")).glob("*.log"))
    assert len(segments) > 3, "the test wants several segments, got %d" % len(segments)
    return committed, everything


def test_interleaved_transactions_over_small_segments(make_broker):
    """librdkafka's read_committed consumer, reading a little at a time (so
    fetches start mid-segment), gets exactly the committed records; a
    read_uncommitted one everything."""
    broker = make_broker(extra_config=COORDINATOR_CONFIG).start()
    topic = "txi-" + uuid.uuid4().hex[:8]
    committed, everything = interleaved_transactions(broker, topic)
    got = consume(broker.bootstrap, topic, "read_committed", len(committed), **{"max.partition.fetch.bytes": 1024})
    assert sorted(got) == sorted(committed) and len(got) == len(committed)
    for name in (b"a", b"b"):  # each producer's committed records in its order
        assert [v for v in got if v.startswith(name)] == [v for v in committed if v.startswith(name)]
    assert sorted(consume(broker.bootstrap, topic, "read_uncommitted", len(everything))) == sorted(everything)


def test_kafkajs_read_committed_consumer_skips_aborted_transactions(make_broker, scripts):
    """kafkajs 2.2.4 consumes read_committed by default and looks only at the
    head of the aborted list, so the list must be sorted by first offset."""
    broker = make_broker(extra_config=COORDINATOR_CONFIG).start()
    topic = "txj-" + uuid.uuid4().hex[:8]
    committed, _ = interleaved_transactions(broker, topic)
    s = scripts("group.js", {"brokers": [broker.bootstrap], "topic": topic, "groupId": "txj-" + topic,
                             "members": 1, "partitions": 1, "expect": len(committed), "lingerMs": 1000,
                             "timeoutMs": 30000})
    done = s.next_event("done", 40)
    s.finish()
    got = [bytes.fromhex(r["value"]) for r in sorted(done["records"], key=lambda r: r["offset"])]
    assert sorted(got) == sorted(committed) and len(got) == len(committed)


def visible_records(conn, topic, start, end, max_bytes):
    """Reads [start, end) read_committed, `max_bytes` per fetch, and keeps
    what Kafka's Java consumer keeps: it adds an aborted transaction's
    producer once the fetched batches reach its first offset (the list in
    first-offset order), skips that producer's transactional batches until
    its ABORT marker, and never returns control batches. Returns
    [(offset, value)]."""
    out, offset = [], start
    while offset < end:
        p = fetch(conn, topic, offset, READ_COMMITTED, max_bytes=max_bytes)
        assert p["ErrorCode"] == NONE and p["LastStableOffset"] == end, p
        aborted = p["AbortedTransactions"]
        assert aborted == sorted(aborted, key=lambda a: a["FirstOffset"]), "the list is sorted by first offset"
        records, pos, skipping = p["Records"] or b"", 0, set()
        assert records, "no progress at offset %d" % offset
        while pos + 61 <= len(records):
            base, length = struct.unpack_from(">qi", records, pos)
            attributes, last_delta = struct.unpack_from(">hi", records, pos + 21)
            pid, = struct.unpack_from(">q", records, pos + 43)
            body = records[pos + 61:pos + 12 + length]
            pos += 12 + length
            while aborted and aborted[0]["FirstOffset"] <= base + last_delta:
                skipping.add(aborted.pop(0)["ProducerId"])
            if attributes & 0x20:  # a marker: key version int16, type int16 (0 = ABORT, 1 = COMMIT)
                if struct.unpack_from(">h", _records(body)[0][0], 2)[0] == 0:
                    skipping.discard(pid)
            elif not (attributes & 0x10 and pid in skipping):
                out += [(base + i, v) for i, (_, v) in enumerate(_records(body)) if base + i >= offset]
            offset = base + last_delta + 1
    return out


def _varint(data, pos):
    """A zigzag varint (record fields) at pos: (value, next pos)."""
    value, pos = uvarint(data, pos)
    return (value >> 1) ^ -(value & 1), pos


def _records(body):
    """(key, value) of each record of an uncompressed batch (None for null)."""
    out, pos = [], 0
    while pos < len(body):
        length, pos = _varint(body, pos)
        end = pos + length
        pos += 1  # attributes
        _, pos = _varint(body, pos)  # timestamp delta
        _, pos = _varint(body, pos)  # offset delta
        fields = []
        for _ in range(2):  # key, value
            n, pos = _varint(body, pos)
            fields.append(None if n < 0 else bytes(body[pos:pos + n]))
            pos += max(n, 0)
        out.append(tuple(fields))
        pos = end
    return out


def test_random_commits_and_aborts_over_small_segments(txn_broker):
    """Five producers open, extend, commit and abort transactions at random,
    with plain records between, over 1 KiB segments; reading read_committed
    from many offsets (mid-transaction, mid-segment) and in small fetches,
    a consumer following Kafka's rules sees every committed record and
    nothing aborted."""
    rng = random.Random(25)
    topic = "txr-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": txn_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": "1024"})])[topic].result(30)
    pids = [921, 922, 923, 924, 925]
    open_values, seq, visible, n = {}, {}, {}, 0
    with KafkaConnection(txn_broker.port) as conn:
        for _ in range(260):
            pid = rng.choice(pids + [None])
            if pid is None:
                value = b"plain-%d" % n
                visible[produce(conn, topic, record_batch([value], base_timestamp=NOW))] = value
            elif pid in open_values and rng.random() < 0.3:
                commit = rng.random() < 0.5
                assert write_marker(conn, pid, commit, 1, topic) == {(topic, 0): NONE}
                if commit:
                    visible.update(open_values[pid])
                del open_values[pid]
            else:
                values = [b"%d-%d-%d" % (pid, n, i) for i in range(rng.randint(1, 3))]
                base = produce(conn, topic, txn_batch(values, pid, seq.get(pid, 0)), "tx-%d" % pid)
                seq[pid] = seq.get(pid, 0) + len(values)
                open_values.setdefault(pid, {}).update({base + i: v for i, v in enumerate(values)})
            n += 1
        for pid in list(open_values):
            assert write_marker(conn, pid, False, 1, topic) == {(topic, 0): NONE}
        end = list_latest(conn, topic, READ_COMMITTED)
        assert end == list_latest(conn, topic, READ_UNCOMMITTED)
        segments = list((txn_broker.dir / "data" / (topic + "-0")).glob("*.log"))
        assert len(segments) > 5, "the test wants many segments, got %d" % len(segments)
        starts = [0] + rng.sample(range(1, end), 12)
        for start in starts:
            for max_bytes in (1 << 20, 200):
                got = visible_records(conn, topic, start, end, max_bytes)
                want = sorted((o, v) for o, v in visible.items() if o >= start)
                assert got == want, "read_committed from %d (max %s bytes)" % (start, max_bytes)


def last_timestamps(conn, topic):
    """DescribeProducers' LastTimestamp per producer id; None while the partition is not served."""
    resp = conn.call("DescribeProducers", 0, {"Topics": [{"Name": topic, "PartitionIndexes": [0]}]})
    p = resp["Topics"][0]["Partitions"][0]
    return {s["ProducerId"]: s["LastTimestamp"] for s in p["ActiveProducers"]} if p["ErrorCode"] == NONE else None


def test_describe_producers_shows_the_batchs_max_timestamp(make_broker):
    """LastTimestamp is the last batch's max timestamp (Kafka's
    ProducerStateEntry.lastTimestamp), not when the broker appended it; the
    same after a restart, which reloads the producer state."""
    broker = make_broker(extra_config=TXN_CONFIG).start()
    topic = "txts-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic)
    hour_ago = NOW - 3600 * 1000
    with KafkaConnection(broker.port) as conn:
        # Idempotent, the max in the middle of the batch.
        batch = record_batch([b"a", b"b", b"c"], timestamps=[hour_ago, hour_ago + 500, hour_ago + 200],
                             producer_id=801, producer_epoch=0, base_sequence=0)
        assert produce(conn, topic, batch) == 0
        assert produce(conn, topic, txn_batch([b"t"], 802, 0, timestamp=hour_ago + 900), "tx-ts") == 3
        assert last_timestamps(conn, topic) == {801: hour_ago + 500, 802: hour_ago + 900}
    broker.stop()
    broker.start()
    with KafkaConnection(broker.port) as conn:
        got = wait_for("the partition after the restart", lambda: last_timestamps(conn, topic))
        assert got == {801: hour_ago + 500, 802: hour_ago + 900}


def test_list_transactions_v1_filters_by_duration(make_broker):
    """ListTransactions v1 (KIP-994): DurationFilter keeps the transactions
    running longer than that many ms; -1 (and v0) keeps them all."""
    broker = make_broker(extra_config=COORDINATOR_CONFIG).start()
    topic = "txl-" + uuid.uuid4().hex[:8]
    create_topic(broker, topic)

    def begin(txn_id):
        error, pid, epoch = init_producer_id(broker.port, txn_id)
        assert error == NONE
        with KafkaConnection(broker.port) as conn:
            def add():
                r = conn.call("AddPartitionsToTxn", 1, {
                    "V3AndBelowTransactionalId": txn_id, "V3AndBelowProducerId": pid,
                    "V3AndBelowProducerEpoch": epoch, "V3AndBelowTopics": [{"Name": topic, "Partitions": [0]}]})
                return (r["ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"],)
            assert until_ready(add) == (NONE,)

    begin("txl-old")
    time.sleep(1.5)
    begin("txl-new")
    with KafkaConnection(broker.port) as conn:
        assert conn.served("ListTransactions") == (0, 1)

        def listed(version, **filters):
            body = {"StateFilters": ["Ongoing"], "ProducerIdFilters": []}
            body.update(filters)
            r = conn.call("ListTransactions", version, body)
            assert r["ErrorCode"] == NONE, r
            return sorted(t["TransactionalId"] for t in r["TransactionStates"])
        assert listed(0) == ["txl-new", "txl-old"]
        assert listed(1, DurationFilter=-1) == ["txl-new", "txl-old"]
        assert listed(1, DurationFilter=1000) == ["txl-old"]
        assert listed(1, DurationFilter=600000) == []
        assert listed(1, DurationFilter=0) == ["txl-new", "txl-old"]


@pytest.mark.cluster
def test_a_remote_coordinators_verification_holds_the_produce(zk, tmp_path):
    """KIP-890 with the coordinator on another broker: the partition leader
    holds the first transactional batch until the coordinator has answered
    (AddPartitionsToTxn v4 verify_only over the inter-broker listener), so the
    client's first attempt gets the verdict: appended for a partition in the
    transaction, INVALID_TXN_STATE for one outside it (not a retriable
    NOT_ENOUGH_REPLICAS)."""
    brokers = start_cluster(zk, tmp_path, "txnhold", extra_config=CLUSTER_CONFIG)
    try:
        bootstrap = ",".join(b.bootstrap for b in brokers)
        topic = "txn-hold"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)
        leaders = wait_for("three leaders", lambda: (lambda t: t and len({p.leader for p in t.partitions.values()}) == 3 and {
            i: p.leader for i, p in t.partitions.items()})(metadata(brokers[0], topic).topics.get(topic)))
        coordinator = until_ready(lambda: find_txn_coordinator(brokers[0].port, "tx-hold"))[1]
        coordinator_port = by_id(brokers, coordinator).port
        error, pid, epoch = init_producer_id(coordinator_port, "tx-hold")
        assert error == NONE
        inside, outside = [p for p, leader in sorted(leaders.items()) if leader != coordinator]
        with KafkaConnection(coordinator_port) as conn:
            r = until_ready(lambda: (conn.call("AddPartitionsToTxn", 1, {
                "V3AndBelowTransactionalId": "tx-hold", "V3AndBelowProducerId": pid,
                "V3AndBelowProducerEpoch": epoch, "V3AndBelowTopics": [{"Name": topic, "Partitions": [inside]}]})[
                "ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"],))
            assert r == (NONE,)

        def produce_once(partition):
            with KafkaConnection(by_id(brokers, leaders[partition]).port) as conn:
                r = conn.call("Produce", 8, {"TransactionalId": "tx-hold", "Acks": -1, "TimeoutMs": 10000,
                                             "TopicData": [{"Name": topic, "PartitionData": [
                                                 {"Index": partition, "Records": txn_batch([b"v"], pid, 0,
                                                                                           epoch=epoch)}]}]})
            return r["Responses"][0]["PartitionResponses"][0]["ErrorCode"]
        assert produce_once(outside) == 48, "INVALID_TXN_STATE on the first attempt"
        assert produce_once(inside) == NONE, "appended on the first attempt"
    finally:
        stop_cluster(brokers)
