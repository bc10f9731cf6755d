// Transactional offset commits (TxnOffsetCommit): pending per producer until
// the transaction's marker, committed or dropped by it, ordered against plain
// commits by where they were written, replayed with their markers after a
// restart, KIP-447's member checks, and OffsetFetch's require_stable.

#include "group_fixture.h"

namespace keel::group {
namespace {

constexpr int64_t kProducer = 4000;

// A TxnOffsetCommit from outside group management (generation -1, no member),
// as a producer before KIP-447 sends it.
CommitRequest txn_commit(const std::string& group, std::vector<CommitPartition> partitions,
                         int64_t producer_id = kProducer, int16_t epoch = 3) {
  CommitRequest r;
  r.group_id = group;
  r.partitions = std::move(partitions);
  r.producer_id = producer_id;
  r.producer_epoch = epoch;
  return r;
}

// The answer of a TxnOffsetCommit (the memory log answers at once unless held).
std::optional<CommitResult> commit_txn(GroupCoordinator& c, const CommitRequest& r) {
  std::optional<CommitResult> out;
  c.txn_commit_offsets(r, [&out](CommitResult res) { out = std::move(res); });
  return out;
}

int64_t committed(GroupCoordinator& c, const std::string& group, const TopicPartition& tp) {
  return c.fetch_offsets(group, std::vector<TopicPartition>{tp}).partitions.at(0).offset;
}

ErrorCode stable_error(GroupCoordinator& c, const std::string& group, const TopicPartition& tp) {
  return c.fetch_offsets(group, std::vector<TopicPartition>{tp}, true).partitions.at(0).error;
}

TEST(TxnOffsets, PendingUntilTheCommitMarkerThenCommitted) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  auto r = commit_txn(f.coord, txn_commit("g", {at(tp, 42, 7, std::string("md"))}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, ErrorCode::kNone);
  ASSERT_EQ(r->partitions.size(), 1u);
  EXPECT_EQ(r->partitions[0], ErrorCode::kNone);
  // Written as a transactional batch of the producer, so the partition's
  // last stable offset holds until the marker.
  ASSERT_TRUE(f.log.last_txn.has_value());
  EXPECT_EQ(f.log.last_txn->producer_id, kProducer);
  EXPECT_EQ(f.log.last_txn->producer_epoch, 3);

  EXPECT_EQ(committed(f.coord, "g", tp), -1);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);
  EXPECT_TRUE(f.coord.fetch_offsets("g", std::nullopt).partitions.empty());
  // Another partition of the group is stable.
  EXPECT_EQ(stable_error(f.coord, "g", {"t", 1}), ErrorCode::kNone);

  // A marker on another __consumer_offsets partition settles nothing here.
  const int32_t p = f.coord.partition_for("g");
  f.coord.on_transaction_completed(kProducer, {(p + 1) % 4}, true);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);
  // Nor does another producer's marker.
  f.coord.on_transaction_completed(kProducer + 1, {p}, true);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);

  f.coord.on_transaction_completed(kProducer, {p}, true);
  FetchOffsetsResult got = f.coord.fetch_offsets("g", std::vector<TopicPartition>{tp}, true);
  EXPECT_EQ(got.partitions[0].error, ErrorCode::kNone);
  EXPECT_EQ(got.partitions[0].offset, 42);
  EXPECT_EQ(got.partitions[0].leader_epoch, 7);
  EXPECT_EQ(got.partitions[0].metadata, "md");
}

TEST(TxnOffsets, TheAbortMarkerDropsThemAndTheCommittedOffsetStays) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  CommitRequest plain;
  plain.group_id = "g";
  plain.partitions = {at(tp, 10)};
  ASSERT_EQ(f.coord.commit_offsets(plain).partitions[0], ErrorCode::kNone);
  ASSERT_EQ(commit_txn(f.coord, txn_commit("g", {at(tp, 20)}))->partitions[0], ErrorCode::kNone);
  EXPECT_EQ(committed(f.coord, "g", tp), 10);
  f.coord.on_transaction_completed(kProducer, {f.coord.partition_for("g")}, false);
  EXPECT_EQ(committed(f.coord, "g", tp), 10);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kNone);
  // A second marker for the same transaction changes nothing.
  f.coord.on_transaction_completed(kProducer, {f.coord.partition_for("g")}, true);
  EXPECT_EQ(committed(f.coord, "g", tp), 10);
}

TEST(TxnOffsets, APlainCommitWrittenAfterTheTransactionsWinsAndOneWrittenBeforeLoses) {
  Fixture f;
  const TopicPartition a{"t", 0};
  const TopicPartition b{"t", 1};
  const int32_t p = f.coord.partition_for("g");
  CommitRequest before;
  before.group_id = "g";
  before.partitions = {at(b, 1)};
  f.coord.commit_offsets(before);
  ASSERT_EQ(commit_txn(f.coord, txn_commit("g", {at(a, 100), at(b, 200)}))->partitions[1], ErrorCode::kNone);
  CommitRequest after;
  after.group_id = "g";
  after.partitions = {at(a, 5)};
  f.coord.commit_offsets(after);
  EXPECT_EQ(committed(f.coord, "g", a), 5);
  f.coord.on_transaction_completed(kProducer, {p}, true);
  EXPECT_EQ(committed(f.coord, "g", a), 5);    // written after the transaction's
  EXPECT_EQ(committed(f.coord, "g", b), 200);  // written before it
}

TEST(TxnOffsets, AfterARestartCommittedAbortedAndOpenTransactionsComeBackAsTheirMarkersSay) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  const int32_t p = f.coord.partition_for("g");
  // Producer 1 commits, producer 2 aborts, producer 3 is still open, and a
  // plain commit written after producer 4's transaction outlives its commit.
  commit_txn(f.coord, txn_commit("g", {at(tp, 11), at({"t", 9}, 900)}, 1));
  f.log.mark(p, 1, true);
  commit_txn(f.coord, txn_commit("g", {at({"t", 1}, 22)}, 2));
  f.log.mark(p, 2, false);
  commit_txn(f.coord, txn_commit("g", {at({"t", 2}, 33)}, 3));
  commit_txn(f.coord, txn_commit("g", {at({"t", 3}, 44)}, 4));
  CommitRequest plain;
  plain.group_id = "g";
  plain.partitions = {at({"t", 3}, 4)};
  f.coord.commit_offsets(plain);
  f.log.mark(p, 4, true);
  // A transaction of a group that only ever had transactional offsets.
  const int32_t q = f.coord.partition_for("h");
  commit_txn(f.coord, txn_commit("h", {at(tp, 55)}, 5));

  GroupCoordinator again(Fixture::config(), f.log, [&f] { return f.now; });
  again.on_elected(p, 1);
  if (q != p) again.on_elected(q, 1);
  again.run_loads();
  EXPECT_EQ(committed(again, "g", tp), 11);
  EXPECT_EQ(committed(again, "g", {"t", 9}), 900);
  EXPECT_EQ(committed(again, "g", {"t", 1}), -1);
  EXPECT_EQ(stable_error(again, "g", {"t", 1}), ErrorCode::kNone);
  EXPECT_EQ(committed(again, "g", {"t", 2}), -1);
  EXPECT_EQ(stable_error(again, "g", {"t", 2}), ErrorCode::kUnstableOffsetCommit);
  EXPECT_EQ(committed(again, "g", {"t", 3}), 4);
  EXPECT_EQ(stable_error(again, "h", tp), ErrorCode::kUnstableOffsetCommit);
  EXPECT_EQ(again.describe_group("h").state, "Empty");

  // The open transactions end on the new coordinator.
  again.on_transaction_completed(3, {p}, true);
  EXPECT_EQ(committed(again, "g", {"t", 2}), 33);
  again.on_transaction_completed(5, {q}, false);
  EXPECT_EQ(committed(again, "h", tp), -1);
  EXPECT_EQ(stable_error(again, "h", tp), ErrorCode::kNone);
}

TEST(TxnOffsets, RequireStableOverEveryOffsetOfTheGroupAnswersThePendingPartitionsUnstable) {
  Fixture f;
  CommitRequest plain;
  plain.group_id = "g";
  plain.partitions = {at({"t", 0}, 1), at({"t", 1}, 1)};
  f.coord.commit_offsets(plain);
  // t-1 committed and pending, t-2 pending only.
  commit_txn(f.coord, txn_commit("g", {at({"t", 1}, 2), at({"t", 2}, 3)}));
  FetchOffsetsResult all = f.coord.fetch_offsets("g", std::nullopt, true);
  // Kafka lists the committed partitions only (its allOffsets).
  ASSERT_EQ(all.partitions.size(), 2u);
  EXPECT_EQ(all.partitions[0].offset, 1);
  EXPECT_EQ(all.partitions[0].error, ErrorCode::kNone);
  EXPECT_EQ(all.partitions[1].tp, (TopicPartition{"t", 1}));
  EXPECT_EQ(all.partitions[1].error, ErrorCode::kUnstableOffsetCommit);
  EXPECT_EQ(all.partitions[1].offset, -1);
  // Without require_stable the committed offsets are answered.
  FetchOffsetsResult plain_fetch = f.coord.fetch_offsets("g", std::nullopt);
  ASSERT_EQ(plain_fetch.partitions.size(), 2u);
  EXPECT_EQ(plain_fetch.partitions[1].offset, 1);
  EXPECT_EQ(plain_fetch.partitions[1].error, ErrorCode::kNone);
}

TEST(TxnOffsets, AMemberOfTheGroupIsCheckedAsKip447SaysAndAnOldClientWithoutOneIsTaken) {
  Fixture f;
  auto [a, ja] = f.new_member("g");
  f.sync("g", 1, a, {{a, bytes("x")}});
  const TopicPartition tp{"t", 0};
  CommitRequest r = txn_commit("g", {at(tp, 1)});
  r.generation = 1;
  r.member_id = "someone-else";
  EXPECT_EQ(commit_txn(f.coord, r)->partitions[0], ErrorCode::kUnknownMemberId);
  r.member_id = a;
  r.generation = 2;
  EXPECT_EQ(commit_txn(f.coord, r)->partitions[0], ErrorCode::kIllegalGeneration);
  r.generation = 1;
  r.group_instance_id = "instance-of-nobody";
  EXPECT_EQ(commit_txn(f.coord, r)->partitions[0], ErrorCode::kUnknownMemberId);
  r.group_instance_id.reset();
  EXPECT_EQ(commit_txn(f.coord, r)->partitions[0], ErrorCode::kNone);
  // Refused commits wrote nothing; the accepted one is pending.
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);

  // A static member replaced by a newer one is fenced.
  auto first = f.join(f.join_req("s", "", std::string("inst")));
  ASSERT_TRUE(first->has_value());
  const std::string old_id = (*first)->member_id;
  f.sync("s", (*first)->generation, old_id, {{old_id, bytes("x")}});
  auto second = f.join(f.join_req("s", "", std::string("inst")));
  ASSERT_TRUE(second->has_value());
  CommitRequest s = txn_commit("s", {at(tp, 1)});
  s.generation = (*second)->generation;
  s.member_id = old_id;
  s.group_instance_id = "inst";
  EXPECT_EQ(commit_txn(f.coord, s)->partitions[0], ErrorCode::kFencedInstanceId);

  // Before KIP-447 (v0-v2) no member is sent: a group with members takes it.
  CommitRequest old = txn_commit("g", {at({"t", 5}, 5)}, kProducer + 1);
  EXPECT_EQ(commit_txn(f.coord, old)->partitions[0], ErrorCode::kNone);
  // A new group with a generation has no such member: refused, not created.
  CommitRequest stranger = txn_commit("new-group", {at(tp, 1)});
  stranger.generation = 4;
  stranger.member_id = "m";
  EXPECT_EQ(commit_txn(f.coord, stranger)->partitions[0], ErrorCode::kUnknownMemberId);
  EXPECT_EQ(f.describe_state("new-group"), "Dead");
}

TEST(TxnOffsets, AFailedWriteLeavesNothingPendingAndAnswersTheMappedError) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  f.log.fail_next = ErrorCode::kNotLeaderOrFollower;
  EXPECT_EQ(commit_txn(f.coord, txn_commit("g", {at(tp, 1)}))->partitions[0], ErrorCode::kNotCoordinator);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kNone);
  // The producer's epoch is older than the partition's: passed through.
  f.log.fail_next = ErrorCode::kInvalidProducerEpoch;
  EXPECT_EQ(commit_txn(f.coord, txn_commit("g", {at(tp, 1)}))->partitions[0], ErrorCode::kInvalidProducerEpoch);

  // Pending while the ISR catches up; a failed wait drops them again.
  f.log.hold = true;
  auto held = commit_txn(f.coord, txn_commit("g", {at(tp, 2)}));
  EXPECT_FALSE(held.has_value());
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);
  std::optional<CommitResult> answer;
  f.coord.txn_commit_offsets(txn_commit("g", {at({"t", 1}, 3)}, kProducer + 1),
                             [&answer](CommitResult r) { answer = r; });
  f.log.replicate(ErrorCode::kRequestTimedOut);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->partitions[0], ErrorCode::kRequestTimedOut);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kNone);
  EXPECT_EQ(stable_error(f.coord, "g", {"t", 1}), ErrorCode::kNone);
  f.coord.on_transaction_completed(kProducer, {f.coord.partition_for("g")}, true);
  EXPECT_EQ(committed(f.coord, "g", tp), -1);
}

TEST(TxnOffsets, ExpiryKeepsAnEmptyGroupWithPendingOffsetsAndOffsetDeletionDropsThem) {
  CoordinatorConfig cfg = Fixture::config();
  cfg.offsets_retention_ms = 60000;
  cfg.retention_check_interval_ms = 1000;
  Fixture f(cfg);
  CommitRequest plain;
  plain.group_id = "g";
  plain.partitions = {at({"t", 0}, 1)};
  f.coord.commit_offsets(plain);
  commit_txn(f.coord, txn_commit("g", {at({"t", 1}, 2)}));
  f.now += 120000;
  f.coord.tick(f.now);
  // The committed offset expired; the transaction's keep the group.
  EXPECT_TRUE(f.coord.fetch_offsets("g", std::nullopt).partitions.empty());
  EXPECT_EQ(f.describe_state("g"), "Empty");
  f.coord.on_transaction_completed(kProducer, {f.coord.partition_for("g")}, true);
  EXPECT_EQ(committed(f.coord, "g", {"t", 1}), 2);

  // DeleteOffsets takes a partition's pending transactional offsets too.
  commit_txn(f.coord, txn_commit("g", {at({"t", 2}, 3)}, kProducer + 1));
  ASSERT_EQ(f.coord.delete_offsets("g", {{"t", 2}}).error, ErrorCode::kNone);
  EXPECT_EQ(stable_error(f.coord, "g", {"t", 2}), ErrorCode::kNone);
  f.coord.on_transaction_completed(kProducer + 1, {f.coord.partition_for("g")}, true);
  EXPECT_EQ(committed(f.coord, "g", {"t", 2}), -1);
}

TEST(TxnOffsets, DeletingTheGroupDropsItsPendingOffsetsAndALaterMarkerFindsNothing) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  commit_txn(f.coord, txn_commit("g", {at(tp, 8)}));
  ASSERT_EQ(f.coord.delete_group("g"), ErrorCode::kNone);
  f.coord.on_transaction_completed(kProducer, {f.coord.partition_for("g")}, true);
  EXPECT_EQ(committed(f.coord, "g", tp), -1);
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kNone);
}

TEST(TxnOffsets, ANewLeadershipOfThePartitionReadsThePendingOffsetsBackAndTheMarkerEndsThem) {
  Fixture f;
  const TopicPartition tp{"t", 0};
  const int32_t p = f.coord.partition_for("g");
  commit_txn(f.coord, txn_commit("g", {at(tp, 8)}));
  f.coord.on_resigned(p, 1);
  f.coord.on_elected(p, 2);
  f.coord.run_loads();
  EXPECT_EQ(stable_error(f.coord, "g", tp), ErrorCode::kUnstableOffsetCommit);
  f.coord.on_transaction_completed(kProducer, {p}, true);
  EXPECT_EQ(committed(f.coord, "g", tp), 8);
}

TEST(TxnOffsets, APartitionLedElsewhereIsNotTheCoordinators) {
  Fixture f;
  const int32_t p = f.coord.partition_for("g");
  f.coord.on_resigned(p, 1);
  auto r = commit_txn(f.coord, txn_commit("g", {at({"t", 0}, 1)}));
  EXPECT_EQ(r->partitions[0], ErrorCode::kNotCoordinator);
  // A marker for a partition not led here is ignored (its leader replays it).
  f.coord.on_transaction_completed(kProducer, {p}, true);
  EXPECT_EQ(f.coord.fetch_offsets("g", std::nullopt).error, ErrorCode::kNotCoordinator);
}

}  // namespace
}  // namespace keel::group
