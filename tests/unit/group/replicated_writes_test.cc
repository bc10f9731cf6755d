// What the coordinator writes to __consumer_offsets is answered only once the
// ISR has it (acks=all, as Kafka's GroupMetadataManager appends): offset
// commits and the leader's assignment wait for the high watermark, with
// Kafka's error mapping when the wait fails, and the groups follow the
// leadership of their partition (coordinator epoch = leader epoch).

#include "group_fixture.h"

namespace keel::group {
namespace {

CommitRequest standalone(const std::string& group, int64_t offset) {
  CommitRequest c;
  c.group_id = group;
  c.partitions = {at({"t", 0}, offset)};
  return c;
}

// Starts a commit; the answer lands in the returned slot.
std::shared_ptr<std::optional<CommitResult>> commit(Fixture& f, const CommitRequest& c) {
  auto slot = std::make_shared<std::optional<CommitResult>>();
  f.coord.commit_offsets(c, [slot](CommitResult r) { *slot = std::move(r); });
  return slot;
}

int64_t committed(Fixture& f, const std::string& group) {
  FetchOffsetsResult r = f.coord.fetch_offsets(group, std::vector<TopicPartition>{{"t", 0}});
  return r.error == ErrorCode::kNone && !r.partitions.empty() ? r.partitions[0].offset : -2;
}

TEST(ReplicatedWrites, ACommitIsAnsweredAndVisibleOnlyOnceTheIsrHasIt) {
  CoordinatorConfig config = Fixture::config();
  config.commit_timeout_ms = 1234;
  Fixture f(config);
  ASSERT_EQ(f.coord.commit_offsets(standalone("g", 5)).error, ErrorCode::kNone);
  f.log.hold = true;
  auto answer = commit(f, standalone("g", 9));
  EXPECT_FALSE(answer->has_value());
  EXPECT_EQ(f.log.last_timeout_ms, 1234);  // offsets.commit.timeout.ms
  EXPECT_EQ(committed(f, "g"), 5);         // OffsetFetch answers the previous commit meanwhile
  f.log.replicate();
  ASSERT_TRUE(answer->has_value());
  EXPECT_THAT((*answer)->partitions, ::testing::ElementsAre(ErrorCode::kNone));
  EXPECT_EQ(committed(f, "g"), 9);
}

TEST(ReplicatedWrites, AFailedWaitIsAnsweredWithKafkasCommitErrorsAndCommitsNothing) {
  const std::pair<ErrorCode, ErrorCode> cases[] = {
      {ErrorCode::kNotLeaderOrFollower, ErrorCode::kNotCoordinator},
      {ErrorCode::kNotEnoughReplicasAfterAppend, ErrorCode::kCoordinatorNotAvailable},
      {ErrorCode::kRequestTimedOut, ErrorCode::kRequestTimedOut},  // Kafka passes a timeout on
  };
  for (const auto& [waited, answered] : cases) {
    Fixture f;
    f.log.hold = true;
    auto answer = commit(f, standalone("g", 9));
    f.log.replicate(waited);
    ASSERT_TRUE(answer->has_value());
    EXPECT_THAT((*answer)->partitions, ::testing::ElementsAre(answered)) << protocol::error_name(waited);
    EXPECT_EQ(committed(f, "g"), -1);
  }
  // Refused before anything is written: an ISR below min.insync.replicas.
  Fixture f;
  f.log.fail_next = ErrorCode::kNotEnoughReplicas;
  EXPECT_THAT(f.coord.commit_offsets(standalone("g", 9)).partitions,
              ::testing::ElementsAre(ErrorCode::kCoordinatorNotAvailable));
}

TEST(ReplicatedWrites, ACommitThatCompletesLateNeverReplacesANewerOne) {
  Fixture f;
  f.log.hold = true;
  auto first = commit(f, standalone("g", 10));
  auto second = commit(f, standalone("g", 20));
  ASSERT_EQ(f.log.waiting.size(), 2u);
  // The newer one reaches the ISR first (its wait ends first), then the older.
  auto waits = std::move(f.log.waiting);
  f.log.waiting.clear();
  waits[1](ErrorCode::kNone);
  waits[0](ErrorCode::kNone);
  EXPECT_EQ((*first)->partitions[0], ErrorCode::kNone);
  EXPECT_EQ((*second)->partitions[0], ErrorCode::kNone);
  EXPECT_EQ(committed(f, "g"), 20);

  // An older one failing leaves the newer one pending and then committed.
  auto third = commit(f, standalone("g", 30));
  auto fourth = commit(f, standalone("g", 40));
  waits = std::move(f.log.waiting);
  f.log.waiting.clear();
  waits[0](ErrorCode::kRequestTimedOut);
  EXPECT_EQ(committed(f, "g"), 20);
  waits[1](ErrorCode::kNone);
  EXPECT_EQ(committed(f, "g"), 40);
}

TEST(ReplicatedWrites, TheGroupBecomesStableOnlyOnceTheAssignmentIsReplicated) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  ASSERT_TRUE(ja->has_value());
  f.log.hold = true;
  auto s = f.sync("g", 1, a, {{a, bytes("x")}});
  EXPECT_FALSE(s->has_value());
  EXPECT_EQ(f.describe_state("g"), "CompletingRebalance");
  f.log.replicate();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->error, ErrorCode::kNone);
  EXPECT_EQ((*s)->assignment, bytes("x"));
  EXPECT_EQ(f.describe_state("g"), "Stable");
}

TEST(ReplicatedWrites, AnAssignmentThatTimesOutSendsTheMembersBackToRejoin) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.log.hold = true;
  auto s = f.sync("g", 1, a, {{a, bytes("x")}});
  f.log.replicate(ErrorCode::kRequestTimedOut);
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->error, ErrorCode::kRebalanceInProgress);  // Kafka's answer for a timed-out group write
  EXPECT_EQ(f.describe_state("g"), "PreparingRebalance");
}

TEST(ReplicatedWrites, LosingLeadershipWhileACommitWaitsAnswersNotCoordinatorAndTheNewLeaderHasWhatWasReplicated) {
  Fixture f;
  const int32_t p = f.coord.partition_for("g");
  f.log.hold = true;
  auto lost = commit(f, standalone("g", 7));
  // Made a follower in leader epoch 1: the groups go, requests answer NOT_COORDINATOR.
  f.coord.on_resigned(p, 1);
  EXPECT_EQ(f.coord.fetch_offsets("g", std::nullopt).error, ErrorCode::kNotCoordinator);
  EXPECT_EQ(f.coord.commit_offsets(standalone("g", 8)).error, ErrorCode::kNotCoordinator);
  f.log.replicate(ErrorCode::kNotLeaderOrFollower);
  ASSERT_TRUE(lost->has_value());
  EXPECT_EQ((*lost)->partitions[0], ErrorCode::kNotCoordinator);

  // A stale election (epoch 0 < 1) changes nothing; leader again in epoch 2:
  // loading until read, then what the log holds.
  f.coord.on_elected(p, 0);
  EXPECT_EQ(f.coord.check("g"), ErrorCode::kNotCoordinator);
  f.log.hold = false;
  f.coord.on_elected(p, 2);
  EXPECT_EQ(f.coord.check("g"), ErrorCode::kCoordinatorLoadInProgress);
  EXPECT_EQ(f.coord.commit_offsets(standalone("g", 8)).error, ErrorCode::kCoordinatorLoadInProgress);
  f.coord.run_loads();
  EXPECT_EQ(f.coord.check("g"), ErrorCode::kNone);
  // The memory log kept the unreplicated record (a real follower would have
  // truncated it or, as here, the new leader has it): the log is the truth.
  EXPECT_EQ(committed(f, "g"), 7);
  // A resignation older than this leadership is stale.
  f.coord.on_resigned(p, 1);
  EXPECT_EQ(f.coord.check("g"), ErrorCode::kNone);
  // StopReplica (-1) always resigns.
  f.coord.on_resigned(p, -1);
  EXPECT_EQ(f.coord.check("g"), ErrorCode::kNotCoordinator);
}

TEST(ReplicatedWrites, AWaitThatSucceedsAfterTheGroupWasUnloadedIsAnsweredButTouchesNoCache) {
  Fixture f;
  const int32_t p = f.coord.partition_for("g");
  f.log.hold = true;
  auto answer = commit(f, standalone("g", 7));
  f.coord.on_resigned(p, 1);
  f.log.hold = false;
  f.coord.on_elected(p, 2);
  f.coord.run_loads();
  EXPECT_EQ(committed(f, "g"), 7);  // loaded from the log
  f.log.replicate();
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ((*answer)->partitions[0], ErrorCode::kNone);
  EXPECT_EQ(committed(f, "g"), 7);
}

TEST(ReplicatedWrites, DeletedOffsetsStayDeletedWhenAPendingCommitCompletes) {
  Fixture f;
  ASSERT_EQ(f.coord.commit_offsets(standalone("g", 5)).error, ErrorCode::kNone);
  f.log.hold = true;
  auto answer = commit(f, standalone("g", 9));
  f.log.hold = false;
  DeleteOffsetsResult d = f.coord.delete_offsets("g", {{"t", 0}});
  EXPECT_EQ(d.error, ErrorCode::kNone);
  f.log.replicate();
  EXPECT_EQ((*answer)->partitions[0], ErrorCode::kNone);
  EXPECT_EQ(committed(f, "g"), -1);
}

}  // namespace
}  // namespace keel::group
