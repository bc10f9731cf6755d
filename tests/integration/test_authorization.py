"""Per-API authorization (server/authorization.h) with real clients: a broker
with Kafka's AclAuthorizer and a SASL_PLAINTEXT listener where alice (PLAIN,
a super user) sets ACLs for bob, who produces, consumes, lists and creates
topics with confluent-kafka, kafka-python and kcat and gets Kafka's errors
where no ACL lets him. The cluster tests check what Kafka requires of a
cluster with an authorizer: brokers talking PLAINTEXT are User:ANONYMOUS and
need CLUSTER_ACTION (here as a super user) to replicate."""

import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, ResourcePattern, ResourcePatternFilter, ResourceType)

from cluster_harness import start_cluster, stop_cluster
from kafka_schema import KafkaConnection
from test_cluster import wait_for, zk  # noqa: F401  (zk: the fixture)
from test_sasl import client_conf, sasl_broker, wait_log

AUTHORIZER = "authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30

ALICE = ("PLAIN", "alice", "alice-secret")
BOB = ("PLAIN", "bob", "bob-secret")


@pytest.fixture
def broker(make_broker):
    return sasl_broker(make_broker, extra=AUTHORIZER + "super.users: User:alice\n")


def sasl_admin(b, user):
    mech, name, password = user
    return KafkaAdminClient(bootstrap_servers="127.0.0.1:%d" % b.sasl_port, security_protocol="SASL_PLAINTEXT",
                            sasl_mechanism=mech, sasl_plain_username=name, sasl_plain_password=password)


def conf(b, user, **extra):
    return dict(client_conf(b, *user), **extra)


def acl(principal, rtype, name, op, perm=ACLPermissionType.ALLOW, pattern=ACLResourcePatternType.LITERAL):
    return ACL(principal, "*", op, perm, ResourcePattern(rtype, name, pattern))


def grant(b, *acls):
    admin = sasl_admin(b, ALICE)
    try:
        result = admin.create_acls(list(acls))
        assert result["failed"] == [], result
    finally:
        admin.close()


def revoke(b, principal, rtype, name, op, perm):
    admin = sasl_admin(b, ALICE)
    try:
        admin.delete_acls([ACLFilter(principal, "*", op, perm,
                                     ResourcePatternFilter(rtype, name, ACLResourcePatternType.LITERAL))])
    finally:
        admin.close()


def create_topics(b, *names):
    admin = AdminClient(conf(b, ALICE))  # kept alive until the futures resolve
    for f in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        f.result(15)


def produce(b, user, topic, count=1, timeout=15):
    """Delivery errors of `count` messages (None for each delivered)."""
    reports = []
    p = Producer(conf(b, user, **{"message.timeout.ms": timeout * 1000}))
    for i in range(count):
        p.produce(topic, value=b"m%d" % i, on_delivery=lambda e, m: reports.append(e))
    p.flush(timeout + 5)
    return reports


def consume(b, user, topic, group, want, timeout=20):
    """(values read, consumer error codes) once `want` values or an error arrive."""
    c = Consumer(conf(b, user, **{"group.id": group, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got, errors = [], []
    deadline = time.time() + timeout
    while len(got) < want and not errors and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errors.append(m.error().code())
        else:
            got.append(m.value())
    c.close()
    return got, errors


def test_bob_writes_only_where_an_acl_lets_him(broker):
    create_topics(broker, "a", "b")
    grant(broker, acl("User:bob", ResourceType.TOPIC, "a", ACLOperation.WRITE))
    assert produce(broker, BOB, "a", 3) == [None] * 3
    refused = produce(broker, BOB, "b", 1, timeout=5)
    assert [e.code() for e in refused] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], refused
    # kcat (librdkafka) sees the same refusal.
    args = ["kcat", "-b", "127.0.0.1:%d" % broker.sasl_port, "-X", "security.protocol=SASL_PLAINTEXT",
            "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret",
            "-X", "message.timeout.ms=5000", "-P", "-t", "b"]
    out = subprocess.run(args, input=b"x\n", capture_output=True, timeout=60)
    assert b"authoriz" in out.stderr.lower(), out
    # One line per refused request, naming who, from where, what and the API.
    assert wait_log(broker, "User:bob from 127.0.0.1:")  # the log line may land after the answer
    assert wait_log(broker, "may not Describe Topic 'b': Metadata refused")  # the log line may land after the answer
    # Allowed to see "b" but not to write it: the Produce itself is refused.
    grant(broker, acl("User:bob", ResourceType.TOPIC, "b", ACLOperation.DESCRIBE))
    refused = produce(broker, BOB, "b", 1, timeout=5)
    assert [e.code() for e in refused] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], refused
    assert wait_log(broker, "may not Write Topic 'b': Produce refused")  # the log line may land after the answer


def test_bob_reads_with_the_group_he_may_read(broker):
    create_topics(broker, "a")
    assert produce(broker, ALICE, "a", 2) == [None, None]
    grant(broker, acl("User:bob", ResourceType.TOPIC, "a", ACLOperation.READ),
          acl("User:bob", ResourceType.GROUP, "g1", ACLOperation.READ))
    got, errors = consume(broker, BOB, "a", "g1", 2)
    assert (got, errors) == ([b"m0", b"m1"], [])
    got, errors = consume(broker, BOB, "a", "g2", 1)
    assert got == [] and errors and errors[0] == KafkaError.GROUP_AUTHORIZATION_FAILED, errors
    # A topic bob may describe but not read: the Fetch is refused.
    create_topics(broker, "c")
    assert produce(broker, ALICE, "c", 1) == [None]
    grant(broker, acl("User:bob", ResourceType.TOPIC, "c", ACLOperation.DESCRIBE))
    got, errors = consume(broker, BOB, "c", "g1", 1)
    assert got == [] and KafkaError.TOPIC_AUTHORIZATION_FAILED in errors, errors
    assert wait_log(broker, "may not Read Topic 'c': Fetch refused")  # the log line may land after the answer
    # kafka-python's consumer is refused the same group.
    from kafka import KafkaConsumer
    from kafka.errors import GroupAuthorizationFailedError
    c = KafkaConsumer("a", group_id="g2", bootstrap_servers="127.0.0.1:%d" % broker.sasl_port,
                      security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="bob",
                      sasl_plain_password="bob-secret", consumer_timeout_ms=5000)
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            for _ in c:
                pass
    finally:
        c.close()


def test_metadata_shows_only_describable_topics(broker):
    create_topics(broker, "seen", "unseen")
    grant(broker, acl("User:bob", ResourceType.TOPIC, "seen", ACLOperation.DESCRIBE))
    md = AdminClient(conf(broker, BOB)).list_topics(timeout=10)
    assert set(md.topics) == {"seen"}
    named = AdminClient(conf(broker, BOB)).list_topics("unseen", timeout=10)
    assert named.topics["unseen"].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Alice, a super user, sees both.
    assert {"seen", "unseen"} <= set(AdminClient(conf(broker, ALICE)).list_topics(timeout=10).topics)


def test_creating_and_deleting_topics_needs_the_acl_and_prefixed_acls_apply(broker):
    admin = AdminClient(conf(broker, BOB))
    f = admin.create_topics([NewTopic("bob-1", 1, 1)])["bob-1"]
    with pytest.raises(Exception) as e:
        f.result(15)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(broker, acl("User:bob", ResourceType.TOPIC, "bob-", ACLOperation.CREATE,
                      pattern=ACLResourcePatternType.PREFIXED),
          acl("User:bob", ResourceType.TOPIC, "bob-", ACLOperation.DESCRIBE,
              pattern=ACLResourcePatternType.PREFIXED))
    admin.create_topics([NewTopic("bob-1", 1, 1)])["bob-1"].result(15)
    f = admin.create_topics([NewTopic("other", 1, 1)])["other"]
    with pytest.raises(Exception) as e:
        f.result(15)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    f = admin.delete_topics(["bob-1"])["bob-1"]
    with pytest.raises(Exception) as e:
        f.result(15)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(broker, acl("User:bob", ResourceType.TOPIC, "bob-", ACLOperation.DELETE,
                      pattern=ACLResourcePatternType.PREFIXED))
    admin.delete_topics(["bob-1"])["bob-1"].result(15)


def test_deny_beats_allow_and_a_change_applies_within_a_second(broker):
    create_topics(broker, "d")
    grant(broker, acl("User:bob", ResourceType.TOPIC, "d", ACLOperation.ALL),
          acl("User:bob", ResourceType.TOPIC, "d", ACLOperation.WRITE, ACLPermissionType.DENY))
    refused = produce(broker, BOB, "d", 1, timeout=5)
    assert [e.code() for e in refused] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    revoke(broker, "User:bob", ResourceType.TOPIC, "d", ACLOperation.WRITE, ACLPermissionType.DENY)
    assert produce(broker, BOB, "d", 1) == [None]

    # ANONYMOUS (the PLAINTEXT listener) sees a topic within a second of its ACL.
    def anonymous_sees(topic):
        with KafkaConnection(broker.port) as c:
            resp = c.call("Metadata", 9, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False,
                                           "IncludeClusterAuthorizedOperations": False,
                                           "IncludeTopicAuthorizedOperations": True})
        t = resp["Topics"][0]
        return t["ErrorCode"], t["TopicAuthorizedOperations"]
    assert anonymous_sees("d")[0] == TOPIC_AUTHORIZATION_FAILED
    grant(broker, acl("User:ANONYMOUS", ResourceType.TOPIC, "d", ACLOperation.READ))
    granted = time.time()
    while anonymous_sees("d")[0] != 0:
        assert time.time() - granted < 1.0, "the ACL took more than a second"
        time.sleep(0.05)
    assert anonymous_sees("d")[1] == (1 << 3) | (1 << 8), "READ and the DESCRIBE it implies"


def test_allow_everyone_if_no_acl_found_lets_anonymous_through_where_no_acl_exists(make_broker):
    b = sasl_broker(make_broker, extra=AUTHORIZER + "super.users: User:alice\n"
                                                    "allow.everyone.if.no.acl.found: true\n")
    anonymous = {"bootstrap.servers": b.bootstrap}
    admin = AdminClient(anonymous)
    for f in admin.create_topics([NewTopic("open", 1, 1), NewTopic("guarded", 1, 1)]).values():
        f.result(15)
    reports = []
    p = Producer(dict(anonymous, **{"message.timeout.ms": 5000}))
    for topic in ("open", "guarded"):
        p.produce(topic, b"x", on_delivery=lambda e, m: reports.append(e))
    p.flush(10)
    assert reports == [None, None]
    # One ACL for bob on "guarded" ends the shortcut there, for everybody.
    grant(b, acl("User:bob", ResourceType.TOPIC, "guarded", ACLOperation.WRITE))
    time.sleep(0.5)
    reports.clear()
    p = Producer(dict(anonymous, **{"message.timeout.ms": 5000}))
    for topic in ("open", "guarded"):
        p.produce(topic, b"y", on_delivery=lambda e, m: reports.append((m.topic(), e and e.code())))
    p.flush(10)
    assert sorted(reports) == [("guarded", KafkaError.TOPIC_AUTHORIZATION_FAILED), ("open", None)]


def replicated_produce(brokers, topic):
    admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(20)
    p = Producer({"bootstrap.servers": brokers[0].bootstrap, "acks": "all", "message.timeout.ms": 15000})
    reports = []
    p.produce(topic, b"r", on_delivery=lambda e, m: reports.append(e))
    p.flush(20)
    return reports


def test_a_cluster_replicates_when_anonymous_is_a_super_user(zk, tmp_path):  # noqa: F811
    brokers = start_cluster(zk, tmp_path, "authz", extra_config=AUTHORIZER + "super.users: User:ANONYMOUS\n")
    try:
        assert replicated_produce(brokers, "rep") == [None]
    finally:
        stop_cluster(brokers)


def test_replica_fetch_is_refused_without_cluster_action(zk, tmp_path):  # noqa: F811
    # Everybody may do everything until an ACL names the cluster: the cluster
    # forms, then a DENY of ClusterAction for ANONYMOUS stops replication.
    brokers = start_cluster(zk, tmp_path, "authz-deny",
                            extra_config=AUTHORIZER + "allow.everyone.if.no.acl.found: true\n")
    try:
        admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
        admin.create_topics([NewTopic("rep", 1, 3)])["rep"].result(20)
        with KafkaConnection(brokers[0].port) as c:
            resp = c.call("CreateAcls", 1, {"Creations": [{
                "ResourceType": 4, "ResourceName": "kafka-cluster", "ResourcePatternType": 3,
                "Principal": "User:ANONYMOUS", "Host": "*", "Operation": 9, "PermissionType": 2}]})
        assert resp["Results"][0]["ErrorCode"] == 0
        wait_for("a follower fetch refused", lambda: any(
            "may not ClusterAction the cluster: Fetch refused" in b.log_text() for b in brokers))
    finally:
        stop_cluster(brokers)


def test_admin_apis_check_the_topic_and_cluster_acls(broker):
    """ListOffsets (DESCRIBE), CreatePartitions (ALTER), DeleteRecords (DELETE),
    IncrementalAlterConfigs (ALTER_CONFIGS) on a topic and DescribeLogDirs
    (DESCRIBE on the cluster), sent as User:ANONYMOUS on the PLAINTEXT
    listener: refused until an ACL for ANONYMOUS allows each, then answered."""
    CLUSTER_AUTHORIZATION_FAILED = 31
    anon = "User:ANONYMOUS"
    create_topics(broker, "adm")
    produce(broker, ALICE, "adm", count=3)

    def list_offsets(c):
        r = c.call("ListOffsets", 5, {"ReplicaId": -1, "Topics": [
            {"Name": "adm", "Partitions": [{"PartitionIndex": 0, "CurrentLeaderEpoch": -1, "Timestamp": -1}]}]})
        return r["Topics"][0]["Partitions"][0]["ErrorCode"]

    def create_partitions(c):
        r = c.call("CreatePartitions", 1, {"Topics": [{"Name": "adm", "Count": 2, "Assignments": None}],
                                           "TimeoutMs": 15000})
        return r["Results"][0]["ErrorCode"]

    def delete_records(c):
        r = c.call("DeleteRecords", 1, {"Topics": [{"Name": "adm", "Partitions": [
            {"PartitionIndex": 0, "Offset": 1}]}], "TimeoutMs": 15000})
        return r["Topics"][0]["Partitions"][0]["ErrorCode"]

    def alter_config(c):
        r = c.call("IncrementalAlterConfigs", 0, {"Resources": [{"ResourceType": 2, "ResourceName": "adm", "Configs": [
            {"Name": "retention.ms", "ConfigOperation": 0, "Value": "3600000"}]}]})
        return r["Responses"][0]["ErrorCode"]

    def log_dirs(c):  # v3+ carries a top-level error; refused, the answer names no directory
        r = c.call("DescribeLogDirs", 3, {"Topics": None})
        return r["ErrorCode"] if r["ErrorCode"] or not r["Results"] else "dirs"

    with KafkaConnection(broker.port) as c:
        assert list_offsets(c) == TOPIC_AUTHORIZATION_FAILED
        assert create_partitions(c) == TOPIC_AUTHORIZATION_FAILED
        assert delete_records(c) == TOPIC_AUTHORIZATION_FAILED
        assert alter_config(c) == TOPIC_AUTHORIZATION_FAILED
        assert log_dirs(c) == CLUSTER_AUTHORIZATION_FAILED

    grant(broker,
          acl(anon, ResourceType.TOPIC, "adm", ACLOperation.DESCRIBE),
          acl(anon, ResourceType.TOPIC, "adm", ACLOperation.ALTER),
          acl(anon, ResourceType.TOPIC, "adm", ACLOperation.DELETE),
          acl(anon, ResourceType.TOPIC, "adm", ACLOperation.ALTER_CONFIGS),
          acl(anon, ResourceType.CLUSTER, "kafka-cluster", ACLOperation.DESCRIBE))
    with KafkaConnection(broker.port) as c:
        wait_for("the grants to apply", lambda: list_offsets(c) == 0, timeout=5)
        assert create_partitions(c) == 0
        assert delete_records(c) == 0
        assert alter_config(c) == 0
        assert log_dirs(c) == "dirs"


def test_group_offset_apis_check_the_group_and_each_topic(broker):
    """OffsetCommit (READ on the group and each topic), OffsetFetch (DESCRIBE on
    the group; topics not describable left out of "all", refused by name),
    ListGroups (only the groups one may describe, without DESCRIBE on the
    cluster) and OffsetDelete (DELETE on the group, READ on each topic), as
    User:ANONYMOUS on the PLAINTEXT listener."""
    GROUP_AUTHORIZATION_FAILED_ = 30
    anon = "User:ANONYMOUS"
    create_topics(broker, "t1", "t2")
    grant(broker, acl(anon, ResourceType.GROUP, "ga", ACLOperation.READ),
          acl(anon, ResourceType.GROUP, "gb", ACLOperation.READ),
          acl(anon, ResourceType.TOPIC, "t1", ACLOperation.READ))

    def commit(c, group):
        r = c.call("OffsetCommit", 2, {"GroupId": group, "GenerationIdOrMemberEpoch": -1, "MemberId": "",
                                       "RetentionTimeMs": -1, "Topics": [
                                           {"Name": t, "Partitions": [{"PartitionIndex": 0, "CommittedOffset": 1,
                                                                       "CommittedMetadata": ""}]}
                                           for t in ("t1", "t2")]})
        return {t["Name"]: t["Partitions"][0]["ErrorCode"] for t in r["Topics"]}

    def fetch(c, group, topics):
        r = c.call("OffsetFetch", 3, {"GroupId": group, "Topics": None if topics is None else [
            {"Name": t, "PartitionIndexes": [0]} for t in topics]})
        return r["ErrorCode"], {t["Name"]: (t["Partitions"][0]["CommittedOffset"], t["Partitions"][0]["ErrorCode"])
                                for t in r["Topics"]}

    with KafkaConnection(broker.port) as c:
        # FindCoordinator first, as clients do: it creates __consumer_offsets.
        c.call("FindCoordinator", 1, {"Key": "ga", "KeyType": 0})
        wait_for("the coordinator", lambda: commit(c, "ga")["t1"] == 0, timeout=15)
        assert commit(c, "ga") == {"t1": 0, "t2": TOPIC_AUTHORIZATION_FAILED}
        assert commit(c, "gb") == {"t1": 0, "t2": TOPIC_AUTHORIZATION_FAILED}
        assert commit(c, "gc") == {"t1": GROUP_AUTHORIZATION_FAILED_, "t2": GROUP_AUTHORIZATION_FAILED_}

        assert fetch(c, "ga", None) == (0, {"t1": (1, 0)})  # t2 is left out
        err, got = fetch(c, "ga", ["t1", "t2"])
        assert err == 0 and got["t1"] == (1, 0) and got["t2"][1] == TOPIC_AUTHORIZATION_FAILED
        assert fetch(c, "gc", ["t1"])[0] == GROUP_AUTHORIZATION_FAILED_

    # gb hidden from ListGroups by a DENY of DESCRIBE (READ still implies it for ga).
    grant(broker, acl(anon, ResourceType.GROUP, "gb", ACLOperation.DESCRIBE, ACLPermissionType.DENY))

    def list_groups(c):
        return {g["GroupId"] for g in c.call("ListGroups", 0, {})["Groups"]}

    def offset_delete(c):
        r = c.call("OffsetDelete", 0, {"GroupId": "ga", "Topics": [
            {"Name": t, "Partitions": [{"PartitionIndex": 0}]} for t in ("t1", "t2")]})
        return r["ErrorCode"], {t["Name"]: t["Partitions"][0]["ErrorCode"] for t in r["Topics"]}

    with KafkaConnection(broker.port) as c:
        wait_for("gb hidden", lambda: list_groups(c) == {"ga"}, timeout=5)
        assert offset_delete(c)[0] == GROUP_AUTHORIZATION_FAILED_
    grant(broker, acl(anon, ResourceType.GROUP, "ga", ACLOperation.DELETE))
    with KafkaConnection(broker.port) as c:
        wait_for("DELETE on ga", lambda: offset_delete(c)[0] == 0, timeout=5)
        assert fetch(c, "ga", ["t1"])[1]["t1"] == (-1, 0), "t1's offset deleted"
    # t2 (no READ) is refused per partition.
    with KafkaConnection(broker.port) as c:
        assert offset_delete(c)[1]["t2"] == TOPIC_AUTHORIZATION_FAILED
