"""The fields the request versions current clients send carry (librdkafka 2.x,
the Java client 3.9/4.x, franz-go, @platformatic/kafka), acted on as Kafka
acts on them: DescribeTopicPartitions (KIP-966) with its cursor, Metadata's
authorized operations and v10-11 topic ids, ListOffsets' earliest-local and
latest-tiered specs and per-offset leader epochs, and Fetch v12+'s last
fetched epoch (diverging_epoch). Requests are built from the protocol's own
schemas (kafka_schema.py)."""

import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_schema import KafkaConnection
from test_produce_consume import produce

NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST = 0, 1, 3, 42
TOPIC_OPERATIONS = 3576  # READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
CLUSTER_OPERATIONS = 8096  # CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE
UNREQUESTED = -2147483648


def create_topics(broker, partitions_by_name):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = a.create_topics([NewTopic(n, num_partitions=p, replication_factor=1)
                               for n, p in partitions_by_name.items()])
    for f in futures.values():
        f.result(30)


def describe(conn, topics, limit, cursor=None):
    return conn.call("DescribeTopicPartitions", 0, {
        "Topics": [{"Name": t} for t in topics], "ResponsePartitionLimit": limit,
        "Cursor": None if cursor is None else {"TopicName": cursor[0], "PartitionIndex": cursor[1]}})


def test_describe_topic_partitions_pages_through_topics_with_the_cursor(broker):
    create_topics(broker, {"dtp-b": 2, "dtp-a": 3})
    with KafkaConnection(broker.port) as conn:
        assert conn.served("DescribeTopicPartitions") == (0, 0)
        ids = {t["Name"]: t["TopicId"] for t in conn.call("Metadata", 12, {"Topics": None})["Topics"]}

        seen, cursor, pages = [], None, 0
        while True:
            resp = describe(conn, ["dtp-b", "dtp-a", "dtp-missing"], 2, cursor)
            pages += 1
            for t in resp["Topics"]:
                if t["Name"] == "dtp-missing":
                    assert t["ErrorCode"] == UNKNOWN_TOPIC_OR_PARTITION and t["Partitions"] == []
                    continue
                assert t["ErrorCode"] == NONE and t["TopicId"] == ids[t["Name"]]
                assert not t["IsInternal"] and t["TopicAuthorizedOperations"] == TOPIC_OPERATIONS
                for p in t["Partitions"]:
                    assert p["ErrorCode"] == NONE and p["LeaderId"] == 0 and p["LeaderEpoch"] >= 0
                    assert p["ReplicaNodes"] == [0] and p["IsrNodes"] == [0]
                    assert p["EligibleLeaderReplicas"] == [] and p["LastKnownElr"] == []
                    seen.append((t["Name"], p["PartitionIndex"]))
            if resp["NextCursor"] is None:
                break
            cursor = (resp["NextCursor"]["TopicName"], resp["NextCursor"]["PartitionIndex"])
            assert pages < 10
        # Sorted by name, then partition; two partitions a page.
        assert seen == [("dtp-a", 0), ("dtp-a", 1), ("dtp-a", 2), ("dtp-b", 0), ("dtp-b", 1)]
        assert pages == 3

        # An empty list is every topic; the offsets topic is not made by describing.
        every = describe(conn, [], 2000)
        assert [t["Name"] for t in every["Topics"]] == ["dtp-a", "dtp-b"] and every["NextCursor"] is None
        # A cursor naming a topic the request does not: INVALID_REQUEST for each topic asked.
        bad = describe(conn, ["dtp-a"], 10, ("dtp-b", 0))
        assert [(t["Name"], t["ErrorCode"]) for t in bad["Topics"]] == [("dtp-a", INVALID_REQUEST)]


def test_metadata_authorized_operations_and_topic_ids_by_version(broker):
    create_topics(broker, {"md-ops": 1})
    with KafkaConnection(broker.port) as conn:
        for v in (8, 9, 10):
            resp = conn.call("Metadata", v, {"Topics": [{"Name": "md-ops"}], "AllowAutoTopicCreation": False,
                                             "IncludeClusterAuthorizedOperations": True,
                                             "IncludeTopicAuthorizedOperations": True})
            assert resp["Topics"][0]["TopicAuthorizedOperations"] == TOPIC_OPERATIONS, v
            assert resp["ClusterAuthorizedOperations"] == CLUSTER_OPERATIONS, v
        plain = conn.call("Metadata", 12, {"Topics": [{"Name": "md-ops"}], "AllowAutoTopicCreation": False})
        assert plain["Topics"][0]["TopicAuthorizedOperations"] == UNREQUESTED
        topic_id = plain["Topics"][0]["TopicId"]
        assert topic_id != uuid.UUID(int=0)
        # v12 looks a topic up by id; v10-11 may not (INVALID_REQUEST, as Kafka).
        by_id = conn.call("Metadata", 12, {"Topics": [{"Name": None, "TopicId": topic_id}],
                                           "AllowAutoTopicCreation": False, "IncludeTopicAuthorizedOperations": True})
        assert by_id["Topics"][0]["Name"] == "md-ops"
        assert by_id["Topics"][0]["TopicAuthorizedOperations"] == TOPIC_OPERATIONS
        for v in (10, 11):
            refused = conn.call("Metadata", v, {"Topics": [{"Name": "md-ops", "TopicId": topic_id}],
                                                "AllowAutoTopicCreation": False})
            assert refused["Topics"][0]["ErrorCode"] == INVALID_REQUEST, v
            assert refused["Brokers"] == [], v


def test_describe_cluster_answers_cluster_operations_when_asked(broker):
    with KafkaConnection(broker.port) as conn:
        for v in (0, 1):
            asked = conn.call("DescribeCluster", v, {"IncludeClusterAuthorizedOperations": True})
            assert asked["ErrorCode"] == NONE
            assert asked["ClusterAuthorizedOperations"] == CLUSTER_OPERATIONS, v
            plain = conn.call("DescribeCluster", v, {"IncludeClusterAuthorizedOperations": False})
            assert plain["ClusterAuthorizedOperations"] == UNREQUESTED, v


def list_offset(conn, version, topic, timestamp):
    resp = conn.call("ListOffsets", version, {
        "ReplicaId": -1, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": 0, "Timestamp": timestamp, "CurrentLeaderEpoch": -1}]}]})
    p = resp["Topics"][0]["Partitions"][0]
    return p["ErrorCode"], p["Offset"], p["Timestamp"], p["LeaderEpoch"]


def test_list_offsets_earliest_local_and_latest_tiered(broker):
    create_topics(broker, {"lo-specs": 1})
    produce(broker.bootstrap, "lo-specs", [{"value": b"v%d" % i} for i in range(6)])
    with KafkaConnection(broker.port) as conn:
        deleted = conn.call("DeleteRecords", 2, {"Topics": [{"Name": "lo-specs", "Partitions": [
            {"PartitionIndex": 0, "Offset": 2}]}], "TimeoutMs": 5000})
        assert deleted["Topics"][0]["Partitions"][0]["LowWatermark"] == 2
        for v in (8, 9):
            # -4: the local log start, which is the log start when nothing is tiered.
            assert list_offset(conn, v, "lo-specs", -4) == (NONE, 2, -1, 0), v
            assert list_offset(conn, v, "lo-specs", -2) == (NONE, 2, -1, 0), v
        # -5: nothing is tiered, so -1, as Kafka answers without remote storage.
        assert list_offset(conn, 9, "lo-specs", -5) == (NONE, -1, -1, -1)
        # Before the version that defines them they are not specs.
        assert list_offset(conn, 7, "lo-specs", -4)[0] == INVALID_REQUEST
        assert list_offset(conn, 8, "lo-specs", -5)[0] == INVALID_REQUEST


def fetch_one(conn, version, topic, topic_id, offset, last_fetched_epoch, current_leader_epoch=-1):
    resp = conn.call("Fetch", version, {
        "ReplicaId": -1, "MaxWaitMs": 3000, "MinBytes": 1, "MaxBytes": 1 << 20, "IsolationLevel": 0,
        "SessionId": 0, "SessionEpoch": -1,
        "Topics": [{"Topic": topic, "TopicId": topic_id, "Partitions": [
            {"Partition": 0, "CurrentLeaderEpoch": current_leader_epoch, "FetchOffset": offset,
             "LastFetchedEpoch": last_fetched_epoch, "LogStartOffset": -1, "PartitionMaxBytes": 1 << 20}]}],
        "ForgottenTopicsData": [], "RackId": ""})
    assert resp["ErrorCode"] == NONE
    return resp["Responses"][0]["Partitions"][0]


def test_fetch_answers_a_diverged_last_fetched_epoch_at_once(broker):
    create_topics(broker, {"fe-div": 1})
    produce(broker.bootstrap, "fe-div", [{"value": b"v%d" % i} for i in range(5)])
    with KafkaConnection(broker.port) as conn:
        topic_id = conn.call("Metadata", 12, {"Topics": [{"Name": "fe-div"}]})["Topics"][0]["TopicId"]
        for v in (12, 13, 16, 17):
            # A fetcher that wrote epoch 0 up to offset 8: here epoch 0 ends at 5. Kafka answers
            # where it ends (no records, no wait for MaxWaitMs) rather than OFFSET_OUT_OF_RANGE.
            p = fetch_one(conn, v, "fe-div", topic_id, 8, 0)
            assert p["ErrorCode"] == NONE, v
            assert p["DivergingEpoch"] == {"Epoch": 0, "EndOffset": 5}, v
            assert not p["Records"], v
            assert p["HighWatermark"] == 5, v
            # Consistent with our log: records, and no diverging epoch.
            p = fetch_one(conn, v, "fe-div", topic_id, 3, 0)
            assert p["ErrorCode"] == NONE and p["Records"], v
            assert p["DivergingEpoch"].get("Epoch", -1) == -1, v  # the tagged field is left out
            # An epoch newer than any the leader knows cannot be placed.
            assert fetch_one(conn, v, "fe-div", topic_id, 3, 4)["ErrorCode"] == OFFSET_OUT_OF_RANGE, v
            # Without a last fetched epoch, an offset past the end is out of range as before.
            assert fetch_one(conn, v, "fe-div", topic_id, 8, -1)["ErrorCode"] == OFFSET_OUT_OF_RANGE, v


def test_describe_configs_sends_documentation_only_when_asked(broker):
    create_topics(broker, {"documented": 1})
    with KafkaConnection(broker.port) as conn:
        for v in (3, 4):
            for asked in (False, True):
                resp = conn.call("DescribeConfigs", v, {"Resources": [
                    {"ResourceType": 2, "ResourceName": "documented", "ConfigurationKeys": ["retention.ms"]},
                    {"ResourceType": 4, "ResourceName": "0", "ConfigurationKeys": ["num.partitions"]}],
                    "IncludeSynonyms": False, "IncludeDocumentation": asked})
                for r in resp["Results"]:
                    assert r["ErrorCode"] == NONE
                    (entry,) = r["Configs"]
                    assert (entry["Documentation"] is not None) == asked, (v, asked, entry)
