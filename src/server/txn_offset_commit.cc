// TxnOffsetCommit (API 28, v0-v3): a transactional producer commits a
// consumer group's offsets inside its transaction (send_offsets_to_transaction
// after AddOffsetsToTxn). The group coordinator writes them to the group's
// __consumer_offsets partition as a transactional batch of the producer and
// keeps them pending until the transaction's marker (group/coordinator.h);
// the answer comes once the batch is replicated.
//
// Kafka's KafkaApis.handleTxnOffsetCommitRequest: WRITE on the transactional
// id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition), READ
// on the group (GROUP_AUTHORIZATION_FAILED), READ on each topic
// (TOPIC_AUTHORIZATION_FAILED for its partitions), an unknown topic or
// partition UNKNOWN_TOPIC_OR_PARTITION. v3 (KIP-447) carries the member, its
// instance id and generation for the coordinator to check. Before v2 a
// loading coordinator answers COORDINATOR_NOT_AVAILABLE (clients before
// KAFKA-7296 treat the loading error as fatal).
//
// KIP-890 part 1, as Kafka 3.6+ does for offset commits too: before the
// producer's first transactional write to the group's __consumer_offsets
// partition the transaction coordinator must confirm the partition is in
// its transaction (AddOffsetsToTxn), so a late TxnOffsetCommit cannot open a
// transaction there that no marker will end. A coordinator on another
// broker is asked and the commit waits for its answer (at most
// offsets.commit.timeout.ms), as Kafka's GroupCoordinator waits for
// AddPartitionsToTxnManager: answering at once with a retriable error made
// every transaction's first commit fail once where the transaction and
// group coordinators differ, and kafkajs 2.2 gives up on that error.

#include <functional>
#include <memory>
#include <vector>

#include "cluster/metadata_cache.h"
#include "cluster/record_validation.h"
#include "cluster/replica_manager.h"
#include "group/coordinator.h"
#include "group/offsets_log.h"
#include "protocol/error_code.h"
#include "protocol/generated/txn_offset_commit_request.h"
#include "protocol/generated/txn_offset_commit_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/services.h"
#include "server/txn_verification.h"

namespace keel::server {

using protocol::ErrorCode;
using security::AclOperation;
using security::ResourceType;

namespace {

int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

// Every partition of the request answered with `e`.
protocol::TxnOffsetCommitResponse answer_all(const protocol::TxnOffsetCommitRequest& req, ErrorCode e) {
  protocol::TxnOffsetCommitResponse resp;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) rt.partitions.push_back({p.partition_index, code(e), {}});
  }
  return resp;
}

// Kafka's maybeConvertOffsetCommitError and GroupMetadataManager's mapping
// of a verification failure, as the client gets it.
ErrorCode verification_error(ErrorCode e) {
  switch (e) {
    case ErrorCode::kNetworkException: return ErrorCode::kCoordinatorLoadInProgress;
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend: return ErrorCode::kCoordinatorNotAvailable;
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kKafkaStorageError: return ErrorCode::kNotCoordinator;
    default: return e;
  }
}

// KIP-890's check of the group's __consumer_offsets partition, where this
// broker leads it (elsewhere the coordinator answers NOT_COORDINATOR anyway).
// Calls `then` with the client's error (NONE: commit), at once or, when the
// transaction coordinator is on another broker, once it has answered.
void verify_offsets_partition(RequestContext& ctx, const protocol::TxnOffsetCommitRequest& req,
                              std::function<void(ErrorCode)> then) {
  const Services& s = ctx.services;
  if (!s.txn_verifier || !s.replicas || !ctx.config.transaction_partition_verification_enable) {
    then(ErrorCode::kNone);
    return;
  }
  auto partition = s.replicas->partition({group::kOffsetsTopic, s.groups->partition_for(req.group_id)});
  if (!partition || !partition->is_leader()) {
    then(ErrorCode::kNone);
    return;
  }
  cluster::ValidatedRecords batch;
  batch.producer_id = req.producer_id;
  batch.producer_epoch = req.producer_epoch;
  batch.transactional = true;
  auto known = s.txn_verifier->verify(req.transactional_id, batch, *partition, ctx.config.offsets_commit_timeout_ms,
                                      [then](ErrorCode e) { then(verification_error(e)); });
  if (known) then(verification_error(*known));
}

}  // namespace

Result<void> handle_txn_offset_commit(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::TxnOffsetCommitRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  RequestAuthorization auth(ctx);
  if (!auth.allows(AclOperation::kWrite, ResourceType::kTransactionalId, req.transactional_id)) {
    send_encoded(responder, answer_all(req, ErrorCode::kTransactionalIdAuthorizationFailed), version);
    return {};
  }
  if (!auth.allows_group(AclOperation::kRead, req.group_id)) {
    send_encoded(responder, answer_all(req, ErrorCode::kGroupAuthorizationFailed), version);
    return {};
  }
  group::CommitRequest cr;
  cr.group_id = req.group_id;
  cr.producer_id = req.producer_id;
  cr.producer_epoch = req.producer_epoch;
  if (version >= 3) {
    cr.generation = req.generation_id;
    cr.member_id = req.member_id;
    cr.group_instance_id = req.group_instance_id;
  }
  auto shared = std::make_shared<protocol::TxnOffsetCommitResponse>();
  protocol::TxnOffsetCommitResponse& resp = *shared;
  auto snapshot = ctx.services.metadata->snapshot();
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    const bool readable = auth.allows_topic(AclOperation::kRead, t.name);
    const cluster::TopicInfo* topic = snapshot->topic(t.name);
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      if (!readable) {
        rp.error_code = code(ErrorCode::kTopicAuthorizationFailed);
      } else if (!topic || topic->deleting() || p.partition_index < 0 ||
                 p.partition_index >= static_cast<int32_t>(topic->partitions.size())) {
        rp.error_code = code(ErrorCode::kUnknownTopicOrPartition);
      } else {
        group::CommitPartition cp;
        cp.tp = {t.name, p.partition_index};
        cp.offset = p.committed_offset;
        cp.leader_epoch = version >= 2 ? p.committed_leader_epoch : -1;
        cp.metadata = p.committed_metadata;
        cr.partitions.push_back(std::move(cp));
      }
    }
  }
  // The coordinator's answers go to the partitions it was given, in order:
  // pointers taken once every vector has its final size.
  std::vector<int16_t*> slots;
  for (auto& rt : resp.topics) {
    for (auto& rp : rt.partitions) {
      if (rp.error_code == 0) slots.push_back(&rp.error_code);
    }
  }
  if (cr.partitions.empty()) {
    send_encoded(responder, resp, version);
    return {};
  }
  auto answer = [version](ErrorCode e) {
    return code(version < 2 && e == ErrorCode::kCoordinatorLoadInProgress ? ErrorCode::kCoordinatorNotAvailable : e);
  };
  group::GroupCoordinator* groups = ctx.services.groups;
  if (!groups) {
    for (int16_t* slot : slots) *slot = code(ErrorCode::kCoordinatorNotAvailable);
    send_encoded(responder, resp, version);
    return {};
  }
  auto commit = std::make_shared<group::CommitRequest>(std::move(cr));
  auto verified = [groups, commit, shared, slots, responder, version, answer](ErrorCode refused) mutable {
    if (refused != ErrorCode::kNone) {
      for (int16_t* slot : slots) *slot = answer(refused);
      send_encoded(responder, *shared, version);
      return;
    }
    groups->txn_commit_offsets(*commit, [shared, slots, responder, version, answer](group::CommitResult r) mutable {
      for (size_t i = 0; i < slots.size() && i < r.partitions.size(); ++i) *slots[i] = answer(r.partitions[i]);
      send_encoded(responder, *shared, version);
    });
  };
  verify_offsets_partition(ctx, req, std::move(verified));
  return {};
}

}  // namespace keel::server
