// DescribeTopicPartitions (KIP-966, key 75): the partitions of topics, paged.
// Kafka serves it only on KRaft brokers, but the 3.8+ admin client prefers it
// to Metadata when a broker advertises it, and it reads the same metadata
// cache, so keel serves it on the Metadata handler's view of the topics.
//
// Kafka's rules (DescribeTopicPartitionsRequestHandler, 3.9): an empty topic
// list means every topic, internal ones included; the topics are answered
// once each, sorted by name, from the cursor's topic and partition on; at
// most response_partition_limit partitions (clamped to 1..2000, Kafka's
// max.request.partition.size.limit default) are answered, and next_cursor
// then names the first partition left out. A topic asked for by name that
// does not exist is UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for
// an illegal name); a cursor whose topic is not among the named ones, or whose
// partition is negative, makes the request INVALID_REQUEST. Eligible leader
// replicas (KIP-966's ELR) do not exist without KRaft: empty lists.

#include <algorithm>
#include <set>
#include <string>

#include "cluster/metadata_cache.h"
#include "controller/controller.h"
#include "protocol/error_code.h"
#include "protocol/generated/describe_topic_partitions_request.h"
#include "protocol/generated/describe_topic_partitions_response.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {

using protocol::DescribeTopicPartitionsRequest;
using protocol::DescribeTopicPartitionsResponse;
using protocol::ErrorCode;

namespace {

// Kafka's max.request.partition.size.limit default.
constexpr int32_t kMaxPartitionsPerResponse = 2000;

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

DescribeTopicPartitionsResponse::DescribeTopicPartitionsResponsePartition describe_partition(
    const cluster::PartitionInfo& p, const cluster::ClusterSnapshot& snapshot) {
  DescribeTopicPartitionsResponse::DescribeTopicPartitionsResponsePartition rp;
  rp.partition_index = p.partition;
  rp.leader_id = p.leader;
  rp.leader_epoch = p.leader_epoch;
  rp.replica_nodes = p.replicas;
  rp.isr_nodes = p.isr;
  rp.eligible_leader_replicas = std::vector<int32_t>{};
  rp.last_known_elr = std::vector<int32_t>{};
  rp.offline_replicas = p.offline_replicas;
  // As Metadata answers it: a leader that is not a live broker is none.
  if (p.leader < 0 || !snapshot.brokers.contains(p.leader)) {
    rp.error_code = code(ErrorCode::kLeaderNotAvailable);
    rp.leader_id = -1;
  }
  return rp;
}

}  // namespace

Result<void> handle_describe_topic_partitions(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  DescribeTopicPartitionsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  auto snapshot = ctx.services.metadata->snapshot();
  DescribeTopicPartitionsResponse resp;

  const bool all_topics = req.topics.empty();
  const std::string from_topic = req.cursor ? req.cursor->topic_name : "";
  std::set<std::string> names;  // sorted, each once
  RequestAuthorization auth(ctx);
  if (all_topics) {
    // As Metadata: topics the principal may not DESCRIBE are left out.
    for (const auto& [name, topic] : snapshot->topics) {
      if (!topic.deleting() && name >= from_topic &&
          auth.allows_quietly(security::AclOperation::kDescribe, security::ResourceType::kTopic, name))
        names.insert(name);
    }
  } else {
    for (const auto& t : req.topics) {
      if (t.name >= from_topic) names.insert(t.name);
    }
  }
  if (req.cursor && (req.cursor->partition_index < 0 || (!all_topics && !names.contains(req.cursor->topic_name)))) {
    for (const auto& t : req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      rt.error_code = code(ErrorCode::kInvalidRequest);
    }
    resp.encode(out, ctx.api_version());
    return {};
  }

  int32_t remaining = std::clamp(req.response_partition_limit, 1, kMaxPartitionsPerResponse);
  for (const auto& name : names) {
    if (remaining == 0) {
      // The page is full: the next one starts at this topic.
      resp.next_cursor.emplace().topic_name = name;
      resp.next_cursor->partition_index = 0;
      break;
    }
    const cluster::TopicInfo* topic = snapshot->topic(name);
    if (topic && topic->deleting()) topic = nullptr;
    auto& rt = resp.topics.emplace_back();
    rt.name = name;
    if (!auth.allows_topic(security::AclOperation::kDescribe, name)) {
      // Named without DESCRIBE: refused whether it exists or not.
      rt.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      continue;
    }
    rt.topic_authorized_operations = auth.operations(security::ResourceType::kTopic, name);
    if (!topic) {
      rt.is_internal = name == "__consumer_offsets" || name == "__transaction_state";
      rt.error_code = controller::Controller::check_topic_name(name).empty()
                          ? code(ErrorCode::kUnknownTopicOrPartition)
                          : code(ErrorCode::kInvalidTopicException);
      continue;
    }
    rt.topic_id = topic->id;
    rt.is_internal = topic->internal;
    const int32_t count = static_cast<int32_t>(topic->partitions.size());
    const int32_t first = req.cursor && name == req.cursor->topic_name ? req.cursor->partition_index : 0;
    const int32_t end = static_cast<int32_t>(std::min<int64_t>(count, int64_t{first} + remaining));
    for (int32_t i = first; i < end; ++i) {
      rt.partitions.push_back(describe_partition(topic->partitions[static_cast<size_t>(i)], *snapshot));
    }
    if (end < count) {
      // Cut inside this topic: the next page resumes at its next partition.
      resp.next_cursor.emplace().topic_name = name;
      resp.next_cursor->partition_index = end;
      break;
    }
    remaining -= std::max(0, end - first);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
