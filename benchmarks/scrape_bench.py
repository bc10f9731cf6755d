#!/usr/bin/python3
"""/metrics at many partitions (issue 23): how long a scrape takes, how big it is,
and whether scraping moves the produce latency of the clients beside it.

    benchmarks/scrape_bench.py [--keel build/src/keel] [--compare OLD_KEEL]
                               [--partitions 1000,10000] [--scrapes 20]
                               [--phase-seconds 10] [--rounds 2] [--no-latency]
                               [--interval 0] [--workdir DIR] [--split-cpus 0/1]
                               [--gzip]

For each partition count: one broker (embedded store, the integration tests'
conftest.Broker) with an HTTP listener; topics of 10 partitions each, created
with AdminClient; one record produced to every partition, so every per-topic and
per-partition series exists. Then:

  scrape   --scrapes sequential GETs of /metrics: wall time p50 / p99 / max, body
           size, number of samples (lines that are not comments), p50 per sample;
           also the time to the first byte of the answer (the broker renders
           the whole text before it sends any: this is the broker's part, the
           rest is the transfer and this script reading 10 MiB). The broker
           reuses its copy of the partition table for a second, so back-to-back
           scrapes mostly skip building it while Prometheus (one scrape every
           15 s) never does: --interval 1.2 waits that long between scrapes and
           measures the scrape Prometheus gets;
           with --compare, a second broker of the other binary is set up the same
           way beside the first, and the two are scraped in alternating blocks of
           five (A B, then B A, ...), so a noisy minute on a shared machine hits
           both; the texts of the two are also compared with values left out
           (names and labels must match);
  latency  a librdkafka producer (acks=1, linger.ms 0, 1 KiB records, 1,000/s on
           one partition) runs through alternating phases, quiet (no scrape) and
           scraping (another process GETs /metrics back to back, or one every
           --scrape-every s); the per-record ack latency p50 / p99 of each
           phase, and of the records whose flight overlapped a scrape. The
           ratio scraping/quiet p99 is the effect of a scrape on request
           latency (1.0 = none), measured in the same run.

--split-cpus 0/1 pins every thread of the broker to CPU 0 and this script
(its producer, the scraping process) to CPU 1: on a machine of two CPUs, the
nearest this gets to Prometheus and the clients on another machine, so what
is left of a scrape's effect is the broker's own.

--gzip asks for a compressed answer (Accept-Encoding: gzip), as Prometheus
does: the scrape time is then the compressed answer's, the body size and
samples those of its text, and wire_bytes what crossed the socket.

Targets (issue 23): a scrape under 100 ms, and no effect on request latency p99
during a scrape. Prints one JSON object per partition count and binary. The
brokers' directories (under --workdir, default the system's temporary directory)
are removed at the end. Nothing here is a test."""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def create_topics(admin, partitions):
    from confluent_kafka.admin import NewTopic
    names = ["scrape-%05d" % i for i in range((partitions + 9) // 10)]
    for start in range(0, len(names), 100):
        batch = [NewTopic(n, num_partitions=10, replication_factor=1) for n in names[start:start + 100]]
        for name, fut in admin.create_topics(batch, request_timeout=120).items():
            fut.result(timeout=180)
    return names


def fill(bootstrap, names):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": 1})
    for name in names:
        for part in range(10):
            while True:
                try:
                    p.produce(name, value=b"x", partition=part)
                    break
                except BufferError:
                    p.poll(0.1)
        p.poll(0)
    left = p.flush(120)
    if left:
        raise RuntimeError("%d fill records not delivered" % left)


# --gzip: scrape as Prometheus does, asking for a compressed answer.
HEADERS = {}


def scrape(url, first_byte=None):
    """(seconds, body as text, bytes on the wire); the time to the first byte
    of the body is appended to first_byte. A gzip answer is timed as it came
    and decompressed afterwards."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=HEADERS), timeout=60) as r:
        body = r.read(1)
        if first_byte is not None:
            first_byte.append(time.perf_counter() - t0)
        body += r.read()
        zipped = r.headers.get("Content-Encoding") == "gzip"
    dt = time.perf_counter() - t0
    return dt, gzip.decompress(body) if zipped else body, len(body)


def scraper_process(url, every, stop, windows, headers):
    """Another process's scrapes of `url` (one every `every` s, or back to back
    with 0): each scrape's (start, end) in time.perf_counter (CLOCK_MONOTONIC,
    the same clock in every process) goes to `windows`. A process of its own,
    so reading 1-11 MB of text does not hold the producer's interpreter lock
    and delay its delivery callbacks (a thread here did)."""
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
                r.read()
        except OSError:
            pass
        windows.put((t0, time.perf_counter()))
        if every:
            stop.wait(max(0.0, every - (time.perf_counter() - t0)))


def latency_phase(producer, topic, seconds, rate, scraping_url, every=0.0):
    """Ack latencies of records sent at `rate`/s for `seconds`, with or without
    scrapes: a list of (sent, latency) in seconds, and the scrapes' (start, end)."""
    import multiprocessing
    lat = []
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    windows = ctx.Queue()
    proc = None
    if scraping_url:
        proc = ctx.Process(target=scraper_process, args=(scraping_url, every, stop, windows, HEADERS),
                           daemon=True)
        proc.start()
        time.sleep(0.5)  # the process is up and scraping before the records start
    payload = os.urandom(1024)
    interval = 1.0 / rate
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        sent = time.perf_counter()

        def cb(err, msg, sent=sent):
            if err is None:
                lat.append((sent, time.perf_counter() - sent))
        producer.produce(topic, value=payload, partition=0, on_delivery=cb)
        producer.poll(0)
        n += 1
        next_at = start + n * interval
        while time.perf_counter() < next_at:
            producer.poll(max(0.0, min(0.001, next_at - time.perf_counter())))
    producer.flush(30)
    scrapes = []
    if proc:
        stop.set()
        proc.join(timeout=60)
        while True:
            try:
                scrapes.append(windows.get(timeout=0.5))
            except Exception:
                break
    return lat, scrapes


def overlapping(lat, windows):
    """Splits (sent, latency) records into those whose flight overlapped a
    scrape (sent before the scrape ended, acked after it began) and the rest."""
    windows = sorted(windows)
    during, apart = [], []
    i = 0
    for sent, l in sorted(lat):
        while i < len(windows) and windows[i][1] < sent:
            i += 1
        hit = any(ws <= sent + l and sent <= we for ws, we in windows[i:i + 3])
        (during if hit else apart).append(l)
    return during, apart


def series_of(body):
    """The sample lines of a scrape without their values: what must not differ between binaries."""
    return sorted(line.rsplit(b" ", 1)[0] for line in body.split(b"\n") if line and not line.startswith(b"#"))


class Setup:
    """One broker of `keel` with `partitions` partitions in topics of 10, each holding one record."""

    def __init__(self, keel, partitions, work, broker_cpus=""):
        import conftest
        from conftest import Broker, free_port
        from confluent_kafka.admin import AdminClient
        conftest.KEEL_BIN = keel
        self.keel = keel
        http_port = free_port()
        self.broker = Broker(work, extra_config="http.listeners: http://127.0.0.1:%d\n"
                             "num.partitions: 1\n" % http_port).start()
        if broker_cpus:  # every thread of the broker, those it starts later too (they inherit it)
            subprocess.run(["taskset", "-a", "-p", "-c", broker_cpus, str(self.broker.proc.pid)], check=True,
                           capture_output=True)
        self.url = "http://127.0.0.1:%d/metrics" % http_port
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        t0 = time.time()
        self.names = create_topics(admin, partitions)
        self.created_s = time.time() - t0
        fill(self.broker.bootstrap, self.names)
        scrape(self.url)  # warm
        self.times, self.first_byte, self.body, self.wire = [], [], b"", 0

    def scrapes(self, n, interval):
        for _ in range(n):
            if interval:
                time.sleep(interval)
            dt, self.body, self.wire = scrape(self.url, self.first_byte)
            self.times.append(dt)

    def stop(self):
        self.broker.stop(timeout=60)


def ms(v):
    return None if v is None else round(v * 1000, 2)


def latency(s, args):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": s.broker.bootstrap, "acks": 1, "linger.ms": 0})
    latency_phase(producer, s.names[0], 2, args.rate, None)  # warm-up
    quiet, busy, windows, during, apart = [], [], [], [], []
    for _ in range(args.rounds):
        q, _ = latency_phase(producer, s.names[0], args.phase_seconds, args.rate, None)
        b, w = latency_phase(producer, s.names[0], args.phase_seconds, args.rate, s.url, args.scrape_every)
        quiet += [l for _, l in q]
        busy += [l for _, l in b]
        windows += w
        d, a = overlapping(b, w)
        during += d
        apart += a
    q99, b99 = percentile(quiet, 0.99), percentile(busy, 0.99)
    d99 = percentile(during, 0.99)
    return {
        "scrape_every_s": args.scrape_every,
        "quiet_ack_ms_p50": ms(percentile(quiet, 0.5)),
        "quiet_ack_ms_p99": ms(q99),
        "scraping_ack_ms_p50": ms(percentile(busy, 0.5)),
        "scraping_ack_ms_p99": ms(b99),
        "p99_ratio_scraping_over_quiet": round(b99 / q99, 2) if q99 and b99 else None,
        # The records whose flight overlapped a scrape, against the quiet phases.
        "during_scrape_ack_ms_p50": ms(percentile(during, 0.5)),
        "during_scrape_ack_ms_p99": ms(d99),
        "p99_ratio_during_scrape_over_quiet": round(d99 / q99, 2) if q99 and d99 else None,
        "scrapes_during_latency_phases": len(windows),
        "scrape_ms_p50_under_load": ms(statistics.median([e - b for b, e in windows])) if windows else None,
        "records": {"quiet": len(quiet), "scraping": len(busy), "during_a_scrape": len(during)},
    }


def run(keels, partitions, args):
    os.environ["KEEL_STORE"] = "embedded"
    work = Path(tempfile.mkdtemp(prefix="keel-scrape-bench-", dir=args.workdir))
    setups = []
    try:
        for i, keel in enumerate(keels):
            setups.append(Setup(keel, partitions, work / ("b%d" % i), args.broker_cpus))
        load_before = os.getloadavg()
        # Blocks of five scrapes, the binaries' order alternating each round.
        block = 5 if len(setups) > 1 else args.scrapes
        for r in range((args.scrapes + block - 1) // block):
            for s in (setups if r % 2 == 0 else setups[::-1]):
                s.scrapes(min(block, args.scrapes - r * block), args.interval)
        load_after = os.getloadavg()
        same_series = None
        if len(setups) > 1:
            same_series = series_of(setups[0].body) == series_of(setups[1].body)
        out = []
        for s in setups:
            samples = sum(1 for line in s.body.split(b"\n") if line and not line.startswith(b"#"))
            p50 = statistics.median(s.times)
            result = {
                "keel": s.keel,
                "partitions": partitions,
                "topics_created_s": round(s.created_s, 1),
                "scrapes": len(s.times),
                "scrape_ms_p50": ms(p50),
                "scrape_ms_p99": ms(percentile(s.times, 0.99)),
                "scrape_ms_max": ms(max(s.times)),
                "first_byte_ms_p50": ms(statistics.median(s.first_byte)),
                "first_byte_ms_max": ms(max(s.first_byte)),
                "interval_s": args.interval,
                "scrape_bytes": len(s.body),
                "wire_bytes": s.wire,
                "gzip": bool(HEADERS),
                "samples": samples,
                "scrape_us_per_sample_p50": round(p50 * 1e6 / samples, 3) if samples else None,
                "loadavg_scrapes": [load_before, load_after],
            }
            if same_series is not None:
                result["same_series_as_other_binary"] = same_series
            if not args.no_latency:
                result.update(latency(s, args))
                result["loadavg"] = os.getloadavg()
            out.append(result)
        return out
    finally:
        for s in setups:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=str(REPO / "build" / "src" / "keel"))
    ap.add_argument("--compare", default="", help="a second keel binary, scraped interleaved with --keel")
    ap.add_argument("--partitions", default="1000,10000")
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--phase-seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--scrape-every", type=float, default=0,
                    help="latency: seconds between the scraping process's scrapes (0: back to back; "
                         "Prometheus: 15)")
    ap.add_argument("--no-latency", action="store_true", help="scrape timings only")
    ap.add_argument("--gzip", action="store_true", help="ask for gzip (Accept-Encoding), as Prometheus does")
    ap.add_argument("--interval", type=float, default=0,
                    help="seconds between two scrapes (over 1: each builds the partition table, as Prometheus's do)")
    ap.add_argument("--workdir", default=None, help="parent of the brokers' directories")
    ap.add_argument("--split-cpus", default="",
                    help="BROKER/REST, e.g. 0/1: the brokers' threads on the first CPU list, this script, its "
                         "producer and scraping process on the second, as if the clients and Prometheus ran on "
                         "another machine")
    args = ap.parse_args()
    if args.gzip:
        HEADERS["Accept-Encoding"] = "gzip"
    args.broker_cpus = ""
    if args.split_cpus:
        args.broker_cpus, rest = args.split_cpus.split("/")
        os.sched_setaffinity(0, {int(c) for c in rest.split(",")})  # before any thread: they inherit it
    keels = [args.keel] + ([args.compare] if args.compare else [])
    for n in [int(x) for x in args.partitions.split(",")]:
        for result in run(keels, n, args):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
