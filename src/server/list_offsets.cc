// ListOffsets: earliest (-2), latest (-1: the high watermark, or the last
// stable offset for read_committed, v2+; timestamp lookups are bounded the
// same way), max timestamp (-3, v7+), earliest local
// (-4, v8+: the log start, as nothing is tiered), latest tiered (-5, v9+: -1,
// as Kafka answers without remote storage) and the first offset at or after a
// timestamp (v1+). v0 answers with old_style_offsets. Each offset comes with
// the leader epoch it was written in (the leader-epoch cache), as Kafka's
// answer carries the batch's epoch; latest carries the current epoch.

#include <map>
#include <string>
#include <utility>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "protocol/error_code.h"
#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "storage/errors.h"

namespace keel::server {

using protocol::ErrorCode;
using protocol::ListOffsetsRequest;
using protocol::ListOffsetsResponse;

namespace {
constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;
constexpr int64_t kEarliestLocal = -4;
constexpr int64_t kLatestTiered = -5;
}  // namespace

Result<void> handle_list_offsets(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  ListOffsetsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto snapshot = ctx.services.metadata->snapshot();
  // Kafka (v1+) answers INVALID_REQUEST for every entry of a partition that
  // the request names more than once, across topic entries too.
  std::map<std::pair<std::string, int32_t>, int> named;
  if (version >= 1) {
    for (const auto& topic : req.topics)
      for (const auto& p : topic.partitions) ++named[{topic.name, p.partition_index}];
  }
  ListOffsetsResponse resp;
  RequestAuthorization auth(ctx);
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    const bool describable = auth.allows_topic(security::AclOperation::kDescribe, topic.name);
    for (const auto& p : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      auto fail = [&](ErrorCode code) {
        rp.error_code = static_cast<int16_t>(code);
        rp.offset = -1;
        rp.timestamp = -1;
      };
      if (!describable) {
        fail(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      if (version >= 1 && named[{topic.name, p.partition_index}] > 1) {
        fail(ErrorCode::kInvalidRequest);
        continue;
      }
      if (!snapshot->partition(topic.name, p.partition_index)) {
        fail(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      auto partition = ctx.services.replicas->partition({topic.name, p.partition_index});
      if (!partition || !partition->is_leader()) {
        fail(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      if (version >= 4) {
        if (ErrorCode e = partition->check_leader_epoch(p.current_leader_epoch); e != ErrorCode::kNone) {
          fail(e);
          continue;
        }
      }
      const int32_t epoch = partition->leader_state().leader_epoch;
      // Kafka's lastFetchableOffset: followers (replica_id >= 0) may see up to
      // the log end, read_uncommitted clients up to the high watermark,
      // read_committed ones (v2+) up to the last stable offset. Latest answers
      // it; timestamp lookups answer only offsets below it.
      const bool read_committed = version >= 2 && req.isolation_level == 1;
      const int64_t visible_end = req.replica_id >= 0 ? partition->log_end_offset()
                                  : read_committed     ? partition->last_stable_offset()
                                                       : partition->high_watermark();
      if (p.timestamp == kLatest) {
        rp.offset = visible_end;
        rp.timestamp = -1;
        rp.leader_epoch = epoch;
      } else if (p.timestamp == kEarliest || (p.timestamp == kEarliestLocal && version >= 8)) {
        // Nothing is tiered: the local log starts where the log does.
        rp.offset = partition->log_start_offset();
        rp.timestamp = -1;
        rp.leader_epoch = partition->epoch_for_offset(rp.offset);
      } else if (p.timestamp == kLatestTiered && version >= 9) {
        rp.offset = -1;
        rp.timestamp = -1;
        rp.leader_epoch = -1;
      } else if (p.timestamp == kMaxTimestamp && version >= 7) {
        auto hit = partition->log().max_timestamp_offset();
        if (!hit) {
          fail(static_cast<ErrorCode>(storage::kafka_error_code(hit.error())));
          continue;
        }
        rp.offset = *hit && (*hit)->offset < visible_end ? (*hit)->offset : -1;
        rp.timestamp = *hit && (*hit)->offset < visible_end ? (*hit)->timestamp : -1;
        rp.leader_epoch = rp.offset >= 0 ? partition->epoch_for_offset(rp.offset) : -1;
      } else if (p.timestamp < 0) {
        fail(ErrorCode::kInvalidRequest);
        continue;
      } else if (version == 0) {
        // v0 asks for offsets before a time; Keel answers the log start, as
        // the closest it keeps (segment boundaries are not exposed).
        rp.offset = partition->log_start_offset();
      } else {
        auto hit = partition->log().offset_for_timestamp(p.timestamp);
        if (!hit) {
          fail(static_cast<ErrorCode>(storage::kafka_error_code(hit.error())));
          continue;
        }
        if (*hit && (*hit)->offset < visible_end) {
          rp.offset = (*hit)->offset;
          rp.timestamp = (*hit)->timestamp;
          rp.leader_epoch = partition->epoch_for_offset(rp.offset);
        } else {
          rp.offset = -1;
          rp.timestamp = -1;
        }
      }
      if (version == 0) {
        if (p.max_num_offsets > 0 && rp.error_code == 0) rp.old_style_offsets = {rp.offset};
      }
    }
  }
  resp.encode(out, version);
  return {};
}

}  // namespace keel::server
