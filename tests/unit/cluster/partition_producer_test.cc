// What a partition's producer state tells DescribeProducers and KIP-890's
// check: the last timestamp is the batch's max timestamp (Kafka's
// ProducerStateEntry.lastTimestamp), not the time of the append, whether the
// batch was appended as leader, replicated as follower or replayed from the
// log after a crash; and has_open_txn, the one-lookup question the
// verification asks before the coordinator.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "cluster/partition.h"
#include "partition_on_disk.h"
#include "cluster/producer_state.h"
#include "protocol/record_batch.h"
#include "storage/txn_marker.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

constexpr int64_t kAppendTime = 900000;  // the broker's clock at the append, far from the records' times

class PartitionProducerTest : public PartitionOnDisk {
 protected:
  PartitionProducerTest() : PartitionOnDisk("keel-ppr-") {
    open(true);
  }

  // Producer `pid`'s next batch: records at `timestamps` (in this order).
  Bytes batch(int64_t pid, std::vector<int64_t> timestamps, bool transactional, int64_t base_offset = 0,
              int16_t epoch = 0) {
    protocol::RecordBatchBuilder b(protocol::Compression::kNone, base_offset);
    b.producer(pid, epoch, seq_[pid]).transactional(transactional);
    for (int64_t ts : timestamps) b.add(ts, std::nullopt, std::nullopt);
    seq_[pid] += static_cast<int32_t>(timestamps.size());
    return b.build().value();
  }
  AppendOutcome produce(int64_t pid, std::vector<int64_t> timestamps, bool transactional = false) {
    buffers_.push_back(batch(pid, std::move(timestamps), transactional));
    ValidatedRecords records = validate_produce_records(buffers_.back(), {});
    EXPECT_TRUE(records.ok()) << records.message;
    return partition_->append_as_leader(records, 1, kAppendTime);
  }
  ProducerView only_producer() {
    auto views = partition_->producers();
    EXPECT_EQ(views.size(), 1u);
    return views.empty() ? ProducerView{} : views[0];
  }

  std::map<int64_t, int32_t> seq_;
  std::vector<Bytes> buffers_;
};

TEST_F(PartitionProducerTest, TheLastTimestampIsTheBatchsMaxTimestampAsLeaderAndAfterACrash) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}}));
  // The max timestamp is the middle record's: not the first, not the last.
  ASSERT_EQ(produce(7, {5000, 7000, 6000}).error, ErrorCode::kNone);
  EXPECT_EQ(only_producer().last_timestamp, 7000) << "the batch's max timestamp, not the append time";
  ASSERT_EQ(produce(7, {4000}).error, ErrorCode::kNone);
  EXPECT_EQ(only_producer().last_timestamp, 4000) << "the last batch's, as Kafka's lastTimestamp (not the max seen)";

  // A crash: no snapshot since, so the state is replayed from the log.
  open(/*clean=*/false);
  EXPECT_EQ(only_producer().last_timestamp, 4000);
  EXPECT_EQ(only_producer().last_sequence, 3);
}

TEST_F(PartitionProducerTest, TheLastTimestampSurvivesACleanRestartThroughTheSnapshot) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}}));
  ASSERT_EQ(produce(7, {3000, 2500}).error, ErrorCode::kNone);
  partition_->snapshot_producer_state();
  open(/*clean=*/true);
  EXPECT_EQ(only_producer().last_timestamp, 3000);
}

// A stop snapshots every partition: one not written since its snapshot at
// the log end keeps that file (no new write, no fsync), as Kafka's
// takeSnapshot skips an offset it already has; one written gets a new one.
TEST_F(PartitionProducerTest, ASnapshotAtTheLogEndIsNotWrittenAgain) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}}));
  ASSERT_EQ(produce(7, {3000, 2500}).error, ErrorCode::kNone);
  partition_->snapshot_producer_state();
  const auto snapshot = dir_ / "t-0" / "00000000000000000002.snapshot";
  ASSERT_TRUE(std::filesystem::exists(snapshot));
  const auto inode = [](const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : ino_t{0};
  };
  const ino_t first = inode(snapshot);
  partition_->snapshot_producer_state();
  EXPECT_EQ(inode(snapshot), first) << "rewritten although nothing was appended";
  // After a clean restart that loaded it, still nothing to write.
  open(/*clean=*/true);
  partition_->snapshot_producer_state();
  EXPECT_EQ(inode(snapshot), first) << "rewritten after a restart that loaded it";
  EXPECT_EQ(only_producer().last_timestamp, 3000);
  ASSERT_TRUE(partition_->apply_leader_state({1, 2, 0, {1}, {1}}));
  ASSERT_EQ(produce(7, {4000}).error, ErrorCode::kNone);
  partition_->snapshot_producer_state();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "t-0" / "00000000000000000003.snapshot"));
}

TEST_F(PartitionProducerTest, AFollowerKeepsTheReplicatedBatchsMaxTimestamp) {
  ASSERT_TRUE(partition_->apply_leader_state({2, 3, 0, {1, 2}, {1, 2}}));
  Bytes records = batch(7, {8000, 9000}, /*transactional=*/false);
  protocol::set_partition_leader_epoch(records, 3);
  ASSERT_EQ(partition_->append_as_follower(records, 0, 3), ErrorCode::kNone);
  EXPECT_EQ(only_producer().last_timestamp, 9000);
}

TEST_F(PartitionProducerTest, HasOpenTxnAnswersForTheProducerAndEpochOnly) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}}));
  EXPECT_FALSE(partition_->has_open_txn(7, 0)) << "unknown producer";
  ASSERT_EQ(produce(8, {1000}).error, ErrorCode::kNone);
  EXPECT_FALSE(partition_->has_open_txn(8, 0)) << "idempotent only: no transaction";
  ASSERT_EQ(produce(7, {1000}, /*transactional=*/true).error, ErrorCode::kNone);
  EXPECT_TRUE(partition_->has_open_txn(7, 0));
  EXPECT_FALSE(partition_->has_open_txn(7, 1)) << "another epoch's transaction is not this one";
  EXPECT_FALSE(partition_->has_open_txn(8, 0));
  ASSERT_EQ(partition_->append_txn_marker(7, 0, /*commit=*/true, 1, kAppendTime).error, ErrorCode::kNone);
  EXPECT_FALSE(partition_->has_open_txn(7, 0)) << "the marker closed it";
}

TEST(ProducerStateLookup, HasOpenTxnFollowsTheStateManager) {
  ProducerStateManager s(std::filesystem::temp_directory_path().string());
  ProducerBatch pb;
  pb.producer_id = 3;
  pb.producer_epoch = 2;
  pb.base_sequence = 0;
  pb.last_sequence = 0;
  pb.first_offset = 10;
  pb.last_offset = 10;
  pb.timestamp = 1234;
  s.record(pb);
  EXPECT_FALSE(s.has_open_txn(3, 2));
  pb.transactional = true;
  pb.base_sequence = pb.last_sequence = 1;
  pb.first_offset = pb.last_offset = 11;
  s.record(pb);
  EXPECT_TRUE(s.has_open_txn(3, 2));
  EXPECT_FALSE(s.has_open_txn(3, 1));
  EXPECT_FALSE(s.has_open_txn(4, 2));
  // The coordinator bumped the epoch and aborted: the marker carries the new epoch.
  auto done = s.complete_txn({3, 3, false, 0, 12, 5000});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->first_offset, 11);
  EXPECT_FALSE(s.has_open_txn(3, 2));
  EXPECT_FALSE(s.has_open_txn(3, 3));
  ASSERT_EQ(s.producers().size(), 1u);
  EXPECT_EQ(s.producers()[0].last_timestamp, 5000) << "a marker sets the last timestamp as Kafka's does";
}

}  // namespace
}  // namespace keel::cluster
