#pragma once
// The records of the internal topic __transaction_state in Kafka's exact
// format (Kafka's TransactionLog), so a log written by Keel loads in Kafka
// and one written by Kafka loads in Keel, and the id -> partition mapping.
//
// Key: int16 version 0, then TransactionLogKey v0 = the transactional id
// (int16-length string). Value: int16 version, then TransactionLogValue at
// that version: ProducerId int64, ProducerEpoch int16, TransactionTimeoutMs
// int32, TransactionStatus int8, TransactionPartitions [Topic, [int32]]
// (null in Empty), TransactionLastUpdateTimestampMs int64,
// TransactionStartTimestampMs int64. Version 1 is flexible (compact strings
// and arrays, tagged fields) and adds the tagged PreviousProducerId (tag 0),
// NextProducerId (tag 1) and ClientTransactionVersion (tag 2), each written
// only when not its default (-1, -1, 0). Kafka writes version 0 while the
// finalized transaction.version feature is 0 (every ZooKeeper-mode cluster;
// 4.x KRaft clusters at transaction.version >= 1 write version 1), and so does
// Keel, which does not advertise the feature; both versions decode. A null
// value is a tombstone: the id expired.
//
// The generated structs (protocol/generated/transaction_log_*.h) do the field
// encoding; this file adds the version framing and the mapping to Keel's
// types. Stateless and thread-safe; decoding never trusts its input.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "txn/metadata.h"

namespace keel::txn {

inline constexpr const char* kTransactionStateTopic = "__transaction_state";
inline constexpr int16_t kTxnKeyVersion = 0;
inline constexpr int16_t kTxnValueVersion = 0;          // what Keel writes (transaction.version 0)
inline constexpr int16_t kTxnValueFlexibleVersion = 1;  // transaction.version >= 1
// The longest transactional id a key can hold (an int16-length string). A
// flexible InitProducerId can carry a longer one: the coordinator refuses it.
inline constexpr size_t kMaxTransactionalIdBytes = 32767;

// The __transaction_state partition that holds `transactional_id`, as Kafka's
// TransactionStateManager.partitionFor: Utils.abs(id.hashCode) % partitions
// (common/java_string_hash.h). num_partitions > 0.
int32_t partition_for_transactional_id(std::string_view transactional_id, int32_t num_partitions);

// A value's fields in Keel's terms.
struct TxnLogValue {
  int64_t producer_id = kNoProducerId;
  int64_t previous_producer_id = kNoProducerId;  // v1 only (tag 0)
  int64_t next_producer_id = kNoProducerId;      // v1 only (tag 1)
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t timeout_ms = 0;
  TxnState state = TxnState::kEmpty;
  std::set<TopicPartition> partitions;  // written null in Empty
  int64_t last_update_ms = -1;
  int64_t start_ms = -1;
  int16_t client_transaction_version = 0;  // v1 only (tag 2)
  bool operator==(const TxnLogValue&) const = default;
};

// The value a transit writes (Kafka's valueToBytes(TxnTransitMetadata)).
TxnLogValue value_of(const TxnTransit& t);

// Key version 0; empty Bytes when the id is longer than kMaxTransactionalIdBytes.
Bytes encode_txn_key(std::string_view transactional_id);
// Value at `version` (0 or 1); partitions are grouped by topic, topics and
// partition ids ascending. Empty Bytes when the value cannot be stored: Dead
// or PrepareEpochFence (never written; Dead is a tombstone), Empty with
// partitions, a version outside 0..1.
Bytes encode_txn_value(const TxnLogValue& v, int16_t version = kTxnValueVersion);

// One record read back.
struct TxnLogRecord {
  int16_t key_version = 0;
  // False for a key version Keel does not know (Kafka's UnknownKey): the
  // loader skips it and the rest of the record is not looked at.
  bool known_key = false;
  std::string transactional_id;
  std::optional<int16_t> value_version;  // nullopt for a tombstone
  std::optional<TxnLogValue> value;      // nullopt for a tombstone
};

// Errors: a WireErrc for malformed bytes (kTruncated, kTrailingBytes,
// kBadLength, kUnsupportedVersion for a negative key version or a value
// version outside 0..1); TxnErrc::kUnknownState for a status byte outside
// 0..7 or one Kafka never stores (Dead, PrepareEpochFence). A null partition
// list in a state other than Empty reads as no partitions.
Result<TxnLogRecord> decode_txn_record(ByteView key, std::optional<ByteView> value);

}  // namespace keel::txn
