#!/usr/bin/python3
"""Produce and consume over TLS as a ratio of plaintext (issue 22's target: 0.7
without kTLS), on one broker with both listeners, in alternating rounds so each
TLS figure sits beside the plaintext figure of the same minute.

    benchmarks/tls_bench.py [--keel build/src/keel] [--load build/benchmarks/load/keel-load]
                            [--rounds 5] [--produce-records 300000] [--consume-records 1000000]

The broker is the integration tests' (conftest.Broker, embedded store) with a test
CA from tests/integration/pki.py: TLS 1.3, a PEM key store, no client certificate.
keel-load (librdkafka) produces 1 KiB records with acks=1 to one partition of one
topic, then reads from its beginning (at most what is in it); per round: plaintext produce, TLS produce, plaintext
consume, TLS consume (the order flips every other round). Prints one JSON line per
round and a summary with the medians and the load average. Nothing here is a test."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def run_load(load, mode, bootstrap, topic, extra):
    cmd = [load, mode, "--bootstrap", bootstrap, "--topic", topic] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), out.stderr[-2000:]))
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None  # create prints nothing


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=str(REPO / "build" / "src" / "keel"))
    ap.add_argument("--load", default=str(REPO / "build" / "benchmarks" / "load" / "keel-load"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--produce-records", type=int, default=300000)
    ap.add_argument("--consume-records", type=int, default=1000000)
    args = ap.parse_args()

    os.environ["KEEL_STORE"] = "embedded"
    import conftest
    from conftest import Broker, free_port
    from pki import Pki
    conftest.KEEL_BIN = args.keel
    work = Path(tempfile.mkdtemp(prefix="keel-tls-bench-"))
    pki = Pki(work / "pki")
    b = Broker(work / "b")
    tls_port = free_port()
    text = b.config_path.read_text()
    old = "listeners: PLAINTEXT://127.0.0.1:%d\n" % b.port
    new = ("listeners: PLAINTEXT://127.0.0.1:%d, SSL://127.0.0.1:%d\n" % (b.port, tls_port) +
           "listener.security.protocol.map: PLAINTEXT:PLAINTEXT,SSL:SSL\n"
           "ssl.keystore.type: PEM\nssl.keystore.location: %s\n" % pki.path("broker-store.pem") +
           "ssl.truststore.type: PEM\nssl.truststore.location: %s\n" % pki.path("ca.pem"))
    b.config_path.write_text(text.replace(old, new).replace("  level: debug\n", "  level: info\n"))
    b.start()
    plain = b.bootstrap
    tls = "127.0.0.1:%d" % tls_port
    tls_set = ["--set", "security.protocol=SSL,ssl.ca.location=%s" % pki.path("ca.pem")]
    rows = []
    topic = "tls-bench"
    produced = 0
    try:
        run_load(args.load, "create", plain, topic, [])
        for r in range(args.rounds):
            row = {"round": r + 1}
            order = [("plain", plain, []), ("tls", tls, tls_set)]
            if r % 2:
                order.reverse()
            for name, boot, extra in order:
                p = run_load(args.load, "produce", boot, topic,
                             ["--records", str(args.produce_records), "--record-size", "1024", "--acks", "1"] + extra)
                row["produce_" + name] = p["mb_per_s"]
                produced += args.produce_records
            for name, boot, extra in order:
                n = min(args.consume_records, produced)
                c = run_load(args.load, "consume", boot, topic, ["--records", str(n)] + extra)
                row["consume_" + name] = c["mb_per_s"]
            row["produce_ratio"] = round(row["produce_tls"] / row["produce_plain"], 2)
            row["consume_ratio"] = round(row["consume_tls"] / row["consume_plain"], 2)
            row["loadavg"] = os.getloadavg()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        b.stop(timeout=60)
    med = lambda k: statistics.median(x[k] for x in rows)  # noqa: E731
    print(json.dumps({"summary": True, "rounds": len(rows),
                      "produce_plain": med("produce_plain"), "produce_tls": med("produce_tls"),
                      "produce_ratio_median": med("produce_ratio"),
                      "consume_plain": med("consume_plain"), "consume_tls": med("consume_tls"),
                      "consume_ratio_median": med("consume_ratio")}))


if __name__ == "__main__":
    main()
