#pragma once
// Replication throttles (Kafka's ReplicationQuotaManager, KIP-73): a byte
// rate that reassignment traffic may use, one quota for this broker as leader
// (leader.replication.throttled.rate) and one as follower
// (follower.replication.throttled.rate), over the replicas the topics name in
// leader.replication.throttled.replicas / follower.replication.throttled.replicas.
//
// How they are applied, as in Kafka:
// - The leader answers a follower's fetch with no records for a throttled
//   partition whose follower is out of the ISR while the leader quota is
//   exceeded (and such data does not count towards the fetch's min bytes);
//   the bytes of throttled partitions it sends are recorded.
// - The follower leaves a throttled partition it has not caught up on out of
//   its fetch requests while the follower quota is exceeded, and records the
//   bytes it appends for throttled partitions.
// Partitions not named are never held back.
//
// The rate is measured as Kafka's Rate over SampledStat: `samples` windows of
// `window_ms` (replication.quota.window.num, replication.quota.window.size.seconds),
// the total over the retained windows divided by their span, counted as at
// least samples - 1 full windows. So a quota at rate R first lets about
// (samples - 1) * window * R bytes through at once, then holds R on average.
//
// Thread-safe.

#include <cstdint>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::cluster {

// One topic's list of throttled replicas: "*" (all) or partition:broker pairs.
struct ThrottledReplicas {
  bool all = false;
  std::set<std::pair<int32_t, int32_t>> replicas;  // (partition, broker)

  // Kafka's syntax (the topic config was validated: anything else is skipped).
  static ThrottledReplicas parse(std::string_view value);
  // Whether the replica of `partition` on `broker` is throttled.
  bool contains(int32_t partition, int32_t broker) const {
    return all || replicas.contains({partition, broker});
  }
  bool empty() const { return !all && replicas.empty(); }
  bool operator==(const ThrottledReplicas&) const = default;
};

class ReplicationQuota {
 public:
  static constexpr int64_t kUnlimited = INT64_MAX;

  explicit ReplicationQuota(int32_t samples = 11, int64_t window_ms = 1000);

  // The bound in bytes/s; kUnlimited turns the throttle off.
  void set_rate(int64_t bytes_per_second);
  int64_t rate() const;
  // Whether the measured rate is above the bound (never when unlimited).
  bool exceeded(int64_t now_ms);
  // Bytes just sent (leader) or appended (follower) for throttled partitions.
  void record(int64_t bytes, int64_t now_ms);
  // Bytes/s over the retained windows, as Kafka's Rate measures it.
  double measured_rate(int64_t now_ms);

 private:
  struct Sample {
    int64_t start_ms = 0;
    int64_t bytes = 0;
  };
  void purge_locked(int64_t now_ms);
  double measured_rate_locked(int64_t now_ms);

  const int32_t samples_;
  const int64_t window_ms_;
  mutable std::mutex mu_;
  int64_t rate_ = kUnlimited;
  std::vector<Sample> windows_;  // at most samples_, used as a ring
  size_t current_ = 0;
};

}  // namespace keel::cluster
