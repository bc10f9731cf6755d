"""ZooKeeper and keel brokers, each in its own namespace of a Topology.

Every process is started by the harness with `ip netns exec` (which execs in
place, so Popen's PID is the program's) and is signalled by that PID only:
kill -9, SIGTERM, SIGSTOP, SIGCONT. Helpers are copied in spirit from
tests/integration/conftest.py (which this harness must not change): ZooKeeper
is Debian's, run as ZooKeeperServerMain with a port and a data directory.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import security
from security import CLIENT_PORT

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KEEL_BIN = os.environ.get("KEEL_BIN", str(REPO / "build" / "src" / "keel"))
ZK_PORT = 2181
KAFKA_PORT = 9092
# 6 s keeps fault cycles short; KEEL_CHAOS_SESSION_MS=18000 runs at Kafka's default.
SESSION_TIMEOUT_MS = int(os.environ.get("KEEL_CHAOS_SESSION_MS", "6000"))


def wait_for_file(path, timeout=120.0):
    """The keel binary is rebuilt in place by others; it may vanish briefly."""
    deadline = time.monotonic() + timeout
    while not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if time.monotonic() > deadline:
            raise RuntimeError("%s missing for %.0fs" % (path, timeout))
        time.sleep(1.0)


_procs = []  # every Proc made, so an exiting harness leaves none running


def _kill_all():
    for p in _procs:
        try:
            p.kill9()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_kill_all)


class Proc:
    """A process in a namespace, known by PID."""

    def __init__(self):
        self.proc = None
        self.paused = False
        _procs.append(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill9(self):
        if self.proc is None:
            return
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.paused = False

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def terminate(self, timeout=15.0):
        """SIGTERM (after SIGCONT if paused); SIGKILL if it does not stop."""
        if self.proc is None:
            return None
        if self.alive():
            if self.paused:
                self.resume()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        self.paused = False
        return code


def probe(topo, *args, timeout=40):
    """Run probe.py in the ctl namespace and return its JSON answer."""
    r = topo.run("ctl", [sys.executable, str(HERE / "probe.py")] + [str(a) for a in args],
                 capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": (r.stderr or r.stdout)[-500:]}


class ZooKeeperNode(Proc):
    def __init__(self, topo, workdir, host="zk"):
        super().__init__()
        self.topo, self.host = topo, host
        self.dir = Path(workdir) / "zk"
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def connect(self):
        return "%s:%d" % (self.topo.addr[self.host], ZK_PORT)

    def start(self, timeout=60.0):
        classpath = "/etc/zookeeper/conf:" + ":".join(
            str(p) for p in sorted(Path("/usr/share/java").glob("*.jar")))
        log = open(self.dir / "zookeeper.out", "ab")
        # A small heap and a lower priority: two cores are shared with the brokers.
        argv = ["nice", "-n", "5", "java", "-Xmx192m", "-XX:+UseSerialGC",
                "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=ruok",
                "-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(ZK_PORT), str(self.dir / "data")]
        self.proc = subprocess.Popen(self.topo.cmd(self.host, argv), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        r = probe(self.topo, "ruok", self.topo.addr[self.host], ZK_PORT, timeout, timeout=timeout + 20)
        if not r.get("ok"):
            tail = (self.dir / "zookeeper.out").read_text(errors="replace")[-2000:]
            self.kill9()
            raise RuntimeError("ZooKeeper did not answer ruok: %s" % tail)
        return self


class KeelBroker(Proc):
    def __init__(self, topo, workdir, broker_id, zk_connect, extra=None, tmpfs_mb=None, security=None):
        super().__init__()
        self.security = security  # security.SaslSsl or Gssapi: the workload's and the brokers' own listener
        self.tmpfs_mb = tmpfs_mb  # the data dir on a tmpfs of this size (DiskFull fills it)
        self.mounted = False
        self.topo = topo
        self.broker_id = broker_id
        self.host = "b%d" % broker_id
        self.dir = Path(workdir) / self.host
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "keel.log"
        self.config_path = self.dir / "keel.yaml"
        self.starts = 0
        cfg = {
            "broker.id": broker_id,
            "listeners": "PLAINTEXT://%s:%d" % (self.address, KAFKA_PORT),
            "log.dirs": str(self.data_dir),
            "zookeeper.connect": zk_connect,
            "zookeeper.session.timeout.ms": SESSION_TIMEOUT_MS,
            "num.network.threads": 1,
            "num.io.threads": 2,
            "group.initial.rebalance.delay.ms": 0,
        }
        if security:
            cfg.update(security.broker_config(self.address, KAFKA_PORT))
        cfg.update(extra or {})
        lines = ["%s: %s" % (k, v) for k, v in cfg.items()]
        lines += ["logging:", "  level: info", "  file: %s" % self.log_path]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def address(self):
        return self.topo.addr[self.host]

    @property
    def bootstrap(self):
        """The harness's probes' address: PLAINTEXT, also on a secured broker."""
        return "%s:%d" % (self.address, KAFKA_PORT)

    @property
    def client_bootstrap(self):
        """The workload's address: the SASL_SSL listener on a secured broker."""
        return "%s:%d" % (self.address, CLIENT_PORT if self.security else KAFKA_PORT)

    def mount(self):
        """The data dir on a tmpfs of tmpfs_mb (before the first start)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.tmpfs_mb, "tmpfs", str(self.data_dir)],
                       check=True, capture_output=True, text=True)
        self.mounted = True

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.data_dir)], check=False, capture_output=True)
            self.mounted = False

    def start(self, timeout=45.0):
        wait_for_file(KEEL_BIN)
        if self.tmpfs_mb and not self.mounted:
            self.mount()
        out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(self.topo.cmd(self.host, [KEEL_BIN, "--config", str(self.config_path)]),
                                     stdout=out, stderr=subprocess.STDOUT,
                                     env=self.security.broker_env() if self.security else None)
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("keel b%d exited with %s: %s" % (
                    self.broker_id, self.proc.returncode, self.log_tail()))
            if probe(self.topo, "port", self.address, KAFKA_PORT, 2).get("ok") and (
                    not self.security or probe(self.topo, "port", self.address, CLIENT_PORT, 2).get("ok")):
                return self
        raise RuntimeError("keel b%d did not listen within %.0fs: %s" % (self.broker_id, timeout, self.log_tail()))

    def wipe(self):
        """Empty the data directory (the broker must be stopped)."""
        assert not self.alive()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, n=1500):
        text = ""
        for p in (self.log_path, self.dir / "stdout.log"):
            if p.exists():
                text += p.read_text(errors="replace")[-n:]
        return text

    def crash_lines(self):
        """Assertion failures and crashes in this broker's logs (check 12)."""
        hits = []
        for p in (self.log_path, self.dir / "stdout.log"):
            if p.exists():
                for line in p.read_text(errors="replace").splitlines():
                    if any(w in line for w in ("assertion failed", "KEEL_ASSERT", "Segmentation fault",
                                                "AddressSanitizer", "terminate called", "[critical]")):
                        hits.append(line[:300])
        return hits


class Cluster:
    """ZooKeeper + N brokers on a Topology whose hosts are zk, b1..bN, cli, ctl."""

    def __init__(self, topo, workdir, n_brokers, broker_extra=None, tmpfs_mb=None, mode=None):
        self.topo = topo
        self.workdir = Path(workdir)
        self.zk = ZooKeeperNode(topo, self.workdir)
        self.security = security.make(mode, self.workdir, [topo.addr["b%d" % i] for i in range(1, n_brokers + 1)],
                                      topo.addr["ctl"], KEEL_BIN)
        self.kdc = Proc()  # the Kerberos KDC of a gssapi run
        self.brokers = {i: KeelBroker(topo, self.workdir, i, self.zk.connect, broker_extra, tmpfs_mb, self.security)
                        for i in range(1, n_brokers + 1)}

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers.values())

    @property
    def client_bootstrap(self):
        return ",".join(b.client_bootstrap for b in self.brokers.values())

    def client_env(self):
        """The environment of workload processes (the client security settings, if any)."""
        return self.security.client_env() if self.security else None

    def start(self):
        self.zk.start()
        if self.security:
            served = self.security.start(self.topo, self.kdc)
            if served and not probe(self.topo, "port", served[0], served[1], 15, timeout=30).get("ok"):
                raise RuntimeError("the KDC did not listen on %s:%d" % served)
            r = probe(self.topo, "zk-create", self.zk.connect, json.dumps(self.security.store_nodes()))
            if not r.get("ok"):
                raise RuntimeError("cannot write the SCRAM users and ACLs: %s" % r)
        for b in self.brokers.values():
            b.start()
        return self

    def live_bootstrap(self):
        live = [b.bootstrap for b in self.brokers.values() if b.alive() and not b.paused]
        return ",".join(live) or self.bootstrap

    def metadata(self, topic=None):
        return probe(self.topo, "metadata", self.live_bootstrap(), *( [topic] if topic else []))

    def metadata_each(self, topic):
        """{broker_id: that live broker's own metadata (or {"error"})}."""
        live = {i: b for i, b in self.brokers.items() if b.alive() and not b.paused}
        if not live:
            return {}
        res = probe(self.topo, "metadata-each", ",".join(b.bootstrap for b in live.values()), topic)
        return {i: res.get(b.bootstrap, {"error": "no answer: %s" % res}) for i, b in live.items()}

    def stop(self):
        for b in self.brokers.values():
            try:
                b.terminate(timeout=10)
            except Exception:  # noqa: BLE001 - keep stopping the rest
                b.kill9()
        try:
            self.zk.terminate(timeout=10)
        except Exception:  # noqa: BLE001
            self.zk.kill9()
        self.kdc.terminate(timeout=5)

    def unmount(self):
        """After the replica checks: the brokers' tmpfs data dirs, if any."""
        for b in self.brokers.values():
            b.unmount()

    def crash_report(self):
        return {b.host: b.crash_lines() for b in self.brokers.values() if b.crash_lines()}
