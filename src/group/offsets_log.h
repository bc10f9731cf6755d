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

class OffsetsLog {
 public:
  virtual ~OffsetsLog() = default;
  // Appends the records as one batch to `partition`, durable under the
  // topic's settings when this returns NONE. Errors: NOT_COORDINATOR (not the
  // partition's leader any more), KAFKA_STORAGE_ERROR, others as Produce.
  virtual protocol::ErrorCode append(int32_t partition, const std::vector<OffsetsRecordBytes>& records,
                                     int64_t now_ms) = 0;
  // Calls fn for every record of `partition` from the log start to its end,
  // in offset order. Errors as append.
  using RecordFn = std::function<void(ByteView key, std::optional<ByteView> value)>;
  virtual protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) = 0;
};

// Over the broker's ReplicaManager. Thread-safe (the partitions lock themselves).
class ReplicaOffsetsLog : public OffsetsLog {
 public:
  explicit ReplicaOffsetsLog(cluster::ReplicaManager& replicas) : replicas_(replicas) {}
  protocol::ErrorCode append(int32_t partition, const std::vector<OffsetsRecordBytes>& records,
                             int64_t now_ms) override;
  protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) override;

 private:
  cluster::ReplicaManager& replicas_;
};

}  // namespace keel::group
