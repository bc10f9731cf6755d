#pragma once
// Per-partition log settings with Kafka's defaults (topic-level names in
// comments). Storage does not depend on the config module: the broker copies
// its TopicConfig into this struct.

#include <cstdint>
#include <limits>

#include "protocol/record_batch.h"

namespace keel::storage {

// cleanup.policy: "delete", "compact" or "compact,delete".
enum class CleanupPolicy : uint8_t { kDelete, kCompact, kCompactDelete };

struct LogConfig {
  int64_t segment_bytes = 1LL << 30;                       // segment.bytes
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;             // segment.ms
  int64_t segment_jitter_ms = 0;                           // segment.jitter.ms
  int32_t segment_index_bytes = 10 * 1024 * 1024;          // segment.index.bytes
  int32_t index_interval_bytes = 4096;                     // index.interval.bytes
  int32_t max_message_bytes = 1048588;                     // max.message.bytes
  protocol::TimestampType message_timestamp_type = protocol::TimestampType::kCreateTime;  // message.timestamp.type
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;           // retention.ms (-1 = unlimited)
  int64_t retention_bytes = -1;                            // retention.bytes (-1 = unlimited)
  int64_t flush_messages = std::numeric_limits<int64_t>::max();  // flush.messages
  int64_t flush_ms = std::numeric_limits<int64_t>::max();        // flush.ms
  int64_t file_delete_delay_ms = 60000;                    // file.delete.delay.ms
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;   // cleanup.policy
  double min_cleanable_dirty_ratio = 0.5;                  // min.cleanable.dirty.ratio
  int64_t delete_retention_ms = 86400000;                  // delete.retention.ms (tombstones)
  int64_t min_compaction_lag_ms = 0;                       // min.compaction.lag.ms
  int64_t max_compaction_lag_ms = std::numeric_limits<int64_t>::max();  // max.compaction.lag.ms

  // Retention by time/size applies only when the policy includes delete.
  bool deletes() const { return cleanup_policy != CleanupPolicy::kCompact; }
  bool compacts() const { return cleanup_policy != CleanupPolicy::kDelete; }
};

}  // namespace keel::storage
