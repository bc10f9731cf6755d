"""Kafka behaviours that current clients rely on, found by trying Keel with
librdkafka 2.15 and Kafka's own tools (issue 20): bytes after a request's last
field are ignored, Produce v8+ names the records that made a batch fail
(KIP-467), a topic exists for the next admin request as soon as CreateTopics
has answered (even with timeout 0), and the deprecated message.format.version
settings are accepted."""

import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kafka_schema import KafkaConnection, decode, encode, record_batch, schema
from kafka_wire import connect, frame, is_closed, recv_frame, request_v2_header
from test_produce_consume import consume

NONE, REQUEST_TIMED_OUT, INVALID_TIMESTAMP, INVALID_CONFIG, INVALID_RECORD = 0, 7, 32, 40, 87


def create_topic(bootstrap, name, partitions=1, config=None):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])[
        name].result(30)


def test_bytes_after_the_last_field_are_ignored_as_kafka_ignores_them(broker):
    """librdkafka 2.15 asks Metadata v9+ for all topics with a 4-byte
    placeholder where the compact array count goes: Kafka reads a null array
    (all topics), two booleans and the tag count, and ignores the 3 bytes left.
    Keel used to close the connection, and such a client could not list topics."""
    create_topic(broker.bootstrap, "listed-a")
    create_topic(broker.bootstrap, "listed-b")
    s = connect(broker.port)
    try:
        body = b"\x00\x00\x00\x00" + b"\x01\x00\x00"
        s.sendall(frame(request_v2_header(3, 12, 77, b"rdkafka") + body))
        resp = recv_frame(s)
        assert struct.unpack_from(">i", resp, 0)[0] == 77
        assert resp[4] == 0, "no tagged fields in the response header"
        md = decode("MetadataResponse", 12, resp[5:])
        assert {"listed-a", "listed-b"} <= {t["Name"] for t in md["Topics"]}
        # The connection stays usable: an ApiVersions v0 with junk after it is answered too.
        s.sendall(frame(struct.pack(">hhih", 18, 0, 78, -1) + b"\xde\xad\xbe\xef"))
        resp = recv_frame(s)
        assert struct.unpack_from(">ih", resp, 0) == (78, 0)
        # A body too short for its version's fields is still malformed.
        s.sendall(frame(struct.pack(">hhih", 3, 4, 79, -1) + b"\xff\xff"))
        assert is_closed(s), "Metadata v4 without allow_auto_topic_creation must close"
    finally:
        s.close()
    assert "ignoring 3 bytes after the fields of a Metadata v12 request" in broker.log_text()
    assert "ignoring 4 bytes after the fields of a ApiVersions v0 request" in broker.log_text()


def test_kcat_lists_topics(broker):
    create_topic(broker.bootstrap, "kcat-listed", 3)
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-L", "-J"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"topic":"kcat-listed"' in out.stdout.replace(" ", "")


def produce_by_hand(conn, version, topic, batch):
    resp = conn.call("Produce", version, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 5000, "TopicData": [
        {"Name": topic, "PartitionData": [{"Index": 0, "Records": batch}]}]})
    return resp["Responses"][0]["PartitionResponses"][0]


def high_watermark(conn, topic):
    resp = conn.call("ListOffsets", 1, {"ReplicaId": -1, "Topics": [
        {"Name": topic, "Partitions": [{"PartitionIndex": 0, "Timestamp": -1}]}]})
    return resp["Topics"][0]["Partitions"][0]["Offset"]


def test_produce_names_every_record_that_made_the_batch_fail(broker):
    """KIP-467: on a compacted topic, a batch with keyless records is refused
    whole with INVALID_RECORD; from v8 the answer lists each keyless record's
    index with Kafka's message, and error_message sums them up."""
    create_topic(broker.bootstrap, "compacted", config={"cleanup.policy": "compact"})
    now = int(time.time() * 1000)
    keys = [b"k0", None, b"k2", b"k3", None, None]
    batch = record_batch([b"v%d" % i for i in range(6)], now, keys=keys)
    with KafkaConnection(broker.port) as conn:
        lo, hi = conn.served("Produce")
        for v in range(max(lo, 3), hi + 1):
            p = produce_by_hand(conn, v, "compacted", batch)
            assert p["ErrorCode"] == INVALID_RECORD, "v%d" % v
            assert p["BaseOffset"] == -1
            if v < 8:
                assert "RecordErrors" not in p
                continue
            assert [(e["BatchIndex"], e["BatchIndexErrorMessage"]) for e in p["RecordErrors"]] == [
                (i, "Compacted topic cannot accept message without key") for i in (1, 4, 5)], "v%d" % v
            assert p["ErrorMessage"] == (
                "One or more records have been rejected due to 3 record errors in total, and only showing the first "
                "three errors at most: [RecordError(batchIndex=1, message='Compacted topic cannot accept message "
                "without key'), RecordError(batchIndex=4, message='Compacted topic cannot accept message without "
                "key'), RecordError(batchIndex=5, message='Compacted topic cannot accept message without key')]")
        assert high_watermark(conn, "compacted") == 0, "nothing of a refused batch is stored"
        # The same records with keys go in.
        good = record_batch([b"v%d" % i for i in range(6)], now, keys=[b"k%d" % i for i in range(6)])
        p = produce_by_hand(conn, hi, "compacted", good)
        assert (p["ErrorCode"], p["RecordErrors"]) == (NONE, [])
        assert high_watermark(conn, "compacted") == 6


def test_produce_names_records_with_timestamps_out_of_range(make_broker):
    b = make_broker(extra_config="log.message.timestamp.before.max.ms: 60000\n").start()
    create_topic(b.bootstrap, "timed")
    now = int(time.time() * 1000)
    batch = record_batch([b"a", b"b", b"c"], timestamps=[now, now - 3600_000, now])
    with KafkaConnection(b.port) as conn:
        p = produce_by_hand(conn, conn.served("Produce")[1], "timed", batch)
        assert p["ErrorCode"] == INVALID_TIMESTAMP
        assert [e["BatchIndex"] for e in p["RecordErrors"]] == [1]
        assert "in the past" in p["RecordErrors"][0]["BatchIndexErrorMessage"]
        assert p["ErrorMessage"] == "One or more records have been rejected due to invalid timestamp"
        assert high_watermark(conn, "timed") == 0


def test_librdkafka_reports_the_refused_batch_and_nothing_is_stored(broker):
    """A real producer's records on a compacted topic, one without a key: the
    keyless one fails with INVALID_RECORD, and so does every record that
    librdkafka put in the same batch (the batch is refused whole, as Kafka
    refuses it); what was reported delivered, and only that, is stored."""
    create_topic(broker.bootstrap, "compacted-rd", config={"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "retries": 0})
    p.list_topics("compacted-rd", timeout=10)  # metadata first, so the three share a batch as a rule
    reports = {}

    def cb(err, msg):
        reports[msg.value()] = (err, msg.offset())

    for i, key in enumerate([b"a", None, b"c"]):
        p.produce("compacted-rd", key=key, value=b"first-%d" % i, partition=0, on_delivery=cb)
    assert p.flush(30) == 0
    assert set(reports) == {b"first-0", b"first-1", b"first-2"}
    err, _ = reports[b"first-1"]
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, reports
    p.produce("compacted-rd", key=b"d", value=b"second", partition=0, on_delivery=cb)
    assert p.flush(30) == 0
    assert reports[b"second"][0] is None
    delivered = sorted(v for v, (e, _) in reports.items() if e is None)
    failed = [v for v, (e, _) in reports.items() if e is not None]
    assert all(reports[v][0].code() == KafkaError.INVALID_RECORD for v in failed)
    with KafkaConnection(broker.port) as conn:
        assert high_watermark(conn, "compacted-rd") == len(delivered)
    stored = consume(broker.bootstrap, "compacted-rd", len(delivered))
    assert sorted(m.value() for m in stored) == delivered


def pipelined(conn, calls):
    """Sends every (api, version, values) of `calls` in one write, as clients
    pipeline requests, then reads the answers in order."""
    payload = b""
    for api, version, values in calls:
        req = schema(api + "Request")
        conn.correlation += 1
        client = conn.client_id.encode()
        header = struct.pack(">hhih", req["apiKey"], version, conn.correlation, len(client)) + client
        if version in req["_flexible"]:
            header += b"\x00"
        body = header + encode(api + "Request", version, values)
        payload += struct.pack(">i", len(body)) + body
    conn.sock.sendall(payload)
    out = []
    for api, version, _ in calls:
        (size,) = struct.unpack(">i", conn._recv_exact(4))
        data = conn._recv_exact(size)
        pos = 5 if version in schema(api + "Request")["_flexible"] else 4
        out.append(decode(api + "Response", version, data[pos:]))
    return out


def test_a_topic_exists_for_the_next_admin_request_once_create_topics_answered(broker):
    """CreateTopics with timeout 0 answers at once (REQUEST_TIMED_OUT, as a
    ZooKeeper-mode Kafka answers it, or NONE when the leaders were quick); the
    topics must already exist for the requests behind it on the same
    connection, pipelined as clients send them."""
    for attempt in range(5):
        names = ["fresh-%d-%d-%s" % (attempt, i, uuid.uuid4().hex[:6]) for i in range(12)]
        with KafkaConnection(broker.port) as conn:
            created, grown, described = pipelined(conn, [
                ("CreateTopics", 7, {"Topics": [
                    {"Name": n, "NumPartitions": 1, "ReplicationFactor": 1, "Assignments": [], "Configs": []}
                    for n in names], "TimeoutMs": 0, "ValidateOnly": False}),
                ("CreatePartitions", 3, {"Topics": [{"Name": n, "Count": 3, "Assignments": None} for n in names],
                                         "TimeoutMs": 0, "ValidateOnly": False}),
                ("DescribeConfigs", 4, {"Resources": [
                    {"ResourceType": 2, "ResourceName": n, "ConfigurationKeys": ["cleanup.policy"]} for n in names],
                    "IncludeSynonyms": False, "IncludeDocumentation": False}),
            ])
        assert {t["Name"]: t["ErrorCode"] in (NONE, REQUEST_TIMED_OUT) for t in created["Topics"]} == {
            n: True for n in names}
        # Grown (REQUEST_TIMED_OUT: the new partitions' leaders come later), never UNKNOWN_TOPIC_OR_PARTITION.
        errors = {r["Name"]: r["ErrorCode"] for r in grown["Results"]}
        assert set(errors.values()) <= {NONE, REQUEST_TIMED_OUT}, errors
        assert {r["ResourceName"]: r["ErrorCode"] for r in described["Results"]} == {n: NONE for n in names}
    # And the controller made every partition asked for.
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    deadline = time.time() + 30
    while time.time() < deadline:
        md = a.list_topics(timeout=10).topics
        if all(n in md and len(md[n].partitions) == 3 and all(p.leader >= 0 for p in md[n].partitions.values())
               for n in names):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the topics did not get three led partitions each")


def test_message_format_version_is_accepted_on_topics_and_the_broker(make_broker):
    """Deprecated in Kafka 3.x and ignored, but tools and test suites still set
    them: the broker's log.message.format.version and inter.broker.protocol.version
    in the YAML, and message.format.version on a topic."""
    b = make_broker(extra_config="log.message.format.version: \"2.8\"\ninter.broker.protocol.version: \"3.6\"\n")
    b.start()
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic("formatted", 1, 1, config={"message.format.version": "0.10.2-IV0"})])[
        "formatted"].result(30)
    res = ConfigResource(ConfigResource.Type.TOPIC, "formatted")
    entry = a.describe_configs([res])[res].result(30)["message.format.version"]
    assert entry.value == "0.10.2-IV0" and not entry.is_default
    res.set_config("message.format.version", "3.0-IV1")
    a.alter_configs([res])[res].result(30)
    assert a.describe_configs([res])[res].result(30)["message.format.version"].value == "3.0-IV1"
    # A value that is no Kafka version is refused, naming the key.
    bad = a.create_topics([NewTopic("badly-formatted", 1, 1, config={"message.format.version": "latest"})])
    with pytest.raises(Exception) as e:
        bad["badly-formatted"].result(30)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "message.format.version" in str(e.value)
    broker_res = ConfigResource(ConfigResource.Type.BROKER, str(b.broker_id))
    described = a.describe_configs([broker_res])[broker_res].result(30)
    assert described["log.message.format.version"].value == "2.8"
    assert described["inter.broker.protocol.version"].value == "3.6"
    # Records go in and come out as usual.
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("formatted", b"x")
    assert p.flush(30) == 0
