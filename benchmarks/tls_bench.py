#!/usr/bin/python3
"""Produce and consume over TLS as a ratio of plaintext (issue 22's target: 0.7
without kTLS), on one broker with both listeners, in alternating rounds so each
TLS figure sits beside the plaintext figure of the same minute.

    benchmarks/tls_bench.py [--keel build/src/keel] [--load build/benchmarks/load/keel-load]
                            [--clients system,2.15] [--rounds 5]
                            [--produce-records 300000] [--consume-records 1000000]

The broker is the integration tests' (conftest.Broker, embedded store, logging at
info) with a test CA from tests/integration/pki.py: TLS 1.3, a PEM key store, no
client certificate. keel-load (librdkafka) produces 1 KiB records with acks=1 to one
partition of one topic, then reads from its beginning (at most what is in it).

--clients picks the librdkafka keel-load runs on: "system" is the one it was linked
with (Debian 12: 2.0.2), "2.15" the build of scripts/build-librdkafka.sh, loaded
through LD_LIBRARY_PATH (keel-load links librdkafka.so.1 dynamically). Each round
runs, for every client in turn: plaintext produce, TLS produce, plaintext consume,
TLS consume (the plaintext/TLS order flips every other round, the client order too).

Output, one JSON object a line:
  {"setup": ...}   what was measured: librdkafka versions (as loaded), the cipher
                   the TLS listener negotiates, AES-NI, kernel TLS, cores, load.
  {"run": ...}     one keel-load run: MB/s; the CPU seconds the client and the
                   broker spent per 100 MB moved; "others_cores": how many cores
                   processes other than these two kept busy meanwhile (from
                   /proc/stat) — above ~0.3 the machine was not quiet and the MB/s
                   are the shared machine's, not keel's; loadavg (1 min) at its end.
  {"round": ...}   the TLS/plaintext ratios of one client in one round.
  {"summary": ...} per client: medians of MB/s and of the ratios, the largest
                   others_cores seen, and "quiet": whether every run had
                   others_cores below 0.3.
Nothing here is a test."""

import argparse
import ctypes
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

QUIET_OTHERS_CORES = 0.3  # other processes' CPU (cores) below which a run counts as quiet
TICKS = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    """All CPUs' time in processes so far (user, nice, system, steal). Interrupts
    are left out: the loopback traffic of the run itself is mostly softirq time,
    which the kernel may charge to no process."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[i] for i in (0, 1, 2, 7) if i < len(fields))


def process_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def client_env(lib_dir):
    env = dict(os.environ)
    if lib_dir:
        env["LD_LIBRARY_PATH"] = lib_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def librdkafka_loaded(load, lib_dir):
    """The librdkafka.so.1 keel-load resolves with this environment, and its version."""
    out = subprocess.run(["ldd", load], capture_output=True, text=True, env=client_env(lib_dir)).stdout
    path = next((line.split("=>")[1].split("(")[0].strip() for line in out.splitlines() if "librdkafka.so" in line), "")
    if not path or not os.path.exists(path):
        raise RuntimeError("keel-load finds no librdkafka.so.1 (%s)" % (lib_dir or "system"))
    lib = ctypes.CDLL(path)
    lib.rd_kafka_version_str.restype = ctypes.c_char_p
    return path, lib.rd_kafka_version_str().decode()


def run_load(load, mode, bootstrap, topic, extra, lib_dir, broker_pid):
    cmd = [load, mode, "--bootstrap", bootstrap, "--topic", topic] + extra
    busy0, broker0, client0, t0 = busy_ticks(), process_ticks(broker_pid), children_cpu(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=client_env(lib_dir))
    wall = time.monotonic() - t0
    busy = (busy_ticks() - busy0) / TICKS
    broker = (process_ticks(broker_pid) - broker0) / TICKS
    client = children_cpu() - client0
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), out.stderr[-2000:]))
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}  # create prints nothing
    result["cpu"] = {"client": client, "broker": broker, "others_cores": max(0.0, busy - client - broker) / wall}
    return result


def negotiated(port, ca):
    """What a client with OpenSSL's defaults (librdkafka's too) gets from the TLS listener."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw) as s:
        return "%s %s" % (s.version(), s.cipher()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=str(REPO / "build" / "src" / "keel"))
    ap.add_argument("--load", default=str(REPO / "build" / "benchmarks" / "load" / "keel-load"))
    ap.add_argument("--clients", default="system,2.15",
                    help="comma-separated: system (keel-load's own librdkafka), 2.15 (scripts/build-librdkafka.sh)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--produce-records", type=int, default=300000)
    ap.add_argument("--consume-records", type=int, default=1000000)
    ap.add_argument("--keep", action="store_true", help="keep the broker's directory (it is removed otherwise)")
    args = ap.parse_args()

    clients = {}
    for name in args.clients.split(","):
        if name == "system":
            clients[name] = ""
        elif name == "2.15":
            cache = subprocess.run([str(REPO / "scripts" / "build-librdkafka.sh"), "--print-dir"],
                                   capture_output=True, text=True, check=True).stdout.strip()
            if not os.path.exists(os.path.join(cache, "lib", "librdkafka.so.1")):
                sys.exit("no librdkafka 2.15 in %s/lib: run scripts/build-librdkafka.sh, or --clients system" % cache)
            clients[name] = os.path.join(cache, "lib")
        else:
            sys.exit("--clients: unknown client '%s' (system, 2.15)" % name)
    versions = {name: librdkafka_loaded(args.load, lib_dir) for name, lib_dir in clients.items()}

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
    with open("/proc/cpuinfo") as f:
        aes_ni = " aes " in f.read()
    print(json.dumps({"setup": {
        "keel": args.keel, "load": args.load,
        "clients": {n: {"librdkafka": v, "path": p} for n, (p, v) in versions.items()},
        "tls": negotiated(tls_port, str(pki.path("ca.pem"))), "aes_ni": aes_ni,
        "ktls": os.path.exists("/sys/module/tls"), "cores": os.cpu_count(),
        "loadavg": os.getloadavg(), "produce_records": args.produce_records, "record_bytes": 1024,
        "acks": 1, "consume_records": args.consume_records,
        "quiet_means": "others_cores < %.1f in every run" % QUIET_OTHERS_CORES}}), flush=True)
    rows = {name: [] for name in clients}
    runs = {name: [] for name in clients}
    topic = "tls-bench"
    produced = 0
    try:
        run_load(args.load, "create", plain, topic, [], "", b.proc.pid)
        for r in range(args.rounds):
            names = list(clients) if r % 2 == 0 else list(reversed(clients))
            for client in names:
                lib_dir = clients[client]
                row = {"round": r + 1, "client": client}
                order = [("plain", plain, []), ("tls", tls, tls_set)]
                if r % 2:
                    order.reverse()
                for mode in ("produce", "consume"):
                    for name, boot, extra in order:
                        if mode == "produce":
                            records = args.produce_records
                            more = ["--records", str(records), "--record-size", "1024", "--acks", "1"]
                        else:
                            records = min(args.consume_records, produced)
                            more = ["--records", str(records)]
                        res = run_load(args.load, mode, boot, topic, more + extra, lib_dir, b.proc.pid)
                        if mode == "produce":
                            produced += records
                        mb = res["mb_per_s"]
                        moved = records * 1024 / 1e8  # in 100 MB
                        run = {"run": mode, "listener": name, "client": client, "round": r + 1, "mb_per_s": mb,
                               "client_cpu_s_per_100mb": round(res["cpu"]["client"] / moved, 3),
                               "broker_cpu_s_per_100mb": round(res["cpu"]["broker"] / moved, 3),
                               "others_cores": round(res["cpu"]["others_cores"], 2),
                               "loadavg": round(os.getloadavg()[0], 2)}
                        runs[client].append(run)
                        print(json.dumps(run), flush=True)
                        row["%s_%s" % (mode, name)] = mb
                row["produce_ratio"] = round(row["produce_tls"] / row["produce_plain"], 2)
                row["consume_ratio"] = round(row["consume_tls"] / row["consume_plain"], 2)
                rows[client].append(row)
                print(json.dumps(row), flush=True)
    finally:
        b.stop(timeout=60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for client in clients:
        med = lambda k: statistics.median(x[k] for x in rows[client])  # noqa: E731
        cpu = lambda mode, listener, k: statistics.median(  # noqa: E731
            x[k] for x in runs[client] if x["run"] == mode and x["listener"] == listener)
        others = max(x["others_cores"] for x in runs[client])
        print(json.dumps({"summary": True, "client": client, "librdkafka": versions[client][1],
                          "rounds": len(rows[client]),
                          "produce_plain": med("produce_plain"), "produce_tls": med("produce_tls"),
                          "produce_ratio_median": med("produce_ratio"),
                          "consume_plain": med("consume_plain"), "consume_tls": med("consume_tls"),
                          "consume_ratio_median": med("consume_ratio"),
                          "cpu_s_per_100mb_median": {"%s_%s" % (m, l): {"client": cpu(m, l, "client_cpu_s_per_100mb"),
                                                                         "broker": cpu(m, l, "broker_cpu_s_per_100mb")}
                                                     for m in ("produce", "consume") for l in ("plain", "tls")},
                          "others_cores_max": others, "quiet": others < QUIET_OTHERS_CORES}), flush=True)


if __name__ == "__main__":
    main()
