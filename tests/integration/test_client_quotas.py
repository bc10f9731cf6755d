"""Client quotas' storage and administration (issue 23 part 3, KIP-546):
AlterClientQuotas and DescribeClientQuotas on the wire (neither
confluent-kafka 2.0 nor kafka-python 2.0 has them), stored in Kafka's
/config/users, /config/users/<u>/clients, /config/clients and /config/ips
layout with change notifications, so what kafka-configs (either way: the
admin API or --zookeeper) writes and reads is what Keel writes and reads.
Throttling by these quotas is not tested here."""

import json
import uuid

import pytest
from kazoo.client import KazooClient

from conftest import Broker
from kafka_schema import KafkaConnection
from test_sasl import alter_scram, describe_scram, wait_log
from test_zookeeper import zk  # noqa: F401 (a fixture: a ZooKeeper of the test's own)

INVALID_REQUEST = 42
UNSUPPORTED_VERSION = 35
CLUSTER_AUTHORIZATION_FAILED = 31


def alter(port, entries, validate_only=False, version=1):
    """entries: [(entity dict {type: name or None}, ops {key: value or None (= remove)})]."""
    body = {"Entries": [{"Entity": [{"EntityType": t, "EntityName": n} for t, n in entity.items()],
                         "Ops": [{"Key": k, "Value": 0.0 if v is None else float(v), "Remove": v is None}
                                 for k, v in ops.items()]}
                        for entity, ops in entries],
            "ValidateOnly": validate_only}
    with KafkaConnection(port) as c:
        resp = c.call("AlterClientQuotas", version, body)
    return [(r["ErrorCode"], r["ErrorMessage"], {e["EntityType"]: e["EntityName"] for e in r["Entity"]})
            for r in resp["Entries"]]


def describe(port, components=(), strict=False, version=1):
    """components: [(type, match_type, match)]; returns (error, message, {entity tuple: values})."""
    body = {"Components": [{"EntityType": t, "MatchType": m, "Match": n} for t, m, n in components],
            "Strict": strict}
    with KafkaConnection(port) as c:
        resp = c.call("DescribeClientQuotas", version, body)
    if resp["Entries"] is None:
        return resp["ErrorCode"], resp["ErrorMessage"], None
    entries = {}
    for e in resp["Entries"]:
        key = tuple(sorted((x["EntityType"], x["EntityName"]) for x in e["Entity"]))
        entries[key] = {v["Key"]: v["Value"] for v in e["Values"]}
    return resp["ErrorCode"], resp["ErrorMessage"], entries


EXACT, DEFAULT, SPECIFIED = 0, 1, 2
ALL_ENTITIES = [
    ({"user": "alice", "client-id": "app"}, {"producer_byte_rate": 1}),
    ({"user": "alice", "client-id": None}, {"producer_byte_rate": 2}),
    ({"user": "alice"}, {"producer_byte_rate": 3, "request_percentage": 12.5}),
    ({"user": None, "client-id": "app"}, {"producer_byte_rate": 4}),
    ({"user": None, "client-id": None}, {"producer_byte_rate": 5}),
    ({"user": None}, {"consumer_byte_rate": 6}),
    ({"client-id": "app"}, {"controller_mutation_rate": 7.5}),
    ({"client-id": None}, {"consumer_byte_rate": 8}),
    ({"ip": "10.1.2.3"}, {"connection_creation_rate": 9}),
    ({"ip": None}, {"connection_creation_rate": 10}),
]


def key(entity):
    return tuple(sorted(entity.items()))


@pytest.fixture
def quota_broker(make_broker):
    b = make_broker("quotas").start()
    results = alter(b.port, ALL_ENTITIES)
    assert [(e, m) for e, m, _ in results] == [(0, None)] * len(ALL_ENTITIES)
    assert [ent for _, _, ent in results] == [e for e, _ in ALL_ENTITIES]
    return b


def test_every_entity_kind_round_trips(quota_broker):
    err, msg, entries = describe(quota_broker.port)
    assert (err, msg) == (0, None)
    assert entries == {key(e): {k: float(v) for k, v in ops.items()} for e, ops in ALL_ENTITIES}


@pytest.mark.parametrize("components,strict,expected", [
    # A named user: its own entity, and with strict nothing with a client id.
    ([("user", EXACT, "alice")], True, [{"user": "alice"}]),
    ([("user", EXACT, "alice")], False,
     [{"user": "alice"}, {"user": "alice", "client-id": "app"}, {"user": "alice", "client-id": None}]),
    # The default user.
    ([("user", DEFAULT, None)], True, [{"user": None}]),
    ([("user", DEFAULT, None)], False,
     [{"user": None}, {"user": None, "client-id": "app"}, {"user": None, "client-id": None}]),
    # Any user, alone.
    ([("user", SPECIFIED, None)], True, [{"user": "alice"}, {"user": None}]),
    # Both parts named.
    ([("user", EXACT, "alice"), ("client-id", DEFAULT, None)], True, [{"user": "alice", "client-id": None}]),
    ([("user", SPECIFIED, None), ("client-id", EXACT, "app")], True,
     [{"user": "alice", "client-id": "app"}, {"user": None, "client-id": "app"}]),
    # Client ids alone.
    ([("client-id", EXACT, "app")], True, [{"client-id": "app"}]),
    ([("client-id", SPECIFIED, None)], True, [{"client-id": "app"}, {"client-id": None}]),
    # IPs.
    ([("ip", EXACT, "10.1.2.3")], True, [{"ip": "10.1.2.3"}]),
    ([("ip", DEFAULT, None)], False, [{"ip": None}]),
    ([("ip", SPECIFIED, None)], True, [{"ip": "10.1.2.3"}, {"ip": None}]),
    # Nothing named and strict: nothing.
    ([], True, []),
    # No match.
    ([("user", EXACT, "nobody")], False, []),
])
def test_describe_filters_as_kafka(quota_broker, components, strict, expected):
    err, msg, entries = describe(quota_broker.port, components, strict)
    assert (err, msg) == (0, None)
    assert sorted(entries, key=repr) == sorted((key(e) for e in expected), key=repr)


@pytest.mark.parametrize("components,error,message", [
    ([("user", EXACT, "a"), ("user", DEFAULT, None)], INVALID_REQUEST, "Duplicate user filter component entity type"),
    ([("client-id", SPECIFIED, None), ("client-id", SPECIFIED, None)], INVALID_REQUEST,
     "Duplicate client filter component entity type"),
    ([("user", SPECIFIED, None), ("ip", SPECIFIED, None)], INVALID_REQUEST,
     "Invalid entity filter component combination, IP filter component should not be used with user or clientId "
     "filter component."),
    ([("", SPECIFIED, None)], INVALID_REQUEST, "Unexpected empty filter component entity type"),
    ([("group", SPECIFIED, None)], UNSUPPORTED_VERSION, "Custom entity type 'group' not supported"),
    ([("user", 7, None)], INVALID_REQUEST, "Unexpected match type: 7"),
])
def test_describe_refuses_bad_filters(quota_broker, components, error, message):
    assert describe(quota_broker.port, components) == (error, message, None)


def test_alter_checks_entities_and_values(quota_broker):
    port = quota_broker.port
    bad = [
        ({}, {"producer_byte_rate": 1}, "Invalid empty client quota entity"),
        ({"group": "g"}, {"producer_byte_rate": 1}, "Unhandled client quota entity type: group"),
        ({"user": ""}, {"producer_byte_rate": 1}, "Empty user not supported"),
        ({"user": "u", "ip": "10.0.0.1"}, {"producer_byte_rate": 1},
         "Invalid quota entity combination, IP entity should not be used with user/client ID entity."),
        ({"ip": "not-an-ip"}, {"connection_creation_rate": 1}, "not-an-ip is not a valid IP or resolvable host."),
        ({"user": "u"}, {"retention.ms": 1}, "Invalid configuration key retention.ms"),
        ({"user": "u"}, {"connection_creation_rate": 1}, "Invalid configuration key connection_creation_rate"),
        ({"ip": "10.0.0.1"}, {"producer_byte_rate": 1}, "Invalid configuration key producer_byte_rate"),
        ({"user": "u"}, {"producer_byte_rate": 10.5}, "Configuration producer_byte_rate must be a Long value"),
        ({"client-id": "c"}, {"request_percentage": 0}, "Quota request_percentage must be greater than 0"),
        ({"client-id": "c"}, {"consumer_byte_rate": -5}, "Quota consumer_byte_rate must be greater than 0"),
    ]
    results = alter(port, [(e, ops) for e, ops, _ in bad] + [({"user": "fine"}, {"producer_byte_rate": 100})])
    assert [(e, m) for e, m, _ in results] == [(INVALID_REQUEST, m) for _, _, m in bad] + [(0, None)]
    # Only the good entry was written; nothing of the refused ones.
    err, _, entries = describe(port, [("user", EXACT, "fine")], True)
    assert entries == {(("user", "fine"),): {"producer_byte_rate": 100.0}}
    assert describe(port, [("user", EXACT, "u")])[2] == {}


def test_validate_only_writes_nothing_and_remove_deletes(quota_broker):
    port = quota_broker.port
    assert alter(port, [({"user": "v"}, {"producer_byte_rate": 5})], validate_only=True)[0][:2] == (0, None)
    assert describe(port, [("user", EXACT, "v")], True)[2] == {}
    # Remove one key; removing the last one leaves the entity out of Describe.
    assert alter(port, [({"user": "alice"}, {"request_percentage": None})])[0][:2] == (0, None)
    assert describe(port, [("user", EXACT, "alice")], True)[2] == {(("user", "alice"),): {"producer_byte_rate": 3.0}}
    assert alter(port, [({"user": "alice"}, {"producer_byte_rate": None})])[0][:2] == (0, None)
    assert describe(port, [("user", EXACT, "alice")], True)[2] == {}
    # Version 0 works the same.
    assert alter(port, [({"client-id": "v0"}, {"producer_byte_rate": 64})], version=0)[0][:2] == (0, None)
    assert describe(port, [("client-id", EXACT, "v0")], True, version=0)[2] == {
        (("client-id", "v0"),): {"producer_byte_rate": 64.0}}


def test_quotas_and_scram_credentials_share_the_user_node(quota_broker):
    port = quota_broker.port
    assert alter_scram(port, upsertions=[("alice", "SCRAM-SHA-512", "pw", 4096)]) == {"alice": (0, None)}
    assert alter(port, [({"user": "alice"}, {"consumer_byte_rate": 4096})])[0][:2] == (0, None)
    assert describe_scram(port, ["alice"]) == {"alice": (0, [(2, 4096)])}
    assert describe(port, [("user", EXACT, "alice")], True)[2] == {
        (("user", "alice"),): {"producer_byte_rate": 3.0, "request_percentage": 12.5, "consumer_byte_rate": 4096.0}}
    # A user with credentials and no quota is not a quota entity.
    assert alter_scram(port, upsertions=[("carol", "SCRAM-SHA-256", "pw", 4096)]) == {"carol": (0, None)}
    assert describe(port, [("user", EXACT, "carol")])[2] == {}


def test_quota_apis_need_cluster_configs_permissions(make_broker):
    b = make_broker("authz", extra_config="authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n").start()
    err, msg, entries = describe(b.port)
    assert err == CLUSTER_AUTHORIZATION_FAILED and entries is None
    results = alter(b.port, [({"user": "x"}, {"producer_byte_rate": 1}), ({"client-id": "y"}, {"producer_byte_rate": 1})])
    assert [e for e, _, _ in results] == [CLUSTER_AUTHORIZATION_FAILED] * 2


def test_stored_in_kafkas_zookeeper_layout(zk, tmp_path):
    chroot = "/quotas-" + uuid.uuid4().hex[:8]
    b = Broker(tmp_path / "b", zookeeper=zk.connect + chroot).start()
    try:
        assert [r[:2] for r in alter(b.port, [({"user": "CN=a b", "client-id": None}, {"producer_byte_rate": 1024}),
                                              ({"ip": "10.9.8.7"}, {"connection_creation_rate": 3})])] == [(0, None)] * 2
        kz = KazooClient(hosts=zk.connect + chroot)
        kz.start(timeout=15)
        node = json.loads(kz.get("/config/users/CN%3Da%20b/clients/<default>")[0])
        assert node == {"version": 1, "config": {"producer_byte_rate": "1024"}}
        assert json.loads(kz.get("/config/ips/10.9.8.7")[0])["config"] == {"connection_creation_rate": "3"}
        paths = [json.loads(kz.get("/config/changes/" + n)[0])["entity_path"]
                 for n in sorted(kz.get_children("/config/changes"))]
        assert paths[-2:] == ["users/CN%3Da%20b/clients/<default>", "ips/10.9.8.7"]
        # What kafka-configs --zookeeper writes (the node, then the
        # notification) is what Describe answers.
        kz.create("/config/clients/legacy-app",
                  json.dumps({"version": 1, "config": {"consumer_byte_rate": "777"}}).encode(), makepath=True)
        kz.create("/config/changes/config_change_", json.dumps({"version": 2, "entity_path": "clients/legacy-app"})
                  .encode(), sequence=True)
        assert describe(b.port, [("client-id", EXACT, "legacy-app")], True)[2] == {
            (("client-id", "legacy-app"),): {"consumer_byte_rate": 777.0}}
        assert describe(b.port, [("user", EXACT, "CN=a b")])[2] == {
            (("client-id", None), ("user", "CN=a b")): {"producer_byte_rate": 1024.0}}
        # A restart reads them back.
        assert b.stop() == 0
        b.start()
        assert wait_log(b, "client quotas of 3 entities loaded from the store")
        kz.stop()
    finally:
        b.stop()
