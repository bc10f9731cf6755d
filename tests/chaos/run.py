"""Run chaos scenarios against keel in network namespaces (as root).

    run.py list
    run.py scenario NAME [--out DIR] [--full] [--workload txn [--ctp-mode subscribe]]
    run.py random --brokers N --duration S [--seed X] [--max-faults K] [--lossy] [--out DIR]
                  [--workload txn [--ctp-mode subscribe]] [--tmpfs-mb MB]

--workload txn swaps the producers for transactional ones that commit or abort
at random (tests/chaos/txn_workload.py) and adds the transactional checks
(txn_checks.py); transaction.timeout.ms is TXN_TIMEOUT_MS. --ctp-mode subscribe
runs its consume-transform-produce leg as two members of one consumer group
that subscribe() and rejoin all run long (txn_ctp.ctp_subscribed_thread).

A scenario: topology (router + zk, b1..bN, cli, ctl), ZooKeeper, N brokers,
the topic, the workload; then warm-up (until acks flow, plus a few seconds),
steady, inject, faulted, heal, recovery (every partition led again; with
replication, no under-replicated partition), stop the workload (outstanding
sends resolved), final read of every partition, checks. The report
(report.json in the output directory) says what the checker found and
whether that matches the scenario's expectation: "safe" scenarios must show
no violation, "loss" controls MUST show lost writes (a harness that cannot
see loss is broken). Exit status 0 when the outcome matches the expectation.

Timings are short by default (CI); --full uses fault-testing.md's 20/60/60/60 s.
Multi-broker scenarios start three brokers (four for the reassign-outsider-*,
reassign-cancel-* and control-four-* ones, the topic on three of them) and
take minutes each: they are refused unless KEEL_CHAOS_CLUSTER=1
(docs/chaos.md has their last results). After a replicated run the brokers'
segment files and leader-epoch checkpoints are compared below the high
watermark (replica_check.py, epoch_check.py).
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checker  # noqa: E402
import nemesis as nm  # noqa: E402
import nemesis_reassign as nmr  # noqa: E402
import replica_check  # noqa: E402
import txn_ctp  # noqa: E402
from cluster import SESSION_TIMEOUT_MS, Cluster, Proc, probe  # noqa: E402
from security import MODES  # noqa: E402
from topology import Topology, install_signal_handlers  # noqa: E402

CLUSTER_READY = os.environ.get("KEEL_CHAOS_CLUSTER") == "1"

SHORT = {"warmup": 5, "steady": 8, "faulted": 15, "recovery": 12}
FULL = {"warmup": 20, "steady": 60, "faulted": 60, "recovery": 60}

SINGLE = dict(brokers=1, rf=1, min_isr=1, partitions=4)
TRIPLE = dict(brokers=3, rf=3, min_isr=2, partitions=6)
# Four brokers, the topic on the first three: reassignment moves onto the fourth.
FOUR = dict(brokers=4, rf=3, min_isr=2, partitions=6, placement=[1, 2, 3])
SAFE_CLIENT = dict(acks="all", idempotence=1)
TXN_TIMEOUT_MS = 10000


def S(fault, expect="safe", **kw):
    d = dict(TRIPLE)
    d.update(SAFE_CLIENT)
    d.update(kw)
    d["fault"] = fault
    d["expect"] = expect
    d.setdefault("unclean", False)
    return d


# Each scenario builds a fresh fault object (faults keep their target).
SCENARIOS = {
    # --- today: one broker, replication factor 1 -----------------------------
    "single-empty-dir-acks1": lambda: S(nm.EmptyDirRestart("any", lossy=True), "loss",
                                        acks="1", idempotence=0, **SINGLE),
    "single-empty-dir-acksall": lambda: S(nm.EmptyDirRestart("any", lossy=True), "loss", **SINGLE),
    "single-kill9-acksall": lambda: S(nm.Kill9("any"), "safe", survivable=False, **SINGLE),
    "single-pause-short": lambda: S(nm.Pause("any", hold=3.0), "safe", **SINGLE),
    "single-pause-long": lambda: S(nm.Pause("any", hold=10.0), "safe", survivable=False, **SINGLE),
    "single-zk-pause": lambda: S(nm.ZooKeeperPause(), "safe", **SINGLE),
    "single-zk-restart": lambda: S(nm.ZooKeeperRestart(), "safe", **SINGLE),
    "single-cut-client": lambda: S(nm.CutClient("any"), "safe", survivable=False, **SINGLE),
    "single-cut-from-zk": lambda: S(nm.CutFromZooKeeper("any"), "safe", **SINGLE),
    "single-fast-bounce": lambda: S(nm.FastBounce("any"), "safe", **SINGLE),
    # --- the cluster: 3 brokers, RF=3, min.insync.replicas=2 ------------------
    "kill9-leader": lambda: S(nm.Kill9("leader")),
    "kill9-follower": lambda: S(nm.Kill9("follower")),
    "kill9-controller": lambda: S(nm.Kill9("controller")),
    "kill9-any": lambda: S(nm.Kill9("any")),
    "sigterm-leader": lambda: S(nm.Terminate("leader")),
    "sigterm-controller": lambda: S(nm.Terminate("controller")),
    # A rolling restart: every broker in turn SIGTERMed (controlled shutdown),
    # started, and every ISR of every topic full again before the next; the
    # controller last (nemesis.RollingRestart), twice over.
    "rolling-sigterm": lambda: S(nm.RollingRestart("sigterm", rounds=2)),
    # Its control: the same schedule with kill -9 and acks=1, the followers
    # fetching at most every 2 s (replica.fetch.min.bytes 1 MiB is never
    # reached, so each fetch waits replica.fetch.wait.max.ms): each killed
    # leader's last ~2 s of acknowledged writes are on it alone, and the
    # clean election of a follower at its session expiry drops them.
    "control-rolling-kill9-acks1": lambda: S(nm.RollingRestart("kill9", rounds=2), "loss", acks="1", idempotence=0,
                                             broker_config={"replica.fetch.wait.max.ms": 2000,
                                                            "replica.fetch.min.bytes": 1048576}),
    # KIP-455 reassignment (the leader removed from the partitions it leads)
    # with a kill -9 right after the request; moved back at heal.
    "reassign-kill9-removed-leader": lambda: S(nm.ReassignDuringKill("leader", "removed")),
    "reassign-kill9-controller": lambda: S(nm.ReassignDuringKill("leader", "controller")),
    "reassign-kill9-other-replica": lambda: S(nm.ReassignDuringKill("leader", "other")),
    # Four brokers: a replica moved onto the broker the topic is not on while a
    # broker is killed or paused (nemesis_reassign); the move must complete.
    "reassign-outsider-kill9-removed-leader": lambda: S(nmr.ReassignToOutsider("leader", "removed"), **FOUR),
    "reassign-outsider-kill9-new": lambda: S(nmr.ReassignToOutsider("follower", "new"), **FOUR),
    "reassign-outsider-pause-other": lambda: S(nmr.ReassignToOutsider("leader", "other", "pause"), **FOUR),
    "reassign-cancel-target-down": lambda: S(nmr.CancelMoveWhoseTargetIsDown(), **FOUR),
    # A throttled move onto the fourth broker still under way while every broker restarts.
    # Small fetches, so that the outsider's first fetch (before the throttle's
    # window has seen any bytes, and again after its own restart) cannot bring
    # the whole backlog at once.
    "reassign-outsider-rolling-sigterm": lambda: S(nmr.ReassignDuringRollingRestart("leader"), **FOUR,
                                                   broker_config={"replica.fetch.max.bytes": 4096}),
    # The four-broker layout's loss control: an acks=1 zombie leader.
    "control-four-isolate-leader-acks1": lambda: S(nm.IsolateCompletely("leader", lossy=True), "loss",
                                                   acks="1", idempotence=0, **FOUR),
    # The leader's disk fills (every broker's data dir on a 256 MB tmpfs): its
    # log dir goes offline, the controller moves its partitions at once.
    "disk-full-leader": lambda: S(nm.DiskFull("leader"), tmpfs_mb=256),
    "disk-full-follower": lambda: S(nm.DiskFull("follower"), tmpfs_mb=256),
    # Kerberos (--security gssapi is implied): the KDC stops answering and a
    # broker is restarted meanwhile; it must rejoin once the KDC is back.
    "kdc-down-restart-follower": lambda: S(nm.KdcOutage("follower"), security="gssapi"),
    "kdc-down-restart-leader": lambda: S(nm.KdcOutage("leader"), security="gssapi"),
    "pause-leader-short": lambda: S(nm.Pause("leader", hold=SESSION_TIMEOUT_MS / 1000 / 2)),
    "pause-leader-long": lambda: S(nm.Pause("leader", hold=SESSION_TIMEOUT_MS / 1000 + 6)),
    "cut-leader-from-brokers": lambda: S(nm.CutFromBrokers("leader")),
    "cut-leader-from-zk": lambda: S(nm.CutFromZooKeeper("leader")),
    "cut-controller-from-zk": lambda: S(nm.CutFromZooKeeper("controller")),
    "cut-client-from-leader": lambda: S(nm.CutClient("leader")),
    "zk-pause": lambda: S(nm.ZooKeeperPause()),
    "zk-restart": lambda: S(nm.ZooKeeperRestart()),
    "fast-bounce-leader": lambda: S(nm.FastBounce("leader")),
    "empty-dir-follower": lambda: S(nm.EmptyDirRestart("follower")),
    # A leader, and the controller (which leads partitions too), restarted on
    # wiped data directories: the seed-17 loss (docs/chaos.md). The broker must
    # not lead what it has no log of; its replicas catch up from the others.
    "empty-dir-leader": lambda: S(nm.EmptyDirRestart("leader")),
    "empty-dir-controller": lambda: S(nm.EmptyDirRestart("controller")),
    # The same, with the other brokers paused while the old session expires, so
    # that the wiped broker is controller again and nobody has moved its
    # leaderships (nemesis.WipedControllerRewins). Lost 19,908 writes before the guard.
    "wiped-controller-rewins": lambda: S(nm.WipedControllerRewins(session_s=18.0),
                                         broker_config={"zookeeper.session.timeout.ms": 18000}),
    # Controls that MUST report loss once the cluster exists (fault-testing.md §2).
    "control-isolate-leader-acks1": lambda: S(nm.IsolateCompletely("leader", lossy=True), "loss",
                                              acks="1", idempotence=0),
    # acks=all with min.isr=1: an isolated leader cannot shrink its ISR without
    # the controller, so it can lose nothing; instead the controller (a leader)
    # is cut from the brokers only, shrinks its ISRs to itself after a short
    # replica.lag.time.max.ms, acks writes alone, and is killed while cut so a
    # follower is elected uncleanly (nemesis.ShrinkAloneThenKill).
    "control-isolate-leader-minisr1": lambda: S(nm.ShrinkAloneThenKill("controller", shrink_s=9.0), "loss",
                                                min_isr=1, unclean=True,
                                                broker_config={"replica.lag.time.max.ms": 3000}),
}


def is_cluster(spec):
    return spec["brokers"] > 1


class Tail:
    """Counts ok events in a growing JSONL file."""

    def __init__(self, path):
        self.path, self.pos, self.ok, self.buf = Path(path), 0, 0, ""

    def poll(self):
        if self.path.exists():
            with open(self.path) as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
            self.buf += data
            lines = self.buf.split("\n")
            self.buf = lines.pop()
            self.ok += sum(1 for l in lines if l.startswith('{"type":"ok"'))
        return self.ok


class Run:
    def __init__(self, spec, out, timings, rate, name):
        self.spec, self.out, self.tm, self.rate, self.name = spec, Path(out), timings, rate, name
        self.out.mkdir(parents=True, exist_ok=True)
        self.topic = "chaos"
        self.nemesis_path = self.out / "nemesis.jsonl"
        self.history = self.out / "history.jsonl"
        self.final = self.out / "final.jsonl"
        self.notes = {}
        self.extra_violations = []
        self.txn = spec.get("workload") == "txn"

    def workload_args(self, final=False):
        """What workload.py run (or final-read) needs for the transactional workload."""
        if not self.txn:
            return []
        seed = self.notes.get("seed")
        return ["--workload", "txn", "--txn-timeout-ms", str(TXN_TIMEOUT_MS)] + (
            ["--seed", str(seed)] if seed is not None and not final else []) + (
            ["--ctp-mode", self.spec.get("ctp_mode", "assign")] if not final else [])

    def log(self, **ev):
        ev.setdefault("t", time.monotonic())
        ev.setdefault("type", "nemesis")
        with open(self.nemesis_path, "a") as f:
            f.write(json.dumps(ev) + "\n")
        print("[%s] %s" % (self.name, json.dumps({k: v for k, v in ev.items() if k != "t"})), flush=True)

    def broker_config(self):
        n = self.spec["brokers"]
        return {"offsets.topic.replication.factor": min(3, n),
                "transaction.state.log.replication.factor": min(3, n),
                "transaction.state.log.min.isr": min(2, n),
                "default.replication.factor": self.spec["rf"],
                "min.insync.replicas": self.spec["min_isr"],
                "unclean.leader.election.enable": str(self.spec["unclean"]).lower(),
                # Timed-out transactions aborted within a second of their
                # timeout (Kafka's sweep runs every 10 s), so lso_stuck's
                # bound is the timeout plus a little; few partitions load fast.
                **({"transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
                    "transaction.state.log.num.partitions": 5} if self.txn else {}),
                **self.spec.get("broker_config", {})}

    def wait_brokers(self, cluster, n, timeout):
        """Seconds until the metadata lists all n brokers (raises after timeout).

        A broker's port answers before the controller has told the others it
        is live: a topic created then is refused with
        INVALID_REPLICATION_FACTOR ("larger than available brokers")."""
        t0 = time.monotonic()
        md = {}
        while time.monotonic() - t0 < timeout:
            md = cluster.metadata()
            if len(md.get("brokers", {})) >= n:
                return round(time.monotonic() - t0, 2)
            time.sleep(0.5)
        raise RuntimeError("only %s of %d brokers in the metadata after %ds" % (
            sorted(md.get("brokers", {})), n, timeout))

    def create_topic(self, topo, cluster, cfg, retry_for=10.0, topic=None):
        """CreateTopics, retried on INVALID_REPLICATION_FACTOR for retry_for s:
        the broker answering may not have heard of every live broker yet
        even when another broker's metadata lists them all."""
        s = self.spec
        t0 = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            placement = s.get("placement")
            assignment = [[placement[(p + k) % len(placement)] for k in range(s["rf"])]
                          for p in range(s["partitions"])] if placement else None
            r = probe(topo, "create-topic", cluster.bootstrap, topic or self.topic, s["partitions"], s["rf"],
                      json.dumps(cfg), *([json.dumps(assignment)] if assignment else []))
            if r.get("ok"):
                self.notes["create_topic_attempts"] = attempts
                return
            if "INVALID_REPLICATION_FACTOR" not in str(r.get("error")) or time.monotonic() - t0 > retry_for:
                raise RuntimeError("create topic (attempt %d): %s" % (attempts, r))
            time.sleep(0.5)

    def wait_leaders(self, cluster, timeout, full_isr=False):
        """Seconds until every partition has a leader (and a full ISR), or None."""
        if full_isr:
            return self.wait_full_isr_agreed(cluster, timeout)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            md = cluster.metadata(self.topic)
            parts = md.get("partitions", {})
            if len(parts) == self.spec["partitions"] and all(
                    p["leader"] is not None and p["leader"] >= 0 and not p.get("error")
                    and (not full_isr or len(p["isr"]) == len(p["replicas"])) for p in parts.values()):
                return round(time.monotonic() - t0, 2)
            time.sleep(1)
        return None

    def wait_full_isr_agreed(self, cluster, timeout):
        """Seconds until every live broker's own metadata shows every partition
        led with a full ISR, all of them the same, on two polls in a row; or None.

        One broker's cache can be stale: a broker that was cut from ZooKeeper
        or isolated gets no UpdateMetadata while unregistered and, just after
        the heal, still shows its pre-fault view (itself leading, full ISR)."""
        t0 = time.monotonic()
        prev = None
        last = None
        while time.monotonic() - t0 < timeout:
            views = cluster.metadata_each(self.topic)
            last = views
            agreed = self.agreed_full_view(views)
            if agreed is not None and agreed == prev:
                return round(time.monotonic() - t0, 2)
            prev = agreed
            time.sleep(1)
        self.notes["last_metadata_views"] = last
        return None

    def agreed_full_view(self, views):
        """The one view every broker answered, if it is complete with full ISRs."""
        n = self.spec["partitions"]
        agreed = None
        if not views:
            return None
        for bid, md in views.items():
            parts = md.get("partitions") if "error" not in md else None
            if not parts or len(parts) != n:
                return None
            view = {}
            for pid, p in parts.items():
                if p.get("error") or p["leader"] is None or p["leader"] < 0 \
                        or sorted(p["isr"]) != sorted(p["replicas"]) \
                        or len(p["replicas"]) != self.spec.get("rf", len(p["replicas"])):
                    return None
                view[pid] = (p["leader"], tuple(sorted(p["isr"])), tuple(sorted(p["replicas"])))
            if agreed is None:
                agreed = view
            elif view != agreed:
                return None
        return agreed

    def start_workload(self, topo, cluster):
        s = self.spec
        per = max(1.0, self.rate / 2)
        argv = [sys.executable, str(HERE / "workload.py"), "run", "--bootstrap", cluster.client_bootstrap,
                "--topic", self.topic, "--partitions", str(s["partitions"]), "--out", str(self.history),
                "--producers", "2", "--consumers", "2", "--rate", str(per), "--acks", str(s["acks"]),
                "--idempotence", str(s["idempotence"]), "--retries", "0"] + self.workload_args()
        w = Proc()
        log = open(self.out / "workload.out", "ab")
        import subprocess
        w.proc = subprocess.Popen(topo.cmd("cli", argv), stdout=log, stderr=subprocess.STDOUT, env=cluster.client_env())
        log.close()
        return w

    def sleep(self, secs, workload):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if not workload.alive():
                raise RuntimeError("workload exited early: %s" % (self.out / "workload.out").read_text()[-2000:])
            time.sleep(min(0.5, max(0, end - time.monotonic())))

    def execute(self, schedule):
        """schedule(nemesis, workload) runs the fault phases."""
        s = self.spec
        hosts = ["zk"] + ["b%d" % i for i in range(1, s["brokers"] + 1)] + ["cli", "ctl"]
        topo = Topology(hosts)
        cluster = None
        workload = None
        final_md = None
        t_start = time.monotonic()
        try:
            topo.setup()
            self.notes["topology"] = {"tag": topo.tag, "subnet": str(topo.subnet), "addresses": topo.addr}
            cluster = Cluster(topo, self.out, s["brokers"], self.broker_config(), s.get("tmpfs_mb"),
                              s.get("security"))
            cluster.start()
            self.notes["brokers_registered_s"] = self.wait_brokers(cluster, s["brokers"], 30)
            cfg = {"min.insync.replicas": str(s["min_isr"]),
                   "unclean.leader.election.enable": str(s["unclean"]).lower()}
            cfg.update(s.get("topic_config", {}))
            self.create_topic(topo, cluster, cfg)
            if self.txn:  # consume-transform-produce's output (txn_ctp.py)
                self.create_topic(topo, cluster, cfg, topic=txn_ctp.out_topic(self.topic))
            if self.wait_leaders(cluster, 60) is None:
                raise RuntimeError("topic has no leaders: %s" % cluster.metadata(self.topic))
            self.notes["effective_config"] = probe(topo, "configs", cluster.bootstrap, self.topic, 1)
            md = cluster.metadata(self.topic)
            self.notes["initial_metadata"] = md
            p0 = md.get("partitions", {}).get("0", {})
            self.notes["leader_is_controller"] = p0.get("leader") == md.get("controller")
            workload = self.start_workload(topo, cluster)
            tail = Tail(self.history)
            # warm-up: until acks flow, then the warm-up period
            t0 = time.monotonic()
            while tail.poll() < 20:
                if time.monotonic() - t0 > 60:
                    raise RuntimeError("no acks within 60 s of warm-up")
                self.sleep(0.5, workload)
            self.log(phase="warm", acks=tail.ok)
            self.sleep(self.tm["warmup"], workload)
            self.log(phase="steady", acks=tail.poll())
            self.sleep(self.tm["steady"], workload)
            nem = nm.Nemesis(cluster, self.topic, self.log, random.Random(self.notes.get("seed")))
            schedule(nem, workload, tail)
            self.extra_violations += nem.violations
            # recovery
            lead = self.wait_leaders(cluster, 60, full_isr=is_cluster(s))
            self.notes["leaders_after_heal_s"] = lead
            if lead is None:
                self.extra_violations.append("no_leader_or_urp_after_heal")
            self.log(phase="recovery", acks=tail.poll(), leaders_after_s=lead)
            self.sleep(self.tm["recovery"], workload)
            if is_cluster(s):
                # A reassignment still listed after recovery never finished.
                live = [b.bootstrap for b in cluster.brokers.values() if b.alive() and not b.paused]
                ra = probe(topo, "reassignments", ",".join(live), self.topic)
                self.notes["reassignments_after_recovery"] = ra
                if ra.get("ok") and ra.get("ongoing"):
                    self.extra_violations.append("reassignment_unfinished")
            # stop the workload: outstanding sends resolve (or stay indeterminate)
            self.log(phase="stop", acks=tail.poll())
            workload.signal(15)
            try:
                workload.proc.wait(timeout=90)
            except Exception:  # noqa: BLE001
                workload.kill9()
                self.notes["workload_killed"] = True
            # final read
            fr = topo.run("cli", [sys.executable, str(HERE / "workload.py"), "final-read", "--bootstrap",
                                  cluster.client_bootstrap, "--topic", self.topic, "--partitions", str(s["partitions"]),
                                  "--out", str(self.final), "--timeout", "60"]
                          + self.workload_args(final=True),
                          capture_output=True, text=True, env=cluster.client_env(), timeout=s["partitions"] * 70 * (2 if self.txn else 1) + 30 + TXN_TIMEOUT_MS / 1000 + 10)
            self.notes["final_read_exit"] = fr.returncode
            self.log(phase="final-read-done")
            final_md = cluster.metadata(self.topic) if is_cluster(s) else None
            died = [b.host for b in cluster.brokers.values() if b.proc is not None and not b.alive()]
            if died:
                self.extra_violations.append("broker_died")
                self.notes["brokers_died"] = died
        except (RuntimeError, OSError) as e:
            # The run could not go on (no acks in warm-up, a broker that will
            # not start...): judge what was recorded, and say why it stopped.
            self.extra_violations.append("run_error")
            self.notes["error"] = str(e)[-3000:]
            self.log(phase="run-error", error=str(e)[:500])
        finally:
            if cluster is not None:
                crashes = cluster.crash_report()
                if crashes:
                    self.extra_violations.append("broker_crash")
                    self.notes["crash_lines"] = crashes
            if workload is not None:
                workload.kill9()
            if cluster is not None:
                cluster.stop()
                if is_cluster(s) and final_md is not None:
                    # Check 10: replica logs byte-identical up to the HW (brokers stopped).
                    try:
                        self.replica_report = replica_check.check_run(
                            self.topic, self.final, {i: b.data_dir for i, b in cluster.brokers.items()}, final_md)
                    except (OSError, ValueError, KeyError) as e:
                        self.extra_violations.append("replica_check_error")
                        self.notes["replica_check_error"] = "%s: %s" % (type(e).__name__, e)
                try:
                    self.producer_of = replica_check.producer_index(
                        self.topic, {i: b.data_dir for i, b in cluster.brokers.items()})
                except (OSError, ValueError) as e:
                    self.notes["producer_index_error"] = "%s: %s" % (type(e).__name__, e)
                cluster.unmount()
            topo.teardown()
        self.notes["elapsed_s"] = round(time.monotonic() - t_start, 1)
        return self.judge()

    def judge(self):
        files = [self.history, self.final, self.nemesis_path]
        rep = checker.check(checker.load([str(p) for p in files if p.exists()]),
                            idempotence=bool(self.spec["idempotence"]),
                            producer_of=getattr(self, "producer_of", None))
        rr = getattr(self, "replica_report", None)
        if rr is not None:
            rep["replicas"] = rr
            # replica_divergence (segment bytes) and epoch_divergence
            # (leader-epoch checkpoints), each its own violation.
            for kind in sorted({a["type"] for a in rr["anomalies"]}):
                found = [a for a in rr["anomalies"] if a["type"] == kind]
                rep["anomaly_counts"][kind] = len(found)
                rep["examples"][kind] = found[:5]
                self.extra_violations.append(kind)
        rep["violations"] = sorted(set(rep["violations"] + self.extra_violations))
        rep["valid"] = not rep["violations"]
        spec = {k: v for k, v in self.spec.items() if k != "fault"}
        expect = self.spec["expect"]
        if expect == "loss":
            matched = "lost_write" in rep["violations"]
        elif expect == "report":  # a lossy random mix: findings reported, not judged
            matched = True
        else:
            matched = rep["valid"]
        survivable = self.spec.get("survivable", True) and is_cluster(self.spec)
        faulted_acks = rep["liveness"].get("acks_during_fault")
        if expect == "safe" and survivable and faulted_acks == 0:
            rep["violations"].append("no_progress_during_fault")
            rep["valid"] = matched = False
        rep.update({"scenario": self.name, "spec": spec, "expect": expect,
                    "outcome_matches_expectation": matched, "notes": self.notes})
        if self.spec.get("xfail"):
            # A known expected failure: reported as such, not silently passed.
            rep["xfail"] = self.spec["xfail"]
            rep["xfail_status"] = "XPASS (now matches: drop the xfail)" if matched else "XFAIL"
        (self.out / "report.json").write_text(json.dumps(rep, indent=1, default=str) + "\n")
        return rep


def single_fault_schedule(fault, faulted):
    def schedule(nem, workload, tail):
        nem.run(fault, "inject")
        hold = fault.hold if fault.hold is not None else faulted
        end = time.monotonic() + hold
        while time.monotonic() < end:
            time.sleep(0.5)
        nem.run(fault, "heal")
        # the rest of the faulted period, if the fault had a shorter hold
        rest = faulted - hold
        if rest > 0:
            time.sleep(rest)
    return schedule


def random_schedule(n_brokers, duration, max_faults, rng, lossy, disk_full=False, kdc=False):
    def schedule(nem, workload, tail):
        end = time.monotonic() + duration
        faults = 0
        while time.monotonic() < end and faults < max_faults:
            if rng.random() < 0.25:  # a quiet period, as Bufstream's harness has
                nem.log(phase="quiet")
                time.sleep(min(rng.uniform(5, 15), max(0, end - time.monotonic())))
                continue
            fault = nm.random_fault(rng, n_brokers, lossy, disk_full, kdc)
            nem.run(fault, "inject")
            hold = fault.hold if fault.hold is not None else rng.uniform(5, 15)
            time.sleep(hold)
            nem.run(fault, "heal")
            faults += 1
            time.sleep(rng.uniform(5, 10))
    return schedule


def summary(rep):
    return {"scenario": rep["scenario"], "expect": rep["expect"],
            "outcome_matches_expectation": rep["outcome_matches_expectation"],
            "violations": rep["violations"], "anomaly_counts": rep["anomaly_counts"],
            "stats": {k: v for k, v in rep["stats"].items() if k != "partitions_final"},
            "leaders_after_heal_s": rep["notes"].get("leaders_after_heal_s"),
            "elapsed_s": rep["notes"].get("elapsed_s"),
            **({"xfail_status": rep["xfail_status"], "xfail": rep["xfail"]} if rep.get("xfail") else {})}


def with_workload(spec, workload, ctp_mode="assign"):
    """The spec with its workload; transactions need acks=all (idempotence)."""
    if workload == "txn" and (str(spec["acks"]) != "all" or not spec["idempotence"]):
        raise SystemExit("--workload txn needs acks=all and idempotence; this run writes acks=%s" % spec["acks"])
    if ctp_mode != "assign" and workload != "txn":
        raise SystemExit("--ctp-mode is the transactional workload's (--workload txn)")
    spec["workload"] = workload
    spec["ctp_mode"] = ctp_mode
    return spec


def run_scenario(name, out=None, full=False, rate=200.0, workload="plain", ctp_mode="assign", security="plaintext"):
    spec = with_workload(SCENARIOS[name](), workload, ctp_mode)
    if spec.get("security", "plaintext") not in ("plaintext", security) and security != "plaintext":
        raise SystemExit("%s runs with --security %s" % (name, spec["security"]))
    if security != "plaintext" or "security" not in spec:
        spec["security"] = security
    if is_cluster(spec) and not CLUSTER_READY:
        raise SystemExit("%s is a cluster scenario (3 brokers, RF=3): set KEEL_CHAOS_CLUSTER=1 to run it" % name)
    tm = dict(FULL if full else SHORT)
    out = out or tempfile.mkdtemp(prefix="keel-chaos-%s-" % name)
    r = Run(spec, out, tm, rate, name)
    rep = r.execute(single_fault_schedule(spec["fault"], tm["faulted"]))
    rep["notes"]["out"] = str(out)
    return rep


def run_random(n_brokers, duration, max_faults, seed, lossy, out=None, rate=200.0, workload="plain",
               ctp_mode="assign", tmpfs_mb=None, security="plaintext"):
    if n_brokers > 1 and not CLUSTER_READY:
        raise SystemExit("random with %d brokers needs replication: set KEEL_CHAOS_CLUSTER=1" % n_brokers)
    rng = random.Random(seed)
    base = dict(FOUR if n_brokers > 3 else TRIPLE if n_brokers > 1 else SINGLE)
    if lossy and n_brokers > 1:
        # The cluster's lossy control: acks=1 writes, and zombie leaders
        # (isolate-keep-clients) among the faults (nemesis.random_fault).
        base.update(acks="1", idempotence=0)
    spec = with_workload(S(None, "report" if lossy else "safe", **dict(
        base, brokers=n_brokers, rf=min(3, n_brokers), min_isr=min(2, n_brokers))), workload, ctp_mode)
    if tmpfs_mb:
        spec["tmpfs_mb"] = tmpfs_mb
    spec["security"] = security
    out = out or tempfile.mkdtemp(prefix="keel-chaos-random-")
    tm = dict(SHORT)
    r = Run(spec, out, tm, rate, "random-%d" % seed)
    r.notes["seed"] = seed
    rep = r.execute(random_schedule(n_brokers, duration, max_faults, rng, lossy, disk_full=bool(tmpfs_mb),
                                    kdc=security == "gssapi"))
    rep["notes"]["out"] = str(out)
    return rep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    sc = sub.add_parser("scenario")
    sc.add_argument("name", nargs="+")
    sc.add_argument("--full", action="store_true")
    rd = sub.add_parser("random")
    rd.add_argument("--brokers", type=int, default=1)
    rd.add_argument("--duration", type=float, default=300)
    rd.add_argument("--max-faults", type=int, default=40)
    rd.add_argument("--seed", type=int, default=None)
    rd.add_argument("--lossy", action="store_true", help="include faults expected to lose data")
    rd.add_argument("--tmpfs-mb", type=int, default=None,
                    help="every broker's data dir on a tmpfs of this size; adds disk-full to the mix")
    for p in (sc, rd):
        p.add_argument("--out", default=None, help="output directory (one sub-directory per scenario)")
        p.add_argument("--rate", type=float, default=200.0, help="total messages/s of the producers")
        p.add_argument("--workload", choices=("plain", "txn"), default="plain",
                       help="txn: transactional producers that commit or abort at random")
        p.add_argument("--ctp-mode", choices=("assign", "subscribe"), default="assign",
                       help="txn: the consume-transform-produce leg assign()s (one member) or two "
                            "members subscribe() in one group and rejoin all run long (rebalances)")
        p.add_argument("--security", choices=MODES, default="plaintext",
                       help="sasl_ssl: clients and brokers talk TLS then SCRAM-SHA-512; gssapi: Kerberos "
                            "(a KDC of the run's own); ACLs on either way (security.py)")
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for name, mk in SCENARIOS.items():
            spec = mk()
            gated = is_cluster(spec) and not CLUSTER_READY
            print("%-32s expect=%-4s brokers=%d rf=%d min.isr=%d acks=%s %s" % (
                name, spec["expect"], spec["brokers"], spec["rf"], spec["min_isr"], spec["acks"],
                ("(needs KEEL_CHAOS_CLUSTER=1)" if gated else "") + (" XFAIL" if spec.get("xfail") else "")))
        return 0
    if os.geteuid() != 0:
        raise SystemExit("run.py needs root (ip netns)")
    if shutil.which("ip") is None:
        raise SystemExit("needs iproute2")
    install_signal_handlers()
    reports = []
    if a.cmd == "scenario":
        for name in a.name:
            out = str(Path(a.out) / name) if a.out else None
            reports.append(run_scenario(name, out, a.full, a.rate, a.workload, a.ctp_mode, a.security))
            print(json.dumps(summary(reports[-1]), indent=1), flush=True)
    else:
        seed = a.seed if a.seed is not None else random.randrange(1 << 30)
        reports.append(run_random(a.brokers, a.duration, a.max_faults, seed, a.lossy, a.out, a.rate, a.workload,
                                  a.ctp_mode, a.tmpfs_mb, a.security))
        print(json.dumps(summary(reports[-1]), indent=1), flush=True)
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "summary.json").write_text(json.dumps([summary(r) for r in reports], indent=1) + "\n")
    return 0 if all(r["outcome_matches_expectation"] or r.get("xfail") for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
