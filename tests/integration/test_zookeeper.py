"""ZooKeeper-specific behaviour, against a ZooKeeper each test starts: Kafka's
layout is visible to ZooKeeper tools; a broker serves records through a
ZooKeeper restart, a request needing the store waits for it to come back; and
a broker cut off long enough to expire its session registers again and is
elected controller again."""

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import KEEL_BIN, Broker, ZooKeeper
from kafka_schema import KafkaConnection
from test_admin_requests import high_watermark
from test_produce_consume import consume, produce


def zk_get(zk, path):
    """Reads a node with ZooKeeper's own CLI (zkCli): None when absent."""
    classpath = "/etc/zookeeper/conf:" + ":".join(str(p) for p in sorted(Path("/usr/share/java").glob("*.jar")))
    out = subprocess.run(["java", "-cp", classpath, "org.apache.zookeeper.ZooKeeperMain", "-server", zk.connect,
                          "get", path], capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        if line.startswith("{") or line.strip().isdigit():
            return line.strip()
    return None


class CuttableProxy:
    """A loopback TCP proxy in front of ZooKeeper that the test can cut (all
    connections dropped, new ones refused) and restore: a network partition
    between the broker and ZooKeeper while ZooKeeper keeps running, so the
    broker's session really expires on the server."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.stopped = False
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # shutdown() first: a bare close() of one side leaves the other side's
        # peer waiting for its whole receive timeout (a ZooKeeper client then
        # hangs until it gives up on the connection).
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass
            self.conns = []

    def restore(self):
        self.open = True

    def close(self):
        self.stopped = True
        self.cut()
        self.listener.close()


@pytest.fixture
def zk():
    z = ZooKeeper().start()
    yield z
    z.cleanup()


def test_kafka_layout_is_readable_by_zookeeper_tools(zk, tmp_path):
    b = Broker(tmp_path / "b", zookeeper=zk.connect).start()
    try:
        produce(b.bootstrap, "laid-out", [{"value": b"x"}])
        reg = json.loads(zk_get(zk, "/brokers/ids/0"))
        assert reg["version"] == 5
        assert reg["endpoints"] == ["PLAINTEXT://127.0.0.1:%d" % b.port]
        assert json.loads(zk_get(zk, "/controller"))["brokerid"] == 0
        assert int(zk_get(zk, "/controller_epoch")) >= 1
        topic = json.loads(zk_get(zk, "/brokers/topics/laid-out"))
        assert topic["partitions"] == {"0": [0]}
        assert len(topic["topic_id"]) == 22
        state = json.loads(zk_get(zk, "/brokers/topics/laid-out/partitions/0/state"))
        assert state["leader"] == 0 and state["isr"] == [0]
        cluster = json.loads(zk_get(zk, "/cluster/id"))
        assert cluster["version"] == "1" and len(cluster["id"]) == 22
    finally:
        assert b.stop() == 0
    # A clean stop removes the registration and resigns.
    assert zk_get(zk, "/brokers/ids/0") is None
    assert zk_get(zk, "/controller") is None


def test_a_restart_waits_again_when_a_zookeeper_restart_renews_the_dead_session(zk, tmp_path):
    """kill -9 leaves the broker's registration with its dead session. If
    ZooKeeper restarts while the broker waits for that session to expire, the
    restored session gets a fresh timeout: the broker must wait a full period
    again once ZooKeeper is back (it used to give up and exit)."""
    b = Broker(tmp_path / "b", zookeeper=zk.connect).start()  # 6 s sessions: a 9 s wait

    def registered(times, timeout):
        deadline = time.time() + timeout
        while b.log_text().count("registered broker 0 ") < times and b.alive() and time.time() < deadline:
            time.sleep(0.1)
        return b.log_text().count("registered broker 0 ") >= times

    assert registered(1, 20)
    b.kill9()

    def bounce_zookeeper():
        time.sleep(3)
        zk.stop()
        time.sleep(2)
        zk.start()

    bouncer = threading.Thread(target=bounce_zookeeper)
    bouncer.start()
    try:
        b.start()
        registered(2, 60)
    finally:
        bouncer.join()
    try:
        assert b.alive(), "the broker gave up waiting for its old registration"
        log = b.log_text()
        assert "is still registered by a previous session" in log
        assert "the coordination store is back" in log, "the wait was not restarted"
        produce(b.bootstrap, "after-bounce", [{"value": b"x"}])
        assert [m.value() for m in consume(b.bootstrap, "after-bounce", 1)] == [b"x"]
    finally:
        assert b.stop() == 0


def test_broker_rejoins_after_its_zookeeper_session_expired(zk, tmp_path):
    proxy = CuttableProxy(zk.port)
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.session.timeout.ms: 4000\n").start()
    try:
        produce(b.bootstrap, "before", [{"value": b"a"}] * 5)
        # Cut for twice the session timeout: ZooKeeper expires the session
        # meanwhile. The C client's reconnect timing varies; a cut that did
        # not end in an expiry within 20 s is repeated (at most 3 times).
        for _ in range(3):
            proxy.cut()
            time.sleep(8)
            proxy.restore()
            deadline = time.time() + 20
            while time.time() < deadline and "is now the controller (controller epoch 2)" not in b.log_text():
                time.sleep(0.2)
            if "is now the controller (controller epoch 2)" in b.log_text():
                break
        log = b.log_text()
        assert "ZooKeeper session expired" in log
        assert "is now the controller (controller epoch 2)" in log
        assert json.loads(zk_get(zk, "/brokers/ids/0"))["version"] == 5
        produce(b.bootstrap, "before", [{"value": b"b"}] * 5)
        produce(b.bootstrap, "after", [{"value": b"c"}])
        assert [m.value() for m in consume(b.bootstrap, "before", 10)] == [b"a"] * 5 + [b"b"] * 5
        assert consume(b.bootstrap, "after", 1)[0].value() == b"c"
    finally:
        assert b.stop() == 0
        proxy.close()


def test_a_broker_serves_through_a_zookeeper_restart_and_carries_on_after(zk, tmp_path):
    b = Broker(tmp_path / "b", zookeeper=zk.connect, extra_config="zookeeper.session.timeout.ms: 15000\n").start()
    try:
        produce(b.bootstrap, "steady", [{"value": b"a%d" % i} for i in range(5)])
        zk.stop()
        # Records flow without ZooKeeper: the data path never waits for it.
        produce(b.bootstrap, "steady", [{"value": b"b%d" % i} for i in range(5)], acks="all")
        with KafkaConnection(b.port) as conn:
            assert high_watermark(conn, "steady") == 10
        # A request that needs the store waits for it (as Kafka's ZooKeeper client
        # does), on a handler thread: other requests are answered meanwhile.
        created = {}

        def create():
            with KafkaConnection(b.port, timeout=30) as conn:
                created["answer"] = conn.call("CreateTopics", 7, {"Topics": [
                    {"Name": "while-down", "NumPartitions": 1, "ReplicationFactor": 1}], "TimeoutMs": 20000})
                created["at"] = time.time()

        t = threading.Thread(target=create, daemon=True)
        t.start()
        time.sleep(2.0)
        assert "answer" not in created
        with KafkaConnection(b.port) as conn:
            assert high_watermark(conn, "steady") == 10
        # Same data, same port: the session is still valid when it comes back,
        # and the waiting request goes through.
        back = time.time()
        zk.start()
        t.join(20)
        assert created["answer"]["Topics"][0]["ErrorCode"] == 0, created["answer"]
        assert created["at"] >= back
        assert json.loads(zk_get(zk, "/brokers/ids/0"))["port"] == b.port
        assert "ZooKeeper session expired" not in b.log_text()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("after-restart", 2, 1)])["after-restart"].result(30)
        produce(b.bootstrap, "after-restart", [{"value": b"c", "partition": 1}])
        assert consume(b.bootstrap, "after-restart", 1, partitions=2)[0].value() == b"c"
        produce(b.bootstrap, "while-down", [{"value": b"w"}])
        produce(b.bootstrap, "steady", [{"value": b"d"}])
        assert [m.value() for m in consume(b.bootstrap, "steady", 11)][-1] == b"d"
    finally:
        assert b.stop() == 0


def test_sigterm_with_zookeeper_down_stops_at_once_and_answers_what_waits(zk, tmp_path):
    b = Broker(tmp_path / "b", zookeeper=zk.connect, extra_config="zookeeper.session.timeout.ms: 15000\n").start()
    while "started: broker.id" not in b.log_text():
        time.sleep(0.05)
    zk.stop()
    answer = {}

    def create():
        with KafkaConnection(b.port, timeout=30) as conn:
            answer["resp"] = conn.call("CreateTopics", 7, {"Topics": [
                {"Name": "never", "NumPartitions": 1, "ReplicationFactor": 1}], "TimeoutMs": 20000})

    t = threading.Thread(target=create, daemon=True)
    t.start()
    time.sleep(1.0)  # waiting for ZooKeeper now (up to the 15 s connection timeout)
    start = time.time()
    assert b.stop() == 0
    assert time.time() - start < 5
    t.join(10)
    # The waiting request stops waiting and is told to retry, not left to hang.
    assert answer["resp"]["Topics"][0]["ErrorCode"] == 7  # REQUEST_TIMED_OUT
    assert b.log_text().rstrip().endswith("keel stopped")


def test_a_new_broker_takes_the_cluster_id_from_the_store(zk, tmp_path):
    """A second broker started with an empty data directory against a
    ZooKeeper that already holds a cluster joins that cluster (Kafka's rule:
    the id in /cluster/id is written to its meta.properties); a broker whose
    meta.properties names another cluster refuses to start, saying why."""
    chroot = zk.connect + "/joined"
    first = Broker(tmp_path / "first", broker_id=0, zookeeper=chroot).start()
    try:
        cluster_id = json.loads(zk_get(zk, "/joined/cluster/id"))["id"]
        assert "cluster.id=%s\n" % cluster_id in (first.dir / "data" / "meta.properties").read_text()
        second = Broker(tmp_path / "second", broker_id=1, zookeeper=chroot).start()
        try:
            # The port opens before the broker joins the store: wait until it has.
            deadline = time.time() + 20
            while time.time() < deadline:
                brokers = AdminClient({"bootstrap.servers": second.bootstrap}).list_topics(timeout=10).brokers
                if set(brokers) == {0, 1}:
                    break
                time.sleep(0.2)
            assert set(brokers) == {0, 1}
            meta = (second.dir / "data" / "meta.properties").read_text()
            assert "cluster.id=%s\n" % cluster_id in meta and "broker.id=1\n" in meta
        finally:
            assert second.stop() == 0
        # The second broker restarts on its own meta.properties.
        second.start()
        assert second.stop() == 0

        stranger = Broker(tmp_path / "stranger", broker_id=2, zookeeper=chroot)
        (stranger.dir / "data").mkdir(parents=True)
        (stranger.dir / "data" / "meta.properties").write_text(
            "version=0\nbroker.id=2\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\n")
        out = subprocess.run([KEEL_BIN, "--config", str(stranger.config_path)], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0
        said = out.stderr + stranger.log_text()
        assert ("the coordination store belongs to cluster %s but meta.properties says this broker belongs to "
                "AAAAAAAAAAAAAAAAAAAAAA" % cluster_id) in said, said
        assert json.loads(zk_get(zk, "/joined/cluster/id"))["id"] == cluster_id
    finally:
        assert first.stop() == 0
