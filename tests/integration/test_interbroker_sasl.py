"""Inter-broker SASL (server/interbroker_sasl.h, net::Client with
ClientSasl): a three-broker ZooKeeper cluster whose replication and
controller traffic run over a SASL_PLAINTEXT inter-broker listener with
SCRAM-SHA-512, the broker's credentials from the listener's JAAS line and its
SCRAM user in ZooKeeper (/config/users, as kafka-configs --zookeeper writes
it) before any broker starts. Real clients produce with acks=all to an RF=3
topic with min.insync.replicas=2 and read it all back; a follower stopped and
restarted with a wrong inter-broker password logs the refusal (never the
password) and stays out of the ISR; restarted with the right one it rejoins.
Start-up refuses GSSAPI as the inter-broker mechanism and a SASL inter-broker
listener without credentials, with what to change."""

import json
import subprocess
import time
import uuid

from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from conftest import KEEL_BIN, Broker, free_port
from test_cluster import metadata, partition, wait_for, zk  # noqa: F401 (the zk fixture)
from test_tls import consume, produce

PASSWORD = "broker-Secret-5e1"
JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"%s\";"


def scram_user(zk, chroot, user, password, mechanism="SCRAM-SHA-512"):
    """The user's SCRAM credential in ZooKeeper, as Kafka stores it."""
    line = subprocess.run([KEEL_BIN, "--hash-password", user, mechanism, "4096"], input=password + "\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    credential = line.split(":", 2)[2]
    kz = KazooClient(hosts=zk.connect + chroot, timeout=15)
    kz.start()
    try:
        kz.ensure_path("/config/users")
        kz.create("/config/users/" + user, json.dumps({"version": 1, "config": {mechanism: credential}}).encode())
    finally:
        kz.stop()


def sasl_broker(workdir, broker_id, chroot, password=PASSWORD, mechanism="SCRAM-SHA-512", extra=""):
    """A broker with a PLAINTEXT listener for clients and SASL_PLAINTEXT between brokers."""
    b = Broker(workdir, broker_id=broker_id, zookeeper=chroot,
               extra_config="replica.lag.time.max.ms: 3000\n" + extra)
    b.sasl_port = free_port()
    b.config_path.write_text(b.config_path.read_text().replace(
        "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port,
        "listeners: PLAINTEXT://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d\n"
        "inter.broker.listener.name: SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms: %s\n"
        "sasl.mechanism.inter.broker.protocol: %s\n"
        "listener.name.sasl_plaintext.%s.sasl.jaas.config: '%s'\n"
        % (b.port, b.sasl_port, mechanism, mechanism, mechanism.lower(), JAAS % password)))
    return b


def set_password(b, old, new):
    b.config_path.write_text(b.config_path.read_text().replace('password=\\"%s\\"' % old, 'password=\\"%s\\"' % new)
                             .replace('password="%s"' % old, 'password="%s"' % new))


def isr(b, topic):
    p = partition(b, topic)
    return sorted(p.isrs) if p is not None else None


def test_a_cluster_replicates_over_sasl_scram_and_a_wrong_password_stays_out_of_the_isr(zk, tmp_path):
    chroot = "/sasl-" + uuid.uuid4().hex[:8]
    scram_user(zk, chroot, "broker", PASSWORD)
    brokers = [sasl_broker(tmp_path / ("b%d" % i), i, zk.connect + chroot) for i in (1, 2, 3)]
    try:
        for b in brokers:
            b.start()
        for b in brokers:
            wait_for("broker %d to see the cluster" % b.broker_id, lambda b=b: set(metadata(b).brokers) == {1, 2, 3})
        admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
        admin.create_topics([NewTopic("secured", 1, 3, config={"min.insync.replicas": "2"})])["secured"].result(30)
        wait_for("all three replicas in the ISR", lambda: isr(brokers[0], "secured") == [1, 2, 3])

        values = [b"v-%d" % i for i in range(20)]
        reports, errors = produce({"bootstrap.servers": brokers[1].bootstrap, "acks": "all"}, "secured", values, 30)
        assert reports == [None] * 20, errors
        assert consume({"bootstrap.servers": brokers[2].bootstrap}, "secured", 20, "g1") == values
        for b in brokers:
            assert "inter-broker connections authenticate with SASL SCRAM-SHA-512 as user 'broker'" in b.log_text()

        # A follower restarted with a wrong inter-broker password: refused by
        # the leader, logged, never back in the ISR; acks=all still works
        # with two in sync.
        leader = partition(brokers[0], "secured").leader
        follower = next(b for b in brokers if b.broker_id != leader)
        others = [b for b in brokers if b is not follower]
        follower.stop()
        wait_for("the stopped follower out of the ISR", lambda: follower.broker_id not in isr(others[0], "secured"))
        set_password(follower, PASSWORD, "wrong-password")
        follower.start()
        wait_for("the refusal in the follower's log",
                 lambda: "SASL authentication with SCRAM-SHA-512 failed" in follower.log_text(), timeout=15)
        line = next(l for l in follower.log_text().splitlines() if "SASL authentication with SCRAM-SHA-512 failed" in l)
        assert "SASL_AUTHENTICATION_FAILED" in line, line
        assert "wrong-password" not in follower.log_text()
        reports, errors = produce({"bootstrap.servers": others[0].bootstrap, "acks": "all"}, "secured", [b"two"], 30)
        assert reports == [None], errors
        time.sleep(3)
        assert follower.broker_id not in isr(others[0], "secured")

        # The right password: it catches up and rejoins the ISR.
        follower.stop()
        set_password(follower, "wrong-password", PASSWORD)
        follower.start()
        wait_for("the restarted follower back in the ISR", lambda: isr(others[0], "secured") == [1, 2, 3])
        assert consume({"bootstrap.servers": follower.bootstrap}, "secured", 21, "g2") == values + [b"two"]
    finally:
        for b in brokers:
            if b.alive():
                b.stop()


def test_plain_between_brokers_renews_its_sessions_without_leaving_the_isr(zk, tmp_path):
    from test_sasl import hash_line
    chroot = zk.connect + "/plain-" + uuid.uuid4().hex[:8]
    users = tmp_path / "plain-users"
    users.write_text(hash_line("broker", PASSWORD) + "\n")
    # Sessions of 1.5 s (KIP-368): every inter-broker connection renews
    # itself (at 85-95% of that) several times while the test runs.
    extra = "sasl.plain.credentials.file: %s\nlistener.name.sasl_plaintext.connections.max.reauth.ms: 1500\n" % users
    brokers = [sasl_broker(tmp_path / ("p%d" % i), i, chroot, mechanism="PLAIN", extra=extra) for i in (1, 2)]
    for b in brokers:
        b.config_path.write_text(b.config_path.read_text().replace("ScramLoginModule", "PlainLoginModule")
                                 .replace("scram.", "plain."))
    try:
        for b in brokers:
            b.start()
        for b in brokers:
            wait_for("broker %d to see the cluster" % b.broker_id, lambda b=b: set(metadata(b).brokers) == {1, 2})
        admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
        admin.create_topics([NewTopic("plain", 1, 2, config={"min.insync.replicas": "2"})])["plain"].result(30)
        wait_for("both replicas in the ISR", lambda: isr(brokers[0], "plain") == [1, 2])
        conf = {"bootstrap.servers": brokers[0].bootstrap, "acks": "all"}
        reports, errors = produce(conf, "plain", [b"a"], 30)
        assert reports == [None], errors
        leader = partition(brokers[0], "plain").leader
        leader_broker = brokers[leader - 1]
        wait_for("a follower's session renewed on the leader",
                 lambda: "re-authenticated as User:broker with PLAIN" in leader_broker.log_text(), timeout=10)
        reports, errors = produce(conf, "plain", [b"b"], 30)
        assert reports == [None], errors
        assert isr(brokers[0], "plain") == [1, 2]
        assert consume({"bootstrap.servers": brokers[1].bootstrap}, "plain", 2, "gp") == [b"a", b"b"]
        for b in brokers:
            assert "failed re-authentication" not in b.log_text()
            assert "SASL authentication with PLAIN failed" not in b.log_text()
    finally:
        for b in brokers:
            if b.alive():
                b.stop()


def start_error(b):
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stderr
    return out.stderr


def test_gssapi_or_missing_credentials_on_a_sasl_inter_broker_listener_stop_the_start(tmp_path):
    b = sasl_broker(tmp_path / "gssapi", 1, None, mechanism="SCRAM-SHA-512")
    b.config_path.write_text(b.config_path.read_text().replace(
        "sasl.mechanism.inter.broker.protocol: SCRAM-SHA-512\n", ""))
    err = start_error(b)
    assert "sasl.mechanism.inter.broker.protocol GSSAPI (the default)" in err, err
    assert "cannot authenticate to each other with GSSAPI (Kerberos) yet" in err, err

    n = sasl_broker(tmp_path / "nojaas", 1, None)
    n.config_path.write_text("\n".join(l for l in n.config_path.read_text().splitlines() if "jaas" not in l) + "\n")
    err = start_error(n)
    assert "has no JAAS line with the broker's credentials" in err, err
    assert "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config" in err, err

    w = sasl_broker(tmp_path / "nopassword", 1, None)
    w.config_path.write_text(w.config_path.read_text().replace(' password=\\"%s\\"' % PASSWORD, "")
                             .replace(' password="%s"' % PASSWORD, ""))
    err = start_error(w)
    assert "no username or password" in err, err
