#include "server/broker_metrics_zk.h"

#include <chrono>

namespace keel::server {

template <class F>
auto TimedCoordinationStore::timed(F&& call) {
  const auto start = std::chrono::steady_clock::now();
  auto result = call();
  const auto took = std::chrono::steady_clock::now() - start;
  latency_.record_us(std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
                     metrics::Registry::steady_now_ms());
  return result;
}

Result<std::string> TimedCoordinationStore::create(const std::string& path, ByteView data, coord::CreateMode mode) {
  return timed([&] { return inner_.create(path, data, mode); });
}

Result<coord::Node> TimedCoordinationStore::get(const std::string& path, coord::Watch watch) {
  return timed([&] { return inner_.get(path, std::move(watch)); });
}

Result<coord::Stat> TimedCoordinationStore::set(const std::string& path, ByteView data, int32_t version) {
  return timed([&] { return inner_.set(path, data, version); });
}

Result<void> TimedCoordinationStore::remove(const std::string& path, int32_t version) {
  return timed([&] { return inner_.remove(path, version); });
}

Result<std::optional<coord::Stat>> TimedCoordinationStore::exists(const std::string& path, coord::Watch watch) {
  return timed([&] { return inner_.exists(path, std::move(watch)); });
}

Result<std::vector<std::string>> TimedCoordinationStore::children(const std::string& path, coord::Watch watch) {
  return timed([&] { return inner_.children(path, std::move(watch)); });
}

Result<std::vector<coord::OpResult>> TimedCoordinationStore::multi(std::span<const coord::Op> ops) {
  return timed([&] { return inner_.multi(ops); });
}

// Forwarded, or the reads would go one by one through the default. One
// sample for the batch: it waits about one round trip.
std::vector<Result<coord::Node>> TimedCoordinationStore::get_many(std::span<const std::string> paths) {
  return timed([&] { return inner_.get_many(paths); });
}

}  // namespace keel::server
