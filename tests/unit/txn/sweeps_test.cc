// What runs by the clock: timed-out transactions are fenced and aborted,
// unused transactional ids expire with a tombstone, and the sweeps run at
// their configured intervals.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "txn_fixture.h"

namespace keel::txn::testing {
namespace {

// "my-txn" initialised with a transaction timeout of 10 s.
class SweepsTest : public ProducerTest {
 protected:
  SweepsTest() : ProducerTest(10000) {}
};

TEST_F(SweepsTest, TimedOutTransactionIsFencedAndAborted) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  now += 10000;  // start + timeout == now: not yet
  coordinator->abort_timed_out_transactions();
  EXPECT_EQ(state_of("my-txn"), TxnState::kOngoing);
  now += 1;
  coordinator->abort_timed_out_transactions();
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kCompleteAbort);
  EXPECT_EQ(md->producer_epoch, 1);
  ASSERT_EQ(markers.acked.size(), 1u);
  EXPECT_FALSE(markers.acked[0].commit);
  EXPECT_EQ(markers.acked[0].producer_epoch, 1);  // the bumped epoch fences the old producer at the partitions
  // The producer's next requests are fenced.
  EXPECT_EQ(end("my-txn", r.producer_id, 0, true), ErrorCode::kProducerFenced);
  EXPECT_EQ(add("my-txn", r.producer_id, 0, {kT1}), ErrorCode::kProducerFenced);
  // A restarted producer continues above it.
  EXPECT_EQ(init_ok("my-txn", 10000).producer_epoch, 2);
}

TEST_F(SweepsTest, OnlyOngoingTransactionsTimeOut) {
  now += 1'000'000;
  coordinator->abort_timed_out_transactions();
  EXPECT_EQ(state_of("my-txn"), TxnState::kEmpty);
  EXPECT_EQ(coordinator->metadata("my-txn")->producer_epoch, 0);
}

TEST_F(SweepsTest, TransactionWithAPendingTransitionIsLeftAlone) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  log.hold = true;
  Answer a;
  coordinator->add_partitions_to_txn("my-txn", r.producer_id, 0, {kT1}, 3, a.cb());
  now += 20000;
  coordinator->abort_timed_out_transactions();
  EXPECT_EQ(coordinator->metadata("my-txn")->producer_epoch, 0);
  log.release_all();
  EXPECT_EQ(a.error, ErrorCode::kNone);
  log.hold = false;
  coordinator->abort_timed_out_transactions();
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteAbort);
}

TEST_F(SweepsTest, FailedFenceKeepsItsEpochAndDoesNotBumpAgain) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  now += 10001;
  log.fail_next = ErrorCode::kNotEnoughReplicas;
  coordinator->abort_timed_out_transactions();
  auto md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kOngoing);
  EXPECT_EQ(md->producer_epoch, 1);  // bumped in memory, never handed out
  EXPECT_TRUE(md->has_failed_epoch_fence);
  EXPECT_FALSE(md->pending_transition());
  coordinator->abort_timed_out_transactions();
  md = coordinator->metadata("my-txn");
  EXPECT_EQ(md->state, TxnState::kCompleteAbort);
  EXPECT_EQ(md->producer_epoch, 1);
  EXPECT_FALSE(md->has_failed_epoch_fence);
}

TEST_F(SweepsTest, UnusedIdsExpireWithATombstone) {
  elect("txn-1");
  auto other = init_ok("txn-1");
  ASSERT_EQ(add("txn-1", other.producer_id, 0, {kT0}), ErrorCode::kNone);  // open: never expires
  now += config.transactional_id_expiration_ms - 1;
  coordinator->remove_expired_transactional_ids();
  EXPECT_TRUE(coordinator->metadata("my-txn"));
  now += 1;
  coordinator->remove_expired_transactional_ids();
  EXPECT_FALSE(coordinator->metadata("my-txn"));
  EXPECT_TRUE(coordinator->metadata("txn-1"));
  auto recs = log.records(p);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back().transactional_id, "my-txn");
  EXPECT_FALSE(recs.back().value.has_value());  // a tombstone
  EXPECT_EQ(coordinator->describe("my-txn").error, ErrorCode::kTransactionalIdNotFound);
  // The id starts over with a new producer id.
  auto again = init_ok("my-txn");
  EXPECT_NE(again.producer_id, r.producer_id);
  EXPECT_EQ(again.producer_epoch, 0);
}

TEST_F(SweepsTest, FailedTombstoneKeepsTheId) {
  now += config.transactional_id_expiration_ms;
  log.fail_next = ErrorCode::kNotEnoughReplicas;
  coordinator->remove_expired_transactional_ids();
  auto md = coordinator->metadata("my-txn");
  ASSERT_TRUE(md);
  EXPECT_FALSE(md->pending_transition());
  EXPECT_EQ(init_ok("my-txn").producer_epoch, 1);
}

TEST_F(SweepsTest, ExpiringIdAnswersNotFoundAndConcurrentTransactions) {
  now += config.transactional_id_expiration_ms;
  log.hold = true;
  coordinator->remove_expired_transactional_ids();
  EXPECT_EQ(coordinator->describe("my-txn").error, ErrorCode::kTransactionalIdNotFound);
  EXPECT_EQ(init("my-txn")->error, ErrorCode::kConcurrentTransactions);
  log.release_all();
  EXPECT_FALSE(coordinator->metadata("my-txn"));
}

TEST_F(SweepsTest, ManyExpiredIdsAreSplitIntoBatchesBelowTheMaximumSize) {
  config.max_batch_bytes = 400;
  make_coordinator();
  log.lead(p, 2);
  coordinator->on_elected(p, 2);
  int made = 0;
  for (int i = 0; made < 20; ++i) {
    std::string id = "bulk-" + std::to_string(i);
    if (coordinator->partition_for(id) != p) continue;
    init_ok(id);
    ++made;
  }
  const int appends = log.appends;
  now += config.transactional_id_expiration_ms;
  coordinator->remove_expired_transactional_ids();
  EXPECT_GT(log.appends - appends, 1);
  EXPECT_FALSE(coordinator->metadata("my-txn"));
  EXPECT_EQ(coordinator->list({}, {}).transactions.size(), 0u);
}

TEST_F(SweepsTest, RunDueKeepsTheConfiguredIntervals) {
  ASSERT_EQ(add("my-txn", r.producer_id, 0, {kT0}), ErrorCode::kNone);
  // The first call schedules; nothing is due yet.
  EXPECT_EQ(coordinator->run_due(), config.abort_timed_out_interval_ms);
  now += 10001;  // timed out, and the abort sweep is due
  EXPECT_EQ(coordinator->run_due(), config.abort_timed_out_interval_ms);
  EXPECT_EQ(state_of("my-txn"), TxnState::kCompleteAbort);
  // The expiry sweep runs on its own, longer interval.
  now += config.transactional_id_expiration_ms;
  coordinator->run_due();
  EXPECT_FALSE(coordinator->metadata("my-txn"));
}

TEST(SweepsTimer, TimerThreadAbortsATimedOutTransaction) {
  TxnCoordinatorConfig config;
  config.abort_timed_out_interval_ms = 5;
  MemoryTxnLog log;
  CountingProducerIds pids;
  RecordingMarkerChannel markers;
  TransactionCoordinator c(config, log, pids, markers);
  const int32_t p = c.partition_for("t");
  log.lead(p, 1);
  c.on_elected(p, 1);
  std::optional<InitProducerIdResult> r;
  c.init_producer_id(InitProducerIdRequest{.transactional_id = "t", .transaction_timeout_ms = 1, .api_version = 4},
                     [&](InitProducerIdResult x) { r = x; });
  ASSERT_TRUE(r && r->error == ErrorCode::kNone);
  std::optional<ErrorCode> added;
  c.add_partitions_to_txn("t", r->producer_id, 0, {kT0}, 3, [&](ErrorCode e) { added = e; });
  ASSERT_EQ(added, ErrorCode::kNone);
  c.start();
  TxnState state = TxnState::kOngoing;
  for (int i = 0; i < 400 && state != TxnState::kCompleteAbort; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    state = c.metadata("t")->state;
  }
  c.stop();
  EXPECT_EQ(state, TxnState::kCompleteAbort);
}

}  // namespace
}  // namespace keel::txn::testing
