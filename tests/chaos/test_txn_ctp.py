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
