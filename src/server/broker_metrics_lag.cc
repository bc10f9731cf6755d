// Consumer lag on /metrics (docs/metrics.md): kafka_exporter's names, the lag
// in seconds and a Burrow-style status per group (metrics/lag_status.h), and
// kafka_exporter's per-partition offsets. A group's series come from its
// coordinator only and a partition's from its leader only, so sum() over
// brokers counts each once.
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>

#include "cluster/replica_manager.h"
#include "group/coordinator.h"
#include "protocol/generated/consumer_protocol_assignment.h"
#include "protocol/record_batch.h"
#include "server/broker_metrics.h"

namespace keel::server {
namespace {

using metrics::Desc;
using metrics::Emit;
using metrics::Kind;

Desc native(const char* name, const char* help, std::vector<std::string> labels) {
  Desc d;
  d.kind = Kind::kNativeGauge;
  d.name = name;
  d.help = help;
  d.labels = std::move(labels);
  return d;
}

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The timestamp of the batch holding `offset` in this replica's log: its
// first record's (CreateTime) or the append time (LogAppendTime); nullopt
// when the log cannot say (offset past the end, a read error).
std::optional<int64_t> batch_timestamp(cluster::Partition& p, int64_t offset) {
  storage::Log& log = p.log();
  auto read = log.read(std::max(offset, log.log_start_offset()), 1, true);
  if (!read || read->ranges.empty()) return std::nullopt;
  const auto& range = read->ranges.front();
  uint8_t header[protocol::batch_field::kMaxTimestamp + 8];
  if (range.length < static_cast<int64_t>(sizeof header) ||
      ::pread(range.file->fd(), header, sizeof header, range.position) != static_cast<ssize_t>(sizeof header)) {
    return std::nullopt;
  }
  if (header[protocol::batch_field::kMagic] != protocol::kMagicV2) return std::nullopt;
  const int16_t attributes = load_be<int16_t>(header + protocol::batch_field::kAttributes);
  const size_t at = (attributes & protocol::kTimestampTypeBit) ? protocol::batch_field::kMaxTimestamp
                                                                : protocol::batch_field::kBaseTimestamp;
  return load_be<int64_t>(header + at);
}

// The partitions a consumer group's members are assigned (the consumer
// protocol's assignments; other protocol types have none to read).
std::set<std::pair<std::string, int32_t>> assigned_partitions(const group::GroupDescription& g) {
  std::set<std::pair<std::string, int32_t>> out;
  if (g.protocol_type != "consumer") return out;
  for (const auto& m : g.members) {
    if (m.assignment.size() < 2) continue;
    ByteReader r{ByteView(m.assignment)};
    const int16_t version = r.read_i16();
    protocol::ConsumerProtocolAssignment a;
    if (!r.ok() || version < 0 || !a.decode(r, std::min<int16_t>(version, 3))) continue;
    for (const auto& tp : a.assigned_partitions) {
      for (int32_t p : tp.partitions) out.emplace(tp.topic, p);
    }
  }
  return out;
}

}  // namespace

// Read at most once a second; each (group, partition)'s sample joins its
// status window (metrics/lag_status.h).
std::shared_ptr<const BrokerMetrics::LagSnapshot> BrokerMetrics::lag_snapshot() const {
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
  const int64_t wall_now = wall_now_ms();
  auto out = std::make_shared<LagSnapshot>();
  std::set<std::string> seen;
  for (const auto& listing : groups->list_groups({}, {}).groups) {
    const group::GroupDescription desc = groups->describe_group(listing.group_id);
    // The end offset from this broker's replica: the leader's high watermark,
    // or on a follower the leader's as of its last fetch.
    const auto lags = groups->lag(listing.group_id, [replicas](const auto& tp) -> std::optional<int64_t> {
      auto p = replicas->partition({tp.topic, tp.partition});
      if (!p) return std::nullopt;
      return p->high_watermark();
    });
    auto uncommitted = assigned_partitions(desc);
    std::vector<metrics::PartitionLagStatus> statuses;
    for (const auto& l : lags) {
      uncommitted.erase({l.tp.topic, l.tp.partition});
      GroupOffset o{listing.group_id, l.tp.topic, std::to_string(l.tp.partition), l.committed, l.lag, -1};
      if (l.lag >= 0) {
        o.lag_seconds = 0;
        if (auto p = l.lag > 0 ? replicas->partition({l.tp.topic, l.tp.partition}) : nullptr) {
          auto ts = batch_timestamp(*p, l.committed);
          o.lag_seconds = ts && *ts >= 0 ? double(std::max<int64_t>(0, wall_now - *ts)) / 1000.0 : -1;
        }
        std::string key = o.group + '\0' + o.topic + '\0' + o.partition;
        auto& window = lag_history_[key];
        metrics::add_sample(window, {now, l.committed, l.lag});
        statuses.push_back(metrics::evaluate_partition(window, !desc.members.empty()));
        seen.insert(std::move(key));
      }
      out->offsets.push_back(std::move(o));
    }
    // Assigned but never committed: -1, as kafka_exporter reports them.
    for (const auto& [topic, partition] : uncommitted) {
      out->offsets.push_back({listing.group_id, topic, std::to_string(partition), -1, -1, -1});
    }
    out->groups.push_back({listing.group_id, desc.members.size(), metrics::group_status(statuses)});
  }
  std::erase_if(lag_history_, [&](const auto& kv) { return !seen.contains(kv.first); });
  groups_ = out;
  groups_at_ms_ = now;
  return groups_;
}

void BrokerMetrics::register_lag_metrics() {
  const std::vector<std::string> gtp = {"consumergroup", "topic", "partition"};
  auto per_offset = [&](const char* name, const char* help, auto value) {
    registry_.callback(native(name, help, gtp), [this, value](const Emit& emit) {
      if (auto snap = lag_snapshot()) {
        for (const auto& o : snap->offsets) {
          if (auto v = value(o)) emit({o.group, o.topic, o.partition}, *v);
        }
      }
    });
  };
  per_offset("kafka_consumergroup_current_offset",
             "Committed offset of the group on the partition; -1 when assigned and never committed "
             "(by the group's coordinator).",
             [](const GroupOffset& o) -> std::optional<double> { return double(o.committed); });
  per_offset("kafka_consumergroup_lag",
             "High watermark minus the committed offset; -1 when never committed (by the group's coordinator, "
             "for partitions with a replica on it).",
             [](const GroupOffset& o) -> std::optional<double> {
               if (o.committed >= 0 && o.lag < 0) return std::nullopt;  // end offset unknown here
               return double(o.lag);
             });
  per_offset("keel_consumergroup_lag_seconds",
             "Age of the oldest unconsumed record: now minus the timestamp of the batch holding the committed "
             "offset (0 without lag; -1 when never committed).",
             [](const GroupOffset& o) -> std::optional<double> {
               if (o.committed >= 0 && o.lag_seconds < 0) return std::nullopt;
               return o.lag_seconds;
             });
  registry_.callback(native("kafka_consumergroup_lag_sum", "Lag of the group summed over the topic's partitions.",
                            {"consumergroup", "topic"}),
                     [this](const Emit& emit) {
                       auto snap = lag_snapshot();
                       if (!snap) return;
                       std::map<std::pair<std::string, std::string>, int64_t> sums;
                       for (const auto& o : snap->offsets) {
                         if (o.lag >= 0) sums[{o.group, o.topic}] += o.lag;
                       }
                       for (const auto& [k, v] : sums) emit({k.first, k.second}, double(v));
                     });
  registry_.callback(native("kafka_consumergroup_members", "Members of the group (by the group's coordinator).",
                            {"consumergroup"}),
                     [this](const Emit& emit) {
                       if (auto snap = lag_snapshot()) {
                         for (const auto& g : snap->groups) emit({g.group}, double(g.members));
                       }
                     });
  registry_.callback(native("keel_consumergroup_status",
                            "1 for the group's current Burrow-style status: OK, WARN, STALL, STOP or ERR "
                            "(docs/metrics.md; by the group's coordinator).",
                            {"consumergroup", "status"}),
                     [this](const Emit& emit) {
                       if (auto snap = lag_snapshot()) {
                         for (const auto& g : snap->groups) {
                           emit({g.group, metrics::status_name(g.status)}, 1);
                         }
                       }
                     });
  registry_.callback(native("keel_consumergroup_status_code",
                            "The group's status as burrow_exporter numbers it: OK 2, WARN 3, ERR 4, STOP 5, STALL 6.",
                            {"consumergroup"}),
                     [this](const Emit& emit) {
                       if (auto snap = lag_snapshot()) {
                         for (const auto& g : snap->groups) emit({g.group}, double(metrics::burrow_code(g.status)));
                       }
                     });
}

void BrokerMetrics::register_partition_offset_metrics() {
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

}  // namespace keel::server
