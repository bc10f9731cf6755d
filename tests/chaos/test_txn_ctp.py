"""txn_ctp.check on synthetic histories: the exactly-once output passes; a
lost, a duplicated and an unexpected output record, inputs processed again
after a reset to offset 0, and a committed offset beyond the input, are each
reported. And the CTP's consumer (txn_ctp._consume, against a stand-in
consumer): a lost position (auto.offset.reset "error") drops the batch and
rewinds every partition to the committed offsets; other errors do not.

    /usr/bin/python3 -m pytest tests/chaos/test_txn_ctp.py -q
"""

import sys
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checker  # noqa: E402
import txn_ctp  # noqa: E402

# Input partition 0 holds offsets 0..4 (committed records only, read_committed:
# offset 2 is a control record no consumer sees); partition 1 holds 0..1.
FINAL = {0: {0: "t0-0", 1: "t0-1", 3: "t1-0", 4: "t1-1"}, 1: {0: "t0-2", 1: "t1-2"}}
ENDS = {0: {"high": 6}, 1: {"high": 3}}


def run(committed, outputs, extra=()):
    f = checker.Findings()
    events = [{"type": "ctp-committed", "partition": p, "offset": o} for p, o in committed.items()]
    events += [{"type": "ctp-final", "partition": p, "offset": i, "value": "ctp:" + v}
               for i, (p, v) in enumerate(outputs)]
    events += [{"type": "ctp-final-end", "partition": p, "complete": True} for p in (0, 1)]
    events += list(extra)
    stats = txn_ctp.check(events, FINAL, ENDS, f)
    return dict(f.counts), stats


def test_exactly_once_passes():
    # Committed offset 4 on partition 0: offsets 0, 1, 3 were processed.
    counts, stats = run({0: 4, 1: 2}, [(0, "t0-0"), (0, "t0-1"), (0, "t1-0"), (1, "t0-2"), (1, "t1-2")])
    assert counts == {}
    assert stats["ctp_inputs_below_committed"] == 5 and stats["ctp_outputs"] == 5


def test_lost_duplicate_unexpected():
    counts, _ = run({0: 4, 1: 1}, [(0, "t0-0"), (0, "t0-0"), (0, "t1-0"), (1, "t0-2"), (1, "t1-2")])
    # t0-1 lost; t0-0 twice; t1-2 is above partition 1's committed offset 1.
    assert counts == {"ctp_lost": 1, "ctp_duplicate": 1, "ctp_unexpected": 1}


def test_offset_beyond_input_and_unread_offsets():
    counts, _ = run({0: 9, 1: 0}, [(0, "t0-0"), (0, "t0-1"), (0, "t1-0"), (0, "t1-1")])
    assert counts == {"ctp_offsets": 1}  # 9 > the input high watermark 6
    counts, _ = run({}, [], extra=[{"type": "ctp-committed-error"}])
    assert counts == {"ctp_offsets": 1}
    # The CTP ran but its final read is missing: not a silent pass.
    f = checker.Findings()
    txn_ctp.check([{"type": "ctp-txn", "outcome": "committed"}], FINAL, ENDS, f)
    assert dict(f.counts) == {"ctp_offsets": 1}


def test_progress_is_reported_and_bounded_only_when_asked():
    def txn(t, outcome="committed"):
        return {"type": "ctp-txn", "outcome": outcome, "t": t}
    history = [txn(1.0), txn(2.0), txn(2.5, "aborted"), txn(9.0), txn(10.0)]
    counts, stats = run({0: 4, 1: 2}, [(0, "t0-0"), (0, "t0-1"), (0, "t1-0"), (1, "t0-2"), (1, "t1-2")],
                        extra=history)
    assert counts == {}
    assert stats["ctp_commits"] == 4 and stats["ctp_max_gap_s"] == 7.0  # the abort does not count
    # With the checker's bound: a 7 s stall is a violation; after a heal at 8.5 s it is not.
    f = checker.Findings()
    txn_ctp.progress(history, f, max_gap=5.0)
    assert dict(f.counts) == {"ctp_liveness": 1}
    f = checker.Findings()
    moved = txn_ctp.progress(history, f, max_gap=5.0, last_heal=8.5)
    assert dict(f.counts) == {} and moved["ctp_commits_after_heal"] == 2
    assert moved["ctp_max_gap_after_heal_s"] == 1.0
    # No commit at all after the heal: a violation, however short the run after it.
    f = checker.Findings()
    txn_ctp.progress(history, f, max_gap=5.0, last_heal=11.0)
    assert dict(f.counts) == {"ctp_liveness": 1}


def test_no_ctp_in_history():
    assert txn_ctp.check([{"type": "final", "partition": 0, "offset": 0, "value": "x"}], FINAL, ENDS,
                         checker.Findings()) is None


def test_reprocessing_after_a_reset_to_zero_is_a_duplicate():
    # Seed 4747's shape: the CTP committed up to 4 on partition 0, its consumer
    # was sent back to offset 0, and it processed and committed 0 and 1 again.
    counts, _ = run({0: 4, 1: 2}, [(0, "t0-0"), (0, "t0-1"), (0, "t1-0"), (0, "t0-0"), (0, "t0-1"),
                                   (1, "t0-2"), (1, "t1-2")])
    assert counts == {"ctp_duplicate": 2}


# The workload side of an OFFSET_OUT_OF_RANGE: txn_ctp._consume against a
# stand-in consumer (no cluster), with confluent-kafka's own error objects.


class Msg:
    def __init__(self, partition, offset=None, error=None):
        self._p, self._o, self._e = partition, offset, error

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def error(self):
        return self._e


class FakeConsumer:
    def __init__(self, batches, committed):
        self.batches, self.committed_offsets, self.assigned = list(batches), committed, []

    def consume(self, num_messages, timeout):
        return self.batches.pop(0) if self.batches else []

    def committed(self, tps, timeout):
        return [TopicPartition(tp.topic, tp.partition, self.committed_offsets.get(tp.partition, -1001))
                for tp in tps]

    def assign(self, tps):
        self.assigned.append({tp.partition: tp.offset for tp in tps})


class Hist:
    def __init__(self):
        self.events = []

    def log(self, **kv):
        self.events.append(kv)


class Args:
    topic, partitions, bootstrap = "chaos", 3, "unused:9092"


class Stop:
    def is_set(self):
        return False


def test_the_ctp_consumer_never_resets_on_its_own():
    assert txn_ctp._consumer_config(Args())["auto.offset.reset"] == "error"


def test_a_lost_position_rewinds_every_partition_to_the_committed_offsets():
    reset = KafkaError(KafkaError._AUTO_OFFSET_RESET, "fetch failed: Broker: Offset out of range (broker 1)")
    c = FakeConsumer([[Msg(0, 70), Msg(2, error=reset), Msg(1, 81)]], {0: 64, 1: 80})
    hist = Hist()
    msgs, pos = txn_ctp._consume(c, Args(), hist, Stop(), {0: 71, 1: 82, 2: 12})
    # The batch is dropped, not processed: record 70 was consumed after the
    # last commit and is read again from the committed offset 64.
    assert msgs == []
    assert pos == {0: 64, 1: 80}  # partition 2 has no committed offset: from the beginning
    assert c.assigned == [{0: 64, 1: 80, 2: OFFSET_BEGINNING}]
    assert [e["type"] for e in hist.events] == ["ctp-offset-reset", "ctp-rewind"]
    assert hist.events[0]["partitions"] == [2]


def test_other_consumer_errors_do_not_rewind():
    eof = KafkaError(KafkaError._PARTITION_EOF)
    transport = KafkaError(KafkaError._TRANSPORT)
    c = FakeConsumer([[Msg(0, 70), Msg(1, error=eof), Msg(2, error=transport), Msg(0, 71)]], {0: 64})
    hist = Hist()
    pos = {0: 70}
    msgs, got = txn_ctp._consume(c, Args(), hist, Stop(), pos)
    assert [m.offset() for m in msgs] == [70, 71] and got is pos
    assert c.assigned == [] and hist.events == []


# The subscribe() leg (txn_ctp._ctp_subscribed) against a stand-in consumer
# and producer: the offsets it commits, and its rewind after an abort.


class Val(Msg):
    def value(self):
        return ("t0-%d" % self._o).encode()


class SubConsumer(FakeConsumer):
    """Assigns `parts` at the first consume, as librdkafka calls on_assign
    from inside consume(); seek() raises when seek_error is set."""

    def __init__(self, batches, committed, parts, stop, seek_error=False):
        super().__init__(batches, committed)
        self.parts, self.stop, self.seek_error = parts, stop, seek_error
        self.seeks, self.closed, self.cbs = [], False, None

    def subscribe(self, topics, on_assign, on_revoke):
        self.cbs = (on_assign, on_revoke)

    def consume(self, num_messages, timeout):
        if self.cbs:
            self.cbs[0](self, [TopicPartition("chaos", p) for p in self.parts])
            self.cbs = None
            self.assigned_at = self.assigned.pop()
        if not self.batches:
            self.stop.flag = True
        return super().consume(num_messages, timeout)

    def assignment(self):
        return [TopicPartition("chaos", p) for p in self.parts]

    def seek(self, tp):
        if self.seek_error:
            from confluent_kafka import KafkaException
            raise KafkaException(KafkaError(KafkaError._STATE, "Erroneous state"))
        self.seeks.append((tp.partition, tp.offset))

    def consumer_group_metadata(self):
        return "group-metadata"

    def close(self):
        self.closed = True


class TxnProducer:
    def __init__(self):
        self.calls = []

    def begin_transaction(self):
        self.calls.append("begin")

    def produce(self, topic, value, partition):
        self.calls.append(("produce", topic, partition, value.decode()))

    def send_offsets_to_transaction(self, offsets, metadata, timeout):
        self.calls.append(("offsets", {tp.partition: tp.offset for tp in offsets}, metadata))

    def commit_transaction(self, timeout):
        self.calls.append("commit")

    def abort_transaction(self, timeout):
        self.calls.append("abort")


class FlagStop:
    flag = False

    def is_set(self):
        return self.flag


def _subscribed(monkeypatch, consumers, abort_ratio):
    import txn_workload
    prod = TxnProducer()
    made = list(consumers)
    monkeypatch.setattr(txn_ctp, "_consumer", lambda args: made.pop(0))
    monkeypatch.setattr(txn_workload, "_new_producer", lambda args, name, hist, stop: prod)
    monkeypatch.setattr(txn_ctp, "ABORT_RATIO", abort_ratio)
    hist = Hist()
    args = type("A", (Args,), {"seed": 1})()
    txn_ctp._ctp_subscribed(args, hist, consumers[0].stop, 0, "ctp0")
    return prod, hist


def test_a_subscribed_member_commits_the_offsets_after_its_batch(monkeypatch):
    stop = FlagStop()
    c = SubConsumer([[Val(0, 5), Val(2, 9), Val(0, 6)]], {}, [0, 2], stop)
    prod, hist = _subscribed(monkeypatch, [c], 0.0)
    assert prod.calls == ["begin", ("produce", "chaos-out", 0, "ctp:t0-5"), ("produce", "chaos-out", 2, "ctp:t0-9"),
                          ("produce", "chaos-out", 0, "ctp:t0-6"), ("offsets", {0: 7, 2: 10}, "group-metadata"),
                          "commit"]
    txns = [e for e in hist.events if e["type"] == "ctp-txn"]
    assert [(t["process"], t["outcome"]) for t in txns] == [("ctp0", "committed")]
    # Assigned at the committed offsets, the beginning where none.
    assert hist.events[0] == {"type": "ctp-assign", "process": "ctp0",
                              "positions": {"0": OFFSET_BEGINNING, "2": OFFSET_BEGINNING}}
    assert c.assigned_at == {0: OFFSET_BEGINNING, 2: OFFSET_BEGINNING}
    assert c.seeks == [] and c.closed


def test_a_subscribed_member_seeks_back_to_the_committed_offsets_after_an_abort(monkeypatch):
    stop = FlagStop()
    c = SubConsumer([[Val(0, 5), Val(1, 3)]], {0: 5}, [0, 1], stop)
    prod, hist = _subscribed(monkeypatch, [c], 1.0)
    assert prod.calls[-1] == "abort"
    assert c.assigned_at == {0: 5, 1: OFFSET_BEGINNING}
    assert c.seeks == [(0, 5), (1, OFFSET_BEGINNING)]
    assert [e["type"] for e in hist.events][-2:] == ["ctp-rewind", "ctp-leave"]


def test_a_subscribed_member_that_cannot_seek_rejoins(monkeypatch):
    stop = FlagStop()
    first = SubConsumer([[Val(0, 5)], [Val(0, 6)]], {0: 5}, [0], stop, seek_error=True)
    second = SubConsumer([], {0: 5}, [0], stop)
    prod, hist = _subscribed(monkeypatch, [first, second], 1.0)
    # The batch after the failed rewind was never consumed: the member left.
    assert first.closed and len(first.batches) == 1 and second.closed
    types = [e["type"] for e in hist.events]
    assert types.count("ctp-leave") == 2 and "ctp-rewind-error" in types
