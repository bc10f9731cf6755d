"""Checks a chaos history (fault-testing.md §2 "Checks", the black-box ones).

    checker.py HISTORY.jsonl [MORE.jsonl ...] [--report report.json] [--max-gap S]

Input: the workload's events (invoke/ok/fail/info/assign/poll/cerror), the
final read (final/final-end) and the nemesis' events (nemesis), in any number
of files. Output: a JSON report with counts and up to 10 examples per
anomaly; exit status 1 when any check is violated, 0 otherwise.

Model: per partition, a log of unique values at offsets. Definitions:
  lost_write           an ok (value, offset) whose offset in the final read
                       holds no such value (missing or another value); an ok
                       without an offset (librdkafka's idempotent "implicit
                       ack", offset null) whose value is nowhere in its
                       partition's final log
  inconsistent_offsets one (partition, offset) seen with two values across
                       acks, polls and the final read
  duplicates           one value at two (partition, offset)s (violation only
                       with idempotence on; counted either way)
  epoch_resends        the same, but every copy under the same producer id and
                       a different producer epoch (the segments say, when the
                       run gives producer_of): the client bumped its epoch after
                       timeouts and sent the value again from sequence 0, which
                       no broker can tell from new data. Counted, no violation
  aborted_read         a value whose send definitely failed, seen in a poll
                       or the final read
  producer_order       a producer's later acked send (same partition) at an
                       offset not above its earlier one
  realtime_order       a send invoked after another send to the same
                       partition was acked lands at a lower offset
  truncated_read       a polled (offset, value) that the final log does not
                       hold (the consumer saw a record later truncated/changed)
  nonmonotonic_poll    one consumer, no reassign in between, offset not
                       above the previous one in that partition
  poll_skip            one consumer, no reassign in between, jumped over
                       offsets that the final log holds
  unexpected_value     a final-log value no producer ever attempted
  final_read_incomplete the final read did not reach some partition's end
Oks without an offset take part only in lost_write (by value), aborted_read,
unseen and liveness; every offset-based check (inconsistent_offsets,
duplicates, producer_order, realtime_order) leaves them out.
Transactional histories (workload.py --workload txn) get the checks of
txn_checks.py (txn_aborted_read, txn_committed_lost, txn_partial, lso_stuck,
workload_error) and txn_ctp.py's exactly-once checks of consume-transform-
produce (ctp_lost, ctp_duplicate, ctp_unexpected, ctp_offsets), and lost_write / unseen count only records of committed
transactions (an acked record of an aborted one is rightly never read).
Reported, not violations: unseen (acked, never polled), indeterminate sends
that did / did not land, liveness (max gap between acks per partition,
overall and after the last heal; a violation only past --max-gap), and the
CTP's progress (max gap between its committed transactions; ctp_liveness
only past --max-gap).
"""

import argparse
import json
import sys
from collections import defaultdict

import txn_checks
import txn_ctp
from gaps import gap_stats

EXAMPLES = 10


def load(paths):
    events = []
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    events.append(json.loads(line))
                except ValueError:
                    # A torn last line from a killed writer: skip it, count it.
                    events.append({"type": "torn-line", "file": path, "line": n})
    return events


class Findings:
    def __init__(self):
        self.items = defaultdict(list)
        self.counts = defaultdict(int)

    def add(self, kind, example):
        self.counts[kind] += 1
        if len(self.items[kind]) < EXAMPLES:
            self.items[kind].append(example)


def check(events, max_gap=None, idempotence=None, txn_timeout_ms=None, lso_slack_s=txn_checks.DEFAULT_LSO_SLACK_S,
          producer_of=None):
    """producer_of: {(partition, offset): (producer id, epoch)} from the
    segments (replica_check.producer_index), to tell epoch_resends apart."""
    f = Findings()
    config = next((e for e in events if e.get("type") == "config"), {})
    txns = txn_checks.Transactions(events) if txn_checks.is_txn_history(events) else None
    if idempotence is None:
        idempotence = bool(config.get("idempotence", 1)) or txns is not None
    committed = txns.committed if txns is not None else (lambda value: True)

    invokes = {}           # value -> invoke event
    acks = []              # ok events with an offset
    implicit = []          # ok events without one (offset null / implicit)
    failed = {}            # value -> fail event
    infos = {}             # value -> info event
    polls = []
    final = defaultdict(dict)  # partition -> offset -> value
    final_ends = {}
    nemesis = []
    counts = defaultdict(int)
    for e in events:
        t = e.get("type")
        counts[t] += 1
        if t == "invoke":
            invokes[e["value"]] = e
        elif t == "ok":
            o = e.get("offset")
            if o is None or e.get("implicit") or (isinstance(o, int) and o < 0):
                implicit.append(e)
            else:
                acks.append(e)
        elif t == "fail":
            failed[e["value"]] = e
        elif t == "info":
            infos[e["value"]] = e
        elif t == "poll":
            polls.append(e)
        elif t == "final":
            p, o = e["partition"], e["offset"]
            if o in final[p] and final[p][o] != e["value"]:
                f.add("inconsistent_offsets", {"partition": p, "offset": o,
                                               "values": [final[p][o], e["value"]], "source": "final twice"})
            final[p][o] = e["value"]
        elif t == "final-end":
            final_ends[e["partition"]] = e
        elif t == "nemesis":
            nemesis.append(e)

    have_final = bool(final_ends)
    for p, e in sorted(final_ends.items()):
        if not e.get("complete"):
            f.add("final_read_incomplete", e)

    # Where each value was seen: value -> {(p, o): [sources]}; (p, o) -> {value: [sources]}
    at_value = defaultdict(lambda: defaultdict(set))
    at_offset = defaultdict(lambda: defaultdict(set))

    def seen(value, p, o, source):
        at_value[value][(p, o)].add(source)
        at_offset[(p, o)][value].add(source)

    for a in acks:
        seen(a["value"], a["partition"], a["offset"], "ack:" + a["process"])
    for q in polls:
        seen(q["value"], q["partition"], q["offset"], "poll:" + q["process"])
    for p, log in final.items():
        for o, v in log.items():
            seen(v, p, o, "final")

    # 1. lost writes
    final_values_by_p = {p: set(log.values()) for p, log in final.items()}
    if have_final:
        for a in acks:
            p, o, v = a["partition"], a["offset"], a["value"]
            if not committed(v):
                continue
            got = final.get(p, {}).get(o)
            if got != v:
                where = [list(k) for k, s in at_value[v].items() if "final" in s]
                f.add("lost_write", {"value": v, "partition": p, "offset": o, "final_value_at_offset": got,
                                     "final_high": final_ends.get(p, {}).get("high"),
                                     "found_in_final_at": where, "ack_t": a["t"]})
        # An implicit ack says "written" without where: lost only if its value
        # is nowhere in its partition's final log.
        for a in implicit:
            p, v = a["partition"], a["value"]
            if committed(v) and v not in final_values_by_p.get(p, ()):
                where = [list(k) for k, s in at_value[v].items() if "final" in s]
                f.add("lost_write", {"value": v, "partition": p, "offset": None, "implicit": True,
                                     "final_high": final_ends.get(p, {}).get("high"),
                                     "found_in_final_at": where, "ack_t": a["t"]})

    # 2. inconsistent offsets
    for (p, o), vals in at_offset.items():
        if len(vals) > 1:
            f.add("inconsistent_offsets", {"partition": p, "offset": o,
                                           "values": {v: sorted(s) for v, s in vals.items()}})

    # 3. duplicates
    for v, places in at_value.items():
        if len(places) > 1:
            owners = [producer_of.get(k) for k in places] if producer_of else []
            resent = (owners and all(owners) and len({w[0] for w in owners}) == 1
                      and len({w[1] for w in owners}) == len(owners))
            f.add("epoch_resends" if resent else "duplicates",
                  {"value": v, "at": sorted([list(k) for k in places]),
                   **({"producer_epochs": sorted(w[1] for w in owners)} if resent else {})})

    # 4. aborted reads
    for v, e in failed.items():
        srcs = set().union(*at_value[v].values()) if v in at_value else set()
        srcs = {s for s in srcs if not s.startswith("ack:")}
        if srcs:
            f.add("aborted_read", {"value": v, "error": e.get("error"), "seen_by": sorted(srcs)})

    # 6. per-producer order (same partition, invoke order = seq order)
    by_prod = defaultdict(list)
    for a in acks:
        by_prod[(a["process"], a["partition"])].append(a)
    for (proc, p), lst in by_prod.items():
        lst.sort(key=lambda a: int(a["value"].rsplit("-", 1)[1]))
        for prev, cur in zip(lst, lst[1:]):
            if cur["offset"] <= prev["offset"]:
                f.add("producer_order", {"process": proc, "partition": p,
                                         "earlier": [prev["value"], prev["offset"]],
                                         "later": [cur["value"], cur["offset"]]})

    # 5. real-time order: invoke after another's ack -> higher offset
    timeline = []
    for a in acks:
        inv = invokes.get(a["value"])
        if inv is not None:
            timeline.append((inv["t"], 1, a))   # invoke
        timeline.append((a["t"], 0, a))         # completion (before invokes at the same t)
    timeline.sort(key=lambda x: (x[0], x[1]))
    max_done = {}  # partition -> (offset, value) of the highest acked so far
    for t, kind, a in timeline:
        p = a["partition"]
        if kind == 0:
            if p not in max_done or a["offset"] > max_done[p][0]:
                max_done[p] = (a["offset"], a["value"])
        elif p in max_done and a["offset"] <= max_done[p][0]:
            f.add("realtime_order", {"partition": p, "acked_before": list(max_done[p]),
                                     "invoked_after": [a["value"], a["offset"]]})

    # 7. truncated reads, 8. per-consumer monotonic polls / skips
    final_sorted = {p: sorted(log) for p, log in final.items()}
    import bisect
    last = {}  # (consumer, partition) -> offset
    for e in events:
        t = e.get("type")
        if t == "assign":
            for k in [k for k in last if k[0] == e["process"]]:
                del last[k]
        elif t == "poll":
            c, p, o, v = e["process"], e["partition"], e["offset"], e["value"]
            if have_final and final.get(p, {}).get(o) != v:
                f.add("truncated_read", {"consumer": c, "partition": p, "offset": o, "value": v,
                                         "final_value_at_offset": final.get(p, {}).get(o), "t": e["t"]})
            k = (c, p)
            if k in last:
                prev = last[k]
                if o <= prev:
                    f.add("nonmonotonic_poll", {"consumer": c, "partition": p, "previous": prev,
                                                "offset": o, "t": e["t"]})
                elif o > prev + 1 and have_final:
                    offs = final_sorted.get(p, [])
                    i = bisect.bisect_right(offs, prev)
                    if i < len(offs) and offs[i] < o:
                        f.add("poll_skip", {"consumer": c, "partition": p, "previous": prev, "offset": o,
                                            "skipped_first": offs[i], "t": e["t"]})
            last[k] = o

    # 9. final log holds only attempted values
    for p, log in final.items():
        for o, v in log.items():
            if v not in invokes:
                f.add("unexpected_value", {"partition": p, "offset": o, "value": v})

    # Reported only: unseen, indeterminate outcomes
    polled_values = {q["value"] for q in polls}
    all_acks = acks + implicit
    unseen = [a["value"] for a in all_acks if a["value"] not in polled_values and committed(a["value"])]
    final_values = {v for log in final.values() for v in log.values()}
    resolved = set(failed) | set(infos) | {a["value"] for a in all_acks}
    unresolved = [v for v in invokes if v not in resolved]
    info_landed = sum(1 for v in list(infos) + unresolved if v in final_values)

    # 11. liveness: max gap between acks per partition
    heals = [n["t"] for n in nemesis if n.get("phase") == "heal"]
    injects = [n["t"] for n in nemesis if n.get("phase") == "inject"]
    last_heal = max(heals) if heals else None
    ack_times = defaultdict(list)
    for a in all_acks:
        ack_times[a["partition"]].append(a["t"])
    liveness = {}
    for p, ts in sorted(ack_times.items()):
        g = gap_stats(ts, last_heal)
        entry = {"acks": len(ts), "max_gap_s": g["max_gap"]}
        if last_heal is not None:
            after = g["after"]
            entry["acks_after_heal"] = len(after)
            entry["first_ack_after_heal_s"] = round(after[0] - last_heal, 3) if after else None
            entry["max_gap_after_heal_s"] = g["max_gap_after"]
            if max_gap is not None and (not after or g["max_gap_after"] > max_gap):
                f.add("liveness", {"partition": p, "max_gap_after_heal_s": entry["max_gap_after_heal_s"],
                                   "bound_s": max_gap})
        liveness[str(p)] = entry
    if injects:
        first = min(injects)
        end = last_heal if last_heal is not None else float("inf")
        liveness["acks_during_fault"] = sum(1 for a in all_acks if first <= a["t"] <= end)

    txn_stats = None
    if txns is not None:
        txn_stats = txn_checks.check(events, txns, polls, final, have_final, nemesis, f,
                                     txn_timeout_ms=txn_timeout_ms, slack_s=lso_slack_s)
        ctp_stats = txn_ctp.check(events, final, final_ends, f, max_gap=max_gap,
                                  last_heal=last_heal) if have_final else None
        if ctp_stats is not None:
            txn_stats.update(ctp_stats)

    violations = sorted(k for k in f.counts if k != "epoch_resends" and (k != "duplicates" or idempotence))
    report = {
        "valid": not violations,
        "violations": violations,
        "anomaly_counts": dict(sorted(f.counts.items())),
        "examples": {k: v for k, v in sorted(f.items.items())},
        "stats": {
            "invoked": len(invokes), "ok": len(acks) + len(implicit),
            "ok_without_offset": len(implicit), "fail": len(failed), "info": len(infos),
            "unresolved": len(unresolved), "indeterminate_landed": info_landed,
            "polls": len(polls), "final_records": sum(len(l) for l in final.values()),
            "unseen_acked": len(unseen), "consumer_errors": counts.get("cerror", 0),
            "torn_lines": counts.get("torn-line", 0), "idempotence": idempotence,
            "partitions_final": {str(p): e for p, e in sorted(final_ends.items())},
            **({"txn": txn_stats} if txn_stats is not None else {}),
        },
        "unseen_examples": unseen[:EXAMPLES],
        "liveness": liveness,
        "nemesis": nemesis,
    }
    return report


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("history", nargs="+")
    ap.add_argument("--report")
    ap.add_argument("--max-gap", type=float, default=None,
                    help="liveness bound (s) on the gap between acks after the last heal")
    ap.add_argument("--idempotence", type=int, choices=(0, 1), default=None)
    ap.add_argument("--txn-timeout-ms", type=int, default=None,
                    help="transactional histories: the LSO bound (default: the workload's config)")
    ap.add_argument("--lso-slack", type=float, default=txn_checks.DEFAULT_LSO_SLACK_S,
                    help="seconds allowed beyond transaction.timeout.ms (abort sweep, sampling, markers)")
    a = ap.parse_args(argv)
    rep = check(load(a.history), max_gap=a.max_gap,
                idempotence=None if a.idempotence is None else bool(a.idempotence),
                txn_timeout_ms=a.txn_timeout_ms, lso_slack_s=a.lso_slack)
    text = json.dumps(rep, indent=1, default=str)
    if a.report:
        with open(a.report, "w") as out:
            out.write(text + "\n")
    print(json.dumps({"valid": rep["valid"], "violations": rep["violations"],
                      "anomaly_counts": rep["anomaly_counts"], "stats": {
                          k: v for k, v in rep["stats"].items() if k != "partitions_final"}}, indent=1))
    return 0 if rep["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
