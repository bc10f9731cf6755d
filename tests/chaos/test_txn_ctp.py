"""txn_ctp.check on synthetic histories: the exactly-once output passes; a
lost, a duplicated and an unexpected output record, and a committed offset
beyond the input, are each reported.

    /usr/bin/python3 -m pytest tests/chaos/test_txn_ctp.py -q
"""

import sys
from pathlib import Path

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
