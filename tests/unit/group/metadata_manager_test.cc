// What the group coordinator keeps in __consumer_offsets and how it gets it
// back: the GroupMetadataManager on its own (leadership, the three steps of a
// load), then through the coordinator as clients see it (groups and offsets
// after a restart, expiry, the offsets of deleted partitions).

#include "group/metadata_manager.h"

#include "group_fixture.h"

namespace keel::group {
namespace {

// A manager over the memory log that owns partition 0 of 1, loaded.
struct ManagerFixture {
  ManagerFixture() : meta(config(), log) {}
  static OffsetsConfig config() {
    OffsetsConfig c;
    c.num_partitions = 1;
    return c;
  }
  // Runs a scheduled load to its end, as the coordinator's loader does.
  void load() {
    auto next = meta.next_load();
    ASSERT_TRUE(next.has_value());
    meta.complete_load(meta.read_partition(*next), now);
  }
  // Records the groups the manager unloads.
  GroupMetadataManager::OnUnloaded record_unloaded() {
    return [this](Group& g) { unloaded.push_back(g.group_id); };
  }

  int64_t now = 1'000'000;
  MemoryOffsetsLog log;
  GroupMetadataManager meta;
  std::vector<std::string> unloaded;
};

TEST(GroupMetadataManager, APartitionIsLoadingFromItsElectionToTheEndOfItsLoadAndGoneAtItsResignation) {
  ManagerFixture f;
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNotCoordinator);
  EXPECT_TRUE(f.meta.on_elected(0, 5, f.record_unloaded()));
  EXPECT_FALSE(f.meta.on_elected(0, 5, f.record_unloaded()));  // the same leadership again
  EXPECT_FALSE(f.meta.on_elected(1, 5, f.record_unloaded()));  // no such partition
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kCoordinatorLoadInProgress);
  EXPECT_TRUE(f.meta.loading());
  f.load();
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNone);
  EXPECT_FALSE(f.meta.loading());

  Group& g = f.meta.add_group("g", f.now);
  CommitRequest c;
  c.group_id = "g";
  c.partitions = {at({"t", 0}, 3)};
  EXPECT_THAT(f.meta.store_offsets(g, c, f.now).errors, ::testing::ElementsAre(ErrorCode::kNone));
  f.meta.on_resigned(0, -1, f.record_unloaded());
  EXPECT_THAT(f.unloaded, ::testing::ElementsAre("g"));
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNotCoordinator);
  EXPECT_EQ(f.meta.find("g"), nullptr);

  // Elected again: the commit comes back from the log.
  f.meta.on_elected(0, 6, f.record_unloaded());
  f.load();
  FetchOffsetsResult r = f.meta.fetch_offsets("g", std::nullopt);
  ASSERT_EQ(r.partitions.size(), 1u);
  EXPECT_EQ(r.partitions[0].offset, 3);
}

// Found by the chaos runs (docs/chaos.md, session 11): a follower of the
// offsets partition stopping bumps the leader epoch while this broker keeps
// leading. The groups were unloaded and read back from the log, and members
// that had left came back with fresh sessions.
TEST(GroupMetadataManager, ANewerEpochOfTheSameLoadedLeadershipKeepsTheGroups) {
  ManagerFixture f;
  f.meta.on_elected(0, 5, f.record_unloaded());
  f.load();
  Group& g = f.meta.add_group("g", f.now);
  g.members["m-1"];  // in memory only: a reload from the log would not have it
  EXPECT_FALSE(f.meta.on_elected(0, 6, f.record_unloaded())) << "a reload was started";
  EXPECT_TRUE(f.unloaded.empty());
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNone);
  Group* same = f.meta.find("g");
  ASSERT_EQ(same, &g) << "the group was unloaded";
  EXPECT_EQ(same->members.size(), 1u);
  EXPECT_TRUE(f.meta.owns(0, 5)) << "a write begun before the bump must still complete into the cache";
  EXPECT_FALSE(f.meta.on_elected(0, 4, f.record_unloaded())) << "an older epoch is stale";
  // Another broker led in between (this one resigned): loaded afresh.
  f.meta.on_resigned(0, 7, f.record_unloaded());
  EXPECT_THAT(f.unloaded, ::testing::ElementsAre("g"));
  EXPECT_TRUE(f.meta.on_elected(0, 8, f.record_unloaded()));
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kCoordinatorLoadInProgress);
}

TEST(GroupMetadataManager, ALoadOvertakenByANewerLeadershipIsDroppedAndTheNewOneLoads) {
  ManagerFixture f;
  f.meta.on_elected(0, 1, f.record_unloaded());
  auto stale = f.meta.next_load();
  ASSERT_TRUE(stale.has_value());
  LoadedPartition read = f.meta.read_partition(*stale);
  f.meta.on_elected(0, 2, f.record_unloaded());  // while epoch 1's read was under way
  f.meta.complete_load(std::move(read), f.now);
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kCoordinatorLoadInProgress);
  f.load();
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNone);
}

TEST(GroupMetadataManager, AFailedReadKeepsThePartitionLoadingAndScheduledAgain) {
  ManagerFixture f;
  f.log.fail_reads = ErrorCode::kKafkaStorageError;
  f.meta.on_elected(0, 1, f.record_unloaded());
  f.load();
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kCoordinatorLoadInProgress);
  EXPECT_TRUE(f.meta.has_loads());
  f.log.fail_reads = ErrorCode::kNone;
  f.load();
  EXPECT_EQ(f.meta.check("g"), ErrorCode::kNone);
}

TEST(GroupMetadataManager, AFailedWriteChangesNothingAndAnswersKafkasMappedError) {
  ManagerFixture f;
  f.meta.on_elected(0, 1, f.record_unloaded());
  f.load();
  Group& g = f.meta.add_group("g", f.now);
  CommitRequest c;
  c.group_id = "g";
  c.partitions = {at({"t", 0}, 3), at({"t", 1}, 4, -1, std::string(5000, 'm'))};
  f.log.fail_next = ErrorCode::kNotEnoughReplicas;
  EXPECT_THAT(f.meta.store_offsets(g, c, f.now).errors,
              ::testing::ElementsAre(ErrorCode::kCoordinatorNotAvailable, ErrorCode::kOffsetMetadataTooLarge));
  EXPECT_TRUE(g.offsets.empty());
  f.meta.store_offsets(g, c, f.now);
  f.log.fail_next = ErrorCode::kKafkaStorageError;
  EXPECT_EQ(f.meta.delete_group(g, f.now), ErrorCode::kNotCoordinator);
  EXPECT_NE(f.meta.find("g"), nullptr);
  EXPECT_EQ(f.meta.delete_offsets(g, {{"t", 0}}, f.now), ErrorCode::kNone);
  EXPECT_TRUE(g.offsets.empty());
}

TEST(GroupMetadataManager, GroupsAndOffsetsComeBackFromTheLogAfterARestart) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("assigned")}});
  CommitRequest c;
  c.group_id = "g";
  c.generation = 1;
  c.member_id = a;
  c.partitions = {at({"t", 0}, 100, 2, std::string("m")), at({"t", 1}, 5)};
  f.coord.commit_offsets(c);
  c.partitions = {at({"t", 1}, 6)};  // a later commit wins
  f.coord.commit_offsets(c);
  CommitRequest standalone;
  standalone.group_id = "gone";
  standalone.partitions = {at({"t", 0}, 1)};
  f.coord.commit_offsets(standalone);
  ASSERT_EQ(f.coord.delete_group("gone"), ErrorCode::kNone);

  GroupCoordinator again(Fixture::config(), f.log, [&f] { return f.now; });
  const int32_t p = again.partition_for("g");
  EXPECT_EQ(again.check("g"), ErrorCode::kNotCoordinator);
  again.on_elected(p, 1);
  EXPECT_EQ(again.check("g"), ErrorCode::kCoordinatorLoadInProgress);
  EXPECT_EQ(again.fetch_offsets("g", std::nullopt).error, ErrorCode::kCoordinatorLoadInProgress);
  again.run_loads();
  ASSERT_EQ(again.check("g"), ErrorCode::kNone);
  FetchOffsetsResult r = again.fetch_offsets("g", std::vector<TopicPartition>{{"t", 0}, {"t", 1}});
  EXPECT_EQ(r.partitions[0].offset, 100);
  EXPECT_EQ(r.partitions[0].leader_epoch, 2);
  EXPECT_EQ(r.partitions[0].metadata, "m");
  EXPECT_EQ(r.partitions[1].offset, 6);
  GroupDescription d = again.describe_group("g");
  EXPECT_EQ(d.state, "Stable");
  ASSERT_EQ(d.members.size(), 1u);
  EXPECT_EQ(d.members[0].member_id, a);
  EXPECT_EQ(d.members[0].assignment, bytes("assigned"));
  // The member carries on in its generation after the coordinator moved.
  EXPECT_EQ(again.heartbeat("g", 1, a, std::nullopt), ErrorCode::kNone);
  // A deleted group stays deleted.
  if (again.partition_for("gone") != p) again.on_elected(again.partition_for("gone"), 1);
  again.run_loads();
  EXPECT_EQ(again.describe_group("gone").state, "Dead");
  EXPECT_EQ(again.fetch_offsets("gone", std::vector<TopicPartition>{{"t", 0}}).partitions[0].offset, -1);
}

TEST(GroupMetadataManager, OffsetsOfAnEmptyGroupExpireARetentionPeriodAfterItEmptied) {
  CoordinatorConfig cfg = Fixture::config();
  cfg.offsets_retention_ms = 60000;
  cfg.retention_check_interval_ms = 1000;
  Fixture f(cfg);
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  CommitRequest c;
  c.group_id = "g";
  c.generation = 1;
  c.member_id = a;
  c.partitions = {at({"t", 0}, 9)};
  f.coord.commit_offsets(c);
  // Stable and subscribed (opaque metadata here: unknown subscriptions) → kept.
  f.now += 120000;
  EXPECT_EQ(f.coord.heartbeat("g", 1, a, std::nullopt), ErrorCode::kNone);
  f.coord.tick(f.now);
  EXPECT_EQ(f.coord.fetch_offsets("g", std::nullopt).partitions.size(), 1u);
  f.coord.leave_group("g", {{a, std::nullopt}});
  f.now += 59000;
  f.coord.tick(f.now);
  EXPECT_EQ(f.coord.fetch_offsets("g", std::nullopt).partitions.size(), 1u);
  f.now += 2000;
  f.coord.tick(f.now);
  EXPECT_TRUE(f.coord.fetch_offsets("g", std::nullopt).partitions.empty());
  EXPECT_EQ(f.describe_state("g"), "Dead");  // gone with its last offset
}

TEST(GroupMetadataManager, DeletingATopicDropsItsCommittedOffsetsAndThenTheEmptiedGroup) {
  Fixture f;
  CommitRequest c;
  c.group_id = "g";
  c.partitions = {at({"t", 0}, 5), at({"u", 0}, 7)};
  f.coord.commit_offsets(c);
  f.coord.on_partition_deleted({"t", 0});
  FetchOffsetsResult r = f.coord.fetch_offsets("g", std::nullopt);
  ASSERT_EQ(r.partitions.size(), 1u);
  EXPECT_EQ(r.partitions[0].tp.topic, "u");
  f.coord.on_partition_deleted({"u", 0});
  EXPECT_EQ(f.describe_state("g"), "Dead");
  // What was written says the same after a restart.
  GroupCoordinator again(Fixture::config(), f.log, [&f] { return f.now; });
  again.on_elected(again.partition_for("g"), 1);
  again.run_loads();
  EXPECT_EQ(again.describe_group("g").state, "Dead");
  EXPECT_TRUE(again.fetch_offsets("g", std::nullopt).partitions.empty());
}

TEST(GroupMetadataManager, AGroupStoredInAnotherPartitionThanKafkasRuleNamesIsLeftOut) {
  // "legacy-group-1" hashes to -952805793: Kafka's Utils.abs gives partition
  // 1 of 4, masking the sign bit (Keel before 0.1.0) gave 3. Records of it in
  // partition 3 are not this group's: its clients are sent to partition 1.
  Fixture f;
  ASSERT_EQ(f.coord.partition_for("legacy-group-1"), 1);
  OffsetValue v;
  v.offset = 42;
  const std::vector<OffsetsRecordBytes> records = {
      {encode_offset_key({"legacy-group-1", "t", 0}), encode_offset_value(v)}};
  f.log.append(3, records, f.now);
  v.offset = 7;
  f.log.append(1, {{encode_offset_key({"legacy-group-1", "t", 1}), encode_offset_value(v)}}, f.now);

  GroupCoordinator again(Fixture::config(), f.log, [&f] { return f.now; });
  for (int32_t p = 0; p < Fixture::config().num_partitions; ++p) again.on_elected(p, 1);
  again.run_loads();
  FetchOffsetsResult r = again.fetch_offsets("legacy-group-1", std::vector<TopicPartition>{{"t", 0}, {"t", 1}});
  EXPECT_EQ(r.partitions[0].offset, -1);  // only in partition 3: left out
  EXPECT_EQ(r.partitions[1].offset, 7);   // in its own partition: loaded
}

}  // namespace
}  // namespace keel::group
