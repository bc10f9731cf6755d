#pragma once
// The transaction coordinator's log (txn::TxnStateLog) over the replicated
// partitions of __transaction_state this broker hosts: appends as the
// partition's leader, only in the leadership the coordinator loaded the
// partition in (from its coordinator epoch on), waits for the high watermark
// (acks=all: min.insync.replicas is checked before the append), and reads a
// partition back from its log start for loading. The replica work is the
// same as for __consumer_offsets (group::ReplicaOffsetsLog, over another
// topic). Thread-safe.

#include <cstdint>
#include <functional>

#include "group/offsets_log.h"
#include "txn/state_log.h"

namespace keel::cluster {
class ReplicaManager;
}

namespace keel::server {

class ReplicaTxnStateLog final : public txn::TxnStateLog {
 public:
  // `now_ms` stamps the records (their batch's timestamps).
  ReplicaTxnStateLog(cluster::ReplicaManager& replicas, std::function<int64_t()> now_ms);

  // NOT_LEADER_OR_FOLLOWER unless this broker has led the partition without
  // a break since `coordinator_epoch` (newer epochs of that leadership
  // included) when it appends, and until the high watermark passes the
  // batch. The check and the append are two steps on the partition:
  // leadership moving in between is caught by the leadership term (the
  // append's is not the checked one, or ends during the wait).
  void append(int32_t partition, int32_t coordinator_epoch, std::vector<txn::TxnRecordBytes> records,
              int64_t timeout_ms, AppendDone done) override;
  protocol::ErrorCode read_all(int32_t partition, const RecordFn& fn) override;

 private:
  cluster::ReplicaManager& replicas_;
  group::ReplicaOffsetsLog log_;
  std::function<int64_t()> now_ms_;
};

}  // namespace keel::server
