#pragma once
// KIP-890 part 1 on the partition leader: before a producer's first
// transactional append to a partition (no transaction of its open there at
// that epoch), the leader asks the transaction coordinator whether the
// partition is in the producer's ongoing transaction, so a batch sent
// outside AddPartitionsToTxn (a hanging transaction, KAFKA-12671) is refused
// with INVALID_TXN_STATE before it can pin the last stable offset.
//
// The coordinator in this process is asked directly. One on another broker
// gets AddPartitionsToTxn v4 with verify_only on the inter-broker listener;
// until its answer has come the append is refused with NOT_ENOUGH_REPLICAS
// (retriable: the producer sends the batch again, and the retry finds the
// answer), as Kafka answers produces whose verification cannot be made yet.
// An answer is used once, for the retry it was asked for, and forgotten
// after a minute if no retry comes.
//
// Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "protocol/error_code.h"
#include "txn/metadata.h"

namespace keel::cluster {
class MetadataCache;
class Partition;
struct ValidatedRecords;
}  // namespace keel::cluster
namespace keel::txn {
class TransactionCoordinator;
}

namespace keel::server {

class TxnBrokerLink;

class TxnPartitionVerifier {
 public:
  TxnPartitionVerifier(txn::TransactionCoordinator& txns, TxnBrokerLink& link,
                       const cluster::MetadataCache& metadata, std::function<int64_t()> now_ms);

  // The error for appending `records` (validated, transactional) of a
  // producer whose request named `transactional_id` to `partition`: NONE to
  // append; TRANSACTIONAL_ID_AUTHORIZATION_FAILED without a transactional
  // id (Kafka's answer); INVALID_TXN_STATE when the coordinator does not
  // have the partition in the producer's transaction (or does not know the
  // producer); INVALID_PRODUCER_EPOCH for a fenced epoch;
  // NOT_ENOUGH_REPLICAS while the answer is awaited or the coordinator is
  // not available.
  protocol::ErrorCode verify(const std::optional<std::string>& transactional_id,
                             const cluster::ValidatedRecords& records, cluster::Partition& partition);

 private:
  using Key = std::tuple<std::string, int64_t, int16_t, txn::TopicPartition>;
  protocol::ErrorCode ask_remote(const Key& key);

  txn::TransactionCoordinator& txns_;
  TxnBrokerLink& link_;
  const cluster::MetadataCache& metadata_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::map<Key, int64_t> asked_;  // in flight, since
  std::map<Key, std::pair<protocol::ErrorCode, int64_t>> answered_;  // answer, when
};

}  // namespace keel::server
