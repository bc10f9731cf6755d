"""The transactional chaos workload (workload.py --workload txn).

Each producer thread is a confluent-kafka transactional producer with a
transactional.id of its own ("chaos-<name>"). It writes transactions of 1 to
--txn-size records, each record to a partition drawn at random (so most
transactions span several partitions), and commits (--commit-ratio) or aborts
at random. Values are "<producer>-<seq>" with seq running across
transactions, so the checker's per-producer order check still applies.

Ending a transaction, as librdkafka's and Kafka's documentation say:
  - intent abort: abort_transaction(); whatever it answers, the records can
    never be committed (only EndTxn(commit) commits), so the outcome is
    "aborted" (an abort that failed is completed by the coordinator's timeout
    or by the next init_transactions);
  - intent commit: commit_transaction(); a retriable error -> commit again; an
    abortable one (txn_requires_abort) -> abort_transaction(), outcome
    "aborted" once that returns ("unknown" if it fails); a fatal one, or
    retries used up -> "unknown";
  - after "unknown" or any fatal error the producer is closed and a new one
    with the same transactional.id calls init_transactions (which fences the
    old one and completes or aborts what it left open).

The LSO monitor samples, about once a second, every partition's last stable
offset (ListOffsets latest from a read_committed consumer: librdkafka sends
the consumer's isolation level) and high watermark (the same from a
read_uncommitted consumer), logged as "lso" events.
"""

import random
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from security import secured

COMMIT_ATTEMPTS = 3
END_TIMEOUT_S = 30.0


def _conf(args, name):
    return {"bootstrap.servers": args.bootstrap, "transactional.id": "chaos-%s" % name,
            "transaction.timeout.ms": args.txn_timeout_ms, "linger.ms": 5,
            # librdkafka refuses a message timeout above the transaction's.
            "message.timeout.ms": min(args.message_timeout_ms, args.txn_timeout_ms), "request.timeout.ms": args.request_timeout_ms,
            "socket.connection.setup.timeout.ms": 3000, "topic.metadata.refresh.interval.ms": 2000,
            "retry.backoff.ms": 200, "reconnect.backoff.max.ms": 1000}


def _new_producer(args, name, hist, stop):
    """A producer whose init_transactions succeeded, or None once stopped."""
    while not stop.is_set():
        p = Producer(secured(_conf(args, name)))
        try:
            p.init_transactions(END_TIMEOUT_S)
            hist.log(type="txn-init", process=name)
            return p
        except KafkaException as e:
            err = e.args[0]
            hist.log(type="txn-init-error", process=name, error=err.name(), fatal=err.fatal())
            if err.fatal():
                continue  # a new instance (the old one is dropped: a fatal producer raises on every call)
            time.sleep(0.5)  # retriable: the coordinator is not there yet; a new instance tries again
    return None


def _end(p, intent):
    """(outcome, error name or None, producer still usable)."""
    if intent == "abort":
        try:
            p.abort_transaction(END_TIMEOUT_S)
            return "aborted", None, True
        except KafkaException as e:
            err = e.args[0]
            return "aborted", err.name(), not err.fatal() and not err.retriable()
    last = None
    for _ in range(COMMIT_ATTEMPTS):
        try:
            p.commit_transaction(END_TIMEOUT_S)
            return "committed", last, True
        except KafkaException as e:
            err = e.args[0]
            # The name, and librdkafka's text (which partition, which sequence).
            last = "%s: %s" % (err.name(), err.str()[:300])
            if err.fatal():
                return "unknown", last, False
            if err.txn_requires_abort():
                try:
                    p.abort_transaction(END_TIMEOUT_S)
                    return "aborted", last, True
                except KafkaException as e2:
                    # An earlier attempt may have reached the coordinator
                    # (its answer lost): only an abort that succeeds proves
                    # nothing was committed.
                    return "unknown", "%s; abort: %s" % (last, e2.args[0].name()), False
            if not err.retriable():
                return "unknown", last, False
    return "unknown", last, False


def producer_thread(args, name, index, hist, stop):
    try:
        _produce(args, name, index, hist, stop)
    except Exception as e:  # noqa: BLE001 (the checker reports it: a run without its producer is not valid)
        hist.log(type="workload-error", process=name, error=repr(e)[:500])
        raise


def _produce(args, name, index, hist, stop):
    rng = random.Random(None if args.seed is None else args.seed * 1000 + index)
    p = _new_producer(args, name, hist, stop)
    seq = 0
    n = 0
    interval = 1.0 / args.rate
    nxt = time.monotonic()
    while p is not None and not stop.is_set() and (args.max_messages <= 0 or seq < args.max_messages):
        txn = "%s-t%d" % (name, n)
        n += 1
        try:
            p.begin_transaction()
        except KafkaException as e:
            hist.log(type="txn-begin-error", process=name, txn=txn, error=e.args[0].name())
            p = _new_producer(args, name, hist, stop)
            continue
        hist.log(type="txn-begin", process=name, txn=txn)
        failed_locally = False
        fatal = None
        for _ in range(rng.randint(1, args.txn_size)):
            value = "%s-%d" % (name, seq)
            seq += 1
            part = rng.randrange(args.partitions)
            hist.log(type="invoke", process=name, value=value, partition=part, txn=txn)
            try:
                p.produce(args.topic, value=value.encode(), partition=part,
                          on_delivery=lambda err, msg, v=value, pt=part, x=txn: _report(hist, name, x, err, msg, v, pt))
            except (BufferError, KafkaException) as e:
                hist.log(type="fail", process=name, value=value, partition=part, txn=txn, error="produce: %s" % e)
                failed_locally = True
                break
            try:
                p.poll(0)
                nxt += interval
                while (delay := nxt - time.monotonic()) > 0:
                    p.poll(delay)
            except KafkaException as e:
                # A fatal error surfaces from poll() too (seed 9494: a resumed,
                # deposed leader answered OUT_OF_ORDER_SEQUENCE_NUMBER, which
                # librdkafka 2.0.2 takes as fatal "sequence desynchronization").
                fatal = "%s: %s" % (e.args[0].name(), e.args[0].str()[:300])
                break
            if nxt < time.monotonic() - 1.0:
                nxt = time.monotonic()
        if fatal is not None:
            # The instance is dead and never sent EndTxn(commit): the records
            # can only be aborted (by the next instance's init_transactions).
            hist.log(type="txn-end-invoke", process=name, txn=txn, intent="abort")
            hist.log(type="txn-end", process=name, txn=txn, intent="abort", outcome="aborted", error=fatal)
            p = _new_producer(args, name, hist, stop)
            continue
        intent = "abort" if failed_locally or rng.random() >= args.commit_ratio else "commit"
        hist.log(type="txn-end-invoke", process=name, txn=txn, intent=intent)
        outcome, error, usable = _end(p, intent)
        hist.log(type="txn-end", process=name, txn=txn, intent=intent, outcome=outcome, error=error)
        if not usable:
            # A fatal error makes every further call raise; a new instance with
            # the same transactional.id fences this one. librdkafka 2.0.2's
            # abort_transaction sometimes fails INVALID_TXN_STATE (fatal) right
            # after a commit, against Kafka too (confluentinc/librdkafka#4849).
            p = _new_producer(args, name, hist, stop)
    hist.log(type="producer-done", process=name, sent=seq, transactions=n)


def _report(hist, name, txn, err, msg, value, partition):
    if err is None:
        off = msg.offset()
        if off is None or off < 0:
            hist.log(type="ok", process=name, value=value, partition=msg.partition(), offset=None, implicit=True,
                     txn=txn)
        else:
            hist.log(type="ok", process=name, value=value, partition=msg.partition(), offset=off, txn=txn)
    else:
        # Retries are on (transactions need idempotence): never "fail".
        hist.log(type="info", process=name, value=value, partition=partition, txn=txn, error=err.name())


def _consumers(args):
    base = {"bootstrap.servers": args.bootstrap, "group.id": "chaos-lso", "enable.auto.commit": False,
            "socket.connection.setup.timeout.ms": 3000, "reconnect.backoff.max.ms": 1000}
    return (Consumer(secured(dict(base, **{"isolation.level": "read_committed"}))),
            Consumer(secured(dict(base, **{"isolation.level": "read_uncommitted"}))))


def sample(committed, uncommitted, topic, partition):
    """(lso, hw) of a partition, or None when either query failed."""
    tp = TopicPartition(topic, partition)
    try:
        lso = committed.get_watermark_offsets(tp, timeout=2, cached=False)[1]
        hw = uncommitted.get_watermark_offsets(tp, timeout=2, cached=False)[1]
    except KafkaException:
        return None
    return lso, hw


def lso_monitor(args, hist, stop):
    committed, uncommitted = _consumers(args)
    while not stop.is_set():
        for part in range(args.partitions):
            got = sample(committed, uncommitted, args.topic, part)
            if got is not None:
                hist.log(type="lso", partition=part, lso=got[0], hw=got[1])
        stop.wait(1.0)
    committed.close()
    uncommitted.close()


def wait_stable(args, hist):
    """Before the final read (the producers have stopped): waits up to
    transaction.timeout.ms plus 10 s for every partition's last stable offset
    to reach its high watermark; logs each partition's last sample as
    "final-lso". True when all did."""
    committed, uncommitted = _consumers(args)
    t0 = time.monotonic()
    deadline = t0 + args.txn_timeout_ms / 1000.0 + 10
    pending = set(range(args.partitions))
    last = {}
    while pending and time.monotonic() < deadline:
        for part in sorted(pending):
            got = sample(committed, uncommitted, args.topic, part)
            if got is None:
                continue
            last[part] = got
            if got[0] == got[1]:
                pending.discard(part)
                hist.log(type="final-lso", partition=part, lso=got[0], hw=got[1],
                         waited_s=round(time.monotonic() - t0, 2))
        if pending:
            time.sleep(0.5)
    for part in sorted(pending):
        lso, hw = last.get(part, (None, None))
        hist.log(type="final-lso", partition=part, lso=lso, hw=hw, waited_s=round(time.monotonic() - t0, 2))
    committed.close()
    uncommitted.close()
    return not pending

