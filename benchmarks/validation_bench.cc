// Produce-path validation of one ~1 MiB uncompressed batch, as the produce
// handler runs it on every batch (CRC-32C, then the record walk): nanoseconds
// per record and bytes per second, for 100-byte and 1 KiB records. The batch
// is rewritten from a copy before each run (the frame a request just
// received, as the broker's reader leaves it), so it is not hotter in the
// cache than in the broker.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>

#include "cluster/record_validation.h"
#include "protocol/record_batch.h"

namespace {

using namespace keel;

Bytes make_batch(size_t record_size, size_t batch_bytes) {
  protocol::RecordBatchBuilder b;
  Bytes value(record_size);
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<uint8_t>(i * 131 + 7);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (size_t n = 0; n * (record_size + 8) < batch_bytes; ++n) b.add(now, std::nullopt, ByteView(value));
  return *b.build();
}

void BM_ValidateProduceBatch(benchmark::State& state) {
  const Bytes source = make_batch(static_cast<size_t>(state.range(0)), 1 << 20);
  Bytes frame(source.size());
  cluster::ProduceValidationConfig config;
  int64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::memcpy(frame.data(), source.data(), source.size());
    state.ResumeTiming();
    const int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    auto v = cluster::validate_produce_records(std::span<uint8_t>(frame), config, now);
    if (v.error != protocol::ErrorCode::kNone) state.SkipWithError("batch refused");
    records += v.record_count;
    benchmark::DoNotOptimize(v.record_count);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(source.size()));
  state.counters["ns_per_record"] = benchmark::Counter(static_cast<double>(records),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ValidateProduceBatch)->Arg(100)->Arg(1024)->MinTime(1.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
