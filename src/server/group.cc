// The consumer group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
// DeleteGroups, OffsetDelete. Each translates its wire version to the group
// coordinator's calls (group/coordinator.h) and back; JoinGroup and SyncGroup
// answer when the rebalance lets them.
//
// Authorization (Kafka's table): READ on the group to join, sync, heartbeat,
// leave or commit (and READ on each committed topic); DESCRIBE on the group
// to find its coordinator, fetch its offsets (and DESCRIBE on each topic) or
// describe it; DELETE to delete it or its offsets (and READ on each topic).
// ListGroups lists every group with DESCRIBE on the cluster, else only the
// groups the principal may describe.

#include <algorithm>
#include <atomic>
#include <set>

#include "cluster/metadata_cache.h"
#include "common/log.h"
#include "group/coordinator.h"
#include "group/offsets_log.h"
#include "protocol/error_code.h"
#include "protocol/generated/delete_groups_request.h"
#include "protocol/generated/delete_groups_response.h"
#include "protocol/generated/describe_groups_request.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/find_coordinator_request.h"
#include "protocol/generated/find_coordinator_response.h"
#include "protocol/generated/heartbeat_request.h"
#include "protocol/generated/heartbeat_response.h"
#include "protocol/generated/join_group_request.h"
#include "protocol/generated/join_group_response.h"
#include "protocol/generated/leave_group_request.h"
#include "protocol/generated/leave_group_response.h"
#include "protocol/generated/list_groups_request.h"
#include "protocol/generated/list_groups_response.h"
#include "protocol/generated/offset_commit_request.h"
#include "protocol/generated/offset_commit_response.h"
#include "protocol/generated/offset_delete_request.h"
#include "protocol/generated/offset_delete_response.h"
#include "protocol/generated/offset_fetch_request.h"
#include "protocol/generated/offset_fetch_response.h"
#include "protocol/generated/sync_group_request.h"
#include "protocol/generated/sync_group_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/txn_requests.h"
#include "cluster/topic_admin.h"

namespace keel::server {

using cluster::AdminResult;
using cluster::NewTopic;
using protocol::ErrorCode;
using security::AclOperation;
using security::ResourceType;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("group");
  return l;
}

int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

// Kafka's clientHost: the peer address with a leading slash, no port.
std::string client_host(const net::ConnectionInfo& conn) {
  std::string host = conn.peer;
  auto colon = host.rfind(':');
  if (colon != std::string::npos) host.resize(colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return "/" + host;
}

// The group coordinator for `group`: this broker when it leads the group's
// __consumer_offsets partition. Creates the topic on first use, as Kafka
// does, answering COORDINATOR_NOT_AVAILABLE until it has leaders.
struct CoordinatorAnswer {
  ErrorCode error = ErrorCode::kNone;
  int32_t node_id = -1;
  std::string host;
  int32_t port = -1;
};

CoordinatorAnswer find_group_coordinator(RequestContext& ctx, const std::string& group) {
  CoordinatorAnswer a;
  auto* groups = ctx.services.groups;
  if (!groups) {
    a.error = ErrorCode::kCoordinatorNotAvailable;
    return a;
  }
  auto snapshot = ctx.services.metadata->snapshot();
  const cluster::TopicInfo* topic = snapshot->topic(group::kOffsetsTopic);
  if (!topic || topic->deleting()) {
    a.error = ErrorCode::kCoordinatorNotAvailable;
    // Kafka's AutoTopicCreationManager: with fewer live brokers than
    // offsets.topic.replication.factor the topic is not created (it could
    // not be placed, or would be placed on fewer replicas than asked) and
    // the client asks again, until enough brokers have registered.
    const size_t live = snapshot->brokers.size();
    if (!topic && live < static_cast<size_t>(std::max<int16_t>(1, ctx.config.offsets_topic_replication_factor))) {
      static std::atomic<int64_t> last_warned{0};
      const int64_t now = ctx.now_ms();
      int64_t last = last_warned.load();
      if (now - last >= 10000 && last_warned.compare_exchange_strong(last, now)) {
        log()->warn("number of alive brokers '{}' does not meet the required replication factor '{}' for the "
                    "offsets topic (offsets.topic.replication.factor): {} is not created yet. This can be "
                    "ignored while the cluster is starting up and not all brokers are up yet",
                    live, ctx.config.offsets_topic_replication_factor, group::kOffsetsTopic);
      }
      return a;
    }
    if (ctx.services.topics && !topic) {
      NewTopic nt;
      nt.name = group::kOffsetsTopic;
      nt.num_partitions = ctx.config.offsets_topic_num_partitions;
      nt.replication_factor = ctx.config.offsets_topic_replication_factor;
      nt.configs = {{"cleanup.policy", "compact"},
                    {"compression.type", "producer"},
                    {"segment.bytes", std::to_string(ctx.config.offsets_topic_segment_bytes)}};
      AdminResult r = ctx.services.topics->create_topic(nt, false, nullptr);
      if (!r.ok() && r.error != ErrorCode::kTopicAlreadyExists) {
        log()->warn("cannot create {}: {} ({})", group::kOffsetsTopic, protocol::error_name(r.error), r.message);
      } else if (r.ok()) {
        log()->info("created {} with {} partitions", group::kOffsetsTopic, nt.num_partitions);
      }
    }
    return a;
  }
  const int32_t partition = groups->partition_for(group);
  const cluster::PartitionInfo* p = snapshot->partition(group::kOffsetsTopic, partition);
  auto broker = p ? snapshot->brokers.find(p->leader) : snapshot->brokers.end();
  if (!p || broker == snapshot->brokers.end()) {
    a.error = ErrorCode::kCoordinatorNotAvailable;
    return a;
  }
  // The metadata can name this broker the leader a moment before the
  // replica manager has made it one (and so the coordinator): until then the
  // client asks again, rather than being sent here for a NOT_COORDINATOR.
  if (p->leader == ctx.broker.broker_id && groups->check(group) == ErrorCode::kNotCoordinator) {
    a.error = ErrorCode::kCoordinatorNotAvailable;
    return a;
  }
  for (const auto& ep : broker->second.endpoints) {
    if (ep.listener_name != ctx.connection.listener_name) continue;
    a.node_id = broker->first;
    a.host = ep.host;
    a.port = ep.port;
    return a;
  }
  a.error = ErrorCode::kCoordinatorNotAvailable;
  return a;
}

// The generated structs' nullable strings answer "" where a version cannot
// carry null.
std::optional<std::string> nullable(const std::optional<std::string>& s, bool may_be_null) {
  if (s || may_be_null) return s;
  return std::string();
}

}  // namespace

Result<void> handle_find_coordinator(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::FindCoordinatorRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  protocol::FindCoordinatorResponse resp;
  RequestAuthorization auth(ctx);
  auto answer = [&](const std::string& key) {
    CoordinatorAnswer a;
    if (req.key_type == 0 && !auth.allows_group(AclOperation::kDescribe, key)) {
      a.error = ErrorCode::kGroupAuthorizationFailed;
    } else if (req.key_type == 1 && !auth.allows(AclOperation::kDescribe, ResourceType::kTransactionalId, key)) {
      a.error = ErrorCode::kTransactionalIdAuthorizationFailed;
    } else if (req.key_type == 0) {
      a = find_group_coordinator(ctx, key);
    } else if (req.key_type == 1) {
      const CoordinatorLocation t = find_transaction_coordinator(ctx, key);  // server/txn_requests.cc
      a = {t.error, t.node_id, t.host, t.port};
    } else {
      a.error = ErrorCode::kInvalidRequest;
    }
    return a;
  };
  if (version < 4) {
    CoordinatorAnswer a = answer(req.key);
    resp.error_code = code(a.error);
    resp.error_message = a.error == ErrorCode::kNone ? std::nullopt : std::optional<std::string>(protocol::error_name(a.error));
    resp.node_id = a.node_id;
    resp.host = a.host;
    resp.port = a.port;
  } else {
    for (const auto& key : req.coordinator_keys) {
      CoordinatorAnswer a = answer(key);
      auto& c = resp.coordinators.emplace_back();
      c.key = key;
      c.error_code = code(a.error);
      c.error_message = a.error == ErrorCode::kNone ? std::nullopt : std::optional<std::string>(protocol::error_name(a.error));
      c.node_id = a.node_id;
      c.host = a.host;
      c.port = a.port;
    }
  }
  resp.encode(out, version);
  return {};
}

Result<void> handle_join_group(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::JoinGroupRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto send = [responder, version](const group::JoinResult& r) mutable {
    protocol::JoinGroupResponse resp;
    resp.error_code = code(r.error);
    resp.generation_id = r.generation;
    resp.protocol_type = r.protocol_type;
    if (resp.protocol_type && resp.protocol_type->empty() && r.error != ErrorCode::kNone) resp.protocol_type.reset();
    resp.protocol_name = nullable(r.protocol_name, version >= 7);
    resp.leader = r.leader;
    resp.skip_assignment = r.skip_assignment;
    resp.member_id = r.member_id;
    for (const auto& m : r.members) {
      auto& rm = resp.members.emplace_back();
      rm.member_id = m.member_id;
      rm.group_instance_id = m.group_instance_id;
      rm.metadata = m.metadata;
    }
    send_encoded(responder, resp, version);
  };
  if (!RequestAuthorization(ctx).allows_group(AclOperation::kRead, req.group_id)) {
    group::JoinResult r;
    r.error = ErrorCode::kGroupAuthorizationFailed;
    send(r);
    return {};
  }
  if (!ctx.services.groups) {
    group::JoinResult r;
    r.error = ErrorCode::kCoordinatorNotAvailable;
    send(r);
    return {};
  }
  group::JoinRequest jr;
  jr.group_id = req.group_id;
  jr.member_id = req.member_id;
  jr.group_instance_id = req.group_instance_id;
  jr.protocol_type = req.protocol_type;
  for (auto& p : req.protocols) jr.protocols.push_back({p.name, p.metadata});
  jr.session_timeout_ms = req.session_timeout_ms;
  jr.rebalance_timeout_ms = version >= 1 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  jr.client_id = ctx.header.client_id.value_or("");
  jr.client_host = client_host(ctx.connection);
  jr.require_known_member_id = version >= 4;
  jr.supports_skip_assignment = version >= 9;
  ctx.services.groups->join_group(std::move(jr), send);
  return {};
}

Result<void> handle_sync_group(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::SyncGroupRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto send = [responder, version](const group::SyncResult& r) mutable {
    protocol::SyncGroupResponse resp;
    resp.error_code = code(r.error);
    resp.protocol_type = r.protocol_type;
    resp.protocol_name = r.protocol_name;
    resp.assignment = r.assignment;
    send_encoded(responder, resp, version);
  };
  if (!RequestAuthorization(ctx).allows_group(AclOperation::kRead, req.group_id)) {
    group::SyncResult r;
    r.error = ErrorCode::kGroupAuthorizationFailed;
    send(r);
    return {};
  }
  if (!ctx.services.groups) {
    group::SyncResult r;
    r.error = ErrorCode::kCoordinatorNotAvailable;
    send(r);
    return {};
  }
  group::SyncRequest sr;
  sr.group_id = req.group_id;
  sr.generation = req.generation_id;
  sr.member_id = req.member_id;
  sr.group_instance_id = req.group_instance_id;
  if (version >= 5) {
    sr.protocol_type = req.protocol_type;
    sr.protocol_name = req.protocol_name;
  }
  for (auto& a : req.assignments) sr.assignments.push_back({a.member_id, a.assignment});
  ctx.services.groups->sync_group(std::move(sr), send);
  return {};
}

Result<void> handle_heartbeat(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::HeartbeatRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::HeartbeatResponse resp;
  if (!RequestAuthorization(ctx).allows_group(AclOperation::kRead, req.group_id)) {
    resp.error_code = code(ErrorCode::kGroupAuthorizationFailed);
  } else {
    resp.error_code = code(ctx.services.groups ? ctx.services.groups->heartbeat(req.group_id, req.generation_id,
                                                                                req.member_id, req.group_instance_id)
                                               : ErrorCode::kCoordinatorNotAvailable);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_leave_group(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::LeaveGroupRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  std::vector<group::LeaveMember> members;
  if (version < 3) {
    members.push_back({req.member_id, std::nullopt});
  } else {
    for (const auto& m : req.members) members.push_back({m.member_id, m.group_instance_id});
  }
  group::LeaveResult r;
  if (!RequestAuthorization(ctx).allows_group(AclOperation::kRead, req.group_id)) {
    r.error = ErrorCode::kGroupAuthorizationFailed;
  } else if (ctx.services.groups) {
    r = ctx.services.groups->leave_group(req.group_id, members);
  } else {
    r.error = ErrorCode::kCoordinatorNotAvailable;
  }
  protocol::LeaveGroupResponse resp;
  if (version < 3) {
    // One member: its error is the answer's.
    ErrorCode e = r.error != ErrorCode::kNone ? r.error : r.members.empty() ? ErrorCode::kNone : r.members[0];
    resp.error_code = code(e);
  } else {
    resp.error_code = code(r.error);
    for (size_t i = 0; i < r.members.size() && r.error == ErrorCode::kNone; ++i) {
      auto& m = resp.members.emplace_back();
      m.member_id = members[i].member_id;
      m.group_instance_id = members[i].group_instance_id;
      m.error_code = code(r.members[i]);
    }
  }
  resp.encode(out, version);
  return {};
}

// Answered once the commit is replicated (the coordinator appends with
// acks=all), from the coordinator's callback: no handler thread waits.
Result<void> handle_offset_commit(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::OffsetCommitRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto snapshot = ctx.services.metadata->snapshot();
  group::CommitRequest cr;
  cr.group_id = req.group_id;
  cr.generation = version >= 1 ? req.generation_id_or_member_epoch : -1;
  cr.member_id = req.member_id;
  cr.group_instance_id = req.group_instance_id;
  cr.retention_ms = version >= 2 && version <= 4 ? req.retention_time_ms : -1;
  // Which request partition each coordinator partition answers; the rest
  // are answered here (an unknown topic or partition, as Kafka checks).
  auto shared = std::make_shared<protocol::OffsetCommitResponse>();
  protocol::OffsetCommitResponse& resp = *shared;
  std::vector<int16_t*> slots;
  RequestAuthorization auth(ctx);
  const bool group_readable = auth.allows_group(AclOperation::kRead, req.group_id);
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    const cluster::TopicInfo* topic = snapshot->topic(t.name);
    const bool topic_readable = group_readable && auth.allows_topic(AclOperation::kRead, t.name);
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      if (!group_readable) {
        rp.error_code = code(ErrorCode::kGroupAuthorizationFailed);
        continue;
      }
      if (!topic_readable) {
        rp.error_code = code(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (!topic || topic->deleting() || p.partition_index < 0 ||
          p.partition_index >= static_cast<int32_t>(topic->partitions.size())) {
        rp.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      group::CommitPartition cp;
      cp.tp = {t.name, p.partition_index};
      cp.offset = p.committed_offset;
      cp.leader_epoch = version >= 6 ? p.committed_leader_epoch : -1;
      cp.metadata = p.committed_metadata;
      cp.commit_timestamp_ms = version == 1 ? p.commit_timestamp : -1;
      cr.partitions.push_back(std::move(cp));
    }
  }
  // Pointers only after every vector has its final size.
  for (auto& rt : resp.topics) {
    for (auto& rp : rt.partitions) {
      if (rp.error_code == 0) slots.push_back(&rp.error_code);
    }
  }
  if (cr.partitions.empty() || !ctx.services.groups) {
    for (int16_t* slot : slots) *slot = code(ErrorCode::kCoordinatorNotAvailable);
    send_encoded(responder, resp, version);
    return {};
  }
  ctx.services.groups->commit_offsets(cr, [shared, slots, responder, version](group::CommitResult r) mutable {
    for (size_t i = 0; i < slots.size() && i < r.partitions.size(); ++i) *slots[i] = code(r.partitions[i]);
    send_encoded(responder, *shared, version);
  });
  return {};
}

namespace {

// One group's OffsetFetch, in the v8+ shape (older versions copy from it).
// Topics the principal may not DESCRIBE are left out of an all-partitions
// answer and answered TOPIC_AUTHORIZATION_FAILED when named. require_stable
// (v7+): a partition with a transaction's offsets not yet settled by its
// marker answers UNSTABLE_OFFSET_COMMIT — per partition on every version, as
// Kafka's getOffsets answers it (the group's error stays NONE).
protocol::OffsetFetchResponse::OffsetFetchResponseGroup fetch_group(
    RequestContext& ctx, RequestAuthorization& auth, const std::string& group_id,
    const std::optional<std::vector<storage::TopicPartition>>& partitions, bool require_stable) {
  protocol::OffsetFetchResponse::OffsetFetchResponseGroup g;
  g.group_id = group_id;
  group::FetchOffsetsResult r;
  if (!auth.allows_group(AclOperation::kDescribe, group_id)) {
    r.error = ErrorCode::kGroupAuthorizationFailed;
  } else if (ctx.services.groups) {
    r = ctx.services.groups->fetch_offsets(group_id, partitions, require_stable);
  } else {
    r.error = ErrorCode::kCoordinatorNotAvailable;
  }
  g.error_code = code(r.error);
  if (r.error != ErrorCode::kNone) return g;
  std::map<std::string, size_t> topic_index;
  std::map<std::string, bool> describable;
  for (auto& f : r.partitions) {
    auto [known, first] = describable.try_emplace(f.tp.topic, false);
    if (first) known->second = auth.allows_topic(AclOperation::kDescribe, f.tp.topic);
    if (!known->second) {
      if (!partitions) continue;
      f.offset = -1;
      f.leader_epoch = -1;
      f.metadata = "";
      f.error = ErrorCode::kTopicAuthorizationFailed;
    }
    auto [it, fresh] = topic_index.try_emplace(f.tp.topic, g.topics.size());
    if (fresh) g.topics.emplace_back().name = f.tp.topic;
    auto& p = g.topics[it->second].partitions.emplace_back();
    p.partition_index = f.tp.partition;
    p.committed_offset = f.offset;
    p.committed_leader_epoch = f.leader_epoch;
    p.metadata = f.metadata;
    p.error_code = code(f.error);
  }
  return g;
}

}  // namespace

Result<void> handle_offset_fetch(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::OffsetFetchRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  protocol::OffsetFetchResponse resp;
  auto to_tps = [](const auto& topics) {
    std::optional<std::vector<storage::TopicPartition>> tps;
    if (topics) {
      tps.emplace();
      for (const auto& t : *topics) {
        for (int32_t p : t.partition_indexes) tps->push_back({t.name, p});
      }
    }
    return tps;
  };
  RequestAuthorization auth(ctx);
  const bool require_stable = version >= 7 && req.require_stable;
  if (version >= 8) {
    for (const auto& g : req.groups) {
      resp.groups.push_back(fetch_group(ctx, auth, g.group_id, to_tps(g.topics), require_stable));
    }
  } else {
    // v0-1 have no null list: an empty one asks for nothing.
    auto g = fetch_group(ctx, auth, req.group_id, to_tps(req.topics), require_stable);
    const auto e = static_cast<ErrorCode>(g.error_code);
    if (version < 2 && e != ErrorCode::kNone && req.topics) {
      // No top-level error before v2: every partition carries it.
      for (const auto& t : *req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        for (int32_t p : t.partition_indexes) {
          auto& rp = rt.partitions.emplace_back();
          rp.partition_index = p;
          rp.committed_offset = -1;
          rp.error_code = g.error_code;
        }
      }
    }
    resp.error_code = g.error_code;
    for (auto& t : g.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      for (auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.committed_offset = p.committed_offset;
        rp.committed_leader_epoch = p.committed_leader_epoch;
        rp.metadata = p.metadata;
        rp.error_code = p.error_code;
      }
    }
  }
  resp.encode(out, version);
  return {};
}

Result<void> handle_describe_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeGroupsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DescribeGroupsResponse resp;
  RequestAuthorization auth(ctx);
  for (const auto& id : req.groups) {
    auto& rg = resp.groups.emplace_back();
    rg.group_id = id;
    if (!auth.allows_group(AclOperation::kDescribe, id)) {
      rg.error_code = code(ErrorCode::kGroupAuthorizationFailed);
      continue;
    }
    if (!ctx.services.groups) {
      rg.error_code = code(ErrorCode::kCoordinatorNotAvailable);
      continue;
    }
    group::GroupDescription d = ctx.services.groups->describe_group(id);
    rg.error_code = code(d.error);
    rg.group_state = d.state;
    rg.protocol_type = d.protocol_type;
    rg.protocol_data = d.protocol;
    for (auto& m : d.members) {
      auto& rm = rg.members.emplace_back();
      rm.member_id = m.member_id;
      rm.group_instance_id = m.group_instance_id;
      rm.client_id = m.client_id;
      rm.client_host = m.client_host;
      rm.member_metadata = std::move(m.metadata);
      rm.member_assignment = std::move(m.assignment);
    }
    if (req.include_authorized_operations) rg.authorized_operations = auth.operations(ResourceType::kGroup, id);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_list_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::ListGroupsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::ListGroupsResponse resp;
  if (!ctx.services.groups) {
    resp.error_code = code(ErrorCode::kCoordinatorNotAvailable);
  } else {
    group::ListGroupsResult r = ctx.services.groups->list_groups(req.states_filter, req.types_filter);
    resp.error_code = code(r.error);
    // Not a refusal: a principal sees the groups it may describe, and no
    // error, as in Kafka; so nothing is logged.
    RequestAuthorization auth(ctx);
    const bool all = auth.allows_quietly(AclOperation::kDescribe, ResourceType::kCluster,
                                         security::kClusterResourceName);
    for (auto& g : r.groups) {
      if (!all && !auth.allows_quietly(AclOperation::kDescribe, ResourceType::kGroup, g.group_id)) continue;
      auto& rg = resp.groups.emplace_back();
      rg.group_id = g.group_id;
      rg.protocol_type = g.protocol_type;
      rg.group_state = g.state;
      rg.group_type = "classic";
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_delete_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DeleteGroupsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DeleteGroupsResponse resp;
  RequestAuthorization auth(ctx);
  for (const auto& id : req.groups_names) {
    auto& r = resp.results.emplace_back();
    r.group_id = id;
    if (!auth.allows_group(AclOperation::kDelete, id)) {
      r.error_code = code(ErrorCode::kGroupAuthorizationFailed);
      continue;
    }
    r.error_code = code(ctx.services.groups ? ctx.services.groups->delete_group(id)
                                            : ErrorCode::kCoordinatorNotAvailable);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_offset_delete(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::OffsetDeleteRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::OffsetDeleteResponse resp;
  RequestAuthorization auth(ctx);
  // The partitions of topics the principal may not READ are answered
  // TOPIC_AUTHORIZATION_FAILED and never reach the coordinator.
  std::vector<storage::TopicPartition> tps;
  std::set<std::string> unreadable;
  const bool deletable = auth.allows_group(AclOperation::kDelete, req.group_id);
  for (const auto& t : req.topics) {
    if (deletable && !unreadable.contains(t.name) && !auth.allows_topic(AclOperation::kRead, t.name)) {
      unreadable.insert(t.name);
    }
    if (unreadable.contains(t.name)) continue;
    for (const auto& p : t.partitions) tps.push_back({t.name, p.partition_index});
  }
  group::DeleteOffsetsResult r;
  if (!deletable) {
    r.error = ErrorCode::kGroupAuthorizationFailed;
  } else if (ctx.services.groups) {
    r = ctx.services.groups->delete_offsets(req.group_id, tps);
  } else {
    r.error = ErrorCode::kCoordinatorNotAvailable;
  }
  resp.error_code = code(r.error);
  if (r.error == ErrorCode::kNone) {
    size_t i = 0;
    for (const auto& t : req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        if (unreadable.contains(t.name)) {
          rp.error_code = code(ErrorCode::kTopicAuthorizationFailed);
          continue;
        }
        rp.error_code = code(i < r.partitions.size() ? r.partitions[i] : ErrorCode::kNone);
        ++i;
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
