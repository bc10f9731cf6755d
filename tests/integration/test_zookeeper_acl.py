"""Keel's nodes in ZooKeeper protected as Kafka protects them (issue 22 part 5):
the broker authenticates with ZooKeeper's digest scheme from
zookeeper.digest.credentials.file, and zookeeper.set.acl creates every node
writable only by that identity, world-readable except credentials
(/config/users/*: SCRAM salts and keys). An unauthenticated ZooKeeper client
(kazoo, Debian's python3-kazoo) proves it can neither change Keel's metadata
nor read the SCRAM credentials; the broker keeps serving and restarts; a broker
with the wrong secret refuses to start, saying why; nodes created before the
flag are secured when it is turned on."""

import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE, Permissions

from conftest import Broker, free_port
from test_produce_consume import consume, produce
from test_sasl import alter_scram, describe_scram, wait_log
from test_zookeeper import zk  # noqa: F401 (a fixture: a ZooKeeper of the test's own)

SECRET = "zk-Secret-7f3a"


def credentials(path, line):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# keel's ZooKeeper identity\n%s\n" % line)
    os.chmod(path, 0o600)
    return path


def secure_broker(tmp_path, name, chroot, secret=SECRET, set_acl=True, sasl_port=None):
    extra = ""
    if set_acl is not None:
        extra += "zookeeper.set.acl: %s\n" % ("true" if set_acl else "false")
    if secret is not None:
        extra += "zookeeper.digest.credentials.file: %s\n" % credentials(tmp_path / (name + "-zk-creds"),
                                                                           "keel:" + secret)
    if sasl_port:
        extra += "sasl.enabled.mechanisms: SCRAM-SHA-256\n"
    b = Broker(tmp_path / name, zookeeper=chroot, extra_config=extra)
    if sasl_port:
        text = b.config_path.read_text()
        old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
        b.config_path.write_text(text.replace(old, "listeners: PLAINTEXT://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d\n"
                                              % (b.port, sasl_port)))
    return b


def kazoo(zk, chroot_path, auth=None):
    c = KazooClient(hosts=zk.connect + chroot_path, auth_data=auth, timeout=15)
    c.start(timeout=15)
    return c


def scram_round_trip(sasl_port):
    topic = "scram-" + uuid.uuid4().hex[:8]
    conf = {"bootstrap.servers": "127.0.0.1:%d" % sasl_port, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "alice", "sasl.password": "alice-pw"}
    reports = []
    p = Producer(dict(conf, **{"message.timeout.ms": 15000}))
    p.produce(topic, value=b"over-scram", on_delivery=lambda e, m: reports.append(e))
    p.flush(20)
    assert reports == [None]
    c = Consumer(dict(conf, **{"group.id": "g-" + uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 20
    while not got and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"over-scram"]


def create_topic(b):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic("guarded", 1, 1)])["guarded"].result(20)


def start_fails(b):
    """Starts a broker that must refuse to: it exits non-zero (before or
    after its listener opened); returns its output."""
    try:
        b.start()
    except RuntimeError:
        pass
    if b.proc is not None:
        try:
            code = b.proc.wait(timeout=60)
        finally:
            if b.proc.poll() is None:
                b.stop()
        assert code != 0
        b.proc = None
    return (b.dir / "keel.out").read_text() + b.log_text()


def world_perms(acls):
    return [a.perms for a in acls if a.id.scheme == "world"]


def assert_locked_out(anon):
    """What an unauthenticated client may not do to a secured tree."""
    for path in ("/brokers/topics/guarded", "/controller_epoch", "/cluster/id", "/brokers/ids"):
        with pytest.raises(NoAuthError):
            anon.set(path, b"tampered")
    with pytest.raises(NoAuthError):
        anon.create("/brokers/topics/intruder", b"{}")
    with pytest.raises(NoAuthError):
        anon.create("/config/changes/config_change_9999999999", b"{}")
    with pytest.raises(NoAuthError):
        anon.delete("/brokers/topics/guarded/partitions/0/state")
    with pytest.raises(NoAuthError):
        anon.delete("/admin/delete_topics")
    with pytest.raises(NoAuthError):
        anon.create("/admin/delete_topics/guarded", b"")
    with pytest.raises(NoAuthError):
        anon.set_acls("/brokers/topics/guarded", OPEN_ACL_UNSAFE)
    # The SCRAM credentials, and the list of users, are not even readable.
    with pytest.raises(NoAuthError):
        anon.get("/config/users/alice")
    with pytest.raises(NoAuthError):
        anon.get_children("/config/users")


def test_set_acl_locks_out_unauthenticated_clients_and_the_broker_keeps_serving(zk, tmp_path):
    chroot = "/secure-" + uuid.uuid4().hex[:8]
    sasl_port = free_port()
    b = secure_broker(tmp_path, "b", zk.connect + chroot, sasl_port=sasl_port).start()
    try:
        create_topic(b)
        assert alter_scram(b.port, upsertions=[("alice", "SCRAM-SHA-256", "alice-pw", 4096)]) == {"alice": (0, None)}
        assert produce(b.bootstrap, "guarded", [{"value": b"v%d" % i} for i in range(5)]) == list(range(5))
        assert [m.value() for m in consume(b.bootstrap, "guarded", 5)] == [b"v%d" % i for i in range(5)]
        scram_round_trip(sasl_port)

        anon = kazoo(zk, chroot)
        try:
            # Kafka's ACLs: the broker identity has everything, world reads
            # metadata but not credentials.
            topic_acls, _ = anon.get_acls("/brokers/topics/guarded")
            assert world_perms(topic_acls) == [Permissions.READ]
            digest = [a for a in topic_acls if a.id.scheme == "digest"]
            assert len(digest) == 1 and digest[0].perms == Permissions.ALL
            assert digest[0].id.id.startswith("keel:") and SECRET not in digest[0].id.id
            with pytest.raises(NoAuthError):  # even the ACL of a credentials node
                anon.get_acls("/config/users/alice")
            assert world_perms(anon.get_acls("/consumers")[0]) == [Permissions.ALL]  # open in Kafka too
            # The chroot node itself, created by the broker, is protected too.
            root = kazoo(zk, "")
            try:
                assert world_perms(root.get_acls(chroot)[0]) == [Permissions.READ]
            finally:
                root.stop()
            # Metadata stays readable, as in Kafka.
            assert b'"partitions"' in anon.get("/brokers/topics/guarded")[0]
            assert_locked_out(anon)
        finally:
            anon.stop()

        # The broker's own identity reads what the others may not.
        owner = kazoo(zk, chroot, auth=[("digest", "keel:" + SECRET)])
        try:
            assert b"SCRAM-SHA-256" in owner.get("/config/users/alice")[0]
            for path in ("/config/users/alice", "/config/users"):
                acls, _ = owner.get_acls(path)
                assert [(a.id.scheme, a.perms) for a in acls] == [("digest", Permissions.ALL)], path
        finally:
            owner.stop()

        # Restart: the broker reads and writes its protected nodes again.
        assert b.stop() == 0
        b.start()
        assert produce(b.bootstrap, "guarded", [{"value": b"after-restart"}]) == [5]
        assert [m.value() for m in consume(b.bootstrap, "guarded", 6)] == [b"v%d" % i for i in range(5)] + [
            b"after-restart"]
        assert describe_scram(b.port, ["alice"]) == {"alice": (0, [(1, 4096)])}
        scram_round_trip(sasl_port)
        assert alter_scram(b.port, deletions=[("alice", "SCRAM-SHA-256")]) == {"alice": (0, None)}
        # The password never reaches the logs.
        text = b.log_text() + (b.dir / "keel.out").read_text()
        assert "authenticated to ZooKeeper as digest user 'keel'" in text
        assert SECRET not in text
    finally:
        b.stop()


def test_a_broker_with_the_wrong_secret_or_none_refuses_to_start(zk, tmp_path):
    chroot = zk.connect + "/secure-" + uuid.uuid4().hex[:8]
    good = secure_broker(tmp_path, "good", chroot).start()
    assert good.stop() == 0

    wrong = secure_broker(tmp_path, "wrong", chroot, secret="not-the-secret")
    out = start_fails(wrong)
    assert "refuses writes to /brokers/ids from digest user 'keel'" in out, out[-2000:]
    assert "zookeeper.digest.credentials.file" in out
    assert "not-the-secret" not in out

    anonymous = secure_broker(tmp_path, "anon", chroot, secret=None, set_acl=None)
    out = start_fails(anonymous)
    assert "refuses writes to /brokers/ids from an unauthenticated client" in out, out[-2000:]

    # The right secret still works after those attempts.
    good.start()
    assert produce(good.bootstrap, "still-fine", [{"value": b"ok"}]) == [0]
    assert good.stop() == 0


def test_set_acl_without_credentials_or_with_a_bad_file_is_a_clear_error(zk, tmp_path):
    chroot = zk.connect + "/secure-" + uuid.uuid4().hex[:8]
    b = secure_broker(tmp_path, "nocreds", chroot, secret=None)
    out = start_fails(b)
    assert "zookeeper.set.acl" in out and "zookeeper.digest.credentials.file is not set" in out, out[-2000:]

    bad = secure_broker(tmp_path, "badfile", chroot)
    credentials(tmp_path / "badfile-zk-creds", "just-a-password-no-user")
    out = start_fails(bad)
    assert "is not user:password" in out, out[-2000:]
    assert "just-a-password-no-user" not in out


def test_turning_set_acl_on_secures_the_nodes_created_before(zk, tmp_path):
    chroot = "/secure-" + uuid.uuid4().hex[:8]
    b = secure_broker(tmp_path, "b", zk.connect + chroot, set_acl=False)
    b.start()
    create_topic(b)
    assert alter_scram(b.port, upsertions=[("alice", "SCRAM-SHA-256", "alice-pw", 4096)]) == {"alice": (0, None)}
    assert b.stop() == 0
    anon = kazoo(zk, chroot)
    try:
        assert world_perms(anon.get_acls("/brokers/topics/guarded")[0]) == [Permissions.ALL]
        assert b"SCRAM-SHA-256" in anon.get("/config/users/alice")[0]  # open: the flag was off
    finally:
        anon.stop()

    text = b.config_path.read_text().replace("zookeeper.set.acl: false", "zookeeper.set.acl: true")
    b.config_path.write_text(text)
    b.start()
    try:
        assert wait_log(b, "created before it was set")
        anon = kazoo(zk, chroot)
        try:
            assert_locked_out(anon)
        finally:
            anon.stop()
        assert produce(b.bootstrap, "guarded", [{"value": b"secured"}]) == [0]
        assert describe_scram(b.port, ["alice"]) == {"alice": (0, [(1, 4096)])}
    finally:
        assert b.stop() == 0
