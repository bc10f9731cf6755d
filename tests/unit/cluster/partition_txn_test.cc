// A partition and transactions: the last stable offset, markers appended as
// leader and as follower, the aborted list of read_committed fetches, and
// the state after a crash and after a truncation that removes a marker.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include "cluster/partition.h"
#include "partition_on_disk.h"
#include "protocol/record_batch.h"
#include "storage/txn_marker.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

class PartitionTxnTest : public PartitionOnDisk {
 protected:
  PartitionTxnTest() : PartitionOnDisk("keel-ptx-") {
    config_.segment_bytes = 2048;
    open(true);
  }
  void lead() { ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}})); }

  // A produce batch of producer `pid` (transactional unless told), one record of 200 bytes.
  AppendOutcome produce(int64_t pid, bool transactional = true) {
    protocol::RecordBatchBuilder b;
    b.producer(pid, 0, seq_[pid]++).transactional(transactional);
    const Bytes v(200, 'x');
    b.add(1000, std::nullopt, ByteView(v));
    buffers_.push_back(b.build().value());
    ValidatedRecords records = validate_produce_records(buffers_.back(), {});
    EXPECT_TRUE(records.ok()) << records.message;
    return partition_->append_as_leader(records, -1, 1000);
  }
  int64_t produce_ok(int64_t pid) {
    auto out = produce(pid);
    EXPECT_EQ(out.error, ErrorCode::kNone) << out.message;
    return out.base_offset;
  }
  int64_t end_txn(int64_t pid, bool commit, int32_t coordinator_epoch = 1) {
    auto out = partition_->append_txn_marker(pid, 0, commit, coordinator_epoch, 2000);
    EXPECT_EQ(out.error, ErrorCode::kNone) << out.message;
    return out.base_offset;
  }
  ReadOutcome read_committed(int64_t offset) {
    return partition_->read(offset, 1 << 20, true, -1, Isolation::kReadCommitted, false);
  }

  std::map<int64_t, int32_t> seq_;
  std::vector<Bytes> buffers_;
};

TEST_F(PartitionTxnTest, AnOpenTransactionPinsTheLastStableOffset) {
  lead();
  produce_ok(9);  // a committed transaction first
  end_txn(9, true);
  const int64_t open_first = produce_ok(1);
  produce_ok(2);
  EXPECT_EQ(partition_->high_watermark(), 4);
  EXPECT_EQ(partition_->last_stable_offset(), open_first) << "exactly the open transaction's first offset";
  auto r = read_committed(0);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  EXPECT_EQ(r.last_stable_offset, open_first);
  ASSERT_EQ(r.ranges.size(), 1u);
  EXPECT_EQ(r.ranges[0].end_offset, open_first) << "read_committed stops at the LSO";
  ASSERT_TRUE(r.aborted_transactions);
  EXPECT_TRUE(r.aborted_transactions->empty());
  auto at_lso = read_committed(open_first);
  EXPECT_TRUE(at_lso.ranges.empty()) << "nothing at or past the LSO";
  auto uncommitted = partition_->read(0, 1 << 20, true, -1, Isolation::kReadUncommitted, false);
  EXPECT_FALSE(uncommitted.aborted_transactions) << "read_uncommitted gets a null list";
  EXPECT_EQ(uncommitted.ranges[0].end_offset, 4);

  const int64_t abort_at = end_txn(1, false);
  // Producer 2 is still open, from offset 3.
  EXPECT_EQ(partition_->last_stable_offset(), 3);
  end_txn(2, true);
  EXPECT_EQ(partition_->last_stable_offset(), partition_->high_watermark());
  r = read_committed(0);
  ASSERT_TRUE(r.aborted_transactions);
  ASSERT_EQ(r.aborted_transactions->size(), 1u);
  EXPECT_EQ((*r.aborted_transactions)[0], (storage::AbortedTxn{1, open_first, abort_at, 3}));
  // A fetch that starts after the abort marker has no aborted transactions.
  r = read_committed(abort_at + 1);
  ASSERT_TRUE(r.aborted_transactions);
  EXPECT_TRUE(r.aborted_transactions->empty());
}

TEST_F(PartitionTxnTest, TheLastStableOffsetWaitsForTheMarkerToBeReplicated) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1, 2}, {1, 2}}));
  const int64_t first = produce_ok(1);
  partition_->update_follower(2, 1, 0);
  EXPECT_EQ(partition_->last_stable_offset(), first);
  const int64_t marker = end_txn(1, true);
  EXPECT_EQ(partition_->last_stable_offset(), first) << "the follower has not fetched the marker yet";
  partition_->update_follower(2, marker + 1, 0);
  EXPECT_EQ(partition_->high_watermark(), marker + 1);
  EXPECT_EQ(partition_->last_stable_offset(), marker + 1);
}

TEST_F(PartitionTxnTest, MarkerChecksAsKafka) {
  EXPECT_EQ(partition_->append_txn_marker(1, 0, true, 1, 0).error, ErrorCode::kNotLeaderOrFollower);
  lead();
  produce_ok(1);
  end_txn(1, false, /*coordinator_epoch=*/5);
  EXPECT_EQ(partition_->append_txn_marker(1, 0, true, 4, 0).error, ErrorCode::kTransactionCoordinatorFenced);
  produce_ok(1);
  EXPECT_EQ(produce(1, /*transactional=*/false).error, ErrorCode::kInvalidTxnState);
  auto fenced = partition_->append_txn_marker(1, 1, false, 5, 0);  // the coordinator fences epoch 0
  EXPECT_EQ(fenced.error, ErrorCode::kNone);
  EXPECT_EQ(partition_->append_txn_marker(1, 0, true, 5, 0).error, ErrorCode::kInvalidProducerEpoch);
  auto views = partition_->producers();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].producer_epoch, 1);
  EXPECT_EQ(views[0].coordinator_epoch, 5);
  EXPECT_EQ(views[0].current_txn_start_offset, -1);
}

TEST_F(PartitionTxnTest, ACrashKeepsOpenAndAbortedTransactions) {
  lead();
  const int64_t open_first = produce_ok(1);  // stays open through the crash
  const int64_t aborted_first = produce_ok(2);
  for (int i = 0; i < 12; ++i) produce_ok(2);  // over several 2 KiB segments
  const int64_t abort_at = end_txn(2, false);
  ASSERT_EQ(produce(3, /*transactional=*/false).error, ErrorCode::kNone);  // idempotent only
  ASSERT_GT(log_->segment_count(), 2u);
  ASSERT_TRUE(log_->flush());
  int64_t marker_segment = 0;  // the segment holding the abort marker
  for (int64_t base : log_->segment_base_offsets()) {
    if (base <= abort_at) marker_segment = base;
  }
  const std::string idx = log_->dir() + "/" + storage::segment_file_name(marker_segment, storage::kTxnIndexSuffix);
  ASSERT_TRUE(std::filesystem::exists(idx));
  std::filesystem::remove(idx);  // lost with the crash

  open(/*clean=*/false);
  lead();
  EXPECT_EQ(partition_->last_stable_offset(), open_first);
  EXPECT_TRUE(std::filesystem::exists(idx)) << "rebuilt from the marker";
  auto views = partition_->producers();
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[0].current_txn_start_offset, open_first);
  // The open transaction can still end, and then everything is readable.
  end_txn(1, true);
  auto r = read_committed(0);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  ASSERT_TRUE(r.aborted_transactions);
  ASSERT_EQ(r.aborted_transactions->size(), 1u);
  EXPECT_EQ((*r.aborted_transactions)[0].producer_id, 2);
  EXPECT_EQ((*r.aborted_transactions)[0].first_offset, aborted_first);
  EXPECT_EQ((*r.aborted_transactions)[0].last_offset, abort_at);
  EXPECT_EQ(partition_->last_stable_offset(), partition_->high_watermark());
}

TEST_F(PartitionTxnTest, ATruncationThatRemovesAMarkerReopensTheTransaction) {
  // A follower of broker 2: the leader's batches, with its offsets.
  ASSERT_TRUE(partition_->apply_leader_state({2, 3, 0, {1, 2}, {1, 2}}));
  auto batch = [](int64_t offset, int64_t pid) {
    protocol::RecordBatchBuilder b(protocol::Compression::kNone, offset);
    b.producer(pid, 0, 0).transactional(true).partition_leader_epoch(3).add(1000, std::nullopt, std::nullopt);
    return b.build().value();
  };
  Bytes records = batch(0, 7);
  Bytes marker = storage::build_marker_batch({7, 0, false, 1}, 1000, 3).value();
  protocol::set_base_offset(marker, 1);
  records.insert(records.end(), marker.begin(), marker.end());
  ASSERT_EQ(partition_->append_as_follower(records, 2, 3), ErrorCode::kNone);
  EXPECT_EQ(partition_->high_watermark(), 2);
  EXPECT_EQ(partition_->last_stable_offset(), 2);
  auto aborted = log_->collect_aborted_txns(0, 2);
  ASSERT_TRUE(aborted);
  EXPECT_EQ(aborted->size(), 1u) << "a follower indexes the aborts it replicates";

  // The new leader never had the marker: truncate to offset 1.
  ASSERT_EQ(partition_->truncate_to_divergence(3, 1, 3), ErrorCode::kNone);
  EXPECT_EQ(partition_->log_end_offset(), 1);
  EXPECT_EQ(partition_->last_stable_offset(), 0) << "the transaction is open again";
  auto views = partition_->producers();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].current_txn_start_offset, 0);
  aborted = log_->collect_aborted_txns(0, 2);
  ASSERT_TRUE(aborted);
  EXPECT_TRUE(aborted->empty());
}

}  // namespace
}  // namespace keel::cluster
