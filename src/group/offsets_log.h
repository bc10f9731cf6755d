#pragma once
// Where the group coordinator keeps its state: the partitions of the internal
// compacted topic __consumer_offsets. An interface so the coordinator's unit
// tests run on memory; ReplicaOffsetsLog is the broker's, over the replica
// manager's partitions (appends as leader, reads the log files).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "protocol/error_code.h"

namespace keel::cluster {
class ReplicaManager;
}

namespace keel::group {

inline constexpr const char* kOffsetsTopic = "__consumer_offsets";

struct OffsetsRecordBytes {
  Bytes key;
  std::optional<Bytes> value;  // nullopt: a tombstone
};

// What one append to __consumer_offsets did. With an error nothing was
// written; otherwise the batch ends at last_offset, appended in this
// broker's leadership term leader_term (cluster::Partition::leads_in_term;
// the wait goes by it), and `replicated` says whether the high watermark has
// passed it already (one broker, or an ISR of one). A write the client must
// not see answered before the ISR has it waits for await_replication.
struct OffsetsAppend {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int64_t base_offset = -1;
  int64_t last_offset = -1;
  uint64_t leader_term = 0;
  bool replicated = true;
};

// The producer a transactional batch is written for (TxnOffsetCommit): the
// batch carries its id and epoch, so the partition's producer state opens a
// transaction and the last stable offset holds until the marker.
struct TxnProducer {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};

// One record of __consumer_offsets read back, with what its batch says, or
// a transaction marker (a control batch: key and value empty then).
struct OffsetsLogEntry {
  int64_t batch_offset = -1;  // the base offset of the record's batch
  int64_t producer_id = -1;
  bool transactional = false;
  // Set for a COMMIT (true) or ABORT (false) marker of producer_id.
  std::optional<bool> marker_commit;
  ByteView key;
  std::optional<ByteView> value;  // nullopt: a tombstone
};

class OffsetsLog {
 public:
  virtual ~OffsetsLog() = default;
  // Appends the records as one batch to `partition` as its leader, with
  // acks=all's checks (NOT_ENOUGH_REPLICAS when the ISR is smaller than
  // min.insync.replicas). With `txn` the batch is transactional, under that
  // producer id and epoch (as the group coordinator writes it, without
  // sequence checks); INVALID_PRODUCER_EPOCH when the partition has seen a
  // newer epoch of the producer. Errors: NOT_COORDINATOR or
  // NOT_LEADER_OR_FOLLOWER (not the partition's leader any more),
  // KAFKA_STORAGE_ERROR, others as Produce. Never waits for followers.
  virtual OffsetsAppend append(int32_t partition, const std::vector<OffsetsRecordBytes>& records, int64_t now_ms,
                               std::optional<TxnProducer> txn = std::nullopt) = 0;
  // acks=all's wait for an append that was not replicated at once: `done`
  // gets NONE once the high watermark passes it, NOT_LEADER_OR_FOLLOWER when
  // this broker stopped leading the partition first (a newer leader epoch
  // of a leadership that never broke, an ISR change, keeps the wait: the
  // batch cannot have been truncated), NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
  // min.insync.replicas meanwhile, REQUEST_TIMED_OUT after timeout_ms (as
  // Kafka's DelayedProduce). `done` runs exactly once, on another thread or
  // (at shutdown) on the caller's: call this holding no lock `done` takes.
  using ReplicatedFn = std::function<void(protocol::ErrorCode)>;
  virtual void await_replication(int32_t partition, const OffsetsAppend& appended, int64_t timeout_ms,
                                 ReplicatedFn done) = 0;
  // Calls fn for every record of `partition` from the log start to its end
  // (Kafka loads to the log end too: as the leader, everything in its log
  // is the partition's), and for every COMMIT or ABORT marker, in offset
  // order. Errors as append.
  using RecordFn = std::function<void(const OffsetsLogEntry& entry)>;
  virtual protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) = 0;
};

// Over the broker's ReplicaManager; waits in its purgatory, woken when the
// high watermark moves. Thread-safe (the partitions lock themselves). The
// transaction coordinator's log (server/txn_state_log.h) uses one over
// __transaction_state.
class ReplicaOffsetsLog : public OffsetsLog {
 public:
  explicit ReplicaOffsetsLog(cluster::ReplicaManager& replicas, std::string topic = kOffsetsTopic)
      : replicas_(replicas), topic_(std::move(topic)) {}
  OffsetsAppend append(int32_t partition, const std::vector<OffsetsRecordBytes>& records, int64_t now_ms,
                       std::optional<TxnProducer> txn = std::nullopt) override;
  void await_replication(int32_t partition, const OffsetsAppend& appended, int64_t timeout_ms,
                         ReplicatedFn done) override;
  protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) override;

 private:
  cluster::ReplicaManager& replicas_;
  const std::string topic_;
};

}  // namespace keel::group
