"""Check 10 (replica_check.py) on hand-made segment files: identical replicas
pass; a differing byte, a short in-sync replica, a missing directory and
differing batch boundaries are each reported; bytes above the high watermark
are ignored.

    /usr/bin/python3 -m pytest tests/chaos/test_replica_check.py -q
"""

import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replica_check  # noqa: E402


def batch(base, count, epoch=0, payload=b"x"):
    """A v2 record batch's bytes: the header fields replica_check reads, then
    an opaque body (the records are not parsed)."""
    body = struct.pack(">hiqqqhii", 0, count - 1, 0, 0, -1, -1, -1, count) + payload * count
    crc = zlib.crc32(body) & 0xFFFFFFFF  # stands in for crc32c: not checked
    rest = struct.pack(">ibI", epoch, 2, crc) + body
    return struct.pack(">qi", base, len(rest)) + rest


def write_log(root, topic, part, segments):
    """segments: {base offset: [batch bytes]}; plus a zeroed tail, as an
    unfinished append leaves."""
    d = Path(root) / ("%s-%d" % (topic, part))
    d.mkdir(parents=True)
    for base, batches in segments.items():
        (d / ("%020d.log" % base)).write_bytes(b"".join(batches) + b"\0" * 16)
    return d


def three(tmp_path, make):
    dirs = {}
    for r in (1, 2, 3):
        dirs[r] = tmp_path / ("b%d" % r)
        dirs[r].mkdir()
        segs = make(r)
        if segs is not None:
            write_log(dirs[r], "t", 0, segs)
    return dirs


def test_read_batches_offsets_and_segments(tmp_path):
    d = write_log(tmp_path, "t", 0, {0: [batch(0, 3), batch(3, 2)], 5: [batch(5, 4)]})
    got = [(b, l) for b, l, _ in replica_check.read_batches(d)]
    assert got == [(0, 2), (3, 4), (5, 8)]


def test_identical_replicas_pass(tmp_path):
    same = lambda r: {0: [batch(0, 3, 1), batch(3, 2, 1)], 5: [batch(5, 4, 2)]}
    # Replica 3 rolled its segment elsewhere: same batches, other files.
    dirs = three(tmp_path, lambda r: same(r) if r != 3 else {0: [batch(0, 3, 1)], 3: [batch(3, 2, 1), batch(5, 4, 2)]})
    rep = replica_check.check_dirs("t", {"0": 9}, dirs, {"0": [1, 2, 3]})
    assert rep["anomalies"] == []
    assert rep["partitions"]["0"]["batches_below_hw"] == {"1": 3, "2": 3, "3": 3}


def test_differing_byte_below_hw_is_divergence(tmp_path):
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3), batch(3, 2, payload=b"y" if r == 2 else b"x")]})
    rep = replica_check.check_dirs("t", {"0": 5}, dirs, {"0": [1, 2, 3]})
    kinds = [(a["type"], a["replica"], a["kind"], a["offset"]) for a in rep["anomalies"]]
    assert kinds == [("replica_divergence", 2, "bytes", 3)]


def test_differing_leader_epoch_is_divergence(tmp_path):
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3, epoch=4 if r == 3 else 1)]})
    rep = replica_check.check_dirs("t", {"0": 3}, dirs, {"0": [1, 2, 3]})
    assert [(a["replica"], a["kind"]) for a in rep["anomalies"]] == [(3, "bytes")]
    assert 12 <= rep["anomalies"][0]["first_differing_byte"] < 16  # partitionLeaderEpoch


def test_difference_above_hw_is_ignored(tmp_path):
    # Replica 1 has an uncommitted tail the others lack: above the HW, fine.
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3)] + ([batch(3, 2, payload=b"z")] if r == 1 else [])})
    assert replica_check.check_dirs("t", {"0": 3}, dirs, {"0": [1, 2, 3]})["anomalies"] == []


def test_short_in_sync_replica_is_divergence(tmp_path):
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3)] + ([] if r == 2 else [batch(3, 2)])})
    rep = replica_check.check_dirs("t", {"0": 5}, dirs, {"0": [1, 2, 3]})
    assert [(a["replica"], a["kind"]) for a in rep["anomalies"]] == [(2, "short")]
    # Out of the ISR, a shorter log is only compared on what it holds.
    assert replica_check.check_dirs("t", {"0": 5}, dirs, {"0": [1, 3]})["anomalies"] == []


def test_missing_directory_and_boundaries(tmp_path):
    dirs = three(tmp_path, lambda r: None if r == 3 else
                 ({0: [batch(0, 3), batch(3, 2)]} if r == 1 else {0: [batch(0, 5)]}))
    rep = replica_check.check_dirs("t", {"0": 5}, dirs, {"0": [1, 2, 3]})
    kinds = sorted((a["replica"], a["kind"]) for a in rep["anomalies"])
    # Replica 2 holds offsets 0-4 in one batch where replica 1 has two.
    assert kinds == [(2, "bytes"), (3, "no_directory")]


def test_gap_in_a_replica_is_reported(tmp_path):
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3)] + ([batch(4, 1)] if r == 2 else [batch(3, 2)])})
    rep = replica_check.check_dirs("t", {"0": 5}, dirs, {"0": [1, 2, 3]})
    assert [(a["replica"], a["kind"]) for a in rep["anomalies"]] == [(2, "boundary")]


def test_stray_directory_is_listed_not_compared(tmp_path):
    # Broker 3's replica was removed while it was down: its stale, divergent
    # directory stays (as in ZooKeeper-mode Kafka) and is not a replica.
    dirs = three(tmp_path, lambda r: {0: [batch(0, 3, payload=b"s" if r == 3 else b"x")]})
    rep = replica_check.check_dirs("t", {"0": 3}, dirs, {"0": [1, 2]}, {"0": [1, 2]})
    assert rep["anomalies"] == []
    assert rep["partitions"]["0"]["strays"] == [3]
    assert replica_check.check_dirs("t", {"0": 3}, dirs, {"0": [1, 2, 3]})["anomalies"] != []
