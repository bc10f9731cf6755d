#!/usr/bin/env bash
# End-to-end benchmarks of a keel broker beside this machine's own limits,
# all measured in one run (docs/load.md explains each number):
#   limits: loopback TCP (iperf3, one stream, 1 MiB and 128 KiB writes), sequential disk write (dd with
#           fdatasync, in the data directory's filesystem), sendfile of a cached
#           file over loopback (benchmarks/load/sendfile-limit), recv from
#           loopback + pwrite into the page cache (benchmarks/load/recv-write-limit),
#           and the page-cache write again right before the 1 KiB produce loads;
#   loads:  keel-load (librdkafka) against keel and against librdkafka's mock
#           cluster; raw-produce and raw-fetch (clients that cost next to
#           nothing); broker CPU seconds per GB from /proc; resident memory.
# Prints a markdown table. Never run by CI (timings depend on the machine).
#   scripts/bench.sh [build-dir]      env: BENCH_SCALE=0.2 for a quick run;
#     BENCH_KEEP_FREED_MEMORY=1 (root, on a VM with free page reporting): the
#     guest keeps the memory it frees for the run, as bare metal does
#     (docs/load.md, "Keeping freed memory in the guest")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
scale=${BENCH_SCALE:-1}
load=$build/benchmarks/load/keel-load
[ -x "$load" ] && [ -x "$build/src/keel" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
if ! command -v iperf3 >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get install -y -qq iperf3 >/dev/null
fi

work=$(mktemp -d /var/tmp/keel-bench.XXXXXX)
pids=()
reporting=/sys/module/page_reporting/parameters/page_reporting_order
old_reporting=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  if [ -n "$old_reporting" ]; then echo "$old_reporting" > "$reporting"; fi
}
trap cleanup EXIT

# A VM whose balloon driver reports free memory hands every page the guest
# frees back to the host, and the next use of it faults on the host: writing a
# new page-cache page then costs 5-10x a reused one, and the produce loads
# measure which server needs new memory. With BENCH_KEEP_FREED_MEMORY=1 the
# run raises the reporting order above the largest free block the kernel keeps
# (MAX_PAGE_ORDER is 10), so nothing is reported, and touches the free memory
# once (a page-cache fill, deleted) so that it is the guest's again. The old
# order is put back when the run ends.
if [ "${BENCH_KEEP_FREED_MEMORY:-0}" = 1 ]; then
  [ -w "$reporting" ] || { echo "BENCH_KEEP_FREED_MEMORY: $reporting is not writable (root, free page reporting)" >&2; exit 1; }
  old_reporting=$(cat "$reporting")
  echo 11 > "$reporting"
  avail_mib=$(awk '/MemAvailable/{print int($2 / 1024)}' /proc/meminfo)
  disk_mib=$(df -Pm "$work" | awk 'NR==2{print $4}')
  fill_mib=$(( avail_mib - 2048 < disk_mib - 4096 ? avail_mib - 2048 : disk_mib - 4096 ))
  echo "== keeping freed memory: reporting order $old_reporting -> 11, touching $fill_mib MiB once" >&2
  if [ "$fill_mib" -gt 0 ]; then
    dd if=/dev/zero of="$work/fill.bin" bs=1M count="$fill_mib" status=none
    rm -f "$work/fill.bin"
  fi
fi

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n() { /usr/bin/python3 -c "print(int($1 * $scale))"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.loads(sys.stdin.readline()); print($1)"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
better() {  # better <json> <json> <key>: whether the first has the larger key
  /usr/bin/python3 -c "import json,sys; sys.exit(0 if json.loads(sys.argv[1])[sys.argv[3]] > json.loads(sys.argv[2])[sys.argv[3]] else 1)" "$@"
}

echo "== machine limits" >&2
# One stream with 1 MiB writes (the produce loads' batch size; the ratios are
# taken against this, the higher one), and with iperf3's default 128 KiB.
iperf() {  # iperf <write size>
  local port; port=$(free_port)
  iperf3 -s -p "$port" -1 >/dev/null 2>&1 & pids+=($!)
  sleep 0.5
  iperf3 -c 127.0.0.1 -p "$port" -t 5 -l "$1" -J | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6,1))'
}
tcp_mbs=$(iperf 1M)
tcp_default_mbs=$(iperf 128K)
disk_mbs=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count=$(n 1024) conv=fdatasync 2>&1 | awk '/copied/{print $(NF-1)*($NF=="GB/s"?1000:1)}')
rm -f "$work/dd.bin"
# The same bytes into the page cache only (no fdatasync): what a broker's
# write(2) path can reach at best on this machine.
pagecache_mbs=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count=$(n 1024) 2>&1 | awk '/copied/{print $(NF-1)*($NF=="GB/s"?1000:1)}')
# And over the pages just written (conv=notrunc: no new page-cache pages): the
# gap between the two is what a new page costs this machine. On a VM that
# hands freed memory back to its host, the write into new pages is most of a
# broker's produce CPU (docs/load.md, "Fresh pages on a Zen 5 machine").
pagecache_cached_mbs=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count=$(n 1024) conv=notrunc 2>&1 | awk '/copied/{print $(NF-1)*($NF=="GB/s"?1000:1)}')
rm -f "$work/dd.bin"
sendfile_mbs=$("$build/benchmarks/load/sendfile-limit" "$work/sendfile.bin" $(n 512) 3 | json 'd["mb_per_s"]')
# A produce path without a broker: recv 1 MiB blocks from loopback TCP and
# pwrite them into the page cache, best of 3; with the kernel's autotuned
# receive buffer, and with SO_RCVBUF at Kafka's socket.receive.buffer.bytes
# default (102400), which a broker sets on every connection.
best_of3() { local b=0 v; for _ in 1 2 3; do v=$("$@" | json 'd["mb_per_s"]'); b=$(/usr/bin/python3 -c "print(max($b, $v))"); done; echo "$b"; }
mkdir -p "$work/rw"
recvwrite_mbs=$(best_of3 "$build/benchmarks/load/recv-write-limit" "$work/rw" $(n 1024))
recvwrite_small_mbs=$(best_of3 "$build/benchmarks/load/recv-write-limit" "$work/rw" $(n 1024) --rcvbuf 102400)

echo "== keel broker" >&2
broker_yaml() {  # broker_yaml <port> <dir>: the config of a broker on <port> keeping its files in <dir>
  cat <<YAML
broker.id: 0
listeners: PLAINTEXT://127.0.0.1:$1
log.dirs: $2/data
num.partitions: 1
# As config/keel.yaml ships it (the broker of README's first command): the
# kernel autotunes both socket buffers (docs/load.md, A/B runs).
socket.receive.buffer.bytes: -1
socket.send.buffer.bytes: -1
logging:
  level: warn
  file: $2/keel.log
YAML
}
wait_port() { for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && break; sleep 0.1; done; }
# A broker of its own for one run, its data removed with it right after (see
# the 100-byte loads for why): fresh_start sets fresh_pid and fresh_port.
fresh_start() {
  fresh_port=$(free_port); mkdir -p "$work/fresh"
  broker_yaml "$fresh_port" "$work/fresh" > "$work/fresh/keel.yaml"
  "$build/src/keel" --config "$work/fresh/keel.yaml" & fresh_pid=$!; pids+=($fresh_pid)
  wait_port "$fresh_port"
}
fresh_stop() { kill "$fresh_pid"; wait "$fresh_pid" 2>/dev/null || true; rm -rf "$work/fresh"; }
port=$(free_port)
broker_yaml "$port" "$work" > "$work/keel.yaml"
"$build/src/keel" --config "$work/keel.yaml" & keel=$!; pids+=($keel)
wait_port "$port"
bs=127.0.0.1:$port

timed_load() {  # timed_load <keel-load args...>: the JSON line; the client's CPU seconds to $work/client
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S" -o "$work/client" "$load" "$@"
  else
    echo "0 0" > "$work/client"; "$load" "$@"
  fi
}
measure() {  # measure <label> <keel-load args...>: prints the JSON line, CPU ticks of keel to $work/cpu,
             # the client's CPU seconds (user + system) appended to $work/client_cpus
  local before after out
  shift  # the label names the run for the reader of this script only
  before=$(cpu_ticks "$keel")
  out=$(timed_load "$@")
  after=$(cpu_ticks "$keel")
  echo "$(( after - before ))" > "$work/cpu"
  awk '{print $1+$2}' "$work/client" >> "$work/client_cpus"
  echo "$out"
}

for t in p1k p64k lat; do "$load" create --bootstrap "$bs" --topic $t --partitions 1; done

# Each load starts with the dirty pages of the one before written out (sync):
# their writeback would otherwise take CPU from it (and not from the limits,
# measured on a quiet machine).
sync
# keel against librdkafka's mock cluster on the same load. On this shared
# machine noise only ever slows a run down, and it must not pick a side: every
# run gets a broker (or mock) of its own, started for it and removed with its
# data right after, and the two take turns at going first (keel, then the mock
# first): on this VM a run's fresh memory comes fast from pages the run before
# just freed, slowly from pages the host has taken back (docs/load.md, "This
# machine's memory"), so a shared broker's growing page cache, or always going
# first, would pick a side.
one_run() {  # one_run <keel|mock> <topic> <keel-load produce args...>: appends
             # "<json> TAB <server CPU ticks> TAB <client CPU s>" to $work/<topic>.<keel|mock>
  local who=$1 topic=$2 pid bootstrap out before after
  shift 2
  if [ "$who" = keel ]; then
    fresh_start; pid=$fresh_pid; bootstrap=127.0.0.1:$fresh_port
    "$load" create --bootstrap "$bootstrap" --topic "$topic" --partitions 1
  else
    # Removed first: the new mock's redirection truncates it only once that
    # process runs, and the wait below must not read the last mock's address.
    rm -f "$work/mock.out"
    "$load" mock --topic "$topic" > "$work/mock.out" 2>/dev/null & pid=$!; pids+=($pid)
    for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
    bootstrap=$(head -1 "$work/mock.out")
  fi
  before=$(cpu_ticks "$pid")
  out=$(timed_load produce --bootstrap "$bootstrap" --topic "$topic" "$@")
  after=$(cpu_ticks "$pid")
  if [ "$who" = keel ]; then fresh_stop; else kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  printf '%s\t%s\t%s\n' "$out" "$(( after - before ))" "$(awk '{print $1+$2}' "$work/client")" >> "$work/$topic.$who"
}
compare() {  # compare <topic> <rounds> <keel-load produce args...>: a keel run and a mock run per round
  local topic=$1 rounds=$2 round
  shift 2
  : > "$work/$topic.keel"; : > "$work/$topic.mock"
  for round in $(seq "$rounds"); do
    sync
    if [ $((round % 2)) = 1 ]; then
      one_run keel "$topic" "$@"; one_run mock "$topic" "$@"
    else
      one_run mock "$topic" "$@"; one_run keel "$topic" "$@"
    fi
  done
}
best_run() {  # best_run <file> <field>: field 1 (json), 2 (server ticks) or 3 (client CPU s) of the fastest run
  /usr/bin/python3 -c "
import json, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
print(max(rows, key=lambda r: json.loads(r[0])['records_per_s'])[int(sys.argv[2]) - 1])" "$1" "$2"
}

# Eight rounds: single rounds on the shared VM range over half an order of
# magnitude (docs/load.md), so the verdict is read from the medians too.
echo "== produce 100-byte records, acks=1 (keel and the mock, 8 rounds)" >&2
r100=$(n 2000000)
compare p100 8 --records "$r100" --record-size 100 --acks 1 --linger-ms 5
keel100=$(best_run "$work/p100.keel" 1); cpu100=$(best_run "$work/p100.keel" 2); ccpu100=$(best_run "$work/p100.keel" 3)
mock100=$(best_run "$work/p100.mock" 1); cpumock100=$(best_run "$work/p100.mock" 2); ccpumock100=$(best_run "$work/p100.mock" 3)
echo "$ccpu100" >> "$work/client_cpus"

sync
echo "== produce 1 KiB records in ~1 MiB batches" >&2
r1k=$(n 1000000)
keel1k=$(measure p1k produce --bootstrap "$bs" --topic p1k --records "$r1k" --record-size 1024 --acks 1 --linger-ms 20 --batch-bytes 1048576)
cpu1k=$(cat "$work/cpu")
# The same load on fresh servers, keel against the mock: what the client
# reaches when the server keeps the records in memory and checks next to
# nothing (the mock), beside what it reaches against keel.
sync
echo "== 1 KiB records in ~1 MiB batches, keel and the mock (3 rounds)" >&2
compare c1k 3 --records "$r1k" --record-size 1024 --acks 1 --linger-ms 20 --batch-bytes 1048576
# And with the cheapest producer librdkafka allows: payloads not copied at
# produce() (no RD_KAFKA_MSG_F_COPY) nor into the request buffer
# (message.copy.max.bytes 0: the request's iovecs point at them), which takes
# about a third off the client's CPU per GB (docs/load.md, "Keeping freed
# memory in the guest").
sync
echo "== the same with librdkafka copying no payload, keel and the mock (3 rounds)" >&2
compare z1k 3 --records "$r1k" --record-size 1024 --acks 1 --linger-ms 20 --batch-bytes 1048576 \
  --copy 0 --set message.copy.max.bytes=0

sync
echo "== the same with raw-produce: ~1 MiB batches of 1 KiB records, pre-encoded, 5 in flight" >&2
# The page cache's write speed right now (this machine's memory state moves
# it several-fold, docs/load.md), beside the produce loads that depend on it.
pagecache_now_mbs=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count=$(n 1024) 2>&1 | awk '/copied/{print $(NF-1)*($NF=="GB/s"?1000:1)}')
rm -f "$work/dd.bin"
# Each run on a fresh broker (as the 100-byte loads), one connection, then two
# producers at once on two partitions: the broker's two network threads take
# one connection each (the TCP limit stays the single stream's).
rawp='{"mb_per_s":0}'; cpurawp=0
rawp2=0; cpurawp2=0; rawp2_bytes=0
for _ in 1 2 3; do  # best of 3, as for the limits
  sync
  fresh_start
  "$load" create --bootstrap "127.0.0.1:$fresh_port" --topic rawp --partitions 1
  before=$(cpu_ticks "$fresh_pid")
  out=$("$build/benchmarks/load/raw-produce" 127.0.0.1 "$fresh_port" rawp 0 $(n 1000))
  after=$(cpu_ticks "$fresh_pid")
  fresh_stop
  if better "$out" "$rawp" mb_per_s; then
    rawp=$out; cpurawp=$(( after - before ))
  fi
  sync
  fresh_start
  "$load" create --bootstrap "127.0.0.1:$fresh_port" --topic rawp2 --partitions 2
  before=$(cpu_ticks "$fresh_pid")
  "$build/benchmarks/load/raw-produce" 127.0.0.1 "$fresh_port" rawp2 0 $(n 500) > "$work/rawp2.0" & c0=$!
  "$build/benchmarks/load/raw-produce" 127.0.0.1 "$fresh_port" rawp2 1 $(n 500) > "$work/rawp2.1" & c1=$!
  wait "$c0" "$c1"
  after=$(cpu_ticks "$fresh_pid")
  fresh_stop
  # Both connections' bytes over the longer of the two runs.
  read -r mbs bytes < <(/usr/bin/python3 -c "
import json, sys
d = [json.loads(open(f).readline()) for f in sys.argv[1:]]
print(sum(x['mb_per_s'] * x['seconds'] for x in d) / max(x['seconds'] for x in d), sum(x['wire_bytes'] for x in d))" "$work/rawp2.0" "$work/rawp2.1")
  if /usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$mbs" "$rawp2"; then
    rawp2=$mbs; rawp2_bytes=$bytes; cpurawp2=$(( after - before ))
  fi
done

sync
echo "== consume the 1 KiB topic from the page cache" >&2
cons=$(measure p1k consume --bootstrap "$bs" --topic p1k --records "$r1k")
cpucons=$(cat "$work/cpu")

echo "== consume 64 KiB records from the page cache (fewer, larger records: the client's per-record cost out of the way)" >&2
r64k=$(n 16000)
"$load" produce --bootstrap "$bs" --topic p64k --records "$r64k" --record-size 65536 --acks 1 --linger-ms 20 --batch-bytes 1048576 >/dev/null
cons64=$(measure p64k consume --bootstrap "$bs" --topic p64k --records "$r64k")
# The same topics through a client that only fetches (no record parsing):
# what the broker delivers when the client costs next to nothing. Best of 3,
# as the limit, which is measured again right before them.
sync
sendfile_now_mbs=$("$build/benchmarks/load/sendfile-limit" "$work/sendfile.bin" $(n 512) 3 | json 'd["mb_per_s"]')
best_fetch() {  # best_fetch <topic>
  local best='{"mb_per_s":0}' out
  for _ in 1 2 3; do
    out=$("$build/benchmarks/load/raw-fetch" 127.0.0.1 "$port" "$1" 0 16777216)
    if better "$out" "$best" mb_per_s; then best=$out; fi
  done
  echo "$best"
}
raw1k=$(best_fetch p1k)
raw64k=$(best_fetch p64k)

sync
echo "== 10,000 records/s of 1 KiB, acks=all" >&2
rss_before=$(rss_kib "$keel")
rlat=$(n 600000)
lat=$("$load" produce --bootstrap "$bs" --topic lat --records "$rlat" --record-size 1024 --acks all --rate 10000 --linger-ms 0)
rss_after=$(rss_kib "$keel")

echo "== memory: 1,000 partitions and 100 idle connections" >&2
for i in $(seq 0 9); do "$load" create --bootstrap "$bs" --topic "many$i" --partitions 100; done
rss_many=$(/usr/bin/python3 - "$port" "$keel" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
time.sleep(1)
for line in open("/proc/%d/status" % pid):
    if line.startswith("VmRSS"):
        print(line.split()[1])
PY
)

/usr/bin/python3 - "$tcp_mbs" "$disk_mbs" "$sendfile_mbs" "$keel100" "$mock100" "$keel1k" "$cons" "$lat" \
  "$cpu100" "$cpu1k" "$cpucons" "$hz" "$rss_before" "$rss_after" "$rss_many" "$pagecache_mbs" "$cons64" "$raw1k" "$raw64k" \
  "$recvwrite_mbs" "$recvwrite_small_mbs" "$(tr '\n' ' ' < "$work/client_cpus")" \
  "$pagecache_now_mbs" "$rawp" "$cpurawp" "$tcp_default_mbs" "$sendfile_now_mbs" "$rawp2" "$cpurawp2" "$rawp2_bytes" "$cpumock100" "$ccpumock100" "$work" "$pagecache_cached_mbs" <<'PY'
import json, sys
tcp, disk, sendfile = map(float, sys.argv[1:4])
k100, m100, k1k, cons, lat = (json.loads(x) for x in sys.argv[4:9])
cpu100, cpu1k, cpucons, hz = (int(x) for x in sys.argv[9:13])
rss_before, rss_after, rss_many = (int(x) for x in sys.argv[13:16])
pagecache = float(sys.argv[16])
cons64 = json.loads(sys.argv[17])
raw1k, raw64k = json.loads(sys.argv[18]), json.loads(sys.argv[19])
recvwrite, recvwrite_small = float(sys.argv[20]), float(sys.argv[21])
# The client's CPU seconds, in measure() order: p100, p1k, consume p1k, consume p64k.
ccpu100, ccpu1k, ccpucons = (float(x) for x in sys.argv[22].split()[:3])
pagecache_now, rawp, cpurawp = float(sys.argv[23]), json.loads(sys.argv[24]), int(sys.argv[25])
tcp_default, sendfile_now = float(sys.argv[26]), float(sys.argv[27])
rawp2, cpurawp2, rawp2_bytes = float(sys.argv[28]), int(sys.argv[29]), int(sys.argv[30])
cpumock100, ccpumock100 = int(sys.argv[31]), float(sys.argv[32])
work = sys.argv[33]
pagecache_cached = float(sys.argv[34])
def runs(name):  # the compare() runs of one side, in round order
    return [json.loads(l.split("\t")[0]) for l in open("%s/%s" % (work, name))]
k100s, m100s, kc1k, mc1k = runs("p100.keel"), runs("p100.mock"), runs("c1k.keel"), runs("c1k.mock")
kz1k, mz1k = runs("z1k.keel"), runs("z1k.mock")
def cpu_per_gb(name):  # [(server CPU s, client CPU s) per GB] of one side's compare() runs
    out = []
    for l in open("%s/%s" % (work, name)):
        j, ticks, client = l.rstrip("\n").split("\t")
        g = json.loads(j)["records"] * json.loads(j)["record_size"] / 1e9
        out.append((int(ticks) / hz / g, float(client) / g))
    return out
best = lambda rs: max(rs, key=lambda r: r["records_per_s"])
gb = lambda r: r["records"] * r.get("record_size", 1024) / 1e9
print("| measurement | result | limit or target | ratio |")
print("|---|---|---|---|")
print("| loopback TCP, one stream (iperf3), 1 MiB / 128 KiB writes | %.0f / %.0f MB/s | | |" % (tcp, tcp_default))
print("| sequential disk write (dd, fdatasync) | %.0f MB/s | | |" % disk)
print("| sendfile of a cached file over loopback | %.0f MB/s | | |" % sendfile)
print("| write(2) of 1 MiB blocks into the page cache (dd, no sync) | %.0f MB/s | | |" % pagecache)
print("| the same over the cached pages just written (dd conv=notrunc): no new pages | %.0f MB/s | | new pages at %.2f of it |" % (pagecache_cached, pagecache / pagecache_cached))
print("| recv 1 MiB blocks from loopback TCP + pwrite into the page cache (recv-write-limit), autotuned / 102400-byte SO_RCVBUF | %.0f / %.0f MB/s | | |" % (recvwrite, recvwrite_small))
print("| produce 100 B, acks=1, keel | %.0f rec/s (%.1f MB/s) | 1,000,000 rec/s | %.2f |" % (k100["records_per_s"], k100["mb_per_s"], k100["records_per_s"] / 1e6))
print("| produce 100 B, acks=1, librdkafka mock cluster | %.0f rec/s | | keel/mock %.2f |" % (m100["records_per_s"], k100["records_per_s"] / m100["records_per_s"]))
print("| produce 100 B, the %d rounds (keel first in odd ones): keel / mock k rec/s, and their ratio | %s | | %s |" % (len(k100s), ", ".join("%.0f / %.0f" % (k["records_per_s"] / 1e3, m["records_per_s"] / 1e3) for k, m in zip(k100s, m100s)), ", ".join("%.2f" % (k["records_per_s"] / m["records_per_s"]) for k, m in zip(k100s, m100s))))
med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
print("| produce 100 B: the median of the rounds' keel/mock ratios; keel's median rate over the mock's | | 1.0 | %.2f; %.2f |" % (med([k["records_per_s"] / m["records_per_s"] for k, m in zip(k100s, m100s)]), med([k["records_per_s"] for k in k100s]) / med([m["records_per_s"] for m in m100s])))
print("| produce 1 KiB in ~1 MiB batches | %.0f MB/s | 60%% of TCP = %.0f MB/s | %.2f of TCP, %.2f of page-cache write, %.2f of recv+pwrite |" % (k1k["mb_per_s"], 0.6 * tcp, k1k["mb_per_s"] / tcp, k1k["mb_per_s"] / pagecache, k1k["mb_per_s"] / recvwrite))
print("| the same on fresh servers, best of %d: keel / mock cluster | %.0f / %.0f MB/s | 60%% of TCP = %.0f MB/s | %.2f / %.2f of TCP, keel/mock %.2f |" % (len(kc1k), best(kc1k)["mb_per_s"], best(mc1k)["mb_per_s"], 0.6 * tcp, best(kc1k)["mb_per_s"] / tcp, best(mc1k)["mb_per_s"] / tcp, best(kc1k)["mb_per_s"] / best(mc1k)["mb_per_s"]))
rng = lambda xs: "%.2f–%.2f" % (min(xs), max(xs))
print("| the same, librdkafka copying no payload (`--copy 0`, message.copy.max.bytes 0), best of %d: keel / mock cluster | %.0f / %.0f MB/s | 60%% of TCP = %.0f MB/s | %.2f / %.2f of TCP, keel/mock %.2f |" % (len(kz1k), best(kz1k)["mb_per_s"], best(mz1k)["mb_per_s"], 0.6 * tcp, best(kz1k)["mb_per_s"] / tcp, best(mz1k)["mb_per_s"] / tcp, best(kz1k)["mb_per_s"] / best(mz1k)["mb_per_s"]))
print("| CPU per GB in those runs, copying / not: the client's against keel, the client's against the mock, keel's, the mock's | %s / %s, %s / %s, %s / %s, %s / %s s | | |" % tuple(rng([c[i] for c in cpu_per_gb(n)]) for i, pair in ((1, ("c1k.keel", "z1k.keel")), (1, ("c1k.mock", "z1k.mock")), (0, ("c1k.keel", "z1k.keel")), (0, ("c1k.mock", "z1k.mock"))) for n in pair))
print("| write(2) into the page cache again, right before the 1 KiB produce loads (dd, no sync) | %.0f MB/s | | |" % pagecache_now)
print("| produce 1 KiB in ~1 MiB batches, raw-produce (pre-encoded, 5 in flight), best of 3 | %.0f MB/s | 60%% of TCP = %.0f MB/s | %.2f of TCP, %.2f of page-cache write (right before) |" % (rawp["mb_per_s"], 0.6 * tcp, rawp["mb_per_s"] / tcp, rawp["mb_per_s"] / pagecache_now))
print("| the same, two raw-produce connections on two partitions at once, best of 3 | %.0f MB/s | 60%% of TCP = %.0f MB/s | %.2f of TCP (one stream) |" % (rawp2, 0.6 * tcp, rawp2 / tcp))
print("| consume from the page cache | %.0f MB/s | 80%% of sendfile = %.0f MB/s | %.2f of sendfile |" % (cons["mb_per_s"], 0.8 * sendfile, cons["mb_per_s"] / sendfile))
print("| consume 64 KiB records from the page cache | %.0f MB/s | 80%% of sendfile = %.0f MB/s | %.2f of sendfile |" % (cons64["mb_per_s"], 0.8 * sendfile, cons64["mb_per_s"] / sendfile))
print("| sendfile of a cached file over loopback again, right before raw-fetch | %.0f MB/s | | |" % sendfile_now)
print("| fetch-only client (raw-fetch), 1 KiB / 64 KiB topics, best of 3 | %.0f / %.0f MB/s | 80%% of sendfile = %.0f MB/s | %.2f / %.2f of sendfile (start of run), %.2f / %.2f (right before) |" % (raw1k["mb_per_s"], raw64k["mb_per_s"], 0.8 * sendfile, raw1k["mb_per_s"] / sendfile, raw64k["mb_per_s"] / sendfile, raw1k["mb_per_s"] / sendfile_now, raw64k["mb_per_s"] / sendfile_now))
print("| 10,000 rec/s of 1 KiB, acks=all: p99 / p99.9 | %.2f / %.2f ms | 5 / 20 ms | |" % (lat["latency_ms"]["p99"], lat["latency_ms"]["p999"]))
print("| broker CPU per GB produced (100 B / 1 KiB / 1 KiB raw-produce, one / two connections) | %.1f / %.1f / %.2f / %.2f s | | |" % (cpu100 / hz / gb(k100), cpu1k / hz / gb(k1k), cpurawp / hz / (rawp["wire_bytes"] / 1e9) if cpurawp else 0, cpurawp2 / hz / (rawp2_bytes / 1e9) if rawp2_bytes else 0))
print("| CPU per GB at 100 B in the best runs, keel / mock cluster: the server's, the client's | %.2f / %.2f s, %.1f / %.1f s | | |" % (cpu100 / hz / gb(k100), cpumock100 / hz / gb(m100), ccpu100 / gb(k100), ccpumock100 / gb(m100)))
print("| broker CPU per GB consumed | %.1f s | | |" % (cpucons / hz / (cons["all_bytes"] / 1e9)))
print("| client (librdkafka) CPU per GB produced (100 B / 1 KiB) / consumed | %.1f / %.1f / %.1f s | | |" % (ccpu100 / gb(k100), ccpu1k / gb(k1k), ccpucons / (cons["all_bytes"] / 1e9)))
print("| RSS before / after the 60 s steady load | %d / %d MiB | no growth | |" % (rss_before // 1024, rss_after // 1024))
print("| RSS with 1,000 partitions + 100 idle connections | %d MiB | 256 MiB | %.2f |" % (rss_many // 1024, rss_many / 1024 / 256))
PY
