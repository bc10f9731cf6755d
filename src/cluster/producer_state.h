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
// Transactions (Kafka's ProducerStateManager): the first transactional batch
// of a producer opens a transaction at its offset; a COMMIT or ABORT marker
// (control batch) closes it. The partition's last stable offset is held at
// the first offset of the earliest transaction still open, or completed by a
// marker the high watermark has not passed yet (first_unstable_offset). A
// marker is refused when its producer epoch is older than the producer's
// (INVALID_PRODUCER_EPOCH) or its coordinator epoch older than the last one
// seen for the producer (TRANSACTION_COORDINATOR_FENCED). Snapshots carry
// each producer's coordinator epoch and open transaction's first offset, so
// a restart reopens them; a producer with an open transaction never expires.
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
  bool coordinator_origin = false;  // the group coordinator's: epoch checked, sequences not
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t timestamp = -1;  // the batch's max timestamp (DescribeProducers, expiry)
};

struct BatchMetadata {
  int32_t first_seq = -1;
  int32_t last_seq = -1;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t timestamp = -1;
};

// A COMMIT or ABORT marker for a producer.
struct MarkerBatch {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  bool commit = false;
  int32_t coordinator_epoch = 0;
  int64_t offset = -1;      // once appended
  int64_t timestamp = -1;
};

// A transaction a marker closed (Kafka's CompletedTxn).
struct CompletedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = -1;
  int64_t last_offset = -1;  // the marker's offset
  bool aborted = false;
  bool operator==(const CompletedTxn&) const = default;
};

// One producer as DescribeProducers shows it.
struct ProducerView {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t last_sequence = -1;
  int64_t last_timestamp = -1;
  int32_t coordinator_epoch = -1;
  int64_t current_txn_start_offset = -1;
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

  // Before appending a batch with a producer id. Kafka 3.x's rules, and
  // INVALID_TXN_STATE for a non-transactional batch of a producer with an
  // open transaction.
  ProducerCheck check(const ProducerBatch& batch) const;
  // After the append (offsets filled), and for every data batch replayed
  // from the log. A transactional batch opens its producer's transaction.
  void record(const ProducerBatch& batch);

  // Before appending a marker as leader: INVALID_PRODUCER_EPOCH (older
  // producer epoch), TRANSACTION_COORDINATOR_FENCED (older coordinator epoch).
  ProducerCheck check_marker(const MarkerBatch& marker) const;
  // After a marker is appended (offset filled), or replayed. Returns the
  // transaction it closed; nullopt when the producer had none open (Kafka
  // neither indexes nor tracks an empty transaction).
  std::optional<CompletedTxn> complete_txn(const MarkerBatch& marker);
  // The lastStableOffset recorded with an aborted transaction: the first
  // offset of the earliest transaction of another producer still open, else
  // the marker's offset + 1 (call before complete_txn).
  int64_t last_stable_offset_after(const CompletedTxn& txn) const;
  // The first offset of the earliest transaction open or completed above
  // the high watermark; nullopt when there is none (then the last stable
  // offset is the high watermark).
  std::optional<int64_t> first_unstable_offset() const;
  // The high watermark moved: completed transactions below it are stable.
  void on_high_watermark(int64_t high_watermark);
  size_t ongoing_txn_count() const { return ongoing_.size(); }
  // Whether `producer_id` has a transaction open here at `producer_epoch`
  // (KIP-890's check needs no coordinator then): one lookup.
  bool has_open_txn(int64_t producer_id, int16_t producer_epoch) const;
  std::vector<ProducerView> producers() const;

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
    int32_t coordinator_epoch = -1;
    int64_t current_txn_first_offset = -1;  // -1: no open transaction
  };
  bool expired(const Entry& e, int64_t now_ms) const {
    return e.current_txn_first_offset < 0 && now_ms - e.last_timestamp > expiration_ms_;
  }
  std::string dir_;
  int64_t expiration_ms_;
  std::map<int64_t, Entry> producers_;
  std::map<int64_t, int64_t> ongoing_;        // open transactions: first offset -> producer id
  std::map<int64_t, int64_t> unreplicated_;   // completed above the HW: first offset -> marker offset
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
