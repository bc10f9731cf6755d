// KIP-227 incremental fetch sessions: creation, epochs, incremental
// add/update/forget, which partitions an incremental response carries, closing,
// eviction and topic-id consistency.

#include "cluster/fetch_session.h"

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

FetchPartitionRequest part(const std::string& topic, int32_t p, int64_t offset = 0) {
  FetchPartitionRequest r;
  r.key = {topic, {}, p};
  r.fetch_offset = offset;
  r.partition_max_bytes = 1 << 20;
  return r;
}

FetchPartitionResult result(int64_t hw, bool records = false, ErrorCode error = ErrorCode::kNone) {
  FetchPartitionResult r;
  r.high_watermark = hw;
  r.last_stable_offset = hw;
  r.log_start_offset = 0;
  r.has_records = records;
  r.error = error;
  return r;
}

struct Clock {
  int64_t now = 1000;
};

class FetchSessionTest : public ::testing::Test {
 protected:
  FetchSessionCache make(size_t slots = 10) {
    FetchSessionCacheOptions o;
    o.max_slots = slots;
    o.eviction_ms = 1000;
    o.clock = [this] { return clock_.now; };
    return FetchSessionCache(o);
  }
  Clock clock_;
};

TEST_F(FetchSessionTest, OldVersionsAndFinalEpochAreSessionless) {
  auto cache = make();
  auto v6 = cache.new_context(6, 0, 0, {part("a", 0)}, {}, false);
  EXPECT_EQ(v6.response_session_id, kInvalidSessionId);
  EXPECT_EQ(v6.partitions.size(), 1u);
  auto final = cache.new_context(12, 0, kFinalEpoch, {part("a", 0)}, {}, false);
  EXPECT_EQ(final.response_session_id, kInvalidSessionId);
  EXPECT_FALSE(final.session);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(FetchSessionTest, EpochZeroCreatesASessionAndIncrementalRequestsReadAllItsPartitions) {
  auto cache = make();
  auto full = cache.new_context(12, 0, kInitialEpoch, {part("a", 0), part("a", 1)}, {}, false);
  ASSERT_NE(full.response_session_id, kInvalidSessionId);
  EXPECT_FALSE(full.incremental);
  full.session->update(full, {result(5), result(7)});
  const int32_t id = full.response_session_id;

  // Epoch 1 names nothing: the session's two partitions are read.
  auto inc = cache.new_context(12, id, 1, {}, {}, false);
  ASSERT_EQ(inc.error, ErrorCode::kNone);
  EXPECT_TRUE(inc.incremental);
  EXPECT_EQ(inc.response_session_id, id);
  ASSERT_EQ(inc.partitions.size(), 2u);
  // Only the partition with news is answered.
  auto include = inc.session->update(inc, {result(5), result(9, true)});
  EXPECT_EQ(include, (std::vector<bool>{false, true}));

  // Epoch 2 updates a fetch offset, adds a partition and forgets one.
  auto next = cache.new_context(12, id, 2, {part("a", 1, 9), part("b", 0)}, {{"a", {}, 0}}, false);
  ASSERT_EQ(next.error, ErrorCode::kNone);
  ASSERT_EQ(next.partitions.size(), 2u);
  EXPECT_EQ(next.partitions[0].key.topic, "a");
  EXPECT_EQ(next.partitions[0].fetch_offset, 9);
  EXPECT_EQ(next.partitions[1].key.topic, "b");
  include = next.session->update(next, {result(9), result(0)});
  EXPECT_EQ(include, (std::vector<bool>{false, true})) << "a new partition is always sent first time";
}

TEST_F(FetchSessionTest, WrongEpochAndUnknownIdAreErrors) {
  auto cache = make();
  auto full = cache.new_context(12, 0, 0, {part("a", 0)}, {}, false);
  const int32_t id = full.response_session_id;
  EXPECT_EQ(cache.new_context(12, id, 5, {}, {}, false).error, ErrorCode::kInvalidFetchSessionEpoch);
  EXPECT_EQ(cache.new_context(12, id + 1, 1, {}, {}, false).error, ErrorCode::kFetchSessionIdNotFound);
  EXPECT_EQ(cache.new_context(12, id, 1, {}, {}, false).error, ErrorCode::kNone);
  EXPECT_EQ(cache.new_context(12, id, 1, {}, {}, false).error, ErrorCode::kInvalidFetchSessionEpoch)
      << "an epoch is used once";
}

TEST_F(FetchSessionTest, ErrorsAreAlwaysSentAndResentWhenTheyClear) {
  auto cache = make();
  auto full = cache.new_context(12, 0, 0, {part("a", 0)}, {}, false);
  full.session->update(full, {result(5)});
  auto e1 = cache.new_context(12, full.response_session_id, 1, {}, {}, false);
  EXPECT_EQ(e1.session->update(e1, {result(-1, false, ErrorCode::kNotLeaderOrFollower)}),
            std::vector<bool>{true});
  auto e2 = cache.new_context(12, full.response_session_id, 2, {}, {}, false);
  EXPECT_EQ(e2.session->update(e2, {result(5)}), std::vector<bool>{true})
      << "after an error the partition is sent again even with the old HW";
}

TEST_F(FetchSessionTest, FinalEpochClosesASession) {
  auto cache = make();
  auto full = cache.new_context(12, 0, 0, {part("a", 0)}, {}, false);
  ASSERT_TRUE(cache.contains(full.response_session_id));
  cache.new_context(12, full.response_session_id, kFinalEpoch, {part("a", 0)}, {}, false);
  EXPECT_FALSE(cache.contains(full.response_session_id));
  EXPECT_EQ(cache.new_context(12, full.response_session_id, 1, {}, {}, false).error,
            ErrorCode::kFetchSessionIdNotFound);
}

TEST_F(FetchSessionTest, AFullCacheEvictsStaleSessionsThenSmallerOnesElseDeclines) {
  auto cache = make(2);
  auto s1 = cache.new_context(12, 0, 0, {part("a", 0)}, {}, false);
  auto s2 = cache.new_context(12, 0, 0, {part("a", 0), part("a", 1)}, {}, false);
  // Full, nothing stale, the newcomer is not larger than the smallest: no session.
  auto s3 = cache.new_context(12, 0, 0, {part("a", 0)}, {}, false);
  EXPECT_EQ(s3.response_session_id, kInvalidSessionId);
  EXPECT_EQ(s3.partitions.size(), 1u) << "still a full fetch";
  // A larger one evicts the smallest.
  auto s4 = cache.new_context(12, 0, 0, {part("a", 0), part("a", 1), part("a", 2)}, {}, false);
  EXPECT_NE(s4.response_session_id, kInvalidSessionId);
  EXPECT_FALSE(cache.contains(s1.response_session_id));
  // Past the eviction time, any session may go.
  clock_.now += 5000;
  auto s5 = cache.new_context(12, 0, 0, {part("x", 0)}, {}, false);
  EXPECT_NE(s5.response_session_id, kInvalidSessionId);
  EXPECT_EQ(cache.size(), 2u);
  // A follower's session takes the place of a consumer's.
  auto f = cache.new_context(12, 0, 0, {part("y", 0)}, {}, true);
  EXPECT_NE(f.response_session_id, kInvalidSessionId);
}

TEST_F(FetchSessionTest, SwitchingBetweenNamesAndTopicIdsIsATopicIdError) {
  auto cache = make();
  auto full = cache.new_context(13, 0, 0, {part("a", 0)}, {}, false);
  EXPECT_EQ(cache.new_context(12, full.response_session_id, 1, {}, {}, false).error,
            ErrorCode::kFetchSessionTopicIdError);
}

}  // namespace
}  // namespace keel::cluster
