#include "storage/leader_epoch_cache.h"

#include <gtest/gtest.h>

#include "storage/checkpoint.h"
#include "storage/errors.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::TempDir;

std::vector<EpochEntry> E(std::initializer_list<EpochEntry> l) { return l; }

TEST(LeaderEpochCache, AssignPersistsKafkasFormatAndReloads) {
  TempDir tmp;
  auto c = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->latest_epoch(), -1);
  ASSERT_TRUE(c->assign(0, 0));
  ASSERT_TRUE(c->assign(2, 10));
  ASSERT_TRUE(c->assign(5, 42));
  EXPECT_EQ(test::read_file(tmp.sub(kLeaderEpochCheckpoint)), "0\n3\n0 0\n2 10\n5 42\n");
  EXPECT_EQ(test::file_size(tmp.sub(std::string(kLeaderEpochCheckpoint) + ".tmp")), -1);
  auto back = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->entries(), E({{0, 0}, {2, 10}, {5, 42}}));
  EXPECT_EQ(back->latest_epoch(), 5);
}

TEST(LeaderEpochCache, RepeatedEpochIsNoOpAndConflictingEntriesAreDropped) {
  TempDir tmp;
  auto c = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->assign(1, 0));
  ASSERT_TRUE(c->assign(3, 20));
  auto same = c->assign(3, 25);  // later batch of the same epoch
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);
  auto lower = c->assign(4, 15);  // a new epoch starting below epoch 3's start: 3 goes
  ASSERT_TRUE(lower);
  EXPECT_TRUE(*lower);
  EXPECT_EQ(c->entries(), E({{1, 0}, {4, 15}}));
  ASSERT_TRUE(c->assign(2, 30));  // an older epoch at a later offset replaces epoch 4
  EXPECT_EQ(c->entries(), E({{1, 0}, {2, 30}}));
  EXPECT_FALSE(c->assign(-1, 5));
  EXPECT_FALSE(c->assign(1, -5));
}

TEST(LeaderEpochCache, EndOffsetForFollowsOffsetForLeaderEpochRules) {
  TempDir tmp;
  auto c = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->end_offset_for(0, 100), std::make_pair(-1, int64_t{-1}));  // empty
  ASSERT_TRUE(c->assign(2, 10));
  ASSERT_TRUE(c->assign(4, 30));
  ASSERT_TRUE(c->assign(7, 50));
  EXPECT_EQ(c->end_offset_for(7, 90), std::make_pair(7, int64_t{90}));   // latest: the log end
  EXPECT_EQ(c->end_offset_for(4, 90), std::make_pair(4, int64_t{50}));   // ends where 7 starts
  EXPECT_EQ(c->end_offset_for(5, 90), std::make_pair(4, int64_t{50}));   // unknown: the largest below
  EXPECT_EQ(c->end_offset_for(1, 90), std::make_pair(1, int64_t{10}));   // below all: first start
  EXPECT_EQ(c->end_offset_for(8, 90), std::make_pair(-1, int64_t{-1}));  // above all
  EXPECT_EQ(c->end_offset_for(-1, 90), std::make_pair(-1, int64_t{-1}));
}

TEST(LeaderEpochCache, TruncationFromEndAndStartIsPersisted) {
  TempDir tmp;
  auto c = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(c);
  for (auto [e, o] : {std::pair{1, 0}, {2, 10}, {3, 20}, {4, 30}}) ASSERT_TRUE(c->assign(e, o));
  ASSERT_TRUE(c->truncate_from_end(20));  // log cut to [.., 20): epochs 3 and 4 never happened here
  EXPECT_EQ(c->entries(), E({{1, 0}, {2, 10}}));
  ASSERT_TRUE(c->truncate_from_end(50));  // beyond every start: nothing changes
  EXPECT_EQ(c->entries(), E({{1, 0}, {2, 10}}));
  ASSERT_TRUE(c->assign(3, 20));
  ASSERT_TRUE(c->truncate_from_start(15));  // log start 15 lies in epoch 2
  EXPECT_EQ(c->entries(), E({{2, 15}, {3, 20}}));
  ASSERT_TRUE(c->truncate_from_start(5));  // below the first start: nothing
  EXPECT_EQ(c->entries(), E({{2, 15}, {3, 20}}));
  auto back = LeaderEpochCache::open(tmp.path());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->entries(), E({{2, 15}, {3, 20}}));
}

TEST(LeaderEpochCache, MalformedFilesAreRefused) {
  TempDir tmp;
  for (const char* bad : {"1\n0\n", "0\n2\n1 0\n", "0\n1\n1\n", "0\n1\nx 0\n", "0\n2\n3 0\n2 5\n",
                          "0\n2\n1 10\n2 5\n", "0\n1\n1 0\n2 5\n", "", "0\n1\n-1 0\n"}) {
    ASSERT_TRUE(write_file_atomic(tmp.sub(kLeaderEpochCheckpoint), bad));
    auto c = LeaderEpochCache::open(tmp.path());
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error(), make_error_code(StorageErrc::kBadCheckpoint)) << bad;
  }
}

}  // namespace
}  // namespace keel::storage
