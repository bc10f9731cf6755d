"""The admin REST API (Confluent REST v3 shapes) on the broker's HTTP listener,
with real HTTP requests (urllib/http.client) against real keel processes:
every route, the Kafka admin API and the REST API agreeing (a topic made by
one is seen by the other, and both refuse the same thing with the same Kafka
error under an authorizer), https with HTTP Basic against the broker's PLAIN
users, and bad input answered 4xx with nothing changed."""

import base64
import http.client
import json
import socket
import ssl
import time
import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAuthorizationFailedError

from conftest import free_port
from pki import Pki
from test_sasl import hash_line

TOPIC_AUTHORIZATION_FAILED = 29
SECURITY_DISABLED = 54


class Rest:
    """A small REST client: (status, parsed JSON or None, headers)."""

    def __init__(self, port, tls_context=None, user=None):
        self.port = port
        self.tls = tls_context
        self.auth = None
        if user:
            self.auth = "Basic " + base64.b64encode(("%s:%s" % user).encode()).decode()

    def call(self, method, path, body=None, raw=None, headers=None):
        if self.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, timeout=30)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Content-Type": "application/json"}
        if self.auth:
            h["Authorization"] = self.auth
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        return r.status, (json.loads(text) if text else None), dict(r.getheaders())


def start(make_broker, extra="", scheme="http"):
    port = free_port()
    b = make_broker(extra_config="http.listeners: %s://127.0.0.1:%d\n%s" % (scheme, port, extra))
    b.start()
    b.http_port = port
    return b


def wait_serving(rest):
    deadline = time.time() + 20
    while True:
        status, body, _ = rest.call("GET", "/v3/clusters")
        if status == 200:
            return body["data"][0]["cluster_id"]
        assert time.time() < deadline, (status, body)
        time.sleep(0.2)


def eventually(fn, timeout=15):
    deadline = time.time() + timeout
    while True:
        result = fn()
        if result:
            return result
        assert time.time() < deadline, "condition never held"
        time.sleep(0.2)


def test_confluent_v3_routes_and_shapes(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    cid = wait_serving(rest)
    base = "/v3/clusters/" + cid
    url = "http://127.0.0.1:%d%s" % (b.http_port, base)

    status, cluster, _ = rest.call("GET", base)
    assert status == 200 and cluster["kind"] == "KafkaCluster" and cluster["cluster_id"] == cid
    assert cluster["metadata"] == {"self": url, "resource_name": "crn:///kafka=" + cid}
    assert cluster["topics"] == {"related": url + "/topics"}
    assert cluster["controller"] == {"related": url + "/brokers/0"}
    assert rest.call("GET", "/v3/clusters/not-" + cid)[0] == 404

    status, brokers, _ = rest.call("GET", base + "/brokers")
    assert status == 200 and brokers["kind"] == "KafkaBrokerList" and brokers["metadata"]["next"] is None
    assert [(x["broker_id"], x["port"]) for x in brokers["data"]] == [(0, b.port)]
    status, broker, _ = rest.call("GET", base + "/brokers/0")
    assert status == 200 and broker["kind"] == "KafkaBroker" and broker["configs"]["related"] == url + "/brokers/0/configs"
    assert rest.call("GET", base + "/brokers/7")[0] == 404
    status, bconfigs, _ = rest.call("GET", base + "/brokers/0/configs")
    assert status == 200 and bconfigs["kind"] == "KafkaBrokerConfigList"
    names = {c["name"] for c in bconfigs["data"]}
    assert "log.retention.hours" in names
    status, one, _ = rest.call("GET", base + "/brokers/0/configs/num.partitions")
    assert status == 200 and one["kind"] == "KafkaBrokerConfig" and one["broker_id"] == 0

    # Create through REST, see it through the Kafka admin API.
    topic = "rest-" + uuid.uuid4().hex[:8]
    status, created, _ = rest.call("POST", base + "/topics", {
        "topic_name": topic, "partitions_count": 2, "replication_factor": 1,
        "configs": [{"name": "retention.ms", "value": "3600000"}]})
    assert status == 201, created
    assert created["kind"] == "KafkaTopic" and created["partitions_count"] == 2 and created["replication_factor"] == 1
    assert created["metadata"]["self"] == url + "/topics/" + topic
    status, again, _ = rest.call("POST", base + "/topics", {"topic_name": topic, "partitions_count": 1})
    assert status == 400 and again["error_code"] == 40002 and again["kafka_error_code"] == 36
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        assert topic in admin.list_topics()
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})])
        entries = {e[0]: e[1] for e in described[0].resources[0][4]}
        assert entries["retention.ms"] == "3600000"

        # And the other way: made with the Kafka admin API, seen through REST.
        other = "kafka-" + uuid.uuid4().hex[:8]
        admin.create_topics([NewTopic(other, 3, 1)])
        status, got, _ = eventually(lambda: (lambda r: r if r[0] == 200 else None)(
            rest.call("GET", base + "/topics/" + other)))
        assert got["partitions_count"] == 3 and got["is_internal"] is False
    finally:
        admin.close()
    status, topics, _ = rest.call("GET", base + "/topics")
    assert status == 200 and {topic, other} <= {t["topic_name"] for t in topics["data"]}

    # Configs: get, set, the batch with validate_only, reset.
    cfg = base + "/topics/%s/configs" % topic
    status, configs, _ = rest.call("GET", cfg)
    assert status == 200 and configs["kind"] == "KafkaTopicConfigList"
    retention = [c for c in configs["data"] if c["name"] == "retention.ms"][0]
    assert retention["value"] == "3600000" and retention["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert retention["is_default"] is False and retention["synonyms"][0]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert rest.call("PUT", cfg + "/retention.ms", {"value": "7200000"})[0] == 204
    assert rest.call("GET", cfg + "/retention.ms")[1]["value"] == "7200000"
    status, _, _ = rest.call("POST", cfg + ":alter", {"data": [{"name": "retention.ms", "value": "1000"}],
                                                       "validate_only": True})
    assert status == 204
    assert rest.call("GET", cfg + "/retention.ms")[1]["value"] == "7200000", "validate_only changed it"
    status, _, _ = rest.call("POST", cfg + ":alter", {"data": [{"name": "retention.ms", "operation": "DELETE"},
                                                                {"name": "cleanup.policy", "value": "compact"}]})
    assert status == 204
    assert rest.call("GET", cfg + "/cleanup.policy")[1]["value"] == "compact"
    reset = rest.call("GET", cfg + "/retention.ms")[1]
    assert reset["source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG") and reset["value"] != "7200000", reset
    assert rest.call("DELETE", cfg + "/cleanup.policy")[0] == 204
    assert rest.call("GET", cfg + "/cleanup.policy")[1]["value"] == "delete"
    status, bad, _ = rest.call("PUT", cfg + "/retention.ms", {"value": "soon"})
    assert status == 400 and bad["kafka_error_code"] == 40, bad
    assert rest.call("GET", cfg + "/no.such.config")[0] == 404

    # Partitions and replicas; the partitions increase.
    status, parts, _ = rest.call("GET", base + "/topics/%s/partitions" % topic)
    assert status == 200 and [p["partition_id"] for p in parts["data"]] == [0, 1]
    assert parts["data"][0]["leader"]["related"].endswith("/topics/%s/partitions/0/replicas/0" % topic)
    status, replicas, _ = rest.call("GET", base + "/topics/%s/partitions/1/replicas" % topic)
    assert status == 200 and replicas["data"][0]["is_leader"] is True and replicas["data"][0]["is_in_sync"] is True
    assert rest.call("GET", base + "/topics/%s/partitions/1/replicas/0" % topic)[1]["kind"] == "KafkaReplica"
    assert rest.call("GET", base + "/topics/%s/partitions/9" % topic)[0] == 404
    assert rest.call("PATCH", base + "/topics/" + topic, {"partitions_count": 4})[0] == 200
    eventually(lambda: rest.call("GET", base + "/topics/" + topic)[1]["partitions_count"] == 4)
    status, fewer, _ = rest.call("PATCH", base + "/topics/" + topic, {"partitions_count": 1})
    assert status == 400 and fewer["kafka_error_code"] == 37

    # Delete; then it is gone for both.
    assert rest.call("DELETE", base + "/topics/" + topic)[0] == 204
    status, gone, _ = eventually(lambda: (lambda r: r if r[0] == 404 else None)(
        rest.call("GET", base + "/topics/" + topic)))
    assert gone["error_code"] == 40403 and gone["kafka_error_code"] == 3
    assert rest.call("DELETE", base + "/topics/" + topic)[0] == 404

    # Groups: none yet; an unknown one is not found. ACLs without an authorizer: Kafka's SECURITY_DISABLED.
    status, groups, _ = rest.call("GET", base + "/consumer-groups")
    assert status == 200 and groups["kind"] == "KafkaConsumerGroupList"
    status, acls, _ = rest.call("GET", base + "/acls")
    assert status == 400 and acls["kafka_error_code"] == SECURITY_DISABLED


def test_consumer_group_is_listed_with_its_consumers(make_broker):
    from kafka import KafkaConsumer, KafkaProducer
    b = start(make_broker)
    rest = Rest(b.http_port)
    base = "/v3/clusters/" + wait_serving(rest)
    topic = "g-" + uuid.uuid4().hex[:8]
    producer = KafkaProducer(bootstrap_servers=b.bootstrap)
    producer.send(topic, b"x", partition=0).get(timeout=20)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id="rest-group", client_id="rest-client",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        eventually(lambda: consumer.poll(timeout_ms=500))
        status, g, _ = eventually(lambda: (lambda r: r if r[0] == 200 and r[1]["state"] == "STABLE" else None)(
            rest.call("GET", base + "/consumer-groups/rest-group")))
        assert g["kind"] == "KafkaConsumerGroup" and g["is_simple"] is False
        status, members, _ = rest.call("GET", base + "/consumer-groups/rest-group/consumers")
        assert status == 200 and [m["client_id"] for m in members["data"]] == ["rest-client"]
        assert "rest-group" in {x["consumer_group_id"] for x in rest.call("GET", base + "/consumer-groups")[1]["data"]}
        consumer.commit()
    finally:
        consumer.close()
    # Committed at 1; three more records make a lag of 3 on partition 0.
    producer = KafkaProducer(bootstrap_servers=b.bootstrap)
    for _ in range(3):
        producer.send(topic, b"y", partition=0).get(timeout=20)
    producer.close()
    status, lags, _ = rest.call("GET", base + "/consumer-groups/rest-group/lags")
    assert status == 200 and lags["kind"] == "KafkaConsumerLagList", lags
    assert [(x["topic_name"], x["partition_id"], x["current_offset"], x["log_end_offset"], x["lag"])
            for x in lags["data"]] == [(topic, 0, 1, 4, 3)]
    status, one, _ = rest.call("GET", base + "/consumer-groups/rest-group/lags/%s/partitions/0" % topic)
    assert status == 200 and one["kind"] == "KafkaConsumerLag" and one["lag"] == 3
    status, summary, _ = rest.call("GET", base + "/consumer-groups/rest-group/lag-summary")
    assert status == 200 and summary["kind"] == "KafkaConsumerGroupLagSummary"
    assert (summary["max_lag"], summary["total_lag"], summary["max_lag_topic_name"]) == (3, 3, topic)
    assert rest.call("GET", base + "/consumer-groups/no-such-group")[0] == 404


def test_bad_input_is_refused_and_changes_nothing(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    base = "/v3/clusters/" + wait_serving(rest)
    cases = [
        (b'{"topic_name": "t1", ', "malformed JSON"),
        (b'{"topic_name": "t1", "partitions": 3}', "unknown field 'partitions'"),
        (b'{"topic_name": "t1", "partitions_count": "3"}', "must be an integer"),
        (b'{"partitions_count": 3}', "'topic_name' is required"),
        (b'[1, 2]', "must be a JSON object"),
    ]
    for raw, why in cases:
        status, body, _ = rest.call("POST", base + "/topics", raw=raw)
        assert status == 400 and why in body["message"] and body["error_code"] == 400, (raw, body)
    # An oversize body is refused from its Content-Length, before it is read.
    with socket.create_connection(("127.0.0.1", b.http_port), timeout=10) as s:
        s.sendall(b"POST %s/topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n{" % (base.encode(), 2 << 20))
        answer = b""
        while b"}" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b'"error_code":413' in answer, answer
    status, body, _ = rest.call("PUT", base + "/topics/t1/configs/retention.ms", {"value": 5})
    assert status == 400 and "must be a string" in body["message"]
    status, body, _ = rest.call("GET", base + "/acls?operation=FLY")
    assert status in (400,) and "operation" in body["message"]
    status, body, headers = rest.call("PUT", base + "/topics")
    assert status == 405 and "GET" in headers["Allow"] and "POST" in headers["Allow"]
    # Nothing was created, and the broker still serves.
    status, topics, _ = rest.call("GET", base + "/topics")
    assert status == 200 and "t1" not in {t["topic_name"] for t in topics["data"]}
    # Basic credentials over plain http are refused, not ignored.
    status, body, _ = Rest(b.http_port, user=("alice", "x")).call("GET", base + "/topics")
    assert status == 401 and body["error_code"] == 40101


def test_openapi_lists_the_served_routes(make_broker):
    b = start(make_broker)
    rest = Rest(b.http_port)
    base = "/v3/clusters/" + wait_serving(rest)
    status, doc, _ = rest.call("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/v3/clusters/{cluster_id}/topics"]) == {"get", "post"}
    assert "patch" in doc["paths"]["/v3/clusters/{cluster_id}/topics/{topic_name}"]
    # Every documented GET without parameters other than the cluster answers, naming the
    # caller in Keel-Principal as the document says each answer but 401 does.
    assert doc["components"]["headers"]["Keel-Principal"]["schema"] == {"type": "string"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, answer in op["responses"].items():
                header = answer.get("headers", {}).get("Keel-Principal")
                if code == "401" or path == "/openapi.json":
                    assert header is None, (method, path, code)
                else:
                    assert header == {"$ref": "#/components/headers/Keel-Principal"}, (method, path, code)
        if "get" in ops and "{" not in path.replace("{cluster_id}", "") and path != "/openapi.json":
            status, _, headers = rest.call("GET", path.replace("{cluster_id}", base.rsplit("/", 1)[1]))  # v3, /keel/v1
            assert status in (200, 400), (path, status)  # 400: /acls without an authorizer
            assert headers.get("Keel-Principal") == "User:ANONYMOUS", (path, headers)


def test_health_ready_and_route_errors_keep_their_shapes(make_broker):
    """/health, /ready and the HTTP layer's own errors (no route, wrong method):
    JSON written by Boost.JSON, in the shapes probes and scripts read, one line each."""
    b = start(make_broker)
    wait_serving(Rest(b.http_port))

    def raw(method, path):
        conn = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=30)
        conn.request(method, path)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        assert r.getheader("Content-Type") == "application/json" and text.endswith("}\n"), text
        return r.status, json.loads(text)

    assert raw("GET", "/health") == (200, {"status": "live", "stage": "serving"})
    status, ready = raw("GET", "/ready")
    assert status == 200 and list(ready) == ["ready", "broker_id", "broker_epoch"], ready
    assert ready["ready"] is True and ready["broker_id"] == 0 and isinstance(ready["broker_epoch"], int)
    # A path with a quote and a backslash comes back inside the message, escaped.
    assert raw("GET", '/no"such\\place') == (404, {"error_code": 404, "message": 'no such resource: /no"such\\place'})
    assert raw("DELETE", "/health") == (405, {"error_code": 405, "message": "DELETE is not allowed on /health"})


AUTHORIZER = ("authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
              "allow.everyone.if.no.acl.found: true\n")


def test_rest_and_kafka_refuse_the_same_things(make_broker):
    b = start(make_broker, AUTHORIZER)
    rest = Rest(b.http_port)
    base = "/v3/clusters/" + wait_serving(rest)
    locked = "locked-" + uuid.uuid4().hex[:6]
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        admin.create_topics([NewTopic(locked, 1, 1)])
        # User:ANONYMOUS (both a PLAINTEXT Kafka client and an anonymous REST
        # caller) may not ALTER_CONFIGS that topic, nor CREATE topics named
        # denied-* (Kafka checks the topic only once CREATE on the cluster is
        # refused). Once the cluster has ACLs, only they decide there: ALLOW ALL
        # keeps DESCRIBE and ALTER (the ACL calls themselves) open.
        status, _, _ = rest.call("POST", base + "/acls:batch", {"data": [
            {"resource_type": "CLUSTER", "resource_name": "kafka-cluster", "pattern_type": "LITERAL",
             "principal": "User:ANONYMOUS", "host": "*", "operation": "ALL", "permission": "ALLOW"},
            {"resource_type": "CLUSTER", "resource_name": "kafka-cluster", "pattern_type": "LITERAL",
             "principal": "User:ANONYMOUS", "host": "*", "operation": "CREATE", "permission": "DENY"},
            {"resource_type": "TOPIC", "resource_name": locked, "pattern_type": "LITERAL",
             "principal": "User:ANONYMOUS", "host": "*", "operation": "ALTER_CONFIGS", "permission": "DENY"},
            {"resource_type": "TOPIC", "resource_name": "denied-", "pattern_type": "PREFIXED",
             "principal": "User:ANONYMOUS", "host": "*", "operation": "CREATE", "permission": "DENY"}]})
        assert status == 201
        status, found, _ = rest.call("GET", base + "/acls?principal=User:ANONYMOUS&permission=DENY")
        assert status == 200 and found["kind"] == "KafkaAclList"
        assert {(a["resource_name"], a["operation"], a["pattern_type"]) for a in found["data"]} == {
            (locked, "ALTER_CONFIGS", "LITERAL"), ("denied-", "CREATE", "PREFIXED"),
            ("kafka-cluster", "CREATE", "LITERAL")}

        status, body, _ = rest.call("PUT", base + "/topics/%s/configs/retention.ms" % locked, {"value": "1000"})
        assert status == 403 and body["error_code"] == 40301 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED
        kafka = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, locked, {"retention.ms": "1000"})])
        assert kafka.resources[0][0] == TOPIC_AUTHORIZATION_FAILED

        status, body, _ = rest.call("POST", base + "/topics", {"topic_name": "denied-a", "partitions_count": 1})
        assert status == 403 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED
        with pytest.raises(TopicAuthorizationFailedError):
            admin.create_topics([NewTopic("denied-b", 1, 1)])
        assert not {"denied-a", "denied-b"} & set(admin.list_topics())

        # What is allowed works through both: a config on another topic.
        assert rest.call("POST", base + "/topics", {"topic_name": "open-a", "partitions_count": 1})[0] == 201
        assert rest.call("PUT", base + "/topics/open-a/configs/retention.ms", {"value": "1000"})[0] == 204

        # Deleting the ACLs (all four filter keys required) lifts the refusal for both.
        status, deleted, _ = rest.call(
            "DELETE", base + "/acls?resource_type=ANY&pattern_type=ANY&operation=ANY&permission=DENY")
        assert status == 200 and len(deleted["data"]) == 3
        assert rest.call("PUT", base + "/topics/%s/configs/retention.ms" % locked, {"value": "1000"})[0] == 204
        assert rest.call("POST", base + "/topics", {"topic_name": "denied-a", "partitions_count": 1})[0] == 201
    finally:
        admin.close()


def test_https_with_basic_auth_or_a_certificate_runs_as_that_principal(make_broker, tmp_path):
    pki = Pki(tmp_path / "pki")
    creds = tmp_path / "plain-users"
    creds.write_text("%s\n" % hash_line("alice", "alice-secret"))
    b = start(make_broker, AUTHORIZER +
              "ssl.keystore.type: PEM\nssl.keystore.location: %s\n" % pki.path("broker-store.pem") +
              "ssl.truststore.type: PEM\nssl.truststore.location: %s\n" % pki.path("ca.pem") +
              "ssl.client.auth: requested\n"
              "sasl.plain.credentials.file: %s\n" % creds, scheme="https")
    ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    anonymous = Rest(b.http_port, ctx)
    base = "/v3/clusters/" + wait_serving(anonymous)
    alice = Rest(b.http_port, ctx, ("alice", "alice-secret"))
    # alice and the holder of client-1's certificate (the principal Kafka's
    # DEFAULT mapping rule gives it on an SSL listener) may not create topics;
    # anonymous may (and may do everything else).
    cert_ctx = ssl.create_default_context(cafile=str(pki.path("ca.pem")))
    cert_ctx.load_cert_chain(str(pki.path("client-1.pem")), str(pki.path("client-1.key")))
    client1 = Rest(b.http_port, cert_ctx)
    for rtype, name in (("TOPIC", "*"), ("CLUSTER", "kafka-cluster")):
        status, body, _ = anonymous.call("POST", base + "/acls:batch", {"data": [
            {"resource_type": rtype, "resource_name": name, "pattern_type": "LITERAL", "principal": "User:alice",
             "host": "*", "operation": "CREATE", "permission": "DENY"},
            {"resource_type": rtype, "resource_name": name, "pattern_type": "LITERAL",
             "principal": "User:CN=client-1,OU=test,O=Keel", "host": "*", "operation": "CREATE", "permission": "DENY"},
            {"resource_type": rtype, "resource_name": name, "pattern_type": "LITERAL", "principal": "User:ANONYMOUS",
             "host": "*", "operation": "ALL", "permission": "ALLOW"}]})
        assert status == 201, body
    status, body, _ = alice.call("POST", base + "/topics", {"topic_name": "by-alice", "partitions_count": 1})
    assert status == 403 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED
    status, body, _ = client1.call("POST", base + "/topics", {"topic_name": "by-client-1", "partitions_count": 1})
    assert status == 403 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED, body
    assert anonymous.call("POST", base + "/topics", {"topic_name": "by-anyone", "partitions_count": 1})[0] == 201
    # The topic has ACLs now and none lets alice DESCRIBE it: refused, as Metadata refuses her.
    status, body, _ = alice.call("GET", base + "/topics/by-anyone")
    assert status == 403 and body["kafka_error_code"] == TOPIC_AUTHORIZATION_FAILED
    assert anonymous.call("GET", base + "/topics/by-anyone")[0] == 200
    status, body, headers = Rest(b.http_port, ctx, ("alice", "wrong")).call("GET", base + "/topics")
    assert status == 401 and body["error_code"] == 40101 and "Basic" in headers.get("WWW-Authenticate", "")
    status, _, _ = Rest(b.http_port, ctx, ("nobody", "x")).call("GET", base + "/topics")
    assert status == 401
