"""SASL/PLAIN and SASL/SCRAM on a SASL_PLAINTEXT listener (server/sasl.h),
with real clients: librdkafka through kcat and confluent-kafka, kafka-python.
SCRAM users are created, changed and deleted with AlterUserScramCredentials
(KIP-554) while clients connect; bad credentials and bad frames are refused
with Kafka's errors, logged, and leave other clients alone."""

import hashlib
import os
import socket
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from conftest import KEEL_BIN, free_port
from kafka_schema import KafkaConnection
from kafka_wire import api_versions, connect, frame, is_closed, recv_frame, request_v1_header, request_v2_header

MECHS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SCRAM_CODE = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}


def hash_line(user, password, mechanism="SCRAM-SHA-256", iterations="4096"):
    out = subprocess.run([KEEL_BIN, "--hash-password", user, mechanism, iterations], input=password + "\n",
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def sasl_broker(make_broker, name="broker", mechanisms="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", extra=""):
    b = make_broker(name)
    b.sasl_port = free_port()
    creds = b.dir / "plain-users"
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text("# PLAIN users\n%s\n%s\n" % (hash_line("alice", "alice-secret"),
                                                   hash_line("bob", "bob-secret", "SCRAM-SHA-512")))
    text = b.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
    b.config_path.write_text(text.replace(old, "listeners: PLAINTEXT://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d\n"
                                          "sasl.enabled.mechanisms: %s\nsasl.plain.credentials.file: %s\n%s"
                                          % (b.port, b.sasl_port, mechanisms, creds, extra)))
    return b.start()


def alter_scram(port, upsertions=(), deletions=()):
    """AlterUserScramCredentials v0; upsertions are (user, mechanism, password, iterations)."""
    ups = []
    for user, mech, password, iterations in upsertions:
        salt = os.urandom(16)
        algo = "sha256" if mech == "SCRAM-SHA-256" else "sha512"
        salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, iterations)
        ups.append({"Name": user, "Mechanism": SCRAM_CODE.get(mech, 0), "Iterations": iterations, "Salt": salt,
                    "SaltedPassword": salted})
    dels = [{"Name": u, "Mechanism": SCRAM_CODE.get(m, 0)} for u, m in deletions]
    with KafkaConnection(port) as c:
        resp = c.call("AlterUserScramCredentials", 0, {"Deletions": dels, "Upsertions": ups})
    return {r["User"]: (r["ErrorCode"], r["ErrorMessage"]) for r in resp["Results"]}


def describe_scram(port, users=None):
    with KafkaConnection(port) as c:
        resp = c.call("DescribeUserScramCredentials", 0,
                      {"Users": None if users is None else [{"Name": u} for u in users]})
    return {r["User"]: (r["ErrorCode"], sorted((i["Mechanism"], i["Iterations"]) for i in r["CredentialInfos"]))
            for r in resp["Results"]}


def client_conf(b, mech, user, password):
    return {"bootstrap.servers": "127.0.0.1:%d" % b.sasl_port, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mech, "sasl.username": user, "sasl.password": password}


def produce_consume(b, mech, user, password, topic):
    errors = []
    p = Producer(dict(client_conf(b, mech, user, password), error_cb=errors.append, **{"message.timeout.ms": 10000}))
    reports = []
    for i in range(3):
        p.produce(topic, value=b"%s-%d" % (mech.encode(), i), on_delivery=lambda e, m: reports.append(e))
    p.flush(15)
    assert reports == [None] * 3, (reports, errors)
    c = Consumer(dict(client_conf(b, mech, user, password), **{"group.id": "g-" + topic,
                                                               "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 20
    while len(got) < 3 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"%s-%d" % (mech.encode(), i) for i in range(3)]


def auth_fails(b, mech, user, password):
    errors = []
    p = Producer(dict(client_conf(b, mech, user, password), error_cb=errors.append))
    p.poll(0)
    deadline = time.time() + 10
    while time.time() < deadline and not errors:
        p.poll(0.2)
    return any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


def wait_log(b, text, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline and text not in b.log_text():
        time.sleep(0.1)
    return text in b.log_text()


def test_confluent_kafka_plain_and_scram_produce_and_consume(make_broker):
    b = sasl_broker(make_broker)
    assert alter_scram(b.port, [("carol", "SCRAM-SHA-256", "carol-256", 4096),
                                ("carol", "SCRAM-SHA-512", "carol-512", 8192)]) == {"carol": (0, None)}
    assert describe_scram(b.port) == {"carol": (0, [(1, 4096), (2, 8192)])}
    produce_consume(b, "PLAIN", "alice", "alice-secret", "t-plain")
    produce_consume(b, "PLAIN", "bob", "bob-secret", "t-plain-512")
    produce_consume(b, "SCRAM-SHA-256", "carol", "carol-256", "t-scram256")
    produce_consume(b, "SCRAM-SHA-512", "carol", "carol-512", "t-scram512")
    assert wait_log(b, "authenticated as User:carol with SCRAM-SHA-512")
    assert "authenticated as User:alice with PLAIN" in b.log_text()


def test_kcat_plain_and_scram(make_broker):
    b = sasl_broker(make_broker)
    alter_scram(b.port, [("dave", "SCRAM-SHA-256", "d256", 4096), ("dave", "SCRAM-SHA-512", "d512", 4096)])
    for mech, user, pw in [("PLAIN", "alice", "alice-secret"), ("SCRAM-SHA-256", "dave", "d256"),
                           ("SCRAM-SHA-512", "dave", "d512")]:
        args = ["kcat", "-b", "127.0.0.1:%d" % b.sasl_port, "-X", "security.protocol=SASL_PLAINTEXT",
                "-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=" + user, "-X", "sasl.password=" + pw]
        topic = "kcat-" + mech.lower()
        subprocess.run(args + ["-P", "-t", topic], input=b"one\ntwo\n", check=True, timeout=60)
        out = subprocess.run(args + ["-C", "-t", topic, "-e", "-o", "beginning"], capture_output=True, check=True,
                             timeout=60)
        assert out.stdout.split() == [b"one", b"two"], out


def test_kafka_python_plain_and_scram(make_broker):
    from kafka import KafkaConsumer, KafkaProducer
    b = sasl_broker(make_broker)
    alter_scram(b.port, [("erin", "SCRAM-SHA-256", "e256", 4096), ("erin", "SCRAM-SHA-512", "e512", 4096)])
    for mech, user, pw in [("PLAIN", "alice", "alice-secret"), ("SCRAM-SHA-256", "erin", "e256"),
                           ("SCRAM-SHA-512", "erin", "e512")]:
        kw = dict(bootstrap_servers="127.0.0.1:%d" % b.sasl_port, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=pw)
        topic = "kp-" + mech.lower()
        p = KafkaProducer(**kw)
        p.send(topic, b"hello").get(timeout=20)
        p.close()
        c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **kw)
        assert [m.value for m in c] == [b"hello"]
        c.close()


def test_users_created_changed_and_deleted_while_clients_connect(make_broker):
    b = sasl_broker(make_broker)
    assert alter_scram(b.port, [("frank", "SCRAM-SHA-256", "v1", 4096)]) == {"frank": (0, None)}
    produce_consume(b, "SCRAM-SHA-256", "frank", "v1", "t-frank1")
    # A new password: the old one fails, the new one works, within a second.
    assert alter_scram(b.port, [("frank", "SCRAM-SHA-256", "v2", 4096)]) == {"frank": (0, None)}
    time.sleep(1)
    assert auth_fails(b, "SCRAM-SHA-256", "frank", "v1")[0]
    produce_consume(b, "SCRAM-SHA-256", "frank", "v2", "t-frank2")
    # Deleted: refused; describing the user now says RESOURCE_NOT_FOUND.
    assert alter_scram(b.port, deletions=[("frank", "SCRAM-SHA-256")]) == {"frank": (0, None)}
    time.sleep(1)
    assert auth_fails(b, "SCRAM-SHA-256", "frank", "v2")[0]
    assert describe_scram(b.port, ["frank"])["frank"][0] == 91
    assert b.alive()


def test_alter_and_describe_errors_are_kafkas(make_broker):
    b = sasl_broker(make_broker)
    got = alter_scram(b.port, [("", "SCRAM-SHA-256", "x", 4096), ("few", "SCRAM-SHA-256", "x", 1000),
                               ("many", "SCRAM-SHA-256", "x", 20000), ("mech", "SCRAM-SHA-1", "x", 4096),
                               ("twice", "SCRAM-SHA-256", "x", 4096), ("twice", "SCRAM-SHA-256", "y", 4096)],
                      deletions=[("ghost", "SCRAM-SHA-256")])
    assert got[""][0] == 93
    assert got["few"] == (93, "Too few iterations")
    assert got["many"] == (93, "Too many iterations")
    assert got["mech"][0] == 33
    assert got["twice"][0] == 92
    assert got["ghost"][0] == 91
    assert describe_scram(b.port) == {}
    alter_scram(b.port, [("gina", "SCRAM-SHA-512", "g", 4096)])
    d = describe_scram(b.port, ["gina", "nobody", "gina2", "gina2"])
    assert d["gina"] == (0, [(2, 4096)]) and d["nobody"][0] == 91 and d["gina2"][0] == 92


def sasl_handshake(s, mech, version=1, corr=2):
    s.sendall(frame(request_v1_header(17, version, corr) + struct.pack(">h", len(mech)) + mech.encode()))
    resp = recv_frame(s)
    corr_got, err, n = struct.unpack_from(">ihi", resp, 0)
    pos, mechs = 10, []
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", resp, pos)
        mechs.append(resp[pos + 2:pos + 2 + ln].decode())
        pos += 2 + ln
    return err, mechs


def sasl_authenticate(s, token, corr=3):
    s.sendall(frame(request_v1_header(36, 1, corr) + struct.pack(">i", len(token)) + token))
    resp = recv_frame(s)
    _, err, mlen = struct.unpack_from(">ihh", resp, 0)
    msg = resp[8:8 + mlen].decode() if mlen >= 0 else None
    return err, msg


def test_bad_credentials_and_bad_frames_are_refused_and_others_carry_on(make_broker):
    b = sasl_broker(make_broker, mechanisms="PLAIN, SCRAM-SHA-256")
    # Wrong password: SASL_AUTHENTICATION_FAILED after the delay, then closed.
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "PLAIN") == (0, ["PLAIN", "SCRAM-SHA-256"])
    t0 = time.time()
    err, msg = sasl_authenticate(s, b"\0alice\0wrong")
    assert time.time() - t0 >= 0.09
    assert (err, msg) == (58, "Authentication failed during authentication due to invalid credentials with SASL "
                              "mechanism PLAIN")
    assert is_closed(s)
    # Unknown user: the same answer.
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN")
    assert sasl_authenticate(s, b"\0mallory\0x") == (58, msg)
    # An authzid that is not the user.
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN")
    assert sasl_authenticate(s, b"bob\0alice\0alice-secret")[0] == 58
    # A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the list, closed.
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "SCRAM-SHA-512") == (33, ["PLAIN", "SCRAM-SHA-256"])
    assert is_closed(s)
    assert auth_fails(b, "SCRAM-SHA-512", "alice", "alice-secret")[0]
    # A token that lies about its length (more than the frame holds): closed unanswered.
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN")
    s.sendall(frame(request_v1_header(36, 1, 3) + struct.pack(">i", 1000) + b"\0alice\0alice-secret"))
    assert is_closed(s)
    # A frame over sasl.server.max.receive.size before authentication: closed before it is read.
    s = connect(b.sasl_port)
    s.sendall(struct.pack(">i", 524289) + b"x" * 100)
    assert is_closed(s)
    # Requests before authentication; and a non-SaslAuthenticate after the handshake.
    s = connect(b.sasl_port)
    s.sendall(frame(request_v1_header(3, 1, 8) + struct.pack(">i", -1)))
    assert is_closed(s)
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN")
    s.sendall(frame(request_v1_header(3, 1, 8) + struct.pack(">i", -1)))
    assert is_closed(s)
    # The right password on a raw connection works, and Metadata follows.
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN")
    assert sasl_authenticate(s, b"alice\0alice\0alice-secret") == (0, None)
    s.sendall(frame(request_v1_header(3, 1, 9) + struct.pack(">i", -1)))
    assert struct.unpack_from(">i", recv_frame(s), 0)[0] == 9
    # Everything was logged with the peer, and other clients carry on.
    assert wait_log(b, "failed authentication with PLAIN (user 'mallory')")
    log = b.log_text()
    assert "SASL mechanism 'SCRAM-SHA-512' is not enabled" in log
    assert "Metadata (key 3) before SASL authentication" in log
    assert "above" in log or "size 524289" in log
    produce_consume(b, "PLAIN", "alice", "alice-secret", "t-after-abuse")
    assert b.alive()


def test_v0_handshake_sends_bare_tokens(make_broker):
    b = sasl_broker(make_broker)
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "PLAIN", version=0)[0] == 0
    s.sendall(frame(b"\0alice\0alice-secret"))
    assert recv_frame(s) == b""  # PLAIN's empty reply, as a zero size
    s.sendall(frame(request_v1_header(3, 1, 9) + struct.pack(">i", -1)))
    assert struct.unpack_from(">i", recv_frame(s), 0)[0] == 9
    s = connect(b.sasl_port)
    sasl_handshake(s, "PLAIN", version=0)
    s.sendall(frame(b"\0alice\0nope"))
    assert is_closed(s)


def test_plaintext_credentials_file_and_gssapi_refuse_to_start(make_broker):
    b = make_broker("plaintext-file")
    creds = b.dir / "plain-users"
    creds.write_text("alice:alice-secret\n")
    b.config_path.write_text(b.config_path.read_text().replace(
        "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port,
        "listeners: SASL_PLAINTEXT://127.0.0.1:%d\nsasl.enabled.mechanisms: PLAIN\n"
        "sasl.plain.credentials.file: %s\n" % (b.port, creds)))
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "plaintext passwords are refused" in out.stderr, out.stderr
    assert "alice-secret" not in out.stderr
    g = make_broker("gssapi")
    g.config_path.write_text(g.config_path.read_text().replace(
        "listeners: PLAINTEXT://127.0.0.1:%d\n" % g.port, "listeners: SASL_PLAINTEXT://127.0.0.1:%d\n" % g.port))
    out = subprocess.run([KEEL_BIN, "--config", str(g.config_path)], capture_output=True, text=True, timeout=30)
    # GSSAPI (Kafka's default mechanism) needs the broker's keytab from a JAAS line (test_gssapi.py).
    assert out.returncode == 1 and "enables GSSAPI but no JAAS line" in out.stderr, out.stderr


def test_the_authenticated_principal_is_what_the_authorizer_checks(make_broker):
    """With an authorizer, the principal a connection authenticated as decides:
    alice (PLAIN, a super user) may administer ACLs and SCRAM users over the
    SASL listener; the PLAINTEXT listener's User:ANONYMOUS may not (Kafka:
    ALTER / DESCRIBE on the cluster, CLUSTER_AUTHORIZATION_FAILED)."""
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePattern, ResourceType)
    b = sasl_broker(make_broker, extra="authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
                                       "super.users: User:alice\n")
    CLUSTER_AUTHORIZATION_FAILED = 31
    got = alter_scram(b.port, [("mallory", "SCRAM-SHA-256", "m", 4096)])
    assert got["mallory"][0] == CLUSTER_AUTHORIZATION_FAILED and "User:ANONYMOUS" in got["mallory"][1]
    with KafkaConnection(b.port) as c:
        resp = c.call("DescribeUserScramCredentials", 0, {"Users": None})
    assert resp["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED and resp["Results"] == []
    with KafkaConnection(b.port) as c:
        resp = c.call("CreateAcls", 1, {"Creations": [{
            "ResourceType": 2, "ResourceName": "t", "ResourcePatternType": 3, "Principal": "User:mallory",
            "Host": "*", "Operation": 3, "PermissionType": 3}]})
    assert resp["Results"][0]["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED

    admin = KafkaAdminClient(bootstrap_servers="127.0.0.1:%d" % b.sasl_port, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="alice", sasl_plain_password="alice-secret")
    try:
        acl = ACL("User:carol", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                  ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.LITERAL))
        result = admin.create_acls([acl])
        assert len(result["succeeded"]) == 1 and result["failed"] == []
    finally:
        admin.close()
    assert not any("mallory" in line for line in b.log_text().splitlines() if "credentials of user" in line)
    assert "User:ANONYMOUS from" in b.log_text() and "may not Alter the cluster" in b.log_text()
