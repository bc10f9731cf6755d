"""SASL/GSSAPI (Kerberos) on a SASL_PLAINTEXT listener (server/sasl_gssapi.h)
against a throwaway MIT KDC (kdc.py), with real clients: kcat and
confluent-kafka (librdkafka through Cyrus SASL), kafka-python (python3-gssapi,
SaslHandshake v0 and bare tokens). The principal is the auth_to_local short
name; refusals are Kafka's errors, logged, and leave other clients alone; a
bad JAAS line or an unusable keytab stops the start-up with a clear message."""

import os
import re
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from conftest import KEEL_BIN, free_port
from kafka_schema import KafkaConnection
from kafka_wire import connect, frame, is_closed
from kdc import OTHER_REALM, REALM, kdc  # noqa: F401  (kdc: the fixture)
from test_sasl import sasl_authenticate, sasl_handshake

SERVICE = "kafka/127.0.0.1@" + REALM
CLIENT = "client@" + REALM
SVC = "svc/host1@" + REALM
FOREIGN = "client@" + OTHER_REALM
INVALID_CREDENTIALS = ("Authentication failed during authentication due to invalid credentials with SASL mechanism "
                       "GSSAPI")
# svc/<host>@EXAMPLE.TEST is the service account; everybody else of the realm keeps DEFAULT's short name.
RULES = ("sasl.kerberos.principal.to.local.rules:\n"
         "  - RULE:[2:$1@$0](svc@EXAMPLE.TEST)s/.*/service-account/\n"
         "  - DEFAULT\n")


def jaas(keytab, principal=SERVICE):
    return ('com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true '
            'keyTab="%s" principal="%s";' % (keytab, principal))


@pytest.fixture
def realm(kdc):
    """The KDC with the broker's keys and a few clients'."""
    kdc.add_principal("kafka/127.0.0.1")
    kdc.add_principal("kafka/localhost")
    kdc.add_principal("client")
    kdc.add_principal("svc/host1")
    kdc.add_principal("client", realm=OTHER_REALM)
    kdc.add_principal("brief", maxlife="4 seconds")
    kdc.broker_keytab = kdc.keytab("kafka.keytab", SERVICE, "kafka/localhost@" + REALM)
    kdc.client_keytab = kdc.keytab("client.keytab", CLIENT)
    kdc.svc_keytab = kdc.keytab("svc.keytab", SVC)
    kdc.foreign_keytab = kdc.keytab("foreign.keytab", FOREIGN)
    kdc.brief_keytab = kdc.keytab("brief.keytab", "brief@" + REALM)
    return kdc


def write_config(b, realm, mechanisms="GSSAPI, SCRAM-SHA-256", extra="", jaas_line=None, listeners=None):
    b.sasl_port = free_port()
    text = b.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
    line = jaas_line if jaas_line is not None else jaas(realm.broker_keytab)
    b.config_path.write_text(text.replace(old, (
        listeners or "listeners: PLAINTEXT://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d\n" % (b.port, b.sasl_port))
        + "sasl.enabled.mechanisms: %s\n" % mechanisms
        + "sasl.kerberos.service.name: kafka\n"
        + ("listener.name.sasl_plaintext.gssapi.sasl.jaas.config: '%s'\n" % line if line else "")
        + RULES + extra))
    return b


def gssapi_broker(make_broker, realm, name="broker", **kwargs):
    return write_config(make_broker(name), realm, **kwargs).start()


def client_conf(b, principal, keytab, **extra):
    conf = {"bootstrap.servers": "127.0.0.1:%d" % b.sasl_port, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "GSSAPI", "sasl.kerberos.service.name": "kafka",
            "sasl.kerberos.keytab": str(keytab), "sasl.kerberos.principal": principal}
    conf.update(extra)
    return conf


def kcat(b, realm, principal, keytab, args, ccache, input_bytes=None, extra=(), timeout=60):
    """kcat as `principal`, with a ticket cache of its own (librdkafka kinits into it)."""
    env = dict(os.environ, KRB5CCNAME="FILE:%s" % (realm.dir / ccache))
    cmd = ["kcat", "-b", "127.0.0.1:%d" % b.sasl_port, "-X", "security.protocol=SASL_PLAINTEXT",
           "-X", "sasl.mechanisms=GSSAPI", "-X", "sasl.kerberos.service.name=kafka",
           "-X", "sasl.kerberos.keytab=%s" % keytab, "-X", "sasl.kerberos.principal=%s" % principal]
    for x in extra:
        cmd += ["-X", x]
    return subprocess.run(cmd + args, input=input_bytes, capture_output=True, env=env, timeout=timeout)


def wait_log(b, pattern, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, b.log_text()):
            return True
        time.sleep(0.1)
    return bool(re.search(pattern, b.log_text()))


def produce_consume(conf, topic, n=3):
    errors = []
    p = Producer(dict(conf, error_cb=errors.append, **{"message.timeout.ms": 15000}))
    reports = []
    for i in range(n):
        p.produce(topic, value=b"krb-%d" % i, on_delivery=lambda e, m: reports.append(e))
    p.flush(20)
    assert reports == [None] * n, (reports, errors)
    c = Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 25
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"krb-%d" % i for i in range(n)]


def auth_error(conf, timeout=15):
    """The errors a producer meets when it cannot authenticate (none if it can)."""
    errors = []
    p = Producer(dict(conf, error_cb=errors.append))
    deadline = time.time() + timeout
    while time.time() < deadline and not errors:
        p.poll(0.2)
    return errors


def test_kcat_produces_and_consumes_with_gssapi(make_broker, realm):
    b = gssapi_broker(make_broker, realm)
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-P", "-t", "krb-kcat"], "cc-kcat", b"one\ntwo\n")
    assert out.returncode == 0, out.stderr
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-C", "-t", "krb-kcat", "-e", "-o", "beginning"], "cc-kcat")
    assert out.stdout.split() == [b"one", b"two"], out.stderr
    assert wait_log(b, r"authenticated as User:client with GSSAPI")
    assert b.alive()


def test_confluent_kafka_produces_and_consumes_with_gssapi(make_broker, realm):
    b = gssapi_broker(make_broker, realm)
    produce_consume(client_conf(b, CLIENT, realm.client_keytab), "krb-confluent")
    assert wait_log(b, r"authenticated as User:client with GSSAPI")


def test_kafka_python_uses_the_v0_handshake_and_bare_tokens(make_broker, realm):
    pytest.importorskip("gssapi", reason="kafka-python's GSSAPI needs python3-gssapi")
    from kafka import KafkaConsumer, KafkaProducer
    b = gssapi_broker(make_broker, realm)
    # kafka-python takes its ticket from the default cache.
    realm.kinit(CLIENT, realm.client_keytab, realm.dir / "ccache")
    kw = dict(bootstrap_servers="127.0.0.1:%d" % b.sasl_port, security_protocol="SASL_PLAINTEXT",
              sasl_mechanism="GSSAPI", sasl_kerberos_service_name="kafka")
    p = KafkaProducer(**kw)
    p.send("krb-kp", b"hello").get(timeout=20)
    p.close()
    c = KafkaConsumer("krb-kp", auto_offset_reset="earliest", consumer_timeout_ms=10000, **kw)
    assert [m.value for m in c] == [b"hello"]
    c.close()
    assert wait_log(b, r"authenticated as User:client with GSSAPI")


def test_acls_see_the_auth_to_local_short_name(make_broker, realm):
    b = gssapi_broker(make_broker, realm, extra="authorizer.class.name: kafka.security.authorizer.AclAuthorizer\n"
                                                "super.users: User:ANONYMOUS\n")
    topic, svc_topic = "krb-acl-client", "krb-acl-svc"
    acl = {"ResourceType": 2, "ResourcePatternType": 3, "Host": "*", "Operation": 4, "PermissionType": 3}
    with KafkaConnection(b.port) as c:
        resp = c.call("CreateAcls", 1, {"Creations": [dict(acl, ResourceName=topic, Principal="User:client"),
                                                      dict(acl, ResourceName=svc_topic,
                                                           Principal="User:service-account")]})
        assert [r["ErrorCode"] for r in resp["Results"]] == [0, 0]
        c.call("CreateTopics", 4, {"Topics": [{"Name": t, "NumPartitions": 1, "ReplicationFactor": 1,
                                               "Assignments": [], "Configs": []} for t in (topic, svc_topic)],
                                   "TimeoutMs": 10000, "ValidateOnly": False})
    # client@EXAMPLE.TEST is User:client (DEFAULT): it may write its topic, not the service's.
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-P", "-t", topic], "cc-client", b"mine\n")
    assert out.returncode == 0, out.stderr
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-P", "-t", svc_topic], "cc-client", b"not mine\n")
    assert b"authorization failed" in out.stderr.lower(), out.stderr
    assert wait_log(b, r"User:client from 127\.0\.0\.1:\d+ may not \w+ Topic 'krb-acl-svc'")
    # svc/host1@EXAMPLE.TEST goes through the RULE: User:service-account.
    out = kcat(b, realm, SVC, realm.svc_keytab, ["-P", "-t", svc_topic], "cc-svc", b"service\n")
    assert out.returncode == 0, out.stderr
    assert wait_log(b, r"authenticated as User:service-account with GSSAPI")
    out = kcat(b, realm, SVC, realm.svc_keytab, ["-P", "-t", topic], "cc-svc", b"not mine\n")
    assert b"authorization failed" in out.stderr.lower(), out.stderr
    assert wait_log(b, r"User:service-account from 127\.0\.0\.1:\d+ may not \w+ Topic 'krb-acl-client'")


def test_a_foreign_realm_is_refused_and_others_carry_on(make_broker, realm):
    b = gssapi_broker(make_broker, realm)
    # client@OTHER.TEST holds a valid cross-realm ticket, but DEFAULT maps only the default realm.
    errors = auth_error(client_conf(b, FOREIGN, realm.foreign_keytab))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert any("Failed to set name for 'client@OTHER.TEST' based on Kerberos authentication rules" in e.str()
               for e in errors), errors
    assert wait_log(b, r"connection \d+ from 127\.0\.0\.1:\d+ on listener SASL_PLAINTEXT: failed authentication "
                       r"with GSSAPI \(user 'client@OTHER.TEST'\).*no rules apply to client@OTHER.TEST")
    produce_consume(client_conf(b, CLIENT, realm.client_keytab), "krb-after-foreign", n=1)
    assert b.alive()


def test_an_unknown_principal_or_expired_ticket_fails_and_others_carry_on(make_broker, realm):
    b = gssapi_broker(make_broker, realm)
    # A keytab whose principal the KDC no longer knows: kinit fails, nothing authenticates.
    realm.kadmin("delprinc -force " + SVC)
    out = kcat(b, realm, SVC, realm.svc_keytab, ["-L"], "cc-gone", extra=["socket.timeout.ms=5000"], timeout=30)
    assert out.returncode != 0 and b"svc/host1@EXAMPLE.TEST" not in b.log_text().encode()
    # A ticket that has expired, with no keytab to renew it (kinit.cmd does nothing): MIT's
    # client refuses to use it, so the broker never sees it. (An acceptor could only see an
    # expired ticket with a stale authenticator, which Kerberos refuses as clock skew first.)
    cc = realm.kinit("brief@" + REALM, realm.brief_keytab, realm.dir / "cc-brief")
    realm.run(["kvno", "-c", "FILE:%s" % cc, SERVICE])
    time.sleep(5)
    out = kcat(b, realm, "brief@" + REALM, realm.brief_keytab, ["-L"], "cc-brief",
               extra=["sasl.kerberos.kinit.cmd=/bin/true", "socket.timeout.ms=5000"], timeout=30)
    assert out.returncode != 0, out
    assert b"expired" in out.stderr.lower(), out.stderr
    assert "authenticated as User:brief" not in b.log_text()
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-L"], "cc-ok")
    assert out.returncode == 0, out.stderr
    assert b.alive()


def test_garbage_tokens_are_refused_with_kafkas_error(make_broker, realm):
    b = gssapi_broker(make_broker, realm)
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "GSSAPI") == (0, ["GSSAPI", "SCRAM-SHA-256"])
    assert sasl_authenticate(s, b"\x60\x03garbage that is no Kerberos token") == (58, INVALID_CREDENTIALS)
    assert is_closed(s)
    # Empty token first, then the v0 handshake's bare framing: closed without an answer.
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "GSSAPI") == (0, ["GSSAPI", "SCRAM-SHA-256"])
    assert sasl_authenticate(s, b"") == (58, INVALID_CREDENTIALS)
    s = connect(b.sasl_port)
    assert sasl_handshake(s, "GSSAPI", version=0)[0] == 0
    s.sendall(frame(b"\x60\x82\x00\x10" + b"\x00" * 16))
    assert is_closed(s)
    assert wait_log(b, r"from 127\.0\.0\.1:\d+ on listener SASL_PLAINTEXT: failed authentication with GSSAPI "
                       r"\(user ''\): Authentication failed during authentication due to invalid credentials with "
                       r"SASL mechanism GSSAPI; Kerberos \(acceptor kafka/127\.0\.0\.1@EXAMPLE\.TEST\)")
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-L"], "cc-ok")
    assert out.returncode == 0, out.stderr
    assert b.alive()


def test_gssapi_not_enabled_on_a_listener_is_unsupported(make_broker, realm):
    b = make_broker()
    scram_port = free_port()
    write_config(b, realm, extra=(
        "listener.security.protocol.map: PLAINTEXT:PLAINTEXT, SASL_PLAINTEXT:SASL_PLAINTEXT, SCRAMONLY:SASL_PLAINTEXT\n"
        "listener.name.scramonly.sasl.enabled.mechanisms: SCRAM-SHA-256\n"))
    b.config_path.write_text(b.config_path.read_text().replace(
        "SASL_PLAINTEXT://127.0.0.1:%d\n" % b.sasl_port,
        "SASL_PLAINTEXT://127.0.0.1:%d, SCRAMONLY://127.0.0.1:%d\n" % (b.sasl_port, scram_port)))
    b.start()
    s = connect(scram_port)
    assert sasl_handshake(s, "GSSAPI") == (33, ["SCRAM-SHA-256"])
    assert is_closed(s)
    b.sasl_port, gssapi_port = scram_port, b.sasl_port
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-L"], "cc-scram", extra=["socket.timeout.ms=5000"],
               timeout=30)
    assert out.returncode != 0
    assert wait_log(b, r"on listener SCRAMONLY: SASL mechanism 'GSSAPI' is not enabled")
    # The GSSAPI listener beside it serves Kerberos.
    b.sasl_port = gssapi_port
    out = kcat(b, realm, CLIENT, realm.client_keytab, ["-L"], "cc-ok")
    assert out.returncode == 0, out.stderr


def start_fails(b):
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, (out.returncode, out.stderr)
    return out.stderr


def line_of(b, key):
    for n, line in enumerate(b.config_path.read_text().splitlines(), 1):
        if line.startswith(key + ":"):
            return n
    raise AssertionError(key)


def test_bad_jaas_lines_and_keytabs_stop_the_start(make_broker, realm):
    key = "listener.name.sasl_plaintext.gssapi.sasl.jaas.config"
    # Unquoted path: Kafka's tokenizer reads '/' as a comment.
    b = write_config(make_broker("unquoted"), realm, jaas_line=(
        "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=%s principal=\"%s\";"
        % (realm.broker_keytab, SERVICE)))
    err = start_fails(b)
    assert "keel.yaml:%d: %s: Value not specified for key 'keyTab' in JAAS config" % (line_of(b, key), key) in err, err
    # Another login module.
    b = write_config(make_broker("oauth"), realm, jaas_line=(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"))
    assert "is not one keel serves" in start_fails(b)
    # A broker-wide sasl.jaas.config is read too, and refused the same way.
    b = write_config(make_broker("plainusers"), realm, extra=(
        "sasl.jaas.config: 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"s3cr3t\";'\n"))
    err = start_fails(b)
    assert "keel.yaml:%d: sasl.jaas.config: PlainLoginModule" % line_of(b, "sasl.jaas.config") in err, err
    assert "s3cr3t" not in err
    # No JAAS line at all.
    b = write_config(make_broker("nojaas"), realm, jaas_line="")
    assert "enables GSSAPI but no JAAS line names the broker's keytab and principal" in start_fails(b)
    # A keytab that does not exist, or lacks the key clients dialling 127.0.0.1 ask for.
    b = write_config(make_broker("nokeytab"), realm, jaas_line=jaas(realm.dir / "missing.keytab"))
    assert "cannot read keytab %s" % (realm.dir / "missing.keytab") in start_fails(b)
    localhost_only = realm.keytab("localhost.keytab", "kafka/localhost@" + REALM)
    b = write_config(make_broker("wronghost"), realm, jaas_line=jaas(localhost_only, "kafka/localhost@" + REALM))
    err = start_fails(b)
    assert "clients dialling 127.0.0.1 ask for a ticket to kafka/127.0.0.1@EXAMPLE.TEST" in err, err
    # A principal the keytab has no key for.
    b = write_config(make_broker("wrongprincipal"), realm, jaas_line=jaas(realm.broker_keytab, "kafka/elsewhere"))
    assert "has no key for principal kafka/elsewhere@EXAMPLE.TEST" in start_fails(b)
    # No service name anywhere.
    b = write_config(make_broker("noservice"), realm)
    b.config_path.write_text(b.config_path.read_text().replace("sasl.kerberos.service.name: kafka\n", ""))
    assert "No serviceName defined in either JAAS or Kafka config" in start_fails(b)
