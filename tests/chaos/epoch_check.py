"""Check 10, second half: the replicas' leader-epoch caches agree below the
high watermark.

Each partition directory holds `leader-epoch-checkpoint` (Kafka's format,
which keel writes):

    0                 <- version
    3                 <- number of entries
    0 0               <- "epoch startOffset", epochs and offsets ascending
    2 1180
    5 2301

An entry says that epoch starts at that offset and lasts until the next
entry's start, so the file is a step function offset -> leader epoch. What
Kafka guarantees (KIP-101, KIP-279): a follower writes the leader's batches
unchanged and records an epoch when a batch carries a newer one; after a
leadership change it truncates by OffsetForLeaderEpoch, which drops every
entry at or past the point of divergence. So below the high watermark every
replica's step function equals the leader's on the offsets that replica
holds. A replica may lack epochs that start past its own log end (it is
behind, out of the ISR) or before its log start (its log starts later); it
may not lack, add or move an epoch inside the range it holds.

Two kinds of anomaly `epoch_divergence`:
  entries      two replicas' caches give one offset below the HW different
               epochs (both files' entries are reported);
  log_mismatch a replica's cache disagrees with the partitionLeaderEpoch of
               its own batches below the HW, or has an entry past its log
               end (Kafka's cache is rebuilt from, and truncated with, the log);
  unreadable   the file is malformed (bad version, count or line).
A missing file reads as no entries (keel, like Kafka, writes none until a
first epoch is assigned), which diverges from any replica that holds batches.
"""

import struct
from pathlib import Path

CHECKPOINT = "leader-epoch-checkpoint"
EPOCH_AT = 12          # partitionLeaderEpoch's byte offset in a batch
MAX_LISTED = 40        # entries shown per file in an anomaly


def read_checkpoint(part_dir):
    """[(epoch, start_offset)] of the partition's checkpoint ([] when there is
    none). Raises ValueError on a malformed file."""
    path = Path(part_dir) / CHECKPOINT
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or lines[0].strip() != "0":
        raise ValueError("%s: version line %r, expected 0" % (path, lines[0] if lines else ""))
    try:
        count = int(lines[1])
    except ValueError:
        raise ValueError("%s: count line %r" % (path, lines[1])) from None
    if count != len(lines) - 2:
        raise ValueError("%s: count %d but %d entries" % (path, count, len(lines) - 2))
    entries = []
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
            raise ValueError("%s: entry line %r" % (path, line))
        entries.append((int(parts[0]), int(parts[1])))
    return entries


def epoch_at(entries, offset):
    """The epoch the cache gives `offset`: the last entry starting at or
    before it (None before the first entry)."""
    found = None
    for epoch, start in entries:
        if start > offset:
            break
        found = epoch
    return found


def log_range(batches):
    """(log start, log end) of read_batches() output, None when empty."""
    return (batches[0][0], batches[-1][1] + 1) if batches else None


def against_log(entries, batches, hw, part_dir=None):
    """A replica's cache checked against its own batches below the HW. The
    log end is the last batch's end, or the newest segment's base offset when
    that is larger (a log emptied by retention keeps its offsets)."""
    rng = log_range(batches)
    end = rng[1] if rng else 0
    if part_dir is not None:
        bases = [int(p.name[:20]) for p in Path(part_dir).glob("*.log") if len(p.name) == 24 and p.name[:20].isdigit()]
        end = max([end] + bases)
    past = [(e, s) for e, s in entries if s > end]
    if past:
        return {"kind": "log_mismatch", "reason": "entry past the log end", "log_end": end,
                "entry": list(past[0])}
    for base, last, raw in batches:
        if base >= hw:
            break
        batch_epoch = struct.unpack_from(">i", raw, EPOCH_AT)[0]
        cached = epoch_at(entries, base)
        if cached != batch_epoch:
            return {"kind": "log_mismatch", "reason": "batch epoch differs from the cache",
                    "offset": base, "batch_epoch": batch_epoch, "cache_epoch": cached}
    return None


def first_difference(a, b, lo, hi):
    """The first offset in [lo, hi) where caches a and b give different
    epochs, or None. Step functions only change at entry starts, so the
    range's start and the starts inside it are all that need comparing."""
    points = sorted({lo} | {s for _, s in a + b if lo < s < hi})
    for o in points:
        if epoch_at(a, o) != epoch_at(b, o):
            return o
    return None


def listed(entries):
    return [list(e) for e in entries[:MAX_LISTED]] + (["..."] if len(entries) > MAX_LISTED else [])


def entries_below(part_dirs, hw):
    """{replica: how many checkpoint entries start below hw} (None when the
    file is unreadable), for the report."""
    out = {}
    for r, d in part_dirs.items():
        try:
            out[str(r)] = sum(1 for _, s in read_checkpoint(d) if s < hw)
        except (ValueError, UnicodeDecodeError):
            out[str(r)] = None
    return out


def compare(part_dirs, batches_by_replica, hw, ref):
    """epoch_divergence anomalies (without type/partition) for one partition.

    part_dirs: {replica: partition directory}; batches_by_replica: {replica:
    read_batches()}; ref: the replica the byte comparison used as reference
    (the in-sync one holding the most below the HW)."""
    found, entries = [], {}
    for r, d in part_dirs.items():
        try:
            entries[r] = read_checkpoint(d)
        except (ValueError, UnicodeDecodeError) as e:
            found.append({"replica": r, "kind": "unreadable", "error": str(e)})
    for r in sorted(entries, key=str):
        bad = against_log(entries[r], batches_by_replica.get(r, []), hw, part_dirs[r])
        if bad:
            found.append(dict(bad, replica=r, hw=hw, entries=listed(entries[r])))
    if ref not in entries:
        return found
    ref_range = log_range(batches_by_replica.get(ref, []))
    for r in sorted(entries, key=str):
        rng = log_range(batches_by_replica.get(r, []))
        if r == ref or rng is None or ref_range is None:
            continue
        lo, hi = max(rng[0], ref_range[0]), min(rng[1], ref_range[1], hw)
        if lo >= hi:
            continue
        at = first_difference(entries[r], entries[ref], lo, hi)
        if at is not None:
            found.append({"replica": r, "kind": "entries", "reference": ref, "offset": at,
                          "epoch": epoch_at(entries[r], at), "reference_epoch": epoch_at(entries[ref], at),
                          "compared": [lo, hi], "hw": hw, "entries": listed(entries[r]),
                          "reference_entries": listed(entries[ref])})
    return found
