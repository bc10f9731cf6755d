"""Consume-transform-produce under faults (the txn workload's exactly-once leg).

Workload side (ctp_thread, in workload.py run --workload txn): one
transactional consumer-producer reads the input topic (the transactional
producers' topic) read_committed, and for each record writes "ctp:<value>"
to the same partition of the output topic (<topic>-out), then
send_offsets_to_transaction with the consumer's positions (group chaos-ctp,
partitions assign()ed, so generation -1) and commits; about one transaction
in five is aborted on purpose. After an abort, or an unknown outcome (a new
producer instance then fences the old one), the consumer is rewound to the
group's committed offsets (OffsetFetch, require-stable), as a Kafka Streams
task does. The consumer runs with auto.offset.reset "error": when a fetch
answers OFFSET_OUT_OF_RANGE (a deposed leader whose log ends below the
position, which librdkafka 2.0.2 cannot fence: no KIP-320), the batch is
dropped and every partition rewound to the committed offsets too, instead of
librdkafka jumping to offset 0 and the CTP processing inputs a second time.
Events: {"type":"ctp-txn","txn":..,"records":n,"intent":..,"outcome":..} per
transaction, "ctp-rewind" with the positions, "ctp-offset-reset" with the
partitions whose position was lost.

With --ctp-mode subscribe (ctp_subscribed_thread) --ctp-instances members
subscribe() to the input in the same group instead, each with its own
transactional.id, leaving and joining again all run long so that partitions
change hands (rebalances; KIP-447's generation fencing, require_stable
offsets). The check is the same.

Final read (final_read_ctp): the output topic read_committed ("ctp-final",
"ctp-final-end") and the group's committed offsets ("ctp-committed").

Check (check): the input records of the final read below the group's
committed offset of their partition must each appear exactly once in the
committed output, and nothing else may appear there:
  ctp_lost        an input record below the committed offset missing from the output
  ctp_duplicate   an output value present more than once
  ctp_unexpected  an output value with no input record below the committed offset
  ctp_offsets     the committed offsets could not be read, one lies beyond the
                  input's end, or the output could not be read to its end
"""

import random
import time
from collections import Counter

from gaps import gap_stats
from security import secured

try:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
except ImportError:  # the checker (check) needs no client
    pass

GROUP = "chaos-ctp"
PREFIX = "ctp:"
BATCH = 20
ABORT_RATIO = 0.2


def out_topic(topic):
    return topic + "-out"


def _consumer_config(args, group=GROUP):
    # "error", not "earliest": the only position an exactly-once consumer may
    # resume from is the group's committed offset (_consume rewinds to it).
    # With "earliest" an OFFSET_OUT_OF_RANGE from a resumed, deposed leader sent
    # the CTP back to offset 0 and it committed inputs again (seed 4747,
    # docs/chaos.md). Every position is set explicitly (_rewind), so the reset
    # policy only ever applies to such a lost position.
    return {"bootstrap.servers": args.bootstrap, "group.id": group, "isolation.level": "read_committed",
            "enable.auto.commit": False, "auto.offset.reset": "error",
            "socket.connection.setup.timeout.ms": 3000, "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 2000, "fetch.wait.max.ms": 200}


def _consumer(args, group=GROUP):
    return Consumer(secured(_consumer_config(args, group)))


def _committed(c, args, timeout=10.0):
    """{partition: offset} the group committed (OFFSET_BEGINNING where none), or None."""
    tps = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    try:
        got = c.committed(tps, timeout=timeout)
    except KafkaException:
        return None
    return {tp.partition: (tp.offset if tp.offset >= 0 else OFFSET_BEGINNING) for tp in got}


def _rewind(c, args, hist, stop):
    """Assign every partition at the group's committed offsets (retried);
    returns {partition: next offset} of those that have one, or None once stopped."""
    while not stop.is_set():
        pos = _committed(c, args)
        if pos is not None:
            c.assign([TopicPartition(args.topic, p, o) for p, o in pos.items()])
            hist.log(type="ctp-rewind", positions={str(p): o for p, o in pos.items()})
            return {p: o for p, o in pos.items() if o >= 0}
        time.sleep(0.5)
    return None


def _consume(c, args, hist, stop, pos):
    """(records, positions) of the next batch. When librdkafka reports a
    partition's position lost (_AUTO_OFFSET_RESET: the fetch was answered
    OFFSET_OUT_OF_RANGE and auto.offset.reset is "error", so that partition's
    fetching stopped), the whole batch is dropped and every partition rewound
    to the committed offsets: no transaction is open between batches, so what
    was consumed since the last commit is simply read again. Positions are
    None once stopped during the rewind."""
    batch = c.consume(num_messages=BATCH, timeout=0.5)
    lost = [m for m in batch if m.error() is not None and m.error().code() == KafkaError._AUTO_OFFSET_RESET]
    if lost:
        hist.log(type="ctp-offset-reset", partitions=sorted({m.partition() for m in lost}),
                 error=str(lost[0].error())[:300])
        return [], _rewind(c, args, hist, stop)
    return [m for m in batch if m.error() is None], pos


def ctp_thread(args, hist, stop):
    try:
        _ctp(args, hist, stop)
    except Exception as e:  # noqa: BLE001 (reported: a run without its CTP is not valid)
        hist.log(type="workload-error", process="ctp", error=repr(e)[:500])
        raise


def _transform(args, p, c, msgs, offsets, rng):
    """One consume-transform-produce transaction of `msgs`, committing
    `offsets` with it (or aborting, ABORT_RATIO of the time): (intent,
    outcome, error, whether the producer can go on)."""
    import txn_workload as tw
    try:
        p.begin_transaction()
        for m in msgs:
            p.produce(out_topic(args.topic), value=PREFIX.encode() + (m.value() or b""), partition=m.partition())
        p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), tw.END_TIMEOUT_S)
        intent = "abort" if rng.random() < ABORT_RATIO else "commit"
        outcome, error, usable = tw._end(p, intent)
    except (KafkaException, BufferError) as e:
        err = e.args[0] if isinstance(e, KafkaException) else None
        intent, error = "commit", "send: %s" % (err.name() if err is not None else e)
        outcome, _, usable = tw._end(p, "abort")
        usable = usable and not (err is not None and err.fatal())
    return intent, outcome, error, usable


def _ctp(args, hist, stop):
    import txn_workload as tw
    rng = random.Random(None if args.seed is None else args.seed * 1000 + 999)
    c = _consumer(args)
    p = tw._new_producer(args, "ctp", hist, stop)
    pos = _rewind(c, args, hist, stop) if p is not None else None
    n = 0
    while pos is not None and not stop.is_set():
        msgs, pos = _consume(c, args, hist, stop, pos)
        if not msgs:
            continue
        txn = "ctp-t%d" % n
        n += 1
        for m in msgs:
            pos[m.partition()] = m.offset() + 1
        offsets = [TopicPartition(args.topic, part, o) for part, o in sorted(pos.items())]
        intent, outcome, error, usable = _transform(args, p, c, msgs, offsets, rng)
        hist.log(type="ctp-txn", txn=txn, records=len(msgs), intent=intent, outcome=outcome, error=error)
        if not usable:
            p = tw._new_producer(args, "ctp", hist, stop)
            if p is None:
                break
        if outcome != "committed":
            pos = _rewind(c, args, hist, stop)
    c.close()


def ctp_subscribed_thread(args, hist, stop, index):
    name = "ctp%d" % index
    try:
        _ctp_subscribed(args, hist, stop, index, name)
    except Exception as e:  # noqa: BLE001 (reported: a run without its CTP is not valid)
        hist.log(type="workload-error", process=name, error=repr(e)[:500])
        raise


def _seek_committed(c, hist, name):
    """Every partition this member holds back to the group's committed
    offset (OFFSET_BEGINNING where none). False when that could not be done:
    the caller then leaves the group and joins with a new consumer, which
    starts from the committed offsets by itself."""
    try:
        parts = c.assignment()
        if not parts:
            hist.log(type="ctp-rewind", process=name, positions={})
            return True
        got = c.committed(parts, timeout=10.0)
        for tp in got:
            c.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
    except KafkaException as e:
        hist.log(type="ctp-rewind-error", process=name, error=str(e)[:300])
        return False
    hist.log(type="ctp-rewind", process=name, positions={str(tp.partition): tp.offset for tp in got})
    return True


def _on_assign(c, parts, hist, name):
    """The partitions the group gave this member, each at the group's
    committed offset, the beginning where there is none: with
    auto.offset.reset "error" librdkafka would stop a partition that has no
    committed offset yet. If the offsets cannot be read now, librdkafka
    reads them itself (a partition without one then reports a lost position
    and the member rejoins)."""
    try:
        got = c.committed(parts, timeout=10.0)
        parts = [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                 for tp in got]
    except KafkaException as e:
        hist.log(type="ctp-assign-error", process=name, error=str(e)[:300])
    c.assign(parts)
    hist.log(type="ctp-assign", process=name, positions={str(tp.partition): tp.offset for tp in parts})


def _ctp_subscribed(args, hist, stop, index, name):
    """One of --ctp-instances members of group chaos-ctp that subscribe() to
    the input topic instead of assign()ing it, each with its own
    transactional.id (chaos-ctp<i>). The group coordinator assigns the
    partitions and moves them at every join and leave: each member leaves
    and joins again with a new consumer every 10-30 s (and after a rewind it
    could not do by seeking), so partitions change hands all run long, under
    the faults too. A member's transaction sends its offsets with its
    consumer's group metadata (generation and member id, KIP-447): a member
    whose generation is no longer current must be refused, and the new owner
    of a partition must not read a committed offset while a transaction's
    offsets for it are pending (OffsetFetch require_stable). Either mistake
    shows as ctp_duplicate. Rebalance callbacks run inside consume(), when
    no transaction is open, so a revocation needs no commit of its own."""
    import txn_workload as tw
    rng = random.Random(None if args.seed is None else args.seed * 1000 + 900 + index)
    p = tw._new_producer(args, name, hist, stop)
    n = 0
    while p is not None and not stop.is_set():
        c = _consumer(args)
        c.subscribe([args.topic], on_assign=lambda cons, ps: _on_assign(cons, ps, hist, name),
                    on_revoke=lambda _c, ps: hist.log(type="ctp-revoke", process=name,
                                                      partitions=sorted(tp.partition for tp in ps)))
        leave_at = time.monotonic() + rng.uniform(10, 30)
        while p is not None and not stop.is_set() and time.monotonic() < leave_at:
            batch = c.consume(num_messages=BATCH, timeout=0.5)
            lost = [m for m in batch if m.error() is not None and m.error().code() == KafkaError._AUTO_OFFSET_RESET]
            if lost:
                hist.log(type="ctp-offset-reset", process=name, partitions=sorted({m.partition() for m in lost}),
                         error=str(lost[0].error())[:300])
                if not _seek_committed(c, hist, name):
                    break
                continue
            msgs = [m for m in batch if m.error() is None]
            if not msgs:
                continue
            txn = "%s-t%d" % (name, n)
            n += 1
            ends = {}
            for m in msgs:
                ends[m.partition()] = max(ends.get(m.partition(), -1), m.offset() + 1)
            offsets = [TopicPartition(args.topic, part, o) for part, o in sorted(ends.items())]
            intent, outcome, error, usable = _transform(args, p, c, msgs, offsets, rng)
            hist.log(type="ctp-txn", process=name, txn=txn, records=len(msgs), intent=intent, outcome=outcome,
                     error=error, offsets={str(tp.partition): tp.offset for tp in offsets})
            if not usable:
                p = tw._new_producer(args, name, hist, stop)
            if outcome != "committed" and not _seek_committed(c, hist, name):
                break
        hist.log(type="ctp-leave", process=name)
        c.close()


def final_read_ctp(args, hist):
    """The output topic read_committed to its end, and the group's offsets. 0 when complete."""
    import workload
    code = workload.read_partitions(args, hist, eof=True, topic=out_topic(args.topic), event="ctp-final")
    c = _consumer(args)
    pos = None
    deadline = time.monotonic() + args.timeout
    while pos is None and time.monotonic() < deadline:
        pos = _committed(c, args)
        if pos is None:
            time.sleep(1.0)
    c.close()
    for part, off in sorted((pos or {}).items()):
        hist.log(type="ctp-committed", partition=part, offset=off if off >= 0 else 0)
    if pos is None:
        hist.log(type="ctp-committed-error")
        return code or 5
    return code


def progress(events, f, max_gap=None, last_heal=None):
    """The CTP's progress: its committed transactions over time. Stats always; a
    ctp_liveness violation only with a bound (the checker's --max-gap), when no
    CTP transaction committed after the last heal or two of them (or the heal
    and the first) lie further apart than the bound."""
    ts = [e["t"] for e in events if e.get("type") == "ctp-txn" and e.get("outcome") == "committed" and "t" in e]
    g = gap_stats(ts, last_heal)
    out = {"ctp_commits": len(ts), "ctp_max_gap_s": g["max_gap"]}
    if last_heal is not None:
        out["ctp_commits_after_heal"] = len(g["after"])
        out["ctp_max_gap_after_heal_s"] = g["max_gap_after"]
        if max_gap is not None and (not g["after"] or g["max_gap_after"] > max_gap):
            f.add("ctp_liveness", {"commits_after_heal": len(g["after"]),
                                   "max_gap_after_heal_s": g["max_gap_after"], "bound_s": max_gap})
    elif max_gap is not None and (not ts or (g["max_gap"] is not None and g["max_gap"] > max_gap)):
        f.add("ctp_liveness", {"commits": len(ts), "max_gap_s": g["max_gap"], "bound_s": max_gap})
    return out


def check(events, final, final_ends, f, max_gap=None, last_heal=None):
    """Adds the ctp_* violations; returns stats (None when the run had no CTP).
    max_gap and last_heal: the progress check (progress())."""
    committed = {e["partition"]: e["offset"] for e in events if e.get("type") == "ctp-committed"}
    outs = [e for e in events if e.get("type") == "ctp-final"]
    txns = Counter(e.get("outcome") for e in events if e.get("type") == "ctp-txn")
    if not committed and not outs and not txns and not any(e.get("type") == "ctp-committed-error" for e in events):
        return None
    moved = progress(events, f, max_gap, last_heal)
    if any(e.get("type") == "ctp-committed-error" for e in events) or not committed:
        f.add("ctp_offsets", {"error": "the group's committed offsets could not be read"
                              if committed or outs else "no final read of the CTP's output and offsets"})
        return {"ctp_transactions": dict(txns), **moved}
    expected = {}
    for p, off in committed.items():
        log = final.get(p, {})
        high = (final_ends.get(p) or {}).get("high")
        if high is not None and off > high:
            f.add("ctp_offsets", {"partition": p, "committed": off, "input_high": high})
        for o, v in log.items():
            if o < off:
                expected[(p, v)] = o
    for e in events:
        if e.get("type") == "ctp-final-end" and not e.get("complete"):
            f.add("ctp_offsets", {"partition": e["partition"], "error": "output read incomplete", "end": e})
    got = Counter((e["partition"], (e.get("value") or "")[len(PREFIX):]) for e in outs)
    for key, n in sorted(got.items()):
        if n > 1:
            f.add("ctp_duplicate", {"partition": key[0], "value": key[1], "times": n})
        if key not in expected:
            f.add("ctp_unexpected", {"partition": key[0], "value": key[1]})
    for key, o in sorted(expected.items()):
        if key not in got:
            f.add("ctp_lost", {"partition": key[0], "value": key[1], "input_offset": o})
    return {"ctp_transactions": dict(txns), "ctp_committed_offsets": {str(p): o for p, o in sorted(committed.items())},
            "ctp_inputs_below_committed": len(expected), "ctp_outputs": sum(got.values()),
            "ctp_offset_resets": sum(1 for e in events if e.get("type") == "ctp-offset-reset"), **moved}
