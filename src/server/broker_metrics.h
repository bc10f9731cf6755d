#pragma once
// Kafka's broker metrics, as the JMX exporter names them (docs/metrics.md):
// the per-topic meters of BrokerTopicMetrics and the request metrics are
// counted on the request path (a relaxed atomic add each); everything that
// already lives in the broker's tables (partitions, ISR, logs, groups, fetch
// sessions, the controller's view) is read when /metrics is scraped.
//
// Thread-safe. The sources are attached by the Broker as it starts and
// detached before they go; a scrape sees whatever is attached.

#include <array>
#include <deque>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "metrics/lag_status.h"
#include "metrics/registry.h"
#include "net/server.h"

namespace keel::storage {
class LogManager;
}
namespace keel::cluster {
class FetchSessionCache;
class MetadataCache;
class ReplicaManager;
}  // namespace keel::cluster
namespace keel::controller {
class Controller;
}
namespace keel::group {
class GroupCoordinator;
}

namespace keel::server {

struct Services;

// A partition as this broker hosts it, for the per-partition gauges.
struct PartitionView {
  std::string topic;
  std::string partition;
  bool leader = false;
  size_t replicas = 0;
  size_t isr = 0;
  int32_t min_isr = 1;
  int64_t size = 0;
  int64_t log_end = 0;
  int64_t log_start = 0;
  size_t segments = 0;
  int64_t high_watermark = -1;
  int32_t leader_id = -1;
};


// One topic's BrokerTopicMetrics meters.
struct TopicMeters {
  metrics::Counter* messages_in = nullptr;
  metrics::Counter* bytes_in = nullptr;
  metrics::Counter* bytes_out = nullptr;
  metrics::Counter* total_produce_requests = nullptr;
  metrics::Counter* total_fetch_requests = nullptr;
  metrics::Counter* failed_produce_requests = nullptr;
  metrics::Counter* failed_fetch_requests = nullptr;
};

// Kafka's KafkaServer BrokerState values.
enum class BrokerState : int8_t {
  kNotRunning = 0,
  kStarting = 1,
  kRecoveringFromUncleanShutdown = 2,
  kRunningAsBroker = 3,
  kPendingControlledShutdown = 6,
  kBrokerShuttingDown = 7,
};

class BrokerMetrics {
 public:
  explicit BrokerMetrics(metrics::Registry& registry);
  ~BrokerMetrics();

  metrics::Registry& registry() { return registry_; }

  // The meters of `topic`, created on first use.
  TopicMeters& topic(std::string_view topic);

  // One request answered: RequestsPerSec{request,version}, TotalTimeMs
  // quantiles and keel_request_latency_seconds{request}. Fetch counts as
  // FetchFollower when from a replica, else FetchConsumer.
  void request_done(int16_t api_key, int16_t api_version, bool from_follower, int64_t elapsed_us);
  // RequestMetrics ErrorsPerSec{request,error} of one response
  // (broker_metrics_errors.cc says which responses' errors are read).
  void response_errors(int16_t api_key, int16_t api_version, bool from_follower, const net::Response& response);
  // ZooKeeperClientMetrics ZooKeeperRequestLatencyMs (broker_metrics_zk.h).
  metrics::Timer& zookeeper_latency() { return *zk_latency_; }

  // A listener's connection counters (net::ServerOptions::listener_counters).
  net::ListenerCounters* listener(const std::string& name);
  // The network server's queue and busy-time counters (net::ServerOptions::load).
  net::LoadCounters* load() { return &load_; }

  // ZooKeeper session events (SessionExpireListener).
  void zookeeper_disconnected() { zk_disconnects_->inc(); }
  void zookeeper_expired() { zk_expires_->inc(); }
  void zookeeper_connected() { zk_sync_connects_->inc(); }

  void set_broker_state(BrokerState s) { broker_state_.store(static_cast<int8_t>(s)); }

  // What scrape-time gauges read; each may be null (not started yet).
  struct Sources {
    int32_t broker_id = -1;
    cluster::ReplicaManager* replicas = nullptr;
    cluster::MetadataCache* metadata = nullptr;
    controller::Controller* controller = nullptr;
    group::GroupCoordinator* groups = nullptr;
    cluster::FetchSessionCache* fetch_sessions = nullptr;
    storage::LogManager* logs = nullptr;
    int handler_threads = 0;  // num.io.threads (0: handlers run on the network threads)
  };
  void attach(const Sources& sources);
  void detach();

  // One group's offset on one partition, as the lag series show it
  // (broker_metrics_lag.cc): a committed offset, or -1 for a partition
  // assigned to a member and never committed (lag -1 then, as
  // kafka_exporter). lag and lag_seconds are -1 where the partition has no
  // replica here (its end offset is unknown to this broker).
  struct GroupOffset {
    std::string group;
    std::string topic;
    std::string partition;
    int64_t committed = -1;
    int64_t lag = -1;
    double lag_seconds = -1;
  };
  struct GroupSummary {
    std::string group;
    size_t members = 0;
    metrics::LagStatus status = metrics::LagStatus::kOk;
  };
  struct LagSnapshot {
    std::vector<GroupOffset> offsets;
    std::vector<GroupSummary> groups;
  };
  // The groups this broker coordinates with their lags, recomputed at most
  // once a second (also read by the console's lag trend, server/lag_history.h).
  std::shared_ptr<const LagSnapshot> lag_snapshot() const;
  // Copies what a scrape reads under locks the request path takes (the
  // partition table, the groups' lags), each kept a second: /metrics calls
  // this on an HTTP thread, then renders at a lower CPU priority holding none.
  void prepare_scrape() const {
    hosted_partitions();
    lag_snapshot();
  }

 private:
  void register_request_metrics();
  void register_partition_metrics();
  void register_cluster_metrics();
  void register_connection_metrics();
  void register_load_metrics();
  void register_lag_metrics();
  void register_partition_offset_metrics();
  void register_error_metrics();    // broker_metrics_errors.cc
  // The `request` label of a request slot: the API's name, FetchConsumer
  // for key 1 and FetchFollower for kFetchFollower.
  static std::string request_name(size_t slot);
  void register_fetcher_metrics();  // broker_metrics_errors.cc
  // Per-second rate of a cumulative `value` since the previous reading at
  // least a second before (since start for the first), by `key`; the last
  // rate while readings come faster.
  double rate(const std::string& key, double value) const;
  template <class F>
  void with_sources(F&& f) const {
    std::lock_guard lock(sources_mu_);
    f(sources_);
  }

  metrics::Registry& registry_;
  metrics::Family<metrics::Counter>* messages_in_;
  metrics::Family<metrics::Counter>* bytes_in_;
  metrics::Family<metrics::Counter>* bytes_out_;
  metrics::Family<metrics::Counter>* total_produce_;
  metrics::Family<metrics::Counter>* total_fetch_;
  metrics::Family<metrics::Counter>* failed_produce_;
  metrics::Family<metrics::Counter>* failed_fetch_;
  mutable std::shared_mutex topics_mu_;
  std::map<std::string, TopicMeters, std::less<>> topics_;

  // Request metrics, looked up without a lock once created: by API key (a
  // slot past the keys for FetchFollower) and version.
  static constexpr size_t kKeys = 128;
  static constexpr size_t kFetchFollower = kKeys - 1;
  static constexpr size_t kVersions = 32;
  struct RequestSeries {
    metrics::Timer* total_time = nullptr;
    metrics::Histogram* latency = nullptr;
  };
  metrics::Family<metrics::Counter>* requests_;
  metrics::Family<metrics::Timer>* total_time_;
  metrics::Family<metrics::Histogram>* latency_;
  std::array<std::atomic<metrics::Counter*>, kKeys * kVersions> request_counts_{};
  std::array<std::atomic<RequestSeries*>, kKeys> request_series_{};
  std::mutex series_mu_;
  std::vector<std::unique_ptr<RequestSeries>> series_storage_;  // under series_mu_

  std::mutex listeners_mu_;
  std::map<std::string, std::unique_ptr<net::ListenerCounters>> listeners_;

  metrics::Counter* zk_disconnects_;
  metrics::Counter* zk_expires_;
  metrics::Counter* zk_sync_connects_;
  metrics::Timer* zk_latency_ = nullptr;
  metrics::Family<metrics::Counter>* errors_ = nullptr;
  // ErrorsPerSec{error="NONE"} by request slot: nearly every response, so
  // found without a lock once made.
  std::array<std::atomic<metrics::Counter*>, kKeys> none_counts_{};
  // The other error codes' series by (request slot, error code).
  std::mutex errors_mu_;
  std::map<std::pair<size_t, int16_t>, metrics::Counter*> error_counts_;  // under errors_mu_
  std::atomic<int8_t> broker_state_{static_cast<int8_t>(BrokerState::kStarting)};

  mutable std::mutex sources_mu_;
  Sources sources_;
  // Detach waits for a scrape that holds the replica manager (sources_mu_ is
  // not held while the table is copied, so the copy is under hosted_mu_ too).
  std::shared_ptr<const std::vector<PartitionView>> hosted_partitions() const;
  mutable std::mutex hosted_mu_;
  mutable std::shared_ptr<const std::vector<PartitionView>> hosted_;
  mutable int64_t hosted_at_ms_ = 0;
  mutable std::shared_ptr<const LagSnapshot> groups_;  // under hosted_mu_, like hosted_
  mutable int64_t groups_at_ms_ = 0;
  // Each (group, topic, partition)'s recent samples for its status, by
  // "group\0topic\0partition" (under hosted_mu_).
  mutable std::map<std::string, std::deque<metrics::LagSample>> lag_history_;

  net::LoadCounters load_;
  struct RateSample {
    int64_t at_ms = 0;
    double value = 0;
    double rate = 0;
  };
  const int64_t started_ms_;
  mutable std::mutex rates_mu_;
  mutable std::map<std::string, RateSample> rates_;
};

// The top-level error_code of an encoded response (size prefix first), for
// the APIs broker_metrics_errors.cc lists; nullopt for the others.
std::optional<int16_t> top_level_error(int16_t api_key, int16_t api_version, const net::Response& response);

// The meters of `topic` in services.metrics, or a shared unused set when a
// test runs handlers without metrics: callers need no null check.
TopicMeters& topic_meters(const Services& services, std::string_view topic);

}  // namespace keel::server
