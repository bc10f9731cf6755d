"""kafkajs 2.2.4 on a SASL_SSL listener (js/sec_kafkajs.js): TLS checked
against the test CA (pki.py), then PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
inside it. A wrong password with each mechanism is
KafkaJSSASLAuthenticationError (the broker's SASL_AUTHENTICATION_FAILED, as
kafkajs names it), logged by the broker; after those refusals each mechanism
with the right password produces with acks=all and reads the records back
with a consumer group, all three at once."""

import json
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from test_kafkajs import JS, node  # noqa: F401 (the node fixture)
from test_sasl import alter_scram, hash_line
from test_modern_security import pki  # noqa: F401 (the run's shared test PKI)
from test_tls import tls_broker, wait_log

USERS = {"PLAIN": ("alice", "alice-secret"), "SCRAM-SHA-256": ("carol", "carol-256"),
         "SCRAM-SHA-512": ("dave", "dave-512")}


@pytest.fixture
def secured(make_broker, pki):
    b = make_broker("kafkajs-sasl-ssl")
    creds = b.dir / "plain-users"
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text("%s\n" % hash_line("alice", "alice-secret"))
    b.config_path.write_text(b.config_path.read_text() + "sasl.enabled.mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512\n"
                             "sasl.plain.credentials.file: %s\n" % creds)
    b = tls_broker(lambda name: b, pki, listeners=("PLAINTEXT", "SASL_SSL"))
    assert alter_scram(b.port, [("carol", "SCRAM-SHA-256", "carol-256", 4096),
                                ("dave", "SCRAM-SHA-512", "dave-512", 4096)]) == {"carol": (0, None),
                                                                                  "dave": (0, None)}
    return b


def run_js(node, b, pki, refusals, runs):
    args = {"brokers": ["127.0.0.1:%d" % b.ports["SASL_SSL"]], "ca": pki.path("ca.pem").read_text(),
            "refusals": refusals, "runs": runs}
    proc = subprocess.run([node, str(JS / "sec_kafkajs.js"), json.dumps(args)], cwd=str(JS), capture_output=True,
                          text=True, timeout=90)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert proc.returncode == 0 and lines, "exit %s\n%s" % (proc.returncode, proc.stderr[-3000:])
    return json.loads(lines[-1])


def test_kafkajs_over_tls_with_plain_and_scram_and_a_wrong_password(node, secured, pki):
    b = secured
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    topics = {m: "kjs-" + m.lower() for m in USERS}
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()]).values():
        f.result(20)
    # Wrong passwords first: each refused with kafkajs' SASL error, logged by
    # the broker; then every mechanism with the right one, all at once.
    refusals = [{"mechanism": m.lower(), "username": u, "password": "not-" + u} for m, (u, _) in USERS.items()]
    runs = [{"sasl": {"mechanism": m.lower(), "username": u, "password": p}, "topic": topics[m], "n": 5}
            for m, (u, p) in USERS.items()]
    out = run_js(node, b, pki, refusals, runs)
    for (mechanism, (user, _)), refused in zip(USERS.items(), out["refused"]):
        assert refused["name"] == "KafkaJSSASLAuthenticationError", (mechanism, refused)
        assert wait_log(b, "failed authentication with %s (user '%s')" % (mechanism, user)), mechanism
    for (mechanism, (user, _)), run in zip(USERS.items(), out["runs"]):
        assert run["values"] == ["js-%d" % i for i in range(5)], (mechanism, run)
        assert wait_log(b, "authenticated as User:%s with %s" % (user, mechanism))
    assert "not-alice" not in b.log_text()
