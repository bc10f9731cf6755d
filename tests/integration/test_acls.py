"""Kafka's ACL administration (CreateAcls, DescribeAcls, DeleteAcls) against
real keel processes, on the store KEEL_STORE selects: kafka-python 2.0.2's
KafkaAdminClient (v0/v1), and requests built from Kafka's schemas for the
versions and cases it does not send (v2/v3, SECURITY_DISABLED, INVALID_REQUEST,
PREFIXED patterns, MATCH and ANY filters). The cluster test runs three brokers
on a ZooKeeper of its own and reads the nodes keel wrote with a small
ZooKeeper client (no CLI), byte for byte against Kafka's JSON."""

import socket
import struct
import time
import uuid

import pytest
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, ResourcePattern, ResourcePatternFilter, ResourceType)
from kafka.errors import ClusterAuthorizationFailedError, SecurityDisabledError

from conftest import Broker
from kafka_schema import KafkaConnection
from test_cluster import zk  # noqa: F401  (the fixture: a ZooKeeper of the test's own)

SECURITY_DISABLED = 54
CLUSTER_AUTHORIZATION_FAILED = 31
INVALID_REQUEST = 42

# Wire codes (Kafka's ResourceType, PatternType, AclOperation, AclPermissionType).
ANY, TOPIC, GROUP, CLUSTER, TXN_ID, USER = 1, 2, 3, 4, 5, 7
MATCH, LITERAL, PREFIXED = 2, 3, 4
ALL, READ, WRITE, ALTER, DESCRIBE = 2, 3, 4, 7, 8
DENY, ALLOW = 2, 3

AUTHORIZER = "authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
# PLAINTEXT clients are User:ANONYMOUS; as a super user they may administer ACLs.
ADMIN_CONFIG = AUTHORIZER + "super.users: 'User:ANONYMOUS'\n"


def creation(rtype, name, principal="User:alice", op=READ, perm=ALLOW, pattern=LITERAL, host="*"):
    return {"ResourceType": rtype, "ResourceName": name, "ResourcePatternType": pattern, "Principal": principal,
            "Host": host, "Operation": op, "PermissionType": perm}


def acl_filter(rtype=ANY, name=None, pattern=ANY, principal=None, host=None, op=1, perm=1):
    return {"ResourceTypeFilter": rtype, "ResourceNameFilter": name, "PatternTypeFilter": pattern,
            "PrincipalFilter": principal, "HostFilter": host, "Operation": op, "PermissionType": perm}


def describe(conn, version, **kwargs):
    return conn.call("DescribeAcls", version, acl_filter(**kwargs))


def described(resp):
    """{(type, name, pattern): sorted [(principal, host, op, perm)]} of a DescribeAcls answer."""
    assert resp["ErrorCode"] == 0, resp
    return {(r["ResourceType"], r["ResourceName"], r["PatternType"]):
            sorted((a["Principal"], a["Host"], a["Operation"], a["PermissionType"]) for a in r["Acls"])
            for r in resp["Resources"]}


def everything():
    """kafka-python's filter for every ACL."""
    return ACLFilter(principal=None, host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                     resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))



def assert_kafka_python_describe_fails(broker, error):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises(error):
            admin.describe_acls(everything())
    finally:
        admin.close()

@pytest.fixture
def acl_broker(tmp_path):
    b = Broker(tmp_path / "acl", extra_config=ADMIN_CONFIG).start()
    yield b
    assert b.stop() == 0


def test_without_an_authorizer_every_acl_api_answers_security_disabled(broker):
    with KafkaConnection(broker.port) as c:
        assert c.served("CreateAcls") == (0, 3)
        assert c.served("DescribeAcls") == (0, 3)
        assert c.served("DeleteAcls") == (0, 3)
        for v in range(4):
            resp = c.call("CreateAcls", v, {"Creations": [creation(TOPIC, "t"), creation(GROUP, "g")]})
            assert [r["ErrorCode"] for r in resp["Results"]] == [SECURITY_DISABLED] * 2
            resp = describe(c, v, pattern=LITERAL)
            assert resp["ErrorCode"] == SECURITY_DISABLED and resp["ErrorMessage"]
            resp = c.call("DeleteAcls", v, {"Filters": [acl_filter(pattern=LITERAL)]})
            assert [r["ErrorCode"] for r in resp["FilterResults"]] == [SECURITY_DISABLED]
    assert_kafka_python_describe_fails(broker, SecurityDisabledError)


def test_kafka_python_creates_describes_and_deletes(acl_broker):
    admin = KafkaAdminClient(bootstrap_servers=acl_broker.bootstrap)
    try:
        acls, _ = admin.describe_acls(everything())
        assert acls == [], "a fresh cluster has no ACLs"
        read = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                   ResourcePattern(ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL))
        write = ACL("User:bob", "10.0.0.1", ACLOperation.WRITE, ACLPermissionType.DENY,
                    ResourcePattern(ResourceType.TOPIC, "ord", ACLResourcePatternType.PREFIXED))
        group = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType.GROUP, "g1", ACLResourcePatternType.LITERAL))
        result = admin.create_acls([read, write, group])
        assert len(result["succeeded"]) == 3 and result["failed"] == []

        acls, _ = admin.describe_acls(everything())
        got = {(a.principal, a.host, a.operation, a.permission_type, a.resource_pattern.resource_type,
                a.resource_pattern.resource_name, a.resource_pattern.pattern_type) for a in acls}
        assert got == {
            ("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, ResourceType.TOPIC, "orders",
             ACLResourcePatternType.LITERAL),
            ("User:bob", "10.0.0.1", ACLOperation.WRITE, ACLPermissionType.DENY, ResourceType.TOPIC, "ord",
             ACLResourcePatternType.PREFIXED),
            ("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, ResourceType.GROUP, "g1",
             ACLResourcePatternType.LITERAL)}

        # MATCH on a concrete topic finds the literal and the prefixed ACLs that apply to it.
        acls, _ = admin.describe_acls(ACLFilter(
            principal=None, host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, "orders", ACLResourcePatternType.MATCH)))
        assert sorted(a.resource_pattern.resource_name for a in acls) == ["ord", "orders"]

        deleted = admin.delete_acls([ACLFilter(
            principal="User:alice", host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))])
        assert len(deleted) == 1
        _, matches, error = deleted[0]
        assert sorted(m[0].resource_pattern.resource_name for m in matches) == ["g1", "orders"]
        acls, _ = admin.describe_acls(everything())
        assert [a.principal for a in acls] == ["User:bob"]
    finally:
        admin.close()


def test_versions_patterns_and_filters(acl_broker):
    with KafkaConnection(acl_broker.port) as c:
        # v0 has no pattern type: its creations are LITERAL.
        resp = c.call("CreateAcls", 0, {"Creations": [creation(TOPIC, "orders", "User:v0")]})
        assert resp["Results"][0]["ErrorCode"] == 0
        for v in (1, 2, 3):
            resp = c.call("CreateAcls", v, {"Creations": [
                creation(TOPIC, "ord", "User:v%d" % v, pattern=PREFIXED),
                creation(TOPIC, "*", "User:v%d" % v, op=DESCRIBE),
                creation(TOPIC, "other", "User:v%d" % v, op=WRITE, perm=DENY)]})
            assert [r["ErrorCode"] for r in resp["Results"]] == [0, 0, 0], resp
        # v3 adds the USER resource type (delegation tokens).
        assert c.call("CreateAcls", 3, {"Creations": [creation(USER, "alice", "User:bob", op=ALL)]})[
            "Results"][0]["ErrorCode"] == 0

        # DescribeAcls groups by resource pattern.
        everything = described(describe(c, 3))
        assert everything[(TOPIC, "ord", PREFIXED)] == sorted(
            ("User:v%d" % v, "*", READ, ALLOW) for v in (1, 2, 3))
        assert everything[(TOPIC, "orders", LITERAL)] == [("User:v0", "*", READ, ALLOW)]
        assert set(everything) == {(TOPIC, "ord", PREFIXED), (TOPIC, "orders", LITERAL), (TOPIC, "*", LITERAL),
                                   (TOPIC, "other", LITERAL), (USER, "alice", LITERAL)}
        # MATCH: what applies to topic "orders"; ANY: that name, any pattern type;
        # a PREFIXED filter: exactly that prefix.
        assert set(described(describe(c, 1, rtype=TOPIC, name="orders", pattern=MATCH))) == {
            (TOPIC, "orders", LITERAL), (TOPIC, "*", LITERAL), (TOPIC, "ord", PREFIXED)}
        assert set(described(describe(c, 2, rtype=TOPIC, name="orders", pattern=ANY))) == {(TOPIC, "orders", LITERAL)}
        assert set(described(describe(c, 2, rtype=TOPIC, name="ord", pattern=PREFIXED))) == {(TOPIC, "ord", PREFIXED)}
        assert described(describe(c, 3, principal="User:v2", op=WRITE)) == {
            (TOPIC, "other", LITERAL): [("User:v2", "*", WRITE, DENY)]}
        # v0 filters are LITERAL: prefixed ACLs stay out of its sight.
        resp = c.call("DescribeAcls", 0, {"ResourceTypeFilter": ANY, "ResourceNameFilter": None,
                                          "PrincipalFilter": None, "HostFilter": None, "Operation": 1,
                                          "PermissionType": 1})
        assert (TOPIC, "ord") not in {(r["ResourceType"], r["ResourceName"]) for r in resp["Resources"]}

        # DeleteAcls: each ACL is reported under the first filter that matches it.
        resp = c.call("DeleteAcls", 2, {"Filters": [
            acl_filter(rtype=TOPIC, name="ord", pattern=PREFIXED, principal="User:v1"),
            acl_filter(rtype=TOPIC, pattern=ANY),
            acl_filter(rtype=GROUP, name="nothing-here", pattern=LITERAL)]})
        first, second, third = resp["FilterResults"]
        assert [(m["ResourceName"], m["PatternType"], m["Principal"]) for m in first["MatchingAcls"]] == [
            ("ord", PREFIXED, "User:v1")]
        assert len(second["MatchingAcls"]) == 1 + 2 + 3 + 3, second
        assert all(m["ErrorCode"] == 0 for m in second["MatchingAcls"])
        assert third["ErrorCode"] == 0 and third["MatchingAcls"] == []
        assert described(describe(c, 3)) == {(USER, "alice", LITERAL): [("User:bob", "*", ALL, ALLOW)]}
        resp = c.call("DeleteAcls", 3, {"Filters": [acl_filter(rtype=USER, pattern=MATCH, name="alice")]})
        assert len(resp["FilterResults"][0]["MatchingAcls"]) == 1
        assert described(describe(c, 3)) == {}


def test_invalid_bindings_and_filters_are_refused_one_by_one(acl_broker):
    with KafkaConnection(acl_broker.port) as c:
        resp = c.call("CreateAcls", 2, {"Creations": [
            creation(CLUSTER, "not-the-cluster"),
            creation(TOPIC, "ok"),
            creation(ANY, "t"),
            creation(TOPIC, "", op=READ),
            creation(TOPIC, "t", principal="alice"),
            creation(TOPIC, "t", pattern=MATCH),
            creation(TOPIC, "t", op=1),
            creation(TOPIC, "a/b"),
            creation(9, "t")]})
        codes = [r["ErrorCode"] for r in resp["Results"]]
        assert codes == [INVALID_REQUEST, 0] + [INVALID_REQUEST] * 7, resp
        assert "kafka-cluster" in resp["Results"][0]["ErrorMessage"]
        assert "principalType:principalName" in resp["Results"][4]["ErrorMessage"]
        assert all(r["ErrorMessage"] for r in resp["Results"] if r["ErrorCode"])

        resp = describe(c, 1, rtype=0)
        assert resp["ErrorCode"] == INVALID_REQUEST and "UNKNOWN" in resp["ErrorMessage"]
        resp = c.call("DeleteAcls", 1, {"Filters": [acl_filter(op=0), acl_filter(rtype=TOPIC, name="ok")]})
        assert resp["FilterResults"][0]["ErrorCode"] == INVALID_REQUEST
        assert [m["ResourceName"] for m in resp["FilterResults"][1]["MatchingAcls"]] == ["ok"]


def test_cluster_permission_follows_kafka(make_broker):
    # No super user, allow.everyone.if.no.acl.found=false: no ACL grants
    # ANONYMOUS anything on the cluster, so it may not even create the first
    # ACL (Kafka's bootstrap is a super user, or kafka-acls.sh on ZooKeeper).
    strict = make_broker("strict", extra_config=AUTHORIZER).start()
    with KafkaConnection(strict.port) as c:
        resp = c.call("CreateAcls", 1, {"Creations": [creation(TOPIC, "t")]})
        assert resp["Results"][0]["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
        assert describe(c, 1)["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
        assert c.call("DeleteAcls", 1, {"Filters": [acl_filter()]})["FilterResults"][0]["ErrorCode"] == \
            CLUSTER_AUTHORIZATION_FAILED
    strict.stop()

    # With allow.everyone.if.no.acl.found, ANONYMOUS may act until some ACL
    # names the cluster; from then on only what the ACLs grant counts.
    open_ = make_broker("open", extra_config=AUTHORIZER + "allow.everyone.if.no.acl.found: true\n").start()
    with KafkaConnection(open_.port) as c:
        resp = c.call("CreateAcls", 1, {"Creations": [creation(CLUSTER, "kafka-cluster", "User:admin", op=ALTER)]})
        assert resp["Results"][0]["ErrorCode"] == 0
        assert describe(c, 1)["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
        resp = c.call("CreateAcls", 1, {"Creations": [creation(TOPIC, "t")]})
        assert resp["Results"][0]["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
    assert_kafka_python_describe_fails(open_, ClusterAuthorizationFailedError)


def test_acls_survive_a_restart(make_broker):
    b = make_broker("restart", extra_config=ADMIN_CONFIG).start()
    with KafkaConnection(b.port) as c:
        c.call("CreateAcls", 1, {"Creations": [creation(TOPIC, "kept", pattern=PREFIXED)]})
    assert b.stop() == 0
    b.start()
    with KafkaConnection(b.port) as c:
        assert described(describe(c, 1)) == {(TOPIC, "kept", PREFIXED): [("User:alice", "*", READ, ALLOW)]}


def test_unknown_authorizer_class_stops_start_up(make_broker):
    b = make_broker("bad", extra_config="authorizer.class.name: org.example.MyAuthorizer\n")
    with pytest.raises(RuntimeError):
        b.start()
    out = (b.dir / "keel.out").read_text() + b.log_text()
    assert "org.example.MyAuthorizer" in out and "kafka.security.authorizer.AclAuthorizer" in out


# --- a three-broker cluster on ZooKeeper ----------------------------------------------------------------------------

class ZkReader:
    """Just enough of ZooKeeper's client protocol to read nodes: a session,
    then getData / getChildren requests (jute encoding)."""

    def __init__(self, connect, chroot=""):
        host, port = connect.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.chroot = chroot
        self.xid = 0
        # ConnectRequest: protocol version, last zxid, timeout, session id, password.
        self._send(struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16)
        self._recv()

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv(self):
        def exact(n):
            buf = b""
            while len(buf) < n:
                chunk = self.sock.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("ZooKeeper closed the connection")
                buf += chunk
            return buf
        (size,) = struct.unpack(">i", exact(4))
        return exact(size)

    def _call(self, op, path):
        self.xid += 1
        p = (self.chroot + path).encode()
        self._send(struct.pack(">ii", self.xid, op) + struct.pack(">i", len(p)) + p + b"\0")
        reply = self._recv()
        _xid, _zxid, err = struct.unpack_from(">iqi", reply)
        return (None if err else reply[16:])

    def get(self, path):
        body = self._call(4, path)  # getData
        if body is None:
            return None
        (n,) = struct.unpack_from(">i", body)
        return body[4:4 + n] if n >= 0 else b""

    def children(self, path):
        body = self._call(8, path)  # getChildren
        if body is None:
            return None
        (count,) = struct.unpack_from(">i", body)
        names, pos = [], 4
        for _ in range(count):
            (n,) = struct.unpack_from(">i", body, pos)
            names.append(body[pos + 4:pos + 4 + n].decode())
            pos += 4 + n
        return sorted(names)

    def close(self):
        self.sock.close()


def wait_until(check, timeout):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            return value
        time.sleep(0.02)


def test_a_change_on_one_broker_reaches_every_broker_within_a_second(zk, tmp_path):
    chroot = "/acls-" + uuid.uuid4().hex[:8]
    brokers = [Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=zk.connect + chroot, extra_config=ADMIN_CONFIG)
               for i in (1, 2, 3)]
    for b in brokers:
        b.start()
    try:
        b1, b2, b3 = brokers
        with KafkaConnection(b1.port) as c:
            resp = c.call("CreateAcls", 2, {"Creations": [
                creation(TOPIC, "orders", "User:alice", op=READ),
                creation(TOPIC, "orders", "User:bob", op=WRITE, perm=DENY, host="10.1.2.3"),
                creation(GROUP, "app-", "User:alice", op=READ, pattern=PREFIXED)]})
            assert [r["ErrorCode"] for r in resp["Results"]] == [0, 0, 0]
        created = time.time()
        expected = {(TOPIC, "orders", LITERAL): sorted([("User:alice", "*", READ, ALLOW),
                                                        ("User:bob", "10.1.2.3", WRITE, DENY)]),
                    (GROUP, "app-", PREFIXED): [("User:alice", "*", READ, ALLOW)]}
        for b in (b2, b3):
            with KafkaConnection(b.port) as c:
                assert wait_until(lambda: described(describe(c, 3)) == expected, 1.0 - (time.time() - created)), \
                    "broker %d did not see the new ACLs within a second" % b.broker_id

        # The nodes are Kafka's, byte for byte, so kafka-acls.sh reads them.
        zr = ZkReader(zk.connect, chroot)
        try:
            # Entries in the order they were added, as Kafka keeps a small set.
            assert zr.get("/kafka-acl/Topic/orders") == (
                b'{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read",'
                b'"host":"*"},{"principal":"User:bob","permissionType":"Deny","operation":"Write",'
                b'"host":"10.1.2.3"}]}')
            assert zr.get("/kafka-acl-extended/prefixed/Group/app-") == (
                b'{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read",'
                b'"host":"*"}]}')
            literal_changes = zr.children("/kafka-acl-changes")
            assert literal_changes == ["acl_changes_0000000000"]
            assert zr.get("/kafka-acl-changes/acl_changes_0000000000") == b"TOPIC:orders"
            extended = zr.children("/kafka-acl-extended-changes")
            assert zr.get("/kafka-acl-extended-changes/" + extended[0]) == (
                b'{"version":1,"resourceType":"GROUP","name":"app-","patternType":"PREFIXED"}')
        finally:
            zr.close()

        # A deletion on the third broker reaches the first within a second.
        with KafkaConnection(b3.port) as c:
            resp = c.call("DeleteAcls", 1, {"Filters": [acl_filter(principal="User:bob")]})
            assert len(resp["FilterResults"][0]["MatchingAcls"]) == 1
        deleted = time.time()
        with KafkaConnection(b1.port) as c:
            assert wait_until(lambda: (TOPIC, "orders", LITERAL) in described(describe(c, 3)) and
                              len(described(describe(c, 3))[(TOPIC, "orders", LITERAL)]) == 1,
                              1.0 - (time.time() - deleted))
        zr = ZkReader(zk.connect, chroot)
        try:
            assert zr.get("/kafka-acl/Topic/orders") == (
                b'{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read",'
                b'"host":"*"}]}')
        finally:
            zr.close()
    finally:
        for b in brokers:
            b.stop()
