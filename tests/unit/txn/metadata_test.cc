// TransactionMetadata: Kafka's state table, the two-step transitions with
// their pending state, epoch bumps (KIP-360), producer id rotation, fencing.

#include "txn/metadata.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>

#include "txn/errors.h"

namespace keel::txn {
namespace {

using S = TxnState;
constexpr std::array<S, 8> kAll = {S::kEmpty,          S::kOngoing,       S::kPrepareCommit, S::kPrepareAbort,
                                   S::kCompleteCommit, S::kCompleteAbort, S::kDead,          S::kPrepareEpochFence};
const TopicPartition kT0{"t", 0};
const TopicPartition kT1{"t", 1};

TransactionMetadata fresh(int16_t epoch = 0, S state = S::kEmpty) {
  return TransactionMetadata("tid", 100, epoch, 60000, state, 1000);
}

// Prepares and completes, as a successful write would.
template <typename Prepare>
TxnTransit apply(TransactionMetadata& md, Prepare prepare) {
  Result<TxnTransit> t = prepare(md);
  EXPECT_TRUE(t.ok()) << t.error().message();
  if (!t) return {};
  EXPECT_EQ(md.pending_state, t->state);
  auto done = md.complete_transition(*t);
  EXPECT_TRUE(done.ok()) << done.error().message();
  EXPECT_FALSE(md.pending_transition());
  return *t;
}

TEST(TxnStateTable, IdsAndNamesAreKafkas) {
  const std::array<std::string_view, 8> names = {"Empty",        "Ongoing",        "PrepareCommit",
                                                 "PrepareAbort", "CompleteCommit", "CompleteAbort",
                                                 "Dead",         "PrepareEpochFence"};
  for (size_t i = 0; i < kAll.size(); ++i) {
    EXPECT_EQ(static_cast<int>(kAll[i]), static_cast<int>(i));
    EXPECT_EQ(txn_state_name(kAll[i]), names[i]);
    EXPECT_EQ(txn_state_from_name(names[i]), kAll[i]);
    EXPECT_EQ(txn_state_from_id(static_cast<int8_t>(i)), kAll[i]);
  }
  EXPECT_FALSE(txn_state_from_id(8).has_value());
  EXPECT_FALSE(txn_state_from_id(-1).has_value());
  EXPECT_FALSE(txn_state_from_name("ongoing").has_value());
}

TEST(TxnStateTable, ValidTransitionsAreExactlyKafkas) {
  // to -> the states it may follow (TransactionState.validPreviousStates).
  const std::map<S, std::set<S>> valid = {
      {S::kEmpty, {S::kEmpty, S::kCompleteCommit, S::kCompleteAbort}},
      {S::kOngoing, {S::kOngoing, S::kEmpty, S::kCompleteCommit, S::kCompleteAbort}},
      {S::kPrepareCommit, {S::kOngoing}},
      {S::kPrepareAbort, {S::kOngoing, S::kPrepareEpochFence}},
      {S::kCompleteCommit, {S::kPrepareCommit}},
      {S::kCompleteAbort, {S::kPrepareAbort}},
      {S::kDead, {S::kEmpty, S::kCompleteAbort, S::kCompleteCommit}},
      {S::kPrepareEpochFence, {S::kOngoing}},
  };
  int allowed = 0;
  for (S from : kAll) {
    for (S to : kAll) {
      const bool expected = valid.at(to).contains(from);
      EXPECT_EQ(is_valid_transition(from, to), expected) << txn_state_name(from) << " -> " << txn_state_name(to);
      allowed += expected ? 1 : 0;
    }
  }
  EXPECT_EQ(allowed, 16);
}

TEST(TxnStateTable, OnlyIdleStatesMayExpire) {
  for (S s : kAll) {
    const bool idle = s == S::kEmpty || s == S::kCompleteCommit || s == S::kCompleteAbort;
    EXPECT_EQ(is_expiration_allowed(s), idle) << txn_state_name(s);
  }
}

TEST(TxnStateTable, EpochIsExhaustedOneBelowTheMaximum) {
  EXPECT_FALSE(is_epoch_exhausted(32765));
  EXPECT_TRUE(is_epoch_exhausted(32766));
  EXPECT_TRUE(is_epoch_exhausted(32767));
}

TEST(TransactionMetadata, PendingStateBlocksASecondPrepare) {
  auto md = fresh();
  auto t = md.prepare_add_partitions({kT0}, 2000);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(md.pending_state, S::kOngoing);
  EXPECT_EQ(md.state, S::kEmpty);  // nothing changes before the write
  EXPECT_TRUE(md.partitions.empty());
  EXPECT_EQ(md.prepare_add_partitions({kT1}, 2001).error(), make_error_code(TxnErrc::kTransitionPending));
  ASSERT_TRUE(md.complete_transition(*t).ok());
  EXPECT_EQ(md.state, S::kOngoing);
  EXPECT_EQ(md.partitions, (std::set<TopicPartition>{kT0}));
}

TEST(TransactionMetadata, IllegalTransitionsAreRefusedWithoutAPendingState) {
  auto md = fresh();
  EXPECT_EQ(md.prepare_abort_or_commit(S::kPrepareCommit, 2000).error(),
            make_error_code(TxnErrc::kIllegalTransition));
  EXPECT_EQ(md.prepare_complete(2000).error(), make_error_code(TxnErrc::kIllegalTransition));
  EXPECT_EQ(md.prepare_fence_producer_epoch().error(), make_error_code(TxnErrc::kIllegalTransition));
  EXPECT_FALSE(md.pending_transition());
  EXPECT_EQ(md.remove_partition(kT0).error(), make_error_code(TxnErrc::kIllegalTransition));
}

TEST(TransactionMetadata, AddPartitionsSetsTheStartOnlyWhenTheTransactionOpens) {
  auto md = fresh();
  apply(md, [](auto& m) { return m.prepare_add_partitions({kT0}, 2000); });
  EXPECT_EQ(md.start_ms, 2000);
  apply(md, [](auto& m) { return m.prepare_add_partitions({kT1}, 3000); });
  EXPECT_EQ(md.start_ms, 2000);
  EXPECT_EQ(md.last_update_ms, 3000);
  EXPECT_EQ(md.partitions, (std::set<TopicPartition>{kT0, kT1}));
}

TEST(TransactionMetadata, FullCommitCycle) {
  auto md = fresh();
  apply(md, [](auto& m) { return m.prepare_add_partitions({kT0, kT1}, 2000); });
  apply(md, [](auto& m) { return m.prepare_abort_or_commit(S::kPrepareCommit, 3000); });
  EXPECT_EQ(md.state, S::kPrepareCommit);
  EXPECT_EQ(md.partitions.size(), 2u);
  auto complete = md.prepare_complete(4000);
  ASSERT_TRUE(complete.ok());
  EXPECT_EQ(complete->state, S::kCompleteCommit);
  EXPECT_TRUE(complete->partitions.empty());
  // Markers written one by one.
  ASSERT_TRUE(md.remove_partition(kT0).ok());
  ASSERT_TRUE(md.remove_partition(kT1).ok());
  ASSERT_TRUE(md.complete_transition(*complete).ok());
  EXPECT_EQ(md.state, S::kCompleteCommit);
  EXPECT_EQ(md.start_ms, 2000);
  EXPECT_EQ(md.last_update_ms, 4000);
  EXPECT_EQ(md.producer_epoch, 0);  // TV1: no bump at the end
}

TEST(TransactionMetadata, CompletingAnotherTargetThanThePendingOneFails) {
  auto md = fresh();
  auto t = md.prepare_add_partitions({kT0}, 2000);
  ASSERT_TRUE(t.ok());
  TxnTransit other = *t;
  other.state = S::kPrepareAbort;
  EXPECT_EQ(md.complete_transition(other).error(), make_error_code(TxnErrc::kIllegalTransition));
  // A transit that drops a partition from an Ongoing transaction is refused too.
  ASSERT_TRUE(md.complete_transition(*t).ok());
  auto grow = md.prepare_add_partitions({kT1}, 2100);
  ASSERT_TRUE(grow.ok());
  TxnTransit shrunk = *grow;
  shrunk.partitions = {kT1};
  EXPECT_EQ(md.complete_transition(shrunk).error(), make_error_code(TxnErrc::kIllegalTransition));
  EXPECT_EQ(md.partitions, (std::set<TopicPartition>{kT0}));
}

TEST(TransactionMetadata, IncrementWithoutExpectedEpochBumpsAndForgetsTheLastEpoch) {
  auto md = fresh(-1);
  auto t = apply(md, [](auto& m) { return m.prepare_increment_producer_epoch(30000, std::nullopt, 2000); });
  EXPECT_EQ(t.producer_epoch, 0);  // a new id: -1 -> 0
  EXPECT_EQ(md.producer_epoch, 0);
  EXPECT_EQ(md.last_producer_epoch, kNoProducerEpoch);
  EXPECT_EQ(md.timeout_ms, 30000);  // InitProducerId takes the new timeout
  apply(md, [](auto& m) { return m.prepare_increment_producer_epoch(30000, std::nullopt, 2100); });
  EXPECT_EQ(md.producer_epoch, 1);
  EXPECT_EQ(md.producer_id, 100);
}

TEST(TransactionMetadata, Kip360ExpectedCurrentEpochBumpsAndRemembersIt) {
  auto md = fresh(5);
  apply(md, [](auto& m) { return m.prepare_increment_producer_epoch(60000, int16_t{5}, 2000); });
  EXPECT_EQ(md.producer_epoch, 6);
  EXPECT_EQ(md.last_producer_epoch, 5);
  // The retry of that call (its answer was lost): the same epoch again, no bump.
  auto retry = apply(md, [](auto& m) { return m.prepare_increment_producer_epoch(60000, int16_t{5}, 2100); });
  EXPECT_EQ(retry.producer_epoch, 6);
  EXPECT_EQ(md.producer_epoch, 6);
  EXPECT_EQ(md.last_producer_epoch, 5);
}

TEST(TransactionMetadata, Kip360StaleExpectedEpochIsFenced) {
  auto md = fresh(5);
  apply(md, [](auto& m) { return m.prepare_increment_producer_epoch(60000, std::nullopt, 2000); });  // 6, last -1
  EXPECT_EQ(md.prepare_increment_producer_epoch(60000, int16_t{5}, 2100).error(),
            make_error_code(TxnErrc::kProducerFenced));
  EXPECT_EQ(md.prepare_increment_producer_epoch(60000, int16_t{3}, 2100).error(),
            make_error_code(TxnErrc::kProducerFenced));
  EXPECT_FALSE(md.pending_transition());
}

TEST(TransactionMetadata, ExhaustedEpochCannotBeBumpedButTheIdRotates) {
  auto md = fresh(kLastUsableEpoch, S::kCompleteCommit);
  md.start_ms = 10;
  EXPECT_EQ(md.prepare_increment_producer_epoch(60000, std::nullopt, 2000).error(),
            make_error_code(TxnErrc::kEpochExhausted));
  auto t = apply(md, [](auto& m) { return m.prepare_producer_id_rotation(555, 60000, 2000, true); });
  EXPECT_EQ(t.producer_id, 555);
  EXPECT_EQ(md.producer_id, 555);
  EXPECT_EQ(md.producer_epoch, 0);
  EXPECT_EQ(md.last_producer_id, 100);
  EXPECT_EQ(md.last_producer_epoch, kLastUsableEpoch);  // recorded for a KIP-360 retry
  auto md2 = fresh(kLastUsableEpoch);
  apply(md2, [](auto& m) { return m.prepare_producer_id_rotation(556, 60000, 2000, false); });
  EXPECT_EQ(md2.last_producer_epoch, kNoProducerEpoch);
}

TEST(TransactionMetadata, NoRotationWithATransactionOpen) {
  auto md = fresh(kLastUsableEpoch, S::kOngoing);
  EXPECT_EQ(md.prepare_producer_id_rotation(555, 60000, 2000, false).error(),
            make_error_code(TxnErrc::kIllegalTransition));
}

TEST(TransactionMetadata, FenceBumpsOnceAndNotAgainAfterAFailedFence) {
  auto md = fresh(3, S::kOngoing);
  auto t = md.prepare_fence_producer_epoch();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state, S::kPrepareEpochFence);
  EXPECT_EQ(t->producer_epoch, 4);
  EXPECT_EQ(t->last_producer_epoch, kNoProducerEpoch);
  EXPECT_EQ(md.producer_epoch, 3);  // the coordinator moves the epoch itself on the abort
  // A fence whose abort could not be written: the bumped epoch stays, and the
  // next fence does not bump again.
  md.pending_state.reset();
  md.producer_epoch = 4;
  md.has_failed_epoch_fence = true;
  auto again = md.prepare_fence_producer_epoch();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->producer_epoch, 4);
}

TEST(TransactionMetadata, FenceAtTheMaximumEpochIsRefused) {
  auto md = fresh(INT16_MAX, S::kOngoing);
  EXPECT_EQ(md.prepare_fence_producer_epoch().error(), make_error_code(TxnErrc::kEpochExhausted));
}

TEST(TransactionMetadata, PrepareCompleteClearsAFailedFence) {
  auto md = fresh(4, S::kPrepareAbort);
  md.start_ms = 10;
  md.has_failed_epoch_fence = true;
  ASSERT_TRUE(md.prepare_complete(2000).ok());
  EXPECT_FALSE(md.has_failed_epoch_fence);
}

TEST(TransactionMetadata, AbortAfterAFenceMayFollowPrepareEpochFence) {
  auto md = fresh(3, S::kOngoing);
  md.partitions = {kT0};
  md.start_ms = 10;
  // The coordinator's fence: PrepareEpochFence pending, then the abort takes over.
  ASSERT_TRUE(md.prepare_fence_producer_epoch().ok());
  md.pending_state.reset();
  md.producer_epoch = 4;
  auto t = apply(md, [](auto& m) { return m.prepare_abort_or_commit(S::kPrepareAbort, 2000); });
  EXPECT_EQ(t.producer_epoch, 4);
  EXPECT_EQ(md.state, S::kPrepareAbort);
}

TEST(TransactionMetadata, DeadIsPreparedButNeverCompleted) {
  auto md = fresh(2, S::kCompleteAbort);
  auto t = md.prepare_dead();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(md.pending_state, S::kDead);
  EXPECT_EQ(md.complete_transition(*t).error(), make_error_code(TxnErrc::kIllegalTransition));
  auto ongoing = fresh(2, S::kOngoing);
  EXPECT_EQ(ongoing.prepare_dead().error(), make_error_code(TxnErrc::kIllegalTransition));
}

TEST(TransactionMetadata, EmptyTransitionMustBumpByOneOrStartANewId) {
  auto md = fresh(2);
  auto t = md.prepare_increment_producer_epoch(60000, std::nullopt, 2000);
  ASSERT_TRUE(t.ok());
  TxnTransit skipped = *t;
  skipped.producer_epoch = 5;
  EXPECT_EQ(md.complete_transition(skipped).error(), make_error_code(TxnErrc::kIllegalTransition));
  ASSERT_TRUE(md.complete_transition(*t).ok());
  EXPECT_EQ(md.producer_epoch, 3);
}

}  // namespace
}  // namespace keel::txn
