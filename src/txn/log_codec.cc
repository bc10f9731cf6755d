#include "txn/log_codec.h"

#include <utility>

#include "common/errors.h"
#include "common/java_string_hash.h"
#include "protocol/generated/transaction_log_key.h"
#include "protocol/generated/transaction_log_value.h"
#include "protocol/version_prefixed.h"
#include "txn/errors.h"

namespace keel::txn {
namespace {

using protocol::TransactionLogKey;
using protocol::TransactionLogValue;

bool storable(TxnState s) { return s != TxnState::kDead && s != TxnState::kPrepareEpochFence; }

}  // namespace

int32_t partition_for_transactional_id(std::string_view transactional_id, int32_t num_partitions) {
  return kafka_partition_for_key(transactional_id, num_partitions);
}

TxnLogValue value_of(const TxnTransit& t) {
  return TxnLogValue{.producer_id = t.producer_id,
                     .producer_epoch = t.producer_epoch,
                     .timeout_ms = t.timeout_ms,
                     .state = t.state,
                     .partitions = t.partitions,
                     .last_update_ms = t.last_update_ms,
                     .start_ms = t.start_ms};
}

Bytes encode_txn_key(std::string_view transactional_id) {
  if (transactional_id.size() > kMaxTransactionalIdBytes) return {};
  TransactionLogKey rec;
  rec.transactional_id = std::string(transactional_id);
  return protocol::encode_version_prefixed(rec, kTxnKeyVersion);
}

Bytes encode_txn_value(const TxnLogValue& v, int16_t version) {
  if (version < TransactionLogValue::kLowestVersion || version > TransactionLogValue::kHighestVersion) return {};
  if (!storable(v.state)) return {};
  if (v.state == TxnState::kEmpty && !v.partitions.empty()) return {};
  TransactionLogValue rec;
  rec.producer_id = v.producer_id;
  rec.previous_producer_id = v.previous_producer_id;
  rec.next_producer_id = v.next_producer_id;
  rec.producer_epoch = v.producer_epoch;
  rec.transaction_timeout_ms = v.timeout_ms;
  rec.transaction_status = static_cast<int8_t>(v.state);
  if (v.state == TxnState::kEmpty) {
    rec.transaction_partitions.reset();
  } else {
    auto& topics = rec.transaction_partitions.emplace();
    for (const auto& tp : v.partitions) {  // sorted by topic, then partition
      if (topics.empty() || topics.back().topic != tp.topic) topics.emplace_back().topic = tp.topic;
      topics.back().partition_ids.push_back(tp.partition);
    }
  }
  rec.transaction_last_update_timestamp_ms = v.last_update_ms;
  rec.transaction_start_timestamp_ms = v.start_ms;
  rec.client_transaction_version = v.client_transaction_version;
  return protocol::encode_version_prefixed(rec, version);
}

Result<TxnLogRecord> decode_txn_record(ByteView key, std::optional<ByteView> value) {
  TxnLogRecord out;
  ByteReader kr(key);
  auto key_version = protocol::read_key_version(kr);
  if (!key_version) return key_version.error();
  out.key_version = *key_version;
  if (out.key_version > TransactionLogKey::kHighestVersion) return out;  // an unknown record type

  auto k = protocol::decode_to_end<TransactionLogKey>(kr, out.key_version);
  if (!k) return k.error();
  out.known_key = true;
  out.transactional_id = std::move(k->transactional_id);
  if (!value) return out;

  ByteReader vr(*value);
  auto prefix = protocol::read_version_prefix<TransactionLogValue>(vr);
  if (!prefix) return prefix.error();
  const int16_t version = *prefix;
  auto v = protocol::decode_to_end<TransactionLogValue>(vr, version);
  if (!v) return v.error();
  const auto state = txn_state_from_id(v->transaction_status);
  if (!state || !storable(*state)) return TxnErrc::kUnknownState;

  TxnLogValue val{.producer_id = v->producer_id,
                  .previous_producer_id = v->previous_producer_id,
                  .next_producer_id = v->next_producer_id,
                  .producer_epoch = v->producer_epoch,
                  .timeout_ms = v->transaction_timeout_ms,
                  .state = *state,
                  .partitions = {},
                  .last_update_ms = v->transaction_last_update_timestamp_ms,
                  .start_ms = v->transaction_start_timestamp_ms,
                  .client_transaction_version = v->client_transaction_version};
  // Kafka ignores the partitions of an Empty value.
  if (*state != TxnState::kEmpty && v->transaction_partitions) {
    for (const auto& topic : *v->transaction_partitions) {
      for (int32_t p : topic.partition_ids) val.partitions.insert(TopicPartition{topic.topic, p});
    }
  }
  out.value_version = version;
  out.value = std::move(val);
  return out;
}

}  // namespace keel::txn
