"""Incremental fetch sessions (KIP-227) over the wire, with requests encoded
and responses decoded by kafka-python's protocol classes (librdkafka 2.0 and
kafka-python do not use sessions themselves)."""

import struct

from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.fetch import FetchRequest, FetchResponse

from kafka_wire import connect, frame, recv_frame, request_v1_header
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
