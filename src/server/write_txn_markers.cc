// WriteTxnMarkers (API 27, v0-1): the transaction coordinator (or an admin
// client aborting a hanging transaction, KIP-664) asks the partition leaders
// to end a producer's transaction. Per marker and partition this broker
// appends a COMMIT or ABORT control batch under the marker's coordinator
// epoch (Partition::append_txn_marker), which closes the producer's open
// transaction there (a producer with none open gets the marker anyway, as
// Kafka writes it), and answers once the high watermark has passed it:
// markers are written with acks=all, as Kafka's coordinator appends them.
//
// Per partition, as Kafka's KafkaApis.handleWriteTxnMarkersRequest answers:
// UNKNOWN_TOPIC_OR_PARTITION (not hosted here), NOT_LEADER_OR_FOLLOWER,
// NOT_ENOUGH_REPLICAS (before the append), NOT_ENOUGH_REPLICAS_AFTER_APPEND
// (the ISR shrank below min.insync.replicas while waiting), REQUEST_TIMED_OUT
// (not replicated within Kafka's request.timeout.ms default),
// INVALID_PRODUCER_EPOCH (older than the producer's), and
// TRANSACTION_COORDINATOR_FENCED (a coordinator epoch older than the last one
// the partition saw for that producer). The caller must be allowed ALTER or
// CLUSTER_ACTION on the cluster, else every partition is
// CLUSTER_AUTHORIZATION_FAILED.
//
// For __consumer_offsets partitions whose marker was replicated the group
// coordinator is told (GroupCoordinator::on_transaction_completed), so the
// producer's transactional offset commits become committed offsets or are
// dropped — after replication, as Kafka does it.
//
// The answer has one entry per producer id (Kafka keys its response by
// producer id), in the order the request first names them.
//
// The body is write_txn_markers (server/txn_marker_writes.h): this broker's
// own transaction coordinator calls it directly for the partitions it leads.

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/replica_manager.h"
#include "common/log.h"
#include "group/coordinator.h"
#include "group/offsets_log.h"
#include "protocol/error_code.h"
#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/services.h"
#include "server/txn_marker_writes.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using protocol::WriteTxnMarkersRequest;
using protocol::WriteTxnMarkersResponse;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("txn");
  return l;
}

// How long a marker waits for the ISR: Kafka appends markers with its
// request.timeout.ms, 30 s by default (Keel has no such broker key).
constexpr int64_t kReplicationTimeoutMs = 30000;

// One partition of one marker.
struct MarkerWrite {
  size_t marker = 0;  // index into PendingMarkers::markers
  std::string topic;
  int32_t partition = 0;
  ErrorCode error = ErrorCode::kNone;
  // Set while the marker waits for the high watermark.
  std::shared_ptr<cluster::Partition> replica;
  int64_t marker_offset = -1;
  uint64_t leader_term = 0;
};

struct MarkerHeader {
  int64_t producer_id;
  bool commit;
};

// The request's state until every marker is replicated (or failed).
struct PendingMarkers {
  std::vector<MarkerHeader> markers;
  std::vector<MarkerWrite> writes;
  MarkersAnswer answer;
  group::GroupCoordinator* groups;

  PendingMarkers(MarkersAnswer a, group::GroupCoordinator* g) : answer(std::move(a)), groups(g) {}

  bool waiting(const MarkerWrite& w) const {
    return w.replica && w.replica->leads_in_term(w.leader_term) && w.replica->high_watermark() <= w.marker_offset;
  }
  bool all_replicated() const {
    return std::none_of(writes.begin(), writes.end(), [&](const MarkerWrite& w) { return waiting(w); });
  }

  // The outcome of each waiting write (Kafka's DelayedProduce), the group
  // coordinator's part, then the answer. Runs once.
  void finish(bool expired) {
    for (auto& w : writes) {
      if (!w.replica) continue;
      auto replica = std::move(w.replica);
      if (!replica->leads_in_term(w.leader_term)) {
        // Leadership moved: the marker may have been truncated away.
        w.error = ErrorCode::kNotLeaderOrFollower;
      } else if (replica->high_watermark() <= w.marker_offset) {
        w.error = expired ? ErrorCode::kRequestTimedOut : ErrorCode::kNotLeaderOrFollower;
      } else if (static_cast<int32_t>(replica->leader_state().isr.size()) <
                 replica->config()->min_insync_replicas) {
        w.error = ErrorCode::kNotEnoughReplicasAfterAppend;
      }
    }
    complete_offsets_transactions();
    send();
  }

  void complete_offsets_transactions() {
    if (!groups) return;
    for (size_t m = 0; m < markers.size(); ++m) {
      std::vector<int32_t> partitions;
      for (const auto& w : writes) {
        if (w.marker == m && w.error == ErrorCode::kNone && w.topic == group::kOffsetsTopic) {
          partitions.push_back(w.partition);
        }
      }
      if (partitions.empty()) continue;
      groups->on_transaction_completed(markers[m].producer_id, partitions, markers[m].commit);
    }
  }

  void send() {
    WriteTxnMarkersResponse resp;
    for (const auto& w : writes) {
      const int64_t pid = markers[w.marker].producer_id;
      auto result = std::find_if(resp.markers.begin(), resp.markers.end(),
                                 [&](const auto& r) { return r.producer_id == pid; });
      if (result == resp.markers.end()) {
        result = resp.markers.emplace(resp.markers.end());
        result->producer_id = pid;
      }
      auto topic = std::find_if(result->topics.begin(), result->topics.end(),
                                [&](const auto& t) { return t.name == w.topic; });
      if (topic == result->topics.end()) {
        topic = result->topics.emplace(result->topics.end());
        topic->name = w.topic;
      }
      // A partition named twice for one producer: the later outcome stands.
      auto part = std::find_if(topic->partitions.begin(), topic->partitions.end(),
                               [&](const auto& p) { return p.partition_index == w.partition; });
      if (part == topic->partitions.end()) {
        part = topic->partitions.emplace(topic->partitions.end());
        part->partition_index = w.partition;
      }
      part->error_code = static_cast<int16_t>(w.error);
    }
    answer(std::move(resp));
  }
};

// Appends one marker to one partition; sets the write's error, or its
// replica and offset when it must wait for the ISR.
void append_marker(cluster::ReplicaManager& replicas, const WriteTxnMarkersRequest::WritableTxnMarker& marker,
                   MarkerWrite& w, int64_t now_ms) {
  auto replica = replicas.partition({w.topic, w.partition});
  if (!replica) {
    w.error = ErrorCode::kUnknownTopicOrPartition;
    return;
  }
  cluster::AppendOutcome appended = replica->append_txn_marker(
      marker.producer_id, marker.producer_epoch, marker.transaction_result, marker.coordinator_epoch, now_ms);
  if (appended.error != ErrorCode::kNone) {
    w.error = appended.error;
    // Leadership and ISR changes are retried by the coordinator and pass;
    // a fenced marker or a storage error is worth a line.
    const bool passing =
        appended.error == ErrorCode::kNotLeaderOrFollower || appended.error == ErrorCode::kNotEnoughReplicas;
    log()->log(passing ? spdlog::level::debug : spdlog::level::info,
               "{} marker for producer {} (epoch {}, coordinator epoch {}) on {}-{} refused: {} {}",
               marker.transaction_result ? "COMMIT" : "ABORT", marker.producer_id, marker.producer_epoch,
               marker.coordinator_epoch, w.topic, w.partition, protocol::error_name(appended.error),
               appended.message);
    return;
  }
  w.replica = std::move(replica);
  w.marker_offset = appended.last_offset;
  w.leader_term = appended.leader_term;
}

}  // namespace

void write_txn_markers(Services& services, const WriteTxnMarkersRequest& req, bool allowed, int64_t now_ms,
                       MarkersAnswer answer) {
  auto pending = std::make_shared<PendingMarkers>(std::move(answer), services.groups);
  for (const auto& marker : req.markers) {
    const size_t index = pending->markers.size();
    pending->markers.push_back({marker.producer_id, marker.transaction_result});
    const size_t first_write = pending->writes.size();
    for (const auto& topic : marker.topics) {
      for (int32_t p : topic.partition_indexes) {
        MarkerWrite w;
        w.marker = index;
        w.topic = topic.name;
        w.partition = p;
        // One marker per partition, however often the marker names it.
        const bool repeated = std::any_of(pending->writes.begin() + static_cast<ptrdiff_t>(first_write),
                                          pending->writes.end(), [&](const MarkerWrite& o) {
                                            return o.topic == w.topic && o.partition == w.partition;
                                          });
        if (repeated) continue;
        if (!allowed) {
          w.error = ErrorCode::kClusterAuthorizationFailed;
        } else {
          append_marker(*services.replicas, marker, w, now_ms);
        }
        pending->writes.push_back(std::move(w));
      }
    }
  }
  if (pending->all_replicated()) {
    pending->finish(/*expired=*/false);
    return;
  }
  // acks=all: wait until the high watermark passes every marker (or a
  // leadership moves, which also wakes the purgatory), or the timeout.
  std::vector<storage::TopicPartition> watched;
  for (const auto& w : pending->writes) {
    if (w.replica) watched.push_back(w.replica->tp());
  }
  auto& purgatory = services.replicas->fetch_purgatory();
  purgatory.add(
      std::move(watched), purgatory.now() + kReplicationTimeoutMs, [pending] { return pending->all_replicated(); },
      [pending](bool expired) { pending->finish(expired); });
}

Result<void> handle_write_txn_markers(RequestContext& ctx, ByteReader& body, Responder responder) {
  WriteTxnMarkersRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  // Kafka 3.x: ALTER on the cluster (asked quietly), else CLUSTER_ACTION.
  RequestAuthorization auth(ctx);
  const bool allowed =
      auth.allows_quietly(security::AclOperation::kAlter, security::ResourceType::kCluster,
                          security::kClusterResourceName) ||
      auth.allows_cluster(security::AclOperation::kClusterAction);
  write_txn_markers(ctx.services, req, allowed, ctx.now_ms(),
                    [responder, version = ctx.api_version()](WriteTxnMarkersResponse resp) mutable {
                      send_encoded(responder, resp, version);
                    });
  return {};
}

}  // namespace keel::server
