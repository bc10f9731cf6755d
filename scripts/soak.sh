#!/usr/bin/env bash
# Steady-load soak of one keel broker: the seeds' peak load (10,000 records/s
# of 1 KiB, acks=all, keel-load/librdkafka) for SOAK_SECONDS (default 600)
# while a consumer group of two confluent-kafka consumers reads the topic and
# commits every second. Samples the broker's resident memory every 30 s and
# prints them with the producer's latency percentiles and the group's final
# lag, so memory growth (or its absence) is measured, not guessed.
# Never run by CI.   scripts/soak.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
seconds=${SOAK_SECONDS:-600}
load=$build/benchmarks/load/keel-load
[ -x "$load" ] && [ -x "$build/src/keel" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }

work=$(mktemp -d /var/tmp/keel-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/keel.yaml" <<YAML
broker.id: 0
listeners: PLAINTEXT://127.0.0.1:$port
log.dirs: $work/data
offsets.topic.replication.factor: 1
group.initial.rebalance.delay.ms: 0
log.retention.bytes: 536870912
log.segment.bytes: 67108864
logging:
  level: info
  file: $work/keel.log
YAML
cp "$build/src/keel" "$work/keel"  # a rebuild during the soak must not replace it
"$work/keel" --config "$work/keel.yaml" & keel=$!; pids+=($keel)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
bs=127.0.0.1:$port
"$load" create --bootstrap "$bs" --topic soak --partitions 4 >/dev/null

# The consumer group: two members, commits every second, runs until told to stop.
/usr/bin/python3 - "$bs" "$work/stop" "$work/consumed" <<'PY' & pids+=($!)
import os, sys, threading, time
from confluent_kafka import Consumer, TopicPartition
bs, stop_file, out_file = sys.argv[1:4]
counts = [0, 0]
def member(i):
    c = Consumer({"bootstrap.servers": bs, "group.id": "soak-group", "auto.offset.reset": "earliest",
                  "enable.auto.commit": True, "auto.commit.interval.ms": 1000})
    c.subscribe(["soak"])
    # poll(), not consume(n): librdkafka 2.0.2's batch consume can drop
    # messages whose offsets it already stored when a rebalance revokes and
    # re-assigns their partition (seen here: a gap with consume(1000), none
    # with poll() on the same broker and load).
    while not os.path.exists(stop_file):
        m = c.poll(0.5)
        if m is not None and not m.error():
            counts[i] += 1
    c.close()
threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
open(out_file, "w").write("%d %d\n" % tuple(counts))
PY
consumers=$!

rss() { awk '/VmRSS/{print $2}' "/proc/$keel/status"; }
samples=()
( "$load" produce --bootstrap "$bs" --topic soak --records $((seconds * 10000)) --record-size 1024 --acks all \
    --rate 10000 --linger-ms 0 > "$work/produce.json" ) & producer=$!; pids+=($producer)
start=$(date +%s)
while kill -0 "$producer" 2>/dev/null; do
  samples+=("$(( $(date +%s) - start )):$(rss)")
  sleep 30
done
wait "$producer" || true
sleep 5  # the group catches up
samples+=("$(( $(date +%s) - start )):$(rss)")
touch "$work/stop"
wait "$consumers" || true

lag=$(/usr/bin/python3 - "$bs" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "soak-group"})
tps = [TopicPartition("soak", p) for p in range(4)]
committed = c.committed(tps, timeout=10)
lag = 0
for tp in committed:
    lo, hi = c.get_watermark_offsets(TopicPartition("soak", tp.partition), timeout=10)
    lag += hi - max(tp.offset, lo)
c.close()
print(lag)
PY
)
/usr/bin/python3 - "$work/produce.json" "$work/consumed" "$lag" "${samples[@]}" <<'PY'
import json, sys
prod = json.loads(open(sys.argv[1]).readline())
consumed = sum(int(x) for x in open(sys.argv[2]).read().split())
lag = int(sys.argv[3])
samples = [s.split(":") for s in sys.argv[4:]]
print("| elapsed s | broker RSS MiB |")
print("|---|---|")
for t, kib in samples:
    print("| %s | %.1f |" % (t, int(kib) / 1024))
print()
print("produced %d records (%.0f rec/s), p99 %.2f ms, p99.9 %.2f ms; group consumed %d, final lag %d" %
      (prod["records"], prod["records_per_s"], prod["latency_ms"]["p99"], prod["latency_ms"]["p999"], consumed, lag))
PY
