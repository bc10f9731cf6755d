"""Reassignment faults for four brokers: the topic lives on three of them
(run.py's `placement`), and KIP-455 moves put replicas onto the broker a
partition does not have ("the outsider"), with a broker killed or paused in
the middle; and a move whose target broker is down, cancelled.

Each fault asserts its own end state and appends to nem.violations (which
run.py reports) when it does not hold:
- reassign_unfinished_after_heal: the move was still listed, or the replica
  set was not the target, 60 s after the heal;
- reassignment_not_cancelled: after the cancel the move was still listed or
  the replica set was not the original one (in the order Kafka's cancel
  leaves: origin_replicas).
"""

import json
import time

from cluster import SESSION_TIMEOUT_MS, probe
from nemesis import Fault, RollingRestart

SETTLE_S = 60.0
SESSION_S = SESSION_TIMEOUT_MS / 1000.0
INVALID_REPLICA_ASSIGNMENT = 39


def outsider(nem, replicas):
    """The broker holding no replica of a partition (4 brokers, RF 3)."""
    rest = [b for b in sorted(nem.cluster.brokers) if b not in replicas]
    return rest[0] if rest else None


def wait_assignment(nem, want, timeout=SETTLE_S):
    """Seconds until no move of the topic is listed and every partition in
    `want` ({p: replicas}) has exactly that replica set (order kept), or None."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        ra = nem.reassignments()
        md = nem.cluster.metadata(nem.topic)
        parts = md.get("partitions", {})
        have = {p: parts.get(p, {}).get("replicas") for p in want}
        last = {"ongoing": ra.get("ongoing"), "replicas": have, "error": ra.get("error")}
        if ra.get("ok") and not ra.get("ongoing") and all(have[p] == want[p] for p in want):
            return round(time.monotonic() - t0, 2), last
        time.sleep(1.0)
    return None, last


def origin_replicas(listed, original):
    """The replica set a cancel must bring back, in Kafka's order: the listed
    replicas of the move (RS = target + original, KIP-455) without the adding
    ones (Kafka's ReplicaAssignment.originReplicas). That is the original
    set, but not always in its order: moving [4,2,1] to [4,3,1] lists
    [4,3,1,2], and the cancel leaves [4,1,2]. Without a listing, the original."""
    if not listed or not listed.get("replicas"):
        return list(original)
    return [r for r in listed["replicas"] if r not in listed.get("adding", [])]


def wait_registered(nem, bid, timeout=30.0, registered=True):
    """Seconds until the metadata lists broker bid (the controller has told
    the brokers it is live), or None. A restarted broker's port answers before that.
    registered=False: until it no longer lists it (its session expired and the
    controller saw it go)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if (str(bid) in nem.metadata().get("brokers", {})) == registered:
            return round(time.monotonic() - t0, 2)
        time.sleep(0.5)
    return None


class ReassignToOutsider(Fault):
    """Move the target's replicas onto the outsider broker, then `action` a
    broker right after the controller accepted the move: kill -9 or SIGSTOP
    (`how`) of "removed" (the target, leaving; when it leads, the leader
    must move), "new" (the outsider, mid catch-up) or "other" (a replica
    that stays). Heal: restart/resume it; the move must then complete."""
    min_brokers = 4

    def __init__(self, role="leader", victim="removed", how="kill9"):
        super().__init__(role)
        self.victim_role, self.how = victim, how
        self.name = "reassign-outsider-%s-%s" % (how, victim)

    def plan_move(self, nem):
        """self.target (found by role) and self.moved: the target's partitions,
        the target replaced by the broker that has no replica of them."""
        self.target = nem.find(self.role)
        parts = nem.metadata().get("partitions", {})
        if not any(self.target in v.get("replicas", []) for v in parts.values()):
            # "any" drew a broker with no replica (the outsider): use one that has some.
            self.target = nem.rng.choice(parts.get("0", {}).get("replicas") or sorted(nem.cluster.brokers)[:1])
        self.original = {p: v["replicas"] for p, v in parts.items() if self.target in v.get("replicas", [])}
        self.moved = {}
        for p, rs in self.original.items():
            new = outsider(nem, rs)
            if new is not None:
                self.moved[p] = [new if r == self.target else r for r in rs]
        for new in sorted({outsider(nem, rs) for rs in self.original.values()} - {None}):
            wait_registered(nem, new)  # a broker the previous fault restarted may not be live yet

    def start_move(self, nem):
        r = nem.reassign(self.moved, timeout=10.0)
        nem.log(phase="step", step="reassign", target=self.target, assignment=self.moved, answer=r)
        if not r.get("ok"):
            nem.violations.append("reassign_refused")

    def inject(self, nem):
        self.plan_move(nem)
        self.start_move(nem)
        if self.victim_role == "removed":
            self.victim = self.target
        elif self.victim_role == "new":
            p0 = sorted(self.moved)[0] if self.moved else None
            self.victim = outsider(nem, self.original[p0]) if p0 else self.target
        else:
            stays = sorted({r for rs in self.moved.values() for r in rs} - {self.target}
                           - {outsider(nem, rs) for rs in self.original.values()})
            self.victim = nem.rng.choice(stays) if stays else self.target
        b = nem.broker(self.victim)
        if self.how == "pause":
            b.pause()
        else:
            b.kill9()
        nem.log(phase="step", step=self.how, target=self.victim)

    def heal(self, nem):
        b = nem.broker(self.victim)
        if self.how == "pause":
            b.resume()
        elif not b.alive():
            b.start()
        self.settle(nem)

    def settle(self, nem):
        """The move must complete (SETTLE_S) once the fault is healed."""
        took, last = wait_assignment(nem, self.moved)
        self.settled_s = took
        nem.log(phase="step", step="reassignment-settled", seconds=took, state=last)
        if took is None:
            nem.violations.append("reassign_unfinished_after_heal")

    def describe(self):
        d = super().describe()
        d.update(victim=getattr(self, "victim", None), how=self.how, moved=getattr(self, "moved", None),
                 settled_s=getattr(self, "settled_s", None))
        return d


class ReassignDuringRollingRestart(ReassignToOutsider):
    """A move onto the outsider broker, held in progress by a replication
    throttle, while every broker is restarted in turn (SIGTERM, the controller
    last: nemesis.RollingRestart), as an operator might upgrade a cluster in
    the middle of a long reassignment. The throttle is the one
    kafka-reassign-partitions --throttle sets on the receiving side:
    follower.replication.throttled.rate on the outsider (a dynamic config of
    that broker, kept in ZooKeeper, so it must hold across the outsider's own
    restart) and the moved partitions' outsider replicas in the topic's
    follower.replication.throttled.replicas. At THROTTLE_BYTES_S, below what the
    workload writes, the outsider cannot catch up (the scenario keeps fetches
    small, so no single fetch brings the backlog), so the move is still listed
    when the last broker is back; if not, reassign_finished_under_throttle
    (the throttle did not hold, and the fault did not test what it says). Between brokers the
    restart waits for full ISRs but for the outsider's catching-up replicas.
    Heal: the throttle is lifted, and the move must complete within 60 s
    (reassign_unfinished_after_heal), with the workload's checks as always."""
    THROTTLE_BYTES_S = 1024
    hold = 0.0
    min_brokers = 4

    def __init__(self, role="leader"):
        super().__init__(role, victim="none", how="rolling")
        self.name = "reassign-outsider-rolling-sigterm"

    def throttle(self, nem, on):
        by_outsider = {}
        for p, rs in self.moved.items():
            by_outsider.setdefault(outsider(nem, self.original[p]), []).append(p)
        answers = []
        for bid, ps in sorted(by_outsider.items()):
            key = "follower.replication.throttled.rate"
            change = {"type": "broker", "name": str(bid)}
            change.update({"set": {key: self.THROTTLE_BYTES_S}} if on else {"delete": [key]})
            answers.append(probe(nem.topo, "alter-configs", nem.broker(bid).bootstrap, json.dumps([change])))
        replicas = ",".join("%s:%d" % (p, b) for b, ps in sorted(by_outsider.items()) for p in sorted(ps))
        key = "follower.replication.throttled.replicas"
        change = {"type": "topic", "name": nem.topic}
        change.update({"set": {key: replicas}} if on else {"delete": [key]})
        any_broker = nem.live_bootstrap().split(",")[0]
        answers.append(probe(nem.topo, "alter-configs", any_broker, json.dumps([change])))
        nem.log(phase="step", step="throttle" if on else "unthrottle", replicas=replicas, answers=answers)
        if not all(a.get("ok") for a in answers):
            nem.violations.append("throttle_refused")

    def inject(self, nem):
        self.plan_move(nem)
        self.throttle(nem, True)
        self.start_move(nem)
        catching_up = {(nem.topic, p): {outsider(nem, self.original[p])} for p in self.moved}
        self.rolling = RollingRestart("sigterm", rounds=1, catching_up=catching_up)
        self.rolling.inject(nem)
        ongoing = nem.reassignments().get("ongoing") or {}
        self.in_progress = any(p in ongoing for p in self.moved)
        nem.log(phase="step", step="after-rolling-restart", move_in_progress=self.in_progress, ongoing=ongoing)
        if not self.in_progress:
            # Done under a throttle below the write rate: the throttle did not
            # hold (or did not survive a restart), and the restarts did not
            # meet a move under way.
            nem.violations.append("reassign_finished_under_throttle")

    def heal(self, nem):
        self.throttle(nem, False)
        self.settle(nem)

    def describe(self):
        d = super().describe()
        d.update(move_in_progress_after_restart=getattr(self, "in_progress", None),
                 rolling_steps=getattr(getattr(self, "rolling", None), "steps", None))
        return d


class CancelMoveWhoseTargetIsDown(Fault):
    """Cancel (KIP-455: replicas null) a move whose target broker is down.

    Partition 0's outsider X is paused (SIGSTOP: still registered, so the
    controller accepts X as an adding replica, as Kafka's does only for live
    brokers) and partition 0 reassigned to replace a follower with X; then X
    is killed -9, so the move can never finish. It must be listed as adding
    X; a new move onto X is now refused with INVALID_REPLICA_ASSIGNMENT (39),
    Kafka's answer for brokers that are not alive; the cancel must bring back
    the original replica set (origin_replicas: Kafka's order) with nothing
    listed, while X is still down.
    Heal: restart X."""
    name = "cancel-move-to-down-broker"
    min_brokers = 4
    hold = 8.0

    def __init__(self):
        super().__init__("follower")

    def inject(self, nem):
        p0 = nem.metadata().get("partitions", {}).get("0", {})
        self.original = {"0": list(p0.get("replicas", []))}
        self.target = outsider(nem, self.original["0"])
        leader = p0.get("leader")
        drop = [r for r in self.original["0"] if r != leader][-1]
        moved = {"0": [self.target if r == drop else r for r in self.original["0"]]}
        x = nem.broker(self.target)
        for _ in range(3):  # a paused controller could not accept the move: move it off X
            if nem.metadata().get("controller") != self.target:
                break
            x.kill9()
            time.sleep(SESSION_S + 2.0)
            x.start(timeout=SESSION_S * 3 + 20)
            nem.log(phase="step", step="controller-moved-off", target=self.target,
                    controller=nem.metadata().get("controller"), registered_s=wait_registered(nem, self.target))
        # X must be live for the controller (listed in the metadata it sends)
        # before the pause, or the move is refused for the harness's haste.
        nem.log(phase="step", step="registered", target=self.target, seconds=wait_registered(nem, self.target))
        x.pause()
        r = nem.reassign(moved, timeout=10.0)
        nem.log(phase="step", step="reassign-onto-paused", target=self.target, assignment=moved, answer=r)
        x.kill9()
        nem.log(phase="step", step="kill9", target=self.target)
        ra = nem.reassignments()
        pending = (ra.get("ongoing") or {}).get("0", {})
        nem.log(phase="step", step="listed", answer=ra)
        if not r.get("ok") or self.target not in pending.get("adding", []):
            nem.violations.append("move_to_down_broker_not_pending")
        # Once X's session has expired, a new move onto it is refused. The
        # expiry comes up to a ZooKeeper tick after the session timeout, and
        # the controller learns it from a watch: wait for the metadata to drop
        # X (a fixed SESSION_S + 2 s was once 0.25 s short: the move was
        # accepted while X was still registered) rather than guess.
        gone = wait_registered(nem, self.target, timeout=SESSION_S * 3 + 10, registered=False)
        nem.log(phase="step", step="unregistered", target=self.target, seconds=gone)
        again = nem.reassign({"1": [self.target if r == drop else r for r in self.original["0"]]}, timeout=0)
        nem.log(phase="step", step="reassign-onto-down", answer=again)
        if (again.get("partitions") or {}).get("1", [None])[0] != INVALID_REPLICA_ASSIGNMENT:
            nem.violations.append("move_onto_down_broker_accepted")
            nem.reassign({"1": None}, timeout=10.0)
        c = nem.reassign({"0": None}, timeout=10.0)
        # The original set, in the order Kafka's cancel leaves it.
        self.expected = {"0": origin_replicas(pending, self.original["0"])}
        took, last = wait_assignment(nem, self.expected, timeout=30.0)
        self.cancelled_s = took
        nem.log(phase="step", step="cancel", answer=c, seconds=took, state=last)
        if not c.get("ok") or took is None:
            nem.violations.append("reassignment_not_cancelled")

    def heal(self, nem):
        b = nem.broker(self.target)
        if not b.alive():
            b.start()

    def describe(self):
        d = super().describe()
        d.update(original=getattr(self, "original", None), expected=getattr(self, "expected", None),
                 cancelled_s=getattr(self, "cancelled_s", None))
        return d


def random_reassign_fault(rng):
    """One of the four-broker reassignment faults, for the random schedule."""
    if rng.random() < 0.2:
        return CancelMoveWhoseTargetIsDown()
    return ReassignToOutsider(rng.choice(["leader", "follower", "any"]),
                              rng.choice(["removed", "new", "other"]), rng.choice(["kill9", "pause"]))
