// TransactionCoordinator, third part: what runs by the clock. Timed-out
// transactions are fenced and aborted every
// transaction.abort.timed.out.transaction.cleanup.interval.ms; unused ids
// expire (a tombstone each) every
// transaction.remove.expired.transaction.cleanup.interval.ms; completion
// writes that failed are retried after the retry backoff. The timer thread
// only calls run_due; tests call the sweeps directly with their own clock.

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/log.h"
#include "common/thread_name.h"
#include "txn/coordinator.h"
#include "txn/log_codec.h"

namespace keel::txn {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> txn_log() { return keel::logger("txn"); }

// A record's share of a batch beyond its key: the record's own framing
// (length, attributes, deltas, a -1 value length, no headers) at most.
constexpr int64_t kRecordOverheadBytes = 24;
constexpr int64_t kBatchHeaderBytes = 61;

}  // namespace

void TransactionCoordinator::abort_timed_out_transactions() {
  struct Fence {
    std::string transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
  };
  std::vector<Fence> fences;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_();
    for (auto& [p, part] : partitions_) {
      for (auto& [id, md] : part.transactions) {
        if (md.pending_transition() || md.state != TxnState::kOngoing) continue;
        if (md.start_ms + md.timeout_ms >= now) continue;
        auto t = md.prepare_fence_producer_epoch();
        if (!t) {
          txn_log()->error("transactional id '{}': cannot fence a timed-out transaction: {}", printable(id),
                           t.error().message());
          continue;
        }
        fences.push_back(Fence{id, t->producer_id, t->producer_epoch});
      }
    }
  }
  for (auto& f : fences) {
    txn_log()->info("transactional id '{}': aborting a timed-out transaction, producer id {} fenced at epoch {}",
                    printable(f.transactional_id), f.producer_id, f.producer_epoch);
    end_transaction(f.transactional_id, f.producer_id, f.producer_epoch, /*commit=*/false, /*from_client=*/false,
                    [id = f.transactional_id](ErrorCode e) {
                      if (e == ErrorCode::kNone || e == ErrorCode::kInvalidProducerIdMapping ||
                          e == ErrorCode::kProducerFenced || e == ErrorCode::kConcurrentTransactions) {
                        return;  // done, or overtaken by the producer itself
                      }
                      txn_log()->warn("transactional id '{}': aborting the timed-out transaction failed with {}",
                                      printable(id), protocol::error_name(e));
                    });
  }
}

void TransactionCoordinator::remove_expired_transactional_ids() {
  struct Expired {
    std::string transactional_id;
    int16_t producer_epoch;
  };
  struct Batch {
    int32_t partition;
    int32_t coordinator_epoch;
    std::vector<Expired> ids;
    std::vector<TxnRecordBytes> records;
    int64_t bytes = kBatchHeaderBytes;
  };
  std::vector<Batch> batches;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_();
    for (auto& [p, part] : partitions_) {
      Batch* batch = nullptr;
      for (auto& [id, md] : part.transactions) {
        if (md.pending_transition() || !is_expiration_allowed(md.state)) continue;
        if (md.last_update_ms > now - config_.transactional_id_expiration_ms) continue;
        Bytes key = encode_txn_key(id);
        const auto size = static_cast<int64_t>(key.size()) + kRecordOverheadBytes;
        if (!batch || (batch->bytes + size > config_.max_batch_bytes && !batch->ids.empty())) {
          batches.push_back(Batch{.partition = p, .coordinator_epoch = part.coordinator_epoch, .ids = {},
                                  .records = {}, .bytes = kBatchHeaderBytes});
          batch = &batches.back();
        }
        if (!md.prepare_dead()) continue;
        batch->ids.push_back(Expired{id, md.producer_epoch});
        batch->records.push_back(TxnRecordBytes{std::move(key), std::nullopt});
        batch->bytes += size;
      }
    }
  }
  for (auto& b : batches) {
    if (b.ids.empty()) continue;
    txn_log()->info("expiring {} transactional ids of {}-{}", b.ids.size(), kTransactionStateTopic, b.partition);
    log_.append(b.partition, b.coordinator_epoch, std::move(b.records), config_.request_timeout_ms,
                [this, partition = b.partition, epoch = b.coordinator_epoch, ids = std::move(b.ids)](ErrorCode e) {
                  std::lock_guard lock(mu_);
                  auto part = partitions_.find(partition);
                  if (part == partitions_.end()) return;  // unloaded meanwhile
                  for (const auto& x : ids) {
                    auto it = part->second.transactions.find(x.transactional_id);
                    if (it == part->second.transactions.end()) continue;
                    TransactionMetadata& md = it->second;
                    if (e == ErrorCode::kNone && part->second.coordinator_epoch == epoch &&
                        md.pending_state == TxnState::kDead && md.producer_epoch == x.producer_epoch) {
                      part->second.transactions.erase(it);
                    } else {
                      if (e != ErrorCode::kNone) {
                        txn_log()->warn("transactional id '{}': writing its tombstone failed with {}; kept",
                                        printable(x.transactional_id), protocol::error_name(e));
                      }
                      if (md.pending_state == TxnState::kDead) md.pending_state.reset();
                    }
                  }
                });
  }
}

void TransactionCoordinator::retry_completions() {
  std::vector<PendingCompletion> retries;
  {
    std::lock_guard lock(mu_);
    retries.swap(completion_retries_);
  }
  for (auto& pc : retries) write_completion(std::move(pc));
}

int64_t TransactionCoordinator::run_due() {
  bool abort_due = false;
  bool expiry_due = false;
  bool retry_due = false;
  int64_t now = 0;
  {
    std::lock_guard lock(mu_);
    now = clock_();
    if (next_abort_sweep_ms_ < 0) next_abort_sweep_ms_ = now + config_.abort_timed_out_interval_ms;
    if (next_expiry_sweep_ms_ < 0) next_expiry_sweep_ms_ = now + config_.remove_expired_interval_ms;
    if (now >= next_abort_sweep_ms_) {
      abort_due = true;
      next_abort_sweep_ms_ = now + config_.abort_timed_out_interval_ms;
    }
    if (now >= next_expiry_sweep_ms_) {
      expiry_due = true;
      next_expiry_sweep_ms_ = now + config_.remove_expired_interval_ms;
    }
    if (!completion_retries_.empty() && now >= next_retry_ms_) {
      retry_due = true;
    }
  }
  if (abort_due) abort_timed_out_transactions();
  if (expiry_due) remove_expired_transactional_ids();
  if (retry_due) retry_completions();
  const int64_t next_parked = release_expired_parked(now);

  std::lock_guard lock(mu_);
  int64_t next = std::min({next_abort_sweep_ms_, next_expiry_sweep_ms_, next_parked});
  if (!completion_retries_.empty()) next = std::min(next, next_retry_ms_);
  return std::max<int64_t>(next - now, 1);
}

void TransactionCoordinator::wake_timer() {
  std::lock_guard lock(timer_mu_);
  timer_woken_ = true;
  timer_cv_.notify_all();
}

void TransactionCoordinator::start() {
  std::lock_guard lock(timer_mu_);
  if (timer_.joinable() || stopping_) return;
  timer_ = std::thread([this] {
    set_thread_name("keel-txn-timer");
    std::unique_lock lock(timer_mu_);
    while (!stopping_) {
      lock.unlock();
      const int64_t wait_ms = run_due();
      lock.lock();
      timer_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stopping_ || timer_woken_; });
      timer_woken_ = false;
    }
  });
}

void TransactionCoordinator::stop() {
  {
    std::lock_guard lock(timer_mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_.joinable() && timer_.get_id() != std::this_thread::get_id()) timer_.join();
}

}  // namespace keel::txn
