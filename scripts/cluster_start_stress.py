#!/usr/bin/python3
"""Starts 3-broker ZooKeeper clusters again and again and checks that every
broker learns the whole cluster from the controller (UpdateMetadata) in time:
the race of issue 21 where a broker answered Metadata with no brokers for
seconds after the controller had connected to it.

Each round starts the three brokers at once (a fresh ZooKeeper chroot, fresh
data directories), then polls each broker's Metadata until it lists all three
brokers, or --within seconds pass. A round that misses keeps its directories
and prints their paths with the controller's and the late broker's log lines
about the channel; the others are removed.

  KEEL_BIN=build-x/src/keel scripts/cluster_start_stress.py --rounds 30
  KEEL_BIN=... scripts/cluster_start_stress.py --rounds 30 --security sasl_ssl

--security sasl_ssl: the brokers talk to each other over SASL_SSL with
SCRAM-SHA-512 (tests/integration/test_interbroker_sasl.py's set-up); the
check still asks over the PLAINTEXT listener.

--pause-zookeeper S: right after (0 to 0.2 s) the last broker registers,
while the controller reads the new registration, ZooKeeper is stopped
(SIGSTOP) for S seconds, so store calls in flight fail with a connection
loss (S above the client's read timeout, 2/3 of zookeeper.session.timeout.ms
= 4 s here, and below the 6 s session timeout). A broker that fails to start
because of it (its start-up reads are not retried) is counted apart.
Not part of CI (minutes)."""

import argparse
import random
import signal
import threading
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from confluent_kafka.admin import AdminClient  # noqa: E402

from conftest import KEEL_BIN, Broker, ZooKeeper, wait_for_port  # noqa: E402


def brokers_seen(broker):
    """The broker ids `broker` itself answers Metadata with (None: no answer)."""
    try:
        md = AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 2000, "log_level": 0}).list_topics(timeout=3)
    except Exception:  # noqa: BLE001 - not answering yet is a normal state while starting
        return None
    # librdkafka asks the bootstrap broker: its answer is what that broker's cache holds.
    return sorted(md.brokers)


def make_brokers(zk, workdir, security, pki):
    chroot = zk.connect + "/stress-" + uuid.uuid4().hex[:8]
    if security == "plaintext":
        return [Broker(workdir / ("b%d" % i), broker_id=i, zookeeper=chroot) for i in (1, 2, 3)]
    from test_interbroker_sasl import PASSWORD, sasl_ssl_broker, scram_user
    path = chroot[len(zk.connect):]
    scram_user(zk, path, "broker", PASSWORD)
    return [sasl_ssl_broker(workdir / ("b%d" % i), i, chroot, pki) for i in (1, 2, 3)]


def start_together(brokers):
    """Every process first, then wait for their ports: the registrations race."""
    for b in brokers:
        with open(b.dir / "keel.out", "ab") as out:
            b.proc = subprocess.Popen([KEEL_BIN, "--config", str(b.config_path)], stdout=out, stderr=subprocess.STDOUT)
    for b in brokers:
        wait_for_port(b.port, b.proc, timeout=30)


def pause(zk, brokers, after, seconds):
    deadline = time.time() + 30
    while time.time() < deadline and not all("registered broker" in b.log_text() for b in brokers):
        time.sleep(0.01)
    time.sleep(after)
    zk.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        zk.proc.send_signal(signal.SIGCONT)


def channel_lines(broker):
    keys = ("controller", "UpdateMetadata", "is live", "went offline", "authenticat", "retrying", "trying again",
            "cannot")
    return [l for l in broker.log_text().splitlines() if any(k in l for k in keys)][-40:]


def run_round(zk, root, n, args, pki):
    workdir = Path(tempfile.mkdtemp(prefix="round%d-" % n, dir=root))
    brokers = make_brokers(zk, workdir, args.security, pki)
    started = time.time()
    pauser = None
    if args.pause_zookeeper:
        pauser = threading.Thread(target=pause, args=(zk, brokers, random.uniform(0, 0.2), args.pause_zookeeper))
        pauser.start()
    try:
        start_together(brokers)
        if pauser:
            pauser.join()
        late = {}
        for b in brokers:
            seen = None
            while time.time() - started < args.within:
                seen = brokers_seen(b)
                if seen == [1, 2, 3]:
                    break
                time.sleep(0.1)
            if seen != [1, 2, 3]:
                late[b.broker_id] = seen
        took = time.time() - started
        if not late:
            shutil.rmtree(workdir, ignore_errors=True)
            return "ok", took
        failed = [b.broker_id for b in brokers if "keel failed to start" in b.log_text()]
        if failed:
            print("round %d: brokers %s failed to start (a start-up store call lost its connection)" % (n, failed))
            shutil.rmtree(workdir, ignore_errors=True)
            return "start failed", took
        print("round %d: brokers %s did not list all three within %.0f s (they saw %s); kept in %s"
              % (n, sorted(late), args.within, late, workdir))
        for b in brokers:
            print("--- broker %d" % b.broker_id)
            for line in channel_lines(b):
                print("   ", line)
        return "MISSED", took
    finally:
        for b in brokers:
            if b.alive():
                b.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--within", type=float, default=15.0, help="seconds from start to a full broker list")
    p.add_argument("--pause-zookeeper", type=float, default=0, metavar="S")
    p.add_argument("--security", choices=("plaintext", "sasl_ssl"), default="plaintext")
    args = p.parse_args()
    if not os.path.exists(os.environ.get("KEEL_BIN", "")):
        sys.exit("set KEEL_BIN to the keel binary")
    # SIGTERM stops the run like ^C: the finally clauses stop the brokers and ZooKeeper.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    root = Path(tempfile.mkdtemp(prefix="keel-start-stress-"))
    zk = ZooKeeper().start()
    pki = None
    if args.security == "sasl_ssl":
        from test_modern_security import Pki
        pki = Pki(root / "pki")
    outcomes, times = [], []
    try:
        for n in range(1, args.rounds + 1):
            outcome, took = run_round(zk, root, n, args, pki)
            outcomes.append(outcome)
            if outcome == "ok":
                times.append(took)
            print("round %d: %s in %.1f s" % (n, outcome, took), flush=True)
    finally:
        zk.cleanup()
    failures = outcomes.count("MISSED")
    print("%d rounds: %d ok, %d missed, %d failed to start; slowest full view %.1f s"
          % (args.rounds, outcomes.count("ok"), failures, outcomes.count("start failed"), max(times, default=0)))
    if failures == 0:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
