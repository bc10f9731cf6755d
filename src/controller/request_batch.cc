#include "controller/request_batch.h"

#include <algorithm>

#include "protocol/generated/leader_and_isr_request.h"
#include "protocol/generated/stop_replica_request.h"
#include "protocol/generated/update_metadata_request.h"

namespace keel::controller {
namespace {

int16_t security_protocol_id(const std::string& name) {
  if (name == "SSL") return 1;
  if (name == "SASL_PLAINTEXT") return 2;
  if (name == "SASL_SSL") return 3;
  return 0;  // PLAINTEXT
}

const coord::BrokerEndpoint* endpoint_of(const coord::BrokerRegistration& b, const std::string& listener) {
  for (const auto& e : b.endpoints) {
    if (e.listener_name == listener) return &e;
  }
  return nullptr;
}

// The entry of `topic` in a request's per-topic list, added at the end when new.
template <typename TopicStates>
auto& topic_entry(TopicStates& topics, const std::string& topic, const protocol::Uuid& id) {
  for (auto& t : topics) {
    if (t.topic_name == topic) return t;
  }
  auto& t = topics.emplace_back();
  t.topic_name = topic;
  if constexpr (requires { t.topic_id; }) t.topic_id = id;
  return t;
}

// The fields LeaderAndIsr's and UpdateMetadata's partition states share.
template <typename State>
void fill_partition(State& s, const PartitionDecision& p) {
  s.topic_name = p.topic;
  s.partition_index = p.partition;
  s.controller_epoch = p.controller_epoch;
  s.leader = p.leader;
  s.leader_epoch = p.leader_epoch;
  s.isr = p.isr;
  s.replicas = p.replicas;
}

template <typename Message>
Bytes encode(const Message& m, int16_t version) {
  ByteWriter w;
  m.encode(w, version);
  return Bytes(w.buffer().begin(), w.buffer().end());
}

}  // namespace

void RequestBatch::leader_and_isr(const std::vector<int32_t>& brokers, const PartitionDecision& p) {
  for (int32_t b : brokers) leader_and_isr_[b].push_back(p);
}

void RequestBatch::update_metadata(const std::vector<int32_t>& brokers, const PartitionDecision& p) {
  for (int32_t b : brokers) update_metadata_[b].push_back(p);
}

void RequestBatch::update_metadata_brokers(const std::vector<int32_t>& brokers) {
  for (int32_t b : brokers) update_metadata_[b];
}

void RequestBatch::stop_replica(int32_t broker, const std::string& topic, int32_t partition, int32_t leader_epoch,
                                bool delete_log) {
  stop_replica_[broker].push_back({topic, partition, leader_epoch, delete_log});
}

void RequestBatch::send(ChannelManager& channels, int32_t controller_id, int32_t controller_epoch,
                        const std::map<int32_t, coord::BrokerRegistration>& live, const std::string& listener,
                        const LeaderAndIsrAnswer& on_leader_and_isr, const StopReplicaAnswer& on_stop_replica) {
  for (auto& [broker, partitions] : leader_and_isr_) {
    auto target = live.find(broker);
    if (target == live.end()) continue;
    protocol::LeaderAndIsrRequest req;
    req.controller_id = controller_id;
    req.controller_epoch = controller_epoch;
    req.broker_epoch = target->second.epoch;
    req.type = 0;  // incremental
    std::set<int32_t> leaders;
    // Grouped by topic, in the order the partitions came.
    for (const auto& p : partitions) {
      auto& s = topic_entry(req.topic_states, p.topic, p.topic_id).partition_states.emplace_back();
      fill_partition(s, p);
      s.partition_epoch = p.partition_epoch;
      s.is_new = p.is_new;
      if (p.leader >= 0) leaders.insert(p.leader);
    }
    for (int32_t l : leaders) {
      auto b = live.find(l);
      if (b == live.end()) continue;
      const coord::BrokerEndpoint* ep = endpoint_of(b->second, listener);
      if (!ep) continue;
      auto& ll = req.live_leaders.emplace_back();
      ll.broker_id = l;
      ll.host_name = ep->host;
      ll.port = ep->port;
    }
    ChannelManager::Callback answered;
    if (on_leader_and_isr) {
      answered = [on_leader_and_isr, broker](Result<Bytes> body) { on_leader_and_isr(broker, std::move(body)); };
    }
    channels.send(broker, protocol::LeaderAndIsrRequest::kApiKey, kLeaderAndIsrVersion,
                  encode(req, kLeaderAndIsrVersion), std::move(answered));
  }

  std::vector<protocol::UpdateMetadataRequest::UpdateMetadataBroker> brokers;
  for (const auto& [id, reg] : live) {
    auto& b = brokers.emplace_back();
    b.id = id;
    b.rack = reg.rack;
    for (const auto& e : reg.endpoints) {
      auto& ep = b.endpoints.emplace_back();
      ep.port = e.port;
      ep.host = e.host;
      ep.listener = e.listener_name;
      ep.security_protocol = security_protocol_id(e.security_protocol);
    }
  }
  for (auto& [broker, partitions] : update_metadata_) {
    auto target = live.find(broker);
    if (target == live.end()) continue;
    protocol::UpdateMetadataRequest req;
    req.controller_id = controller_id;
    req.controller_epoch = controller_epoch;
    req.broker_epoch = target->second.epoch;
    req.live_brokers = brokers;
    for (const auto& p : partitions) {
      auto& s = topic_entry(req.topic_states, p.topic, p.topic_id).partition_states.emplace_back();
      fill_partition(s, p);
      s.zk_version = p.partition_epoch;
      s.offline_replicas = p.offline_replicas;
    }
    channels.send(broker, protocol::UpdateMetadataRequest::kApiKey, kUpdateMetadataVersion,
                  encode(req, kUpdateMetadataVersion));
  }

  for (auto& [broker, stops] : stop_replica_) {
    auto target = live.find(broker);
    if (target == live.end()) continue;
    protocol::StopReplicaRequest req;
    req.controller_id = controller_id;
    req.controller_epoch = controller_epoch;
    req.broker_epoch = target->second.epoch;
    for (const auto& s : stops) {
      auto& ps = topic_entry(req.topic_states, s.topic, protocol::Uuid{}).partition_states.emplace_back();
      ps.partition_index = s.partition;
      ps.leader_epoch = s.leader_epoch;
      ps.delete_partition = s.delete_log;
    }
    ChannelManager::Callback answered;
    if (on_stop_replica) {
      answered = [on_stop_replica, broker, epoch = req.broker_epoch](Result<Bytes> body) {
        on_stop_replica(broker, epoch, std::move(body));
      };
    }
    channels.send(broker, protocol::StopReplicaRequest::kApiKey, kStopReplicaVersion,
                  encode(req, kStopReplicaVersion), std::move(answered));
  }
  leader_and_isr_.clear();
  update_metadata_.clear();
  stop_replica_.clear();
}

}  // namespace keel::controller
