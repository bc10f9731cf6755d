// TransactionCoordinator, second part: completing transactions. After a
// PrepareCommit/PrepareAbort is written the markers go to the partitions'
// leaders; each partition's answer is judged as Kafka's
// TransactionMarkerRequestCompletionHandler judges it, and once every
// partition has its marker CompleteCommit/CompleteAbort is written (Kafka's
// TransactionMarkerChannelManager). Also the leadership of
// __transaction_state partitions: loading one, and re-sending the markers of
// the transactions it holds in a prepare state (a coordinator failover).

#include <utility>

#include "common/log.h"
#include "txn/coordinator.h"
#include "txn/log_codec.h"
#include "txn/log_loader.h"

namespace keel::txn {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> txn_log() { return keel::logger("txn"); }

enum class MarkerVerdict { kDone, kRetry, kGiveUp };

// What a partition's marker answer means for the transaction.
MarkerVerdict judge(const MarkerResult& r) {
  if (r.deleted) return MarkerVerdict::kDone;  // the topic is gone: nothing to mark
  switch (r.error) {
    case ErrorCode::kNone:
      return MarkerVerdict::kDone;
    // The producer would have failed to write there: nothing to mark.
    case ErrorCode::kUnsupportedForMessageFormat:
    case ErrorCode::kUnsupportedVersion:
      return MarkerVerdict::kDone;
    // A newer producer epoch or coordinator took over: this one stops.
    case ErrorCode::kInvalidProducerEpoch:
    case ErrorCode::kTransactionCoordinatorFenced:
      return MarkerVerdict::kGiveUp;
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend:
    case ErrorCode::kRequestTimedOut:
    case ErrorCode::kKafkaStorageError:
    case ErrorCode::kNetworkException:
      return MarkerVerdict::kRetry;
    default:
      // Kafka treats anything else (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, ...)
      // as an illegal state; Keel logs it and keeps retrying, so the
      // transaction stays visible in PrepareCommit/PrepareAbort instead of
      // being dropped silently.
      txn_log()->error("unexpected error {} writing a transaction marker to {}-{}; retrying",
                       protocol::error_name(r.error), r.partition.topic, r.partition.partition);
      return MarkerVerdict::kRetry;
  }
}

}  // namespace

TxnMarker TransactionCoordinator::marker_for(const PendingCompletion& pc, const TransactionMetadata& md) const {
  return TxnMarker{.transactional_id = pc.transactional_id,
                   .producer_id = md.producer_id,
                   .producer_epoch = md.producer_epoch,
                   .commit = pc.commit,
                   .coordinator_epoch = pc.coordinator_epoch,
                   .txn_partition = partition_for(pc.transactional_id),
                   .partitions = {md.partitions.begin(), md.partitions.end()}};
}

void TransactionCoordinator::send_markers(TxnMarker marker, int64_t delay_ms) {
  if (marker.partitions.empty()) {
    // A transaction without partitions (or whose last ones are done).
    maybe_write_completion(marker.transactional_id);
    return;
  }
  TxnMarker sent = marker;
  markers_.send(std::move(sent), delay_ms, [this, marker = std::move(marker)](std::vector<MarkerResult> results) {
    on_marker_results(marker, results);
  });
}

void TransactionCoordinator::on_marker_results(const TxnMarker& marker, const std::vector<MarkerResult>& results) {
  TxnMarker retry = marker;
  retry.partitions.clear();
  {
    std::lock_guard lock(mu_);
    auto pending = pending_markers_.find(marker.transactional_id);
    if (pending == pending_markers_.end() || pending->second.coordinator_epoch != marker.coordinator_epoch) {
      return;  // abandoned: the partition moved, or was loaded again since
    }
    auto found = lookup_locked(marker.transactional_id);
    if (found.error != ErrorCode::kNone || !found.metadata ||
        found.partition->coordinator_epoch != marker.coordinator_epoch) {
      pending_markers_.erase(pending);
      return;
    }
    TransactionMetadata& md = *found.metadata;
    std::set<TopicPartition> answered;
    for (const auto& r : results) {
      answered.insert(r.partition);
      switch (judge(r)) {
        case MarkerVerdict::kDone:
          (void)md.remove_partition(r.partition);
          break;
        case MarkerVerdict::kRetry:
          retry.partitions.push_back(r.partition);
          break;
        case MarkerVerdict::kGiveUp:
          txn_log()->info("transactional id '{}': marker for {}-{} refused with {}; no more markers under "
                          "coordinator epoch {}",
                          printable(marker.transactional_id), r.partition.topic, r.partition.partition,
                          protocol::error_name(r.error), marker.coordinator_epoch);
          pending_markers_.erase(pending);
          return;
      }
    }
    // A channel that left a partition out has not written it: send it again.
    for (const auto& tp : marker.partitions) {
      if (!answered.contains(tp)) retry.partitions.push_back(tp);
    }
  }
  if (!retry.partitions.empty()) {
    send_markers(std::move(retry), config_.retry_backoff_ms);
  } else {
    maybe_write_completion(marker.transactional_id);
  }
}

void TransactionCoordinator::maybe_write_completion(const std::string& transactional_id) {
  std::optional<PendingCompletion> ready;
  {
    std::lock_guard lock(mu_);
    auto pending = pending_markers_.find(transactional_id);
    if (pending == pending_markers_.end()) return;
    auto found = lookup_locked(transactional_id);
    if (found.metadata && !found.metadata->partitions.empty()) return;  // markers still out
    ready = std::move(pending->second);
    pending_markers_.erase(pending);
  }
  ready->markers_done_at = std::chrono::steady_clock::now();
  write_completion(std::move(*ready));
}

void TransactionCoordinator::write_completion(PendingCompletion pc) {
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(pc.transactional_id);
    if (found.error != ErrorCode::kNone || !found.metadata ||
        found.partition->coordinator_epoch != pc.coordinator_epoch) {
      // Not ours any more; whoever loads the partition completes it.
      txn_log()->info("transactional id '{}': not writing {} ({}): the partition moved",
                      printable(pc.transactional_id), txn_state_name(pc.complete.state),
                      protocol::error_name(found.error));
      return;
    }
  }
  const std::string id = pc.transactional_id;
  const int32_t epoch = pc.coordinator_epoch;
  TxnTransit complete = pc.complete;
  // Every failure but losing the partition keeps the pending state and is
  // retried: the transaction must not stay in a prepare state for good.
  auto retry_on = [](ErrorCode e) {
    return e != ErrorCode::kNotCoordinator && e != ErrorCode::kCoordinatorLoadInProgress;
  };
  append_transit(id, epoch, std::move(complete), retry_on, [this, pc = std::move(pc), retry_on](ErrorCode e) {
    if (e == ErrorCode::kNone) return log_completion_timing(pc);
    if (!retry_on(e)) return;
    txn_log()->warn("transactional id '{}': writing {} failed with {}; retrying", printable(pc.transactional_id),
                    txn_state_name(pc.complete.state), protocol::error_name(e));
    {
      std::lock_guard lock(mu_);
      // Retried one backoff after the first of a round failed.
      if (completion_retries_.empty()) next_retry_ms_ = clock_() + config_.retry_backoff_ms;
      completion_retries_.push_back(pc);
    }
    wake_timer();
  });
}

void TransactionCoordinator::log_completion_timing(const PendingCompletion& pc) {
  if (!txn_log()->should_log(spdlog::level::debug) || pc.end_txn_at == std::chrono::steady_clock::time_point{}) {
    return;
  }
  size_t in_flight = 0;
  {
    std::lock_guard lock(mu_);
    in_flight = pending_markers_.size();
  }
  // Kafka's phases of one EndTxn: the Prepare record written (the client is
  // answered then), every marker answered, the Complete record written.
  txn_log()->debug("transactional id '{}' {}: EndTxn to {} written {} us, markers answered {} us, {} written {} us "
                   "(total {} us); completions still in flight {}",
                   printable(pc.transactional_id), pc.commit ? "commit" : "abort",
                   pc.commit ? "PrepareCommit" : "PrepareAbort", micros_since(pc.end_txn_at, pc.prepared_at),
                   micros_since(pc.prepared_at, pc.markers_done_at), txn_state_name(pc.complete.state),
                   micros_since(pc.markers_done_at), micros_since(pc.end_txn_at), in_flight);
}

void TransactionCoordinator::drop_partition_work_locked(int32_t partition) {
  std::erase_if(pending_markers_, [&](const auto& kv) { return partition_for(kv.first) == partition; });
  std::erase_if(completion_retries_,
                [&](const PendingCompletion& pc) { return partition_for(pc.transactional_id) == partition; });
  // Requests waiting for a completion that will not come from here: the
  // timer (woken by the caller) answers them from the new state.
  for (auto& [id, waiting] : parked_adds_) {
    if (partition_for(id) != partition) continue;
    for (auto& p : waiting) p.wait_until_ms = 0;
  }
}

// --- leadership ------------------------------------------------------------------------

void TransactionCoordinator::on_elected(int32_t partition, int32_t coordinator_epoch) {
  {
    std::lock_guard lock(mu_);
    // Loaded, and no resignation since (it would have unloaded the
    // partition): the same leadership at a newer epoch, an ISR change or a
    // follower that stopped. The transactions in memory stay, with the
    // coordinator epoch they were loaded at, as in Kafka, where a broker that
    // already leads is not elected again. Reloading dropped the completions
    // under way and kept producers waiting for them (a follower stopping
    // stalled two transactional producers for 11 s).
    auto loaded = partitions_.find(partition);
    if (loaded != partitions_.end() && !loading_.contains(partition) &&
        loaded->second.coordinator_epoch <= coordinator_epoch) {
      txn_log()->info("{}-{}: still its leader at epoch {}; keeping {} transactional ids loaded at coordinator "
                      "epoch {}",
                      kTransactionStateTopic, partition, coordinator_epoch, loaded->second.transactions.size(),
                      loaded->second.coordinator_epoch);
      return;
    }
    txn_log()->info("elected as the transaction coordinator for {}-{} at epoch {}", kTransactionStateTopic,
                    partition, coordinator_epoch);
    loading_[partition] = coordinator_epoch;
    partitions_.erase(partition);
    drop_partition_work_locked(partition);
  }
  wake_timer();
  LoadedTransactions loaded = load_transactions(log_, partition);

  std::vector<TxnMarker> resend;
  {
    std::lock_guard lock(mu_);
    auto it = loading_.find(partition);
    if (it == loading_.end() || it->second != coordinator_epoch) return;  // resigned or re-elected meanwhile
    loading_.erase(it);
    if (loaded.error != ErrorCode::kNone) {
      txn_log()->error("loading {}-{} failed with {}; its transactional ids answer NOT_COORDINATOR",
                       kTransactionStateTopic, partition, protocol::error_name(loaded.error));
      return;
    }
    PartitionState& state = partitions_[partition];
    state.coordinator_epoch = coordinator_epoch;
    state.transactions = std::move(loaded.transactions);
    for (auto& [id, md] : state.transactions) {
      if (md.state != TxnState::kPrepareCommit && md.state != TxnState::kPrepareAbort) continue;
      auto t = md.prepare_complete(clock_());
      if (!t) continue;  // cannot happen from a prepare state
      PendingCompletion pc{.transactional_id = id,
                           .coordinator_epoch = coordinator_epoch,
                           .commit = md.state == TxnState::kPrepareCommit,
                           .complete = std::move(*t)};
      resend.push_back(marker_for(pc, md));
      pending_markers_.insert_or_assign(id, std::move(pc));
    }
    txn_log()->info("loaded {} transactional ids from {}-{} ({} records, {} skipped); {} to complete",
                    state.transactions.size(), kTransactionStateTopic, partition, loaded.records, loaded.skipped,
                    resend.size());
  }
  for (auto& marker : resend) send_markers(std::move(marker), 0);
}

void TransactionCoordinator::on_resigned(int32_t partition, std::optional<int32_t> coordinator_epoch) {
  forget_partition(partition, coordinator_epoch);
  wake_timer();  // parked requests of the partition are answered
}

void TransactionCoordinator::forget_partition(int32_t partition, std::optional<int32_t> coordinator_epoch) {
  std::lock_guard lock(mu_);
  auto loading = loading_.find(partition);
  if (loading != loading_.end() && (!coordinator_epoch || loading->second <= *coordinator_epoch)) {
    loading_.erase(loading);
  }
  auto it = partitions_.find(partition);
  if (it != partitions_.end() && (!coordinator_epoch || it->second.coordinator_epoch <= *coordinator_epoch)) {
    txn_log()->info("resigned as the transaction coordinator for {}-{}: unloading {} transactional ids",
                    kTransactionStateTopic, partition, it->second.transactions.size());
    partitions_.erase(it);
    drop_partition_work_locked(partition);
  }
}

}  // namespace keel::txn
