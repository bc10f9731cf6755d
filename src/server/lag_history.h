#pragma once
// The lag trend the web console draws for a consumer group: per group this
// broker coordinates, a bounded ring of samples (total lag in offsets over
// the group's partitions, and the largest lag in seconds), taken every
// console.lag.history.interval.ms from the lag the metrics already compute
// (BrokerMetrics::lag_snapshot). Memory is bounded: at most kMaxGroups groups
// of kSamplesPerGroup samples; a group that is no longer in a sample is dropped.
//
// Thread-safety: record() and samples() take the mutex; start() runs one
// sampler thread until stop() (idempotent, joins it).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/broker_metrics.h"

namespace keel::server {

class LagHistory {
 public:
  static constexpr size_t kSamplesPerGroup = 360;  // an hour at the default 10 s
  static constexpr size_t kMaxGroups = 10000;

  struct GroupLag {
    std::string group;
    int64_t lag = 0;            // offsets behind, summed over the partitions with a known end
    double lag_seconds = -1;    // the largest over them; -1 unknown
  };
  struct Sample {
    int64_t time_ms = 0;  // wall clock
    int64_t lag = 0;
    double lag_seconds = -1;
  };
  using Source = std::function<std::vector<GroupLag>()>;

  LagHistory() = default;
  ~LagHistory() { stop(); }
  LagHistory(const LagHistory&) = delete;
  LagHistory& operator=(const LagHistory&) = delete;

  // Adds one sample per group in `lags`, taken at `now_ms`; forgets the others.
  void record(int64_t now_ms, const std::vector<GroupLag>& lags);
  // The group's samples, oldest first; nullopt when it has none.
  std::optional<std::vector<Sample>> samples(const std::string& group) const;

  // Samples `source` every `interval_ms` on a thread of its own, first at once.
  void start(Source source, int64_t interval_ms);
  void stop();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::deque<Sample>> groups_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread sampler_;
};

// One GroupLag per group of the snapshot (groups with no known lag get 0 and -1).
std::vector<LagHistory::GroupLag> group_lags(const BrokerMetrics::LagSnapshot& snapshot);

}  // namespace keel::server
