// What partition reassignment needs from the layout and the store: the legacy
// /admin/reassign_partitions node (Kafka's JSON, read tolerantly, watched,
// rewritten and deleted by the controller under its fence) and the fenced
// rewrite of a topic's assignment with its adding/removing lists. On the
// in-memory EmbeddedStore; KafkaStore runs the same code over ZooKeeper.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "coord/embedded_store.h"
#include "coord/kafka_layout.h"
#include "coord/kafka_store.h"

namespace keel::coord {
namespace {

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(ReassignPartitionsNode, RoundTripsInKafkasShape) {
  const std::vector<PartitionReassignment> entries = {{"orders", 0, {4, 5, 6}}, {"orders", 1, {5, 6, 4}}};
  const Bytes data = encode_partition_reassignments(entries);
  EXPECT_EQ(std::string(data.begin(), data.end()),
            R"({"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[4,5,6]},)"
            R"({"topic":"orders","partition":1,"replicas":[5,6,4]}]})");
  auto back = decode_partition_reassignments(ByteView(data));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, entries);
}

TEST(ReassignPartitionsNode, ReadsWhatKafkasToolWritesAndKeepsTheLastEntryOfAPartition) {
  // kafka-reassign-partitions adds log_dirs; a partition named twice keeps its last entry.
  const Bytes data = bytes(
      R"({"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]},)"
      R"({"topic":"t","partition":1,"replicas":[2]},{"topic":"t","partition":0,"replicas":[3]}]})");
  auto r = decode_partition_reassignments(ByteView(data));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0], (PartitionReassignment{"t", 0, {3}}));
  EXPECT_EQ((*r)[1], (PartitionReassignment{"t", 1, {2}}));
}

TEST(ReassignPartitionsNode, MalformedPayloadsAreCorrupt) {
  for (const char* bad : {"", "[]", "{}", R"({"partitions":{}})", R"({"partitions":[{"topic":"t","partition":0}]})",
                          R"({"partitions":[{"topic":1,"partition":0,"replicas":[1]}]})",
                          R"({"partitions":[{"topic":"t","partition":0,"replicas":["x"]}]})"}) {
    EXPECT_FALSE(decode_partition_reassignments(ByteView(bytes(bad))).ok()) << bad;
  }
}

class ReassignmentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = EmbeddedStore::in_memory();
    ks_ = std::make_unique<KafkaStore>(*store_);
    ASSERT_TRUE(ks_->ensure_paths().ok());
  }
  Fence elect(int32_t id) {
    auto r = ks_->try_elect_controller(id, now_ms());
    EXPECT_TRUE(r.ok() && r->won);
    return r.ok() ? r->fence : Fence{};
  }
  // The controller loses its session and another one is elected.
  Fence supersede(int32_t id) {
    store_->expire_session();
    return elect(id);
  }
  std::unique_ptr<EmbeddedStore> store_;
  std::unique_ptr<KafkaStore> ks_;
};

TEST_F(ReassignmentStoreTest, TheLegacyNodeIsWatchedRewrittenAndDeletedWhenDone) {
  const Fence fence = elect(1);
  std::atomic<int> fired{0};
  auto none = ks_->partition_reassignments([&](const WatchEvent&) { ++fired; });
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value()) << "absent: nothing to do";

  // An old tool writes the node: the controller's exists-watch fires.
  const std::vector<PartitionReassignment> entries = {{"a", 0, {2, 3}}, {"b", 1, {3}}};
  ASSERT_TRUE(ks_->create_partition_reassignments(entries).ok());
  EXPECT_EQ(fired.load(), 1);
  auto second = ks_->create_partition_reassignments(entries);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(), make_error_code(CoordErrc::kNodeExists)) << "one pending reassignment at a time";

  auto read = ks_->partition_reassignments([&](const WatchEvent&) { ++fired; });
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(**read, entries);

  // One entry done: the node keeps the other (and the watch fires again).
  ASSERT_TRUE(ks_->set_partition_reassignments({{"b", 1, {3}}}, fence).ok());
  EXPECT_EQ(fired.load(), 2);
  read = ks_->partition_reassignments();
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(**read, (std::vector<PartitionReassignment>{{"b", 1, {3}}}));

  // All done: the node goes, so the tool can write the next one.
  ASSERT_TRUE(ks_->set_partition_reassignments({}, fence).ok());
  EXPECT_FALSE(ks_->partition_reassignments()->has_value());
  EXPECT_TRUE(ks_->set_partition_reassignments({}, fence).ok()) << "deleting what is gone is fine";
}

TEST_F(ReassignmentStoreTest, ACorruptLegacyNodeIsACleanError) {
  ASSERT_TRUE(store_->create(paths::kReassignPartitions, ByteView(bytes("not json")), CreateMode::kPersistent).ok());
  auto r = ks_->partition_reassignments();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(CoordErrc::kCorrupt));
}

TEST_F(ReassignmentStoreTest, TheAssignmentRewriteKeepsAddingAndRemovingAndIsFenced) {
  const Fence old_fence = elect(1);
  TopicAssignment a;
  a.topic_id = "AAAAAAAAAAAAAAAAAAAAAA";
  a.partitions = {{0, {1, 2, 3}}, {1, {2, 3, 1}}};
  ASSERT_TRUE(ks_->create_topic("t", a, {}).ok());

  // RS = TRS + ORS, AR and RR: what a new controller resumes from.
  TopicAssignment moving = a;
  moving.partitions[0] = {4, 2, 3, 1};
  moving.adding_replicas[0] = {4};
  moving.removing_replicas[0] = {1};
  ASSERT_TRUE(ks_->update_topic_assignment("t", moving, old_fence).ok());
  auto read = ks_->topic_assignment("t");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(**read, moving);

  const Fence new_fence = supersede(2);
  TopicAssignment done = a;
  done.partitions[0] = {4, 2, 3};
  auto stale = ks_->update_topic_assignment("t", done, old_fence);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error(), make_error_code(KafkaStoreErrc::kControllerMoved));
  auto stale_node = ks_->set_partition_reassignments({{"t", 0, {4, 2, 3}}}, old_fence);
  ASSERT_FALSE(stale_node.ok());
  EXPECT_EQ(stale_node.error(), make_error_code(KafkaStoreErrc::kControllerMoved));
  EXPECT_FALSE(ks_->partition_reassignments()->has_value()) << "the stale controller created nothing";
  EXPECT_EQ(**ks_->topic_assignment("t"), moving) << "the stale controller changed nothing";

  ASSERT_TRUE(ks_->update_topic_assignment("t", done, new_fence).ok());
  EXPECT_EQ(**ks_->topic_assignment("t"), done);
  auto gone = ks_->update_topic_assignment("nope", done, new_fence);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error(), make_error_code(KafkaStoreErrc::kNoTopic));
}

}  // namespace
}  // namespace keel::coord
