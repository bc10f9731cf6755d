#!/usr/bin/python3
"""Quota enforcement accuracy (issue 23 benchmark): one broker at Kafka's
default quota windows (11 x 1 s), a producer with producer_byte_rate set
through AlterClientQuotas and an unthrottled one beside it, for
`--seconds` (default 40). Prints the throttled producer's rate over the last
30 s (after the first burst of ten windows' worth) against its quota, and
the unthrottled one's.

Usage: KEEL_BIN=build/src/keel scripts/quota_accuracy.py [--quota BYTES] [--seconds N]"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from conftest import Broker  # noqa: E402
from test_client_quotas import alter  # noqa: E402
from test_quota_throttle import Load, create_topic  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quota", type=int, default=500_000)
    ap.add_argument("--seconds", type=float, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        b = Broker(Path(d) / "broker").start()
        try:
            create_topic(b.bootstrap, "acc-slow")
            create_topic(b.bootstrap, "acc-fast")
            alter(b.port, [({"client-id": "acc-slow"}, {"producer_byte_rate": args.quota})])
            slow = Load({"bootstrap.servers": b.bootstrap, "client.id": "acc-slow"}, "acc-slow", args.seconds)
            fast = Load({"bootstrap.servers": b.bootstrap, "client.id": "acc-fast"}, "acc-fast", args.seconds)
            t0 = time.monotonic()
            slow.start()
            fast.start()
            slow.join()
            fast.join()
            start, end = t0 + args.seconds - 30, t0 + args.seconds
            got = slow.rate(start, end)
            print("quota %d B/s: throttled producer %.0f B/s over the last 30 s (%+.1f%%), max throttle %d ms; "
                  "unthrottled producer beside it %.0f B/s"
                  % (args.quota, got, (got / args.quota - 1) * 100, slow.throttle_max, fast.rate(start, end)))
        finally:
            b.stop()


if __name__ == "__main__":
    main()
