#pragma once
// Where the coordinator keeps its state: the partitions of the internal
// compacted topic __transaction_state. An interface so the coordinator's unit
// tests run on memory; the broker's implementation appends through the
// replica manager as the partition's leader and reads the segment files.

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "protocol/error_code.h"

namespace keel::txn {

struct TxnRecordBytes {
  Bytes key;
  std::optional<Bytes> value;  // nullopt: a tombstone
};

class TxnStateLog {
 public:
  virtual ~TxnStateLog() = default;

  // Appends `records` as one uncompressed batch to `partition` as its leader,
  // only while this broker leads it in leader epoch `coordinator_epoch` (the
  // check and the append are one step, so a coordinator that lost and regained
  // the partition never writes under its old epoch), with acks=all: `done`
  // gets NONE once the high watermark passes the batch. Errors as Produce
  // gives them: NOT_LEADER_OR_FOLLOWER (not the leader, or another epoch, also
  // when that changes before the ISR has the batch), NOT_ENOUGH_REPLICAS (ISR
  // below min.insync.replicas), NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  // REQUEST_TIMED_OUT (after timeout_ms), KAFKA_STORAGE_ERROR,
  // UNKNOWN_TOPIC_OR_PARTITION, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE.
  // `done` runs exactly once, on any thread, possibly before append returns:
  // call this holding no lock `done` takes.
  using AppendDone = std::function<void(protocol::ErrorCode)>;
  virtual void append(int32_t partition, int32_t coordinator_epoch, std::vector<TxnRecordBytes> records,
                      int64_t timeout_ms, AppendDone done) = 0;

  // Calls fn for every record of `partition` from the log start to the log
  // end, in offset order (as Kafka loads: everything in the leader's log).
  // Errors: NOT_LEADER_OR_FOLLOWER when the partition is not hosted here,
  // KAFKA_STORAGE_ERROR.
  using RecordFn = std::function<void(ByteView key, std::optional<ByteView> value)>;
  virtual protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) = 0;
};

}  // namespace keel::txn
