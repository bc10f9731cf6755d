#pragma once
// ZooKeeperClientMetrics ZooKeeperRequestLatencyMs: a CoordinationStore that
// times every call of the ZooKeeper store it wraps (one round trip each, a
// multi counted once, as Kafka's ZooKeeperClient times each request) into a
// Kafka timer (quantile gauges and _count). Forwards everything else
// unchanged. Thread-safe as the store it wraps.

#include "coord/coordination_store.h"
#include "metrics/registry.h"

namespace keel::server {

class TimedCoordinationStore : public coord::CoordinationStore {
 public:
  // Both must outlive this.
  TimedCoordinationStore(coord::CoordinationStore& inner, metrics::Timer& latency)
      : inner_(inner), latency_(latency) {}

  Result<std::string> create(const std::string& path, ByteView data, coord::CreateMode mode) override;
  Result<coord::Node> get(const std::string& path, coord::Watch watch = {}) override;
  Result<coord::Stat> set(const std::string& path, ByteView data, int32_t version = -1) override;
  Result<void> remove(const std::string& path, int32_t version = -1) override;
  Result<std::optional<coord::Stat>> exists(const std::string& path, coord::Watch watch = {}) override;
  Result<std::vector<std::string>> children(const std::string& path, coord::Watch watch = {}) override;
  Result<std::vector<coord::OpResult>> multi(std::span<const coord::Op> ops) override;
  std::vector<Result<coord::Node>> get_many(std::span<const std::string> paths) override;
  int64_t session_id() const override { return inner_.session_id(); }
  uint64_t disconnections() const override { return inner_.disconnections(); }

 private:
  template <class F>
  auto timed(F&& call);

  coord::CoordinationStore& inner_;
  metrics::Timer& latency_;
};

}  // namespace keel::server
