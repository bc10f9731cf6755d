"""Faults: each one is inject() then heal(), on a Cluster in a Topology.

Targets are found by role through AdminClient metadata (probe.py in the ctl
namespace): the leader of partition 0 of the test topic, a follower of it,
the controller, or any live broker. Every fault logs what it did (with
time.monotonic(), the workload's clock) through the `log` callable.

A fault may carry its own hold time (`hold`, seconds between inject and
heal), e.g. a SIGSTOP shorter or longer than the ZooKeeper session timeout;
otherwise the scenario's faulted period is used.
"""

import errno
import json
import os
import random
import threading
import time

from cluster import SESSION_TIMEOUT_MS, probe


def full_isr_view(views, broker_ids, catching_up=None):
    """The one cluster view every broker answered (topics-each), if each lists
    every broker in broker_ids and every partition of every topic has a leader
    and an ISR equal to its replicas; else None. One broker's cache can lag
    (a broker just restarted has not had its first UpdateMetadata), so all
    must agree. catching_up ({(topic, partition): {broker ids}}): replicas a
    reassignment is adding, which may be missing from the ISR."""
    catching_up = catching_up or {}
    if not views:
        return None
    want = sorted(str(b) for b in broker_ids)
    agreed = None
    for md in views.values():
        if not isinstance(md, dict) or md.get("error") or sorted(md.get("brokers", [])) != want:
            return None
        view = {}
        for name, t in md.get("topics", {}).items():
            if t.get("error") or not t.get("partitions"):
                return None
            for pid, p in t["partitions"].items():
                missing = set(p["replicas"]) - set(p["isr"])
                if p.get("error") or p["leader"] is None or p["leader"] < 0 \
                        or not set(p["isr"]) <= set(p["replicas"]) \
                        or not missing <= set(catching_up.get((name, pid), ())):
                    return None
                view[(name, pid)] = (p["leader"], tuple(sorted(p["replicas"])))
        if agreed is None:
            agreed = view
        elif view != agreed:
            return None
    return agreed


class Fault:
    name = "fault"
    hold = None          # seconds, or None = the scenario's faulted period
    min_brokers = 1
    survivable = True    # writes should go on during the fault (with replication)
    lossy = False        # expected to lose acknowledged writes (a control)

    def __init__(self, role="leader"):
        self.role = role
        self.target = None

    def describe(self):
        return {"fault": self.name, "role": self.role, "target": self.target}

    def inject(self, nem):
        raise NotImplementedError

    def heal(self, nem):
        pass


class Nemesis:
    def __init__(self, cluster, topic, log, rng=None):
        self.cluster = cluster
        self.topo = cluster.topo
        self.topic = topic
        self.log = log
        self.rng = rng or random.Random()
        self.violations = []  # a fault's own assertion that failed (run.py reports them)

    def metadata(self, retries=10):
        for _ in range(retries):
            md = self.cluster.metadata(self.topic)
            if md.get("partitions"):
                return md
            time.sleep(1)
        return md

    def find(self, role):
        """Broker id for a role: leader / follower / controller / any."""
        live = [i for i, b in self.cluster.brokers.items() if b.alive() and not b.paused]
        if role == "any" or len(self.cluster.brokers) == 1:
            return self.rng.choice(live or list(self.cluster.brokers))
        md = self.metadata()
        if role == "controller":
            c = md.get("controller")
            if c is not None and c >= 0:
                return c
            return self.rng.choice(live)
        p0 = md.get("partitions", {}).get("0", {})
        leader = p0.get("leader")
        if role == "leader" and leader is not None and leader >= 0:
            return leader
        if role == "follower":
            followers = [r for r in p0.get("replicas", []) if r != leader and r in live]
            if followers:
                return self.rng.choice(followers)
        return self.rng.choice(live)

    def broker(self, bid):
        return self.cluster.brokers[bid]

    def live_bootstrap(self):
        return ",".join(b.bootstrap for b in self.cluster.brokers.values() if b.alive() and not b.paused)

    def reassign(self, targets, timeout=40.0):
        """AlterPartitionReassignments ({partition: replicas, or None to
        cancel}) through the controller, retried until accepted or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            r = probe(self.topo, "reassign", self.live_bootstrap(), self.topic, json.dumps(targets), timeout=40)
            if r.get("ok") or time.monotonic() > deadline:
                return r
            time.sleep(1.0)

    def reassignments(self):
        """ListPartitionReassignments for the topic: {"ok", "ongoing": {p: ...}}."""
        return probe(self.topo, "reassignments", self.live_bootstrap(), self.topic)

    def wait_all_isrs_full(self, timeout, catching_up=None):
        """Seconds until every live broker's own metadata lists every broker
        and shows every partition of every topic (the consumer offsets and
        transaction state too) led with a full ISR, all brokers the same view,
        on two polls in a row 1 s apart; None after timeout (the last views
        are kept in self.last_views)."""
        t0 = time.monotonic()
        prev = None
        while time.monotonic() - t0 < timeout:
            live = [b.bootstrap for b in self.cluster.brokers.values() if b.alive() and not b.paused]
            views = probe(self.topo, "topics-each", ",".join(live)) if live else {}
            self.last_views = views
            view = full_isr_view(views, sorted(self.cluster.brokers), catching_up)
            if view is not None and view == prev:
                return round(time.monotonic() - t0, 2)
            prev = view
            time.sleep(1.0)
        return None

    def run(self, fault, phase):
        """The event's t is when the action began; done_t when it returned."""
        t0 = time.monotonic()
        getattr(fault, phase)(self)
        self.log(phase=phase, t=t0, done_t=time.monotonic(), **fault.describe())


class Kill9(Fault):
    """kill -9 a broker; restart it at heal (the page cache survives)."""
    name = "kill9"

    def inject(self, nem):
        self.target = nem.find(self.role)
        nem.broker(self.target).kill9()

    def heal(self, nem):
        b = nem.broker(self.target)
        if not b.alive():
            b.start()


class Terminate(Fault):
    """SIGTERM (controlled shutdown: the broker asks the controller to move its
    leaderships away before it exits); restart at heal. Logs how long the
    broker took to exit and its exit status (None = it had to be killed)."""
    name = "sigterm"

    def inject(self, nem):
        self.target = nem.find(self.role)
        t0 = time.monotonic()
        b = nem.broker(self.target)
        proc = b.proc
        b.terminate(timeout=30)
        self.stop_s = round(time.monotonic() - t0, 3)
        self.exit_code = proc.returncode if proc is not None else None

    def describe(self):
        d = super().describe()
        if hasattr(self, "stop_s"):
            d.update(stop_s=self.stop_s, exit_code=self.exit_code)
        return d

    heal = Kill9.heal


class RollingRestart(Fault):
    """Every broker in turn stopped and started again, as an operator upgrades
    a cluster: SIGTERM (controlled shutdown: the controller moves the broker's
    leaderships and takes it out of the ISRs before it exits), start it, and
    before the next broker wait until every live broker's own metadata shows
    every partition of every topic, internal ones included, led with a full
    ISR (Nemesis.wait_all_isrs_full; Kafka's operations guide waits for no
    under-replicated partition). Each broker stays down down_s (an upgrade's
    install), and the whole cluster is restarted `rounds` times. The
    controller of the start goes last, so the controller moves once a round.
    how="kill9" is the control: no controlled shutdown, the broker's
    leaderships move only when its session expires, to followers that may
    lack its last acks=1 writes.
    A broker after which the ISRs are not full within settle_s is the fault's
    own violation (rolling_restart_stuck); the restart stops there, as an
    operator's would. The whole schedule runs in inject (hold 0)."""
    name = "rolling-restart"
    hold = 0.0
    min_brokers = 2

    def __init__(self, how="sigterm", rounds=1, down_s=3.0, settle_s=60.0, catching_up=None):
        super().__init__("every")
        self.how = how
        self.name = "rolling-%s" % how
        self.rounds, self.down_s, self.settle_s = rounds, down_s, settle_s
        self.catching_up = catching_up  # full_isr_view's: replicas a reassignment is adding
        self.steps = []

    def inject(self, nem):
        ctl = nem.metadata().get("controller")
        order = sorted(nem.cluster.brokers, key=lambda b: (b == ctl, b))
        self.target = order
        # An operator starts from a healthy cluster too.
        nem.log(phase="step", step="rolling-restart-start", order=order,
                full_isr_s=nem.wait_all_isrs_full(self.settle_s, self.catching_up))
        for rnd, bid in [(r, b) for r in range(self.rounds) for b in order]:
            b = nem.broker(bid)
            t0 = time.monotonic()
            if self.how == "kill9":
                b.kill9()
                code = -9
            else:
                code = b.terminate(timeout=30)
            stopped = time.monotonic()
            time.sleep(self.down_s)  # an upgrade's install
            # After kill -9 the broker waits for its old session to expire.
            b.start(timeout=SESSION_TIMEOUT_MS / 1000 * 3 + 20)
            started = time.monotonic()
            settled = nem.wait_all_isrs_full(self.settle_s, self.catching_up)
            step = dict(broker=bid, round=rnd, was_controller=bid == ctl, stop_s=round(stopped - t0, 3),
                        exit_code=code, start_s=round(started - stopped, 2), full_isr_s=settled)
            self.steps.append(step)
            nem.log(phase="step", step="rolling-restart", target=bid,
                    **{k: v for k, v in step.items() if k != "broker"})
            if settled is None:
                nem.log(phase="step", step="rolling-restart-stuck", target=bid,
                        views=getattr(nem, "last_views", None))
                nem.violations.append("rolling_restart_stuck")
                return

    def describe(self):
        d = super().describe()
        d["steps"] = self.steps
        return d


class ReassignDuringKill(Fault):
    """KIP-455 reassignment with a kill -9 in the middle of it.

    Inject: the partitions the target leads are reassigned to the other
    replicas (the target, their leader, is removed: the leader must move and
    the removed replica be stopped and deleted), and right after the request
    is answered a broker is kill -9'd: `kill` = "removed" (the target itself,
    before the move can finish), "controller" (the broker running the move;
    when the target is the controller, the same broker) or "other" (a
    remaining replica: those partitions then have one ISR member and stall
    under min.insync.replicas=2, which is safe).
    Heal: the killed broker is restarted, then the same partitions are
    reassigned back to their original replicas (in the original order), so
    the removed broker comes back as an adding replica that must catch up
    (its old log, if it kept one, diverges from the leader's) before the
    recovery phase can see full ISRs."""
    name = "reassign-kill9"
    min_brokers = 3

    def __init__(self, role="leader", kill="removed"):
        super().__init__(role)
        self.kill = kill
        self.name = "reassign-kill9-%s" % kill

    def inject(self, nem):
        self.target = nem.find(self.role)
        md = nem.metadata()
        parts = md.get("partitions", {})
        self.original = {p: v["replicas"] for p, v in parts.items() if v.get("leader") == self.target}
        if not self.original:  # the target leads nothing now: move partition 0 anyway
            self.original = {"0": parts.get("0", {}).get("replicas", sorted(nem.cluster.brokers))}
        moved = {p: [r for r in rs if r != self.target] for p, rs in self.original.items()}
        r = nem.reassign(moved, timeout=10.0)
        nem.log(phase="step", step="reassign", target=self.target, assignment=moved, answer=r)
        if self.kill == "removed":
            victim = self.target
        elif self.kill == "controller":
            victim = md.get("controller")
            if victim is None or victim < 0:
                victim = self.target
        else:
            others = [b for b in nem.cluster.brokers if b != self.target and nem.broker(b).alive()]
            victim = nem.rng.choice(others)
        self.victim = victim
        nem.broker(victim).kill9()
        nem.log(phase="step", step="kill9", target=victim)

    def describe(self):
        d = super().describe()
        d.update(kill=self.kill, victim=getattr(self, "victim", None), original=getattr(self, "original", None))
        return d

    def heal(self, nem):
        b = nem.broker(self.victim)
        if not b.alive():
            b.start()
        r = nem.reassign(self.original)
        self.back = r
        nem.log(phase="step", step="reassign-back", assignment=self.original, answer=r)


class FastBounce(Fault):
    """kill -9 and start again at once, faster than the session timeout."""
    name = "fast-bounce"
    hold = 1.0

    def inject(self, nem):
        self.target = nem.find(self.role)
        b = nem.broker(self.target)
        b.kill9()
        b.start(timeout=SESSION_TIMEOUT_MS / 1000 * 3 + 20)


class EmptyDirRestart(Fault):
    """kill -9, delete the data directory, start again: the broker has lost
    its whole log. With replication it must catch up from the others and
    lose nothing; with one replica this is the control that MUST lose."""
    name = "empty-dir-restart"
    hold = 2.0

    def __init__(self, role="any", lossy=False):
        super().__init__(role)
        self.lossy = lossy

    def inject(self, nem):
        self.target = nem.find(self.role)
        b = nem.broker(self.target)
        b.kill9()
        b.wipe()
        b.start(timeout=SESSION_TIMEOUT_MS / 1000 * 3 + 20)


def fill(path):
    """Grows the file at `path` until its file system has no space left:
    fallocate in 1 MiB steps, then 4 KiB ones, each until ENOSPC (the broker
    writes meanwhile, so the free space a statvfs gave would be stale).
    Returns the bytes taken."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    size = 0
    try:
        for step in (1 << 20, 4096):
            while True:
                try:
                    os.posix_fallocate(fd, size, step)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                size += step
    finally:
        os.close(fd)
    return size


class DiskFull(Fault):
    """The target's disk fills: a file takes all the free space of its data
    dir (a tmpfs the scenario mounts: tmpfs_mb), so its next write fails with
    ENOSPC and its log dir goes offline. The controller must move the
    leadership of its replicas to the other ISR members and take them out of
    the ISRs (docs/replication.md, "A failed log dir"); writes go on at
    min.insync.replicas 2. Heal: the file goes and the broker is restarted
    (SIGTERM), as an operator frees space; an offline dir comes back only with
    a restart, and the broker catches up."""
    name = "disk-full"

    def inject(self, nem):
        self.target = nem.find(self.role)
        b = nem.broker(self.target)
        if not b.mounted:
            raise RuntimeError("disk-full needs the data dirs on a tmpfs (the scenario's tmpfs_mb)")
        self.filler = b.data_dir / "disk-full.filler"
        self.filled = fill(self.filler)

    def heal(self, nem):
        b = nem.broker(self.target)
        self.offline_seen = "is offline after an I/O error" in b.log_tail(10 ** 8)
        if not self.offline_seen:
            # The broker never met the full disk: the run tested nothing.
            nem.violations.append("disk_full_not_reached")
        os.unlink(self.filler)
        code = b.terminate(timeout=30)
        self.exit_code = code
        b.start(timeout=SESSION_TIMEOUT_MS / 1000 * 3 + 20)

    def describe(self):
        d = super().describe()
        d.update(filled_bytes=getattr(self, "filled", None), dir_went_offline=getattr(self, "offline_seen", None))
        return d


class WipedControllerRewins(Fault):
    """The seed-17 loss made to happen (docs/chaos.md): kill -9 the controller
    (which leads partitions too), wipe its data directory and start it at once,
    then pause every other broker across the moment its old ZooKeeper session
    expires, so that the restarted broker wins the controller election again.
    Nobody has handled its death: ZooKeeper still names it leader of its
    partitions with the others in their ISRs, and as controller it would
    confirm its own leadership of logs it no longer has. Without the guard
    (ReplicaManager::refuses_leadership) the followers then truncate every
    record. Needs a session timeout well above the pause (the scenario sets
    it); `session_s` is that timeout."""
    name = "wiped-controller-rewins"
    hold = 2.0
    min_brokers = 3

    def __init__(self, session_s):
        super().__init__("controller")
        self.session_s = session_s

    def inject(self, nem):
        self.target = nem.find("controller")
        b = nem.broker(self.target)
        others = [nem.broker(i) for i in nem.cluster.brokers if i != self.target]
        killed = time.monotonic()
        b.kill9()
        b.wipe()
        # The old session expires session_s (plus a tick) after the kill; the
        # others are stopped from a little before that until well after, for
        # less than their own session timeout minus a ping interval.
        pause_at = killed + self.session_s - 3.0
        resume_at = pause_at + min(9.0, self.session_s / 2)
        started = {}

        def start_target():
            try:
                b.start(timeout=self.session_s * 3 + 20)
                started["ok"] = True
            except Exception as e:  # reported in the step below
                started["error"] = str(e)

        t = threading.Thread(target=start_target)
        t.start()
        time.sleep(max(0.0, pause_at - time.monotonic()))
        for o in others:
            o.pause()
        nem.log(phase="step", step="pause-others", target=self.target)
        time.sleep(max(0.0, resume_at - time.monotonic()))
        for o in others:
            o.resume()
        t.join()
        md = nem.metadata()
        self.controller_after = md.get("controller")
        nem.log(phase="step", step="resume-others", target=self.target, controller=self.controller_after,
                rewon=self.controller_after == self.target, start=started)

    def describe(self):
        d = super().describe()
        d.update(controller_after=getattr(self, "controller_after", None))
        return d


class Pause(Fault):
    """SIGSTOP for `hold` seconds, then SIGCONT."""
    name = "pause"

    def __init__(self, role="leader", hold=3.0):
        super().__init__(role)
        self.hold = hold
        self.name = "pause-%s" % ("short" if hold * 1000 < SESSION_TIMEOUT_MS else "long")

    def inject(self, nem):
        self.target = nem.find(self.role)
        nem.broker(self.target).pause()

    def heal(self, nem):
        nem.broker(self.target).resume()


class CutFromBrokers(Fault):
    """The target keeps ZooKeeper and clients, loses every other broker."""
    name = "cut-from-brokers"
    min_brokers = 2

    def __init__(self, role="leader", lossy=False):
        super().__init__(role)
        self.lossy = lossy

    def inject(self, nem):
        self.target = nem.find(self.role)
        host = "b%d" % self.target
        nem.topo.isolate(host, ["b%d" % i for i in nem.cluster.brokers])

    def heal(self, nem):
        nem.topo.heal()


class CutFromZooKeeper(Fault):
    """The target keeps brokers and clients, loses ZooKeeper."""
    name = "cut-from-zk"

    def inject(self, nem):
        self.target = nem.find(self.role)
        nem.topo.cut("b%d" % self.target, "zk")

    def heal(self, nem):
        nem.topo.heal()


class IsolateCompletely(Fault):
    """The target loses brokers and ZooKeeper but keeps its clients: a zombie
    leader taking acks=1 writes that a new leader elsewhere will not have."""
    name = "isolate-keep-clients"
    min_brokers = 2

    def __init__(self, role="leader", lossy=False):
        super().__init__(role)
        self.lossy = lossy

    def inject(self, nem):
        self.target = nem.find(self.role)
        host = "b%d" % self.target
        nem.topo.isolate(host, ["b%d" % i for i in nem.cluster.brokers] + ["zk"])

    def heal(self, nem):
        nem.topo.heal()


class ShrinkAloneThenKill(Fault):
    """The loss control for acks=all with min.insync.replicas=1 (needs a short
    replica.lag.time.max.ms and unclean.leader.election.enable=true).

    1. Cut the target from the other brokers; it keeps ZooKeeper and clients.
       Its followers stop fetching, so after replica.lag.time.max.ms it shrinks
       its ISR to itself (AlterPartition) and acknowledges acks=all writes alone,
       which min.insync.replicas=1 allows.
    2. After `shrink_s`, kill -9 it while still cut. Its ZooKeeper session
       expires, and with no live ISR member the controller elects a follower
       uncleanly: the writes acknowledged by the lone leader are gone.
    Heal: reconnect and restart it; it truncates to the new leader.

    The target is the controller: AlterPartition goes to the controller, so a
    leader cut from a controller on another broker could never shrink its ISR
    (its acks=all writes would just time out) and nothing could be lost. The
    loss shows on the partitions the controller leads."""
    name = "shrink-alone-then-kill9"
    min_brokers = 2
    lossy = True

    def __init__(self, role="controller", shrink_s=9.0):
        super().__init__(role)
        self.shrink_s = shrink_s

    def inject(self, nem):
        self.target = nem.find(self.role)
        md = nem.metadata()
        self.led = sorted(int(p) for p, v in md.get("partitions", {}).items() if v.get("leader") == self.target)
        host = "b%d" % self.target
        nem.topo.isolate(host, ["b%d" % i for i in nem.cluster.brokers])
        nem.log(phase="step", step="cut-from-brokers", target=self.target, leads=self.led,
                controller=md.get("controller"))
        # While waiting, record what the target itself says about the ISRs of
        # the partitions it leads (the ctl namespace still reaches it): the
        # run shows whether the shrink happened and whether it still answers.
        end = time.monotonic() + self.shrink_s
        while time.monotonic() < end:
            time.sleep(min(2.0, max(0.0, end - time.monotonic())))
            if time.monotonic() >= end - 0.5:
                break
            own = nem.cluster.metadata_each(nem.topic).get(self.target, {})
            nem.log(phase="step", step="target-view", target=self.target,
                    error=own.get("error"),
                    isr={p: v.get("isr") for p, v in own.get("partitions", {}).items() if int(p) in self.led})
        nem.broker(self.target).kill9()
        nem.log(phase="step", step="kill9-while-cut", target=self.target)

    def describe(self):
        d = super().describe()
        d["leads"] = getattr(self, "led", None)
        return d

    def heal(self, nem):
        nem.topo.heal()
        b = nem.broker(self.target)
        if not b.alive():
            b.start()


class CutClient(Fault):
    """The workload's namespace loses the target (the probes' does not)."""
    name = "cut-client"

    def inject(self, nem):
        self.target = nem.find(self.role)
        nem.topo.cut("cli", "b%d" % self.target)

    def heal(self, nem):
        nem.topo.heal()


class ZooKeeperPause(Fault):
    name = "zk-pause"

    def __init__(self, hold=None):
        super().__init__("zookeeper")
        self.hold = hold

    def inject(self, nem):
        self.target = "zk"
        nem.cluster.zk.pause()

    def heal(self, nem):
        nem.cluster.zk.resume()


class KdcOutage(Fault):
    """The Kerberos KDC stops answering (SIGSTOP: requests to it hang, as when
    its machine is cut off) and, while it is away, a broker is killed and
    started again: the restarted broker cannot log in to its peers until the
    KDC is back (heal: SIGCONT), then must rejoin the ISRs without anyone's
    help. Connections made before keep working (their tickets are held).
    Only in a gssapi run (security.py); elsewhere it skips itself."""
    name = "kdc-down-restart"
    min_brokers = 2

    def inject(self, nem):
        kdc = nem.cluster.kdc
        if not kdc.alive():
            self.target = None
            nem.log(phase="step", step="kdc-down-skipped", why="no KDC: not a gssapi run")
            return
        kdc.pause()
        self.target = nem.find(self.role)
        b = nem.broker(self.target)
        b.kill9()
        t0 = time.monotonic()
        b.start()
        nem.log(phase="step", step="restarted-without-kdc", target=self.target,
                start_s=round(time.monotonic() - t0, 2))

    def heal(self, nem):
        kdc = nem.cluster.kdc
        if kdc.paused:
            kdc.resume()


class ZooKeeperRestart(Fault):
    """kill -9 ZooKeeper (its data directory kept); start it at heal."""
    name = "zk-restart"

    def __init__(self, hold=None):
        super().__init__("zookeeper")
        self.hold = hold

    def inject(self, nem):
        self.target = "zk"
        nem.cluster.zk.kill9()

    def heal(self, nem):
        if not nem.cluster.zk.alive():
            nem.cluster.zk.start()


def random_fault(rng, n_brokers, lossy=False, disk_full=False, kdc=False):
    """One fault for the randomized schedule (safe faults unless lossy).
    disk_full: the data dirs are on tmpfs, so a full disk joins the mix;
    kdc: a gssapi run, so the KDC's outage does."""
    long_hold = SESSION_TIMEOUT_MS / 1000 + 4
    roles = ["leader", "follower", "controller", "any"] if n_brokers > 1 else ["any"]
    makers = [
        lambda r: Kill9(r),
        lambda r: FastBounce(r),
        lambda r: Pause(r, hold=rng.uniform(1.0, SESSION_TIMEOUT_MS / 1000 * 0.6)),
        lambda r: Pause(r, hold=long_hold),
        lambda r: CutFromZooKeeper(r),
        lambda r: CutClient(r),
        lambda r: ZooKeeperPause(),
        lambda r: ZooKeeperRestart(),
        lambda r: Terminate(r),
    ]
    if n_brokers > 1:
        # An operator's rolling restart (every broker once, controlled shutdown)
        # between the other faults: its wait for full ISRs is part of the fault.
        makers += [lambda r: CutFromBrokers(r), lambda r: EmptyDirRestart("follower"),
                   lambda r: RollingRestart("sigterm", rounds=1)]
    if n_brokers > 2:
        makers += [lambda r: ReassignDuringKill("leader", rng.choice(["removed", "controller", "other"]))]
    if n_brokers > 3:
        # the topic is on three of them (run.py's placement): moves onto the fourth
        from nemesis_reassign import random_reassign_fault
        makers += [lambda r: random_reassign_fault(rng)] * 2
    if kdc and n_brokers > 1:
        makers += [lambda r: KdcOutage(r)]
    if disk_full and n_brokers > 1:
        # With one broker there is nobody to take over: its writes stop (no loss).
        makers += [lambda r: DiskFull(r)]
    if lossy and n_brokers > 1:
        # the cluster's lossy mix runs acks=1 (run.py): a zombie leader's writes
        makers += [lambda r: IsolateCompletely("leader", lossy=True)]
    elif lossy:
        makers += [lambda r: EmptyDirRestart(r, lossy=True)]
    return rng.choice(makers)(rng.choice(roles))
