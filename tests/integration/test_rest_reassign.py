"""The /keel/v1 reassignment routes (docs/rest-api.md): generated plans, dry
runs, the replication factor, throttles, cancel, rebalance, broker drain and
decommission, with real HTTP requests against one keel process and against a
three-broker cluster on a real ZooKeeper. Effects are checked with real
clients: Kafka's AlterPartitionReassignments from the wire
(kafka_schema.KafkaConnection) refuses what REST refuses, confluent-kafka's
metadata shows the new replicas and leaders, kafka-python's DescribeConfigs
shows the throttle set and removed."""

import time
import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from conftest import Broker, free_port
from kafka_schema import KafkaConnection
from test_cluster import metadata, wait_for, zk  # noqa: F401 (fixture)
from test_rest_api import AUTHORIZER, Rest, start, wait_serving

INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
CLUSTER_AUTHORIZATION_FAILED = 31
NOT_CONTROLLER = 41
ROUTES = [("POST", "/keel/v1/reassignments/plan"), ("POST", "/keel/v1/reassignments"),
          ("GET", "/keel/v1/reassignments"), ("DELETE", "/keel/v1/reassignments"),
          ("POST", "/keel/v1/topics/{topic_name}/replication-factor"), ("POST", "/keel/v1/rebalance"),
          ("POST", "/keel/v1/brokers/{broker_id}/drain"), ("GET", "/keel/v1/brokers/{broker_id}/drain"),
          ("POST", "/keel/v1/brokers/{broker_id}/decommission"),
          ("GET", "/keel/v1/brokers/{broker_id}/decommission")]


def create(rest, cid, topic, partitions, rf):
    status, body, _ = rest.call("POST", "/v3/clusters/%s/topics" % cid,
                                {"topic_name": topic, "partitions_count": partitions, "replication_factor": rf})
    assert status == 201, body


def test_plans_dry_runs_and_refusals_on_one_broker(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic = "re-" + uuid.uuid4().hex[:6]
    create(rest, cid, topic, 2, 1)

    # One broker holds one replica: a factor of 2 is refused with Kafka's code, 1 moves nothing.
    status, body, _ = rest.call("POST", "/keel/v1/reassignments/plan", {"topics": [topic], "replication_factor": 2})
    assert status == 400 and body["kafka_error_code"] == INVALID_REPLICATION_FACTOR, body
    status, body, _ = rest.call("POST", "/keel/v1/reassignments/plan", {"topics": [topic], "replication_factor": 1})
    assert status == 200 and body == {"kind": "KeelReassignmentPlan", "moves": []}
    status, body, _ = rest.call("POST", "/keel/v1/topics/%s/replication-factor" % topic,
                                {"replication_factor": 2, "dry_run": True})
    assert status == 400 and body["kafka_error_code"] == INVALID_REPLICATION_FACTOR

    # A dry run answers the moves as asked; a broker that does not exist is refused.
    move = {"topic": topic, "partition": 1, "replicas": [0]}
    status, body, _ = rest.call("POST", "/keel/v1/reassignments", {"partitions": [move], "dry_run": True})
    assert status == 200 and body["dry_run"] is True
    assert body["moves"] == [{"topic": topic, "partition": 1, "current_replicas": [0], "target_replicas": [0]}]
    status, body, _ = rest.call("POST", "/keel/v1/reassignments",
                                {"partitions": [dict(move, replicas=[7])], "dry_run": True})
    assert status == 400 and body["kafka_error_code"] == INVALID_REPLICA_ASSIGNMENT
    assert "broker 7" in body["message"]
    status, body, _ = rest.call("POST", "/keel/v1/reassignments", {"partitions": [dict(move, topic="no-such")]})
    assert status == 404 and body["kafka_error_code"] == 3
    # Malformed bodies: 400 naming the problem.
    for bad, words in (({"partitions": [dict(move, replicas=[0, 0])]}, "twice"),
                       ({"partitions": [move], "speed": 1}, "unknown field 'speed'"),
                       ({"partitions": [dict(move, partition="1")]}, "must be an integer"),
                       ({"partitions": [move], "throttle_bytes_per_sec": 0}, "1 or more"),
                       ({}, "'partitions' is required")):
        status, body, _ = rest.call("POST", "/keel/v1/reassignments", bad)
        assert status == 400 and words in body["message"], (bad, body)

    # A real reassignment to the same replica completes at once; nothing is left ongoing.
    status, body, _ = rest.call("POST", "/keel/v1/reassignments", {"partitions": [move]})
    assert status == 200 and body["moves"][0]["error_code"] == 0, body
    status, body, _ = rest.call("GET", "/keel/v1/reassignments")
    assert status == 200 and body["data"] == [], body
    status, body, _ = rest.call("DELETE", "/keel/v1/reassignments")
    assert status == 200 and body["cancelled"] == []

    # Nothing to rebalance on one broker; it cannot be drained nor decommissioned (no other broker).
    status, body, _ = rest.call("POST", "/keel/v1/rebalance", {"dry_run": True})
    assert status == 200 and body["moves"] == []
    status, body, _ = rest.call("POST", "/keel/v1/brokers/0/drain", {"dry_run": True})
    assert status == 200 and body["moves"] == []
    assert {(p["topic"], p["partition"]) for p in body["stuck"]} >= {(topic, 0), (topic, 1)}
    status, progress, _ = rest.call("GET", "/keel/v1/brokers/0/drain")
    assert status == 200 and progress["leaders_left"] >= 2 and progress["drained"] is False
    status, body, _ = rest.call("POST", "/keel/v1/brokers/0/decommission", {"dry_run": True})
    assert status == 400 and body["kafka_error_code"] == INVALID_REPLICATION_FACTOR
    status, progress, _ = rest.call("GET", "/keel/v1/brokers/0/decommission")
    assert status == 200 and progress["replicas_left"] >= 2 and isinstance(progress["bytes_left"], int)
    assert rest.call("GET", "/keel/v1/brokers/x/drain")[0] == 400

    # Every route is in /openapi.json.
    status, doc, _ = rest.call("GET", "/openapi.json")
    assert status == 200
    for method, path in ROUTES:
        assert method.lower() in doc["paths"][path], (method, path)


THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
THROTTLE_REPLICAS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


def hand_set_throttle(b, topic, value):
    """A throttle an operator sets with kafka-configs (AlterConfigs from kafka-python), not the REST."""
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                            configs={"leader.replication.throttled.replicas": value})])
    finally:
        admin.close()


def broker_rates(b, broker_id):
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        answer = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(broker_id))])
        (res,) = (answer[0] if isinstance(answer, list) else answer).resources
        return {c[0]: c[1] for c in res[4] if c[0] in THROTTLE_RATES}
    finally:
        admin.close()


def test_a_throttle_outlives_a_restart_on_one_broker(make_broker):
    # The embedded store (or ZooKeeper with KEEL_STORE=zookeeper) keeps the record.
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic, manual = "thr-" + uuid.uuid4().hex[:6], "hand-" + uuid.uuid4().hex[:6]
    create(rest, cid, topic, 1, 1)
    create(rest, cid, manual, 1, 1)
    hand_set_throttle(b, manual, "0:0")
    move = {"topic": topic, "partition": 0, "replicas": [0]}
    status, body, _ = rest.call("POST", "/keel/v1/reassignments", {"partitions": [move], "throttle_bytes_per_sec": 1000})
    assert status == 200 and body["moves"][0]["error_code"] == 0, body
    assert topic_config(b, topic)["leader.replication.throttled.replicas"] == "0:0"
    assert broker_rates(b, 0) == {k: "1000" for k in THROTTLE_RATES}

    # No GET before the restart: the broker that set the throttle forgets everything it held in memory.
    b.stop()
    b.start()
    wait_serving(rest)
    status, body, _ = wait_for("the controller to answer", lambda: (lambda r: r if r[0] == 200 else None)(
        rest.call("GET", "/keel/v1/reassignments")), timeout=30)
    assert body["data"] == [] and body["throttles_removed"] == [topic], body
    for key in THROTTLE_REPLICAS:
        assert topic_config(b, topic)[key] in ("", None), key
    assert all(v != "1000" for v in broker_rates(b, 0).values())
    # The operator's own throttle on a topic the REST never throttled stays; cleared once, nothing more.
    assert topic_config(b, manual)["leader.replication.throttled.replicas"] == "0:0"
    status, body, _ = rest.call("GET", "/keel/v1/reassignments")
    assert status == 200 and body["throttles_removed"] == []
    assert topic_config(b, manual)["leader.replication.throttled.replicas"] == "0:0"


def test_rest_and_kafka_refuse_a_reassignment_alike(make_broker):
    b = start(make_broker, AUTHORIZER)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    topic = "acl-" + uuid.uuid4().hex[:6]
    create(rest, cid, topic, 1, 1)
    # ANONYMOUS may DESCRIBE the cluster and its topics, not ALTER the cluster.
    status, _, _ = rest.call("POST", "/v3/clusters/%s/acls:batch" % cid, {"data": [
        {"resource_type": "CLUSTER", "resource_name": "kafka-cluster", "pattern_type": "LITERAL",
         "principal": "User:ANONYMOUS", "host": "*", "operation": op, "permission": "ALLOW"}
        for op in ("DESCRIBE", "DESCRIBE_CONFIGS")] + [
        {"resource_type": "TOPIC", "resource_name": "*", "pattern_type": "LITERAL",
         "principal": "User:ANONYMOUS", "host": "*", "operation": "DESCRIBE", "permission": "ALLOW"}]})
    assert status == 201
    move = {"topic": topic, "partition": 0, "replicas": [0]}
    status, body, _ = rest.call("POST", "/keel/v1/reassignments", {"partitions": [move]})
    assert status == 403 and body["kafka_error_code"] == CLUSTER_AUTHORIZATION_FAILED, body
    with KafkaConnection(b.port) as conn:
        r = conn.call("AlterPartitionReassignments", 0, {"TimeoutMs": 30000, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": 0, "Replicas": [0]}]}]})
    assert r["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED
    # DESCRIBE is enough to list, and to plan.
    assert rest.call("GET", "/keel/v1/reassignments")[0] == 200
    assert rest.call("POST", "/keel/v1/reassignments/plan", {"topics": [topic]})[0] == 200


# --- three brokers -------------------------------------------------------------------------------

@pytest.fixture
def rest_cluster(zk, tmp_path):
    chroot = zk.connect + "/rest-reassign-" + uuid.uuid4().hex[:8]
    brokers = {}
    for i in (1, 2, 3):
        port = free_port()
        b = Broker(tmp_path / ("b%d" % i), broker_id=i, zookeeper=chroot,
                   extra_config="http.listeners: http://127.0.0.1:%d\n" % port)
        b.rest = Rest(port)
        brokers[i] = b.start()
    for b in brokers.values():
        wait_for("broker %d to see 3 brokers" % b.broker_id, lambda b=b: len(metadata(b).brokers) == 3, timeout=60)
    yield brokers
    for b in brokers.values():
        b.stop()


def controller_of(brokers):
    return wait_for("a controller", lambda: brokers.get(metadata(brokers[1]).controller_id), timeout=60)


def replicas(b, topic):
    t = metadata(b, topic).topics[topic]
    return {p: (list(info.replicas), sorted(info.isrs), info.leader) for p, info in t.partitions.items()}


def topic_config(b, topic):
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        answer = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        (res,) = (answer[0] if isinstance(answer, list) else answer).resources
        return {c[0]: c[1] for c in res[4]}
    finally:
        admin.close()


def test_replication_factor_throttle_drain_and_decommission_in_a_cluster(rest_cluster):
    ctrl = controller_of(rest_cluster)
    other = next(b for i, b in rest_cluster.items() if i != ctrl.broker_id)
    cid = wait_serving(ctrl.rest)
    topic = "rf-" + uuid.uuid4().hex[:6]
    create(ctrl.rest, cid, topic, 3, 1)

    # Only the controller submits: another broker answers 421 naming it.
    status, body, headers = other.rest.call("POST", "/keel/v1/topics/%s/replication-factor" % topic,
                                            {"replication_factor": 2})
    assert status == 421 and body["kafka_error_code"] == NOT_CONTROLLER
    assert headers["Keel-Controller-Id"] == str(ctrl.broker_id)
    # Any broker plans; the plan keeps every current replica first, adds one, and spreads them.
    # (once the new topic's metadata has reached that broker)
    plan = wait_for("a plan", lambda: (lambda r: r[1] if r[0] == 200 else None)(other.rest.call(
        "POST", "/keel/v1/reassignments/plan", {"topics": [topic], "replication_factor": 2})), timeout=20)
    assert len(plan["moves"]) == 3
    held = {1: 0, 2: 0, 3: 0}
    for m in plan["moves"]:
        assert m["target_replicas"][0] == m["current_replicas"][0] and len(set(m["target_replicas"])) == 2
        for r in m["target_replicas"]:
            held[r] += 1
    assert sorted(held.values()) == [2, 2, 2]

    status, body, _ = ctrl.rest.call("POST", "/keel/v1/topics/%s/replication-factor" % topic,
                                     {"replication_factor": 2, "throttle_bytes_per_sec": 50000000})
    assert status == 200 and body["dry_run"] is False and len(body["moves"]) == 3, body
    assert all(m["error_code"] == 0 for m in body["moves"])
    throttled = topic_config(ctrl, topic)
    assert throttled["leader.replication.throttled.replicas"] == ",".join(
        "%d:%d" % (m["partition"], m["current_replicas"][0]) for m in sorted(body["moves"], key=lambda m: m["partition"]))
    # Once nothing is ongoing, GET removes the throttle it set (as --verify does).
    def finished():
        status, body, _ = ctrl.rest.call("GET", "/keel/v1/reassignments")
        assert status == 200
        return body if not any(d["topic"] == topic for d in body["data"]) else None
    wait_for("the reassignment to finish", finished, timeout=60)
    assert topic_config(ctrl, topic)["leader.replication.throttled.replicas"] in ("", None)
    assert topic_config(ctrl, topic)["follower.replication.throttled.replicas"] in ("", None)
    wait_for("two in-sync replicas", lambda: all(len(isr) == 2 for _, isr, _ in replicas(ctrl, topic).values()),
             timeout=30)

    # Drain: the broker leads nothing any more, and its replicas stay.
    victim = other.broker_id
    status, body, _ = ctrl.rest.call("POST", "/keel/v1/brokers/%d/drain" % victim)
    assert status == 200 and body["stuck"] == [], body
    assert all(e["error_code"] in (0, 84) for e in body["elections"]), body
    wait_for("broker %d to lead nothing" % victim,
             lambda: ctrl.rest.call("GET", "/keel/v1/brokers/%d/drain" % victim)[1]["drained"], timeout=30)
    assert all(leader != victim and len(rs) == 2 for rs, _, leader in replicas(ctrl, topic).values())

    # Decommission: every replica moves off it; the factor stays 2 for an RF-2 topic.
    two = "dc-" + uuid.uuid4().hex[:6]
    create(ctrl.rest, cid, two, 2, 2)
    status, body, _ = ctrl.rest.call("POST", "/keel/v1/brokers/%d/decommission" % victim, {"dry_run": True})
    assert status == 200 and body["moves"], body
    assert all(victim not in m["target_replicas"] for m in body["moves"])
    status, body, _ = ctrl.rest.call("POST", "/keel/v1/brokers/%d/decommission" % victim)
    assert status == 200 and all(m["error_code"] == 0 for m in body["moves"]), body
    wait_for("broker %d to hold no replica" % victim,
             lambda: ctrl.rest.call("GET", "/keel/v1/brokers/%d/decommission" % victim)[1]["done"], timeout=60)
    for t, rf in ((topic, 2), (two, 2)):
        for rs, _, _ in replicas(ctrl, t).values():
            assert victim not in rs and len(rs) == rf


def live_controller(brokers):
    """The controller among the running brokers, asked of a running one."""
    def ask():
        live = [b for b in brokers.values() if b.alive()]
        c = brokers.get(metadata(live[0]).controller_id)
        return c if c is not None and c.alive() else None
    return wait_for("a live controller", ask, timeout=60)


def test_a_throttle_is_removed_by_the_next_controller(rest_cluster):
    ctrl = controller_of(rest_cluster)
    cid = wait_serving(ctrl.rest)
    topic, manual = "thr-" + uuid.uuid4().hex[:6], "hand-" + uuid.uuid4().hex[:6]
    create(ctrl.rest, cid, topic, 2, 1)
    create(ctrl.rest, cid, manual, 1, 1)
    hand_set_throttle(ctrl, manual, "*")
    # The new topic's metadata reaches the controller's REST before it plans.
    wait_for("the topic", lambda: topic in metadata(ctrl).topics, timeout=20)
    status, body, _ = ctrl.rest.call("POST", "/keel/v1/topics/%s/replication-factor" % topic,
                                     {"replication_factor": 2, "throttle_bytes_per_sec": 40000000})
    assert status == 200 and all(m["error_code"] == 0 for m in body["moves"]), body
    involved = {r for m in body["moves"] for r in m["current_replicas"] + m["target_replicas"]}
    assert topic_config(ctrl, topic)["follower.replication.throttled.replicas"]
    for i in involved:
        assert broker_rates(ctrl, i) == {k: "40000000" for k in THROTTLE_RATES}, i

    # The broker that set the throttle restarts: another broker becomes the controller and
    # answers the GETs; neither has seen the REST call.
    ctrl.stop()
    nxt = live_controller(rest_cluster)
    assert nxt.broker_id != ctrl.broker_id
    ctrl.start()
    wait_for("3 brokers", lambda: len(metadata(nxt).brokers) == 3, timeout=60)
    removed = []

    def finished():
        status, body, _ = nxt.rest.call("GET", "/keel/v1/reassignments")
        assert status == 200, body
        removed.extend(body["throttles_removed"])
        return not any(d["topic"] == topic for d in body["data"]) and topic in removed
    wait_for("the reassignment to finish and its throttle to go", finished, timeout=90)
    assert removed == [topic]
    for key in THROTTLE_REPLICAS:
        assert topic_config(nxt, topic)[key] in ("", None), key
    for i in involved:
        assert all(v != "40000000" for v in broker_rates(nxt, i).values()), i
    # The operator's throttle on the other topic stays.
    assert topic_config(nxt, manual)["leader.replication.throttled.replicas"] == "*"
