"""The chaos workload: producers and consumers whose every step is logged.

Run inside the cli namespace (the orchestrator starts it with ip netns exec):

    workload.py run --bootstrap B --topic T --partitions P --out history.jsonl ...
        until SIGTERM/SIGINT or --duration: producers send unique values
        "<producer>-<seq>" to explicit partitions; consumers assign() every
        partition from the beginning and poll continuously.
    workload.py final-read --bootstrap B --topic T --partitions P --out final.jsonl
        a fresh consumer reads every partition from offset 0 to its end.

With --workload txn (run and final-read) the producers are transactional
(txn_workload.py): each writes transactions of several records to several
partitions and commits or aborts at random; consumers and the final read are
read_committed, and a monitor samples every partition's last stable offset.

History events (JSON lines; "t" = time.monotonic(), the same clock in every
process and namespace of the machine, so the orchestrator's nemesis log lines
up with it):

    {"type":"invoke","process":"p0","value":"p0-7","partition":3,"t":..}
    {"type":"ok",    ... ,"offset":41}              definitely acknowledged
    {"type":"ok",    ... ,"offset":null,"implicit":true} acknowledged, offset unknown
    {"type":"fail",  ... ,"error":"..."}            definitely not written
    {"type":"info",  ... ,"error":"..."}            outcome unknown (may be written)
    {"type":"assign","process":"c0","partitions":[..]}
    {"type":"poll",  "process":"c0","partition":3,"offset":41,"value":"p0-7"}
    {"type":"cerror","process":"c0","error":".."}   a consumer error event
    {"type":"final", "partition":3,"offset":41,"value":"p0-7"}
    {"type":"final-end","partition":3,"low":0,"high":97,"complete":true}
    txn mode adds "txn" to invoke/ok/fail/info, and (txn_workload.py):
    {"type":"txn-begin","process":"t0","txn":"t0-t5"}
    {"type":"txn-end","process":"t0","txn":"t0-t5","intent":"commit","outcome":"committed"|"aborted"|"unknown"}
    {"type":"lso","partition":3,"lso":90,"hw":97}     a sample of the monitor
    {"type":"final-lso","partition":3,"lso":97,"hw":97,"waited_s":0.1}
    and consume-transform-produce (txn_ctp.py, unless --ctp 0):
    {"type":"ctp-txn","txn":"ctp-t4","records":20,"intent":"commit","outcome":"committed"}
    {"type":"ctp-final","partition":3,"offset":12,"value":"ctp:t0-7"}   (and "ctp-final-end")
    {"type":"ctp-committed","partition":3,"offset":40}   the group's committed offset

Delivery classification. librdkafka knows per message whether it was
NOT/POSSIBLY/PERSISTED (rd_kafka_message_status), but Debian's
confluent-kafka (1.7) has no accessor for it. So: no error = ok; an error is
"fail" only when it proves nothing was appended — a local error raised before
any send (produce() refusing, unknown partition, message too large locally),
or, with retries off, a broker error that rejects before appending; every
other error (timeouts, transport errors, NOT_ENOUGH_REPLICAS_AFTER_APPEND,
_MSG_TIMED_OUT, anything after retries) is "info": never counted as failed.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from security import secured


def _codes(*names):
    """Error codes by name; a name this binding lacks is skipped."""
    return {getattr(KafkaError, n) for n in names if hasattr(KafkaError, n)}


# Never sent at all: the producer refused the message locally.
LOCAL_NEVER_SENT = _codes("_MSG_SIZE_TOO_LARGE", "_UNKNOWN_PARTITION", "_UNKNOWN_TOPIC",
                          "_INVALID_ARG", "_QUEUE_FULL")
# The broker rejected the batch before appending it. Definite only when this
# was the message's sole attempt (retries=0); a retried message may have been
# appended by an earlier attempt whose answer was lost.
BROKER_REJECTED = _codes("NOT_ENOUGH_REPLICAS", "MSG_SIZE_TOO_LARGE", "INVALID_MSG",
                         "INVALID_REQUIRED_ACKS", "TOPIC_AUTHORIZATION_FAILED", "UNKNOWN_TOPIC_OR_PART",
                         "NOT_LEADER_FOR_PARTITION", "INVALID_RECORD", "CORRUPT_MESSAGE",
                         "RECORD_LIST_TOO_LARGE")


def classify(err, retries):
    """'fail' (definitely not written) or 'info' (maybe written) for a delivery error."""
    code = err.code()
    if code in LOCAL_NEVER_SENT:
        return "fail"
    if retries == 0 and code in BROKER_REJECTED:
        return "fail"
    return "info"


class History:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1 << 16)
        self.lock = threading.Lock()

    def log(self, **ev):
        ev.setdefault("t", time.monotonic())
        line = json.dumps(ev, separators=(",", ":")) + "\n"
        with self.lock:
            self.f.write(line)

    def flush(self):
        with self.lock:
            self.f.flush()

    def close(self):
        with self.lock:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()


def producer_thread(args, name, index, hist, stop):
    conf = {"bootstrap.servers": args.bootstrap, "acks": args.acks,
            "enable.idempotence": bool(args.idempotence), "linger.ms": 5,
            "message.timeout.ms": args.message_timeout_ms, "request.timeout.ms": args.request_timeout_ms,
            "socket.connection.setup.timeout.ms": 3000, "topic.metadata.refresh.interval.ms": 2000,
            "retry.backoff.ms": 200,
            # Reconnect within a second of a broker's return: the gaps measured
            # are the broker's, not librdkafka's backoff (default max 10 s).
            "reconnect.backoff.max.ms": 1000}
    if not args.idempotence:
        conf["retries"] = args.retries
        # Order per partition is checked; without idempotence only one request
        # in flight keeps it (Kafka's own rule).
        conf["max.in.flight.requests.per.connection"] = 1
    p = Producer(secured(conf))
    retries = None if args.idempotence else args.retries

    def report(err, msg, value, partition):
        if err is None:
            off = msg.offset()
            if off is None or off < 0:
                # librdkafka's idempotent producer reports a batch persisted
                # without an offset when a later batch (higher sequence) was
                # acknowledged first: an "implicit ack". Definitely written,
                # offset unknown; the checker looks the value up in the final log.
                hist.log(type="ok", process=name, value=value, partition=msg.partition(),
                         offset=None, implicit=True)
            else:
                hist.log(type="ok", process=name, value=value, partition=msg.partition(), offset=off)
        else:
            kind = classify(err, retries if retries is not None else 1)
            hist.log(type=kind, process=name, value=value, partition=partition, error=err.name())

    interval = 1.0 / args.rate
    seq = 0
    nxt = time.monotonic()
    while not stop.is_set() and (args.max_messages <= 0 or seq < args.max_messages):
        value = "%s-%d" % (name, seq)
        part = (seq + index) % args.partitions
        hist.log(type="invoke", process=name, value=value, partition=part)
        try:
            p.produce(args.topic, value=value.encode(), partition=part,
                      on_delivery=lambda err, msg, v=value, pt=part: report(err, msg, v, pt))
        except (BufferError, KafkaException) as e:
            hist.log(type="fail", process=name, value=value, partition=part, error="produce: %s" % e)
        seq += 1
        p.poll(0)
        # Pace to the rate. poll() returns as soon as it served one delivery
        # report, so poll until the next send is due: a single poll(delay) let
        # fast acks drive the rate above --rate while `nxt` ran ahead of the
        # clock, and when acks stopped (a fault) the producer then slept off
        # that debt, seconds without a send.
        nxt += interval
        while True:
            delay = nxt - time.monotonic()
            if delay <= 0:
                break
            p.poll(delay)
        if nxt < time.monotonic() - 1.0:
            nxt = time.monotonic()  # fell behind (a slow produce()): no burst to catch up
    # Let outstanding sends resolve; whatever is still unresolved stays an
    # invoke without an outcome, which the checker treats as indeterminate.
    left = p.flush(args.flush_timeout)
    hist.log(type="producer-done", process=name, sent=seq, unresolved=left)


def consumer_thread(args, name, hist, stop):
    # librdkafka's default isolation is read_committed; said here, as the txn checks rely on it.
    c = Consumer(secured({"bootstrap.servers": args.bootstrap, "group.id": "chaos-%s-%d" % (name, os.getpid()),
                          "isolation.level": "read_committed",
                          "enable.auto.commit": False, "auto.offset.reset": "earliest",
                          "enable.partition.eof": False, "fetch.wait.max.ms": 200,
                          "topic.metadata.refresh.interval.ms": 2000, "reconnect.backoff.max.ms": 1000,
                          "socket.connection.setup.timeout.ms": 3000}))
    parts = list(range(args.partitions))
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
    hist.log(type="assign", process=name, partitions=parts)
    while not stop.is_set():
        msgs = c.consume(num_messages=200, timeout=0.5)
        for m in msgs:
            if m.error():
                hist.log(type="cerror", process=name, error=m.error().name(), partition=m.partition())
            else:
                hist.log(type="poll", process=name, partition=m.partition(), offset=m.offset(),
                         value=m.value().decode(errors="replace") if m.value() is not None else None)
    c.close()


def run(args):
    hist = History(args.out)
    hist.log(type="config", **{k: v for k, v in vars(args).items() if k != "func"},
             librdkafka=__import__("confluent_kafka").libversion()[0], pid=os.getpid())
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    if args.workload == "txn":
        import txn_workload
        threads = [threading.Thread(target=txn_workload.producer_thread, args=(args, "t%d" % i, i, hist, stop),
                                    daemon=True) for i in range(args.producers)]
        threads.append(threading.Thread(target=txn_workload.lso_monitor, args=(args, hist, stop), daemon=True))
        if args.ctp and args.ctp_mode == "subscribe":
            import txn_ctp
            threads += [threading.Thread(target=txn_ctp.ctp_subscribed_thread, args=(args, hist, stop, i),
                                         daemon=True) for i in range(args.ctp_instances)]
        elif args.ctp:
            import txn_ctp
            threads.append(threading.Thread(target=txn_ctp.ctp_thread, args=(args, hist, stop), daemon=True))
    else:
        threads = [threading.Thread(target=producer_thread, args=(args, "p%d" % i, i, hist, stop), daemon=True)
                   for i in range(args.producers)]
    threads += [threading.Thread(target=consumer_thread, args=(args, "c%d" % i, hist, stop), daemon=True)
                for i in range(args.consumers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    while not stop.is_set():
        if deadline and time.monotonic() > deadline:
            stop.set()
        if not any(t.is_alive() for t in threads):
            break
        stop.wait(0.5)
        hist.flush()
    for t in threads:
        t.join(timeout=args.flush_timeout + 10)
    hist.log(type="workload-done")
    hist.close()


def final_read(args):
    hist = History(args.out)
    if args.workload == "txn":
        import txn_workload
        import txn_ctp
        stable = txn_workload.wait_stable(args, hist)
        code = read_partitions(args, hist, eof=True)
        if args.ctp:  # read even when the input's read was incomplete
            ctp_code = txn_ctp.final_read_ctp(args, hist)
            code = code or ctp_code
        hist.close()
        return code or (0 if stable else 4)
    code = read_partitions(args, hist, eof=False)
    hist.close()
    return code


def read_partitions(args, hist, eof, topic=None, event="final"):
    """Reads every partition from offset 0 up to its end; 0 when all were read.
    The end is the high watermark, where the last record is; with eof (a
    read_committed read of transactions, whose last offsets hold control
    records no consumer is given) librdkafka's end-of-partition event, sent
    once the fetch position reaches the last stable offset. topic/event: another
    topic, logged as event and event + "-end" (txn_ctp's output topic)."""
    topic = topic or args.topic
    ok = True
    for p in range(args.partitions):
        c = Consumer(secured({"bootstrap.servers": args.bootstrap, "group.id": "chaos-final-%d" % os.getpid(),
                              "enable.auto.commit": False, "auto.offset.reset": "earliest",
                              "isolation.level": "read_committed", "enable.partition.eof": eof,
                              "socket.connection.setup.timeout.ms": 3000}))
        tp = TopicPartition(topic, p)
        deadline = time.monotonic() + args.timeout
        low = high = None
        while low is None and time.monotonic() < deadline:
            try:
                low, high = c.get_watermark_offsets(tp, timeout=5)
            except KafkaException:
                time.sleep(1)
        last = -1
        at_eof = False
        if high:
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
            while (not at_eof if eof else last < high - 1) and time.monotonic() < deadline:
                for m in c.consume(num_messages=500, timeout=1.0):
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            at_eof = True
                            continue
                        hist.log(type="cerror", process=event, partition=p, error=m.error().name())
                        continue
                    last = m.offset()
                    hist.log(type=event, partition=p, offset=m.offset(),
                             value=m.value().decode(errors="replace") if m.value() is not None else None)
        complete = low is not None and (high == 0 or (at_eof if eof else last >= high - 1))
        ok = ok and complete
        hist.log(type=event + "-end", partition=p, low=low, high=high, last=last, complete=complete)
        c.close()
    return 0 if ok else 3


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(required=True)
    r = sub.add_parser("run")
    r.set_defaults(func=run)
    r.add_argument("--producers", type=int, default=2)
    r.add_argument("--consumers", type=int, default=2)
    r.add_argument("--rate", type=float, default=100.0, help="messages/s per producer")
    r.add_argument("--acks", default="all")
    r.add_argument("--idempotence", type=int, default=1)
    r.add_argument("--retries", type=int, default=0, help="without idempotence only")
    r.add_argument("--duration", type=float, default=0, help="0 = until SIGTERM")
    r.add_argument("--max-messages", type=int, default=0, help="per producer; 0 = no limit")
    r.add_argument("--message-timeout-ms", type=int, default=30000)
    r.add_argument("--request-timeout-ms", type=int, default=10000)
    r.add_argument("--flush-timeout", type=float, default=40.0)
    r.add_argument("--txn-size", type=int, default=6, help="txn: at most this many records per transaction")
    r.add_argument("--commit-ratio", type=float, default=0.7, help="txn: share of transactions committed")
    r.add_argument("--seed", type=int, default=None, help="txn: the producers' random choices")
    r.add_argument("--ctp-mode", choices=("assign", "subscribe"), default="assign",
                   help="txn: the consume-transform-produce leg assign()s every partition (one member) "
                        "or --ctp-instances members subscribe() in one group (rebalances)")
    r.add_argument("--ctp-instances", type=int, default=2, help="txn, --ctp-mode subscribe: group members")
    f = sub.add_parser("final-read")
    f.set_defaults(func=final_read)
    f.add_argument("--timeout", type=float, default=60.0)
    for s in (r, f):
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic", required=True)
        s.add_argument("--partitions", type=int, required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--workload", choices=("plain", "txn"), default="plain")
        s.add_argument("--txn-timeout-ms", type=int, default=10000, help="txn: transaction.timeout.ms")
        s.add_argument("--ctp", type=int, default=1, help="txn: the consume-transform-produce leg (txn_ctp.py)")
    args = ap.parse_args(argv)
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
