// CRC-32C throughput (numbers and how to read them: docs/performance.md, "CRC-32C").
//
//   crc_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// BM_Crc32c is what the broker calls (the dispatched path); BM_Crc32cSoftware is
// the table fallback, for scale. The buffer starts one byte past an 8-byte
// boundary, as a record batch's CRC-covered range (from the attributes field)
// usually does.

#include <cstdint>
#include <random>

#include <benchmark/benchmark.h>

#include "common/crc32c.h"

namespace keel {
namespace {

Bytes random_bytes(size_t n) {
  std::mt19937_64 rng(n);
  Bytes b(n + 1);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

void BM_Crc32c(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Bytes buf = random_bytes(n);
  ByteView v = ByteView(buf).subspan(1, n);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c(v));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_Crc32c)->Arg(1 << 10)->Arg(16 << 10)->Arg(1 << 20);

void BM_Crc32cSoftware(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Bytes buf = random_bytes(n);
  ByteView v = ByteView(buf).subspan(1, n);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c_software(v));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_Crc32cSoftware)->Arg(1 << 10)->Arg(16 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
