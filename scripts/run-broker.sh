#!/usr/bin/env bash
# README's first command: install what is needed, build, and run a single broker
# with config/keel.yaml (127.0.0.1:9092, embedded metadata store, no other service).
# Extra arguments go to keel, e.g. scripts/run-broker.sh --config my.yaml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh "$root/build"
if [ $# -eq 0 ]; then
  set -- --config "$root/config/keel.yaml"
fi
exec "$root/build/src/keel" "$@"
