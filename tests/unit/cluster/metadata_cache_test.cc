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

}  // namespace
}  // namespace keel::cluster
