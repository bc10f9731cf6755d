#include "server/txn_verification.h"

#include <vector>

#include "cluster/metadata_cache.h"
#include "cluster/partition.h"
#include "cluster/record_validation.h"
#include "common/log.h"
#include "net/client.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "server/txn_broker_link.h"
#include "txn/coordinator.h"
#include "txn/log_codec.h"

namespace keel::server {

using protocol::ErrorCode;

namespace {

constexpr int16_t kVerifyVersion = 4;

// The coordinator's answer as the producer gets it (Kafka's ReplicaManager
// and AddPartitionsToTxnManager).
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
    case ErrorCode::kNetworkException:
      return ErrorCode::kNetworkException;
    default:  // not the coordinator (yet), loading, concurrent transitions
      return ErrorCode::kNotEnoughReplicas;
  }
}

// The answer for `tp` in a verify_only response.
ErrorCode answer_of(const Result<protocol::AddPartitionsToTxnResponse>& resp, const txn::TopicPartition& tp) {
  if (!resp) return ErrorCode::kNetworkException;  // unreachable, disconnected, timed out
  if (resp->error_code != 0) return for_produce(static_cast<ErrorCode>(resp->error_code));
  for (const auto& r : resp->results_by_transaction) {
    for (const auto& topic : r.topic_results) {
      if (topic.name != tp.topic) continue;
      for (const auto& part : topic.results_by_partition) {
        if (part.partition_index == tp.partition) return for_produce(static_cast<ErrorCode>(part.partition_error_code));
      }
    }
  }
  return ErrorCode::kNotEnoughReplicas;  // the coordinator did not answer for it
}

}  // namespace

// One produce (or TxnOffsetCommit) waiting for a remote answer. fire() runs
// `done` at most once: the answer or the timeout, whichever comes first.
struct TxnPartitionVerifier::Waiter {
  std::mutex mu;
  bool fired = false;
  int64_t timeout_ms = 0;
  Done done;
  std::function<void()> cancel_timer;

  void fire(ErrorCode e) {
    Done d;
    std::function<void()> cancel;
    {
      std::lock_guard lock(mu);
      if (fired) return;
      fired = true;
      d = std::move(done);
      cancel = std::move(cancel_timer);
    }
    if (cancel) cancel();
    if (d) d(e);
  }
};

TxnPartitionVerifier::TxnPartitionVerifier(txn::TransactionCoordinator& txns, TxnBrokerLink& link,
                                           const cluster::MetadataCache& metadata)
    : TxnPartitionVerifier(
          txns,
          Remote{link.broker_id(),
                 [&link](int32_t broker, const protocol::AddPartitionsToTxnRequest& req,
                         std::function<void(Result<protocol::AddPartitionsToTxnResponse>)> answer) {
                   link.request<protocol::AddPartitionsToTxnResponse>(broker, req, kVerifyVersion, std::move(answer));
                 },
                 [&link](int64_t delay_ms, std::function<void()> fn) {
                   return link.runtime().schedule(std::chrono::milliseconds(delay_ms), std::move(fn));
                 }},
          metadata) {}

TxnPartitionVerifier::TxnPartitionVerifier(txn::TransactionCoordinator& txns, Remote remote,
                                           const cluster::MetadataCache& metadata)
    : txns_(txns), remote_(std::move(remote)), metadata_(metadata) {}

TxnPartitionVerifier::~TxnPartitionVerifier() {
  // No produce stays held: whoever still waits hears the coordinator is gone.
  std::map<Key, std::vector<std::shared_ptr<Waiter>>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(asked_);
  }
  for (auto& [key, waiters] : left) {
    for (auto& w : waiters) w->fire(ErrorCode::kNetworkException);
  }
}

size_t TxnPartitionVerifier::in_flight() const {
  std::lock_guard lock(mu_);
  return asked_.size();
}

std::optional<ErrorCode> TxnPartitionVerifier::verify(const std::optional<std::string>& transactional_id,
                                                      const cluster::ValidatedRecords& records,
                                                      cluster::Partition& partition, int64_t timeout_ms, Done done) {
  auto waiter = std::make_shared<Waiter>();
  waiter->timeout_ms = timeout_ms;
  waiter->done = std::move(done);
  return check(transactional_id, records, partition, waiter);
}

std::optional<ErrorCode> TxnPartitionVerifier::check(const std::optional<std::string>& transactional_id,
                                                     const cluster::ValidatedRecords& records,
                                                     cluster::Partition& partition,
                                                     const std::shared_ptr<Waiter>& waiter) {
  if (!transactional_id) return ErrorCode::kTransactionalIdAuthorizationFailed;
  // A transaction of this producer already open here at this epoch was
  // verified when it opened.
  if (partition.has_open_txn(records.producer_id, records.producer_epoch)) return ErrorCode::kNone;
  auto local = txns_.verify_partitions(*transactional_id, records.producer_id, records.producer_epoch,
                                       {partition.tp()});
  auto it = local.find(partition.tp());
  const ErrorCode error = it == local.end() ? ErrorCode::kUnknownServerError : it->second;
  if (error != ErrorCode::kNotCoordinator) return for_produce(error);
  return ask_remote({*transactional_id, records.producer_id, records.producer_epoch, partition.tp()}, waiter);
}

std::optional<ErrorCode> TxnPartitionVerifier::ask_remote(const Key& key, const std::shared_ptr<Waiter>& waiter) {
  const auto& [transactional_id, producer_id, producer_epoch, tp] = key;
  auto snapshot = metadata_.snapshot();
  const cluster::PartitionInfo* p =
      snapshot->partition(txn::kTransactionStateTopic, txns_.partition_for(transactional_id));
  // No coordinator elected, or this broker's not loaded yet: Kafka's
  // COORDINATOR_NOT_AVAILABLE, which a produce gets as NOT_ENOUGH_REPLICAS.
  if (!p || p->leader < 0 || p->leader == remote_.broker_id) return ErrorCode::kNotEnoughReplicas;
  bool first;
  {
    std::lock_guard lock(mu_);
    auto& waiters = asked_[key];
    first = waiters.empty();
    waiters.push_back(waiter);
  }
  if (waiter->timeout_ms > 0 && remote_.schedule) {
    auto cancel = remote_.schedule(waiter->timeout_ms, [waiter] { waiter->fire(ErrorCode::kNetworkException); });
    std::unique_lock lock(waiter->mu);
    if (waiter->fired) {
      lock.unlock();
      cancel();
    } else {
      waiter->cancel_timer = std::move(cancel);
    }
  }
  if (!first) return std::nullopt;  // the request already sent answers this one too
  keel::logger("txn")->debug("asking coordinator {} whether {}-{} is in the transaction of '{}' (producer {} epoch {})",
                             p->leader, tp.topic, tp.partition, transactional_id, producer_id, producer_epoch);
  protocol::AddPartitionsToTxnRequest req;
  auto& t = req.transactions.emplace_back();
  t.transactional_id = transactional_id;
  t.producer_id = producer_id;
  t.producer_epoch = producer_epoch;
  t.verify_only = true;
  t.topics.push_back({tp.topic, {tp.partition}, {}});
  remote_.send(p->leader, req, [this, key](Result<protocol::AddPartitionsToTxnResponse> resp) {
    answered(key, answer_of(resp, std::get<3>(key)));
  });
  return std::nullopt;
}

void TxnPartitionVerifier::answered(const Key& key, ErrorCode answer) {
  std::vector<std::shared_ptr<Waiter>> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = asked_.find(key);
    if (it == asked_.end()) return;
    waiters = std::move(it->second);
    asked_.erase(it);
  }
  for (auto& w : waiters) w->fire(answer);
}

}  // namespace keel::server
