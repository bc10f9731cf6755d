// The group coordinator's rebalance protocol and the rules its offset and
// admin APIs apply, driven by hand (group_fixture.h). What is stored and
// loaded back is tested in metadata_manager_test.cc.

#include "group/coordinator.h"

#include "group_fixture.h"

namespace keel::group {
namespace {

TEST(GroupCoordinator, AFirstMemberGetsAnIdThenLeadsGenerationOneAndSyncsItsAssignment) {
  Fixture f;
  auto [id, joined] = f.new_member("g");
  EXPECT_THAT(id, ::testing::StartsWith("client-"));
  ASSERT_TRUE(joined->has_value());
  const JoinResult& j = **joined;
  EXPECT_EQ(j.error, ErrorCode::kNone);
  EXPECT_EQ(j.generation, 1);
  EXPECT_EQ(j.leader, id);
  EXPECT_EQ(j.member_id, id);
  EXPECT_EQ(j.protocol_name, "range");
  ASSERT_EQ(j.members.size(), 1u);
  EXPECT_EQ(j.members[0].metadata, bytes("meta-range"));
  EXPECT_EQ(f.describe_state("g"), "CompletingRebalance");

  auto synced = f.sync("g", 1, id, {{id, bytes("assignment-1")}});
  ASSERT_TRUE(synced->has_value());
  EXPECT_EQ((*synced)->error, ErrorCode::kNone);
  EXPECT_EQ((*synced)->assignment, bytes("assignment-1"));
  EXPECT_EQ(f.describe_state("g"), "Stable");
  EXPECT_EQ(f.coord.heartbeat("g", 1, id, std::nullopt), ErrorCode::kNone);
}

TEST(GroupCoordinator, ASecondMemberRebalancesTheGroupAndOnlyTheLeaderSeesTheMembers) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("all")}});
  auto [b, jb] = f.new_member("g");
  EXPECT_FALSE(jb->has_value());  // waits for a to rejoin
  EXPECT_EQ(f.coord.heartbeat("g", 1, a, std::nullopt), ErrorCode::kRebalanceInProgress);
  auto ja2 = f.join(f.join_req("g", a));
  ASSERT_TRUE(ja2->has_value());
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*ja2)->generation, 2);
  EXPECT_EQ((*jb)->generation, 2);
  EXPECT_EQ((*ja2)->leader, a);
  EXPECT_EQ((*ja2)->members.size(), 2u);
  EXPECT_TRUE((*jb)->members.empty());

  // The follower's SyncGroup waits for the leader's.
  auto sb = f.sync("g", 2, b);
  EXPECT_FALSE(sb->has_value());
  auto sa = f.sync("g", 2, a, {{a, bytes("p0")}, {b, bytes("p1")}});
  ASSERT_TRUE(sa->has_value() && sb->has_value());
  EXPECT_EQ((*sa)->assignment, bytes("p0"));
  EXPECT_EQ((*sb)->assignment, bytes("p1"));
  // A member of the old generation is told so.
  EXPECT_EQ(f.coord.heartbeat("g", 1, b, std::nullopt), ErrorCode::kIllegalGeneration);
  EXPECT_EQ(f.coord.heartbeat("g", 2, "nobody", std::nullopt), ErrorCode::kUnknownMemberId);
}

TEST(GroupCoordinator, AMemberThatStopsHeartbeatingIsExpiredAndTheOthersRebalance) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  auto [b, jb] = f.new_member("g");
  auto ja2 = f.join(f.join_req("g", a));
  f.sync("g", 2, a, {{a, bytes("p0")}, {b, bytes("p1")}});
  f.sync("g", 2, b);
  ASSERT_EQ(f.describe_state("g"), "Stable");
  // a keeps heartbeating, b goes silent: its 10 s session ends.
  for (int i = 0; i < 9; ++i) {
    f.now += 1000;
    EXPECT_EQ(f.coord.heartbeat("g", 2, a, std::nullopt), ErrorCode::kNone);
    f.coord.tick(f.now);
  }
  EXPECT_EQ(f.describe_state("g"), "Stable");
  f.now += 1000;
  f.coord.tick(f.now);
  EXPECT_EQ(f.describe_state("g"), "PreparingRebalance");
  EXPECT_EQ(f.coord.heartbeat("g", 2, a, std::nullopt), ErrorCode::kRebalanceInProgress);
  auto ja3 = f.join(f.join_req("g", a));
  ASSERT_TRUE(ja3->has_value());
  EXPECT_EQ((*ja3)->generation, 3);
  EXPECT_EQ((*ja3)->members.size(), 1u);
  EXPECT_EQ(f.coord.heartbeat("g", 3, b, std::nullopt), ErrorCode::kUnknownMemberId);
}

TEST(GroupCoordinator, AMemberThatDoesNotRejoinInTheRebalanceTimeoutIsDropped) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  auto [b, jb] = f.new_member("g");
  ASSERT_FALSE(jb->has_value());
  f.now += 20000;  // a's rebalance timeout; a heartbeats but never rejoins
  f.coord.tick(f.now);
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*jb)->generation, 2);
  EXPECT_EQ((*jb)->leader, b);
  EXPECT_EQ(f.coord.heartbeat("g", 1, a, std::nullopt), ErrorCode::kUnknownMemberId);
}

TEST(GroupCoordinator, LeavingRebalancesAndBatchedLeavesAnswerPerMember) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  LeaveResult r = f.coord.leave_group("g", {{a, std::nullopt}, {"ghost", std::nullopt}});
  EXPECT_EQ(r.error, ErrorCode::kNone);
  EXPECT_THAT(r.members, ::testing::ElementsAre(ErrorCode::kNone, ErrorCode::kUnknownMemberId));
  EXPECT_EQ(f.describe_state("g"), "Empty");
  // An unknown group: per-member errors, no group-level one (Kafka's answer).
  r = f.coord.leave_group("nope", {{"x", std::nullopt}});
  EXPECT_EQ(r.error, ErrorCode::kNone);
  EXPECT_THAT(r.members, ::testing::ElementsAre(ErrorCode::kUnknownMemberId));
}

TEST(GroupCoordinator, AStaticMemberRejoiningWithTheSameProtocolsKeepsItsAssignmentWithoutARebalance) {
  Fixture f;
  auto j = f.join(f.join_req("g", "", "instance-1"));  // static members get no MEMBER_ID_REQUIRED
  ASSERT_TRUE(j->has_value());
  ASSERT_EQ((*j)->error, ErrorCode::kNone);
  const std::string old_id = (*j)->member_id;
  f.sync("g", 1, old_id, {{old_id, bytes("mine")}}, "instance-1");
  ASSERT_EQ(f.describe_state("g"), "Stable");

  // The process restarts: a JoinGroup with no member id and the same instance id.
  auto j2 = f.join(f.join_req("g", "", "instance-1"));
  ASSERT_TRUE(j2->has_value());
  EXPECT_EQ((*j2)->error, ErrorCode::kNone);
  EXPECT_NE((*j2)->member_id, old_id);
  EXPECT_EQ((*j2)->generation, 1);  // no new generation
  EXPECT_EQ(f.describe_state("g"), "Stable");
  auto s2 = f.sync("g", 1, (*j2)->member_id, {}, "instance-1");
  ASSERT_TRUE(s2->has_value());
  EXPECT_EQ((*s2)->assignment, bytes("mine"));
  // The old incarnation is fenced.
  EXPECT_EQ(f.coord.heartbeat("g", 1, old_id, "instance-1"), ErrorCode::kFencedInstanceId);
  CommitRequest c;
  c.group_id = "g";
  c.generation = 1;
  c.member_id = old_id;
  c.group_instance_id = "instance-1";
  c.partitions = {at({"t", 0}, 5)};
  EXPECT_EQ(f.coord.commit_offsets(c).error, ErrorCode::kFencedInstanceId);
}

TEST(GroupCoordinator, CommitsAreCheckedAgainstTheGenerationAndMember) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  CommitRequest c;
  c.group_id = "g";
  c.generation = 1;
  c.member_id = a;
  c.partitions = {at({"t", 0}, 42, 3, std::string("meta")), at({"t", 1}, 7)};
  CommitResult r = f.coord.commit_offsets(c);
  EXPECT_THAT(r.partitions, ::testing::ElementsAre(ErrorCode::kNone, ErrorCode::kNone));
  c.generation = 0;
  EXPECT_EQ(f.coord.commit_offsets(c).error, ErrorCode::kIllegalGeneration);
  c.generation = 1;
  c.member_id = "stranger";
  EXPECT_EQ(f.coord.commit_offsets(c).error, ErrorCode::kUnknownMemberId);
  // A commit from outside group management to a group with members.
  c.generation = -1;
  c.member_id = "";
  EXPECT_EQ(f.coord.commit_offsets(c).error, ErrorCode::kUnknownMemberId);

  FetchOffsetsResult fetched = f.coord.fetch_offsets("g", std::vector<TopicPartition>{{"t", 0}, {"t", 9}});
  ASSERT_EQ(fetched.partitions.size(), 2u);
  EXPECT_EQ(fetched.partitions[0].offset, 42);
  EXPECT_EQ(fetched.partitions[0].leader_epoch, 3);
  EXPECT_EQ(fetched.partitions[0].metadata, "meta");
  EXPECT_EQ(fetched.partitions[1].offset, -1);  // never committed
  EXPECT_EQ(f.coord.fetch_offsets("g", std::nullopt).partitions.size(), 2u);

  // Too much metadata is refused per partition, the rest is committed.
  c.generation = 1;
  c.member_id = a;
  c.partitions = {at({"t", 0}, 50, -1, std::string(5000, 'm')), at({"t", 1}, 8)};
  r = f.coord.commit_offsets(c);
  EXPECT_THAT(r.partitions, ::testing::ElementsAre(ErrorCode::kOffsetMetadataTooLarge, ErrorCode::kNone));
}

TEST(GroupCoordinator, AStandaloneCommitCreatesAnEmptyGroupThatOnlyStoresOffsets) {
  Fixture f;
  CommitRequest c;
  c.group_id = "manual";
  c.partitions = {at({"t", 0}, 10)};
  EXPECT_EQ(f.coord.commit_offsets(c).partitions[0], ErrorCode::kNone);
  EXPECT_EQ(f.describe_state("manual"), "Empty");
  // A member-ful commit to an unknown group is from a gone generation.
  c.group_id = "other";
  c.generation = 3;
  c.member_id = "m";
  EXPECT_EQ(f.coord.commit_offsets(c).error, ErrorCode::kIllegalGeneration);
}

TEST(GroupCoordinator, ResigningAPartitionAnswersItsWaitingMembersNotCoordinator) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  auto [b, jb] = f.new_member("g");
  ASSERT_FALSE(jb->has_value());
  f.coord.on_resigned(f.coord.partition_for("g"));
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*jb)->error, ErrorCode::kNotCoordinator);
  EXPECT_EQ(f.coord.heartbeat("g", 1, a, std::nullopt), ErrorCode::kNotCoordinator);
}

TEST(GroupCoordinator, DeleteGroupsNeedsAnEmptyGroupAndOffsetDeleteSparesSubscribedTopics) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  EXPECT_EQ(f.coord.delete_group("g"), ErrorCode::kNonEmptyGroup);
  EXPECT_EQ(f.coord.delete_group("unknown"), ErrorCode::kGroupIdNotFound);
  f.coord.leave_group("g", {{a, std::nullopt}});
  EXPECT_EQ(f.coord.delete_group("g"), ErrorCode::kNone);
  EXPECT_EQ(f.describe_state("g"), "Dead");

  // A consumer-protocol member subscribed to "t": its offsets of "t" stay.
  JoinRequest r = f.join_req("h", "", "i");
  ByteWriter w;
  w.write_i16(0);  // ConsumerProtocolSubscription v0: topics ["t"], user data null
  w.write_i32(1);
  w.write_i16(1);
  w.write_bytes(ByteView(bytes("t")));
  w.write_i32(-1);
  r.protocols = {{"range", w.take()}};
  auto j = f.join(std::move(r));
  const std::string id = (*j)->member_id;
  f.sync("h", 1, id, {{id, bytes("x")}}, "i");
  CommitRequest c;
  c.group_id = "h";
  c.generation = 1;
  c.member_id = id;
  c.group_instance_id = "i";
  c.partitions = {at({"t", 0}, 1), at({"u", 0}, 2)};
  f.coord.commit_offsets(c);
  DeleteOffsetsResult d = f.coord.delete_offsets("h", {{"t", 0}, {"u", 0}});
  EXPECT_EQ(d.error, ErrorCode::kNone);
  EXPECT_THAT(d.partitions, ::testing::ElementsAre(ErrorCode::kGroupSubscribedToTopic, ErrorCode::kNone));
  FetchOffsetsResult fetched = f.coord.fetch_offsets("h", std::nullopt);
  ASSERT_EQ(fetched.partitions.size(), 1u);
  EXPECT_EQ(fetched.partitions[0].tp.topic, "t");
}

TEST(GroupCoordinator, TheInitialDelayWaitsForMoreMembersBeforeTheFirstGeneration) {
  CoordinatorConfig cfg = Fixture::config();
  cfg.initial_rebalance_delay_ms = 3000;
  Fixture f(cfg);
  auto [a, ja] = f.new_member("g");
  EXPECT_FALSE(ja->has_value());
  f.now += 2000;
  f.coord.tick(f.now);
  auto [b, jb] = f.new_member("g");  // joins during the delay: extends it
  f.now += 1000;
  f.coord.tick(f.now);
  EXPECT_FALSE(ja->has_value());
  f.now += 3000;
  f.coord.tick(f.now);
  ASSERT_TRUE(ja->has_value() && jb->has_value());
  EXPECT_EQ((*ja)->generation, 1);
  EXPECT_EQ((*jb)->generation, 1);
  EXPECT_EQ((*ja)->leader, (*jb)->leader);
}

TEST(GroupCoordinator, RequestsThatBreakTheRulesGetKafkasErrors) {
  CoordinatorConfig cfg = Fixture::config();
  cfg.max_size = 1;
  Fixture f(cfg);
  JoinRequest r = f.join_req("g");
  r.session_timeout_ms = 10;
  auto j = f.join(r);
  EXPECT_EQ((*j)->error, ErrorCode::kInvalidSessionTimeout);
  j = f.join(f.join_req(""));
  EXPECT_EQ((*j)->error, ErrorCode::kInvalidGroupId);
  // Longer than a __consumer_offsets record can carry (a compact request can).
  j = f.join(f.join_req(std::string(40000, 'g')));
  EXPECT_EQ((*j)->error, ErrorCode::kInvalidGroupId);
  CommitRequest long_metadata;
  long_metadata.group_id = "solo";
  long_metadata.partitions = {at({"t", 0}, 1, -1, std::string(40000, 'm'))};
  EXPECT_NE(f.coord.commit_offsets(long_metadata).partitions[0], ErrorCode::kNone);
  j = f.join(f.join_req("g", "made-up-id"));
  EXPECT_EQ((*j)->error, ErrorCode::kUnknownMemberId);
  auto [a, ja] = f.new_member("g");
  ASSERT_EQ((*ja)->error, ErrorCode::kNone);
  j = f.join(f.join_req("g"));
  EXPECT_EQ((*j)->error, ErrorCode::kGroupMaxSizeReached);
  JoinRequest other = f.join_req("g", a);
  other.protocol_type = "connect";
  j = f.join(other);
  EXPECT_EQ((*j)->error, ErrorCode::kInconsistentGroupProtocol);
  auto s = f.sync("g", 7, a);
  EXPECT_EQ((*s)->error, ErrorCode::kIllegalGeneration);
}

TEST(GroupCoordinator, AFailedWriteOfTheAssignmentSendsTheMembersBackToRejoin) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.log.fail_next = ErrorCode::kKafkaStorageError;
  auto s = f.sync("g", 1, a, {{a, bytes("x")}});
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->error, ErrorCode::kNotCoordinator);
  EXPECT_EQ(f.describe_state("g"), "PreparingRebalance");
}

TEST(GroupCoordinator, LagIsTheDistanceFromTheCommittedOffsetToTheEnd) {
  Fixture f;
  CommitRequest c;
  c.group_id = "g";
  c.partitions = {at({"t", 0}, 40), at({"t", 1}, 10), at({"elsewhere", 0}, 3)};
  f.coord.commit_offsets(c);
  auto lag = f.coord.lag("g", [](const TopicPartition& tp) -> std::optional<int64_t> {
    if (tp.topic == "elsewhere") return std::nullopt;
    return tp.partition == 0 ? 100 : 10;
  });
  ASSERT_EQ(lag.size(), 3u);
  EXPECT_EQ(lag[0].tp.topic, "elsewhere");
  EXPECT_EQ(lag[0].lag, -1);
  EXPECT_EQ(lag[1].committed, 40);
  EXPECT_EQ(lag[1].end_offset, 100);
  EXPECT_EQ(lag[1].lag, 60);
  EXPECT_EQ(lag[2].lag, 0);
}

TEST(GroupCoordinator, ListGroupsFiltersByState) {
  Fixture f;
  auto [a, ja] = f.new_member("busy");
  f.sync("busy", 1, a, {{a, bytes("x")}});
  CommitRequest c;
  c.group_id = "idle";
  c.partitions = {at({"t", 0}, 1)};
  f.coord.commit_offsets(c);
  auto all = f.coord.list_groups({}, {});
  EXPECT_EQ(all.groups.size(), 2u);
  auto stable = f.coord.list_groups({"stable"}, {});
  ASSERT_EQ(stable.groups.size(), 1u);
  EXPECT_EQ(stable.groups[0].group_id, "busy");
  EXPECT_EQ(stable.groups[0].protocol_type, "consumer");
  EXPECT_TRUE(f.coord.list_groups({}, {"consumer"}).groups.empty());  // KIP-848 groups: none here
}

}  // namespace
}  // namespace keel::group
