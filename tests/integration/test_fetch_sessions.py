"""Incremental fetch sessions (KIP-227) over the wire, with requests encoded
and responses decoded by kafka-python's protocol classes (v7) and by
kafka_schema.py (v13+, topic ids); librdkafka 2.0 and kafka-python do not use
sessions themselves."""

import struct
import time
import uuid

from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.fetch import FetchRequest, FetchResponse

from kafka_schema import KafkaConnection, record_batch
from kafka_wire import connect, frame, recv_frame, request_v1_header
from test_admin_requests import create_topic, meta_topic_id
from test_produce_consume import produce


class FetchClient:
    def __init__(self, port):
        self.sock = connect(port)
        self.correlation = 0

    def fetch(self, session_id, epoch, partitions, forgotten=(), max_wait=0):
        """partitions: [(topic, partition, offset)]. Returns (error, session_id, {(topic, p): (hw, bytes)})."""
        by_topic = {}
        for topic, p, offset in partitions:
            by_topic.setdefault(topic, []).append((p, offset, -1, 1048576))
        forgotten_by_topic = {}
        for topic, p in forgotten:
            forgotten_by_topic.setdefault(topic, []).append(p)
        req = FetchRequest[7](replica_id=-1, max_wait_time=max_wait, min_bytes=1, max_bytes=52428800,
                              isolation_level=0, session_id=session_id, session_epoch=epoch,
                              topics=list(by_topic.items()), forgotten_topics_data=[])
        body = req.encode()
        # kafka-python 2.0.2 cannot encode forgotten topics (its schema has a
        # bare String type): the last field is written here instead.
        assert body[-4:] == b"\x00\x00\x00\x00"
        tail = struct.pack(">i", len(forgotten_by_topic))
        for topic, ps in forgotten_by_topic.items():
            tail += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(ps))
            tail += b"".join(struct.pack(">i", p) for p in ps)
        body = body[:-4] + tail
        self.correlation += 1
        self.sock.sendall(frame(request_v1_header(1, 7, self.correlation) + body))
        body = recv_frame(self.sock)
        assert int.from_bytes(body[:4], "big") == self.correlation
        resp = FetchResponse[7].decode(body[4:])
        parts = {}
        for topic, plist in resp.topics:
            for p in plist:
                partition, error, hw = p[0], p[1], p[2]
                records = p[-1]
                parts[(topic, partition)] = (error, hw, len(records or b""))
        return resp.error_code, resp.session_id, parts


def test_incremental_fetches_answer_only_partitions_with_news(broker):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic("sess", num_partitions=2, replication_factor=1)])["sess"].result(30)
    produce(broker.bootstrap, "sess", [{"value": b"x", "partition": i % 2} for i in range(6)])
    c = FetchClient(broker.port)

    err, sid, parts = c.fetch(0, 0, [("sess", 0, 0), ("sess", 1, 0)])
    assert err == 0 and sid != 0, "epoch 0 creates a session"
    assert parts[("sess", 0)][1] == 3 and parts[("sess", 0)][2] > 0
    assert parts[("sess", 1)][1] == 3 and parts[("sess", 1)][2] > 0

    # The client moves both fetch offsets to the end: nothing new to say.
    err, sid2, parts = c.fetch(sid, 1, [("sess", 0, 3), ("sess", 1, 3)])
    assert (err, sid2) == (0, sid)
    assert parts == {}, "an incremental response leaves out partitions without news"

    produce(broker.bootstrap, "sess", [{"value": b"y", "partition": 1}])
    err, _, parts = c.fetch(sid, 2, [])
    assert err == 0
    assert list(parts) == [("sess", 1)], parts
    assert parts[("sess", 1)][1] == 4

    err, _, _ = c.fetch(sid, 2, [])
    assert err == 71, "INVALID_FETCH_SESSION_EPOCH for a reused epoch"
    err, _, _ = c.fetch(sid + 1, 3, [])
    assert err == 70, "FETCH_SESSION_ID_NOT_FOUND"

    # Forget partition 0; epoch -1 then closes the session.
    err, _, parts = c.fetch(sid, 3, [("sess", 1, 4)], forgotten=[("sess", 0)])
    assert err == 0 and parts == {}
    err, sid3, parts = c.fetch(sid, -1, [("sess", 0, 0)])
    assert err == 0 and sid3 == 0 and ("sess", 0) in parts
    err, _, _ = c.fetch(sid, 4, [])
    assert err == 70, "the closed session is gone"


def test_sessions_by_topic_id_at_v13_and_later(broker):
    """Fetch v13+ names topics by id, in the session too (KIP-516): forgotten
    partitions by id, an unknown id answered UNKNOWN_TOPIC_ID, a session of ids
    refused to a request of names (FETCH_SESSION_TOPIC_ID_ERROR), and a topic
    deleted and created again under its name: the session's old id answers
    UNKNOWN_TOPIC_ID, never the new topic's records."""
    UNKNOWN_TOPIC_ID, FETCH_SESSION_TOPIC_ID_ERROR = 100, 106

    def produce_one(conn, topic, partition, value):
        resp = conn.call("Produce", 9, {"TransactionalId": None, "Acks": 1, "TimeoutMs": 5000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": partition,
                                               "Records": record_batch([value], int(time.time() * 1000))}]}]})
        assert resp["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == 0

    def fetch(conn, v, sid, epoch, parts, forgotten=(), names=False):
        """parts: [(topic id, partition, offset)]; answers (error, session id, {(id, p): (error, hw, bytes)})."""
        topics = {}
        for tid, p, off in parts:
            topics.setdefault(tid, []).append({"Partition": p, "FetchOffset": off, "PartitionMaxBytes": 1 << 20,
                                               "CurrentLeaderEpoch": -1, "LogStartOffset": -1,
                                               "LastFetchedEpoch": -1})
        forget = {}
        for tid, p in forgotten:
            forget.setdefault(tid, []).append(p)
        key = "Topic" if names else "TopicId"
        resp = conn.call("Fetch", v, {
            "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20, "IsolationLevel": 0,
            "SessionId": sid, "SessionEpoch": epoch, "RackId": "",
            "Topics": [{key: t, "Partitions": ps} for t, ps in topics.items()],
            "ForgottenTopicsData": [{key: t, "Partitions": ps} for t, ps in forget.items()]})
        out = {}
        for t in resp["Responses"]:
            for p in t["Partitions"]:
                out[(t["Topic"] if names else t["TopicId"], p["PartitionIndex"])] = (
                    p["ErrorCode"], p["HighWatermark"], len(p["Records"] or b""))
        return resp["ErrorCode"], resp["SessionId"], out

    def recreate(conn):
        """Deletes "ids" and creates it again (a new id), once the deletion has gone through."""
        resp = conn.call("DeleteTopics", 6, {"Topics": [{"Name": "ids"}], "TimeoutMs": 10000})
        assert resp["Responses"][0]["ErrorCode"] == 0
        deadline = time.time() + 10
        while True:
            try:
                create_topic(broker, "ids", 2)
                return
            except Exception:
                assert time.time() < deadline, "ids was not created again"
                time.sleep(0.2)

    create_topic(broker, "ids", 2)
    with KafkaConnection(broker.port) as conn:
        lo, hi = conn.served("Fetch")
        assert hi >= 13
        for v in range(13, hi + 1):
            what = "Fetch v%d" % v
            for p in (0, 1):
                produce_one(conn, "ids", p, b"a")
            tid = meta_topic_id(conn, "ids")
            err, sid, got = fetch(conn, v, 0, 0, [(tid, 0, 0), (tid, 1, 0)])
            assert err == 0 and sid != 0, what
            assert {k: g[0] for k, g in got.items()} == {(tid, 0): 0, (tid, 1): 0}, what
            hw = {p: got[(tid, p)][1] for p in (0, 1)}
            assert all(got[(tid, p)][2] > 0 for p in (0, 1)), what
            # Nothing new: an empty incremental answer.
            err, _, got = fetch(conn, v, sid, 1, [(tid, 0, hw[0]), (tid, 1, hw[1])])
            assert (err, got) == (0, {}), what
            # Forget partition 0 by id; then only partition 1's news come.
            for p in (0, 1):
                produce_one(conn, "ids", p, b"b")
            err, _, got = fetch(conn, v, sid, 2, [], forgotten=[(tid, 0)])
            assert err == 0 and list(got) == [(tid, 1)] and got[(tid, 1)][1] == hw[1] + 1, what
            # A session of ids is not one of names.
            err, _, _ = fetch(conn, 12, sid, 3, [], names=True)
            assert err == FETCH_SESSION_TOPIC_ID_ERROR, what
            # An unknown id in a new session: that partition answers UNKNOWN_TOPIC_ID.
            stranger = uuid.uuid4()
            err, sid2, got = fetch(conn, v, 0, 0, [(stranger, 0, 0), (tid, 1, 0)])
            assert err == 0 and got[(stranger, 0)][0] == UNKNOWN_TOPIC_ID and got[(tid, 1)][0] == 0, what
            fetch(conn, v, sid2, -1, [])

            # The topic deleted and created again under its name, while the session holds its old id.
            recreate(conn)
            for p in (0, 1):
                produce_one(conn, "ids", p, b"new")
            new_tid = meta_topic_id(conn, "ids")
            assert new_tid != tid, what
            err, _, got = fetch(conn, v, sid, 3, [])
            assert err == 0, what
            assert got == {(tid, 1): (UNKNOWN_TOPIC_ID, -1, 0)}, (what, got)
            fetch(conn, v, sid, -1, [])
            recreate(conn)
