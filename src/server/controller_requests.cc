// The controller's requests to a broker (ZooKeeper mode): LeaderAndIsr,
// UpdateMetadata and StopReplica. Each is fenced twice, as Kafka fences them:
// by the receiver's broker epoch (KIP-380: a request meant for an earlier
// registration of this broker id is STALE_BROKER_EPOCH; -1 means unknown and
// passes) and by the controller epoch (a request from a controller older than
// the newest one this broker has heard from is STALE_CONTROLLER_EPOCH).
// A fenced request changes nothing and is answered with the error at the top
// level and at every partition it names. Before either, the sender must hold
// CLUSTER_ACTION on the cluster (a broker: Kafka's rule), or the request is
// CLUSTER_AUTHORIZATION_FAILED the same way.

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "controller/controller.h"
#include "group/coordinator.h"
#include "protocol/generated/alter_partition_request.h"
#include "protocol/generated/alter_partition_response.h"
#include "protocol/generated/leader_and_isr_request.h"
#include "protocol/generated/leader_and_isr_response.h"
#include "protocol/generated/stop_replica_request.h"
#include "protocol/generated/stop_replica_response.h"
#include "protocol/generated/update_metadata_request.h"
#include "protocol/generated/update_metadata_response.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("controller-requests");
  return l;
}

int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

bool is_internal_topic(const std::string& name) {
  return name == "__consumer_offsets" || name == "__transaction_state";
}

// The sender's authorization, KIP-380's broker epoch check, then the
// controller epoch, in Kafka's order.
ErrorCode fence(RequestContext& ctx, const char* what, int32_t controller_id, int32_t controller_epoch,
                int64_t broker_epoch) {
  if (!cluster_allowed(ctx, security::AclOperation::kClusterAction)) return ErrorCode::kClusterAuthorizationFailed;
  const int64_t ours = ctx.services.broker_epoch ? ctx.services.broker_epoch() : -1;
  if (broker_epoch != -1 && ours != -1 && broker_epoch < ours) {
    log()->info("ignoring {} from controller {}: broker epoch {} is older than ours ({})", what, controller_id,
                broker_epoch, ours);
    return ErrorCode::kStaleBrokerEpoch;
  }
  if (!ctx.services.replicas->accept_controller_epoch(controller_epoch)) {
    log()->info("ignoring {} from controller {}: controller epoch {} is older than {}", what, controller_id,
                controller_epoch, ctx.services.replicas->controller_epoch());
    return ErrorCode::kStaleControllerEpoch;
  }
  return ErrorCode::kNone;
}

std::string security_protocol_name(int16_t id) {
  switch (id) {
    case 0: return "PLAINTEXT";
    case 1: return "SSL";
    case 2: return "SASL_PLAINTEXT";
    case 3: return "SASL_SSL";
    default: return "UNKNOWN";
  }
}

}  // namespace

// --- LeaderAndIsr ------------------------------------------------------------------

Result<void> handle_leader_and_isr(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::LeaderAndIsrRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();

  // Every partition named, with its topic id (v5+), in request order.
  struct Named {
    const protocol::LeaderAndIsrRequest::LeaderAndIsrPartitionState* state;
    std::string topic;
    protocol::Uuid topic_id;
  };
  std::vector<Named> named;
  if (version < 2) {
    for (const auto& p : req.ungrouped_partition_states) named.push_back({&p, p.topic_name, {}});
  } else {
    for (const auto& t : req.topic_states) {
      for (const auto& p : t.partition_states) named.push_back({&p, t.topic_name, t.topic_id});
    }
  }

  std::vector<ErrorCode> errors(named.size(), ErrorCode::kNone);
  const ErrorCode fenced = fence(ctx, "LeaderAndIsr", req.controller_id, req.controller_epoch, req.broker_epoch);
  protocol::LeaderAndIsrResponse resp;
  if (fenced != ErrorCode::kNone) {
    resp.error_code = code(fenced);
    std::fill(errors.begin(), errors.end(), fenced);
  } else {
    std::vector<cluster::ReplicaManager::ReplicaState> states;
    states.reserve(named.size());
    for (const auto& n : named) {
      cluster::ReplicaManager::ReplicaState r;
      r.tp = {n.topic, n.state->partition_index};
      r.topic_id = n.topic_id;
      r.state.leader = n.state->leader;
      r.state.leader_epoch = n.state->leader_epoch;
      r.state.partition_epoch = n.state->partition_epoch;
      r.state.replicas = n.state->replicas;
      r.state.isr = n.state->isr;
      r.is_new = n.state->is_new;
      for (const auto& l : req.live_leaders) {
        if (l.broker_id == r.state.leader) r.leader = {l.broker_id, l.host_name, l.port};
      }
      states.push_back(std::move(r));
    }
    const auto started = std::chrono::steady_clock::now();
    errors = ctx.services.replicas->become_leader_or_follower(states);
    // One line per request, as Kafka's state-change log has: when a
    // handover (a controlled shutdown, a failover) took effect on this broker.
    const auto leading = std::count_if(states.begin(), states.end(),
                                       [&](const auto& r) { return r.state.leader == ctx.broker.broker_id; });
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    log()->info("LeaderAndIsr from controller {} (epoch {}) applied in {} ms: {} partitions, {} led here",
                req.controller_id, req.controller_epoch, took.count(), states.size(), leading);
  }

  if (version < 5) {
    for (size_t i = 0; i < named.size(); ++i) {
      auto& e = resp.partition_errors.emplace_back();
      e.topic_name = named[i].topic;
      e.partition_index = named[i].state->partition_index;
      e.error_code = code(errors[i]);
    }
  } else {
    for (size_t i = 0; i < named.size(); ++i) {
      if (resp.topics.empty() || i == 0 || named[i].topic != named[i - 1].topic) {
        resp.topics.emplace_back().topic_id = named[i].topic_id;
      }
      auto& e = resp.topics.back().partition_errors.emplace_back();
      e.partition_index = named[i].state->partition_index;
      e.error_code = code(errors[i]);
    }
  }
  resp.encode(out, version);
  return {};
}

// --- UpdateMetadata -----------------------------------------------------------------

Result<void> handle_update_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::UpdateMetadataRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  protocol::UpdateMetadataResponse resp;
  resp.error_code = code(fence(ctx, "UpdateMetadata", req.controller_id, req.controller_epoch, req.broker_epoch));
  if (resp.error_code != 0) {
    resp.encode(out, version);
    return {};
  }

  std::map<int32_t, cluster::BrokerInfo> brokers;
  for (const auto& b : req.live_brokers) {
    cluster::BrokerInfo info;
    info.id = b.id;
    if (version == 0) {
      info.endpoints.push_back({"PLAINTEXT", b.v0_host, b.v0_port, "PLAINTEXT"});
    } else {
      for (const auto& ep : b.endpoints) {
        const std::string protocol = security_protocol_name(ep.security_protocol);
        // Before v3 a listener is named by its security protocol.
        info.endpoints.push_back({version >= 3 ? ep.listener : protocol, ep.host, ep.port, protocol});
      }
    }
    if (version >= 2 && b.rack && !b.rack->empty()) info.rack = b.rack;
    brokers[b.id] = std::move(info);
  }

  std::vector<cluster::TopicInfo> topics;
  auto add = [&](const std::string& topic, const protocol::Uuid& id,
                 const protocol::UpdateMetadataRequest::UpdateMetadataPartitionState& p) {
    if (topics.empty() || topics.back().name != topic) {
      cluster::TopicInfo& t = topics.emplace_back();
      t.name = topic;
      t.id = id;
      t.internal = is_internal_topic(topic);
    }
    cluster::PartitionInfo& info = topics.back().partitions.emplace_back();
    info.partition = p.partition_index;
    info.leader = p.leader;
    info.leader_epoch = p.leader_epoch;
    info.partition_epoch = p.zk_version;
    info.replicas = p.replicas;
    info.isr = p.isr;
    info.offline_replicas = p.offline_replicas;
  };
  if (version < 5) {
    for (const auto& p : req.ungrouped_partition_states) add(p.topic_name, {}, p);
  } else {
    for (const auto& t : req.topic_states) {
      for (const auto& p : t.partition_states) add(t.topic_name, t.topic_id, p);
    }
  }
  ctx.services.metadata->apply_update(std::move(brokers), req.controller_id, topics);
  // Kafka's handleUpdateMetadataRequest: partitions the controller marks as
  // being deleted (leader -2) lose the offsets committed for them. Only topic
  // deletion does this; a replica moved off this broker (StopReplica with
  // delete, in a reassignment) leaves the groups' offsets alone.
  if (ctx.services.groups) {
    for (const auto& t : topics) {
      for (const auto& p : t.partitions) {
        if (p.leader == -2) ctx.services.groups->on_partition_deleted({t.name, p.partition});
      }
    }
  }
  resp.encode(out, version);
  return {};
}

// --- StopReplica ------------------------------------------------------------------------

Result<void> handle_stop_replica(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::StopReplicaRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();

  struct Stop {
    cluster::TopicPartition tp;
    int32_t leader_epoch;  // -1: any, -2: the topic is being deleted
    bool delete_log;
  };
  std::vector<Stop> stops;
  if (version == 0) {
    for (const auto& p : req.ungrouped_partitions) {
      stops.push_back({{p.topic_name, p.partition_index}, -1, req.delete_partitions});
    }
  } else if (version <= 2) {
    for (const auto& t : req.topics) {
      for (int32_t p : t.partition_indexes) stops.push_back({{t.name, p}, -1, req.delete_partitions});
    }
  } else {
    for (const auto& t : req.topic_states) {
      for (const auto& p : t.partition_states) {
        stops.push_back({{t.topic_name, p.partition_index}, p.leader_epoch, p.delete_partition});
      }
    }
  }

  protocol::StopReplicaResponse resp;
  const ErrorCode fenced = fence(ctx, "StopReplica", req.controller_id, req.controller_epoch, req.broker_epoch);
  resp.error_code = code(fenced);
  for (const Stop& s : stops) {
    auto& e = resp.partition_errors.emplace_back();
    e.topic_name = s.tp.topic;
    e.partition_index = s.tp.partition;
    if (fenced != ErrorCode::kNone) {
      e.error_code = code(fenced);
      continue;
    }
    // A request from before the partition's current leadership must not stop
    // it (Kafka: FENCED_LEADER_EPOCH); -1 and -2 stop whatever is there.
    if (s.leader_epoch >= 0) {
      if (auto partition = ctx.services.replicas->partition(s.tp);
          partition && partition->leader_state().leader_epoch > s.leader_epoch) {
        e.error_code = code(ErrorCode::kFencedLeaderEpoch);
        continue;
      }
    }
    e.error_code = code(ctx.services.replicas->stop_replica(s.tp, s.delete_log));
  }
  resp.encode(out, version);
  return {};
}

// --- AlterPartition (to the controller) ------------------------------------------------

// Answered from the controller's event thread: no handler thread waits (and
// the controller's own broker, sending from its inter-broker runtime, must not).
Result<void> handle_alter_partition(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::AlterPartitionRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  if (!cluster_allowed(ctx, security::AclOperation::kClusterAction)) {
    protocol::AlterPartitionResponse resp;
    resp.error_code = code(ErrorCode::kClusterAuthorizationFailed);
    send_encoded(responder, resp, version);
    return {};
  }
  if (!ctx.services.controller) {
    protocol::AlterPartitionResponse resp;
    resp.error_code = code(ErrorCode::kNotController);
    send_encoded(responder, resp, version);
    return {};
  }
  ctx.services.controller->alter_partition(req, version, [responder, version](protocol::AlterPartitionResponse resp) mutable {
    send_encoded(responder, resp, version);
  });
  return {};
}

}  // namespace keel::server
