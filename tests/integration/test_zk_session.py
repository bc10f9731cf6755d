"""A broker whose ZooKeeper session expired gets a new one and registers
again, however long that takes: Kafka's broker re-registers on every new
session, and one that cannot is not left silently live. Before, a
re-registration that met a connection loss was logged once and the broker
stayed unregistered (no controller counted it live) until it restarted.

A store write that meets a lost connection within the session (a network
blip, a ZooKeeper restart) is sent again once the connection is back, as
Kafka's KafkaZkClient does: the admin request that made it is carried out,
not answered REQUEST_TIMED_OUT.

Each test starts its own ZooKeeper behind a proxy that can cut the broker
off (conftest marks them `cluster`: the ZooKeeper pass runs them)."""

import json
import time

import pytest

from conftest import Broker, ZooKeeper
from kafka_schema import KafkaConnection
from test_admin_requests import SET, TOPIC, alter, topic_config
from test_produce_consume import consume, produce
from test_zk_startup import CutOnRequest, started
from test_zookeeper import zk_get

# ZooKeeperServerMain's default tick (3 s) makes 6 s the shortest session.
SESSION_MS = 6000


@pytest.fixture
def zk():
    z = ZooKeeper().start()
    # ZooKeeper answers "imok" a moment before it serves sessions, and closes
    # the connections it gets meanwhile; the proxy does not pass that close
    # on (its other pump thread still reads the socket), so a broker's first
    # connection would hang for the client's receive timeout. One session
    # first, straight to ZooKeeper.
    zk_get(z, "/zookeeper")
    yield z
    z.cleanup()


def broker_lines(b):
    """The broker's log without the ZooKeeper client's own reconnect noise."""
    return "\n".join(l for l in b.log_text().splitlines() if "zookeeper client:" not in l)[-4000:]


def wait_for(condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def expire_session(b, proxy, before_restore=lambda: None):
    """Cuts the broker off from ZooKeeper past its session timeout, so that
    ZooKeeper expires the session; `before_restore` runs once the broker has
    been cut off, just before it may reach ZooKeeper again. The C client's
    reconnect timing varies: a cut that ended in no expiry is repeated."""
    for _ in range(3):
        proxy.cut()
        time.sleep(SESSION_MS / 1000 * 2 + 2)
        before_restore()
        proxy.restore()
        if wait_for(lambda: "ZooKeeper session expired" in b.log_text(), 20):
            return
    pytest.fail("the broker's ZooKeeper session never expired:\n" + broker_lines(b))


def test_a_re_registration_that_fails_is_retried_until_the_broker_is_registered(zk, tmp_path):
    # Disarmed (fired) until the session has expired: then the first request
    # naming the registration after the new session (its existence check) is
    # cut, and ZooKeeper stays away 4.5 s: within the new session's 6 s, but
    # longer than the 3 s the store waits for a lost connection to come back
    # (zookeeper.connection.timeout.ms), so the attempt fails.
    proxy = CutOnRequest(zk.port, b"/brokers/ids/0", nth=1, outage=4.5)
    proxy.fired.set()
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.session.timeout.ms: %d\nzookeeper.connection.timeout.ms: 3000\n" % SESSION_MS)
    try:
        b.start()
        assert started(b, 60), b.log_text()[-3000:]
        produce(b.bootstrap, "before", [{"value": b"a"}] * 3)

        def arm():
            proxy.seen = 0
            proxy.fired.clear()

        expire_session(b, proxy, before_restore=arm)
        assert wait_for(lambda: "is now the controller (controller epoch 2)" in b.log_text(), 90), (
            "the broker did not register again after its new session:\n" + broker_lines(b))
        assert proxy.fired.is_set(), "the test's cut of the re-registration never happened"
        log = b.log_text()
        assert "broker 0 is not registered: re-registration attempt 1 failed" in log, broker_lines(b)
        assert "registered broker 0 again" in log
        registration = zk_get(zk, "/brokers/ids/0")
        assert registration is not None, "no /brokers/ids/0 in ZooKeeper"
        assert json.loads(registration)["port"] == b.port
        produce(b.bootstrap, "before", [{"value": b"b"}] * 3)
        assert [m.value() for m in consume(b.bootstrap, "before", 6)] == [b"a"] * 3 + [b"b"] * 3
    finally:
        assert b.stop() == 0
        proxy.close()


def test_a_session_expired_while_the_broker_starts_is_renewed_and_the_broker_registers(zk, tmp_path):
    """ZooKeeper goes away while the broker reads its client quotas (watches
    on /config/changes already set) and stays away past the session timeout:
    the session expires during start-up. The broker's one renewal thread
    replaces it, the start goes on in the new session, and the broker ends up
    registered and controller, its watches in the session it runs with."""
    proxy = CutOnRequest(zk.port, b"/config/clients", nth=2, outage=SESSION_MS / 1000 * 2 + 2)
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.session.timeout.ms: %d\nzookeeper.connection.timeout.ms: 60000\n"
               % SESSION_MS)
    try:
        b.start()
        assert started(b, 120), broker_lines(b)
        assert proxy.fired.is_set(), "the test's cut never happened"
        log = b.log_text()
        if "ZooKeeper session expired" not in log:
            pytest.skip("the session outlived the cut (the C client's reconnect timing): nothing to check")
        assert "new ZooKeeper session 0x" in log, broker_lines(b)
        assert "is now the controller (controller epoch 1)" in log
        # Registered once, in the session the broker runs with.
        assert "registered broker 0 again" not in log
        registration = zk_get(zk, "/brokers/ids/0")
        assert registration is not None and json.loads(registration)["port"] == b.port
        produce(b.bootstrap, "after-expiry", [{"value": b"v"}])
        assert consume(b.bootstrap, "after-expiry", 1)[0].value() == b"v"
    finally:
        assert b.stop() == 0
        proxy.close()


def rearm(proxy, marker, nth):
    proxy.marker, proxy.nth = marker, nth
    with proxy.lock:
        proxy.seen = 0
    proxy.fired.clear()


def test_admin_writes_lost_with_the_zookeeper_connection_are_sent_again(zk, tmp_path):
    """The store write of a CreateTopics, then of an IncrementalAlterConfigs,
    is lost with the connection (the proxy drops it and every connection) and
    ZooKeeper stays away 2 s, well within the 6 s session and the 6 s the
    store waits (zookeeper.connection.timeout.ms, the session timeout by
    default). Each request is carried out once the connection is back."""
    # Disarmed (fired) until the broker has started.
    proxy = CutOnRequest(zk.port, b"", outage=2.0)
    proxy.fired.set()
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.session.timeout.ms: %d\n" % SESSION_MS)
    try:
        b.start()
        assert started(b, 60), broker_lines(b)
        # The 1st request naming the topic's assignment is the check that it
        # does not exist yet; the 2nd creates it.
        rearm(proxy, b"/brokers/topics/lost-once", 2)
        with KafkaConnection(b.port, timeout=30) as conn:
            created = conn.call("CreateTopics", 7, {"Topics": [
                {"Name": "lost-once", "NumPartitions": 1, "ReplicationFactor": 1}], "TimeoutMs": 20000})
        assert proxy.fired.is_set(), "the test's cut never happened"
        assert created["Topics"][0]["ErrorCode"] == 0, (created, broker_lines(b))
        assert zk_get(zk, "/brokers/topics/lost-once") is not None
        produce(b.bootstrap, "lost-once", [{"value": b"a"}])
        assert consume(b.bootstrap, "lost-once", 1)[0].value() == b"a"
        # IncrementalAlterConfigs reads the topic's config (1st), then writes it (2nd).
        rearm(proxy, b"/config/topics/lost-once", 2)
        with KafkaConnection(b.port, timeout=30) as conn:
            error = alter(conn, 1, TOPIC, "lost-once", [("retention.ms", SET, "4321000")])
            assert proxy.fired.is_set(), "the test's cut never happened"
            assert error == 0, broker_lines(b)
            assert topic_config(conn, "lost-once", "retention.ms")[0] == "4321000"
        assert json.loads(zk_get(zk, "/config/topics/lost-once"))["config"]["retention.ms"] == "4321000"
        log = b.log_text()
        assert "sending it again once the connection is back" in log, broker_lines(b)
        assert "ZooKeeper session expired" not in log
    finally:
        assert b.stop() == 0
        proxy.close()
