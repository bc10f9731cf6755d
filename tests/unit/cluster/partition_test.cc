// A partition on its leader: appends stamp the leader epoch, the high
// watermark follows the ISR, reads stop at it, and the leader checks
// (NOT_LEADER_OR_FOLLOWER, fenced/unknown epochs, min.insync.replicas) hold.

#include "cluster/partition.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <random>


#include "common/log.h"
#include "protocol/record_batch.h"
#include "storage/log_manager.h"
#include "support/log_capture.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

class PartitionTest : public ::testing::Test {
 protected:
  PartitionTest() {
    dir_ = std::filesystem::temp_directory_path() / ("keel-partition-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir_.string()};
    auto opened = storage::LogManager::open(o);
    manager_ = std::move(opened.value());
    log_ = *manager_->get_or_create({"t", 0}, storage::LogConfig{}, "");
    partition_ = std::make_unique<Partition>(TopicPartition{"t", 0}, protocol::Uuid::random(), log_, 1);
  }
  ~PartitionTest() override {
    (void)manager_->shutdown();
    manager_.reset();
    std::filesystem::remove_all(dir_);
  }

  ValidatedRecords batch(int n) {
    protocol::RecordBatchBuilder b;
    for (int i = 0; i < n; ++i) {
      Bytes v = {static_cast<uint8_t>(i)};
      b.add(1000 + i, std::nullopt, ByteView(v));
    }
    buffers_.push_back(b.build().value());
    ValidatedRecords v = validate_produce_records(buffers_.back(), {});
    EXPECT_TRUE(v.ok()) << v.message;
    return v;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::LogManager> manager_;
  storage::Log* log_ = nullptr;
  std::unique_ptr<Partition> partition_;
  std::vector<Bytes> buffers_;
};

// The leadership term: newer epochs of one leadership (ISR changes) stay in
// it; being a follower in between starts a new one.
TEST_F(PartitionTest, ALeadershipTermOutlivesEpochBumpsButNotAFollowerSpell) {
  EXPECT_FALSE(partition_->term_led_since(0)) << "no leader state yet";
  ASSERT_TRUE(partition_->apply_leader_state({1, 3, 0, {1, 2}, {1, 2}}));
  const auto first = partition_->term_led_since(3);
  ASSERT_TRUE(first);
  EXPECT_TRUE(partition_->leads_in_term(*first));
  ASSERT_TRUE(partition_->apply_leader_state({1, 4, 1, {1, 2}, {1}}));  // an ISR change: epoch 4
  EXPECT_EQ(partition_->term_led_since(3), first);
  EXPECT_EQ(partition_->term_led_since(4), first);
  EXPECT_FALSE(partition_->term_led_since(2)) << "before the leadership began";
  EXPECT_FALSE(partition_->term_led_since(5)) << "an epoch not reached yet";
  ASSERT_TRUE(partition_->apply_leader_state({2, 5, 2, {1, 2}, {2}}));  // a follower
  EXPECT_FALSE(partition_->term_led_since(4));
  EXPECT_FALSE(partition_->leads_in_term(*first));
  ASSERT_TRUE(partition_->apply_leader_state({1, 6, 3, {1, 2}, {1}}));  // the leader again
  EXPECT_FALSE(partition_->term_led_since(4)) << "the earlier leadership ended at epoch 5";
  const auto second = partition_->term_led_since(6);
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
  EXPECT_FALSE(partition_->leads_in_term(*first));
}

TEST_F(PartitionTest, OnlyTheLeaderAppendsAndEachBatchCarriesItsLeaderEpoch) {
  EXPECT_EQ(partition_->append_as_leader(batch(1), 1, 0).error, ErrorCode::kNotLeaderOrFollower)
      << "no leader state yet";
  ASSERT_TRUE(partition_->apply_leader_state({1, 7, 0, {1}, {1}}));
  auto out = partition_->append_as_leader(batch(3), 1, 0);
  ASSERT_EQ(out.error, ErrorCode::kNone) << out.message;
  EXPECT_EQ(out.base_offset, 0);
  EXPECT_EQ(partition_->high_watermark(), 3);
  auto read = partition_->read(0, 1 << 20, true, -1, Isolation::kReadUncommitted, false);
  ASSERT_EQ(read.error, ErrorCode::kNone);
  ASSERT_EQ(read.ranges.size(), 1u);
  Bytes stored(static_cast<size_t>(read.ranges[0].length));
  ASSERT_EQ(::pread(read.ranges[0].file->fd(), stored.data(), stored.size(), read.ranges[0].position),
            read.ranges[0].length);
  auto view = protocol::RecordBatchView::parse(ByteView(stored)).value();
  EXPECT_EQ(view.partition_leader_epoch(), 7);
  EXPECT_TRUE(view.verify_crc()) << "the epoch lies outside the CRC";
  // Another broker leads now.
  ASSERT_TRUE(partition_->apply_leader_state({2, 8, 1, {1, 2}, {1, 2}}));
  EXPECT_EQ(partition_->append_as_leader(batch(1), 1, 0).error, ErrorCode::kNotLeaderOrFollower);
  EXPECT_FALSE(partition_->apply_leader_state({1, 6, 0, {1}, {1}})) << "an older leader epoch is refused";
}

TEST_F(PartitionTest, ReadsStopAtTheHighWatermarkWhileAFollowerLags) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 0, 0, {1}, {1}}));
  ASSERT_EQ(partition_->append_as_leader(batch(2), 1, 0).error, ErrorCode::kNone);
  // A follower joins the ISR; until it reports, the HW stays where it was.
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 1, {1, 2}, {1, 2}}));
  ASSERT_EQ(partition_->append_as_leader(batch(2), 1, 0).error, ErrorCode::kNone);
  EXPECT_EQ(partition_->high_watermark(), 2);
  EXPECT_EQ(partition_->log_end_offset(), 4);
  auto consumer = partition_->read(2, 1 << 20, true, -1, Isolation::kReadUncommitted, false);
  EXPECT_EQ(consumer.error, ErrorCode::kNone);
  EXPECT_TRUE(consumer.ranges.empty()) << "records above the HW are not visible to consumers";
  auto follower = partition_->read(2, 1 << 20, true, -1, Isolation::kReadUncommitted, true);
  EXPECT_EQ(follower.ranges.size(), 1u) << "followers read to the log end";
  EXPECT_EQ(partition_->read(9, 100, true, -1, Isolation::kReadUncommitted, false).error,
            ErrorCode::kOffsetOutOfRange);
}

// A follower in controlled shutdown reaches the high watermark on every fetch
// and the controller refuses it back into the ISR (INELIGIBLE_REPLICA) each
// time: the leader keeps asking, but says so once at info, not twice a second
// for each partition.
TEST_F(PartitionTest, TheSameIsrRefusalIsAskedAgainButLoggedOnce) {
  auto leader = std::make_shared<Partition>(TopicPartition{"t", 0}, protocol::Uuid::random(), log_, 1);
  std::vector<Partition::IsrChange> sent;
  std::function<void(const Partition::IsrChangeResult&)> answer;
  leader->set_isr_sender([&](const Partition::IsrChange& c, std::function<void(const Partition::IsrChangeResult&)> cb) {
    sent.push_back(c);
    answer = std::move(cb);
  });
  test::LogCapture logs("replica", spdlog::level::info);

  ASSERT_TRUE(leader->apply_leader_state({1, 3, 7, {1, 2}, {1}}));
  ASSERT_EQ(leader->append_as_leader(batch(2), 1, 0).error, ErrorCode::kNone);
  const Partition::IsrChangeResult refused{ErrorCode::kIneligibleReplica, 0, 0, {}};
  for (int fetch = 0; fetch < 3; ++fetch) {
    leader->update_follower(2, 2, 1000 + fetch);
    ASSERT_EQ(sent.size(), static_cast<size_t>(fetch + 1)) << "asked again after each refusal";
    EXPECT_EQ(sent.back().new_isr, (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(sent.back().partition_epoch, 7);
    answer(refused);
  }
  // A new leader state (LeaderAndIsr): its first refusal is news again.
  ASSERT_TRUE(leader->apply_leader_state({1, 4, 8, {1, 2}, {1}}));
  leader->update_follower(2, 2, 2000);
  answer(refused);

  EXPECT_EQ(logs.lines_with("refused: INELIGIBLE_REPLICA").size(), 2u) << logs.text();
}

TEST_F(PartitionTest, LeaderEpochChecksAndMinInsyncReplicas) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 5, 0, {1, 2}, {1}}));
  EXPECT_EQ(partition_->check_leader_epoch(4), ErrorCode::kFencedLeaderEpoch);
  EXPECT_EQ(partition_->check_leader_epoch(6), ErrorCode::kUnknownLeaderEpoch);
  EXPECT_EQ(partition_->check_leader_epoch(5), ErrorCode::kNone);
  EXPECT_EQ(partition_->check_leader_epoch(-1), ErrorCode::kNone);
  auto config = std::make_shared<PartitionConfig>();
  config->min_insync_replicas = 2;
  partition_->set_config(config);
  auto all = partition_->append_as_leader(batch(1), -1, 0);
  EXPECT_EQ(all.error, ErrorCode::kNotEnoughReplicas);
  EXPECT_EQ(partition_->log_end_offset(), 0) << "nothing appended";
  EXPECT_EQ(partition_->append_as_leader(batch(1), 1, 0).error, ErrorCode::kNone) << "acks=1 ignores min.insync";
}

// A consumer fetching from a follower (KIP-392) past the follower's own log
// end (it lags, or came back on an empty disk) is sent to the leader rather
// than told OFFSET_OUT_OF_RANGE, which makes clients without KIP-320 reset
// their position and read the partition again (docs/compatibility.md).
TEST_F(PartitionTest, AConsumerPastAFollowersLogEndIsSentToTheLeader) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 1, 0, {1, 2}, {1, 2}}));
  ASSERT_EQ(partition_->append_as_leader(batch(3), 1, 0).error, ErrorCode::kNone);
  // Broker 2 leads now; this replica (1) follows.
  ASSERT_TRUE(partition_->apply_leader_state({2, 2, 1, {1, 2}, {1, 2}}));
  const int64_t end = partition_->log_end_offset();
  auto from_follower = [&](int64_t offset) {
    return partition_->read(offset, 100, true, -1, Isolation::kReadUncommitted, false, -1, /*leader_only=*/false);
  };
  EXPECT_EQ(from_follower(end + 2).error, ErrorCode::kNotLeaderOrFollower);
  EXPECT_EQ(from_follower(end).error, ErrorCode::kNone) << "at the log end: an empty answer";
  // The leader still says OFFSET_OUT_OF_RANGE past its end.
  ASSERT_TRUE(partition_->apply_leader_state({1, 3, 2, {1, 2}, {1, 2}}));
  EXPECT_EQ(partition_->read(partition_->log_end_offset() + 2, 100, true, -1, Isolation::kReadUncommitted, false)
                .error,
            ErrorCode::kOffsetOutOfRange);
}

// Fetch v12+'s last fetched epoch (KIP-320/KIP-595), as Kafka's readRecords
// answers it: a fetcher whose log ran ahead in an epoch that ended earlier
// here learns that epoch's end instead of getting records.
TEST_F(PartitionTest, ALastFetchedEpochThatEndedEarlierHereAnswersTheDivergingEpoch) {
  ASSERT_TRUE(partition_->apply_leader_state({1, 3, 0, {1}, {1}}));
  ASSERT_EQ(partition_->append_as_leader(batch(4), 1, 0).error, ErrorCode::kNone);  // epoch 3: 0-3
  ASSERT_TRUE(partition_->apply_leader_state({1, 5, 1, {1}, {1}}));
  ASSERT_EQ(partition_->append_as_leader(batch(2), 1, 0).error, ErrorCode::kNone);  // epoch 5: 4-5
  auto read = [&](int64_t offset, int32_t last_fetched_epoch) {
    return partition_->read(offset, 1 << 20, true, -1, Isolation::kReadUncommitted, false, last_fetched_epoch);
  };

  // The fetcher wrote epoch 3 up to offset 6; here epoch 3 ended at 4.
  auto diverged = read(6, 3);
  EXPECT_EQ(diverged.error, ErrorCode::kNone);
  ASSERT_TRUE(diverged.diverging_epoch);
  EXPECT_EQ(*diverged.diverging_epoch, std::make_pair(3, int64_t{4}));
  EXPECT_TRUE(diverged.ranges.empty());
  EXPECT_EQ(diverged.high_watermark, 6);

  // An epoch between two known ones: the older one and where the next starts.
  auto between = read(5, 4);
  ASSERT_TRUE(between.diverging_epoch);
  EXPECT_EQ(*between.diverging_epoch, std::make_pair(3, int64_t{4}));

  // Consistent: the fetch reads on.
  auto same = read(4, 3);
  EXPECT_EQ(same.error, ErrorCode::kNone);
  EXPECT_FALSE(same.diverging_epoch);
  EXPECT_EQ(same.ranges.size(), 1u);
  EXPECT_FALSE(read(6, 5).diverging_epoch) << "the latest epoch ends at the log end";

  // The latest epoch past the log end: diverging at the log end, not OFFSET_OUT_OF_RANGE.
  auto past_end = read(9, 5);
  EXPECT_EQ(past_end.error, ErrorCode::kNone);
  ASSERT_TRUE(past_end.diverging_epoch);
  EXPECT_EQ(*past_end.diverging_epoch, std::make_pair(5, int64_t{6}));
  EXPECT_EQ(read(9, -1).error, ErrorCode::kOffsetOutOfRange) << "without an epoch the range check decides";

  // An epoch newer than any known cannot be placed: OFFSET_OUT_OF_RANGE, as Kafka.
  EXPECT_EQ(read(2, 7).error, ErrorCode::kOffsetOutOfRange);
  // Fencing comes first.
  EXPECT_EQ(partition_->read(6, 100, true, 4, Isolation::kReadUncommitted, false, 3).error,
            ErrorCode::kFencedLeaderEpoch);
}

TEST_F(PartitionTest, EpochForOffsetFollowsTheLeaderEpochCache) {
  EXPECT_EQ(partition_->epoch_for_offset(0), -1) << "no epoch recorded yet";
  ASSERT_TRUE(partition_->apply_leader_state({1, 2, 0, {1}, {1}}));
  ASSERT_EQ(partition_->append_as_leader(batch(3), 1, 0).error, ErrorCode::kNone);
  ASSERT_TRUE(partition_->apply_leader_state({1, 4, 1, {1}, {1}}));
  ASSERT_EQ(partition_->append_as_leader(batch(1), 1, 0).error, ErrorCode::kNone);
  EXPECT_EQ(partition_->epoch_for_offset(0), 2);
  EXPECT_EQ(partition_->epoch_for_offset(2), 2);
  EXPECT_EQ(partition_->epoch_for_offset(3), 4);
  EXPECT_EQ(partition_->epoch_for_offset(100), 4);
}

}  // namespace
}  // namespace keel::cluster
