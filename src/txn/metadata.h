#pragma once
// One transactional id's state and Kafka's state machine over it (Kafka's
// TransactionMetadata / TransactionState / TxnTransitMetadata).
//
// A change is made in two steps, as in Kafka: prepare_*() checks the
// transition, records the target as the pending state and returns the target
// (a TxnTransit) to be written to __transaction_state; once the write is
// replicated, complete_transition() takes it in. While a state is pending,
// every request on the id is answered CONCURRENT_TRANSACTIONS (the
// coordinator checks pending_state). A failed write clears pending_state
// again and leaves the metadata as it was.
//
// States (the int8 ids are what the log stores) and what may precede them:
//   0 Empty              <- Empty, CompleteCommit, CompleteAbort   (InitProducerId)
//   1 Ongoing            <- Empty, Ongoing, CompleteCommit, CompleteAbort (AddPartitions)
//   2 PrepareCommit      <- Ongoing                                 (EndTxn commit)
//   3 PrepareAbort       <- Ongoing, PrepareEpochFence              (EndTxn abort, fencing)
//   4 CompleteCommit     <- PrepareCommit                           (all markers written)
//   5 CompleteAbort      <- PrepareAbort
//   6 Dead               <- Empty, CompleteCommit, CompleteAbort    (expired: tombstone)
//   7 PrepareEpochFence  <- Ongoing                                 (in memory only)
//
// Not thread-safe: the coordinator's mutex guards every TransactionMetadata.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "storage/checkpoint.h"

namespace keel::txn {

using TopicPartition = storage::TopicPartition;

inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
// The highest epoch handed to a client: INT16_MAX - 1, so that the coordinator
// can always bump once more to fence it (Kafka's isEpochExhausted).
inline constexpr int16_t kLastUsableEpoch = INT16_MAX - 1;

enum class TxnState : int8_t {
  kEmpty = 0,
  kOngoing = 1,
  kPrepareCommit = 2,
  kPrepareAbort = 3,
  kCompleteCommit = 4,
  kCompleteAbort = 5,
  kDead = 6,
  kPrepareEpochFence = 7,
};

// Kafka's names ("Empty", "PrepareEpochFence", ...), as DescribeTransactions
// and ListTransactions show them.
std::string_view txn_state_name(TxnState s);
std::optional<TxnState> txn_state_from_name(std::string_view name);
// The state with this log id, or nullopt for a byte outside 0..7.
std::optional<TxnState> txn_state_from_id(int8_t id);
// Whether `to` may follow `from` (the table above).
bool is_valid_transition(TxnState from, TxnState to);
// Empty, CompleteCommit and CompleteAbort: no open transaction, so the id may
// expire after transactional.id.expiration.ms without use.
bool is_expiration_allowed(TxnState s);
// Whether a producer at `epoch` may not be handed another bump.
inline bool is_epoch_exhausted(int16_t epoch) { return epoch >= kLastUsableEpoch; }

// The target of a transition: what is written to the log and then taken in.
struct TxnTransit {
  int64_t producer_id = kNoProducerId;
  int64_t last_producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int16_t last_producer_epoch = kNoProducerEpoch;
  int32_t timeout_ms = 0;
  TxnState state = TxnState::kEmpty;
  std::set<TopicPartition> partitions;
  int64_t start_ms = -1;        // txnStartTimestamp: when the first partition was added
  int64_t last_update_ms = -1;  // txnLastUpdateTimestamp
  bool operator==(const TxnTransit&) const = default;
};

class TransactionMetadata {
 public:
  TransactionMetadata(std::string transactional_id, int64_t producer_id, int16_t producer_epoch,
                      int32_t timeout_ms, TxnState state, int64_t now_ms)
      : transactional_id(std::move(transactional_id)),
        producer_id(producer_id),
        producer_epoch(producer_epoch),
        timeout_ms(timeout_ms),
        state(state),
        last_update_ms(now_ms) {}

  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  int64_t last_producer_id = kNoProducerId;  // the id before a rotation (KIP-360 retries)
  int16_t producer_epoch = kNoProducerEpoch;
  int16_t last_producer_epoch = kNoProducerEpoch;  // never stored: -1 after a load
  int32_t timeout_ms = 0;
  TxnState state = TxnState::kEmpty;
  std::set<TopicPartition> partitions;
  int64_t start_ms = -1;
  int64_t last_update_ms = -1;
  std::optional<TxnState> pending_state;
  // A fencing bump whose PrepareAbort write failed: the next fence reuses the
  // bumped epoch instead of burning another (KAFKA-9666).
  bool has_failed_epoch_fence = false;

  bool pending_transition() const { return pending_state.has_value(); }
  bool is_epoch_exhausted() const { return txn::is_epoch_exhausted(producer_epoch); }

  // Ongoing -> PrepareEpochFence with the epoch bumped (not bumped again after
  // a failed fence). Errors: kEpochExhausted at INT16_MAX, kTransitionPending,
  // kIllegalTransition.
  Result<TxnTransit> prepare_fence_producer_epoch();

  // -> Empty with the epoch bumped (InitProducerId). expected_epoch is the
  // epoch a KIP-360 client sends: the current one bumps (and remembers it as
  // the last epoch), the last one answers the current epoch again (a retried
  // success), anything else is kProducerFenced. Without an expected epoch the
  // epoch bumps and the last epoch is forgotten. Errors also:
  // kEpochExhausted (rotate the producer id instead), kTransitionPending,
  // kIllegalTransition.
  Result<TxnTransit> prepare_increment_producer_epoch(int32_t new_timeout_ms,
                                                      std::optional<int16_t> expected_epoch, int64_t now_ms);

  // -> Empty under a fresh producer id at epoch 0 (the old epoch is exhausted).
  // record_last_epoch: the client named its epoch (KIP-360), so a retry with
  // the old id and epoch is recognised. Errors: kIllegalTransition with a
  // transaction open, kTransitionPending.
  Result<TxnTransit> prepare_producer_id_rotation(int64_t new_producer_id, int32_t new_timeout_ms,
                                                  int64_t now_ms, bool record_last_epoch);

  // -> Ongoing with `added` joined to the partitions; the start time is set
  // when the transaction opens (from Empty or Complete*).
  Result<TxnTransit> prepare_add_partitions(const std::set<TopicPartition>& added, int64_t now_ms);

  // Ongoing -> PrepareCommit or PrepareAbort.
  Result<TxnTransit> prepare_abort_or_commit(TxnState target, int64_t now_ms);

  // PrepareCommit -> CompleteCommit, PrepareAbort -> CompleteAbort (markers
  // written); clears has_failed_epoch_fence.
  Result<TxnTransit> prepare_complete(int64_t now_ms);

  // -> Dead (expiry); the write is a tombstone.
  Result<TxnTransit> prepare_dead();

  // Takes in a written transit, with Kafka's sanity checks (the pending state
  // matches; the epoch is unchanged, or bumped by one, or 0 under a new id
  // for Empty; partitions only grow while Ongoing; ...). Dead and
  // PrepareEpochFence are never completed (the caller removes a Dead id).
  // Errors: kIllegalTransition, and then nothing changes.
  Result<void> complete_transition(const TxnTransit& t);

  // A partition whose marker is written (only in PrepareCommit/PrepareAbort).
  // Errors: kIllegalTransition in any other state.
  Result<void> remove_partition(const TopicPartition& tp);

 private:
  Result<TxnTransit> prepare_transition(TxnState target, int64_t new_producer_id, int16_t new_epoch,
                                        int16_t new_last_epoch, int32_t new_timeout_ms,
                                        std::set<TopicPartition> new_partitions, int64_t new_start_ms,
                                        int64_t update_ms);
};

}  // namespace keel::txn
