"""A broker starting while ZooKeeper is away rides the outage out, as Kafka's
does (KafkaZkClient retries until connected, up to
zookeeper.connection.timeout.ms), and gives up with a message that says so
only after that. Each test starts its own ZooKeeper (the zk fixture), so they
run in the ZooKeeper pass only (conftest marks them `cluster`)."""

import subprocess
import threading
import time

import pytest

from conftest import KEEL_BIN, Broker, ZooKeeper
from test_produce_consume import consume, produce
from test_zookeeper import CuttableProxy


@pytest.fixture
def zk():
    z = ZooKeeper()  # not started: each test starts it when it wants
    yield z
    z.cleanup()


class CutOnRequest(CuttableProxy):
    """Forwards to ZooKeeper until the `nth` request mentioning `marker` (a
    path) comes, then drops every connection before that packet reaches
    ZooKeeper and refuses new ones for `outage` seconds (None: for good):
    ZooKeeper lost in the middle of one chosen start-up step."""

    def __init__(self, target_port, marker, nth=1, outage=None):
        self.marker, self.nth, self.outage = marker, nth, outage
        self.seen = 0
        self.fired = threading.Event()
        super().__init__(target_port)

    def _pump(self, src, dst):
        # Only requests count: a create's answer names its path too.
        if dst.getpeername()[1] == self.target_port:
            src = _Watched(src, self)
        CuttableProxy._pump(src, dst)

    def seen_request(self, data):
        """True when `data` is the packet to cut at (it is not forwarded)."""
        if self.fired.is_set() or self.marker not in data:
            return False
        with self.lock:
            self.seen += 1
            if self.seen != self.nth:
                return False
        self.fired.set()
        self.cut()
        if self.outage is not None:
            threading.Timer(self.outage, self.restore).start()
        return True


class _Watched:
    """A client socket whose requests CutOnRequest looks at before they pass."""

    def __init__(self, sock, proxy):
        self.sock, self.proxy = sock, proxy

    def recv(self, n):
        data = self.sock.recv(n)
        return b"" if data and self.proxy.seen_request(data) else data

    def shutdown(self, how):
        self.sock.shutdown(how)

    def close(self):
        self.sock.close()


def started(b, timeout):
    """Waits for the broker's "started" line; False if it exited or took longer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "started: broker.id" in b.log_text():
            return True
        if not b.alive():
            return False
        time.sleep(0.1)
    return False


def serves(b, topic):
    produce(b.bootstrap, topic, [{"value": b"v%d" % i} for i in range(3)])
    assert [m.value() for m in consume(b.bootstrap, topic, 3)] == [b"v0", b"v1", b"v2"]


def test_a_broker_started_before_zookeeper_waits_for_it(zk, tmp_path):
    b = Broker(tmp_path / "b", zookeeper=zk.connect, extra_config="zookeeper.connection.timeout.ms: 30000\n")
    b.start()  # the listeners open before the store is joined
    try:
        time.sleep(4)
        assert b.alive(), "the broker gave up on a ZooKeeper 4 s away:\n" + b.log_text()[-2000:]
        assert "started: broker.id" not in b.log_text()
        zk.start()
        assert started(b, 30), b.log_text()[-3000:]
        serves(b, "late-zookeeper")
    finally:
        assert b.stop() == 0


def test_zookeeper_lost_during_start_up_is_waited_for(zk, tmp_path):
    """The issue's case: ZooKeeper goes (a restart) just as the broker reads
    its client quotas; the broker used to exit "cannot read client quotas
    from the store: connection to the store lost"."""
    zk.start()
    # The 2nd packet naming /config/clients: the 1st creates it (ensure_paths),
    # the 2nd is the quota manager's read.
    proxy = CutOnRequest(zk.port, b"/config/clients", nth=2, outage=3.0)
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.connection.timeout.ms: 20000\n")
    try:
        b.start()
        assert started(b, 40), b.log_text()[-3000:]
        assert proxy.fired.is_set(), "the test's cut never happened"
        log = b.log_text()
        # The store itself waits for the connection and sends the read again
        # (as Kafka's KafkaZkClient): the start-up step never sees the loss.
        assert "ZooKeeper children /config/clients: connection loss; sending it again once the connection is back" \
            in log, log[-3000:]
        serves(b, "after-blip")
    finally:
        assert b.stop() == 0
        proxy.close()


def test_zookeeper_gone_past_the_connection_timeout_fails_the_start_saying_why(zk, tmp_path):
    zk.start()
    proxy = CutOnRequest(zk.port, b"/config/clients", nth=2, outage=None)
    b = Broker(tmp_path / "b", zookeeper="127.0.0.1:%d" % proxy.port,
               extra_config="zookeeper.connection.timeout.ms: 8000\n")  # a loaded machine's first session is slow
    try:
        started_at = time.time()
        out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=60)
        took = time.time() - started_at
        assert proxy.fired.is_set()
        assert out.returncode != 0
        said = out.stderr + b.log_text()
        assert ("cannot read client quotas from the store: connection to the store lost (the coordination store "
                "stayed unreachable for 8000 ms, the limit zookeeper.connection.timeout.ms sets)") in said, said[-3000:]
        assert 8 <= took < 45, took
    finally:
        proxy.close()


def test_no_zookeeper_at_all_fails_the_start_after_the_connection_timeout(zk, tmp_path):
    b = Broker(tmp_path / "b", zookeeper=zk.connect, extra_config="zookeeper.connection.timeout.ms: 2000\n")
    started_at = time.time()
    out = subprocess.run([KEEL_BIN, "--config", str(b.config_path)], capture_output=True, text=True, timeout=60)
    took = time.time() - started_at
    assert out.returncode != 0
    assert ("cannot connect to ZooKeeper at %s: no session within 2000 ms (zookeeper.connection.timeout.ms)"
            % zk.connect) in out.stderr, out.stderr
    assert 2 <= took < 20, took
