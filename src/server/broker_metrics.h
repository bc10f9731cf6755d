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
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "metrics/registry.h"
#include "net/server.h"

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
struct PartitionView;

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

  // A listener's connection counters (net::ServerOptions::listener_counters).
  net::ListenerCounters* listener(const std::string& name);

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
  };
  void attach(const Sources& sources);
  void detach();

  // One group's committed offset of one partition, as the lag series show it
  // (topic "" for a group with no commits); lag -1 where the partition is not
  // led here.
  struct GroupOffset {
    std::string group;
    std::string topic;
    std::string partition;
    int64_t committed = -1;
    int64_t lag = -1;
  };

 private:
  void register_request_metrics();
  void register_partition_metrics();
  void register_cluster_metrics();
  void register_connection_metrics();
  void register_lag_metrics();
  std::shared_ptr<const std::vector<GroupOffset>> group_offsets() const;
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
  std::atomic<int8_t> broker_state_{static_cast<int8_t>(BrokerState::kStarting)};

  mutable std::mutex sources_mu_;
  Sources sources_;
  // Detach waits for a scrape that holds the replica manager (sources_mu_ is
  // not held while the table is copied, so the copy is under hosted_mu_ too).
  std::shared_ptr<const std::vector<PartitionView>> hosted_partitions() const;
  mutable std::mutex hosted_mu_;
  mutable std::shared_ptr<const std::vector<PartitionView>> hosted_;
  mutable int64_t hosted_at_ms_ = 0;
  mutable std::shared_ptr<const std::vector<GroupOffset>> groups_;  // under hosted_mu_, like hosted_
  mutable int64_t groups_at_ms_ = 0;
};

// The meters of `topic` in services.metrics, or a shared unused set when a
// test runs handlers without metrics: callers need no null check.
TopicMeters& topic_meters(const Services& services, std::string_view topic);

// `done` wrapped to record the request's metrics when it completes (itself
// when metrics are off). `body` is the request after its header.
std::function<void(net::Response)> with_request_metrics(BrokerMetrics* metrics, int16_t api_key,
                                                        int16_t api_version, ByteView body,
                                                        std::function<void(net::Response)> done);

}  // namespace keel::server
