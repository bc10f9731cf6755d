"""The transactional checks of checker.py (histories of workload.py --workload txn).

A transaction's outcome is what its producer learned (txn-end): "committed"
(commit_transaction returned), "aborted" (abort intended, or the commit was
refused with an abortable error and the abort returned), else "unknown" (a
fatal error, retries used up, or no txn-end at all). Its records are the
invoke events carrying its "txn". Consumers and the final read are
read_committed. Violations:

  txn_aborted_read    a record of an aborted transaction polled or in the
                      final read
  txn_committed_lost  a record of a committed transaction missing from its
                      partition's final read
  txn_partial         the final read holds some but not all records of a
                      transaction (all or none, whatever its outcome)
  lso_stuck           a partition's last stable offset stayed at one value
                      below its high watermark for longer than
                      transaction.timeout.ms + slack, counted only while no
                      fault is active (from the heal that ended the last one);
                      or, after the producers stopped, it never reached the
                      high watermark (final-lso)
  workload_error      a producer thread died (the run lost its load)
"""

from collections import defaultdict

DEFAULT_TXN_TIMEOUT_MS = 10000
DEFAULT_LSO_SLACK_S = 5.0


def is_txn_history(events):
    return any(e.get("type") == "config" and e.get("workload") == "txn" or "txn" in e for e in events)


class Transactions:
    def __init__(self, events):
        self.values = defaultdict(list)   # txn -> [(partition, value)]
        self.txn_of = {}                  # value -> txn
        self.outcome = {}                 # txn -> committed / aborted / unknown
        for e in events:
            t = e.get("type")
            if t == "invoke" and "txn" in e:
                self.values[e["txn"]].append((e["partition"], e["value"]))
                self.txn_of[e["value"]] = e["txn"]
            elif t == "txn-begin":
                self.values.setdefault(e["txn"], [])
            elif t == "txn-end":
                self.outcome[e["txn"]] = e.get("outcome", "unknown")
        for txn in self.values:
            self.outcome.setdefault(txn, "unknown")

    def committed(self, value):
        """True for a record of a committed transaction (and for any non-transactional record)."""
        txn = self.txn_of.get(value)
        return txn is None or self.outcome[txn] == "committed"

    def counts(self):
        c = defaultdict(int)
        for o in self.outcome.values():
            c[o] += 1
        return dict(c)


def _fault_windows(nemesis):
    """(t, phase) of every inject and heal, in time order."""
    return sorted((n["t"], n["phase"]) for n in nemesis if n.get("phase") in ("inject", "heal"))


def _healed_since(windows, t):
    """The time from which no fault has been active at t: the last heal before
    t (or minus infinity with no faults at all); None while a fault is active."""
    last = None
    for wt, phase in windows:
        if wt > t:
            break
        last = (wt, phase)
    if last is None:
        return float("-inf")
    return last[0] if last[1] == "heal" else None


def check_lso(events, nemesis, f, txn_timeout_ms, slack_s):
    """lso_stuck from the monitor's samples and the final-lso events; returns stats."""
    bound = txn_timeout_ms / 1000.0 + slack_s
    windows = _fault_windows(nemesis)
    samples = defaultdict(list)
    for e in events:
        if e.get("type") == "lso" and e.get("lso") is not None and e.get("hw") is not None:
            samples[e["partition"]].append((e["t"], e["lso"], e["hw"]))
    worst = 0.0
    for p, lst in sorted(samples.items()):
        lst.sort()
        cur = start = None
        flagged = False
        for t, lso, hw in lst:
            if lso >= hw:
                cur = start = None
                continue
            if lso != cur:
                cur, start, flagged = lso, t, False
                continue
            healed = _healed_since(windows, t)
            if healed is None:
                continue
            stuck = t - max(start, healed)
            worst = max(worst, stuck)
            if stuck > bound and not flagged:
                flagged = True
                f.add("lso_stuck", {"partition": p, "lso": lso, "hw": hw, "stuck_s": round(stuck, 2),
                                    "since_t": max(start, healed), "bound_s": bound})
    finals = [e for e in events if e.get("type") == "final-lso"]
    for e in finals:
        if e.get("lso") is None or e["lso"] != e.get("hw"):
            f.add("lso_stuck", {"partition": e["partition"], "lso": e.get("lso"), "hw": e.get("hw"),
                                "final": True, "waited_s": e.get("waited_s")})
    return {"lso_samples": sum(len(v) for v in samples.values()), "lso_max_stuck_healed_s": round(worst, 2),
            "final_lso_checked": len(finals)}


def check(events, txns, polls, final, have_final, nemesis, f, txn_timeout_ms=None, slack_s=DEFAULT_LSO_SLACK_S):
    """Adds the transactional violations to Findings f; returns stats for the report."""
    config = next((e for e in events if e.get("type") == "config"), {})
    if txn_timeout_ms is None:
        txn_timeout_ms = config.get("txn_timeout_ms", DEFAULT_TXN_TIMEOUT_MS)
    for q in polls:
        txn = txns.txn_of.get(q["value"])
        if txn is not None and txns.outcome[txn] == "aborted":
            f.add("txn_aborted_read", {"value": q["value"], "txn": txn, "consumer": q["process"],
                                       "partition": q["partition"], "offset": q["offset"]})
    if have_final:
        final_values = {p: set(log.values()) for p, log in final.items()}
        for txn, records in sorted(txns.values.items()):
            present = [v for p, v in records if v in final_values.get(p, ())]
            outcome = txns.outcome[txn]
            if outcome == "aborted":
                for v in present:
                    f.add("txn_aborted_read", {"value": v, "txn": txn, "consumer": "final"})
            elif outcome == "committed" and len(present) < len(records):
                missing = [v for p, v in records if v not in final_values.get(p, ())]
                f.add("txn_committed_lost", {"txn": txn, "missing": missing, "records": len(records)})
            if present and len(present) < len(records):
                f.add("txn_partial", {"txn": txn, "outcome": outcome, "present": present,
                                      "records": [v for _, v in records]})
    for e in events:
        if e.get("type") == "workload-error":
            f.add("workload_error", {"process": e.get("process"), "error": e.get("error")})
    stats = {"transactions": txns.counts(), "txn_timeout_ms": txn_timeout_ms, "lso_slack_s": slack_s}
    stats.update(check_lso(events, nemesis, f, txn_timeout_ms, slack_s))
    return stats
