#include "cluster/replica_selector.h"

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

const std::vector<ReplicaView> kReplicas = {
    {1, "a", 100, 0},   // the leader
    {2, "b", 90, 50},
    {3, "b", 100, 200},
    {4, "c", 100, 10},
};

TEST(ReplicaSelector, ParsesKafkasClassNames) {
  EXPECT_EQ(parse_replica_selector(""), ReplicaSelectorKind::kNone);
  EXPECT_EQ(parse_replica_selector("org.apache.kafka.common.replica.RackAwareReplicaSelector"),
            ReplicaSelectorKind::kRackAware);
  EXPECT_EQ(parse_replica_selector("org.apache.kafka.common.replica.LeaderSelector"), ReplicaSelectorKind::kLeader);
  EXPECT_EQ(parse_replica_selector("com.example.Mine"), std::nullopt);
}

TEST(ReplicaSelector, RackAwarePicksTheMostCaughtUpReplicaInTheClientsRack) {
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "b", kReplicas, 1), 3);
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "c", kReplicas, 1), 4);
}

TEST(ReplicaSelector, EqualLogEndsPreferTheMostRecentlyCaughtUp) {
  std::vector<ReplicaView> r = {{1, "a", 100, 0}, {2, "b", 100, 300}, {3, "b", 100, 20}};
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "b", r, 1), 3);
}

TEST(ReplicaSelector, TheLeaderWhenItIsInTheRackOrNoneIs) {
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "a", kReplicas, 1), 1);
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "z", kReplicas, 1), 1);
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kRackAware, "", kReplicas, 1), 1);
}

TEST(ReplicaSelector, LeaderSelectorAndNoSelectorAlwaysAnswerTheLeader) {
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kLeader, "b", kReplicas, 1), 1);
  EXPECT_EQ(select_read_replica(ReplicaSelectorKind::kNone, "b", kReplicas, 1), 1);
}

}  // namespace
}  // namespace keel::cluster
