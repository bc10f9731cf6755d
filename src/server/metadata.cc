// Metadata: the live brokers (each with its endpoint on the listener the
// client used), the controller, and the topics asked for (all when the list
// is null) from the metadata cache. An unknown topic is created when
// auto.create.topics.enable and the request allow it (v4+), and answered
// LEADER_NOT_AVAILABLE until its leader is elected, as Kafka does.
//
// v8+: the authorized operations of each topic (and, v8-10, of the cluster)
// when the request asks for them. v10-11 carry topic ids but may not look up
// by them: a non-zero id there is INVALID_REQUEST, as in Kafka; v12 may.
//
// With an authorizer (Kafka's rules): topics the principal may not DESCRIBE
// are left out of an all-topics answer and answered TOPIC_AUTHORIZATION_FAILED
// when named, so that a refusal does not tell whether the topic exists;
// auto-creation needs CREATE on the cluster or on the topic.

#include <set>
#include <string>

#include "cluster/metadata_cache.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "cluster/topic_admin.h"

namespace keel::server {

using cluster::AdminResult;
using cluster::NewTopic;
using protocol::ErrorCode;
using protocol::MetadataRequest;
using protocol::MetadataResponse;

namespace {

void fill_topic(MetadataResponse::MetadataResponseTopic& rt, const cluster::TopicInfo& topic,
                const cluster::ClusterSnapshot& snapshot) {
  rt.name = topic.name;
  rt.topic_id = topic.id;
  rt.is_internal = topic.internal;
  for (const auto& p : topic.partitions) {
    auto& rp = rt.partitions.emplace_back();
    rp.partition_index = p.partition;
    rp.leader_id = p.leader;
    rp.leader_epoch = p.leader_epoch;
    rp.replica_nodes = p.replicas;
    rp.isr_nodes = p.isr;
    rp.offline_replicas = p.offline_replicas;
    if (p.leader < 0 || !snapshot.brokers.contains(p.leader)) {
      rp.error_code = static_cast<int16_t>(ErrorCode::kLeaderNotAvailable);
      rp.leader_id = -1;
    }
  }
}

}  // namespace

Result<void> handle_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  MetadataRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto snapshot = ctx.services.metadata->snapshot();

  MetadataResponse resp;
  // Kafka refuses the whole request (its error response: every topic asked
  // for, no brokers) when v10-11 name a topic id.
  if (version < 12 && req.topics) {
    for (const auto& t : *req.topics) {
      if (t.topic_id.is_zero()) continue;
      for (const auto& asked : *req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = asked.name.value_or("");
        rt.topic_id = asked.topic_id;
        rt.error_code = static_cast<int16_t>(ErrorCode::kInvalidRequest);
      }
      resp.encode(out, version);
      return {};
    }
  }
  // Advertise each broker's endpoint for the listener the client connected
  // on, as Kafka does, so a client on an internal listener is not sent to an
  // external one.
  for (const auto& [id, broker] : snapshot->brokers) {
    for (const auto& ep : broker.endpoints) {
      if (ep.listener_name != ctx.connection.listener_name) continue;
      auto& b = resp.brokers.emplace_back();
      b.node_id = id;
      b.host = ep.host;
      b.port = ep.port;
      b.rack = broker.rack;
      break;
    }
  }
  resp.cluster_id = ctx.broker.cluster_id;
  resp.controller_id = snapshot->controller_id;

  RequestAuthorization auth(ctx);
  // v0 has no null list: an empty list means "all topics" there.
  const bool all_topics = !req.topics || (version == 0 && req.topics->empty());
  if (all_topics) {
    for (const auto& [name, topic] : snapshot->topics) {
      if (topic.deleting()) continue;
      // Hidden, not refused: Kafka logs nothing for these either.
      if (!auth.allows_quietly(security::AclOperation::kDescribe, security::ResourceType::kTopic, name)) continue;
      fill_topic(resp.topics.emplace_back(), topic, *snapshot);
    }
  } else {
    const bool may_create = ctx.config.auto_create_topics_enable &&
                            (version < 4 || req.allow_auto_topic_creation) && ctx.services.topics;
    // Kafka answers each topic asked for once, however often it is named.
    std::set<std::string> names_answered;
    std::set<protocol::Uuid> ids_answered;
    // CREATE on the cluster covers every topic; asked once, and only when
    // something is to be created.
    std::optional<bool> may_create_any;
    for (const auto& t : *req.topics) {
      const bool first = t.name ? names_answered.insert(*t.name).second
                                : ids_answered.insert(t.topic_id).second;
      if (!first) continue;
      auto& rt = resp.topics.emplace_back();
      const cluster::TopicInfo* topic = nullptr;
      if (t.name) {
        topic = snapshot->topic(*t.name);
      } else if (!t.topic_id.is_zero()) {
        topic = snapshot->topic(t.topic_id);
      }
      if (topic && !auth.allows_topic(security::AclOperation::kDescribe, topic->name)) {
        // Named by id: the name is not the principal's to learn.
        rt.name = t.name ? t.name : (version < 12 ? std::optional<std::string>("") : std::nullopt);
        rt.topic_id = t.topic_id;
        rt.error_code = static_cast<int16_t>(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (!topic && t.name && !auth.allows_topic(security::AclOperation::kDescribe, *t.name)) {
        rt.name = t.name;
        rt.error_code = static_cast<int16_t>(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (topic && !topic->deleting()) {
        fill_topic(rt, *topic, *snapshot);
        continue;
      }
      rt.name = t.name;
      // Response names are nullable only from v12.
      if (!rt.name && version < 12) rt.name = "";
      rt.topic_id = t.topic_id;
      if (!t.name) {
        rt.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicId);
        continue;
      }
      // A broker that has not heard from the controller yet (just started
      // or re-registered) knows no topic: "not available yet", which clients
      // retry, rather than "unknown" or an auto-create with no brokers.
      if (snapshot->brokers.empty()) {
        rt.error_code = static_cast<int16_t>(ErrorCode::kLeaderNotAvailable);
        continue;
      }
      rt.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
      if (may_create && !(topic && topic->deleting())) {
        if (!may_create_any) {
          may_create_any = auth.allows_quietly(security::AclOperation::kCreate, security::ResourceType::kCluster,
                                               security::kClusterResourceName);
        }
        if (!*may_create_any && !auth.allows_topic(security::AclOperation::kCreate, *t.name)) {
          rt.error_code = static_cast<int16_t>(ErrorCode::kTopicAuthorizationFailed);
          continue;
        }
        NewTopic nt;
        nt.name = *t.name;
        AdminResult created = ctx.services.topics->create_topic(nt, false, nullptr);
        if (created.ok() || created.error == ErrorCode::kTopicAlreadyExists) {
          rt.error_code = static_cast<int16_t>(ErrorCode::kLeaderNotAvailable);
        } else if (created.error == ErrorCode::kInvalidTopicException) {
          rt.error_code = static_cast<int16_t>(ErrorCode::kInvalidTopicException);
        } else {
          keel::logger("server")->warn("auto-creating topic '{}' failed: {}", *t.name, created.message);
        }
      }
    }
  }
  if (version >= 8 && version <= 10 && req.include_cluster_authorized_operations) {
    resp.cluster_authorized_operations = auth.cluster_operations();
  }
  if (version >= 8 && req.include_topic_authorized_operations) {
    // Topics answered by name, found or not; an unknown id and a refused
    // topic keep the default.
    for (auto& rt : resp.topics) {
      if (!rt.name || rt.error_code == static_cast<int16_t>(ErrorCode::kTopicAuthorizationFailed)) continue;
      rt.topic_authorized_operations = auth.operations(security::ResourceType::kTopic, *rt.name);
    }
  }
  resp.encode(out, version);
  return {};
}

}  // namespace keel::server
