#!/usr/bin/env bash
# libFuzzer runs of every tests/fuzz/*_fuzz.cc target (see docs/fuzzing.md).
#
#   scripts/fuzz.sh smoke          build the targets (clang-14, ASan+UBSan) in
#                                  build-fuzz/ and run each one for a bounded time
#                                  (KEEL_FUZZ_SMOKE_SECONDS, default 20) with a
#                                  fixed seed on a temporary copy of its seed
#                                  corpus; fails on any crash, leak, UB or timeout.
#   scripts/fuzz.sh long SECONDS   run every target SECONDS seconds, as many at a
#                                  time as there are cores; each keeps its corpus
#                                  in ./fuzz-corpus/<name>/ (git-ignored) and its
#                                  log in ./fuzz-corpus/<name>.log; crashes land in
#                                  ./fuzz-corpus/artifacts/.
#   scripts/fuzz.sh build          only build the targets.
#
# Needs clang-14 and libclang-rt-14-dev (scripts/install-deps.sh installs them).
# KEEL_FUZZ_BIN_DIR=<dir>: skip the build and run the <name>_fuzz binaries found
# in <dir> (targets without a binary there are skipped with a warning).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
mode=${1:-smoke}

export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true CCACHE_SLOPPINESS=pch_defines,time_macros
# UBSan only reports by default; a fuzz run must stop on undefined behaviour.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

targets=()
for src in "$root"/tests/fuzz/*_fuzz.cc; do
  [ -e "$src" ] || continue
  targets+=("$(basename "$src" .cc)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no tests/fuzz/*_fuzz.cc targets" >&2
  exit 1
fi

bin_of() {
  if [ -n "${KEEL_FUZZ_BIN_DIR:-}" ]; then echo "$KEEL_FUZZ_BIN_DIR/$1"; else echo "$build/tests/fuzz/$1"; fi
}

build_targets() {
  if [ -n "${KEEL_FUZZ_BIN_DIR:-}" ]; then
    local kept=()
    for t in "${targets[@]}"; do
      if [ -x "$(bin_of "$t")" ]; then kept+=("$t"); else echo "fuzz.sh: no $(bin_of "$t"), skipping $t" >&2; fi
    done
    targets=("${kept[@]}")
    return
  fi
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DKEEL_FUZZ=ON -DKEEL_BUILD_BENCHMARKS=OFF -DKEEL_BUILD_TESTS=ON
  fi
  ninja -C "$build" -j"$(nproc)" "${targets[@]}"
}

seed_dir() {  # tests/fuzz/corpus/<target without _fuzz>
  echo "$root/tests/fuzz/corpus/${1%_fuzz}"
}

case "$mode" in
  build)
    build_targets
    ;;
  smoke)
    build_targets
    seconds=${KEEL_FUZZ_SMOKE_SECONDS:-20}
    failed=()
    for t in "${targets[@]}"; do
      work=$(mktemp -d)
      mkdir -p "$work/corpus" "$work/artifacts"
      if [ -d "$(seed_dir "$t")" ]; then cp -r "$(seed_dir "$t")/." "$work/corpus/"; fi
      echo "== $t: ${seconds}s"
      if "$(bin_of "$t")" -max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=2048 \
           -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1; then
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/log" | tail -2 || true
        rm -rf "$work"
      else
        echo "FAILED: $t (log follows; reproduce with the input in $work/artifacts)"
        tail -60 "$work/log"
        ls -l "$work/artifacts" || true
        failed+=("$t")
      fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
      echo "fuzz smoke: FAILED: ${failed[*]}"
      exit 1
    fi
    echo "fuzz smoke: all ${#targets[@]} targets ran clean"
    ;;
  long)
    seconds=${2:?usage: scripts/fuzz.sh long SECONDS}
    build_targets
    out="$root/fuzz-corpus"
    mkdir -p "$out/artifacts"
    jobs_max=$(nproc)
    for t in "${targets[@]}"; do
      mkdir -p "$out/$t"
      if [ -d "$(seed_dir "$t")" ]; then cp -rn "$(seed_dir "$t")/." "$out/$t/"; fi
      while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
      echo "== $t: ${seconds}s (log: $out/$t.log)"
      rm -f "$out/$t.rc"
      # The exit code goes to a file: `wait -n` above may already have reaped the job.
      ( rc=0
        "$(bin_of "$t")" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
          -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 "$out/$t" >"$out/$t.log" 2>&1 || rc=$?
        echo "$rc" >"$out/$t.rc" ) &
    done
    wait || true
    status=0
    for t in "${targets[@]}"; do
      if [ "$(cat "$out/$t.rc" 2>/dev/null)" = "0" ]; then result=clean; else result=FAILED; status=1; fi
      execs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$out/$t.log" | grep -oE "[0-9]+$" || echo "?")
      cov=$(grep -oE "cov: [0-9]+" "$out/$t.log" | tail -1 | grep -oE "[0-9]+$" || echo "?")
      files=$(find "$out/$t" -type f | wc -l)
      echo "$t: $result, ${seconds}s, $execs execs, cov $cov, corpus $files files"
    done
    exit $status
    ;;
  *)
    echo "usage: scripts/fuzz.sh smoke | long SECONDS | build" >&2
    exit 2
    ;;
esac
