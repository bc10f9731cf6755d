// DescribeProducers (API 61, v0, KIP-664): per partition, the producers its
// leader's producer state holds, with each one's epoch, last sequence, last
// timestamp, the coordinator epoch of its last marker and the first offset of
// its open transaction (-1 when none) — what `kafka-transactions.sh
// describe-producers`, `find-hanging` and `abort --start-offset` read.
//
// Per partition, as Kafka's KafkaApis and ReplicaManager.activeProducerState
// answer: TOPIC_AUTHORIZATION_FAILED without READ on the topic,
// UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such partition,
// NOT_LEADER_OR_FOLLOWER unless this broker leads it.

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "protocol/error_code.h"
#include "protocol/generated/describe_producers_request.h"
#include "protocol/generated/describe_producers_response.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {

using protocol::DescribeProducersRequest;
using protocol::DescribeProducersResponse;
using protocol::ErrorCode;

Result<void> handle_describe_producers(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  DescribeProducersRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  auto snapshot = ctx.services.metadata->snapshot();
  RequestAuthorization auth(ctx);
  DescribeProducersResponse resp;
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    const bool readable = auth.allows_topic(security::AclOperation::kRead, topic.name);
    for (int32_t index : topic.partition_indexes) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = index;
      auto fail = [&](ErrorCode code) { rp.error_code = static_cast<int16_t>(code); };
      if (!readable) {
        fail(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (!snapshot->partition(topic.name, index)) {
        fail(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      auto partition = ctx.services.replicas->partition({topic.name, index});
      if (!partition || !partition->is_leader()) {
        fail(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      for (const cluster::ProducerView& p : partition->producers()) {
        auto& state = rp.active_producers.emplace_back();
        state.producer_id = p.producer_id;
        state.producer_epoch = p.producer_epoch;
        state.last_sequence = p.last_sequence;
        state.last_timestamp = p.last_timestamp;
        state.coordinator_epoch = p.coordinator_epoch;
        state.current_txn_start_offset = p.current_txn_start_offset;
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
