#include "txn/metadata.h"

#include <algorithm>
#include <array>

#include "common/log.h"
#include "txn/errors.h"

namespace keel::txn {
namespace {

struct StateInfo {
  TxnState state;
  std::string_view name;
};

constexpr std::array<StateInfo, 8> kStates = {{
    {TxnState::kEmpty, "Empty"},
    {TxnState::kOngoing, "Ongoing"},
    {TxnState::kPrepareCommit, "PrepareCommit"},
    {TxnState::kPrepareAbort, "PrepareAbort"},
    {TxnState::kCompleteCommit, "CompleteCommit"},
    {TxnState::kCompleteAbort, "CompleteAbort"},
    {TxnState::kDead, "Dead"},
    {TxnState::kPrepareEpochFence, "PrepareEpochFence"},
}};

bool is_complete(TxnState s) { return s == TxnState::kCompleteCommit || s == TxnState::kCompleteAbort; }

}  // namespace

std::string_view txn_state_name(TxnState s) { return kStates[static_cast<size_t>(s)].name; }

std::optional<TxnState> txn_state_from_name(std::string_view name) {
  for (const auto& info : kStates) {
    if (info.name == name) return info.state;
  }
  return std::nullopt;
}

std::optional<TxnState> txn_state_from_id(int8_t id) {
  if (id < 0 || id >= static_cast<int8_t>(kStates.size())) return std::nullopt;
  return static_cast<TxnState>(id);
}

bool is_valid_transition(TxnState from, TxnState to) {
  using S = TxnState;
  switch (to) {
    case S::kEmpty:
    case S::kDead:
      return from == S::kEmpty || is_complete(from);
    case S::kOngoing:
      return from == S::kEmpty || from == S::kOngoing || is_complete(from);
    case S::kPrepareCommit:
    case S::kPrepareEpochFence:
      return from == S::kOngoing;
    case S::kPrepareAbort:
      return from == S::kOngoing || from == S::kPrepareEpochFence;
    case S::kCompleteCommit:
      return from == S::kPrepareCommit;
    case S::kCompleteAbort:
      return from == S::kPrepareAbort;
  }
  return false;
}

bool is_expiration_allowed(TxnState s) { return s == TxnState::kEmpty || is_complete(s); }

Result<TxnTransit> TransactionMetadata::prepare_transition(TxnState target, int64_t new_producer_id,
                                                           int16_t new_epoch, int16_t new_last_epoch,
                                                           int32_t new_timeout_ms,
                                                           std::set<TopicPartition> new_partitions,
                                                           int64_t new_start_ms, int64_t update_ms) {
  if (pending_state) return TxnErrc::kTransitionPending;
  // A Dead id may keep epoch -1 (never initialised); every other state needs a real epoch.
  if (new_producer_id < 0 || (target != TxnState::kDead && new_epoch < 0)) return TxnErrc::kIllegalTransition;
  if (!is_valid_transition(state, target)) return TxnErrc::kIllegalTransition;
  pending_state = target;
  return TxnTransit{.producer_id = new_producer_id,
                    .last_producer_id = producer_id,
                    .producer_epoch = new_epoch,
                    .last_producer_epoch = new_last_epoch,
                    .timeout_ms = new_timeout_ms,
                    .state = target,
                    .partitions = std::move(new_partitions),
                    .start_ms = new_start_ms,
                    .last_update_ms = update_ms};
}

Result<TxnTransit> TransactionMetadata::prepare_fence_producer_epoch() {
  if (producer_epoch == INT16_MAX) return TxnErrc::kEpochExhausted;
  const auto bumped = has_failed_epoch_fence ? producer_epoch : static_cast<int16_t>(producer_epoch + 1);
  return prepare_transition(TxnState::kPrepareEpochFence, producer_id, bumped, kNoProducerEpoch, timeout_ms,
                            partitions, start_ms, last_update_ms);
}

Result<TxnTransit> TransactionMetadata::prepare_increment_producer_epoch(int32_t new_timeout_ms,
                                                                         std::optional<int16_t> expected_epoch,
                                                                         int64_t now_ms) {
  if (is_epoch_exhausted()) return TxnErrc::kEpochExhausted;
  const auto bumped = static_cast<int16_t>(producer_epoch + 1);
  int16_t next_epoch = bumped;
  int16_t last_epoch = kNoProducerEpoch;
  if (expected_epoch) {
    if (producer_epoch == kNoProducerEpoch || *expected_epoch == producer_epoch) {
      // Continuing after an error with no other producer in between (or a new id).
      last_epoch = producer_epoch;
    } else if (*expected_epoch == last_producer_epoch) {
      // A retry of a bump that succeeded: hand out the same epoch again.
      next_epoch = producer_epoch;
      last_epoch = last_producer_epoch;
    } else {
      keel::logger("txn")->info("transactional id '{}': expected producer epoch {} is neither the current {} "
                                "nor the last {}: fenced",
                                printable(transactional_id), *expected_epoch, producer_epoch,
                                last_producer_epoch);
      return TxnErrc::kProducerFenced;
    }
  }
  return prepare_transition(TxnState::kEmpty, producer_id, next_epoch, last_epoch, new_timeout_ms, {}, -1, now_ms);
}

Result<TxnTransit> TransactionMetadata::prepare_producer_id_rotation(int64_t new_producer_id,
                                                                     int32_t new_timeout_ms, int64_t now_ms,
                                                                     bool record_last_epoch) {
  if (state == TxnState::kOngoing || state == TxnState::kPrepareCommit || state == TxnState::kPrepareAbort) {
    return TxnErrc::kIllegalTransition;
  }
  return prepare_transition(TxnState::kEmpty, new_producer_id, 0,
                            record_last_epoch ? producer_epoch : kNoProducerEpoch, new_timeout_ms, {}, -1,
                            now_ms);
}

Result<TxnTransit> TransactionMetadata::prepare_add_partitions(const std::set<TopicPartition>& added,
                                                               int64_t now_ms) {
  const int64_t new_start = (state == TxnState::kEmpty || is_complete(state)) ? now_ms : start_ms;
  std::set<TopicPartition> joined = partitions;
  joined.insert(added.begin(), added.end());
  return prepare_transition(TxnState::kOngoing, producer_id, producer_epoch, last_producer_epoch, timeout_ms,
                            std::move(joined), new_start, now_ms);
}

Result<TxnTransit> TransactionMetadata::prepare_abort_or_commit(TxnState target, int64_t now_ms) {
  if (target != TxnState::kPrepareCommit && target != TxnState::kPrepareAbort) {
    return TxnErrc::kIllegalTransition;
  }
  return prepare_transition(target, producer_id, producer_epoch, last_producer_epoch, timeout_ms, partitions,
                            start_ms, now_ms);
}

Result<TxnTransit> TransactionMetadata::prepare_complete(int64_t now_ms) {
  TxnState target;
  if (state == TxnState::kPrepareCommit) {
    target = TxnState::kCompleteCommit;
  } else if (state == TxnState::kPrepareAbort) {
    target = TxnState::kCompleteAbort;
  } else {
    return TxnErrc::kIllegalTransition;
  }
  auto t = prepare_transition(target, producer_id, producer_epoch, last_producer_epoch, timeout_ms, {}, start_ms,
                              now_ms);
  // The Prepare record is in the log, so a fence that bumped the epoch held.
  if (t) has_failed_epoch_fence = false;
  return t;
}

Result<TxnTransit> TransactionMetadata::prepare_dead() {
  return prepare_transition(TxnState::kDead, producer_id, producer_epoch, last_producer_epoch, timeout_ms, {},
                            start_ms, last_update_ms);
}

Result<void> TransactionMetadata::complete_transition(const TxnTransit& t) {
  if (!pending_state || *pending_state != t.state) return TxnErrc::kIllegalTransition;
  const bool same_producer = t.producer_id == producer_id && t.producer_epoch == producer_epoch;
  switch (t.state) {
    case TxnState::kEmpty: {
      const bool valid_bump = t.producer_epoch == producer_epoch + 1 ||
                              (t.producer_epoch == 0 && t.producer_id != producer_id);
      if ((t.producer_epoch != producer_epoch && !valid_bump) || !t.partitions.empty() || t.start_ms != -1) {
        return TxnErrc::kIllegalTransition;
      }
      timeout_ms = t.timeout_ms;
      producer_epoch = t.producer_epoch;
      last_producer_epoch = t.last_producer_epoch;
      producer_id = t.producer_id;
      last_producer_id = t.last_producer_id;
      break;
    }
    case TxnState::kOngoing:
      if (!same_producer || t.timeout_ms != timeout_ms ||
          !std::includes(t.partitions.begin(), t.partitions.end(), partitions.begin(), partitions.end())) {
        return TxnErrc::kIllegalTransition;
      }
      start_ms = t.start_ms;
      partitions = t.partitions;
      break;
    case TxnState::kPrepareCommit:
    case TxnState::kPrepareAbort:
      if (!same_producer || t.partitions != partitions || t.timeout_ms != timeout_ms || t.start_ms != start_ms) {
        return TxnErrc::kIllegalTransition;
      }
      break;
    case TxnState::kCompleteCommit:
    case TxnState::kCompleteAbort:
      if (!same_producer || t.timeout_ms != timeout_ms || t.start_ms == -1) return TxnErrc::kIllegalTransition;
      start_ms = t.start_ms;
      partitions.clear();
      break;
    case TxnState::kPrepareEpochFence:
    case TxnState::kDead:
      return TxnErrc::kIllegalTransition;
  }
  last_update_ms = t.last_update_ms;
  pending_state.reset();
  state = t.state;
  return {};
}

Result<void> TransactionMetadata::remove_partition(const TopicPartition& tp) {
  if (state != TxnState::kPrepareCommit && state != TxnState::kPrepareAbort) return TxnErrc::kIllegalTransition;
  partitions.erase(tp);
  return {};
}

}  // namespace keel::txn
