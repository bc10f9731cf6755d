"""Integration-test harness: real keel processes on loopback.

Every broker gets a port chosen free at run time, its own temporary config and
log directory, and is stopped by PID at the end of its test (SIGTERM, then
SIGKILL only if it does not stop). Tests may run in parallel.

KEEL_STORE=zookeeper runs every broker against a real ZooKeeper (Debian's
package) that the harness starts once on a free loopback port; each broker
gets its own chroot, so tests stay independent. The default is the embedded
store.
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEEL_BIN = os.environ.get("KEEL_BIN", str(REPO / "build" / "src" / "keel"))


def _port_slice():
    """The ports this process hands out: below the kernel's ephemeral range,
    so that no client's outgoing connection (which takes an ephemeral port)
    can take a broker's port between free_port() and keel's bind, and split
    between pytest-xdist workers, so that two workers never pick the same
    one. None where the ephemeral range leaves no room below it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    first, last = 10000, low - 1
    if last - first < 1000:
        return None
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    size = (last - first + 1) // max(workers, 1)
    return first + worker * size, first + (worker + 1) * size - 1


_PORTS = _port_slice()
_handed_out = set()


def free_port():
    """A loopback port nobody listens on now and this process has not handed out before."""
    if _PORTS is not None:
        rng = random.Random()
        for _ in range(200):
            port = rng.randint(*_PORTS)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("keel exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("keel did not listen on %d within %.0fs" % (port, timeout))


class ZooKeeper:
    """A ZooKeeper server in a temporary directory, stopped by PID."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="keel-zk-"))
        self.port = free_port()
        self.proc = None

    @property
    def connect(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        classpath = "/etc/zookeeper/conf:" + ":".join(
            str(p) for p in sorted(Path("/usr/share/java").glob("*.jar")))
        log = open(self.dir / "zookeeper.out", "ab")
        self.proc = subprocess.Popen(
            # forceSync=no: once, on a CI machine busy with four test workers, a
            # kazoo session start timed out after 15 s against a ZooKeeper that
            # answered ruok; a session's creation waits for the fsync of
            # ZooKeeper's transaction log, the likeliest wait there. No test here
            # crashes the machine, so what ZooKeeper wrote survives a kill of its
            # process anyway.
            ["java", "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=ruok",
             "-Dzookeeper.forceSync=no",
             "-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.port),
             str(self.dir / "data")], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ZooKeeper exited: %s" % (self.dir / "zookeeper.out").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                    c.sendall(b"ruok")
                    if c.recv(4) == b"imok":
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("ZooKeeper did not start on %d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


STORE = os.environ.get("KEEL_STORE", "embedded")
_zookeeper = None


def shared_zookeeper():
    """The suite's ZooKeeper (KEEL_STORE=zookeeper), started on first use."""
    global _zookeeper
    if _zookeeper is None:
        _zookeeper = ZooKeeper().start()
        atexit.register(_zookeeper.cleanup)
    return _zookeeper


# Every test broker is a single node configured like Kafka's own single-node
# config/server.properties: the internal topics get replication factor 1 (the
# default, 3, cannot be placed on one broker; __transaction_state min ISR 1 too), and the first rebalance of a
# new group does not wait group.initial.rebalance.delay.ms (3 s) for more
# members. A stopping broker of a test cluster retries its controlled
# shutdown after 200 ms, not 5 s: at a test's end the last brokers have
# nobody to hand their leaderships to. extra_config overrides any of these.
BASE_DEFAULTS = {
    "num.network.threads": "2",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "controlled.shutdown.retry.backoff.ms": "200",
}


class Broker:
    """One keel process with its own directory."""

    def __init__(self, workdir, broker_id=0, extra_config="", zookeeper=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.broker_id = broker_id
        self.port = free_port()
        self.log_path = self.dir / "keel.log"
        self.config_path = self.dir / "keel.yaml"
        # Defaults a test may override: a key given twice is an error in keel's
        # YAML, so a key extra_config sets is left out here.
        overridden = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:", extra_config, re.M))
        defaults = "".join("%s: %s\n" % (k, v) for k, v in BASE_DEFAULTS.items() if k not in overridden)
        self.config_path.write_text(
            "broker.id: %d\n"
            "listeners: PLAINTEXT://127.0.0.1:%d\n"
            "log.dirs: %s\n"
            "%s"
            "logging:\n  level: debug\n  file: %s\n%s"
            % (broker_id, self.port, self.dir / "data", defaults, self.log_path, extra_config))
        # ZooKeeper mode: a chroot of its own, kept across restarts of this broker.
        if zookeeper is None and STORE == "zookeeper":
            zookeeper = shared_zookeeper().connect + "/keel-" + uuid.uuid4().hex[:12]
        if zookeeper:
            with open(self.config_path, "a") as f:
                f.write("zookeeper.connect: %s\n" % zookeeper)
                # Short sessions so a restart after kill -9 waits little for the old one.
                if "zookeeper.session.timeout.ms" not in extra_config:
                    f.write("zookeeper.session.timeout.ms: 6000\n")
        self.zookeeper = zookeeper
        self.proc = None

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        # Its output goes to a file: a pipe nobody reads would stop the
        # broker once 64 KiB had been written to it.
        with open(self.dir / "keel.out", "ab") as out:
            self.proc = subprocess.Popen([KEEL_BIN, "--config", str(self.config_path)],
                                         stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.dump_stacks()
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill9(self):
        """SIGKILL, as a machine losing power would stop it (no clean shutdown)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def dump_stacks(self):
        """A broker that does not stop: keep its threads' stacks for the report."""
        if shutil.which("gdb") is None:
            return
        out = subprocess.run(["gdb", "-batch", "-p", str(self.proc.pid), "-ex", "thread apply all bt 20"],
                             capture_output=True, text=True, timeout=60)
        (self.dir / "hang-stacks.txt").write_text(out.stdout)
        print("keel did not stop; stacks in %s" % (self.dir / "hang-stacks.txt"))

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    code = b.stop()
    assert code == 0, "keel did not stop cleanly (exit %s)" % code
    assert "keel stopped" in b.log_text()


@pytest.fixture
def make_broker(tmp_path):
    """Factory for tests that need their own settings or restarts."""
    made = []

    def make(name="broker", **kwargs):
        b = Broker(tmp_path / name, **kwargs)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: starts its own ZooKeeper and several brokers; the store pass "
                                       "(KEEL_STORE) does not matter to it, so CI runs it once")


def pytest_collection_modifyitems(config, items):
    """Tests that start a cluster on their own ZooKeeper (the zk fixture, or
    test_replication_matrix's module cluster) are marked `cluster`:
    scripts/test.sh runs them in the ZooKeeper pass only."""
    own_zookeeper = {"zk", "matrix_cluster"}
    for item in items:
        if own_zookeeper & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
