#pragma once
// Idempotent producer state of one partition (Kafka's ProducerStateManager):
// per producer id, its epoch and the metadata of its last 5 batches, so a
// retried batch is answered with its original offsets instead of being
// written twice, a gap in sequence numbers is OUT_OF_ORDER_SEQUENCE_NUMBER
// and an old epoch is INVALID_PRODUCER_EPOCH.
//
// Persistence: `<offset>.snapshot` files in the partition directory (Kafka's
// format, ON-DISK-FORMAT.md: version 1, CRC-32C, one entry per producer with
// its last batch) taken at roll and at clean shutdown; after a restart the
// newest snapshot at or below the log end is loaded and the batches after it
// are replayed (replay()), so deduplication survives restarts and crashes.
//
// Not thread-safe: the partition calls it under its append lock.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/error_code.h"

namespace keel::cluster {

// A batch's producer fields (and, once appended, its offsets).
struct ProducerBatch {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t last_sequence = -1;
  bool transactional = false;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t timestamp = -1;  // the batch's max timestamp (expiry)
};

struct BatchMetadata {
  int32_t first_seq = -1;
  int32_t last_seq = -1;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t timestamp = -1;
};

struct ProducerCheck {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  std::optional<BatchMetadata> duplicate;  // set: answer with these offsets, append nothing
};

class ProducerStateManager {
 public:
  static constexpr size_t kBatchesKept = 5;

  // producer_id_expiration_ms: producer.id.expiration.ms (Kafka: 1 day).
  ProducerStateManager(std::string dir, int64_t producer_id_expiration_ms = 86400000);

  // Before appending a batch with a producer id. Kafka 3.x's rules.
  ProducerCheck check(const ProducerBatch& batch) const;
  // After the append (offsets filled), and for every batch replayed from the log.
  void record(const ProducerBatch& batch);

  // Loads the newest snapshot at or below log_end (deleting newer ones: the
  // log was truncated below them, and corrupt ones). Returns the offset to
  // replay the log from: the snapshot's offset, or log_start when there is
  // none or it is below log_start. now_ms >= 0: producers already expired by
  // then are not loaded (Kafka's rule); -1 loads them all.
  int64_t load(int64_t log_start, int64_t log_end, int64_t now_ms = -1);
  // Writes <log_end>.snapshot (atomically: .tmp, fsync, rename) and keeps
  // only the two newest snapshots. Errors: StorageErrc::kStorageError.
  Result<void> take_snapshot(int64_t log_end);
  int64_t last_snapshot_offset() const { return last_snapshot_; }

  // Forgets producers idle longer than producer.id.expiration.ms (by their
  // last batch's timestamp).
  void remove_expired(int64_t now_ms);
  size_t producer_count() const { return producers_.size(); }
  std::vector<int64_t> snapshot_offsets() const;

 private:
  struct Entry {
    int16_t epoch = -1;
    std::deque<BatchMetadata> batches;  // oldest first
    int64_t last_timestamp = -1;
  };
  std::string dir_;
  int64_t expiration_ms_;
  std::map<int64_t, Entry> producers_;
  int64_t last_snapshot_ = -1;
};

// Serialises `entries` in Kafka's snapshot format (for tests and the manager).
struct SnapshotEntry {
  int64_t producer_id;
  int16_t epoch;
  int32_t last_sequence;
  int64_t last_offset;
  int32_t offset_delta;
  int64_t timestamp;
  int32_t coordinator_epoch = -1;
  int64_t current_txn_first_offset = -1;
  bool operator==(const SnapshotEntry&) const = default;
};
std::vector<uint8_t> encode_producer_snapshot(const std::vector<SnapshotEntry>& entries);
// nullopt when the bytes are not a valid snapshot (version, CRC, length).
std::optional<std::vector<SnapshotEntry>> decode_producer_snapshot(const std::vector<uint8_t>& bytes);

}  // namespace keel::cluster
