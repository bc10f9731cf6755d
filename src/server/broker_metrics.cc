#include "server/broker_metrics.h"

#include <algorithm>
#include <chrono>

#include "cluster/fetch_session.h"
#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "controller/controller.h"
#include "group/coordinator.h"
#include "protocol/generated/api.h"
#include "server/services.h"

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

std::string request_name(size_t slot) {
  if (slot == 1) return "FetchConsumer";
  if (slot == 127) return "FetchFollower";
  const auto* api = protocol::find_api(static_cast<int16_t>(slot));
  return api ? std::string(api->name) : "Unknown" + std::to_string(slot);
}

}  // namespace

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

BrokerMetrics::BrokerMetrics(metrics::Registry& registry) : registry_(registry) {
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
  register_lag_metrics();
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
  auto gauge = [&](const char* domain, const char* type, const char* name, const char* help, auto value) {
    registry_.callback(kafka(Kind::kGauge, domain, type, name, help), [this, value](const Emit& emit) {
      with_sources([&](const Sources& s) {
        if (auto v = value(s)) emit({}, double(*v));
      });
    });
  };
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
  for (const char* state : {"Stable", "Empty", "PreparingRebalance", "CompletingRebalance"}) {
    registry_.callback(kafka(Kind::kGauge, "kafka.coordinator.group", "GroupMetadataManager",
                             std::string("NumGroups") + state, std::string("Groups this broker coordinates in state ") + state + "."),
                       [this, state](const Emit& emit) {
                         with_sources([&](const Sources& s) {
                           if (s.groups) emit({}, double(s.groups->list_groups({state}, {}).groups.size()));
                         });
                       });
  }
}

// kafka_exporter's names, computed by this broker for what it knows first
// hand: the groups it coordinates (their committed offsets) and the
// partitions it leads (their offsets). Summed over brokers, each series
// appears once.
std::shared_ptr<const std::vector<BrokerMetrics::GroupOffset>> BrokerMetrics::group_offsets() const {
  const int64_t now = metrics::Registry::steady_now_ms();
  std::lock_guard lock(hosted_mu_);
  if (groups_ && now - groups_at_ms_ < 1000) return groups_;
  group::GroupCoordinator* groups = nullptr;
  cluster::ReplicaManager* replicas = nullptr;
  with_sources([&](const Sources& s) {
    groups = s.groups;
    replicas = s.replicas;
  });
  if (!groups || !replicas) return nullptr;
  auto out = std::make_shared<std::vector<GroupOffset>>();
  for (const auto& g : groups->list_groups({}, {}).groups) {
    const auto lags = groups->lag(g.group_id, [replicas](const auto& tp) -> std::optional<int64_t> {
      auto p = replicas->partition({tp.topic, tp.partition});
      if (!p || !p->is_leader()) return std::nullopt;
      return p->high_watermark();
    });
    if (lags.empty()) out->push_back({g.group_id, "", "", -1, -1});  // a group with no commits: its members only
    for (const auto& l : lags) {
      out->push_back({g.group_id, l.tp.topic, std::to_string(l.tp.partition), l.committed, l.lag});
    }
  }
  groups_ = out;
  groups_at_ms_ = now;
  return groups_;
}

void BrokerMetrics::register_lag_metrics() {
  auto native = [](const char* name, const char* help, std::vector<std::string> labels) {
    Desc d;
    d.kind = Kind::kNativeGauge;
    d.name = name;
    d.help = help;
    d.labels = std::move(labels);
    return d;
  };
  const std::vector<std::string> gtp = {"consumergroup", "topic", "partition"};
  registry_.callback(native("kafka_consumergroup_current_offset",
                            "Committed offset of the group on the partition (by the group's coordinator).", gtp),
                     [this](const Emit& emit) {
                       if (auto gs = group_offsets()) {
                         for (const auto& g : *gs) {
                           if (!g.topic.empty()) emit({g.group, g.topic, g.partition}, double(g.committed));
                         }
                       }
                     });
  registry_.callback(native("kafka_consumergroup_lag",
                            "High watermark minus the committed offset, where this broker also leads the partition.",
                            gtp),
                     [this](const Emit& emit) {
                       if (auto gs = group_offsets()) {
                         for (const auto& g : *gs) {
                           if (!g.topic.empty() && g.lag >= 0) emit({g.group, g.topic, g.partition}, double(g.lag));
                         }
                       }
                     });
  registry_.callback(native("kafka_consumergroup_lag_sum", "Lag of the group summed over the topic's partitions.",
                            {"consumergroup", "topic"}),
                     [this](const Emit& emit) {
                       auto gs = group_offsets();
                       if (!gs) return;
                       std::map<std::pair<std::string, std::string>, int64_t> sums;
                       for (const auto& g : *gs) {
                         if (!g.topic.empty() && g.lag >= 0) sums[{g.group, g.topic}] += g.lag;
                       }
                       for (const auto& [k, v] : sums) emit({k.first, k.second}, double(v));
                     });
  registry_.callback(native("kafka_consumergroup_members", "Members of the group (by the group's coordinator).",
                            {"consumergroup"}),
                     [this](const Emit& emit) {
                       auto gs = group_offsets();
                       group::GroupCoordinator* groups = nullptr;
                       with_sources([&](const Sources& s) { groups = s.groups; });
                       if (!gs || !groups) return;
                       std::string last;
                       for (const auto& g : *gs) {
                         if (g.group == last) continue;
                         last = g.group;
                         emit({g.group}, double(groups->describe_group(g.group).members.size()));
                       }
                     });
  // Partition series: by the partition's leader only.
  const std::vector<std::string> tp = {"topic", "partition"};
  auto led = [&](const char* name, const char* help, auto value) {
    registry_.callback(native(name, help, tp), [this, value](const Emit& emit) {
      if (auto ps = hosted_partitions()) {
        for (const auto& p : *ps) {
          if (p.leader) emit({p.topic, p.partition}, double(value(p)));
        }
      }
    });
  };
  led("kafka_topic_partition_current_offset", "High watermark of the partition (by its leader).",
      [](const PartitionView& p) { return p.high_watermark; });
  led("kafka_topic_partition_oldest_offset", "Log start offset of the partition (by its leader).",
      [](const PartitionView& p) { return p.log_start; });
  led("kafka_topic_partition_replicas", "Replicas of the partition (by its leader).",
      [](const PartitionView& p) { return p.replicas; });
  led("kafka_topic_partition_in_sync_replica", "ISR size of the partition (by its leader).",
      [](const PartitionView& p) { return p.isr; });
  led("kafka_topic_partition_leader", "Leader of the partition (by its leader).",
      [](const PartitionView& p) { return p.leader_id; });
  led("kafka_topic_partition_under_replicated_partition", "1 when the ISR is short of the replicas (by its leader).",
      [](const PartitionView& p) { return p.isr < p.replicas; });
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

std::function<void(net::Response)> with_request_metrics(BrokerMetrics* metrics, int16_t api_key,
                                                        int16_t api_version, ByteView body,
                                                        std::function<void(net::Response)> done) {
  if (!metrics) return done;
  // A follower's Fetch names its replica id first (before v15; later
  // versions carry it in a tagged field, and Keel's own followers use v12).
  const bool follower =
      api_key == 1 && api_version < 15 && body.size() >= 4 && load_be<int32_t>(body.data()) >= 0;
  const auto start = std::chrono::steady_clock::now();
  return [metrics, api_key, api_version, follower, start, done = std::move(done)](net::Response r) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    metrics->request_done(api_key, api_version, follower, us);
    done(std::move(r));
  };
}

}  // namespace keel::server
