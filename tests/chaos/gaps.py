"""Gaps between events in time, for the liveness reports (checker.py's acks per
partition, txn_ctp.py's committed consume-transform-produce transactions)."""


def gap_stats(ts, since=None):
    """ts: event times. Returns the largest gap between consecutive times
    (None with fewer than two) and, from `since` on (a heal), the times at or
    after it and the largest gap counting `since` as the first point (None
    without such a time). Gaps are rounded to milliseconds."""
    ts = sorted(ts)
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    out = {"max_gap": round(max(gaps), 3) if gaps else None}
    if since is not None:
        after = [x for x in ts if x >= since]
        pts = [since] + after
        g2 = [b - a for a, b in zip(pts, pts[1:])]
        out["after"] = after
        out["max_gap_after"] = round(max(g2), 3) if g2 else None
    return out
