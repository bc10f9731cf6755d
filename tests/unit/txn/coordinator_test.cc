// TransactionCoordinator's requests: InitProducerId (new ids, bumps, KIP-360,
// rotation, fencing an open transaction), AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, the answers while a transition is in flight, the
// error codes by request version, verification, describe and list.

#include <gtest/gtest.h>

#include "txn_fixture.h"

namespace keel::txn::testing {
namespace {

TEST(ErrorForVersion, ProducerFencedOnlyWhereTheVersionKnowsIt) {
  const auto fenced = ErrorCode::kProducerFenced;
  const auto old = ErrorCode::kInvalidProducerEpoch;
  for (int16_t v = 0; v <= 5; ++v) {
    EXPECT_EQ(error_for_version(fenced, TxnApi::kInitProducerId, v), v < 4 ? old : fenced) << v;
    for (TxnApi api : {TxnApi::kAddPartitionsToTxn, TxnApi::kAddOffsetsToTxn, TxnApi::kEndTxn}) {
      EXPECT_EQ(error_for_version(fenced, api, v), v < 2 ? old : fenced) << v;
    }
  }
  EXPECT_EQ(error_for_version(ErrorCode::kConcurrentTransactions, TxnApi::kEndTxn, 0),
            ErrorCode::kConcurrentTransactions);
}

// --- InitProducerId ----------------------------------------------------------------

class InitProducerIdTest : public TxnTest {};

TEST_F(InitProducerIdTest, NewIdGetsAProducerIdAtEpochZeroWrittenAsEmpty) {
  const int32_t p = elect("my-txn");
  auto r = init_ok("my-txn", 45000);
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
  auto recs = log.records(p);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].transactional_id, "my-txn");
  ASSERT_TRUE(recs[0].value);
  EXPECT_EQ(recs[0].value->state, TxnState::kEmpty);
  EXPECT_EQ(recs[0].value->producer_id, 1000);
  EXPECT_EQ(recs[0].value->producer_epoch, 0);
  EXPECT_EQ(recs[0].value->timeout_ms, 45000);
  EXPECT_EQ(recs[0].value->start_ms, -1);
  EXPECT_EQ(recs[0].value->last_update_ms, now);
  EXPECT_EQ(log.last_timeout_ms, 45000);  // the write waits up to the transaction timeout, as Kafka's
  EXPECT_EQ(state_of("my-txn"), TxnState::kEmpty);
}

TEST_F(InitProducerIdTest, KnownIdGetsItsEpochBumped) {
  elect("my-txn");
  init_ok("my-txn");
  auto r = init_ok("my-txn");
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 1);
  EXPECT_EQ(pids.next, 1001);  // no second id
}

TEST_F(InitProducerIdTest, WithoutATransactionalIdItIsAPlainProducerId) {
  std::optional<InitProducerIdResult> out;
  coordinator->init_producer_id(InitProducerIdRequest{.transactional_id = std::nullopt, .api_version = 4},
                                [&](InitProducerIdResult r) { out = r; });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->error, ErrorCode::kNone);
  EXPECT_EQ(out->producer_id, 1000);
  EXPECT_EQ(out->producer_epoch, 0);
  EXPECT_EQ(log.appends, 0);
}

TEST_F(InitProducerIdTest, BadRequestsAreRefusedBeforeAnythingIsWritten) {
  elect("x");
  EXPECT_EQ(init("")->error, ErrorCode::kInvalidRequest);
  EXPECT_EQ(init(std::string(kMaxTransactionalIdBytes + 1, 'x'))->error, ErrorCode::kInvalidRequest);
  EXPECT_EQ(init("x", 60000, 5, kNoProducerEpoch)->error, ErrorCode::kInvalidRequest);
  EXPECT_EQ(init("x", 60000, kNoProducerId, 3)->error, ErrorCode::kInvalidRequest);
  EXPECT_EQ(init("x", 0)->error, ErrorCode::kInvalidTransactionTimeout);
  EXPECT_EQ(init("x", -5)->error, ErrorCode::kInvalidTransactionTimeout);
  EXPECT_EQ(init("x", 900001)->error, ErrorCode::kInvalidTransactionTimeout);
  EXPECT_EQ(init("x", INT32_MAX)->error, ErrorCode::kInvalidTransactionTimeout);
  EXPECT_EQ(init("x", 900000)->error, ErrorCode::kNone);  // the maximum itself is fine
  EXPECT_EQ(log.appends, 1);
}

TEST_F(InitProducerIdTest, UnownedPartitionIsNotCoordinatorAndALoadingOneSaysSo) {
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNotCoordinator);
  std::optional<InitProducerIdResult> during_load;
  log.on_read = [&] { during_load = init("my-txn"); };
  elect("my-txn");
  ASSERT_TRUE(during_load);
  EXPECT_EQ(during_load->error, ErrorCode::kCoordinatorLoadInProgress);
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNone);
}

TEST_F(InitProducerIdTest, NoProducerIdIsCoordinatorNotAvailable) {
  elect("my-txn");
  pids.fail = true;
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kCoordinatorNotAvailable);
  EXPECT_FALSE(coordinator->metadata("my-txn"));
  pids.fail = false;
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kNone);
}

TEST_F(InitProducerIdTest, FailedWritesMapToCoordinatorErrorsAndReleaseTheId) {
  elect("my-txn");
  init_ok("my-txn");
  const std::vector<std::pair<ErrorCode, ErrorCode>> cases = {
      {ErrorCode::kNotEnoughReplicas, ErrorCode::kCoordinatorNotAvailable},
      {ErrorCode::kNotEnoughReplicasAfterAppend, ErrorCode::kCoordinatorNotAvailable},
      {ErrorCode::kRequestTimedOut, ErrorCode::kCoordinatorNotAvailable},
      {ErrorCode::kUnknownTopicOrPartition, ErrorCode::kCoordinatorNotAvailable},
      {ErrorCode::kNotLeaderOrFollower, ErrorCode::kNotCoordinator},
      {ErrorCode::kKafkaStorageError, ErrorCode::kNotCoordinator},
      {ErrorCode::kMessageTooLarge, ErrorCode::kUnknownServerError},
      {ErrorCode::kRecordListTooLarge, ErrorCode::kUnknownServerError},
  };
  for (auto [log_error, answer] : cases) {
    log.fail_next = log_error;
    EXPECT_EQ(init("my-txn")->error, answer) << protocol::error_name(log_error);
    auto md = coordinator->metadata("my-txn");
    ASSERT_TRUE(md);
    EXPECT_FALSE(md->pending_transition());
    EXPECT_EQ(md->producer_epoch, 0);  // nothing taken in
  }
  EXPECT_EQ(init_ok("my-txn").producer_epoch, 1);
}

TEST_F(InitProducerIdTest, RequestsWhileATransitionIsInFlightAreConcurrentTransactions) {
  elect("my-txn");
  auto first = init_ok("my-txn");
  log.hold = true;
  std::optional<InitProducerIdResult> second;
  coordinator->init_producer_id(
      InitProducerIdRequest{.transactional_id = "my-txn", .transaction_timeout_ms = 60000, .api_version = 4},
      [&](InitProducerIdResult r) { second = r; });
  EXPECT_FALSE(second);  // waiting for the ISR
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kConcurrentTransactions);
  // The current epoch (0) is checked first, then the pending state.
  EXPECT_EQ(add("my-txn", first.producer_id, 0, {kT0}), ErrorCode::kConcurrentTransactions);
  EXPECT_EQ(end("my-txn", first.producer_id, 0, true), ErrorCode::kConcurrentTransactions);
  EXPECT_EQ(add("my-txn", first.producer_id, 1, {kT0}), ErrorCode::kProducerFenced);
  log.release_all();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->error, ErrorCode::kNone);
  EXPECT_EQ(second->producer_epoch, 1);
}

TEST_F(InitProducerIdTest, OpenTransactionIsFencedAbortedAndTheRetryBumpsAgain) {
  const int32_t p = elect("my-txn");
  auto old = init_ok("my-txn");
  ASSERT_EQ(add("my-txn", old.producer_id, 0, {kT0, kU0}), ErrorCode::kNone);
  markers.auto_ack = false;

  // A new producer with the same id: told to retry while the old transaction is aborted.
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kConcurrentTransactions);
  auto md = coordinator->metadata("my-txn");
  ASSERT_TRUE(md);
  EXPECT_EQ(md->state, TxnState::kPrepareAbort);
  EXPECT_EQ(md->producer_epoch, 1);
  auto recs = log.records(p);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back().value->state, TxnState::kPrepareAbort);
  EXPECT_EQ(recs.back().value->producer_epoch, 1);
  ASSERT_EQ(markers.sent.size(), 1u);
  EXPECT_FALSE(markers.sent[0].marker.commit);
  EXPECT_EQ(markers.sent[0].marker.producer_epoch, 1);
  EXPECT_EQ(markers.sent[0].marker.partitions, (std::vector<TopicPartition>{kT0, kU0}));

  // Until the markers are written the retry waits.
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kConcurrentTransactions);
  markers.answer();
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteAbort);
  auto again = init_ok("my-txn");
  EXPECT_EQ(again.producer_id, old.producer_id);
  EXPECT_EQ(again.producer_epoch, 2);

  // The old producer is fenced everywhere.
  EXPECT_EQ(add("my-txn", old.producer_id, 0, {kT1}), ErrorCode::kProducerFenced);
  EXPECT_EQ(add("my-txn", old.producer_id, 0, {kT1}, 1), ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(end("my-txn", old.producer_id, 0, true), ErrorCode::kProducerFenced);
  EXPECT_EQ(end("my-txn", old.producer_id, 0, true, 1), ErrorCode::kInvalidProducerEpoch);
}

TEST_F(InitProducerIdTest, PrepareStatesAnswerConcurrentTransactions) {
  elect("my-txn");
  auto r = init_ok("my-txn");
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_EQ(state_of("my-txn"), TxnState::kPrepareCommit);
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kConcurrentTransactions);
  markers.answer();
  EXPECT_EQ(init_ok("my-txn").producer_epoch, 1);
}

TEST_F(InitProducerIdTest, Kip360BumpWithTheCurrentEpochAndItsRetry) {
  elect("my-txn");
  auto r = init_ok("my-txn");
  auto bumped = init("my-txn", 60000, r.producer_id, r.producer_epoch);
  ASSERT_TRUE(bumped);
  EXPECT_EQ(bumped->error, ErrorCode::kNone);
  EXPECT_EQ(bumped->producer_epoch, 1);
  // The same request again (its answer was lost): the same epoch.
  auto retried = init("my-txn", 60000, r.producer_id, r.producer_epoch);
  EXPECT_EQ(retried->error, ErrorCode::kNone);
  EXPECT_EQ(retried->producer_id, r.producer_id);
  EXPECT_EQ(retried->producer_epoch, 1);
}

TEST_F(InitProducerIdTest, Kip360WithAStaleEpochOrAnotherIdIsFenced) {
  elect("my-txn");
  auto r = init_ok("my-txn");
  init_ok("my-txn");  // epoch 1, last epoch forgotten
  init_ok("my-txn");  // epoch 2
  EXPECT_EQ(init("my-txn", 60000, r.producer_id, 0)->error, ErrorCode::kProducerFenced);
  EXPECT_EQ(init("my-txn", 60000, r.producer_id, 0, 3)->error, ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(init("my-txn", 60000, 4242, 2)->error, ErrorCode::kProducerFenced);
  EXPECT_EQ(init("my-txn", 60000, 4242, 2, 3)->error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(InitProducerIdTest, ExhaustedEpochRotatesTheProducerId) {
  const int32_t p = coordinator->partition_for("old-txn");
  log.seed(p, "old-txn",
           TxnLogValue{.producer_id = 77, .producer_epoch = kLastUsableEpoch, .timeout_ms = 60000,
                       .state = TxnState::kCompleteCommit, .partitions = {}, .last_update_ms = now - 10,
                       .start_ms = now - 20});
  elect("old-txn");
  auto r = init_ok("old-txn");
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
  auto md = coordinator->metadata("old-txn");
  EXPECT_EQ(md->last_producer_id, 77);
}

TEST_F(InitProducerIdTest, Kip360RetryAcrossARotationIsRecognised) {
  const int32_t p = coordinator->partition_for("old-txn");
  log.seed(p, "old-txn",
           TxnLogValue{.producer_id = 77, .producer_epoch = kLastUsableEpoch, .timeout_ms = 60000,
                       .state = TxnState::kCompleteAbort, .partitions = {}, .last_update_ms = now - 10,
                       .start_ms = now - 20});
  elect("old-txn");
  auto r = init("old-txn", 60000, 77, kLastUsableEpoch);
  ASSERT_EQ(r->error, ErrorCode::kNone);
  EXPECT_EQ(r->producer_id, 1000);
  EXPECT_EQ(r->producer_epoch, 0);
  // The producer did not hear the answer and asks again with its old id.
  auto retried = init("old-txn", 60000, 77, kLastUsableEpoch);
  ASSERT_EQ(retried->error, ErrorCode::kNone);
  EXPECT_EQ(retried->producer_id, 1000);
  EXPECT_EQ(retried->producer_epoch, 0);
  EXPECT_EQ(pids.next, 1001);
}

// --- AddPartitionsToTxn / AddOffsetsToTxn --------------------------------------------

class AddPartitionsTest : public ProducerTest {};

TEST_F(AddPartitionsTest, FirstAddOpensTheTransactionAndSetsItsStart) {
  now += 500;
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0, kU0}), ErrorCode::kNone);
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kOngoing);
  EXPECT_EQ(md->start_ms, now);
  EXPECT_EQ(md->partitions, (std::set<TopicPartition>{kT0, kU0}));
  auto recs = log.records(p);
  EXPECT_EQ(recs.back().value->state, TxnState::kOngoing);
  EXPECT_EQ(recs.back().value->partitions, (std::set<TopicPartition>{kT0, kU0}));
  now += 500;
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kNone);
  md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->start_ms, now - 500);
  EXPECT_EQ(md->partitions.size(), 3u);
}

TEST_F(AddPartitionsTest, PartitionsAlreadyInTheTransactionNeedNoWrite) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0, kT1}), ErrorCode::kNone);
  const int appends = log.appends;
  log.hold = true;  // a write would not be answered
  EXPECT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kNone);
  EXPECT_EQ(log.appends, appends);
}

TEST_F(AddPartitionsTest, WrongIdsAndEpochs) {
  EXPECT_EQ(add("", r.producer_id, 0, {kT0}), ErrorCode::kInvalidRequest);
  EXPECT_EQ(add("other", r.producer_id, 0, {kT0}), ErrorCode::kNotCoordinator);  // another partition, not ours
  const std::string same_partition = [&] {
    for (int i = 0;; ++i) {
      std::string id = "id-" + std::to_string(i);
      if (coordinator->partition_for(id) == p && id != "my-txn") return id;
    }
  }();
  EXPECT_EQ(add(same_partition, r.producer_id, 0, {kT0}), ErrorCode::kInvalidProducerIdMapping);
  EXPECT_EQ(add("my-txn", r.producer_id + 1, 0, {kT0}), ErrorCode::kInvalidProducerIdMapping);
  EXPECT_EQ(add("my-txn", r.producer_id, 1, {kT0}), ErrorCode::kProducerFenced);
  EXPECT_EQ(add("my-txn", r.producer_id, 1, {kT0}, 2), ErrorCode::kProducerFenced);
  EXPECT_EQ(add("my-txn", r.producer_id, 1, {kT0}, 1), ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(add("my-txn", r.producer_id, 1, {kT0}, 0), ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(state_of("my-txn"), TxnState::kEmpty);
}

TEST_F(AddPartitionsTest, AddOffsetsAddsTheGroupsOffsetsPartition) {
  Answer a;
  coordinator->add_offsets_to_txn("my-txn", r.producer_id, 0, 17, 3, a.cb());
  ASSERT_EQ(a.error, ErrorCode::kNone);
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->partitions, (std::set<TopicPartition>{{"__consumer_offsets", 17}}));
  Answer fenced_v1, fenced_v2;
  coordinator->add_offsets_to_txn("my-txn", r.producer_id, 5, 17, 1, fenced_v1.cb());
  coordinator->add_offsets_to_txn("my-txn", r.producer_id, 5, 17, 2, fenced_v2.cb());
  EXPECT_EQ(fenced_v1.error, ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(fenced_v2.error, ErrorCode::kProducerFenced);
}

TEST_F(AddPartitionsTest, AddWhileCommittingWaitsForTheCompletionInsteadOfConcurrentTransactions) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  // The next transaction's first request arrives before the markers are
  // written: it waits (no CONCURRENT_TRANSACTIONS, so no client backoff).
  now += 1;
  Answer next;
  coordinator->add_partitions_to_txn("my-txn", r.producer_id, 0, {kT1}, 3, next.cb());
  EXPECT_FALSE(next.error);
  const int appends_before = log.appends;
  markers.answer();
  // The CompleteCommit was written, then the waiting request, in that order.
  ASSERT_EQ(next.error, ErrorCode::kNone);
  EXPECT_EQ(log.appends, appends_before + 2);
  auto recs = log.records(p);
  ASSERT_GE(recs.size(), 2u);
  EXPECT_EQ(recs[recs.size() - 2].value->state, TxnState::kCompleteCommit);
  EXPECT_EQ(recs.back().value->state, TxnState::kOngoing);
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kOngoing);
  EXPECT_EQ(md->partitions, (std::set<TopicPartition>{kT1}));
  EXPECT_EQ(md->start_ms, now);
}

TEST_F(AddPartitionsTest, AddWaitingForACompletionIsAnsweredConcurrentTransactionsAfterItsWait) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  Answer next;
  coordinator->add_offsets_to_txn("my-txn", r.producer_id, 0, 17, 3, next.cb());
  EXPECT_FALSE(next.error);
  // The timer wakes for the wait's end, not only for its sweeps.
  EXPECT_LE(coordinator->run_due(), config.completion_wait_ms);
  EXPECT_FALSE(next.error);
  now += config.completion_wait_ms;
  coordinator->run_due();
  EXPECT_EQ(next.error, ErrorCode::kConcurrentTransactions);
  EXPECT_EQ(state_of("my-txn"), TxnState::kPrepareCommit);
  // The markers still complete the transaction; a new request goes through.
  markers.answer();
  EXPECT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kNone);
}

TEST_F(AddPartitionsTest, AddWaitingForACompletionIsAnsweredWhenTheCoordinatorResigns) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  Answer next;
  coordinator->add_partitions_to_txn("my-txn", r.producer_id, 0, {kT1}, 3, next.cb());
  EXPECT_FALSE(next.error);
  coordinator->on_resigned(p, 1);
  coordinator->run_due();
  EXPECT_EQ(next.error, ErrorCode::kNotCoordinator);
  markers.answer();  // dropped: not ours any more
  EXPECT_EQ(next.error, ErrorCode::kNotCoordinator);
}

TEST_F(AddPartitionsTest, AddWhileAnotherWriteIsInFlightIsStillConcurrentTransactions) {
  log.hold = true;
  Answer first;
  coordinator->add_partitions_to_txn("my-txn", r.producer_id, 0, {kT0}, 3, first.cb());
  EXPECT_FALSE(first.error);
  // Not a completion: nothing to wait for that ends soon by itself.
  EXPECT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kConcurrentTransactions);
  log.release_all();
  EXPECT_EQ(first.error, ErrorCode::kNone);
}

TEST_F(AddPartitionsTest, VerificationAnswersPerPartition) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  auto v = coordinator->verify_partitions("my-txn", r.producer_id, 0, {kT0, kT1});
  EXPECT_EQ(v[kT0], ErrorCode::kNone);
  EXPECT_EQ(v[kT1], ErrorCode::kInvalidTxnState);
  auto fenced = coordinator->verify_partitions("my-txn", r.producer_id, 3, {kT0, kT1});
  EXPECT_EQ(fenced[kT0], ErrorCode::kProducerFenced);
  EXPECT_EQ(fenced[kT1], ErrorCode::kProducerFenced);
  auto other = coordinator->verify_partitions("my-txn", r.producer_id + 1, 0, {kT0});
  EXPECT_EQ(other[kT0], ErrorCode::kInvalidProducerIdMapping);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_EQ(coordinator->verify_partitions("my-txn", r.producer_id, 0, {kT0})[kT0],
            ErrorCode::kConcurrentTransactions);
}

// --- EndTxn ---------------------------------------------------------------------------

class EndTxnTest : public ProducerTest {};

TEST_F(EndTxnTest, CommitWritesPrepareAnswersThenMarksAndCompletes) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0, kU0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  auto recs = log.records(p);
  EXPECT_EQ(recs.back().value->state, TxnState::kPrepareCommit);
  EXPECT_EQ(recs.back().value->partitions, (std::set<TopicPartition>{kT0, kU0}));
  ASSERT_EQ(markers.sent.size(), 1u);
  const TxnMarker& m = markers.sent[0].marker;
  EXPECT_EQ(m.transactional_id, "my-txn");
  EXPECT_EQ(m.producer_id, r.producer_id);
  EXPECT_EQ(m.producer_epoch, 0);
  EXPECT_TRUE(m.commit);
  EXPECT_EQ(m.coordinator_epoch, 1);
  EXPECT_EQ(m.txn_partition, p);
  EXPECT_EQ(markers.sent[0].delay_ms, 0);
  EXPECT_EQ(coordinator->pending_marker_count(), 1u);
  markers.answer();
  EXPECT_EQ(coordinator->pending_marker_count(), 0u);
  recs = log.records(p);
  EXPECT_EQ(recs.back().value->state, TxnState::kCompleteCommit);
  EXPECT_TRUE(recs.back().value->partitions.empty());
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kCompleteCommit);
  EXPECT_FALSE(md->pending_transition());
  EXPECT_TRUE(md->partitions.empty());
}

TEST_F(EndTxnTest, RetriesAfterTheEndAndMismatchedResults) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kConcurrentTransactions);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kConcurrentTransactions);  // pending first
  markers.answer();
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kInvalidTxnState);
}

TEST_F(EndTxnTest, AbortThenCommitIsInvalidTxnState) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  ASSERT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kNone);
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteAbort);
  ASSERT_EQ(markers.acked.size(), 1u);
  EXPECT_FALSE(markers.acked[0].commit);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kNone);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kInvalidTxnState);
}

TEST_F(EndTxnTest, EndWithoutATransactionIsInvalidTxnState) {
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kInvalidTxnState);
  EXPECT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kInvalidTxnState);
  EXPECT_EQ(end("", r.producer_id, 0, true), ErrorCode::kInvalidRequest);
  EXPECT_EQ(end("my-txn", r.producer_id + 1, 0, true), ErrorCode::kInvalidProducerIdMapping);
}

TEST_F(EndTxnTest, EpochMustMatchExactly) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  EXPECT_EQ(end("my-txn", r.producer_id, 1, true), ErrorCode::kProducerFenced);  // ahead is fenced too
  EXPECT_EQ(end("my-txn", r.producer_id, 1, true, 0), ErrorCode::kInvalidProducerEpoch);
  EXPECT_EQ(state_of("my-txn"), TxnState::kOngoing);
}

TEST_F(EndTxnTest, FailedPrepareWriteLeavesTheTransactionOpen) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  log.fail_next = ErrorCode::kNotEnoughReplicas;
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kCoordinatorNotAvailable);
  EXPECT_EQ(state_of("my-txn"), TxnState::kOngoing);
  EXPECT_TRUE(markers.acked.empty());
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

TEST_F(EndTxnTest, TransactionWithoutPartitionsCompletesWithoutMarkers) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {}), ErrorCode::kNone);
  EXPECT_EQ(state_of("my-txn"), TxnState::kOngoing);
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kNone);
  EXPECT_TRUE(markers.sent.empty());
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteCommit);
}

// --- describe, list ------------------------------------------------------------------------

TEST_F(EndTxnTest, DescribeShowsStateAndPartitions) {
  now += 100;
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0, kU0}), ErrorCode::kNone);
  auto d = coordinator->describe("my-txn");
  EXPECT_EQ(d.error, ErrorCode::kNone);
  EXPECT_EQ(d.state, "Ongoing");
  EXPECT_EQ(d.timeout_ms, 60000);
  EXPECT_EQ(d.start_ms, now);
  EXPECT_EQ(d.producer_id, r.producer_id);
  EXPECT_EQ(d.producer_epoch, 0);
  EXPECT_EQ(d.partitions, (std::vector<TopicPartition>{kT0, kU0}));
  // In a prepare state only the partitions still awaiting a marker.
  markers.auto_ack = false;
  ASSERT_EQ(end("my-txn", r.producer_id, 0, false), ErrorCode::kNone);
  markers.answer(ErrorCode::kNone, {{kU0, ErrorCode::kNotLeaderOrFollower}});
  d = coordinator->describe("my-txn");
  EXPECT_EQ(d.state, "PrepareAbort");
  EXPECT_EQ(d.partitions, (std::vector<TopicPartition>{kU0}));
  EXPECT_EQ(coordinator->describe("").error, ErrorCode::kInvalidRequest);
  EXPECT_EQ(coordinator->describe("other").error, ErrorCode::kNotCoordinator);
}

TEST_F(EndTxnTest, ListFiltersByStateAndProducerId) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  elect("txn-1");
  auto other = init_ok("txn-1");
  auto all = coordinator->list({}, {});
  ASSERT_EQ(all.error, ErrorCode::kNone);
  ASSERT_EQ(all.transactions.size(), 2u);
  EXPECT_EQ(all.transactions[0].transactional_id, "my-txn");
  EXPECT_EQ(all.transactions[0].state, "Ongoing");
  EXPECT_EQ(all.transactions[1].transactional_id, "txn-1");
  EXPECT_EQ(all.transactions[1].state, "Empty");
  auto ongoing = coordinator->list({}, {"Ongoing", "Bogus"});
  ASSERT_EQ(ongoing.transactions.size(), 1u);
  EXPECT_EQ(ongoing.transactions[0].transactional_id, "my-txn");
  EXPECT_EQ(ongoing.unknown_state_filters, (std::vector<std::string>{"Bogus"}));
  auto by_pid = coordinator->list({other.producer_id}, {});
  ASSERT_EQ(by_pid.transactions.size(), 1u);
  EXPECT_EQ(by_pid.transactions[0].transactional_id, "txn-1");
}

}  // namespace
}  // namespace keel::txn::testing
