"""Check 10 (replica_check.py, epoch_check.py) on hand-made segment files and
leader-epoch checkpoints: identical replicas pass; a differing byte, a short
in-sync replica, a missing directory and differing batch boundaries are each
reported; bytes above the high watermark are ignored. Epoch caches that agree
below the high watermark pass (also when a lagging replica lacks the newer
epochs); one that lacks, adds or moves an epoch below it, or disagrees with its
own batches, or is malformed, is an epoch_divergence.

    /usr/bin/python3 -m pytest tests/chaos/test_replica_check.py -q
"""

import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import epoch_check  # noqa: E402
import replica_check  # noqa: E402


def batch(base, count, epoch=0, payload=b"x"):
    """A v2 record batch's bytes: the header fields replica_check reads, then
    an opaque body (the records are not parsed)."""
    body = struct.pack(">hiqqqhii", 0, count - 1, 0, 0, -1, -1, -1, count) + payload * count
    crc = zlib.crc32(body) & 0xFFFFFFFF  # stands in for crc32c: not checked
    rest = struct.pack(">ibI", epoch, 2, crc) + body
    return struct.pack(">qi", base, len(rest)) + rest


def write_checkpoint(d, entries):
    """A leader-epoch-checkpoint in Kafka's format: version, count, entries."""
    lines = ["0", str(len(entries))] + ["%d %d" % e for e in entries]
    (Path(d) / "leader-epoch-checkpoint").write_text("\n".join(lines) + "\n")


def epochs_of(segments):
    """The entries a replica's cache gets from these batches: each newer
    partitionLeaderEpoch at the base offset of its first batch."""
    out = []
    for base in sorted(segments):
        for raw in segments[base]:
            b, epoch = struct.unpack_from(">q", raw)[0], struct.unpack_from(">i", raw, 12)[0]
            if not out or epoch > out[-1][0]:
                out.append((epoch, b))
    return out


def write_log(root, topic, part, segments, epochs=None):
    """segments: {base offset: [batch bytes]}; plus a zeroed tail, as an
    unfinished append leaves. epochs: the checkpoint's entries (default: those
    the batches give; False: no checkpoint file)."""
    d = Path(root) / ("%s-%d" % (topic, part))
    d.mkdir(parents=True)
    for base, batches in segments.items():
        (d / ("%020d.log" % base)).write_bytes(b"".join(batches) + b"\0" * 16)
    if epochs is not False:
        write_checkpoint(d, epochs_of(segments) if epochs is None else epochs)
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
    # The bytes differ, and so do the epoch caches built from them.
    assert [(a["type"], a["replica"], a["kind"]) for a in rep["anomalies"]] == [
        ("replica_divergence", 3, "bytes"), ("epoch_divergence", 3, "entries")]
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


# --- the leader-epoch checkpoints (epoch_check.py) ------------------------

def epoch_log(r):
    """Three epochs: 0 from offset 0, 2 from 5, 5 from 9 (hw 12)."""
    return {0: [batch(0, 3, 0), batch(3, 2, 0)], 5: [batch(5, 4, 2), batch(9, 3, 5)]}


def test_read_checkpoint_format(tmp_path):
    write_checkpoint(tmp_path, [(0, 0), (2, 5), (5, 9)])
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 5\n5 9\n"
    assert epoch_check.read_checkpoint(tmp_path) == [(0, 0), (2, 5), (5, 9)]
    assert epoch_check.read_checkpoint(tmp_path / "none") == []
    for bad in ("1\n0\n", "0\n2\n0 0\n", "0\n1\n0 x\n", "0\n"):
        (tmp_path / "leader-epoch-checkpoint").write_text(bad)
        with pytest.raises(ValueError):
            epoch_check.read_checkpoint(tmp_path)


def test_agreeing_epoch_checkpoints_pass(tmp_path):
    # Replica 1 leads epoch 7 from its log end (12 = hw) and wrote nothing in
    # it yet: an entry at the hw is not below it. Replica 3 is behind (out of
    # the ISR, log end 9): it never saw epoch 5, which starts past its log.
    def make(r):
        if r == 3:
            return {0: [batch(0, 3, 0), batch(3, 2, 0)], 5: [batch(5, 4, 2)]}
        return epoch_log(r)
    dirs = three(tmp_path, make)
    write_checkpoint(dirs[1] / "t-0", [(0, 0), (2, 5), (5, 9), (7, 12)])
    assert epoch_check.read_checkpoint(dirs[3] / "t-0") == [(0, 0), (2, 5)]
    rep = replica_check.check_dirs("t", {"0": 12}, dirs, {"0": [1, 2]})
    assert rep["anomalies"] == []
    assert rep["partitions"]["0"]["epochs_below_hw"] == {"1": 3, "2": 3, "3": 2}


def test_diverging_epoch_checkpoints_are_reported(tmp_path):
    # The same batches everywhere, but replica 2's cache moved epoch 5 to
    # offset 10 (it would answer OffsetForLeaderEpoch(2) with 10, not 9).
    dirs = three(tmp_path, lambda r: epoch_log(r))
    write_checkpoint(dirs[2] / "t-0", [(0, 0), (2, 5), (5, 10)])
    rep = replica_check.check_dirs("t", {"0": 12}, dirs, {"0": [1, 2, 3]})
    got = [a for a in rep["anomalies"] if a["kind"] == "entries"]
    assert [(a["type"], a["replica"], a["reference"], a["offset"], a["epoch"], a["reference_epoch"])
            for a in got] == [("epoch_divergence", 2, 1, 9, 2, 5)]
    assert got[0]["entries"] == [[0, 0], [2, 5], [5, 10]]
    assert got[0]["reference_entries"] == [[0, 0], [2, 5], [5, 9]]
    # Its cache disagrees with its own batch at 9, too.
    mism = [a for a in rep["anomalies"] if a["kind"] == "log_mismatch"]
    assert [(a["replica"], a["offset"], a["batch_epoch"], a["cache_epoch"]) for a in mism] == [(2, 9, 5, 2)]


def test_missing_epoch_below_hw_is_reported_even_when_behind(tmp_path):
    # Replica 3 is out of the ISR with log end 9, but lacks epoch 2 that
    # starts at 5, inside what it holds: not explained by its truncation.
    dirs = three(tmp_path, lambda r: epoch_log(r) if r != 3 else
                 {0: [batch(0, 3, 0), batch(3, 2, 0)], 5: [batch(5, 4, 2)]})
    write_checkpoint(dirs[3] / "t-0", [(0, 0)])
    rep = replica_check.check_dirs("t", {"0": 12}, dirs, {"0": [1, 2]})
    assert sorted((a["replica"], a["kind"], a.get("offset")) for a in rep["anomalies"]) == [
        (3, "entries", 5), (3, "log_mismatch", 5)]


def test_extra_epoch_below_hw_and_entry_past_log_end(tmp_path):
    # Replica 2 recorded epoch 3 at 7, an epoch nobody wrote a batch in;
    # replica 3's cache has an entry past its log end (12).
    dirs = three(tmp_path, lambda r: epoch_log(r))
    write_checkpoint(dirs[2] / "t-0", [(0, 0), (2, 5), (3, 7), (5, 9)])
    write_checkpoint(dirs[3] / "t-0", [(0, 0), (2, 5), (5, 9), (6, 14)])
    rep = replica_check.check_dirs("t", {"0": 12}, dirs, {"0": [1, 2, 3]})
    kinds = sorted((a["replica"], a["kind"], a.get("offset", a.get("entry"))) for a in rep["anomalies"])
    assert kinds == [(2, "entries", 7), (3, "log_mismatch", [6, 14])]


def test_missing_or_unreadable_checkpoint_is_reported(tmp_path):
    dirs = three(tmp_path, lambda r: epoch_log(r))
    (dirs[2] / "t-0" / "leader-epoch-checkpoint").unlink()
    (dirs[3] / "t-0" / "leader-epoch-checkpoint").write_text("0\n5\n0 0\n")
    rep = replica_check.check_dirs("t", {"0": 12}, dirs, {"0": [1, 2, 3]})
    kinds = sorted((a["replica"], a["kind"]) for a in rep["anomalies"])
    assert kinds == [(2, "entries"), (2, "log_mismatch"), (3, "unreadable")]
    assert all(a["type"] == "epoch_divergence" for a in rep["anomalies"])
