// Producer state and transactions: open transactions per producer, markers
// with Kafka's epoch and coordinator-epoch checks, the first unstable
// offset, and snapshots that carry both.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "cluster/producer_state.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

class ProducerTxnTest : public ::testing::Test {
 protected:
  ProducerTxnTest()
      : dir_(std::filesystem::temp_directory_path() / ("keel-ptxn-" + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(dir_);
  }
  ~ProducerTxnTest() override { std::filesystem::remove_all(dir_); }

  static ProducerBatch txn_batch(int64_t pid, int32_t seq, int64_t offset, int64_t ts = 1000) {
    ProducerBatch x;
    x.producer_id = pid;
    x.producer_epoch = 0;
    x.base_sequence = x.last_sequence = seq;
    x.first_offset = x.last_offset = offset;
    x.transactional = true;
    x.timestamp = ts;
    return x;
  }
  static MarkerBatch marker(int64_t pid, bool commit, int64_t offset, int32_t coordinator_epoch = 1,
                            int16_t epoch = 0) {
    return MarkerBatch{pid, epoch, commit, coordinator_epoch, offset, 2000};
  }

  std::filesystem::path dir_;
};

TEST_F(ProducerTxnTest, TheFirstTransactionalBatchOpensAndAMarkerCloses) {
  ProducerStateManager s(dir_.string());
  EXPECT_FALSE(s.first_unstable_offset());
  s.record(txn_batch(1, 0, 10));
  s.record(txn_batch(2, 0, 11));
  s.record(txn_batch(1, 1, 12));  // same transaction: still begins at 10
  EXPECT_EQ(s.first_unstable_offset(), std::optional<int64_t>(10));
  EXPECT_EQ(s.ongoing_txn_count(), 2u);

  auto done = s.complete_txn(marker(1, false, 13));
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, (CompletedTxn{1, 10, 13, true}));
  // Producer 2's transaction (from 11) holds the aborted one's LSO.
  EXPECT_EQ(s.last_stable_offset_after(*done), 11);
  // Completed but not yet replicated: still unstable until the HW passes 13.
  EXPECT_EQ(s.first_unstable_offset(), std::optional<int64_t>(10));
  s.on_high_watermark(14);
  EXPECT_EQ(s.first_unstable_offset(), std::optional<int64_t>(11));
  auto commit = s.complete_txn(marker(2, true, 14));
  ASSERT_TRUE(commit);
  EXPECT_FALSE(commit->aborted);
  EXPECT_EQ(s.last_stable_offset_after(*commit), 15);
  s.on_high_watermark(15);
  EXPECT_FALSE(s.first_unstable_offset());
  // A marker with no open transaction closes nothing (Kafka: no index entry).
  EXPECT_FALSE(s.complete_txn(marker(1, true, 15)));
}

TEST_F(ProducerTxnTest, MarkersAreFencedByProducerAndCoordinatorEpochs) {
  ProducerStateManager s(dir_.string());
  EXPECT_EQ(s.check_marker(marker(5, true, -1)).error, ErrorCode::kNone) << "an unknown producer is accepted";
  s.record(txn_batch(5, 0, 0));
  ASSERT_TRUE(s.complete_txn(marker(5, true, 1, /*coordinator_epoch=*/4)));
  EXPECT_EQ(s.check_marker(marker(5, false, -1, 3)).error, ErrorCode::kTransactionCoordinatorFenced);
  EXPECT_EQ(s.check_marker(marker(5, false, -1, 4)).error, ErrorCode::kNone);
  EXPECT_EQ(s.check_marker(marker(5, false, -1, 5)).error, ErrorCode::kNone);
  // A fencing abort bumps the epoch; older epochs are refused from then on.
  (void)s.complete_txn(marker(5, false, 2, 4, /*epoch=*/1));
  EXPECT_EQ(s.check_marker(marker(5, false, -1, 4, 0)).error, ErrorCode::kInvalidProducerEpoch);
  ProducerBatch old = txn_batch(5, 0, -1);
  EXPECT_EQ(s.check(old).error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(ProducerTxnTest, ANonTransactionalBatchInsideATransactionIsInvalidTxnState) {
  ProducerStateManager s(dir_.string());
  s.record(txn_batch(3, 0, 0));
  ProducerBatch plain = txn_batch(3, 1, -1);
  plain.transactional = false;
  EXPECT_EQ(s.check(plain).error, ErrorCode::kInvalidTxnState);
  plain.transactional = true;
  EXPECT_EQ(s.check(plain).error, ErrorCode::kNone);
}

// Found by the fault runs (docs/chaos.md, seed 9494): librdkafka purged a
// batch that had reached the log (its leader died before answering), aborted,
// and sent the next transaction's first batch with the purged batch's
// sequence. Answered as a duplicate, that batch was lost from a committed
// transaction. A genuine retry stays a duplicate while its transaction is
// open; after the marker the same sequences are out of order.
TEST_F(ProducerTxnTest, ASequenceOfAnEndedTransactionIsOutOfOrderNotADuplicate) {
  ProducerStateManager s(dir_.string());
  s.record(txn_batch(7, 0, 10));
  s.record(txn_batch(7, 1, 11));
  ProducerBatch retry = txn_batch(7, 1, -1);
  ProducerCheck c = s.check(retry);
  EXPECT_EQ(c.error, ErrorCode::kNone);
  ASSERT_TRUE(c.duplicate) << "a retry inside its open transaction";
  EXPECT_EQ(c.duplicate->first_offset, 11);
  ASSERT_TRUE(s.complete_txn(marker(7, false, 12)));
  c = s.check(retry);
  EXPECT_EQ(c.error, ErrorCode::kOutOfOrderSequenceNumber) << c.message;
  EXPECT_FALSE(c.duplicate);
  EXPECT_EQ(s.check(txn_batch(7, 2, -1)).error, ErrorCode::kNone) << "the next sequence goes on";
  // A later transaction: its own batch is a duplicate again, the earlier one's is not.
  s.record(txn_batch(7, 2, 13));
  c = s.check(txn_batch(7, 2, -1));
  ASSERT_TRUE(c.duplicate);
  EXPECT_EQ(c.duplicate->first_offset, 13);
  EXPECT_EQ(s.check(retry).error, ErrorCode::kOutOfOrderSequenceNumber);
  // An idempotent (non-transactional) producer has no markers: unchanged.
  ProducerBatch plain = txn_batch(8, 0, 20);
  plain.transactional = false;
  s.record(plain);
  plain.first_offset = plain.last_offset = -1;
  c = s.check(plain);
  ASSERT_TRUE(c.duplicate);
  EXPECT_EQ(c.duplicate->first_offset, 20);
}

TEST_F(ProducerTxnTest, SnapshotsCarryOpenTransactionsAndCoordinatorEpochs) {
  {
    ProducerStateManager s(dir_.string());
    s.record(txn_batch(1, 0, 0));
    ASSERT_TRUE(s.complete_txn(marker(1, true, 1, 9, /*epoch=*/1)));  // a new epoch: only its epochs are left
    s.record(txn_batch(2, 0, 2));                         // open at 2
    ASSERT_TRUE(s.take_snapshot(3));
  }
  auto bytes = [&] {
    std::ifstream in(dir_ / "00000000000000000003.snapshot", std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  auto entries = decode_producer_snapshot(bytes);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].producer_id, 1);
  EXPECT_EQ((*entries)[0].coordinator_epoch, 9);
  EXPECT_EQ((*entries)[0].current_txn_first_offset, -1);
  EXPECT_EQ((*entries)[0].last_sequence, -1) << "a marker cleared its batches";
  EXPECT_EQ((*entries)[1].current_txn_first_offset, 2);

  // Reloaded (even long after: an open transaction never expires).
  ProducerStateManager s(dir_.string(), /*producer_id_expiration_ms=*/1000);
  EXPECT_EQ(s.load(0, 3, /*now_ms=*/10'000'000), 3);
  EXPECT_EQ(s.first_unstable_offset(), std::optional<int64_t>(2));
  EXPECT_EQ(s.producer_count(), 1u) << "the idle producer without a transaction expired";
  s.remove_expired(20'000'000);
  EXPECT_EQ(s.producer_count(), 1u);
  auto done = s.complete_txn(marker(2, false, 3));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->first_offset, 2);
}

}  // namespace
}  // namespace keel::cluster
