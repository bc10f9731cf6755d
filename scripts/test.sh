#!/usr/bin/env bash
# Runs the whole test suite: installs what is needed, builds, then
#   1. unit tests (GoogleTest, through ctest),
#   2. a short bounded libFuzzer smoke run of every fuzz target (clang-14),
#   3. integration tests: real clients against real keel processes (pytest),
#      once with the embedded coordination store and once with a real
#      ZooKeeper the harness starts on loopback,
#   4. the fault-test harness: its checker's unit tests and the short smoke
#      subset of fault runs in network namespaces (tests/chaos, docs/chaos.md).
# Exits non-zero on the first failing stage.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/build.sh "$root/build"

echo "== unit tests"
(cd build && ctest -j"$(nproc)" --output-on-failure --timeout 300)

if [ -f tests/fuzz/CMakeLists.txt ]; then
  echo "== fuzz smoke run"
  scripts/fuzz.sh smoke
fi

# Integration tests spend most of their time waiting (for elections, session
# timeouts, consumer groups), not computing: they run in pytest-xdist workers,
# a test file per worker at a time (module fixtures stay in one process; each
# worker picks ports from its own range, conftest.py). KEEL_TEST_WORKERS=1
# runs them one after another.
workers=${KEEL_TEST_WORKERS:-4}
xdist=()
if [ "$workers" -gt 1 ]; then xdist=(-n "$workers" --dist loadfile); fi

# Cluster tests start their own ZooKeeper, whatever the store: they run in the
# ZooKeeper pass only (the `cluster` marker, tests/integration/conftest.py).
echo "== integration tests (embedded store)"
KEEL_BIN="$root/build/src/keel" KEEL_STORE=embedded \
  /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider "${xdist[@]}" -m "not cluster"
echo "== integration tests (ZooKeeper)"
KEEL_BIN="$root/build/src/keel" KEEL_STORE=zookeeper \
  /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider "${xdist[@]}" --durations=15
echo "== fault tests (tests/chaos: checker unit tests and the smoke subset)"
KEEL_BIN="$root/build/src/keel" \
  /usr/bin/python3 -m pytest tests/chaos -q -p no:cacheprovider
