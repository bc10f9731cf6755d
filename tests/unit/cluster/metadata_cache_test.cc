// The metadata cache: snapshots are immutable (a reader's view never changes
// under it), lookups by name and id agree, and partition updates land.

#include "cluster/metadata_cache.h"

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

TopicInfo topic(const std::string& name, int partitions) {
  TopicInfo t;
  t.name = name;
  t.id = protocol::Uuid::random();
  for (int p = 0; p < partitions; ++p) t.partitions.push_back({p, 0, 0, 0, {0}, {0}, {}});
  return t;
}

TEST(MetadataCache, ASnapshotTakenBeforeAnUpdateDoesNotChange) {
  MetadataCache cache;
  cache.put_topic(topic("a", 2));
  auto before = cache.snapshot();
  const uint64_t v = cache.version();
  cache.put_topic(topic("b", 1));
  EXPECT_EQ(before->topics.size(), 1u);
  EXPECT_EQ(cache.snapshot()->topics.size(), 2u);
  EXPECT_GT(cache.version(), v);
}

TEST(MetadataCache, LookupByIdFollowsReplacementAndRemoval) {
  MetadataCache cache;
  TopicInfo first = topic("a", 1);
  cache.put_topic(first);
  ASSERT_NE(cache.snapshot()->topic(first.id), nullptr);
  TopicInfo second = topic("a", 1);  // recreated under the same name: a new id
  cache.put_topic(second);
  auto s = cache.snapshot();
  EXPECT_EQ(s->topic(first.id), nullptr) << "the old id must not resolve any more";
  ASSERT_NE(s->topic(second.id), nullptr);
  EXPECT_EQ(s->topic(second.id)->name, "a");
  cache.remove_topic("a");
  EXPECT_EQ(cache.snapshot()->topic(second.id), nullptr);
  EXPECT_EQ(cache.snapshot()->topic("a"), nullptr);
}

TEST(MetadataCache, PutPartitionGrowsTheTopicAndReplacesState) {
  MetadataCache cache;
  cache.put_topic(topic("a", 1));
  cache.put_partition("a", {2, 0, 5, 3, {0}, {0}, {}});
  auto s = cache.snapshot();
  ASSERT_EQ(s->topic("a")->partitions.size(), 3u);
  EXPECT_EQ(s->partition("a", 2)->leader_epoch, 5);
  EXPECT_EQ(s->partition("a", 3), nullptr);
  EXPECT_EQ(s->partition("missing", 0), nullptr);
  cache.put_partition("missing", {0, 0, 0, 0, {}, {}, {}});
  EXPECT_EQ(cache.snapshot()->topic("missing"), nullptr) << "a partition of an unknown topic is ignored";
}

// UpdateMetadata: brokers and controller replaced, changed partitions merged
// into their topics, new topics added, a leader of -2 removes the topic.
TEST(MetadataCache, AnUpdateMergesChangedPartitionsAndDropsDeletedTopics) {
  MetadataCache cache;
  BrokerInfo b1{1, {{"PLAINTEXT", "h1", 9092, "PLAINTEXT"}}, std::nullopt};
  BrokerInfo b2{2, {{"PLAINTEXT", "h2", 9092, "PLAINTEXT"}}, std::string("r2")};
  TopicInfo a = topic("a", 3);
  cache.apply_update({{1, b1}, {2, b2}}, 2, {a});
  auto s = cache.snapshot();
  EXPECT_EQ(s->controller_id, 2);
  EXPECT_EQ(s->brokers.size(), 2u);
  ASSERT_NE(s->topic(a.id), nullptr);
  EXPECT_EQ(s->topic("a")->partitions.size(), 3u);

  // Only partition 1 changed: the others keep their state.
  TopicInfo change;
  change.name = "a";
  change.id = a.id;
  change.partitions.push_back({1, 2, 5, 9, {2, 1}, {2}, {1}});
  // A topic first seen with partition 2 only: 0 and 1 exist without a leader.
  TopicInfo b;
  b.name = "b";
  b.id = protocol::Uuid::random();
  b.partitions.push_back({2, 1, 0, 0, {1}, {1}, {}});
  cache.apply_update({{1, b1}}, 1, {change, b});
  s = cache.snapshot();
  EXPECT_EQ(s->brokers.size(), 1u) << "the live broker list is replaced";
  EXPECT_EQ(s->controller_id, 1);
  EXPECT_EQ(*s->partition("a", 1), change.partitions[0]);
  EXPECT_EQ(*s->partition("a", 0), a.partitions[0]);
  ASSERT_EQ(s->topic("b")->partitions.size(), 3u);
  EXPECT_EQ(s->partition("b", 0)->leader, -1);
  EXPECT_EQ(s->partition("b", 1)->partition, 1);
  EXPECT_EQ(s->partition("b", 2)->leader, 1);

  // Deletion: leader -2 on any partition drops the topic, by name and id.
  TopicInfo gone;
  gone.name = "a";
  gone.id = a.id;
  gone.partitions.push_back({0, -2, 6, 10, {0}, {0}, {}});
  cache.apply_update({{1, b1}}, 1, {gone});
  s = cache.snapshot();
  EXPECT_EQ(s->topic("a"), nullptr);
  EXPECT_EQ(s->topic(a.id), nullptr);
  EXPECT_NE(s->topic("b"), nullptr);
}

}  // namespace
}  // namespace keel::cluster
