"""The /keel/v1 REST extensions (docs/rest-api.md): consumer-group offset
reset and group delete, SCRAM users, client quotas, leader elections and the
config schema, with real HTTP requests against one keel process and their
effects checked with real clients (confluent-kafka, kafka-python, the Kafka
wire): a consumer starts at the reset offset, a dry run changes nothing, a
group with a member is refused, a user made over REST logs in over
SASL_PLAINTEXT, a quota set over REST is what DescribeClientQuotas answers."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient, NewTopic

from conftest import Broker, free_port
from kafka_schema import KafkaConnection
from test_client_quotas import describe as describe_quotas
from test_rest_api import Rest, wait_serving
from test_sasl import alter_scram, auth_fails, client_conf, describe_scram, sasl_broker

NON_EMPTY_GROUP = 68
ELECTION_NOT_NEEDED = 84
UNKNOWN_TOPIC_OR_PARTITION = 3
SCRAM_SHA_256 = 1
CLUSTER_AUTHORIZATION_FAILED = 31
GROUP_AUTHORIZATION_FAILED = 30


@pytest.fixture(scope="module")
def keel(tmp_path_factory):
    """One broker for the module: PLAINTEXT, SASL_PLAINTEXT and http listeners."""
    made = []

    def make(name="broker", **kwargs):
        b = Broker(tmp_path_factory.mktemp("rest-keel") / name, **kwargs)
        made.append(b)
        return b

    http_port = free_port()
    b = sasl_broker(make, extra="http.listeners: http://127.0.0.1:%d\n" % http_port)
    b.rest = Rest(http_port)
    b.base = "/keel/v1/clusters/" + wait_serving(b.rest)
    yield b
    for x in made:
        x.stop()


def produce(b, topic, per_partition, base_ts):
    """Records i = 0.. on partitions 0 and 1, with timestamps base_ts + i seconds."""
    p = Producer({"bootstrap.servers": b.bootstrap})
    reports = []
    for part in (0, 1):
        for i in range(per_partition):
            p.produce(topic, value=b"%d" % i, partition=part, timestamp=base_ts + i * 1000,
                      on_delivery=lambda e, m: reports.append(e))
    p.flush(15)
    assert reports == [None] * (2 * per_partition)


def committed(admin, group):
    return {(tp.topic, tp.partition): o.offset for tp, o in admin.list_consumer_group_offsets(group).items()}


def consumer(b, group):
    return Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "session.timeout.ms": 6000})


def first_offsets(c, topic, want=2, timeout=20):
    """The first record's offset on each partition the consumer is given."""
    seen = {}
    deadline = time.time() + timeout
    while len(seen) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen.setdefault(m.partition(), m.offset())
    return seen


def test_offset_reset_plans_commits_and_is_refused_while_the_group_has_members(keel):
    rest, base = keel.rest, keel.base
    topic, group = "reset-" + uuid.uuid4().hex[:6], "g-" + uuid.uuid4().hex[:6]
    admin = KafkaAdminClient(bootstrap_servers=keel.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    base_ts = int(time.time() * 1000) - 60000
    produce(keel, topic, 10, base_ts)
    c = consumer(keel, group)
    c.commit(offsets=[TopicPartition(topic, 0, 10), TopicPartition(topic, 1, 10)], asynchronous=False)
    c.close()
    path = base + "/consumer-groups/%s/offsets:reset" % group

    # A dry run answers the plan and changes nothing.
    status, plan, _ = rest.call("POST", path, {"topics": [{"topic_name": topic}], "to": "earliest", "dry_run": True})
    assert status == 200, plan
    assert plan["dry_run"] is True and plan["consumer_group_id"] == group
    assert [(p["partition_id"], p["current_offset"], p["new_offset"], p["log_start_offset"], p["log_end_offset"])
            for p in plan["data"]] == [(0, 10, 0, 0, 10), (1, 10, 0, 0, 10)]
    assert committed(admin, group) == {(topic, 0): 10, (topic, 1): 10}

    def reset(body, expect):
        status, plan, _ = rest.call("POST", path, body)
        assert status == 200, plan
        assert [(p["partition_id"], p["new_offset"]) for p in plan["data"]] == expect
        now = committed(admin, group)
        assert all(now[(topic, p)] == o for p, o in expect), now

    # Named partitions only; the other keeps its offset.
    reset({"topics": [{"topic_name": topic, "partitions": [0]}], "to": "offset", "value": 3}, [(0, 3)])
    assert committed(admin, group) == {(topic, 0): 3, (topic, 1): 10}
    # No topics: the group's committed partitions. Clamped to the log as kafka-consumer-groups does.
    reset({"to": "shift-by", "value": -5}, [(0, 0), (1, 5)])
    reset({"to": "offset", "value": 99}, [(0, 10), (1, 10)])
    reset({"to": "timestamp", "value": base_ts + 4500}, [(0, 5), (1, 5)])
    reset({"to": "timestamp", "value": base_ts + 3600000}, [(0, 10), (1, 10)])  # after the last record: the end
    reset({"topics": [{"topic_name": topic}], "to": "earliest"}, [(0, 0), (1, 0)])
    reset({"to": "latest"}, [(0, 10), (1, 10)])
    assert committed(admin, group) == {(topic, 0): 10, (topic, 1): 10}

    # A consumer of the group starts where the reset put it.
    reset({"to": "offset", "value": 7}, [(0, 7), (1, 7)])
    c = consumer(keel, group)
    c.subscribe([topic])
    try:
        assert first_offsets(c, topic) == {0: 7, 1: 7}
        # While it is a member, the reset and the delete are refused, and nothing changes.
        status, refused, _ = rest.call("POST", path, {"to": "earliest"})
        assert status == 409 and refused["kafka_error_code"] == NON_EMPTY_GROUP, refused
        assert "inactive" in refused["message"]
        status, refused, _ = rest.call("DELETE", base + "/consumer-groups/" + group)
        assert status == 409 and refused["kafka_error_code"] == NON_EMPTY_GROUP, refused
        assert committed(admin, group) == {(topic, 0): 7, (topic, 1): 7}
    finally:
        c.close()

    # Bad input: 400, nothing changed; an unknown topic or partition: 404.
    for body in ({"to": "sideways"}, {"to": "offset"}, {"to": "earliest", "value": 3}, {"to": "offset", "value": -1},
                 {"to": "earliest", "extra": 1}, {"to": "earliest", "topics": []},
                 {"to": "earliest", "topics": [{"topic_name": topic, "partitions": ["0"]}]}, {"to": 5}):
        status, refused, _ = rest.call("POST", path, body)
        assert status == 400 and refused["error_code"] == 400, (body, refused)
    status, _, _ = rest.call("POST", path, raw=b"{not json")
    assert status == 400
    status, refused, _ = rest.call("POST", path, {"topics": [{"topic_name": "no-such-" + topic}], "to": "earliest"})
    assert status == 404 and refused["kafka_error_code"] == UNKNOWN_TOPIC_OR_PARTITION, refused
    status, refused, _ = rest.call("POST", path, {"topics": [{"topic_name": topic, "partitions": [9]}], "to": "latest"})
    assert status == 404, refused
    status, refused, _ = rest.call("POST", base + "/consumer-groups/empty-%s/offsets:reset" % group, {"to": "latest"})
    assert status == 400 and "committed no offsets" in refused["message"]
    assert committed(admin, group) == {(topic, 0): 7, (topic, 1): 7}

    # Once the group is empty it can be deleted; its offsets go with it.
    status, body, _ = rest.call("DELETE", base + "/consumer-groups/" + group)
    assert status == 204, body
    assert committed(admin, group) == {}
    assert rest.call("DELETE", base + "/consumer-groups/" + group)[0] == 404
    admin.close()


def test_scram_users_created_over_rest_log_in_over_sasl(keel):
    rest, base = keel.rest, keel.base
    user, password = "carol-" + uuid.uuid4().hex[:6], "c4rol-" + uuid.uuid4().hex
    status, body, _ = rest.call("PUT", base + "/scram-users/" + user,
                                {"mechanism": "SCRAM-SHA-256", "password": password, "iterations": 8192})
    assert status == 204, body
    assert describe_scram(keel.port, [user]) == {user: (0, [(SCRAM_SHA_256, 8192)])}
    status, listed, _ = rest.call("GET", base + "/scram-users")
    assert status == 200 and listed["kind"] == "KeelScramUserList"
    mine = [u for u in listed["data"] if u["user_name"] == user]
    assert mine == [{"kind": "KeelScramUser", "user_name": user,
                     "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 8192}]}]
    status, one, _ = rest.call("GET", base + "/scram-users/" + user)
    assert status == 200 and one == mine[0]

    def logs_in(pw):
        a = AdminClient(client_conf(keel, "SCRAM-SHA-256", user, pw))
        try:
            a.list_topics(timeout=10)
            return True
        except Exception:
            return False

    assert logs_in(password)
    assert auth_fails(keel, "SCRAM-SHA-256", user, "wrong")[0]

    # Change the password: the new one works, the old one no longer.
    new_password = "n3w-" + uuid.uuid4().hex
    assert rest.call("PUT", base + "/scram-users/" + user,
                     {"mechanism": "SCRAM-SHA-256", "password": new_password})[0] == 204
    assert logs_in(new_password)
    assert auth_fails(keel, "SCRAM-SHA-256", user, password)[0]
    assert password not in keel.log_text() and new_password not in keel.log_text()

    # Bad input: 400, nothing stored.
    for body in ({"mechanism": "SCRAM-SHA-1", "password": "x"}, {"mechanism": "SCRAM-SHA-256"},
                 {"mechanism": "SCRAM-SHA-256", "password": ""}, {"mechanism": "SCRAM-SHA-256", "password": "x",
                                                                  "iterations": 10},
                 {"mechanism": "SCRAM-SHA-256", "password": "x", "salt": "abc"}):
        status, refused, _ = rest.call("PUT", base + "/scram-users/dave-" + user, body)
        assert status == 400, (body, refused)
    assert rest.call("GET", base + "/scram-users/dave-" + user)[0] == 404
    assert rest.call("DELETE", base + "/scram-users/" + user + "?mechanism=MD5")[0] == 400

    # Delete (every mechanism): the user can no longer log in.
    assert rest.call("DELETE", base + "/scram-users/" + user)[0] == 204
    assert rest.call("GET", base + "/scram-users/" + user)[0] == 404
    assert auth_fails(keel, "SCRAM-SHA-256", user, new_password)[0]
    assert rest.call("DELETE", base + "/scram-users/" + user)[0] == 404


def test_client_quotas_set_listed_and_removed(keel):
    rest, base = keel.rest, keel.base
    user = "q-" + uuid.uuid4().hex[:6]
    status, body, _ = rest.call("POST", base + "/quotas:alter", {
        "entity": {"user": user, "client-id": None}, "set": {"producer_byte_rate": 1048576, "request_percentage": 12.5}})
    assert status == 204, body
    # The Kafka API sees what REST set.
    err, _, entries = describe_quotas(keel.port, [("user", 0, user)])
    assert err == 0 and entries == {(("client-id", None), ("user", user)): {"producer_byte_rate": 1048576.0,
                                                                           "request_percentage": 12.5}}
    status, listed, _ = rest.call("GET", base + "/quotas?user=" + user)
    assert status == 200 and listed["kind"] == "KeelClientQuotaList"
    assert [(q["entity"], q["values"]) for q in listed["data"]] == [
        ({"user": user, "client-id": None}, {"producer_byte_rate": 1048576.0, "request_percentage": 12.5})]
    status, strict, _ = rest.call("GET", base + "/quotas?user=" + user + "&strict=true")
    assert status == 200 and strict["data"] == []

    # validate_only changes nothing; remove deletes one key.
    assert rest.call("POST", base + "/quotas:alter", {"entity": {"user": user, "client-id": None},
                                                      "set": {"producer_byte_rate": 1}, "validate_only": True})[0] == 204
    assert rest.call("POST", base + "/quotas:alter", {"entity": {"user": user, "client-id": None},
                                                      "remove": ["request_percentage"]})[0] == 204
    err, _, entries = describe_quotas(keel.port, [("user", 0, user)])
    assert entries == {(("client-id", None), ("user", user)): {"producer_byte_rate": 1048576.0}}

    # Bad input: 400 (ours or Kafka's), nothing changed.
    for body in ({"entity": {"group": "x"}, "set": {"producer_byte_rate": 1}},
                 {"entity": {"user": 5}, "set": {"producer_byte_rate": 1}},
                 {"entity": {"user": user}},
                 {"entity": {}, "set": {"producer_byte_rate": 1}},
                 {"entity": {"user": user}, "set": {"producer_byte_rate": "fast"}},
                 {"entity": {"user": user}, "set": {"no_such_quota": 1}},
                 {"entity": {"user": user}, "set": {"producer_byte_rate": 1}, "x": 1}):
        status, refused, _ = rest.call("POST", base + "/quotas:alter", body)
        assert status == 400, (body, refused)
    for query in ("?group=x", "?strict=maybe"):
        assert rest.call("GET", base + "/quotas" + query)[0] == 400
    err, _, entries = describe_quotas(keel.port, [("user", 0, user)])
    assert entries == {(("client-id", None), ("user", user)): {"producer_byte_rate": 1048576.0}}


def test_leader_elections_and_config_schema(keel):
    rest, base = keel.rest, keel.base
    topic = "elect-" + uuid.uuid4().hex[:6]
    admin = KafkaAdminClient(bootstrap_servers=keel.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    status, result, _ = rest.call("POST", base + "/leader-elections",
                                  {"type": "preferred", "partitions": [{"topic_name": topic, "partition_id": 0},
                                                                       {"topic_name": "no-" + topic, "partition_id": 0}]})
    assert status == 200 and result["kind"] == "KeelLeaderElectionResult", result
    codes = {(r["topic_name"], r["partition_id"]): r["error_code"] for r in result["data"]}
    # One broker: its preferred replica already leads.
    assert codes == {(topic, 0): ELECTION_NOT_NEEDED, ("no-" + topic, 0): UNKNOWN_TOPIC_OR_PARTITION}
    status, result, _ = rest.call("POST", base + "/leader-elections", {"type": "unclean"})
    assert status == 200, result
    for body in ({"type": "fair"}, {}, {"type": "preferred", "partitions": []},
                 {"type": "preferred", "partitions": [{"topic_name": topic}]},
                 {"type": "preferred", "partitions": [{"topic_name": topic, "partition_id": -1}]}):
        assert rest.call("POST", base + "/leader-elections", body)[0] == 400, body

    status, schema, _ = rest.call("GET", base + "/config-schema")
    assert status == 200 and schema["kind"] == "KeelConfigSchema"
    keys = {k["name"]: k for k in schema["data"]}
    assert keys["log.retention.ms"]["dynamic_update_mode"] == "cluster-wide"
    assert keys["log.retention.ms"]["topic_config_name"] == "retention.ms"
    assert keys["log.retention.ms"]["requires_restart"] is False
    assert keys["broker.id"]["dynamic_update_mode"] == "read-only" and keys["broker.id"]["requires_restart"]
    assert keys["num.partitions"]["type"] == "int" and keys["num.partitions"]["default"] == "1"
    assert keys["ssl.keystore.location"]["dynamic_update_mode"] == "per-broker"
    assert keys["ssl.keystore.password"]["sensitive"] is True
    assert len(keys) > 100

    # Every /keel/v1 route is in the OpenAPI document.
    status, doc, _ = rest.call("GET", "/openapi.json")
    assert status == 200
    keel_paths = {p for p in doc["paths"] if p.startswith("/keel/v1/")}
    assert "/keel/v1/clusters/{cluster_id}/consumer-groups/{consumer_group_id}/offsets:reset" in keel_paths
    assert set(doc["paths"]["/keel/v1/clusters/{cluster_id}/scram-users/{user_name}"]) == {"get", "put", "delete"}
    assert len(keel_paths) >= 8  # and the console's and reassignment routes (test_rest_reassign.py)
    assert "/keel/v1/reassignments" in keel_paths
    # An unknown cluster id: 404, as for v3.
    assert rest.call("GET", "/keel/v1/clusters/nope/config-schema")[0] == 404


def test_the_kafka_acls_refuse_rest_calls_as_they_refuse_kafka_requests(make_broker):
    """Under an authorizer that allows nothing without an ACL, anonymous REST
    calls are refused with the error the same Kafka request gets."""
    http_port = free_port()
    b = make_broker("acl", extra_config="http.listeners: http://127.0.0.1:%d\n"
                                         "authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
                                         "allow.everyone.if.no.acl.found: false\n" % http_port).start()
    rest = Rest(http_port)
    deadline = time.time() + 20
    while True:  # /v3/clusters lists no cluster the caller may not describe: wait on the route itself
        status, body, _ = rest.call("GET", "/keel/v1/clusters/x/config-schema")
        if status == 404:
            break
        assert time.time() < deadline, (status, body)
        time.sleep(0.2)
    cid = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).cluster_id
    base = "/keel/v1/clusters/" + cid
    assert alter_scram(b.port, upsertions=[("eve", "SCRAM-SHA-256", "pw", 4096)])["eve"][0] == CLUSTER_AUTHORIZATION_FAILED
    status, refused, _ = rest.call("PUT", base + "/scram-users/eve", {"mechanism": "SCRAM-SHA-256", "password": "pw"})
    assert status == 403 and refused["kafka_error_code"] == CLUSTER_AUTHORIZATION_FAILED, refused
    status, refused, _ = rest.call("POST", base + "/quotas:alter", {"entity": {"user": "eve"},
                                                                    "set": {"producer_byte_rate": 1}})
    assert status == 403 and refused["kafka_error_code"] == CLUSTER_AUTHORIZATION_FAILED, refused
    status, refused, _ = rest.call("POST", base + "/consumer-groups/g/offsets:reset", {"to": "earliest"})
    assert status == 403 and refused["kafka_error_code"] == GROUP_AUTHORIZATION_FAILED, refused
    status, refused, _ = rest.call("DELETE", base + "/consumer-groups/g")
    assert status == 403 and refused["kafka_error_code"] == GROUP_AUTHORIZATION_FAILED, refused
    status, refused, _ = rest.call("POST", base + "/leader-elections", {"type": "preferred"})
    assert status == 403 and refused["kafka_error_code"] == CLUSTER_AUTHORIZATION_FAILED, refused
    with KafkaConnection(b.port) as c:
        described = c.call("DescribeUserScramCredentials", 0, {"Users": None})
    assert described["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
    status, refused, _ = rest.call("GET", base + "/scram-users")
    assert status == 403 and refused["kafka_error_code"] == CLUSTER_AUTHORIZATION_FAILED, refused
