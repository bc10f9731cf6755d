#include "server/txn_state_log.h"

#include <optional>
#include <utility>

#include "cluster/replica_manager.h"
#include "txn/log_codec.h"

namespace keel::server {

using protocol::ErrorCode;

ReplicaTxnStateLog::ReplicaTxnStateLog(cluster::ReplicaManager& replicas, std::function<int64_t()> now_ms)
    : replicas_(replicas), log_(replicas, txn::kTransactionStateTopic), now_ms_(std::move(now_ms)) {}

void ReplicaTxnStateLog::append(int32_t partition, int32_t coordinator_epoch,
                                std::vector<txn::TxnRecordBytes> records, int64_t timeout_ms, AppendDone done) {
  auto p = replicas_.partition({txn::kTransactionStateTopic, partition});
  if (!p) return done(ErrorCode::kNotLeaderOrFollower);
  // Led here without a break since the coordinator loaded the partition: a
  // newer epoch of the same leadership (an ISR change, a follower that
  // stopped) keeps the coordinator's state valid, as in Kafka, where a
  // broker that already leads is not elected again.
  const std::optional<uint64_t> term = p->term_led_since(coordinator_epoch);
  if (!term) return done(ErrorCode::kNotLeaderOrFollower);
  std::vector<group::OffsetsRecordBytes> batch;
  batch.reserve(records.size());
  for (auto& r : records) batch.push_back({std::move(r.key), std::move(r.value)});
  group::OffsetsAppend appended = log_.append(partition, batch, now_ms_());
  if (appended.error == ErrorCode::kNotCoordinator) return done(ErrorCode::kNotLeaderOrFollower);
  if (appended.error != ErrorCode::kNone) return done(appended.error);
  // Written in a later leadership than the one checked: this coordinator
  // lost the partition meanwhile; its loaded successor owns what follows.
  if (appended.leader_term != *term) return done(ErrorCode::kNotLeaderOrFollower);
  if (appended.replicated) return done(ErrorCode::kNone);
  log_.await_replication(partition, appended, timeout_ms, std::move(done));
}

ErrorCode ReplicaTxnStateLog::read_all(int32_t partition, const RecordFn& fn) {
  const ErrorCode error = log_.read_all(partition, [&fn](const group::OffsetsLogEntry& e) {
    if (!e.marker_commit) fn(e.key, e.value);  // the coordinator writes no transactions here
  });
  return error == ErrorCode::kNotCoordinator ? ErrorCode::kNotLeaderOrFollower : error;
}

}  // namespace keel::server
