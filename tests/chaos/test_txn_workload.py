"""txn_workload._produce against stand-in producers: a fatal error raised by
poll() in the middle of a transaction (seed 9494 on 2026-12-07: librdkafka's
fatal "sequence desynchronization") ends that transaction as aborted (no
EndTxn(commit) was sent) and the thread goes on with a new instance, instead
of dying (workload_error)."""

from confluent_kafka import KafkaError, KafkaException

import txn_workload


class Hist:
    def __init__(self):
        self.events = []

    def log(self, **kv):
        self.events.append(kv)


class Stop:
    def __init__(self):
        self.flag = False

    def is_set(self):
        return self.flag


class Producer:
    def __init__(self, fail_poll):
        self.fail_poll, self.calls = fail_poll, []

    def begin_transaction(self):
        self.calls.append("begin")

    def produce(self, topic, value, partition, on_delivery):
        self.calls.append("produce")

    def poll(self, timeout):
        if self.fail_poll:
            raise KafkaException(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence desynchronization",
                                            fatal=True))
        return 0

    def commit_transaction(self, timeout):
        self.calls.append("commit")

    def abort_transaction(self, timeout):
        self.calls.append("abort")


class Args:
    rate, txn_size, partitions, topic, commit_ratio, seed = 1000.0, 3, 2, "chaos", 1.0, 1
    max_messages = 0


def test_a_fatal_error_from_poll_aborts_the_transaction_and_replaces_the_producer(monkeypatch):
    stop = Stop()
    made = [Producer(fail_poll=True), Producer(fail_poll=False)]
    handed = []

    def new_producer(args, name, hist, st):
        if not made:
            stop.flag = True
            return None
        handed.append(made.pop(0))
        return handed[-1]

    monkeypatch.setattr(txn_workload, "_new_producer", new_producer)
    # The second instance commits one transaction, then the run stops.
    orig_end = txn_workload._end

    def end(p, intent):
        stop.flag = True
        return orig_end(p, intent)

    monkeypatch.setattr(txn_workload, "_end", end)
    hist = Hist()
    txn_workload._produce(Args(), "t0", 0, hist, stop)
    ends = [e for e in hist.events if e["type"] == "txn-end"]
    assert ends[0]["txn"] == "t0-t0" and ends[0]["outcome"] == "aborted"
    assert ends[0]["error"].startswith("OUT_OF_ORDER_SEQUENCE_NUMBER")
    assert ends[1]["txn"] == "t0-t1" and ends[1]["outcome"] == "committed"
    # The dead instance never got EndTxn; the new one did.
    assert "commit" not in handed[0].calls and "abort" not in handed[0].calls
    assert handed[1].calls[-1] == "commit"
