// Completing transactions: how each marker answer is judged (retry, done,
// give up), the completion write and its retry, loading a partition from the
// log (replay, tombstones, unreadable records), and a coordinator failover
// that finds transactions in PrepareCommit/PrepareAbort.

#include <gtest/gtest.h>

#include "txn/log_loader.h"
#include "txn_fixture.h"

namespace keel::txn::testing {
namespace {

// "my-txn" committing three partitions, its markers unanswered.
class MarkersTest : public ProducerTest {
 protected:
  void SetUp() override {
    ProducerTest::SetUp();
    ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0, kT1, kU0}), ErrorCode::kNone);
    markers.auto_ack = false;
    ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
    ASSERT_EQ(markers.sent.size(), 1u);
  }
};

TEST_F(MarkersTest, RetriableErrorsResendOnlyThoseAfterTheBackoff) {
  markers.answer(ErrorCode::kNone,
                 {{kT1, ErrorCode::kNotLeaderOrFollower}, {kU0, ErrorCode::kNotEnoughReplicas}});
  ASSERT_EQ(markers.sent.size(), 1u);
  EXPECT_EQ(markers.sent[0].marker.partitions, (std::vector<TopicPartition>{kT1, kU0}));
  EXPECT_EQ(markers.sent[0].delay_ms, config.retry_backoff_ms);
  EXPECT_TRUE(markers.sent[0].marker.commit);
  EXPECT_EQ(state_of("my-txn"), TxnState::kPrepareCommit);
  markers.answer(ErrorCode::kNone, {{kU0, ErrorCode::kNetworkException}});
  ASSERT_EQ(markers.sent.size(), 1u);
  EXPECT_EQ(markers.sent[0].marker.partitions, (std::vector<TopicPartition>{kU0}));
  markers.answer();
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

TEST_F(MarkersTest, EveryRetriableCodeIsRetried) {
  for (ErrorCode e : {ErrorCode::kUnknownTopicOrPartition, ErrorCode::kNotEnoughReplicasAfterAppend,
                      ErrorCode::kRequestTimedOut, ErrorCode::kKafkaStorageError, ErrorCode::kCorruptMessage}) {
    markers.answer(ErrorCode::kNone, {{kT0, e}});
    ASSERT_EQ(markers.sent.size(), 1u) << protocol::error_name(e);
    EXPECT_EQ(markers.sent[0].marker.partitions, (std::vector<TopicPartition>{kT0}));
    markers.sent[0].marker.partitions = {kT0, kT1, kU0};  // answer all three again next round
  }
  markers.answer();
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

TEST_F(MarkersTest, DeletedAndUnsupportedPartitionsNeedNoMarker) {
  RecordingMarkerChannel::Sent s = std::move(markers.sent[0]);
  markers.sent.clear();
  s.done({MarkerResult{kT0, ErrorCode::kNone, false}, MarkerResult{kT1, ErrorCode::kUnknownTopicOrPartition, true},
          MarkerResult{kU0, ErrorCode::kUnsupportedForMessageFormat, false}});
  EXPECT_TRUE(markers.sent.empty());
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

TEST_F(MarkersTest, PartitionsLeftOutOfAnAnswerAreSentAgain) {
  RecordingMarkerChannel::Sent s = std::move(markers.sent[0]);
  markers.sent.clear();
  s.done({MarkerResult{kT0, ErrorCode::kNone, false}});
  ASSERT_EQ(markers.sent.size(), 1u);
  EXPECT_EQ(markers.sent[0].marker.partitions, (std::vector<TopicPartition>{kT1, kU0}));
}

TEST_F(MarkersTest, FencedMarkerStopsThisCoordinator) {
  markers.answer(ErrorCode::kNone, {{kT1, ErrorCode::kTransactionCoordinatorFenced}});
  EXPECT_TRUE(markers.sent.empty());
  EXPECT_EQ(coordinator->pending_marker_count(), 0u);
  EXPECT_EQ(state_of("my-txn"), TxnState::kPrepareCommit);  // a newer coordinator finishes it
}

TEST_F(MarkersTest, CompletionWriteRetriesUntilItSucceeds) {
  log.fail_next = ErrorCode::kNotEnoughReplicas;
  markers.answer();
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kPrepareCommit);
  EXPECT_EQ(md->pending_state, TxnState::kCompleteCommit);  // kept for the retry
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kConcurrentTransactions);
  // Not before the backoff.
  EXPECT_GE(coordinator->run_due(), 1);
  EXPECT_EQ(state_of("my-txn"), TxnState::kPrepareCommit);
  now += config.retry_backoff_ms;
  coordinator->run_due();
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
}

TEST_F(MarkersTest, AnswersAfterResigningAreDropped) {
  coordinator->on_resigned(p, 1);
  markers.answer();
  EXPECT_FALSE(coordinator->metadata("my-txn"));
  EXPECT_EQ(log.records(p).back().value->state, TxnState::kPrepareCommit);  // nothing more written
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNotCoordinator);
}

// --- loading and failover ---------------------------------------------------------------

class LoadTest : public TxnTest {};

TEST_F(LoadTest, ReplayKeepsTheLastValueAndHonoursTombstones) {
  const int32_t p = coordinator->partition_for("a");
  TxnLogValue v{.producer_id = 5, .producer_epoch = 0, .timeout_ms = 1000, .state = TxnState::kEmpty,
                .partitions = {}, .last_update_ms = now, .start_ms = -1};
  log.seed(p, "a", v);
  v.producer_epoch = 3;
  v.state = TxnState::kOngoing;
  v.partitions = {kT0};
  v.start_ms = now;
  log.seed(p, "a", v);
  log.seed(p, "b", v);
  log.seed(p, "b", std::nullopt);
  TxnLogReplay replay(p);
  for (const auto& rec : log.data[p]) {
    std::optional<ByteView> value;
    if (rec.value) value = ByteView(*rec.value);
    replay.apply(ByteView(rec.key), value);
  }
  EXPECT_EQ(replay.records(), 4u);
  EXPECT_EQ(replay.skipped(), 0u);
  ASSERT_EQ(replay.transactions().size(), 1u);
  const TransactionMetadata& a = replay.transactions().at("a");
  EXPECT_EQ(a.producer_id, 5);
  EXPECT_EQ(a.producer_epoch, 3);
  EXPECT_EQ(a.last_producer_epoch, kNoProducerEpoch);  // never stored
  EXPECT_EQ(a.state, TxnState::kOngoing);
  EXPECT_EQ(a.partitions, (std::set<TopicPartition>{kT0}));
  EXPECT_EQ(a.start_ms, now);
  EXPECT_FALSE(a.pending_transition());
}

TEST_F(LoadTest, UnreadableAndUnknownRecordsAreSkippedNotFatal) {
  const int32_t p = coordinator->partition_for("a");
  log.data[p].push_back(TxnRecordBytes{Bytes{0x00}, Bytes{0x00}});           // truncated key
  log.data[p].push_back(TxnRecordBytes{Bytes{0x00, 0x05, 0x01}, Bytes{0x01}});  // unknown key version
  log.seed(p, "a",
           TxnLogValue{.producer_id = 5, .producer_epoch = 0, .timeout_ms = 1000, .state = TxnState::kEmpty,
                       .partitions = {}, .last_update_ms = now, .start_ms = -1});
  log.lead(p, 3);
  coordinator->on_elected(p, 3);
  auto md = coordinator->metadata("a");
  ASSERT_TRUE(md);
  EXPECT_EQ(md->producer_id, 5);
  EXPECT_EQ(coordinator->coordinator_epoch(p), 3);
}

TEST_F(LoadTest, LoadedStateServesTheNextRequest) {
  const int32_t p = elect("my-txn", 1);
  auto r = init_ok("my-txn");
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  // Another coordinator instance (a new leader) reads the same log.
  make_coordinator();
  log.lead(p, 2);
  coordinator->on_elected(p, 2);
  auto md = coordinator->metadata("my-txn");
  ASSERT_TRUE(md);
  EXPECT_EQ(md->state, TxnState::kOngoing);
  EXPECT_EQ(md->partitions, (std::set<TopicPartition>{kT0}));
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  ASSERT_EQ(markers.acked.size(), 1u);
  EXPECT_EQ(markers.acked[0].coordinator_epoch, 2);
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

TEST_F(LoadTest, FailoverCompletesPrepareCommitAndPrepareAbort) {
  const int32_t p = coordinator->partition_for("c1");
  ASSERT_EQ(coordinator->partition_for("c1"), p);
  std::string aborting;  // another id on the same partition
  for (int i = 0; aborting.empty(); ++i) {
    std::string id = "a" + std::to_string(i);
    if (coordinator->partition_for(id) == p) aborting = id;
  }
  log.seed(p, "c1",
           TxnLogValue{.producer_id = 11, .producer_epoch = 2, .timeout_ms = 1000, .state = TxnState::kPrepareCommit,
                       .partitions = {kT0, kU0}, .last_update_ms = now - 5, .start_ms = now - 50});
  log.seed(p, aborting,
           TxnLogValue{.producer_id = 12, .producer_epoch = 7, .timeout_ms = 1000, .state = TxnState::kPrepareAbort,
                       .partitions = {kT1}, .last_update_ms = now - 5, .start_ms = now - 50});
  markers.auto_ack = false;
  log.lead(p, 4);
  coordinator->on_elected(p, 4);
  ASSERT_EQ(markers.sent.size(), 2u);
  std::map<std::string, TxnMarker> by_id;
  for (const auto& s : markers.sent) by_id[s.marker.transactional_id] = s.marker;
  EXPECT_TRUE(by_id["c1"].commit);
  EXPECT_EQ(by_id["c1"].producer_id, 11);
  EXPECT_EQ(by_id["c1"].producer_epoch, 2);
  EXPECT_EQ(by_id["c1"].coordinator_epoch, 4);
  EXPECT_EQ(by_id["c1"].partitions, (std::vector<TopicPartition>{kT0, kU0}));
  EXPECT_FALSE(by_id[aborting].commit);
  EXPECT_EQ(by_id[aborting].partitions, (std::vector<TopicPartition>{kT1}));
  // Requests wait for the completion.
  EXPECT_EQ(end("c1", 11, 2, true), ErrorCode::kConcurrentTransactions);
  markers.answer();
  markers.answer();
  EXPECT_EQ(state_of("c1"), TxnState::kCompleteCommit);
  EXPECT_EQ(state_of(aborting), TxnState::kCompleteAbort);
  EXPECT_EQ(end("c1", 11, 2, true), ErrorCode::kNone);
  auto recs = log.records(p);
  ASSERT_EQ(recs.size(), 4u);  // the two seeds, then the two completions
  std::set<std::pair<std::string, TxnState>> written;
  for (size_t i = 2; i < recs.size(); ++i) written.insert({recs[i].transactional_id, recs[i].value->state});
  EXPECT_EQ(written, (std::set<std::pair<std::string, TxnState>>{{"c1", TxnState::kCompleteCommit},
                                                                   {aborting, TxnState::kCompleteAbort}}));
}

TEST_F(LoadTest, ReadErrorLeavesThePartitionUnowned) {
  log.read_error = ErrorCode::kKafkaStorageError;
  const int32_t p = elect("my-txn");
  EXPECT_FALSE(coordinator->coordinator_epoch(p));
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNotCoordinator);
}

TEST_F(LoadTest, ResignationDuringTheLoadWins) {
  const int32_t p = coordinator->partition_for("my-txn");
  log.on_read = [&] { coordinator->on_resigned(p, 1); };
  elect("my-txn", 1);
  EXPECT_FALSE(coordinator->coordinator_epoch(p));
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNotCoordinator);
}

TEST_F(LoadTest, StaleResignationKeepsANewerLoad) {
  const int32_t p = elect("my-txn", 5);
  coordinator->on_resigned(p, 4);
  EXPECT_EQ(coordinator->coordinator_epoch(p), 5);
  coordinator->on_resigned(p, 5);
  EXPECT_FALSE(coordinator->coordinator_epoch(p));
}

TEST_F(LoadTest, WriteUnderAnOldEpochIsNotCoordinator) {
  const int32_t p = elect("my-txn", 1);
  init_ok("my-txn");
  // The partition's leadership moved on (another broker, epoch 2) without a notice yet.
  log.lead(p, 2);
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNotCoordinator);
  EXPECT_FALSE(coordinator->metadata("my-txn")->pending_transition());
}

TEST_F(LoadTest, ReloadWhileAWriteIsInFlightAnswersNotCoordinator) {
  const int32_t p = elect("my-txn", 1);
  auto r = init_ok("my-txn");
  log.hold = true;
  Answer a;
  coordinator->add_partitions_to_txn("my-txn", r.producer_id, 0, {kT0}, 3, a.cb());
  EXPECT_FALSE(a.error);
  log.hold = false;
  // A follower for epoch 2, the leader again at epoch 3: a new leadership.
  coordinator->on_resigned(p, 2);
  log.lead(p, 3);
  coordinator->on_elected(p, 3);  // reads the log, which already has the Ongoing record
  log.release_all();
  EXPECT_EQ(a.error, ErrorCode::kNotCoordinator);
  EXPECT_EQ(state_of("my-txn"), TxnState::kOngoing);  // as loaded from the log
  EXPECT_EQ(coordinator->coordinator_epoch(p), 3);
}

// Found by the fault runs: a follower of a __transaction_state partition
// stopping bumps the partition's leader epoch while this broker goes on
// leading it. Reloading the partition then dropped the completions under way
// (two transactional producers stalled 11 s). The state stays, with the
// coordinator epoch it was loaded at, and what was under way completes.
TEST_F(LoadTest, ANewerEpochOfTheSameLeadershipKeepsTheStateAndItsWork) {
  const int32_t p = elect("my-txn", 1);
  auto r = init_ok("my-txn");
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);  // PrepareCommit written, markers out
  ASSERT_EQ(markers.sent.size(), 1u);
  const int appends_before = log.appends;
  log.bump(p, 2);
  coordinator->on_elected(p, 2);
  EXPECT_EQ(coordinator->coordinator_epoch(p), 1);  // kept, not reloaded
  EXPECT_EQ(markers.sent.size(), 1u);               // nothing sent again: the completion under way stays
  markers.answer();
  EXPECT_EQ(log.appends, appends_before + 1);  // CompleteCommit, under coordinator epoch 1
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
  // The next transaction goes on at once.
  EXPECT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kNone);
  // A resignation of the newer epoch ends it.
  coordinator->on_resigned(p, 2);
  EXPECT_FALSE(coordinator->coordinator_epoch(p));
}

}  // namespace
}  // namespace keel::txn::testing
