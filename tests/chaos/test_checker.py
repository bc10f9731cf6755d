"""The checker on synthetic histories: a clean one passes, and each anomaly
is detected on its own (a checker that cannot fail is a defect).

    /usr/bin/python3 -m pytest tests/chaos/test_checker.py -q
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checker  # noqa: E402


class H:
    """A tiny history builder: a clock, sends, polls, a final read."""

    def __init__(self, partitions=2, idempotence=1):
        self.t = 0.0
        self.ev = [{"type": "config", "idempotence": idempotence, "t": 0.0}]
        self.partitions = partitions
        self.final_log = {p: {} for p in range(partitions)}
        self.seq = {}

    def tick(self):
        self.t += 0.01
        return self.t

    def invoke(self, proc, p):
        n = self.seq.get(proc, 0)
        self.seq[proc] = n + 1
        v = "%s-%d" % (proc, n)
        self.ev.append({"type": "invoke", "process": proc, "value": v, "partition": p, "t": self.tick()})
        return v

    def ok(self, proc, v, p, o):
        self.ev.append({"type": "ok", "process": proc, "value": v, "partition": p, "offset": o, "t": self.tick()})

    def send(self, proc, p, o, to_log=True):
        v = self.invoke(proc, p)
        self.ok(proc, v, p, o)
        if to_log:
            self.final_log[p][o] = v
        return v

    def poll(self, c, p, o, v):
        self.ev.append({"type": "poll", "process": c, "partition": p, "offset": o, "value": v, "t": self.tick()})

    def assign(self, c):
        self.ev.append({"type": "assign", "process": c, "partitions": list(range(self.partitions)),
                        "t": self.tick()})

    def nemesis(self, phase):
        self.ev.append({"type": "nemesis", "phase": phase, "fault": "x", "t": self.tick()})

    def finish(self, complete=True):
        out = list(self.ev)
        for p, log in self.final_log.items():
            for o in sorted(log):
                out.append({"type": "final", "partition": p, "offset": o, "value": log[o]})
            high = max(log) + 1 if log else 0
            out.append({"type": "final-end", "partition": p, "low": 0, "high": high,
                        "last": high - 1, "complete": complete})
        return out

    def consume_all(self, c):
        """One consumer polls every record of the final log, in order."""
        self.assign(c)
        for p, log in self.final_log.items():
            for o in sorted(log):
                self.poll(c, p, o, log[o])


def clean(n=20):
    h = H()
    offs = [0, 0]
    for i in range(n):
        for proc in ("p0", "p1"):
            p = (i + (proc == "p1")) % 2
            h.send(proc, p, offs[p])
            offs[p] += 1
    return h, offs


def run(events, **kw):
    return checker.check(events, **kw)


def test_clean_history_passes():
    h, _ = clean()
    h.consume_all("c0")
    h.consume_all("c1")
    rep = run(h.finish())
    assert rep["valid"], rep["violations"]
    assert rep["stats"]["ok"] == 40 and rep["stats"]["final_records"] == 40
    assert rep["stats"]["unseen_acked"] == 0


def test_indeterminate_sends_are_not_violations():
    h, offs = clean()
    v = h.invoke("p0", 0)
    h.ev.append({"type": "info", "process": "p0", "value": v, "partition": 0, "error": "_MSG_TIMED_OUT",
                 "t": h.tick()})
    h.final_log[0][offs[0]] = v          # an indeterminate send may land...
    h.invoke("p1", 1)                     # ...or stay unresolved and absent
    rep = run(h.finish())
    assert rep["valid"], rep["violations"]
    assert rep["stats"]["indeterminate_landed"] == 1 and rep["stats"]["unresolved"] == 1


def test_lost_write_missing_from_final():
    h, offs = clean()
    h.send("p0", 0, offs[0], to_log=False)  # acked, never in the final log
    rep = run(h.finish())
    assert rep["violations"] == ["lost_write"]
    assert rep["anomaly_counts"]["lost_write"] == 1
    assert rep["examples"]["lost_write"][0]["final_value_at_offset"] is None


def implicit_ack(h, proc, v, p):
    """librdkafka's idempotent "implicit ack": persisted, offset unknown."""
    h.ev.append({"type": "ok", "process": proc, "value": v, "partition": p, "offset": None,
                 "implicit": True, "t": h.tick()})


def test_implicit_ack_in_final_log_passes():
    # Reported persisted (offset null) after a later send of the same producer
    # was acked with an offset: the value is in the final log, polled by two
    # consumers. No crash, no invented loss, duplicate or order violation.
    h, offs = clean()
    v1 = h.invoke("p0", 0)
    v2 = h.invoke("p0", 0)
    h.ok("p0", v2, 0, offs[0] + 1)
    implicit_ack(h, "p0", v1, 0)
    h.final_log[0][offs[0]] = v1
    h.final_log[0][offs[0] + 1] = v2
    h.consume_all("c0")
    h.consume_all("c1")
    h.nemesis("inject")
    h.nemesis("heal")
    h.send("p1", 1, offs[1])
    rep = run(h.finish())
    assert rep["valid"], (rep["violations"], rep["examples"])
    assert rep["stats"]["ok_without_offset"] == 1
    assert rep["stats"]["ok"] == 43


def test_implicit_ack_missing_from_final_is_lost():
    h, offs = clean()
    v = h.invoke("p0", 0)
    implicit_ack(h, "p0", v, 0)
    # Somewhere else than its partition does not count either.
    h.final_log[1][offs[1]] = v
    rep = run(h.finish())
    assert "lost_write" in rep["violations"]
    assert rep["anomaly_counts"]["lost_write"] == 1
    ex = rep["examples"]["lost_write"][0]
    assert ex["value"] == v and ex["implicit"] and ex["offset"] is None


def test_implicit_ack_cli_null_offset(tmp_path):
    h, offs = clean()
    v = h.invoke("p1", 1)
    implicit_ack(h, "p1", v, 1)
    h.final_log[1][offs[1]] = v
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in h.finish()))
    r = subprocess.run([sys.executable, str(Path(checker.__file__)), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_lost_write_overwritten_is_also_inconsistent():
    h, offs = clean()
    v = h.send("p0", 0, offs[0], to_log=False)
    other = h.invoke("p1", 0)
    h.final_log[0][offs[0]] = other  # e.g. a wiped log refilled by later sends
    rep = run(h.finish())
    assert "lost_write" in rep["violations"] and "inconsistent_offsets" in rep["violations"]
    ex = rep["examples"]["lost_write"][0]
    assert ex["value"] == v and ex["final_value_at_offset"] == other


def test_inconsistent_offsets_between_ack_and_poll():
    h, offs = clean()
    h.consume_all("c0")
    h.poll("c1", 0, 3, "p1-0")  # c1 saw another value at offset 3 than everyone else
    rep = run(h.finish())
    assert "inconsistent_offsets" in rep["violations"]


def test_inconsistent_offsets_between_two_acks():
    h, offs = clean()
    h.send("p0", 1, 2, to_log=False)  # acked at an offset some other value holds
    rep = run(h.finish())
    assert "inconsistent_offsets" in rep["violations"]


def test_duplicates_with_idempotence():
    h, offs = clean()
    v = h.send("p0", 0, offs[0])
    h.final_log[0][offs[0] + 1] = v   # the same value written twice
    rep = run(h.finish())
    assert rep["violations"] == ["duplicates"]


def test_duplicates_only_counted_without_idempotence():
    h, offs = clean()
    v = h.send("p0", 0, offs[0])
    h.final_log[0][offs[0] + 1] = v
    rep = run(h.finish(), idempotence=False)
    assert rep["valid"] and rep["anomaly_counts"]["duplicates"] == 1


def test_a_value_sent_again_under_a_new_producer_epoch_is_counted_apart():
    # The client bumped its epoch after timeouts and re-sent from sequence 0:
    # the segments show the two copies under one producer id, two epochs.
    h, offs = clean()
    v = h.send("p0", 0, offs[0])
    h.final_log[0][offs[0] + 1] = v
    events = h.finish()
    resent = {(0, offs[0]): (7, 0), (0, offs[0] + 1): (7, 1)}
    rep = run(events, producer_of=resent)
    assert rep["valid"], rep["violations"]
    assert rep["anomaly_counts"]["epoch_resends"] == 1
    assert rep["examples"]["epoch_resends"][0]["producer_epochs"] == [0, 1]
    # One epoch (the broker let a retry through), or two producers: duplicates.
    same_epoch = {(0, offs[0]): (7, 1), (0, offs[0] + 1): (7, 1)}
    assert run(events, producer_of=same_epoch)["violations"] == ["duplicates"]
    two_producers = {(0, offs[0]): (7, 0), (0, offs[0] + 1): (8, 1)}
    assert run(events, producer_of=two_producers)["violations"] == ["duplicates"]
    assert run(events, producer_of={})["violations"] == ["duplicates"], "unknown owners: a duplicate"


def test_aborted_read():
    h, offs = clean()
    v = h.invoke("p0", 0)
    h.ev.append({"type": "fail", "process": "p0", "value": v, "partition": 0,
                 "error": "NOT_ENOUGH_REPLICAS", "t": h.tick()})
    h.final_log[0][offs[0]] = v  # a definitely-failed send is in the log
    rep = run(h.finish())
    assert rep["violations"] == ["aborted_read"]


def test_aborted_read_seen_by_poll_only():
    h, offs = clean()
    v = h.invoke("p0", 0)
    h.ev.append({"type": "fail", "process": "p0", "value": v, "partition": 0, "error": "x", "t": h.tick()})
    h.poll("c0", 0, offs[0], v)
    rep = run(h.finish())
    assert "aborted_read" in rep["violations"]
    assert "truncated_read" in rep["violations"]  # it was not in the final log either


def test_producer_order():
    h = H(partitions=1)
    a = h.invoke("p0", 0)
    b = h.invoke("p0", 0)
    h.ok("p0", b, 0, 0)
    h.ok("p0", a, 0, 1)   # p0's earlier send landed after its later one
    h.final_log[0] = {0: b, 1: a}
    rep = run(h.finish())
    assert "producer_order" in rep["violations"]


def test_realtime_order():
    h = H(partitions=1)
    a = h.invoke("p0", 0)
    h.ok("p0", a, 0, 5)
    b = h.invoke("p1", 0)   # invoked after a's ack
    h.ok("p1", b, 0, 4)     # but lands below it
    h.final_log[0] = {4: b, 5: a}
    rep = run(h.finish())
    assert rep["violations"] == ["realtime_order"]


def test_truncated_read():
    h, offs = clean()
    h.consume_all("c0")
    v = h.invoke("p0", 0)               # written above the HW, polled, then truncated away
    h.poll("c1", 0, offs[0], v)
    h.ev.append({"type": "info", "process": "p0", "value": v, "partition": 0, "error": "x", "t": h.tick()})
    rep = run(h.finish())
    assert rep["violations"] == ["truncated_read"]


def test_nonmonotonic_poll():
    h, offs = clean()
    h.assign("c0")
    h.poll("c0", 0, 0, h.final_log[0][0])
    h.poll("c0", 0, 1, h.final_log[0][1])
    h.poll("c0", 0, 0, h.final_log[0][0])  # went back without a reassign
    rep = run(h.finish())
    assert rep["violations"] == ["nonmonotonic_poll"]


def test_reassign_allows_going_back():
    h, offs = clean()
    h.assign("c0")
    h.poll("c0", 0, 0, h.final_log[0][0])
    h.poll("c0", 0, 1, h.final_log[0][1])
    h.assign("c0")
    h.poll("c0", 0, 0, h.final_log[0][0])
    assert run(h.finish())["valid"]


def test_poll_skip():
    h, offs = clean()
    h.assign("c0")
    h.poll("c0", 0, 0, h.final_log[0][0])
    h.poll("c0", 0, 3, h.final_log[0][3])  # 1 and 2 exist in the log
    rep = run(h.finish())
    assert rep["violations"] == ["poll_skip"]


def test_gap_in_log_is_not_a_skip():
    h, offs = clean()
    del h.final_log[1][1], h.final_log[1][2]  # offsets that never held records
    h.ev = [e for e in h.ev if not (e.get("partition") == 1 and e.get("offset") in (1, 2))]
    h.assign("c0")
    h.poll("c0", 1, 0, h.final_log[1][0])
    h.poll("c0", 1, 3, h.final_log[1][3])
    assert run(h.finish())["valid"]


def test_unexpected_value():
    h, offs = clean()
    h.final_log[1][offs[1]] = "ghost-1"
    rep = run(h.finish())
    assert rep["violations"] == ["unexpected_value"]


def test_incomplete_final_read():
    h, _ = clean()
    rep = run(h.finish(complete=False))
    assert rep["violations"] == ["final_read_incomplete"]


def test_liveness_reported_and_bounded():
    h, offs = clean(5)
    h.nemesis("inject")
    h.nemesis("heal")
    h.t += 12.0  # writes resume 12 s after heal
    h.send("p0", 0, offs[0])
    rep = run(h.finish())
    assert rep["valid"]
    assert rep["liveness"]["0"]["first_ack_after_heal_s"] >= 12.0
    rep = run(h.finish(), max_gap=5.0)
    assert "liveness" in rep["violations"]


def test_cli_exit_status(tmp_path):
    h, offs = clean()
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(e) + "\n" for e in h.finish()))
    h.send("p0", 0, offs[0], to_log=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(e) + "\n" for e in h.finish()) + '{"torn')
    script = str(Path(checker.__file__))
    assert subprocess.run([sys.executable, script, str(good)], capture_output=True).returncode == 0
    r = subprocess.run([sys.executable, script, str(bad), "--report", str(tmp_path / "r.json")],
                       capture_output=True)
    assert r.returncode == 1
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["anomaly_counts"] == {"lost_write": 1} and rep["stats"]["torn_lines"] == 1


def test_post_heal_view_needs_every_broker_to_agree():
    import run as chaos_run
    r = chaos_run.Run.__new__(chaos_run.Run)
    r.spec = {"partitions": 2}

    def md(leader0, isr0):
        return {"controller": 1, "brokers": {}, "partitions": {
            "0": {"leader": leader0, "replicas": [1, 2, 3], "isr": isr0, "error": None},
            "1": {"leader": 2, "replicas": [2, 3, 1], "isr": [2, 3, 1], "error": None}}}
    full = md(3, [3, 1, 2])
    assert r.agreed_full_view({1: full, 2: full, 3: full}) is not None
    # b3's stale cache says full ISR, the others know the ISR shrank
    assert r.agreed_full_view({1: md(3, [3, 1]), 2: md(3, [3, 1]), 3: full}) is None
    # all full but disagreeing on the leader
    assert r.agreed_full_view({1: full, 2: md(1, [3, 1, 2]), 3: full}) is None
    assert r.agreed_full_view({1: full, 2: {"error": "timeout"}, 3: full}) is None
    assert r.agreed_full_view({}) is None


def test_post_heal_view_needs_the_full_replication_factor():
    """A reassignment that left a partition with fewer replicas than the
    topic's replication factor is not a recovered cluster, even with a full ISR."""
    import run as chaos_run
    r = chaos_run.Run.__new__(chaos_run.Run)
    r.spec = {"partitions": 1, "rf": 3}
    full = {"partitions": {"0": {"leader": 1, "replicas": [1, 2, 3], "isr": [1, 2, 3], "error": None}}}
    short = {"partitions": {"0": {"leader": 2, "replicas": [2, 3], "isr": [2, 3], "error": None}}}
    assert r.agreed_full_view({1: full, 2: full, 3: full}) is not None
    assert r.agreed_full_view({1: short, 2: short, 3: short}) is None


# --- transactional histories (workload.py --workload txn, txn_checks.py) ------

class T(H):
    """H with transactions: each record is acked at the next offset of its
    partition (aborted ones too, and every transaction's marker takes an
    offset); the final read_committed log holds the records of committed
    transactions."""

    def __init__(self):
        super().__init__(partitions=3)
        self.ev[0].update(workload="txn", txn_timeout_ms=10000)
        self.next = [0, 0, 0]
        self.n = 0

    def txn(self, proc, partitions, outcome, visible=None, polled_by=None):
        """One transaction; `visible` (default: committed or not) puts its
        records in the final log, polled_by has a consumer poll them."""
        txn = "%s-t%d" % (proc, self.n)
        self.n += 1
        self.ev.append({"type": "txn-begin", "process": proc, "txn": txn, "t": self.tick()})
        records = []
        for p in partitions:
            v = self.invoke(proc, p)
            self.ev[-1]["txn"] = txn
            self.ok(proc, v, p, self.next[p])
            self.ev[-1]["txn"] = txn
            records.append((p, self.next[p], v))
            self.next[p] += 1
        if outcome is not None:
            self.ev.append({"type": "txn-end", "process": proc, "txn": txn, "intent": "commit",
                            "outcome": outcome, "t": self.tick()})
        for p in set(partitions):
            self.next[p] += 1  # the marker
        if visible is None:
            visible = outcome == "committed"
        for p, o, v in records:
            if visible is True or (visible and v in visible):
                self.final_log[p][o] = v
                if polled_by:
                    self.poll(polled_by, p, o, v)
        return [v for _, _, v in records]

    def lso(self, p, lso, hw, t=None):
        self.ev.append({"type": "lso", "partition": p, "lso": lso, "hw": hw, "t": self.tick() if t is None else t})

    def finish_txn(self, lso_ok=True):
        out = self.finish()
        for p in range(self.partitions):
            hw = self.next[p]
            out.append({"type": "final-lso", "partition": p, "lso": hw if lso_ok else hw - 1, "hw": hw})
        return out


def txn_clean():
    h = T()
    h.assign("c0")
    for i in range(6):
        h.txn("t0", [i % 3, (i + 1) % 3], "committed", polled_by="c0")
        h.txn("t1", [(i + 2) % 3, i % 3, (i + 1) % 3], "aborted")
    return h


def test_txn_clean_history_passes():
    h = txn_clean()
    h.txn("t1", [0, 1], "unknown", visible=True)   # unknown outcome: all visible ...
    h.txn("t1", [2, 0], "unknown", visible=False)  # ... or none: both fine
    h.txn("t0", [1], None)                          # no txn-end at all: unknown, absent
    for i in range(5):
        h.lso(0, 10 + i, 20 + i)  # moving
    rep = run(h.finish_txn())
    assert rep["valid"], (rep["violations"], rep["examples"])
    tx = rep["stats"]["txn"]
    assert tx["transactions"] == {"committed": 6, "aborted": 6, "unknown": 3}
    assert tx["lso_samples"] == 5 and tx["final_lso_checked"] == 3
    # the acked records of aborted transactions are neither lost nor "unseen"
    assert rep["stats"]["unseen_acked"] == 0 and "lost_write" not in rep["anomaly_counts"]


def test_txn_aborted_record_polled():
    h = txn_clean()
    aborted = h.txn("t1", [0, 1], "aborted")
    h.poll("c0", 0, h.next[0] - 2, aborted[0])  # read_committed handed out an aborted record
    rep = run(h.finish_txn())
    assert "txn_aborted_read" in rep["violations"]
    assert rep["examples"]["txn_aborted_read"][0]["value"] == aborted[0]


def test_txn_aborted_record_in_final_read():
    h = txn_clean()
    h.txn("t1", [1, 2], "aborted", visible=True)
    rep = run(h.finish_txn())
    assert rep["violations"] == ["txn_aborted_read"], rep["violations"]
    assert rep["anomaly_counts"]["txn_aborted_read"] == 2


def test_txn_committed_record_missing():
    h = txn_clean()
    committed = h.txn("t0", [0, 2], "committed", visible=False)
    rep = run(h.finish_txn())
    assert "txn_committed_lost" in rep["violations"]
    assert rep["examples"]["txn_committed_lost"][0]["missing"] == committed


def test_txn_partly_visible():
    h = txn_clean()
    committed = h.txn("t0", [0, 1, 2], "committed", visible=set())
    h.final_log[0][h.next[0] - 2] = committed[0]  # only the first of three
    unknown = h.txn("t1", [1, 2], "unknown", visible=set())
    h.final_log[2][h.next[2] - 2] = unknown[1]    # one of two, outcome unknown
    rep = run(h.finish_txn())
    assert "txn_partial" in rep["violations"]
    assert {e["txn"] for e in rep["examples"]["txn_partial"]} == {"t0-t12", "t1-t13"}


def test_lso_stuck_after_heal():
    h = txn_clean()
    h.nemesis("inject")
    for _ in range(3):
        h.lso(1, 5, 9)
    h.nemesis("heal")
    healed = h.t
    # Stuck during the fault is allowed; 12 s after the heal is within 10 s + 5 s ...
    h.lso(1, 5, 9, t=healed + 12.0)
    rep = run(h.finish_txn())
    assert rep["valid"], rep["violations"]
    # ... 16 s is not.
    h.lso(1, 5, 9, t=healed + 16.0)
    rep = run(h.finish_txn())
    assert rep["violations"] == ["lso_stuck"], rep["violations"]
    assert rep["examples"]["lso_stuck"][0]["partition"] == 1
    # A stable offset that moves resets the clock.
    h2 = txn_clean()
    for i in range(40):
        h2.lso(0, i // 2, 100, t=100.0 + i)
    assert run(h2.finish_txn())["valid"]


def test_lso_below_high_watermark_at_the_end():
    rep = run(txn_clean().finish_txn(lso_ok=False))
    assert rep["violations"] == ["lso_stuck"]
    assert all(e.get("final") for e in rep["examples"]["lso_stuck"])


def test_txn_producer_died():
    h = txn_clean()
    h.ev.append({"type": "workload-error", "process": "t0", "error": "KafkaException(...)", "t": h.tick()})
    assert run(h.finish_txn())["violations"] == ["workload_error"]
