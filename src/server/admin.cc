// Topic administration and cluster description: CreateTopics, DeleteTopics,
// CreatePartitions (each answers once the change is visible in this broker's
// metadata, or REQUEST_TIMED_OUT after timeout_ms, as Kafka's delayed
// operations do), DeleteRecords, DescribeCluster, DescribeLogDirs and
// OffsetForLeaderEpoch.

#include <sys/statvfs.h>

#include <map>
#include <set>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/create_partitions_request.h"
#include "protocol/generated/create_partitions_response.h"
#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/create_topics_response.h"
#include "protocol/generated/delete_records_request.h"
#include "protocol/generated/delete_records_response.h"
#include "protocol/generated/delete_topics_request.h"
#include "protocol/generated/delete_topics_response.h"
#include "protocol/generated/describe_cluster_request.h"
#include "protocol/generated/describe_cluster_response.h"
#include "protocol/generated/describe_log_dirs_request.h"
#include "protocol/generated/describe_log_dirs_response.h"
#include "protocol/generated/offset_for_leader_epoch_request.h"
#include "protocol/generated/offset_for_leader_epoch_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/quota_throttle.h"
#include "cluster/topic_admin.h"
#include "storage/errors.h"
#include "storage/log_manager.h"

namespace keel::server {

using cluster::AdminResult;
using cluster::CreatedTopic;
using cluster::NewTopic;
using protocol::ErrorCode;
using security::AclOperation;
using security::ResourceType;

namespace {

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }
constexpr const char* kThrottlingQuotaExceeded = "The throttling quota has been exceeded.";  // Kafka's words

// Answers through `finish(expired)` once `ready(snapshot)` holds, or after
// timeout_ms. The purgatory is woken by every metadata change.
void when_metadata(RequestContext& ctx, int32_t timeout_ms,
                   std::function<bool(const cluster::ClusterSnapshot&)> ready, std::function<void(bool)> finish) {
  cluster::MetadataCache* metadata = ctx.services.metadata;
  if (ready(*metadata->snapshot()) || timeout_ms <= 0) {
    finish(!ready(*metadata->snapshot()));
    return;
  }
  auto& purgatory = ctx.services.replicas->fetch_purgatory();
  purgatory.add({{"", -1}}, purgatory.now() + timeout_ms,
                [metadata, ready] { return ready(*metadata->snapshot()); }, std::move(finish));
}

bool topic_ready(const cluster::ClusterSnapshot& s, const std::string& name, int32_t partitions) {
  const cluster::TopicInfo* t = s.topic(name);
  if (!t || t->deleting() || static_cast<int32_t>(t->partitions.size()) < partitions) return false;
  for (const auto& p : t->partitions) {
    if (p.leader < 0) return false;
  }
  return true;
}

int8_t config_source(const std::map<std::string, std::string>& overrides, const std::string& key) {
  return overrides.contains(key) ? 1 /* DYNAMIC_TOPIC_CONFIG */ : 5 /* DEFAULT_CONFIG */;
}

}  // namespace

// --- CreateTopics ----------------------------------------------------------------------

Result<void> handle_create_topics(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::CreateTopicsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto resp = std::make_shared<protocol::CreateTopicsResponse>();
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) ++seen[t.name];
  std::vector<std::pair<std::string, int32_t>> created;  // name, partition count
  // CREATE on the cluster covers every topic; without it, CREATE per topic.
  RequestAuthorization auth(ctx);
  const bool may_create_any = auth.allows_quietly(AclOperation::kCreate, ResourceType::kCluster,
                                                  security::kClusterResourceName);
  ControllerMutationQuota mutations(ctx);  // controller_mutation_rate (KIP-599)
  for (const auto& t : req.topics) {
    auto& r = resp->topics.emplace_back();
    r.name = t.name;
    r.error_message = std::nullopt;
    if (seen[t.name] > 1) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "Found multiple entries for this topic.";  // Kafka's words, at each entry
      continue;
    }
    if (!may_create_any && !auth.allows_topic(AclOperation::kCreate, t.name)) {
      r.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      r.error_message = "Authorization failed.";  // Kafka's words
      continue;
    }
    NewTopic nt;
    nt.name = t.name;
    nt.num_partitions = t.num_partitions;
    nt.replication_factor = t.replication_factor;
    for (const auto& a : t.assignments) nt.assignment[a.partition_index] = a.broker_ids;
    bool bad_config = false;
    for (const auto& c : t.configs) {
      if (!c.value) {
        bad_config = true;  // Kafka: a null config value is INVALID_CONFIG
        r.error_message = "config '" + c.name + "' has a null value";
        break;
      }
      nt.configs[c.name] = *c.value;
    }
    if (bad_config) {
      r.error_code = code(ErrorCode::kInvalidConfig);
      continue;
    }
    if (!req.validate_only && !mutations.admits()) {
      r.error_code = code(ErrorCode::kThrottlingQuotaExceeded);
      r.error_message = kThrottlingQuotaExceeded;
      continue;
    }
    CreatedTopic info;
    AdminResult result = ctx.services.topics->create_topic(nt, req.validate_only, &info);
    if (!result.ok()) {
      // Whether a topic the principal may not describe exists is not told.
      const bool hidden = result.error == ErrorCode::kTopicAlreadyExists &&
                          !auth.allows_topic(AclOperation::kDescribe, t.name);
      r.error_code = code(hidden ? ErrorCode::kTopicAuthorizationFailed : result.error);
      r.error_message = hidden ? std::optional<std::string>("Authorization failed.") : result.message;
      continue;
    }
    if (version >= 7 && !info.topic_id.empty()) {
      r.topic_id = protocol::Uuid::from_string(info.topic_id).value_or(protocol::Uuid{});
    }
    r.num_partitions = info.num_partitions;
    r.replication_factor = info.replication_factor;
    if (version >= 5 && !auth.allows_topic(AclOperation::kDescribeConfigs, t.name)) {
      // Kafka: created, but the configs are not the principal's to see.
      r.topic_config_error_code = code(ErrorCode::kTopicAuthorizationFailed);
      r.configs.reset();
    } else if (version >= 5) {
      r.configs.emplace();
      for (const auto& [key, value] : info.configs) {
        auto& c = r.configs->emplace_back();
        c.name = key;
        c.value = value;
        c.config_source = config_source(nt.configs, key);
      }
    }
    if (!req.validate_only) {
      created.emplace_back(t.name, info.num_partitions);
      mutations.record(info.num_partitions);
    }
  }
  when_metadata(
      ctx, req.timeout_ms,
      [created](const cluster::ClusterSnapshot& s) {
        for (const auto& [name, n] : created) {
          if (!topic_ready(s, name, n)) return false;
        }
        return true;
      },
      [resp, created, version, responder, metadata = ctx.services.metadata](bool) mutable {
        auto s = metadata->snapshot();
        for (auto& r : resp->topics) {
          for (const auto& [name, n] : created) {
            if (r.name == name && !topic_ready(*s, name, n)) r.error_code = code(ErrorCode::kRequestTimedOut);
          }
        }
        ByteWriter out;
        resp->encode(out, version);
        responder.send(out);
      });
  return {};
}

// --- DeleteTopics ---------------------------------------------------------------------------

Result<void> handle_delete_topics(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::DeleteTopicsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto resp = std::make_shared<protocol::DeleteTopicsResponse>();
  auto snapshot = ctx.services.metadata->snapshot();
  std::vector<std::pair<std::string, protocol::Uuid>> wanted;  // name (or ""), id
  if (version >= 6) {
    for (const auto& t : req.topics) wanted.emplace_back(t.name.value_or(""), t.topic_id);
  } else {
    for (const auto& n : req.topic_names) wanted.emplace_back(n, protocol::Uuid{});
  }
  std::vector<std::string> deleting;
  std::set<std::string> answered;
  RequestAuthorization auth(ctx);
  ControllerMutationQuota mutations(ctx);  // controller_mutation_rate (KIP-599)
  for (const auto& [name_in, id] : wanted) {
    auto& r = resp->responses.emplace_back();
    r.topic_id = id;
    std::string name = name_in;
    if (!name.empty() && !id.is_zero()) {
      // Kafka: a topic is named by one or the other, never both.
      r.name = name;
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "You may not specify both topic name and topic id.";
      continue;
    }
    if (name.empty() && !id.is_zero()) {
      const cluster::TopicInfo* t = snapshot->topic(id);
      if (!t) {
        r.name = std::nullopt;
        r.error_code = code(ErrorCode::kUnknownTopicId);
        continue;
      }
      name = t->name;
    }
    // Kafka's results are keyed by name: a topic asked for twice (by name, or
    // by name and id) is answered once.
    if (!answered.insert(name).second) {
      resp->responses.pop_back();
      continue;
    }
    r.name = name;
    // Named by id without DESCRIBE: the name stays untold (Kafka).
    if (name_in.empty() && !auth.allows_topic(AclOperation::kDescribe, name)) {
      r.name = std::nullopt;
      r.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      continue;
    }
    if (!auth.allows_topic(AclOperation::kDelete, name)) {
      r.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      continue;
    }
    const cluster::TopicInfo* topic = snapshot->topic(name);
    if (topic) r.topic_id = topic->id;
    if (!mutations.admits()) {
      r.error_code = code(ErrorCode::kThrottlingQuotaExceeded);
      r.error_message = kThrottlingQuotaExceeded;
      continue;
    }
    AdminResult result = ctx.services.topics->delete_topic(name);
    if (!result.ok()) {
      r.error_code = code(result.error);
      if (version >= 5) r.error_message = result.message;
      continue;
    }
    deleting.push_back(name);
    mutations.record(topic ? static_cast<int64_t>(topic->partitions.size()) : 0);
  }
  when_metadata(
      ctx, req.timeout_ms,
      [deleting](const cluster::ClusterSnapshot& s) {
        for (const auto& n : deleting) {
          if (s.topic(n)) return false;
        }
        return true;
      },
      [resp, deleting, version, responder, metadata = ctx.services.metadata](bool) mutable {
        auto s = metadata->snapshot();
        for (auto& r : resp->responses) {
          if (r.name && r.error_code == 0 && s->topic(*r.name)) r.error_code = code(ErrorCode::kRequestTimedOut);
        }
        ByteWriter out;
        resp->encode(out, version);
        responder.send(out);
      });
  return {};
}

// --- CreatePartitions --------------------------------------------------------------------------

Result<void> handle_create_partitions(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::CreatePartitionsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto resp = std::make_shared<protocol::CreatePartitionsResponse>();
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) ++seen[t.name];
  std::vector<std::pair<std::string, int32_t>> grown;
  std::set<std::string> answered_duplicates;
  RequestAuthorization auth(ctx);
  ControllerMutationQuota mutations(ctx);  // controller_mutation_rate (KIP-599)
  for (const auto& t : req.topics) {
    // A name given twice grows nothing and gets one result, as in Kafka.
    if (seen[t.name] > 1 && !answered_duplicates.insert(t.name).second) continue;
    auto& r = resp->results.emplace_back();
    r.name = t.name;
    if (seen[t.name] > 1) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "Duplicate topic in request.";
      continue;
    }
    if (!auth.allows_topic(AclOperation::kAlter, t.name)) {
      r.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      r.error_message = auth.denied_message(AclOperation::kAlter, ResourceType::kTopic, t.name);
      continue;
    }
    std::vector<std::vector<int32_t>> assignment;
    if (t.assignments) {
      for (const auto& a : *t.assignments) assignment.push_back(a.broker_ids);
    }
    if (!req.validate_only && !mutations.admits()) {
      r.error_code = code(ErrorCode::kThrottlingQuotaExceeded);
      r.error_message = kThrottlingQuotaExceeded;
      continue;
    }
    const cluster::TopicInfo* before = ctx.services.metadata->snapshot()->topic(t.name);
    const int64_t had = before ? static_cast<int64_t>(before->partitions.size()) : 0;
    AdminResult result = ctx.services.topics->create_partitions(t.name, t.count, assignment, req.validate_only);
    if (!result.ok()) {
      r.error_code = code(result.error);
      r.error_message = result.message;
      continue;
    }
    if (!req.validate_only) {
      grown.emplace_back(t.name, t.count);
      mutations.record(t.count - had);
    }
  }
  when_metadata(
      ctx, req.timeout_ms,
      [grown](const cluster::ClusterSnapshot& s) {
        for (const auto& [name, n] : grown) {
          if (!topic_ready(s, name, n)) return false;
        }
        return true;
      },
      [resp, grown, version, responder, metadata = ctx.services.metadata](bool) mutable {
        auto s = metadata->snapshot();
        for (auto& r : resp->results) {
          for (const auto& [name, n] : grown) {
            if (r.name == name && !topic_ready(*s, name, n)) r.error_code = code(ErrorCode::kRequestTimedOut);
          }
        }
        ByteWriter out;
        resp->encode(out, version);
        responder.send(out);
      });
  return {};
}

// --- DeleteRecords ---------------------------------------------------------------------------------

Result<void> handle_delete_records(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DeleteRecordsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  auto snapshot = ctx.services.metadata->snapshot();
  protocol::DeleteRecordsResponse resp;
  const int64_t now = ctx.now_ms();
  // Kafka gathers the request into one map keyed by partition: a topic or a
  // partition named twice is answered once, and the last offset asked wins.
  struct Asked {
    std::string topic;
    std::vector<std::pair<int32_t, int64_t>> partitions;  // (index, offset), first-seen order
  };
  std::vector<Asked> asked;
  std::map<std::string, size_t, std::less<>> topic_at;
  std::map<std::pair<size_t, int32_t>, size_t> partition_at;
  for (const auto& t : req.topics) {
    const size_t ti = topic_at.try_emplace(t.name, asked.size()).first->second;
    if (ti == asked.size()) asked.push_back({t.name, {}});
    auto& ps = asked[ti].partitions;
    for (const auto& p : t.partitions) {
      auto [at, fresh] = partition_at.try_emplace({ti, p.partition_index}, ps.size());
      if (fresh) ps.emplace_back(p.partition_index, p.offset);
      else ps[at->second].second = p.offset;
    }
  }
  RequestAuthorization auth(ctx);
  for (const auto& t : asked) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.topic;
    const bool deletable = auth.allows_topic(AclOperation::kDelete, t.topic);
    for (const auto& [index, offset] : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = index;
      rp.low_watermark = -1;
      if (!deletable) {
        rp.error_code = code(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (!snapshot->partition(t.topic, index)) {
        rp.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      auto partition = ctx.services.replicas->partition({t.topic, index});
      if (!partition || !partition->is_leader()) {
        rp.error_code = code(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      // -1 means "up to the high watermark"; beyond it is out of range.
      const int64_t hw = partition->high_watermark();
      const int64_t target = offset == -1 ? hw : offset;
      if (target < 0 || target > hw) {
        rp.error_code = code(ErrorCode::kOffsetOutOfRange);
        continue;
      }
      auto moved = partition->log().delete_records_before(target, now);
      if (!moved) {
        rp.error_code = static_cast<int16_t>(storage::kafka_error_code(moved.error()));
        continue;
      }
      rp.low_watermark = *moved;
      partition->log_start_moved(*moved);
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

// --- DescribeCluster ---------------------------------------------------------------------------------

Result<void> handle_describe_cluster(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeClusterRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  protocol::DescribeClusterResponse resp;
  auto snapshot = ctx.services.metadata->snapshot();
  resp.cluster_id = ctx.broker.cluster_id;
  resp.controller_id = snapshot->controller_id;
  resp.endpoint_type = req.endpoint_type;
  if (req.include_cluster_authorized_operations) {
    resp.cluster_authorized_operations = RequestAuthorization(ctx).cluster_operations();
  }
  if (req.endpoint_type != 1) {  // 1 = brokers; 2 = controllers (KRaft only)
    resp.error_code = code(ErrorCode::kUnsupportedEndpointType);
    resp.error_message = "only broker endpoints (1) are served";
  } else {
    for (const auto& [id, b] : snapshot->brokers) {
      for (const auto& ep : b.endpoints) {
        if (ep.listener_name != ctx.connection.listener_name) continue;
        auto& rb = resp.brokers.emplace_back();
        rb.broker_id = id;
        rb.host = ep.host;
        rb.port = ep.port;
        rb.rack = b.rack;
        break;
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

// --- DescribeLogDirs -----------------------------------------------------------------------------------

Result<void> handle_describe_log_dirs(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeLogDirsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  if (!cluster_allowed(ctx, AclOperation::kDescribe)) {
    // Kafka: no directories, and (v3+) the error.
    protocol::DescribeLogDirsResponse resp;
    resp.error_code = code(ErrorCode::kClusterAuthorizationFailed);
    resp.encode(out, ctx.api_version());
    return {};
  }
  std::set<storage::TopicPartition> wanted;
  if (req.topics) {
    for (const auto& t : *req.topics) {
      for (int32_t p : t.partitions) wanted.insert({t.topic, p});
    }
  }
  auto& logs = ctx.services.replicas->logs();
  const auto offline = logs.offline_dirs();
  std::map<std::string, std::map<std::string, std::vector<protocol::DescribeLogDirsResponse::DescribeLogDirsPartition>>>
      by_dir;
  for (const auto& dir : ctx.config.log_dirs) by_dir[dir];
  for (const auto& e : logs.logs()) {
    if (req.topics && !wanted.contains(e.tp)) continue;
    auto& p = by_dir[e.log_dir][e.tp.topic].emplace_back();
    p.partition_index = e.tp.partition;
    p.partition_size = e.log->size_bytes();
    auto partition = ctx.services.replicas->partition(e.tp);
    p.offset_lag = partition ? std::max<int64_t>(0, e.log->log_end_offset() - partition->high_watermark()) : 0;
  }
  protocol::DescribeLogDirsResponse resp;
  for (auto& [dir, topics] : by_dir) {
    auto& r = resp.results.emplace_back();
    r.log_dir = dir;
    if (std::find(offline.begin(), offline.end(), dir) != offline.end()) {
      r.error_code = code(ErrorCode::kKafkaStorageError);
      continue;
    }
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) == 0) {
      r.total_bytes = static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize);
      r.usable_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
    }
    for (auto& [name, parts] : topics) {
      auto& t = r.topics.emplace_back();
      t.name = name;
      t.partitions = std::move(parts);
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

// --- OffsetForLeaderEpoch ---------------------------------------------------------------------------------

Result<void> handle_offset_for_leader_epoch(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::OffsetForLeaderEpochRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  auto snapshot = ctx.services.metadata->snapshot();
  protocol::OffsetForLeaderEpochResponse resp;
  // KIP-320: a follower's CLUSTER_ACTION covers every topic; a consumer
  // (checking for truncation) needs DESCRIBE on each.
  RequestAuthorization auth(ctx);
  const bool replica = auth.allows_quietly(AclOperation::kClusterAction, ResourceType::kCluster,
                                           security::kClusterResourceName);
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.topic = t.topic;
    const bool describable = replica || auth.allows_topic(AclOperation::kDescribe, t.topic);
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition = p.partition;
      if (!describable) {
        rp.error_code = code(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (!snapshot->partition(t.topic, p.partition)) {
        rp.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      auto partition = ctx.services.replicas->partition({t.topic, p.partition});
      if (!partition || !partition->is_leader()) {
        rp.error_code = code(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      if (ErrorCode e = partition->check_leader_epoch(ctx.api_version() >= 2 ? p.current_leader_epoch : -1);
          e != ErrorCode::kNone) {
        rp.error_code = code(e);
        continue;
      }
      // The leader-epoch cache (leader-epoch-checkpoint): Kafka's answer.
      const auto [epoch, end] = partition->end_offset_for_epoch(p.leader_epoch);
      rp.leader_epoch = epoch;
      rp.end_offset = end;
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
