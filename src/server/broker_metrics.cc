#include "server/broker_metrics.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <tuple>

#include "cluster/fetch_session.h"
#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "controller/controller.h"
#include "group/coordinator.h"
#include "protocol/generated/api.h"
#include "server/services.h"
#include "storage/log_manager.h"

namespace keel::server {
namespace {

using metrics::Desc;
using metrics::Emit;
using metrics::Kind;

Desc kafka(Kind kind, std::string domain, std::string type, std::string name, std::string help,
           std::vector<std::string> labels = {}) {
  Desc d;
  d.kind = kind;
  d.domain = std::move(domain);
  d.type = std::move(type);
  d.name = std::move(name);
  d.help = std::move(help);
  d.labels = std::move(labels);
  return d;
}

Desc topic_meter(std::string name, std::string help) {
  return kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", std::move(name), std::move(help), {"topic"});
}

}  // namespace

std::string BrokerMetrics::request_name(size_t slot) {
  if (slot == 1) return "FetchConsumer";
  if (slot == kFetchFollower) return "FetchFollower";
  const auto* api = protocol::find_api(static_cast<int16_t>(slot));
  return api ? std::string(api->name) : "Unknown" + std::to_string(slot);
}

namespace {
std::vector<PartitionView> hosted(cluster::ReplicaManager& replicas) {
  std::vector<PartitionView> out;
  for (const auto& p : replicas.partitions()) {
    PartitionView v;
    v.topic = p->tp().topic;
    v.partition = std::to_string(p->tp().partition);
    const cluster::LeaderState state = p->leader_state();
    v.leader = p->is_leader();
    v.replicas = state.replicas.size();
    v.isr = state.isr.size();
    if (auto config = p->config()) v.min_isr = config->min_insync_replicas;
    v.size = p->log().size_bytes();
    v.log_end = p->log_end_offset();
    v.log_start = p->log_start_offset();
    v.segments = p->log().segment_count();
    v.high_watermark = p->high_watermark();
    v.leader_id = state.leader;
    out.push_back(std::move(v));
  }
  return out;
}
}  // namespace

BrokerMetrics::BrokerMetrics(metrics::Registry& registry)
    : registry_(registry), started_ms_(metrics::Registry::steady_now_ms()) {
  messages_in_ = &registry.counter(topic_meter("MessagesInPerSec", "Records appended to the topic's partitions as leader."));
  bytes_in_ = &registry.counter(topic_meter("BytesInPerSec", "Bytes of record batches produced to the topic."));
  bytes_out_ = &registry.counter(topic_meter("BytesOutPerSec", "Bytes of records sent to consumers of the topic."));
  total_produce_ = &registry.counter(
      topic_meter("TotalProduceRequestsPerSec", "Produce requests for the topic's partitions (one per partition)."));
  total_fetch_ = &registry.counter(
      topic_meter("TotalFetchRequestsPerSec", "Fetch requests for the topic's partitions (one per partition)."));
  failed_produce_ = &registry.counter(
      topic_meter("FailedProduceRequestsPerSec", "Produce requests for the topic's partitions answered with an error."));
  failed_fetch_ = &registry.counter(
      topic_meter("FailedFetchRequestsPerSec", "Fetch requests for the topic's partitions answered with an error."));
  register_request_metrics();
  register_partition_metrics();
  register_cluster_metrics();
  register_connection_metrics();
  register_load_metrics();
  register_lag_metrics();
  register_partition_offset_metrics();
  register_error_metrics();
  register_fetcher_metrics();
  auto zk = [&](const char* name, const char* help) {
    return &registry.counter(kafka(Kind::kMeter, "kafka.server", "SessionExpireListener", name, help))
                .with(metrics::LabelValues{});
  };
  zk_disconnects_ = zk("ZooKeeperDisconnectsPerSec", "Times the ZooKeeper connection was lost.");
  zk_expires_ = zk("ZooKeeperExpiresPerSec", "Times the ZooKeeper session expired.");
  zk_sync_connects_ = zk("ZooKeeperSyncConnectsPerSec", "Times the ZooKeeper connection was (re)established.");
  registry.callback(kafka(Kind::kGauge, "kafka.server", "KafkaServer", "BrokerState",
                          "Kafka's broker state: 1 starting, 2 recovering, 3 running, 6 controlled shutdown, 7 stopping."),
                    [this](const Emit& emit) { emit({}, broker_state_.load()); });
}

BrokerMetrics::~BrokerMetrics() = default;

TopicMeters& BrokerMetrics::topic(std::string_view name) {
  {
    std::shared_lock lock(topics_mu_);
    if (auto it = topics_.find(name); it != topics_.end()) return it->second;
  }
  TopicMeters m;
  const std::string t(name);
  m.messages_in = &messages_in_->with(t);
  m.bytes_in = &bytes_in_->with(t);
  m.bytes_out = &bytes_out_->with(t);
  m.total_produce_requests = &total_produce_->with(t);
  m.total_fetch_requests = &total_fetch_->with(t);
  m.failed_produce_requests = &failed_produce_->with(t);
  m.failed_fetch_requests = &failed_fetch_->with(t);
  std::unique_lock lock(topics_mu_);
  return topics_.try_emplace(t, m).first->second;
}

void BrokerMetrics::register_request_metrics() {
  requests_ = &registry_.counter(kafka(Kind::kMeter, "kafka.network", "RequestMetrics", "RequestsPerSec",
                                       "Requests answered, by API and version.", {"request", "version"}));
  total_time_ = &registry_.timer(kafka(Kind::kTimer, "kafka.network", "RequestMetrics", "TotalTimeMs",
                                       "Time from the router taking the request to its response, in ms "
                                       "(quantiles of the last 30-60 s).",
                                       {"request"}));
  Desc h;
  h.kind = Kind::kHistogram;
  h.name = "keel_request_latency_seconds";
  h.help = "Time from the router taking the request to its response (aggregatable across brokers).";
  h.labels = {"request"};
  latency_ = &registry_.histogram(h, metrics::latency_buckets());
}

void BrokerMetrics::request_done(int16_t api_key, int16_t api_version, bool from_follower, int64_t elapsed_us) {
  if (api_key < 0 || static_cast<size_t>(api_key) >= kFetchFollower || api_version < 0) return;
  const size_t slot = api_key == 1 && from_follower ? kFetchFollower : static_cast<size_t>(api_key);
  // RequestsPerSec is by the API's name (Fetch, not FetchConsumer) and version.
  const size_t vslot = static_cast<size_t>(api_key) * kVersions + std::min<size_t>(api_version, kVersions - 1);
  metrics::Counter* count = request_counts_[vslot].load(std::memory_order_acquire);
  if (!count) {
    const auto* api = protocol::find_api(api_key);
    count = &requests_->with({api ? std::string(api->name) : request_name(api_key), std::to_string(api_version)});
    request_counts_[vslot].store(count, std::memory_order_release);
  }
  count->inc();
  RequestSeries* series = request_series_[slot].load(std::memory_order_acquire);
  if (!series) {
    std::lock_guard lock(series_mu_);
    series = request_series_[slot].load(std::memory_order_acquire);
    if (!series) {
      auto s = std::make_unique<RequestSeries>();
      const std::string name = request_name(slot);
      s->total_time = &total_time_->with(name);
      s->latency = &latency_->with(name);
      series = s.get();
      series_storage_.push_back(std::move(s));
      request_series_[slot].store(series, std::memory_order_release);
    }
  }
  series->total_time->record_us(elapsed_us, metrics::Registry::steady_now_ms());
  series->latency->observe(static_cast<double>(elapsed_us) / 1e6);
}

net::ListenerCounters* BrokerMetrics::listener(const std::string& name) {
  std::lock_guard lock(listeners_mu_);
  auto& c = listeners_[name];
  if (!c) c = std::make_unique<net::ListenerCounters>();
  return c.get();
}

void BrokerMetrics::register_connection_metrics() {
  // Kafka keeps these per network processor too; Keel's reactor threads
  // share one accept loop, so every series is networkProcessor "0".
  auto each = [this](const Emit& emit, auto value) {
    std::lock_guard lock(listeners_mu_);
    for (const auto& [name, c] : listeners_) emit({name, "0"}, value(*c));
  };
  const std::vector<std::string> labels = {"listener", "networkProcessor"};
  registry_.callback(kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-count",
                           "Connections open on the listener.", labels),
                     [each](const Emit& emit) {
                       each(emit, [](const net::ListenerCounters& c) { return double(c.open.load()); });
                     });
  registry_.callback(kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-creation-total",
                           "Connections accepted on the listener since start.", labels),
                     [each](const Emit& emit) {
                       each(emit, [](const net::ListenerCounters& c) { return double(c.created.load()); });
                     });
  registry_.callback(kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-close-total",
                           "Connections closed on the listener since start.", labels),
                     [each](const Emit& emit) {
                       each(emit, [](const net::ListenerCounters& c) { return double(c.closed.load()); });
                     });
  // Kafka's rates are windowed averages; these are per second since the
  // previous scrape (docs/metrics.md).
  auto rates = [this](bool created) {
    return [this, created](const Emit& emit) {
      std::vector<std::pair<std::string, double>> totals;
      {
        std::lock_guard lock(listeners_mu_);
        for (const auto& [name, c] : listeners_) totals.emplace_back(name, double((created ? c->created : c->closed).load()));
      }
      for (const auto& [name, total] : totals) {
        emit({name, "0"}, rate((created ? "created:" : "closed:") + name, total));
      }
    };
  };
  registry_.callback(kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-creation-rate",
                           "Connections accepted per second on the listener, since the previous scrape.", labels),
                     rates(true));
  registry_.callback(kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-close-rate",
                           "Connections closed per second on the listener, since the previous scrape.", labels),
                     rates(false));
}

double BrokerMetrics::rate(const std::string& key, double value) const {
  const int64_t now = metrics::Registry::steady_now_ms();
  std::lock_guard lock(rates_mu_);
  RateSample& s = rates_.try_emplace(key, RateSample{started_ms_, 0, 0}).first->second;
  if (now - s.at_ms >= 1000) {
    s.rate = std::max(0.0, value - s.value) * 1000.0 / double(now - s.at_ms);
    s.at_ms = now;
    s.value = value;
  }
  return s.rate;
}

// Seconds of CPU the threads behind `clocks` have used since they started.
namespace {
double cpu_seconds(const std::vector<clockid_t>& clocks) {
  double total = 0;
  for (clockid_t c : clocks) {
    timespec ts{};
    if (::clock_gettime(c, &ts) == 0) total += double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  }
  return total;
}
}  // namespace

void BrokerMetrics::register_load_metrics() {
  registry_.callback(kafka(Kind::kGauge, "kafka.network", "RequestChannel", "RequestQueueSize",
                           "Requests read and waiting for a handler thread."),
                     [this](const Emit& emit) { emit({}, double(std::max<int64_t>(0, load_.request_queue.load()))); });
  registry_.callback(kafka(Kind::kGauge, "kafka.network", "RequestChannel", "ResponseQueueSize",
                           "Responses made and waiting for their connection's network thread."),
                     [this](const Emit& emit) { emit({}, double(std::max<int64_t>(0, load_.response_queue.load()))); });
  // The network threads' idle share: 1 - their CPU time over wall time,
  // since the previous scrape (a thread waiting in epoll uses no CPU).
  registry_.callback(kafka(Kind::kGauge, "kafka.network", "SocketServer", "NetworkProcessorAvgIdlePercent",
                           "Share of time (0..1) the network threads were idle, since the previous scrape."),
                     [this](const Emit& emit) {
                       std::vector<clockid_t> clocks;
                       {
                         std::lock_guard lock(load_.mu);
                         clocks = load_.reactor_clocks;
                       }
                       if (clocks.empty()) return;
                       const double busy = rate("network-cpu", cpu_seconds(clocks)) / double(clocks.size());
                       emit({}, std::clamp(1.0 - busy, 0.0, 1.0));
                     });
  // The handler threads' idle share: 1 - the time they spent running
  // requests over wall time (Kafka's handlers measure their wait instead).
  Desc handler_idle = kafka(Kind::kGauge, "kafka.server", "KafkaRequestHandlerPool", "RequestHandlerAvgIdlePercent",
                            "Share of time (0..1) the request handler threads were idle, since the previous scrape.");
  handler_idle.confluent_suffix = "_oneminuterate";
  registry_.callback(handler_idle, [this](const Emit& emit) {
    int threads = 0;
    with_sources([&](const Sources& s) { threads = s.handler_threads; });
    if (threads <= 0) return;
    const double busy = rate("handler-busy", double(load_.handler_busy_ns.load()) / 1e9) / double(threads);
    emit({}, std::clamp(1.0 - busy, 0.0, 1.0));
  });
}

void BrokerMetrics::attach(const Sources& sources) {
  std::lock_guard lock(sources_mu_);
  sources_ = sources;
}

void BrokerMetrics::detach() {
  std::lock_guard hosted_lock(hosted_mu_);  // a scrape copying the partition table finishes first
  std::lock_guard lock(sources_mu_);
  sources_ = Sources{};
  hosted_.reset();
  groups_.reset();
}

// The partition table is read once per scrape, not once per family: the
// copy is reused for a second.
std::shared_ptr<const std::vector<PartitionView>> BrokerMetrics::hosted_partitions() const {
  const int64_t now = metrics::Registry::steady_now_ms();
  std::lock_guard lock(hosted_mu_);
  if (hosted_ && now - hosted_at_ms_ < 1000) return hosted_;
  cluster::ReplicaManager* replicas = nullptr;
  with_sources([&](const Sources& s) { replicas = s.replicas; });
  if (!replicas) return nullptr;
  hosted_ = std::make_shared<const std::vector<PartitionView>>(hosted(*replicas));
  hosted_at_ms_ = now;
  return hosted_;
}

void BrokerMetrics::register_partition_metrics() {
  // One pass over the hosted partitions per family: each callback reads the
  // replica manager's table itself (a scrape's cost is per partition anyway).
  auto partitions = [this](auto f) {
    return [this, f](const Emit& emit) {
      if (auto ps = hosted_partitions()) f(emit, *ps);
    };
  };
  auto rm = [&](const char* name, const char* help, auto count) {
    registry_.callback(kafka(Kind::kGauge, "kafka.server", "ReplicaManager", name, help),
                       partitions([count](const Emit& emit, const std::vector<PartitionView>& ps) {
                         emit({}, double(std::count_if(ps.begin(), ps.end(), count)));
                       }));
  };
  rm("PartitionCount", "Partitions this broker hosts.", [](const PartitionView&) { return true; });
  rm("LeaderCount", "Partitions this broker leads.", [](const PartitionView& p) { return p.leader; });
  rm("UnderReplicatedPartitions", "Led partitions whose ISR is smaller than their replica set.",
     [](const PartitionView& p) { return p.leader && p.isr < p.replicas; });
  rm("UnderMinIsrPartitionCount", "Led partitions whose ISR is smaller than min.insync.replicas.",
     [](const PartitionView& p) { return p.leader && p.isr < size_t(p.min_isr); });
  rm("AtMinIsrPartitionCount", "Led partitions whose ISR is exactly min.insync.replicas.",
     [](const PartitionView& p) { return p.leader && p.isr == size_t(p.min_isr); });

  const std::vector<std::string> tp = {"topic", "partition"};
  auto per_partition = [&](const char* domain, const char* type, const char* name, const char* help, auto value) {
    registry_.callback(kafka(Kind::kGauge, domain, type, name, help, tp),
                       partitions([value](const Emit& emit, const std::vector<PartitionView>& ps) {
                         for (const auto& p : ps) emit({p.topic, p.partition}, double(value(p)));
                       }));
  };
  // Kafka's Partition gauges are 0 on a replica that does not lead.
  per_partition("kafka.cluster", "Partition", "UnderReplicated", "1 when led here and the ISR is short of the replicas.",
                [](const PartitionView& p) { return p.leader && p.isr < p.replicas; });
  per_partition("kafka.cluster", "Partition", "UnderMinIsr", "1 when led here and the ISR is under min.insync.replicas.",
                [](const PartitionView& p) { return p.leader && p.isr < size_t(p.min_isr); });
  per_partition("kafka.cluster", "Partition", "AtMinIsr", "1 when led here and the ISR is at min.insync.replicas.",
                [](const PartitionView& p) { return p.leader && p.isr == size_t(p.min_isr); });
  per_partition("kafka.cluster", "Partition", "ReplicasCount", "Replicas of the partition, when led here (else 0).",
                [](const PartitionView& p) { return p.leader ? p.replicas : 0; });
  per_partition("kafka.cluster", "Partition", "InSyncReplicasCount", "ISR size, when led here (else 0).",
                [](const PartitionView& p) { return p.leader ? p.isr : 0; });
  per_partition("kafka.log", "Log", "Size", "Bytes of the partition's log on this broker.",
                [](const PartitionView& p) { return p.size; });
  per_partition("kafka.log", "Log", "LogEndOffset", "Offset after the last record of the log.",
                [](const PartitionView& p) { return p.log_end; });
  per_partition("kafka.log", "Log", "LogStartOffset", "First offset still in the log.",
                [](const PartitionView& p) { return p.log_start; });
  per_partition("kafka.log", "Log", "NumLogSegments", "Segments of the log.",
                [](const PartitionView& p) { return p.segments; });
}

void BrokerMetrics::register_cluster_metrics() {
  // One unlabelled series of `kind` from the sources; none while `value` says nullopt.
  auto scalar = [&](Kind kind, const char* domain, const char* type, const char* name, const char* help,
                    auto value) {
    registry_.callback(kafka(kind, domain, type, name, help), [this, value](const Emit& emit) {
      with_sources([&](const Sources& s) {
        if (auto v = value(s)) emit({}, double(*v));
      });
    });
  };
  auto gauge = [&](auto... args) { scalar(Kind::kGauge, args...); };
  // Kafka reports the cluster-wide controller gauges on the active controller
  // only; every other broker says 0, so sum() over brokers is right.
  auto on_controller = [](const Sources& s) { return s.controller && s.metadata && s.controller->is_controller(); };
  gauge("kafka.controller", "KafkaController", "ActiveControllerCount", "1 on the broker that is the controller.",
        [](const Sources& s) -> std::optional<int64_t> {
          if (!s.controller) return std::nullopt;
          return s.controller->is_controller() ? 1 : 0;
        });
  gauge("kafka.controller", "KafkaController", "OfflinePartitionsCount",
        "Partitions without a live leader (reported by the controller).",
        [on_controller](const Sources& s) -> std::optional<int64_t> {
          if (!s.controller) return std::nullopt;
          if (!on_controller(s)) return 0;
          int64_t n = 0;
          auto snap = s.metadata->snapshot();
          for (const auto& [name, t] : snap->topics) {
            if (t.deleting()) continue;
            for (const auto& p : t.partitions) n += p.leader < 0 || !snap->brokers.count(p.leader);
          }
          return n;
        });
  gauge("kafka.controller", "KafkaController", "GlobalTopicCount", "Topics in the cluster (reported by the controller).",
        [on_controller](const Sources& s) -> std::optional<int64_t> {
          if (!s.controller) return std::nullopt;
          return on_controller(s) ? int64_t(s.metadata->snapshot()->topics.size()) : 0;
        });
  gauge("kafka.controller", "KafkaController", "GlobalPartitionCount",
        "Partitions in the cluster (reported by the controller).",
        [on_controller](const Sources& s) -> std::optional<int64_t> {
          if (!s.controller) return std::nullopt;
          if (!on_controller(s)) return 0;
          int64_t n = 0;
          for (const auto& [name, t] : s.metadata->snapshot()->topics) n += int64_t(t.partitions.size());
          return n;
        });
  gauge("kafka.controller", "KafkaController", "PreferredReplicaImbalanceCount",
        "Partitions not led by their preferred (first) replica (reported by the controller).",
        [on_controller](const Sources& s) -> std::optional<int64_t> {
          if (!s.controller) return std::nullopt;
          if (!on_controller(s)) return 0;
          int64_t n = 0;
          for (const auto& [name, t] : s.metadata->snapshot()->topics) {
            for (const auto& p : t.partitions) n += !p.replicas.empty() && p.leader != p.replicas.front();
          }
          return n;
        });
  scalar(Kind::kMeter, "kafka.controller", "ControllerStats", "UncleanLeaderElectionsPerSec",
         "Leaders elected from outside the ISR by this broker as controller.",
         [](const Sources& s) -> std::optional<uint64_t> {
           if (!s.controller) return std::nullopt;
           return s.controller->unclean_elections();
         });
  using IsrCount = uint64_t (cluster::ReplicaManager::*)() const;
  for (auto [name, help, count] : {std::tuple<const char*, const char*, IsrCount>{
                                       "IsrShrinksPerSec", "ISR shrinks of partitions led here (accepted).",
                                       &cluster::ReplicaManager::isr_shrinks},
                                   {"IsrExpandsPerSec", "ISR expands of partitions led here (accepted).",
                                    &cluster::ReplicaManager::isr_expands}}) {
    scalar(Kind::kMeter, "kafka.server", "ReplicaManager", name, help,
           [count](const Sources& s) -> std::optional<uint64_t> {
             if (!s.replicas) return std::nullopt;
             return (s.replicas->*count)();
           });
  }
  gauge("kafka.log", "LogManager", "OfflineLogDirectoryCount", "Log directories taken offline after an I/O error.",
        [](const Sources& s) -> std::optional<int64_t> {
          if (!s.logs) return std::nullopt;
          return int64_t(s.logs->offline_dirs().size());
        });
  gauge("kafka.server", "FetchSessionCache", "NumIncrementalFetchSessions", "Incremental fetch sessions cached.",
        [](const Sources& s) -> std::optional<int64_t> {
          if (!s.fetch_sessions) return std::nullopt;
          return int64_t(s.fetch_sessions->size());
        });
  // GroupMetadataManager: groups this broker coordinates, by state.
  registry_.callback(kafka(Kind::kGauge, "kafka.coordinator.group", "GroupMetadataManager", "NumGroups",
                           "Groups this broker coordinates."),
                     [this](const Emit& emit) {
                       with_sources([&](const Sources& s) {
                         if (s.groups) emit({}, double(s.groups->list_groups({}, {}).groups.size()));
                       });
                     });
  for (const char* state : {"Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead"}) {
    registry_.callback(kafka(Kind::kGauge, "kafka.coordinator.group", "GroupMetadataManager",
                             std::string("NumGroups") + state, std::string("Groups this broker coordinates in state ") + state + "."),
                       [this, state](const Emit& emit) {
                         with_sources([&](const Sources& s) {
                           if (s.groups) emit({}, double(s.groups->list_groups({state}, {}).groups.size()));
                         });
                       });
  }
}

namespace {
TopicMeters& unused_meters() {
  static metrics::Registry registry;
  static BrokerMetrics metrics(registry);
  return metrics.topic("");
}
}  // namespace

TopicMeters& topic_meters(const Services& services, std::string_view topic) {
  if (!services.metrics) return unused_meters();
  return services.metrics->topic(topic);
}

}  // namespace keel::server
