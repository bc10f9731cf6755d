#pragma once
// KIP-890 part 1 on the partition leader: before a producer's first
// transactional append to a partition (no transaction of its open there at
// that epoch), the leader asks the transaction coordinator whether the
// partition is in the producer's ongoing transaction, so a batch sent
// outside AddPartitionsToTxn (a hanging transaction, KAFKA-12671) is refused
// with INVALID_TXN_STATE before it can pin the last stable offset.
//
// The coordinator in this process is asked directly and answers at once. One
// on another broker gets AddPartitionsToTxn v4 with verify_only on the
// inter-broker listener, and the produce is held (Kafka's ReplicaManager
// waits for AddPartitionsToTxnManager's callback): verify() returns nothing
// and calls back once with the answer, or with NETWORK_EXCEPTION when the
// coordinator cannot be reached or has not answered within the produce's
// timeout. Produces waiting for the same producer, epoch and partition share
// one request. Kafka's translation of the coordinator's answer:
// NOT_ENOUGH_REPLICAS (retriable) while it is not the coordinator, loading
// or in a transition; INVALID_PRODUCER_EPOCH for a fenced producer.
//
// Thread-safe. Callbacks run on the link's client thread (answers, timeouts)
// or, for an answer given at once, nowhere: verify() returns it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "protocol/error_code.h"
#include "txn/metadata.h"

namespace keel::cluster {
class MetadataCache;
class Partition;
struct ValidatedRecords;
}  // namespace keel::cluster
namespace keel::protocol {
struct AddPartitionsToTxnRequest;
struct AddPartitionsToTxnResponse;
}  // namespace keel::protocol
namespace keel::txn {
class TransactionCoordinator;
}

namespace keel::server {

class TxnBrokerLink;

class TxnPartitionVerifier {
 public:
  using Done = std::function<void(protocol::ErrorCode)>;
  // How the verifier reaches other brokers: TxnBrokerLink in the broker,
  // doubles in tests.
  struct Remote {
    int32_t broker_id = -1;  // this broker
    std::function<void(int32_t broker, const protocol::AddPartitionsToTxnRequest& req,
                       std::function<void(Result<protocol::AddPartitionsToTxnResponse>)> answer)>
        send;
    // Runs fn after delay_ms; the returned function cancels it.
    std::function<std::function<void()>(int64_t delay_ms, std::function<void()> fn)> schedule;
  };

  TxnPartitionVerifier(txn::TransactionCoordinator& txns, TxnBrokerLink& link,
                       const cluster::MetadataCache& metadata);
  TxnPartitionVerifier(txn::TransactionCoordinator& txns, Remote remote, const cluster::MetadataCache& metadata);
  ~TxnPartitionVerifier();

  // The error for appending `records` (validated, transactional) of a
  // producer whose request named `transactional_id` to `partition`, when it
  // is known now: NONE to append; TRANSACTIONAL_ID_AUTHORIZATION_FAILED
  // without a transactional id (Kafka's answer); INVALID_TXN_STATE when the
  // coordinator does not have the partition in the producer's transaction
  // (or does not know the producer); INVALID_PRODUCER_EPOCH for a fenced
  // epoch; NOT_ENOUGH_REPLICAS when no coordinator is available.
  // nullopt: the coordinator on another broker was asked; `done` runs once,
  // with one of those or NETWORK_EXCEPTION, within timeout_ms.
  std::optional<protocol::ErrorCode> verify(const std::optional<std::string>& transactional_id,
                                            const cluster::ValidatedRecords& records, cluster::Partition& partition,
                                            int64_t timeout_ms, Done done);

  // Requests to other coordinators still unanswered (tests).
  size_t in_flight() const;

 private:
  using Key = std::tuple<std::string, int64_t, int16_t, txn::TopicPartition>;
  struct Waiter;
  // The answer known now, or nullopt after queueing `waiter` for the remote one.
  std::optional<protocol::ErrorCode> check(const std::optional<std::string>& transactional_id,
                                           const cluster::ValidatedRecords& records, cluster::Partition& partition,
                                           const std::shared_ptr<Waiter>& waiter);
  std::optional<protocol::ErrorCode> ask_remote(const Key& key, const std::shared_ptr<Waiter>& waiter);
  void answered(const Key& key, protocol::ErrorCode answer);

  txn::TransactionCoordinator& txns_;
  Remote remote_;
  const cluster::MetadataCache& metadata_;
  mutable std::mutex mu_;
  std::map<Key, std::vector<std::shared_ptr<Waiter>>> asked_;  // in flight: who waits
};

}  // namespace keel::server
