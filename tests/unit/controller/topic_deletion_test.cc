// A topic's deletion as Kafka's TopicDeletionManager tracks it: done only
// once every replica answered StopReplica (delete) without error; replicas
// on dead brokers, or that failed, wait for their broker to start again.

#include "controller/topic_deletion.h"

#include <gtest/gtest.h>

namespace keel::controller {
namespace {

using Replicas = std::vector<TopicDeletion::Replica>;

// Two partitions on brokers 1, 2 and 3.
TopicDeletion two_partitions() { return TopicDeletion({{0, {1, 2}}, {1, {2, 3}}}); }

TEST(TopicDeletion, EveryLiveReplicaStartsAndTheTopicIsDoneOnceAllAnswered) {
  TopicDeletion d = two_partitions();
  EXPECT_TRUE(d.can_start());
  EXPECT_FALSE(d.started());
  EXPECT_EQ(d.start({1, 2, 3}), (Replicas{{0, 1}, {0, 2}, {1, 2}, {1, 3}}));
  EXPECT_TRUE(d.started());
  EXPECT_FALSE(d.can_start()) << "answers are awaited";
  d.answered(0, 1, true);
  d.answered(0, 2, true);
  d.answered(1, 2, true);
  EXPECT_FALSE(d.done());
  d.answered(1, 3, true);
  EXPECT_TRUE(d.done());
  EXPECT_FALSE(d.any_ineligible());
}

TEST(TopicDeletion, AReplicaOnADeadBrokerWaitsUntilTheBrokerStartsAgain) {
  TopicDeletion d = two_partitions();
  EXPECT_EQ(d.start({1, 2}), (Replicas{{0, 1}, {0, 2}, {1, 2}}));
  EXPECT_EQ(d.state(1, 3), ReplicaDeletion::kIneligible);
  EXPECT_TRUE(d.any_ineligible());
  for (auto [p, b] : Replicas{{0, 1}, {0, 2}, {1, 2}}) d.answered(p, b, true);
  EXPECT_FALSE(d.done());
  EXPECT_FALSE(d.can_start()) << "nothing to do until broker 3 is back";
  EXPECT_FALSE(d.broker_started(1)) << "broker 1 has nothing left to delete";
  EXPECT_FALSE(d.can_start());
  EXPECT_TRUE(d.broker_started(3));
  ASSERT_TRUE(d.can_start());
  EXPECT_EQ(d.start({1, 2, 3}), (Replicas{{1, 3}})) << "only what is left is retried";
  d.answered(1, 3, true);
  EXPECT_TRUE(d.done());
}

TEST(TopicDeletion, ABrokerThatDiesBeforeAnsweringIsRetriedWhenItReturns) {
  TopicDeletion d = two_partitions();
  d.start({1, 2, 3});
  d.answered(0, 1, true);
  d.answered(0, 2, true);
  d.answered(1, 2, true);
  d.broker_offline(3);
  EXPECT_EQ(d.state(1, 3), ReplicaDeletion::kIneligible);
  d.answered(1, 3, true);  // a late answer from before it went is not trusted
  EXPECT_EQ(d.state(1, 3), ReplicaDeletion::kIneligible);
  EXPECT_FALSE(d.can_start());
  EXPECT_TRUE(d.broker_started(3));
  EXPECT_EQ(d.start({1, 2, 3}), (Replicas{{1, 3}}));
}

TEST(TopicDeletion, AFailedReplicaIsRetriedOnlyAfterItsBrokerStartsAgain) {
  TopicDeletion d = two_partitions();
  d.start({1, 2, 3});
  d.answered(0, 1, false);  // KAFKA_STORAGE_ERROR, say
  for (auto [p, b] : Replicas{{0, 2}, {1, 2}, {1, 3}}) d.answered(p, b, true);
  EXPECT_FALSE(d.done());
  EXPECT_EQ(d.state(0, 1), ReplicaDeletion::kIneligible);
  EXPECT_FALSE(d.can_start()) << "no tight retry loop against a failing disk";
  EXPECT_TRUE(d.broker_started(1));
  EXPECT_EQ(d.start({1, 2, 3}), (Replicas{{0, 1}}));
}

TEST(TopicDeletion, ATopicWithNoReplicasIsDoneAtOnce) {
  EXPECT_TRUE(TopicDeletion(std::map<int32_t, std::vector<int32_t>>{}).done());
}

}  // namespace
}  // namespace keel::controller
