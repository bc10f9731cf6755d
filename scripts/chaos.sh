#!/usr/bin/env bash
# Randomized fault schedule against keel in network namespaces (as root).
#
#   scripts/chaos.sh [--duration S] [--brokers N] [--seed X] [--max-faults K] [--lossy] [--out DIR]
#                    [--workload txn [--ctp-mode subscribe]] [--tmpfs-mb MB] [--security sasl_ssl|gssapi]
#   scripts/chaos.sh --smoke          # the pytest smoke subset instead (tests/chaos -m chaos)
#   scripts/chaos.sh --scenario NAME [NAME...]   # named scenarios (tests/chaos/run.py list)
#
# Bounded: the schedule stops after --duration seconds (default 300) or
# --max-faults faults (default 40), and the whole run is killed past
# duration + 10 minutes. Faults every 5-15 s with quiet periods; heal, recovery,
# final read, then the checker. The report is DIR/report.json (DIR defaults
# to /tmp/keel-chaos-<date>-<seed>); exit status 0 when it is what the run
# expected (no violation; with --lossy, whatever it found is reported
# and the exit status is 0 unless the run itself broke; with brokers > 1,
# --lossy writes acks=1 and adds zombie-leader isolations). Brokers > 1 need
# replication: KEEL_CHAOS_CLUSTER=1. KEEL_BIN picks the binary
# (default build/src/keel). --workload txn (random and --scenario): transactional
# producers committing or aborting at random, read_committed consumers, and the
# transactional checks (acks=all only, so not with --lossy), with a consume-transform-
# produce leg checked for exactly-once (--ctp-mode subscribe: two members of one
# consumer group that subscribe() and rejoin all run long, so partitions change
# hands under the faults). --brokers 4 puts the topic on three brokers
# and adds reassignments onto the fourth (and a cancelled one) to the faults.
# --tmpfs-mb MB puts every broker's data directory on a tmpfs of that size and
# adds a full disk (disk-full: a file takes all its free space, healed by
# deleting it and restarting the broker) to the random mix.
# --security sasl_ssl|gssapi (random and --scenario): the workload's clients and
# the brokers' own connections use TLS then SCRAM-SHA-512, or Kerberos with a KDC
# of the run's own, with the ACL authorizer on (tests/chaos/security.py); the
# harness's probes keep a PLAINTEXT listener.
# Replicated runs compare the replicas' segment files and leader-epoch checkpoints
# below the high watermark after the brokers stop (replica_divergence,
# epoch_divergence). Docs: docs/chaos.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
duration=300 brokers=1 seed=$RANDOM$RANDOM max_faults=40 lossy="" out="" mode=random names=() workload=plain
ctp_mode=assign tmpfs=() security=plaintext
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --brokers) brokers=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --max-faults) max_faults=$2; shift 2 ;;
    --lossy) lossy=--lossy; shift ;;
    --out) out=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --ctp-mode) ctp_mode=$2; shift 2 ;;
    --tmpfs-mb) tmpfs=(--tmpfs-mb "$2"); shift 2 ;;
    --security) security=$2; shift 2 ;;
    --smoke) mode=smoke; shift ;;
    --scenario) mode=scenario; shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do names+=("$1"); shift; done ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "chaos.sh needs root (ip netns)" >&2; exit 2; }
$PY -c 'import confluent_kafka' 2>/dev/null || { echo "needs python3-confluent-kafka (apt)" >&2; exit 2; }
[ -f /usr/share/java/zookeeper.jar ] || { echo "needs zookeeper (apt)" >&2; exit 2; }

case "$mode" in
  smoke)
    exec timeout -k 30 1200 $PY -m pytest tests/chaos -m chaos -q -p no:cacheprovider -rs ;;
  scenario)
    out=${out:-/tmp/keel-chaos-$(date +%Y%m%d-%H%M%S)}
    set +e
    timeout -k 30 $(( ${#names[@]} * 600 )) $PY tests/chaos/run.py scenario "${names[@]}" --out "$out" --workload "$workload" \
      --ctp-mode "$ctp_mode" --security "$security"
    rc=$?; echo "reports under $out"; exit $rc ;;
esac

out=${out:-/tmp/keel-chaos-$(date +%Y%m%d-%H%M%S)-$seed}
limit=$(( ${duration%.*} + 600 ))
set +e
timeout -k 30 "$limit" $PY tests/chaos/run.py random --brokers "$brokers" --duration "$duration" \
  --seed "$seed" --max-faults "$max_faults" $lossy --out "$out" --workload "$workload" --ctp-mode "$ctp_mode" \
  --security "$security" "${tmpfs[@]}"
rc=$?
set -e
echo "report: $out/report.json (seed $seed, exit $rc)"
exit $rc
