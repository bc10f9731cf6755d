#pragma once
// What the produce path checks before a batch reaches the log — Kafka's
// LogValidator: one batch per partition (v2), every record well formed with
// the offset deltas the batch claims, CRC, keys on compacted topics, no
// control batches from clients, and the topic's compression.type (the batch
// is rebuilt with the topic's codec when it differs; "producer" keeps it).
// Legacy message sets (magic 0/1, Produce v0-v2) are up-converted to one v2
// batch, as a Kafka 3.x broker stores them.
//
// Pure function over the request's bytes: batches that need no rewrite are
// returned as the same span (the caller's buffer, appended in place), others
// in `owned`.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "protocol/compression.h"
#include "protocol/error_code.h"

namespace keel::cluster {

struct ProduceValidationConfig {
  bool compacted = false;                           // cleanup.policy has "compact"
  std::optional<protocol::Compression> target_codec;  // nullopt = compression.type "producer"
  size_t max_decompressed = 128u << 20;             // cap on one batch's decompressed size
  // CreateTime record timestamps against the broker clock (LogAppendTime
  // topics ignore them): message.timestamp.{difference,before,after}.max.ms.
  bool log_append_time = false;
  int64_t timestamp_difference_max_ms = INT64_MAX;
  int64_t timestamp_before_max_ms = INT64_MAX;
  int64_t timestamp_after_max_ms = INT64_MAX;
};

// One record a batch was refused for (KIP-467): its index in the batch and why.
struct RecordError {
  int32_t batch_index = 0;
  std::string message;
  bool operator==(const RecordError&) const = default;
};

struct ValidatedRecords {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;  // why, for the response's error_message and the log
  // The records that failed the per-record checks (a key on a compacted
  // topic, the timestamp range), every one of them, in batch order; the batch
  // is refused whole, and Produce v8+ tells the client which records caused it.
  std::vector<RecordError> record_errors;
  std::span<uint8_t> records;  // what to append: the input or `owned`
  Bytes owned;
  int32_t record_count = 0;
  // Producer fields of the batch (idempotence).
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t last_sequence = -1;
  bool transactional = false;
  // Written by the group coordinator (TxnOffsetCommit), not a client:
  // Kafka's AppendOrigin.COORDINATOR, whose sequences are not checked.
  bool coordinator_origin = false;
  bool ok() const { return error == protocol::ErrorCode::kNone; }
};

// Parses "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd".
// "producer" gives nullopt; "uncompressed" gives kNone.
std::optional<protocol::Compression> topic_codec(const std::string& compression_type);

// now_ms: the broker's wall clock, for the timestamp checks (INVALID_TIMESTAMP).
ValidatedRecords validate_produce_records(std::span<uint8_t> records, const ProduceValidationConfig& config,
                                          int64_t now_ms = 0);

}  // namespace keel::cluster
