#include "metrics/lag_status.h"

#include <gtest/gtest.h>

namespace keel::metrics {
namespace {

std::deque<LagSample> window(std::initializer_list<std::pair<int64_t, int64_t>> committed_lag) {
  std::deque<LagSample> w;
  int64_t t = 0;
  for (auto [c, l] : committed_lag) w.push_back({t += kSampleMs, c, l});
  return w;
}

TEST(LagStatus, OneSampleIsOk) {
  EXPECT_EQ(evaluate_partition(window({{5, 100}}), true), PartitionLagStatus::kOk);
}

TEST(LagStatus, ZeroLagAnywhereInTheWindowIsOk) {
  EXPECT_EQ(evaluate_partition(window({{5, 10}, {5, 0}, {5, 20}}), true), PartitionLagStatus::kOk);
}

TEST(LagStatus, OffsetNotMovingWithLagIsStallWithMembersAndStopWithout) {
  auto w = window({{5, 10}, {5, 12}, {5, 15}});
  EXPECT_EQ(evaluate_partition(w, true), PartitionLagStatus::kStall);
  EXPECT_EQ(evaluate_partition(w, false), PartitionLagStatus::kStop);
}

TEST(LagStatus, MovingOffsetWithGrowingLagIsWarn) {
  EXPECT_EQ(evaluate_partition(window({{5, 10}, {8, 12}, {9, 15}}), true), PartitionLagStatus::kWarn);
  // Growing in only some intervals: keeping up on the whole.
  EXPECT_EQ(evaluate_partition(window({{5, 10}, {8, 12}, {20, 3}}), true), PartitionLagStatus::kOk);
  // Two samples are not enough to call a trend.
  EXPECT_EQ(evaluate_partition(window({{5, 10}, {8, 12}}), true), PartitionLagStatus::kOk);
}

TEST(LagStatus, OffsetGoingBackIsRewindAndTheGroupIsErr) {
  auto w = window({{50, 1}, {10, 41}});
  EXPECT_EQ(evaluate_partition(w, true), PartitionLagStatus::kRewind);
  EXPECT_EQ(group_status({PartitionLagStatus::kOk, PartitionLagStatus::kRewind}), LagStatus::kErr);
}

TEST(LagStatus, GroupIsTheWorstPartition) {
  EXPECT_EQ(group_status({}), LagStatus::kOk);
  EXPECT_EQ(group_status({PartitionLagStatus::kOk, PartitionLagStatus::kWarn}), LagStatus::kWarn);
  EXPECT_EQ(group_status({PartitionLagStatus::kStop, PartitionLagStatus::kWarn, PartitionLagStatus::kStall}),
            LagStatus::kStop);
  EXPECT_EQ(status_name(LagStatus::kStall), "STALL");
  EXPECT_EQ(burrow_code(LagStatus::kStall), 6);
}

TEST(LagStatus, SamplesAreSpacedAndTheWindowIsBounded) {
  std::deque<LagSample> w;
  add_sample(w, {0, 1, 1});
  add_sample(w, {kSampleMs - 1, 2, 1});  // too soon: ignored
  EXPECT_EQ(w.size(), 1u);
  for (int i = 1; i <= 20; ++i) add_sample(w, {i * kSampleMs, i, 1});
  EXPECT_EQ(w.size(), kWindowSamples);
  EXPECT_EQ(w.back().committed, 20);
  EXPECT_EQ(w.front().committed, 20 - int64_t(kWindowSamples) + 1);
}

}  // namespace
}  // namespace keel::metrics
