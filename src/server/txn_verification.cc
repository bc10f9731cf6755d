#include "server/txn_verification.h"

#include <set>
#include <vector>

#include "cluster/metadata_cache.h"
#include "cluster/partition.h"
#include "cluster/record_validation.h"
#include "common/log.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "server/txn_broker_link.h"
#include "txn/coordinator.h"
#include "txn/log_codec.h"

namespace keel::server {

using protocol::ErrorCode;

namespace {

constexpr int64_t kForgetAfterMs = 60000;
constexpr int16_t kVerifyVersion = 4;

// The coordinator's answer as the producer gets it.
ErrorCode for_produce(ErrorCode coordinator_error) {
  switch (coordinator_error) {
    case ErrorCode::kNone:
      return ErrorCode::kNone;
    case ErrorCode::kInvalidTxnState:
    case ErrorCode::kInvalidProducerIdMapping:
      return ErrorCode::kInvalidTxnState;
    case ErrorCode::kProducerFenced:
    case ErrorCode::kInvalidProducerEpoch:
      return ErrorCode::kInvalidProducerEpoch;
    default:  // not the coordinator (yet), loading, concurrent transitions, no answer
      return ErrorCode::kNotEnoughReplicas;
  }
}

}  // namespace

TxnPartitionVerifier::TxnPartitionVerifier(txn::TransactionCoordinator& txns, TxnBrokerLink& link,
                                           const cluster::MetadataCache& metadata, std::function<int64_t()> now_ms)
    : txns_(txns), link_(link), metadata_(metadata), now_ms_(std::move(now_ms)) {}

ErrorCode TxnPartitionVerifier::verify(const std::optional<std::string>& transactional_id,
                                       const cluster::ValidatedRecords& records, cluster::Partition& partition) {
  if (!transactional_id) return ErrorCode::kTransactionalIdAuthorizationFailed;
  // A transaction of this producer already open here at this epoch was
  // verified when it opened.
  for (const auto& p : partition.producers()) {
    if (p.producer_id == records.producer_id) {
      if (p.current_txn_start_offset >= 0 && p.producer_epoch == records.producer_epoch) return ErrorCode::kNone;
      break;
    }
  }
  Key key{*transactional_id, records.producer_id, records.producer_epoch, partition.tp()};
  auto local = txns_.verify_partitions(*transactional_id, records.producer_id, records.producer_epoch,
                                       {partition.tp()});
  auto it = local.find(partition.tp());
  const ErrorCode error = it == local.end() ? ErrorCode::kUnknownServerError : it->second;
  if (error != ErrorCode::kNotCoordinator) return for_produce(error);
  return ask_remote(key);
}

ErrorCode TxnPartitionVerifier::ask_remote(const Key& key) {
  const int64_t now = now_ms_();
  {
    std::lock_guard lock(mu_);
    for (auto it = answered_.begin(); it != answered_.end();) {
      it = now - it->second.second > kForgetAfterMs ? answered_.erase(it) : std::next(it);
    }
    for (auto it = asked_.begin(); it != asked_.end();) {
      it = now - it->second > kForgetAfterMs ? asked_.erase(it) : std::next(it);
    }
    if (auto it = answered_.find(key); it != answered_.end()) {
      const ErrorCode answer = it->second.first;
      answered_.erase(it);
      return answer;
    }
    if (asked_.count(key)) return ErrorCode::kNotEnoughReplicas;
  }
  const auto& [transactional_id, producer_id, producer_epoch, tp] = key;
  auto snapshot = metadata_.snapshot();
  const cluster::PartitionInfo* p =
      snapshot->partition(txn::kTransactionStateTopic, txns_.partition_for(transactional_id));
  if (!p || p->leader < 0 || p->leader == link_.broker_id()) return ErrorCode::kNotEnoughReplicas;
  {
    std::lock_guard lock(mu_);
    if (!asked_.emplace(key, now).second) return ErrorCode::kNotEnoughReplicas;
  }
  keel::logger("txn")->debug("asking coordinator {} whether {}-{} is in the transaction of '{}' (producer {} epoch {})",
                             p->leader, tp.topic, tp.partition, transactional_id, producer_id, producer_epoch);
  protocol::AddPartitionsToTxnRequest req;
  auto& t = req.transactions.emplace_back();
  t.transactional_id = transactional_id;
  t.producer_id = producer_id;
  t.producer_epoch = producer_epoch;
  t.verify_only = true;
  t.topics.push_back({tp.topic, {tp.partition}, {}});
  link_.request<protocol::AddPartitionsToTxnResponse>(
      p->leader, req, kVerifyVersion, [this, key](Result<protocol::AddPartitionsToTxnResponse> resp) {
        ErrorCode answer = ErrorCode::kNotEnoughReplicas;
        if (resp && resp->error_code != 0) {
          answer = for_produce(static_cast<ErrorCode>(resp->error_code));
        } else if (resp) {
          for (const auto& r : resp->results_by_transaction) {
            for (const auto& topic : r.topic_results) {
              for (const auto& part : topic.results_by_partition) {
                if (topic.name == std::get<3>(key).topic && part.partition_index == std::get<3>(key).partition) {
                  answer = for_produce(static_cast<ErrorCode>(part.partition_error_code));
                }
              }
            }
          }
        }
        std::lock_guard lock(mu_);
        asked_.erase(key);
        answered_[key] = {answer, now_ms_()};
      });
  return ErrorCode::kNotEnoughReplicas;
}

}  // namespace keel::server
