// Kafka's ReplicaAssignment arithmetic for reassignments (KIP-455): what the
// assignment node records while a partition moves, how a new target replaces
// one under way, what cancelling goes back to, and which targets are refused.

#include "controller/reassignment.h"

#include <gtest/gtest.h>

namespace keel::controller {
namespace {

using V = std::vector<int32_t>;

TEST(Reassignment, AMoveListsTheTargetFirstThenTheReplicasLeaving) {
  const ReplicaAssignment current{{1, 2, 3}, {}, {}};
  const ReplicaAssignment r = current.reassign_to({4, 2, 3});
  EXPECT_EQ(r.replicas, (V{4, 2, 3, 1}));
  EXPECT_EQ(r.adding, (V{4}));
  EXPECT_EQ(r.removing, (V{1}));
  EXPECT_TRUE(r.being_reassigned());
  EXPECT_EQ(r.origin(), (V{2, 3, 1})) << "in RS order, as Kafka reads it back";
  EXPECT_EQ(r.target(), (V{4, 2, 3}));
}

TEST(Reassignment, ReplicationFactorChangesAreMovesWithNothingToRemoveOrAdd) {
  const ReplicaAssignment one{{1}, {}, {}};
  const ReplicaAssignment up = one.reassign_to({1, 2, 3});
  EXPECT_EQ(up.replicas, (V{1, 2, 3}));
  EXPECT_EQ(up.adding, (V{2, 3}));
  EXPECT_TRUE(up.removing.empty());

  const ReplicaAssignment three{{1, 2, 3}, {}, {}};
  const ReplicaAssignment down = three.reassign_to({1, 2});
  EXPECT_EQ(down.replicas, (V{1, 2, 3}));
  EXPECT_TRUE(down.adding.empty());
  EXPECT_EQ(down.removing, (V{3}));
}

TEST(Reassignment, ANewTargetIsRelativeToTheOriginalReplicasAndCancellingGoesBack) {
  const ReplicaAssignment moving = ReplicaAssignment{{1, 2, 3}, {}, {}}.reassign_to({4, 5, 6});
  EXPECT_EQ(moving.replicas, (V{4, 5, 6, 1, 2, 3}));
  // A new target while moving: 4 and 6 are no longer added.
  const ReplicaAssignment retarget = moving.reassign_to({5, 2, 3});
  EXPECT_EQ(retarget.replicas, (V{5, 2, 3, 1}));
  EXPECT_EQ(retarget.adding, (V{5}));
  EXPECT_EQ(retarget.removing, (V{1}));
  // Cancel = the original replicas as the target: nothing added, nothing removed.
  const ReplicaAssignment cancelled = moving.reassign_to(moving.origin());
  EXPECT_EQ(cancelled.replicas, (V{1, 2, 3}));
  EXPECT_FALSE(cancelled.being_reassigned());
}

TEST(Reassignment, TheNodeFieldsRoundTripAndEmptyListsAreLeftOut) {
  coord::TopicAssignment a;
  a.partitions = {{0, {1, 2}}, {1, {2, 1}}};
  const ReplicaAssignment r = assignment_of(a, 0).reassign_to({3, 2});
  set_assignment(a, 0, r);
  EXPECT_EQ(a.partitions.at(0), (V{3, 2, 1}));
  EXPECT_EQ(a.adding_replicas.at(0), (V{3}));
  EXPECT_EQ(a.removing_replicas.at(0), (V{1}));
  EXPECT_EQ(assignment_of(a, 0), r);
  EXPECT_FALSE(assignment_of(a, 1).being_reassigned());
  set_assignment(a, 0, ReplicaAssignment{r.target(), {}, {}});
  EXPECT_TRUE(a.adding_replicas.empty());
  EXPECT_TRUE(a.removing_replicas.empty());
  EXPECT_TRUE(assignment_of(a, 7).replicas.empty()) << "no such partition";
}

TEST(Reassignment, TargetsAreRefusedAsKafkaRefusesThem) {
  const ReplicaAssignment current{{1, 2, 3}, {}, {}};
  const V live{1, 2, 4};
  EXPECT_EQ(check_target_replicas({}, current, live), "Empty replica list specified in partition reassignment.");
  EXPECT_NE(check_target_replicas({1, 2, 1}, current, live).find("Duplicate replica ids"), std::string::npos);
  EXPECT_NE(check_target_replicas({1, -1}, current, live).find("Invalid broker id"), std::string::npos);
  EXPECT_NE(check_target_replicas({1, 5}, current, live).find("not alive"), std::string::npos)
      << "an unknown broker to add";
  EXPECT_EQ(check_target_replicas({4, 3}, current, live), "") << "a dead broker that already has a replica may stay";
  EXPECT_EQ(check_target_replicas({4, 1, 2}, current, live), "");
}

TEST(Reassignment, CompleteOnceEveryTargetReplicaIsInTheIsr) {
  const ReplicaAssignment r = ReplicaAssignment{{1, 2, 3}, {}, {}}.reassign_to({4, 2, 3});
  EXPECT_FALSE(reassignment_complete(r, {1, 2, 3}));
  EXPECT_FALSE(reassignment_complete(r, {1, 2, 4}));
  EXPECT_TRUE(reassignment_complete(r, {1, 2, 3, 4}));
  EXPECT_TRUE(reassignment_complete(r, {2, 4, 3}));
}

}  // namespace
}  // namespace keel::controller
