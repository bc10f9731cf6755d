"""Check 10 of fault-testing.md: after healing, every replica's log is
byte-identical up to the partition's high watermark.

Read after the brokers stopped, straight from their data directories
(`<log.dir>/<topic>-<partition>/<20-digit base offset>.log`, Kafka's on-disk
layout, which keel keeps). A segment file is a sequence of record batches:

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
    magic int8 | crc uint32 | attributes int16 | lastOffsetDelta int32 | ...

batchLength counts the bytes after itself. Followers write the leader's
batches unchanged, so the batches below the high watermark (the high
watermark always falls on a batch end: it is the smallest log end offset of
the ISR) must be the same bytes on every in-sync replica, leader epoch
included. A replica that is not in the final ISR is compared on the prefix
it has. Anything else is an anomaly `replica_divergence`. The replicas'
leader-epoch checkpoints are compared too (epoch_check.py, anomaly
`epoch_divergence`).

    replica_check.py TOPIC HW_JSON DIR [DIR...]     (HW_JSON: {"0": 123, ...})
"""

import json
import struct
import sys
from pathlib import Path

import epoch_check

HEADER = struct.Struct(">qi")          # baseOffset, batchLength
LAST_DELTA_AT = 8 + 4 + 4 + 1 + 4 + 2  # lastOffsetDelta follows these fields


def read_batches(part_dir):
    """[(base_offset, last_offset, bytes)] of every whole batch in the
    partition directory, segments in base-offset order. Stops a segment at a
    zero or torn tail (an unfinished append)."""
    out = []
    segs = sorted(p for p in Path(part_dir).glob("*.log") if len(p.name) == 24 and p.name[:20].isdigit())
    for seg in segs:
        data = seg.read_bytes()
        i = 0
        while i + HEADER.size <= len(data):
            base, length = HEADER.unpack_from(data, i)
            end = i + HEADER.size + length
            if length < LAST_DELTA_AT + 4 - HEADER.size or end > len(data):
                break
            delta = struct.unpack_from(">i", data, i + LAST_DELTA_AT)[0]
            out.append((base, base + delta, data[i:end]))
            i = end
    return out


def reference(batches_by_replica, hw, in_sync):
    """The replica others are compared with: in sync, holding the most
    batches below hw (the lowest id on a tie); None without replicas."""
    if not batches_by_replica:
        return None
    return max(batches_by_replica, key=lambda r: (r in in_sync, sum(1 for b in batches_by_replica[r] if b[0] < hw),
                                                  -r if isinstance(r, int) else 0))


def compare(batches_by_replica, hw, in_sync=None):
    """Anomalies for one partition: every in-sync replica must hold exactly
    the same batches covering [log start, hw); others must agree wherever
    they hold an offset below hw. batches_by_replica: {replica: read_batches()}.
    Replicas are compared with the one holding the most batches below hw."""
    in_sync = set(batches_by_replica) if in_sync is None else set(in_sync)
    below = {r: [b for b in bs if b[0] < hw] for r, bs in batches_by_replica.items()}
    if not below:
        return []
    ref = reference(batches_by_replica, hw, in_sync)
    ref_by_base = {b[0]: b for b in below[ref]}
    found = []
    ref_end = below[ref][-1][1] + 1 if below[ref] else None
    if ref in in_sync and ref_end is not None and ref_end < hw:
        found.append({"replica": ref, "kind": "short", "log_end": ref_end, "hw": hw})
    for r, bs in below.items():
        if r == ref:
            continue
        if r in in_sync:
            end = bs[-1][1] + 1 if bs else None
            if end != ref_end:
                found.append({"replica": r, "kind": "short" if (end or 0) < (ref_end or 0) else "extra",
                              "log_end": end, "reference": ref, "reference_end": ref_end, "hw": hw})
        for base, last, raw in bs:
            other = ref_by_base.get(base)
            if other is None:
                # A base the reference lacks: batch boundaries differ (or the
                # reference starts later, e.g. after retention).
                if below[ref] and below[ref][0][0] <= base:
                    found.append({"replica": r, "kind": "boundary", "offset": base, "reference": ref})
                    break
                continue
            if other[2] != raw:
                at = next((k for k in range(min(len(raw), len(other[2]))) if raw[k] != other[2][k]),
                          min(len(raw), len(other[2])))
                found.append({"replica": r, "kind": "bytes", "offset": base, "last_offset": last,
                              "reference": ref, "first_differing_byte": at})
                break
    return found


def check_dirs(topic, hws, dirs_by_replica, isr_by_partition=None, replicas_by_partition=None):
    """{"anomalies": [...], "partitions": {p: {"hw", "replicas", "batches"}}}.

    hws: {partition: high watermark}; dirs_by_replica: {replica id: log dir};
    isr_by_partition: {partition: [replica ids]} (default: every replica that
    has the partition's directory); replicas_by_partition: the assignment
    (default: every broker with the directory). A directory on a broker
    outside the assignment is a stray (ZooKeeper-mode Kafka leaves one when
    the broker was down while its replica was removed): listed, not compared."""
    anomalies, summary = [], {}
    for p, hw in sorted(hws.items(), key=lambda kv: int(kv[0])):
        if hw is None:
            continue
        batches, strays, part_dirs = {}, [], {}
        assigned = (replicas_by_partition or {}).get(str(p))
        for r, d in dirs_by_replica.items():
            pd = Path(d) / ("%s-%d" % (topic, int(p)))
            if pd.is_dir():
                if assigned is not None and r not in assigned:
                    strays.append(r)
                else:
                    batches[r] = read_batches(pd)
                    part_dirs[r] = pd
        isr = (isr_by_partition or {}).get(str(p)) or (isr_by_partition or {}).get(int(p))
        isr = [r for r in (isr if isr is not None else batches) if r in batches]
        missing = [r for r in ((isr_by_partition or {}).get(str(p)) or []) if r not in batches]
        for r in missing:
            anomalies.append({"type": "replica_divergence", "partition": int(p), "replica": r,
                              "kind": "no_directory", "hw": hw})
        for a in compare(batches, int(hw), isr):
            anomalies.append(dict(a, type="replica_divergence", partition=int(p)))
        for a in epoch_check.compare(part_dirs, batches, int(hw), reference(batches, int(hw), set(isr))):
            anomalies.append(dict(a, type="epoch_divergence", partition=int(p)))
        summary[str(p)] = {"hw": hw, "replicas": sorted(batches), "strays": strays,
                           "batches_below_hw": {str(r): sum(1 for b in bs if b[0] < int(hw))
                                                for r, bs in batches.items()},
                           "epochs_below_hw": epoch_check.entries_below(part_dirs, int(hw))}
    return {"anomalies": anomalies, "partitions": summary}


def final_high_watermarks(final_path):
    """{partition: high watermark} from the final read's final-end events."""
    hws = {}
    if Path(final_path).exists():
        for line in Path(final_path).read_text().splitlines():
            if '"final-end"' in line:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("type") == "final-end" and ev.get("high") is not None:
                    hws[str(ev["partition"])] = ev["high"]
    return hws


PRODUCER_AT = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8  # producerId, then producerEpoch (int16)


def producer_index(topic, data_dirs):
    """{(partition, offset): (producer id, producer epoch)} of every record
    in the topic's batches on any replica (replicas agree on what they share).
    The checker tells a value written again under a new producer epoch (the
    client's re-send after an epoch bump, which no broker can deduplicate:
    sequences start again at 0) from a duplicate the broker let through."""
    out = {}
    for d in data_dirs.values():
        for part_dir in Path(d).glob("%s-*" % topic):
            tail = part_dir.name[len(topic) + 1:]
            if not tail.isdigit():
                continue
            p = int(tail)
            for base, last, raw in read_batches(part_dir):
                if len(raw) < PRODUCER_AT + 10:
                    continue
                pid, epoch = struct.unpack_from(">qh", raw, PRODUCER_AT)
                for o in range(base, last + 1):
                    out.setdefault((p, o), (pid, epoch))
    return out


def check_run(topic, final_path, data_dirs, final_metadata):
    """Check 10 for a finished run (brokers stopped): the HWs the final read
    saw, the ISRs of the metadata taken after it, each broker's data dir."""
    hws = final_high_watermarks(final_path)
    parts = (final_metadata or {}).get("partitions", {})
    isr = {p: v.get("isr") for p, v in parts.items() if v.get("isr")}
    assigned = {p: v.get("replicas") for p, v in parts.items() if v.get("replicas")}
    rep = check_dirs(topic, hws, data_dirs, isr, assigned)
    rep["replicas"] = assigned
    return rep


def main(argv):
    topic, hws = argv[0], json.loads(argv[1])
    dirs = {i + 1: d for i, d in enumerate(argv[2:])}
    print(json.dumps(check_dirs(topic, hws, dirs), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
