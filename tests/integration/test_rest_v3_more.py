"""More Confluent v3 routes with real HTTP requests against keel processes:
a broker's partition replicas (one broker, and a three-broker cluster on a
real ZooKeeper), a consumer's assignments, and the batch records produce.
Each answer is checked against what a real client sees: confluent-kafka's
AdminClient metadata (replicas, leader, ISR), kafka-python's
DescribeConsumerGroups (member assignments decoded by the client) and a
confluent-kafka consumer reading back what the batch wrote."""

import struct
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient

from test_cluster import wait_for, zk  # noqa: F401 (fixture)
from test_rest_api import Rest, start, wait_serving
from test_rest_reassign import rest_cluster  # noqa: F401 (fixture)
from test_rest_records import b64, read_all


def create(rest, cid, topic, partitions, rf=1):
    status, body, _ = rest.call("POST", "/v3/clusters/%s/topics" % cid,
                                {"topic_name": topic, "partitions_count": partitions, "replication_factor": rf})
    assert status == 201, body


def one_broker_with_topic(make_broker, prefix, partitions):
    """A broker serving REST and a new topic on it: (broker, rest, cluster id, topic)."""
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic = prefix + uuid.uuid4().hex[:6]
    create(rest, cid, topic, partitions)
    return b, rest, cid, topic


def replicas_by_broker(bootstrap):
    """{broker: {(topic, partition): (is_leader, is_in_sync)}} from confluent-kafka's metadata."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    out = {b: {} for b in md.brokers}
    for name, t in md.topics.items():
        for p, info in t.partitions.items():
            for r in info.replicas:
                out.setdefault(r, {})[(name, p)] = (info.leader == r, r in info.isrs)
    return out


def check_broker_replicas(rest, cid, broker_id, expected, topics):
    """GET /brokers/{b}/partition-replicas against the client's view of `topics`."""
    url = "/v3/clusters/%s/brokers/%d/partition-replicas" % (cid, broker_id)
    status, body, _ = rest.call("GET", url)
    assert status == 200, body
    assert body["kind"] == "KafkaReplicaList"
    assert body["metadata"]["self"].endswith(url) and body["metadata"]["next"] is None
    got = {(r["topic_name"], r["partition_id"]): (r["is_leader"], r["is_in_sync"])
           for r in body["data"] if r["topic_name"] in topics}
    assert got == {k: v for k, v in expected.items() if k[0] in topics}
    keys = [(r["topic_name"], r["partition_id"]) for r in body["data"]]
    assert keys == sorted(keys), "Confluent sorts by topic, then partition"
    for r in body["data"]:
        assert r["kind"] == "KafkaReplica" and r["cluster_id"] == cid and r["broker_id"] == broker_id
        self_url = "/v3/clusters/%s/topics/%s/partitions/%d/replicas/%d" % (
            cid, r["topic_name"], r["partition_id"], broker_id)
        assert r["metadata"]["self"].endswith(self_url)
        assert r["metadata"]["resource_name"] == "crn:///kafka=%s/topic=%s/partition=%d/replica=%d" % (
            cid, r["topic_name"], r["partition_id"], broker_id)
        assert r["broker"]["related"].endswith("/v3/clusters/%s/brokers/%d" % (cid, broker_id))
    return body


def test_partition_replicas_of_one_broker(make_broker):
    b, rest, cid, topic = one_broker_with_topic(make_broker, "pr-", 3)
    expected = wait_for("the topic's leaders", lambda: (
        m := replicas_by_broker(b.bootstrap)) and sum(1 for k in m.get(0, {}) if k[0] == topic) == 3 and m)
    body = check_broker_replicas(rest, cid, 0, expected[0], {topic})
    assert [r["partition_id"] for r in body["data"] if r["topic_name"] == topic] == [0, 1, 2]
    assert all(r["is_leader"] and r["is_in_sync"] for r in body["data"] if r["topic_name"] == topic)

    # The partition's own replica routes agree with the broker's list.
    status, one, _ = rest.call("GET", "/v3/clusters/%s/topics/%s/partitions/1/replicas/0" % (cid, topic))
    assert status == 200 and one == next(r for r in body["data"] if r["topic_name"] == topic and r["partition_id"] == 1)

    # A broker that is not in the cluster, or not a number: 404 as for GET /brokers/{id}.
    for bad in ("7", "x"):
        status, err, _ = rest.call("GET", "/v3/clusters/%s/brokers/%s/partition-replicas" % (cid, bad))
        assert status == 404 and err["error_code"] == 404 and bad in err["message"], err


def decode_assignment(raw):
    """The consumer protocol's assignment bytes -> {(topic, partition)} (as kafka-python hands them over)."""
    if hasattr(raw, "assignment"):
        return {(t, p) for t, ps in raw.assignment for p in ps}
    (_, n), at = struct.unpack_from(">hi", raw), 6
    out = set()
    for _ in range(n):
        (size,) = struct.unpack_from(">h", raw, at)
        name = raw[at + 2:at + 2 + size].decode()
        at += 2 + size
        (count,) = struct.unpack_from(">i", raw, at)
        out |= {(name, p) for p in struct.unpack_from(">%di" % count, raw, at + 4)}
        at += 4 + 4 * count
    return out


def test_consumer_and_assignments_match_describe_groups(make_broker):
    b, rest, cid, topic = one_broker_with_topic(make_broker, "as-", 4)
    group = "g-" + uuid.uuid4().hex[:6]
    consumers = [Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "client.id": "c%d" % i,
                           "session.timeout.ms": 10000}) for i in range(2)]
    try:
        for c in consumers:
            c.subscribe([topic])

        def balanced():
            for c in consumers:
                c.poll(0.2)
            return all(len(c.assignment()) == 2 for c in consumers)
        wait_for("both consumers to get two partitions", balanced, timeout=40)

        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        try:
            (desc,) = admin.describe_consumer_groups([group])
        finally:
            admin.close()
        expected = {m.member_id: (m.client_id, decode_assignment(m.member_assignment)) for m in desc.members}
        assert len(expected) == 2

        base = "/v3/clusters/%s/consumer-groups/%s/consumers" % (cid, group)
        all_assigned = set()
        for member, (client_id, parts) in expected.items():
            status, consumer, _ = rest.call("GET", "%s/%s" % (base, member))
            assert status == 200, consumer
            assert consumer["kind"] == "KafkaConsumer" and consumer["consumer_id"] == member
            assert consumer["client_id"] == client_id and consumer["consumer_group_id"] == group
            assert consumer["assignments"]["related"].endswith("%s/%s/assignments" % (base, member))

            status, body, _ = rest.call("GET", "%s/%s/assignments" % (base, member))
            assert status == 200, body
            assert body["kind"] == "KafkaConsumerAssignmentList" and body["metadata"]["next"] is None
            assert body["metadata"]["self"].endswith("%s/%s/assignments" % (base, member))
            got = [(a["topic_name"], a["partition_id"]) for a in body["data"]]
            assert got == sorted(parts) and len(got) == 2
            all_assigned |= set(got)
            for a in body["data"]:
                tp = "%s/partitions/%d" % (a["topic_name"], a["partition_id"])
                assert a["kind"] == "KafkaConsumerAssignment" and a["cluster_id"] == cid
                assert a["consumer_group_id"] == group and a["consumer_id"] == member
                assert a["metadata"]["self"].endswith("%s/%s/assignments/%s" % (base, member, tp))
                assert a["metadata"]["resource_name"] == (
                    "crn:///kafka=%s/consumer-group=%s/consumer=%s/assignment=%s/partition=%d"
                    % (cid, group, member, a["topic_name"], a["partition_id"]))
                assert a["partition"]["related"].endswith("/v3/clusters/%s/topics/%s" % (cid, tp))
                assert a["lag"]["related"].endswith("/v3/clusters/%s/consumer-groups/%s/lags/%s" % (cid, group, tp))
                status, one, _ = rest.call("GET", "%s/%s/assignments/%s" % (base, member, tp))
                assert status == 200 and one == a
            # A partition the member does not own: 404.
            other = next(p for p in range(4) if (topic, p) not in parts)
            status, err, _ = rest.call("GET", "%s/%s/assignments/%s/partitions/%d" % (base, member, topic, other))
            assert status == 404 and err["error_code"] == 404, err
        assert all_assigned == {(topic, p) for p in range(4)}

        # An unknown consumer, a partition id that is no number, an unknown group: 404.
        for path in ("%s/nobody" % base, "%s/nobody/assignments" % base,
                     "%s/%s/assignments/%s/partitions/x" % (base, next(iter(expected)), topic),
                     "/v3/clusters/%s/consumer-groups/nogroup-%s/consumers/x/assignments" % (cid, group)):
            status, err, _ = rest.call("GET", path)
            assert status == 404, (path, err)
    finally:
        for c in consumers:
            c.close()


def end_offsets(b, topic):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "w-" + uuid.uuid4().hex[:6]})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in (0, 1)}
    finally:
        c.close()


def test_records_batch_answers_each_entry(make_broker):
    b, rest, cid, topic = one_broker_with_topic(make_broker, "rb-", 2)
    url = "/v3/clusters/%s/topics/%s/records:batch" % (cid, topic)
    entries = [
        {"id": "a", "partition_id": 1, "key": {"type": "STRING", "data": "k"},
         "value": {"type": "JSON", "data": {"n": 1}}, "timestamp": "2024-05-01T12:00:00.000Z"},
        {"id": "b", "partition_id": 1, "value": {"type": "BINARY", "data": b64(b"\x00\x01")},
         "headers": [{"name": "h", "value": b64(b"v")}]},
        {"id": "c", "partition_id": 5, "value": {"type": "STRING", "data": "lost"}},
        {"id": "d", "value": {"type": "BINARY", "data": "%%% not base64"}},
        {"id": "e", "partition_id": 0, "value": {"type": "STRING", "data": "zero"}, "colour": "red"},
    ]
    status, body, _ = rest.call("POST", url, {"entries": entries})
    assert status == 207, body
    ok = {s["id"]: s for s in body["successes"]}
    bad = {f["id"]: f for f in body["failures"]}
    assert set(ok) == {"a", "b"} and set(bad) == {"c", "d", "e"}, body
    assert ok["a"]["cluster_id"] == cid and ok["a"]["topic_name"] == topic and ok["a"]["partition_id"] == 1
    # Entries are written one after another, in their order: offsets follow it.
    assert [s["id"] for s in body["successes"]] == ["a", "b"]
    assert ok["a"]["offset"] == 0 and ok["b"]["offset"] == 1
    assert ok["a"]["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert ok["a"]["key"] == {"type": "STRING", "size": 1} and ok["b"]["value"] == {"type": "BINARY", "size": 2}
    assert "error_code" not in ok["a"]
    assert bad["c"]["error_code"] == 40403 and "partition" in bad["c"]["message"]
    assert bad["d"]["error_code"] == 400 and "base64" in bad["d"]["message"]
    assert bad["e"]["error_code"] == 400 and "colour" in bad["e"]["message"]

    # What the successes answered is what a consumer reads.
    got = read_all(b, topic, 1, 2)
    by_offset = {m.offset(): m for m in got}
    assert by_offset[ok["a"]["offset"]].value() == b'{"n":1}' and by_offset[ok["a"]["offset"]].key() == b"k"
    assert by_offset[ok["b"]["offset"]].value() == b"\x00\x01"
    assert by_offset[ok["b"]["offset"]].headers() == [("h", b"v")]
    assert end_offsets(b, topic) == {0: 0, 1: 2}  # the refused entries wrote nothing

    # Refusals of the whole batch, as Confluent's (422, error_code 42208), nothing written.
    for batch, words in (({"entries": []}, "Empty batch"),
                         ({"entries": [{"id": "x"}, {"id": "x"}]}, "not distinct"),
                         ({"entries": [{"id": str(i)} for i in range(11)]}, "Too many entries"),
                         ({"entries": [{"id": ""}]}, "identifier"),
                         ({"entries": [{"id": 7}]}, "identifier"),
                         ({"entries": [{"value": {"type": "STRING", "data": "x"}}]}, "identifier")):
        status, err, _ = rest.call("POST", url, batch)
        assert status == 422 and err["error_code"] == 42208 and words in err["message"], (batch, err)
    for raw, words in ((b"{", "JSON"), (b'{"entries":[],"more":1}', "more"), (b'{"entries":{}}', "array")):
        status, err, _ = rest.call("POST", url, raw=raw)
        assert status == 400 and words in err["message"], (raw, err)
    status, err, _ = rest.call("POST", "/v3/clusters/%s/topics/nope-%s/records:batch" % (cid, topic),
                               {"entries": [{"id": "1", "value": {"type": "STRING", "data": "x"}}]})
    assert status == 207 and err["failures"][0]["error_code"] == 40403 and not err["successes"], err
    assert end_offsets(b, topic) == {0: 0, 1: 2}


def test_partition_replicas_in_a_cluster(rest_cluster):
    b1 = rest_cluster[1]
    cid = wait_serving(b1.rest)
    topic = "prc-" + uuid.uuid4().hex[:6]
    create(b1.rest, cid, topic, 3, rf=2)

    def settled(b):
        m = replicas_by_broker(b.bootstrap)
        mine = [v for bid in m for k, v in m[bid].items() if k[0] == topic]
        return len(mine) == 6 and all(in_sync for _, in_sync in mine) and sum(lead for lead, _ in mine) == 3 and m
    seen = set()
    for bid, b in rest_cluster.items():
        # Any broker answers for the whole cluster from its metadata: once its
        # Kafka metadata shows the topic settled, ask its REST API about another broker.
        expected = wait_for("broker %d to see the topic in sync" % bid, lambda b=b: settled(b), timeout=30)
        asked = bid % 3 + 1
        body = check_broker_replicas(b.rest, cid, asked, expected[asked], {topic})
        seen |= {(r["topic_name"], r["partition_id"], asked) for r in body["data"] if r["topic_name"] == topic}
    assert len(seen) == 6
