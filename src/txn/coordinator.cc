// TransactionCoordinator: the requests (InitProducerId, AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, verification, describe, list) and the write path to
// __transaction_state. Markers and leadership are in completion.cc, the
// sweeps in sweeps.cc.

#include "txn/coordinator.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "common/log.h"
#include "txn/errors.h"
#include "txn/log_codec.h"

namespace keel::txn {

using protocol::ErrorCode;

namespace {

constexpr const char* kOffsetsTopic = "__consumer_offsets";

std::shared_ptr<spdlog::logger> txn_log() { return keel::logger("txn"); }

// Kafka's mapping of a failed __transaction_state append to the error the
// coordinator answers (TransactionStateManager.appendTransactionToLog).
ErrorCode coordinator_error_for_append(ErrorCode e) {
  switch (e) {
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend:
    case ErrorCode::kRequestTimedOut:
      return ErrorCode::kCoordinatorNotAvailable;
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kKafkaStorageError:
      return ErrorCode::kNotCoordinator;
    case ErrorCode::kMessageTooLarge:
    case ErrorCode::kRecordListTooLarge:
      return ErrorCode::kUnknownServerError;
    default:
      return e;
  }
}

// A refused transition the coordinator's checks should have prevented.
ErrorCode illegal_state(const std::string& id, std::string_view what, std::error_code ec) {
  txn_log()->error("transactional id '{}': {}: {}", printable(id), what, ec.message());
  return ErrorCode::kUnknownServerError;
}

}  // namespace

ErrorCode error_for_version(ErrorCode error, TxnApi api, int16_t api_version) {
  if (error != ErrorCode::kProducerFenced) return error;
  const int16_t first_with_fenced = api == TxnApi::kInitProducerId ? 4 : 2;
  return api_version < first_with_fenced ? ErrorCode::kInvalidProducerEpoch : error;
}

int64_t TransactionCoordinator::system_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TransactionCoordinator::TransactionCoordinator(TxnCoordinatorConfig config, TxnStateLog& log,
                                               ProducerIdSource& producer_ids, MarkerChannel& markers,
                                               Clock clock)
    : config_(config), log_(log), producer_ids_(producer_ids), markers_(markers), clock_(std::move(clock)) {
  KEEL_ASSERT(config_.num_partitions > 0, "transaction.state.log.num.partitions must be positive");
}

TransactionCoordinator::~TransactionCoordinator() { stop(); }

int32_t TransactionCoordinator::partition_for(std::string_view transactional_id) const {
  return partition_for_transactional_id(transactional_id, config_.num_partitions);
}

TransactionCoordinator::Lookup TransactionCoordinator::lookup_locked(const std::string& transactional_id) {
  const int32_t p = partition_for(transactional_id);
  if (loading_.contains(p)) return Lookup{.error = ErrorCode::kCoordinatorLoadInProgress};
  auto it = partitions_.find(p);
  if (it == partitions_.end()) return Lookup{.error = ErrorCode::kNotCoordinator};
  auto md = it->second.transactions.find(transactional_id);
  return Lookup{.partition = &it->second,
                .metadata = md == it->second.transactions.end() ? nullptr : &md->second};
}

ErrorCode TransactionCoordinator::producer_error(const Lookup& found, int64_t producer_id, int16_t producer_epoch) {
  if (found.error != ErrorCode::kNone) return found.error;
  if (!found.metadata || found.metadata->producer_id != producer_id) return ErrorCode::kInvalidProducerIdMapping;
  if (found.metadata->producer_epoch != producer_epoch) return ErrorCode::kProducerFenced;
  return ErrorCode::kNone;
}

// --- the write path ------------------------------------------------------------

void TransactionCoordinator::append_transit(const std::string& transactional_id, int32_t coordinator_epoch,
                                            TxnTransit transit, std::function<bool(ErrorCode)> retry_on,
                                            ErrorCallback done) {
  Bytes key = encode_txn_key(transactional_id);
  Bytes value = encode_txn_value(value_of(transit));
  ErrorCode early = ErrorCode::kNone;
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(transactional_id);
    if (found.error != ErrorCode::kNone) {
      early = found.error;
    } else if (!found.metadata || found.partition->coordinator_epoch != coordinator_epoch) {
      early = ErrorCode::kNotCoordinator;  // unloaded or reloaded since the decision
    } else if (key.empty() || value.empty()) {
      // Not storable (checked by the callers before; a bug if seen).
      early = illegal_state(transactional_id, "cannot encode the transaction state",
                            make_error_code(TxnErrc::kIllegalTransition));
      found.metadata->pending_state.reset();
    }
  }
  if (early != ErrorCode::kNone) {
    done(early);
    return;
  }
  std::vector<TxnRecordBytes> records;
  records.push_back(TxnRecordBytes{std::move(key), std::move(value)});
  const int64_t timeout_ms = transit.timeout_ms;
  log_.append(partition_for(transactional_id), coordinator_epoch, std::move(records), timeout_ms,
              [this, transactional_id, coordinator_epoch, transit = std::move(transit),
               retry_on = std::move(retry_on), done = std::move(done)](ErrorCode e) {
                on_transit_appended(transactional_id, coordinator_epoch, transit, retry_on, e, done);
              });
}

void TransactionCoordinator::on_transit_appended(const std::string& transactional_id, int32_t coordinator_epoch,
                                                 const TxnTransit& transit,
                                                 const std::function<bool(ErrorCode)>& retry_on, ErrorCode e,
                                                 const ErrorCallback& done) {
  ErrorCode result = coordinator_error_for_append(e);
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(transactional_id);
    const bool same = found.error == ErrorCode::kNone && found.metadata &&
                      found.partition->coordinator_epoch == coordinator_epoch;
    if (result == ErrorCode::kNone) {
      if (found.error != ErrorCode::kNone) {
        result = found.error;
      } else if (!same) {
        // Moved away (and maybe back) while the write was in flight.
        result = ErrorCode::kNotCoordinator;
      } else if (auto ok = found.metadata->complete_transition(transit); !ok) {
        found.metadata->pending_state.reset();
        result = illegal_state(transactional_id, "completing a written transition failed", ok.error());
      }
    } else {
      txn_log()->info("transactional id '{}': writing {} failed with {} ({})", printable(transactional_id),
                      txn_state_name(transit.state), protocol::error_name(result), protocol::error_name(e));
      if (same && !(retry_on && retry_on(result))) found.metadata->pending_state.reset();
    }
  }
  done(result);
  // A completion (or any other write) may be what parked requests wait for.
  release_parked(transactional_id);
}

void TransactionCoordinator::release_parked(const std::string& transactional_id) {
  std::vector<ParkedAdd> parked;
  {
    std::lock_guard lock(mu_);
    auto it = parked_adds_.find(transactional_id);
    if (it == parked_adds_.end()) return;
    parked = std::move(it->second);
    parked_adds_.erase(it);
  }
  // Each is decided again: answered, written, or parked again until the
  // same deadline.
  for (auto& p : parked) {
    if (txn_log()->should_log(spdlog::level::debug)) {
      txn_log()->debug("transactional id '{}': AddPartitionsToTxn waited {} us for the previous completion",
                       printable(transactional_id), micros_since(p.parked_at));
    }
    add_partitions(transactional_id, p.producer_id, p.producer_epoch, p.partitions, std::move(p.answer),
                   p.wait_until_ms);
  }
}

int64_t TransactionCoordinator::release_expired_parked(int64_t now) {
  std::vector<std::pair<std::string, ParkedAdd>> expired;
  int64_t next = INT64_MAX;
  {
    std::lock_guard lock(mu_);
    for (auto it = parked_adds_.begin(); it != parked_adds_.end();) {
      auto& waiting = it->second;
      for (auto p = waiting.begin(); p != waiting.end();) {
        if (p->wait_until_ms <= now) {
          expired.emplace_back(it->first, std::move(*p));
          p = waiting.erase(p);
        } else {
          next = std::min(next, p->wait_until_ms);
          ++p;
        }
      }
      it = waiting.empty() ? parked_adds_.erase(it) : std::next(it);
    }
  }
  // Past their deadline: CONCURRENT_TRANSACTIONS unless the state moved on.
  for (auto& [id, p] : expired) {
    add_partitions(id, p.producer_id, p.producer_epoch, p.partitions, std::move(p.answer), p.wait_until_ms);
  }
  return next;
}

// --- InitProducerId --------------------------------------------------------------

void TransactionCoordinator::init_producer_id(const InitProducerIdRequest& req, InitProducerIdCallback done) {
  auto answer = [done, version = req.api_version](ErrorCode e) {
    done(InitProducerIdResult{.error = error_for_version(e, TxnApi::kInitProducerId, version)});
  };
  if (!req.transactional_id) {
    auto id = producer_ids_.next_id();
    if (!id) {
      txn_log()->error("cannot allocate a producer id: {}", id.error().message());
      answer(ErrorCode::kCoordinatorNotAvailable);
      return;
    }
    done(InitProducerIdResult{.producer_id = *id, .producer_epoch = 0});
    return;
  }
  const std::string& tid = *req.transactional_id;
  if (tid.empty() || tid.size() > kMaxTransactionalIdBytes) return answer(ErrorCode::kInvalidRequest);
  if ((req.producer_id == kNoProducerId) != (req.producer_epoch == kNoProducerEpoch)) {
    return answer(ErrorCode::kInvalidRequest);  // KafkaApis: both or neither
  }
  if (req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > config_.transaction_max_timeout_ms) {
    return answer(ErrorCode::kInvalidTransactionTimeout);
  }
  const bool has_expected = req.producer_id != kNoProducerId;

  // A producer id is needed for a new transactional id and for a rotation;
  // allocating one may wait on the coordination store, so it happens outside
  // the mutex and the decision is taken again with it.
  int64_t fresh_id = kNoProducerId;
  for (int attempt = 0;; ++attempt) {
    bool need_id = false;
    ErrorCode error = ErrorCode::kNone;
    int32_t coordinator_epoch = -1;
    std::optional<TxnTransit> transit;
    {
      std::lock_guard lock(mu_);
      auto found = lookup_locked(tid);
      TransactionMetadata* md = found.metadata;
      if (found.error != ErrorCode::kNone) {
        error = found.error;
      } else if (!md && fresh_id == kNoProducerId) {
        need_id = true;
      } else {
        if (!md) {
          auto [it, inserted] = found.partition->transactions.emplace(
              tid, TransactionMetadata(tid, fresh_id, kNoProducerEpoch, req.transaction_timeout_ms,
                                       TxnState::kEmpty, clock_()));
          md = &it->second;
          fresh_id = kNoProducerId;
        }
        coordinator_epoch = found.partition->coordinator_epoch;
        const bool id_ok = !has_expected || md->producer_epoch == kNoProducerEpoch ||
                           req.producer_id == md->producer_id ||
                           (req.producer_id == md->last_producer_id && is_epoch_exhausted(req.producer_epoch));
        if (md->pending_transition()) {
          error = ErrorCode::kConcurrentTransactions;
        } else if (!id_ok) {
          error = ErrorCode::kProducerFenced;
        } else {
          switch (md->state) {
            case TxnState::kPrepareCommit:
            case TxnState::kPrepareAbort:
              error = ErrorCode::kConcurrentTransactions;
              break;
            case TxnState::kEmpty:
            case TxnState::kCompleteCommit:
            case TxnState::kCompleteAbort: {
              Result<TxnTransit> t = TxnErrc::kIllegalTransition;
              if (md->is_epoch_exhausted() && (!has_expected || req.producer_epoch == md->producer_epoch)) {
                if (fresh_id == kNoProducerId) {
                  need_id = true;
                  break;
                }
                t = md->prepare_producer_id_rotation(fresh_id, req.transaction_timeout_ms, clock_(), has_expected);
                fresh_id = kNoProducerId;
              } else {
                std::optional<int16_t> expected;
                if (has_expected) expected = req.producer_epoch;
                t = md->prepare_increment_producer_epoch(req.transaction_timeout_ms, expected, clock_());
              }
              if (t) {
                transit = std::move(*t);
              } else if (t.error() == make_error_code(TxnErrc::kProducerFenced)) {
                error = ErrorCode::kProducerFenced;
              } else {
                error = illegal_state(tid, "InitProducerId", t.error());
              }
              break;
            }
            case TxnState::kOngoing: {
              // Fence the open transaction: bump the epoch and abort it; the
              // client is told to retry, and its retry bumps again.
              auto t = md->prepare_fence_producer_epoch();
              if (t) {
                transit = std::move(*t);
              } else {
                error = illegal_state(tid, "fencing the producer", t.error());
              }
              break;
            }
            case TxnState::kDead:
            case TxnState::kPrepareEpochFence:
              error = illegal_state(tid, "InitProducerId in a state never completed",
                                    make_error_code(TxnErrc::kIllegalTransition));
              break;
          }
        }
      }
    }
    if (need_id && error == ErrorCode::kNone && attempt < 3) {
      auto id = producer_ids_.next_id();
      if (!id) {
        txn_log()->error("cannot allocate a producer id: {}", id.error().message());
        return answer(ErrorCode::kCoordinatorNotAvailable);
      }
      fresh_id = *id;
      continue;
    }
    if (need_id) error = ErrorCode::kConcurrentTransactions;  // the state kept moving: let the client retry
    if (error != ErrorCode::kNone) return answer(error);

    if (transit->state == TxnState::kPrepareEpochFence) {
      // Answered once the abort is written: the client retries and bumps again.
      end_transaction(tid, transit->producer_id, transit->producer_epoch, /*commit=*/false, /*from_client=*/false,
                      [answer](ErrorCode e) {
                        answer(e == ErrorCode::kNone ? ErrorCode::kConcurrentTransactions : e);
                      });
      return;
    }
    const int64_t pid = transit->producer_id;
    const int16_t epoch = transit->producer_epoch;
    append_transit(tid, coordinator_epoch, std::move(*transit), nullptr,
                   [done, answer, pid, epoch, tid, this](ErrorCode e) {
                     if (e != ErrorCode::kNone) return answer(e);
                     txn_log()->info("initialized transactional id '{}' with producer id {} epoch {} on {}-{}",
                                     printable(tid), pid, epoch, kTransactionStateTopic, partition_for(tid));
                     done(InitProducerIdResult{.producer_id = pid, .producer_epoch = epoch});
                   });
    return;
  }
}

// --- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------

void TransactionCoordinator::add_partitions_to_txn(const std::string& transactional_id, int64_t producer_id,
                                                   int16_t producer_epoch, const std::set<TopicPartition>& partitions,
                                                   int16_t api_version, ErrorCallback done) {
  add_partitions(transactional_id, producer_id, producer_epoch, partitions,
                 [done = std::move(done), api_version](ErrorCode e) {
                   done(error_for_version(e, TxnApi::kAddPartitionsToTxn, api_version));
                 });
}

void TransactionCoordinator::add_partitions(const std::string& transactional_id, int64_t producer_id,
                                            int16_t producer_epoch, const std::set<TopicPartition>& partitions,
                                            ErrorCallback answer, int64_t wait_until_ms) {
  if (transactional_id.empty()) return answer(ErrorCode::kInvalidRequest);
  ErrorCode error = ErrorCode::kNone;
  int32_t coordinator_epoch = -1;
  std::optional<TxnTransit> transit;
  {
    std::unique_lock lock(mu_);
    auto found = lookup_locked(transactional_id);
    TransactionMetadata* md = found.metadata;
    error = producer_error(found, producer_id, producer_epoch);
    if (error != ErrorCode::kNone) {
      // answered below
    } else if (md->pending_transition() || md->state == TxnState::kPrepareCommit ||
               md->state == TxnState::kPrepareAbort) {
      // The previous transaction's markers and Complete record are being
      // written: wait for them rather than send the client into its backoff.
      const bool completing = (md->state == TxnState::kPrepareCommit || md->state == TxnState::kPrepareAbort) &&
                              (md->pending_state == TxnState::kCompleteCommit ||
                               md->pending_state == TxnState::kCompleteAbort);
      const int64_t now = clock_();
      if (wait_until_ms < 0) wait_until_ms = now + config_.completion_wait_ms;
      if (completing && now < wait_until_ms) {
        parked_adds_[transactional_id].push_back(ParkedAdd{producer_id, producer_epoch, partitions, wait_until_ms,
                                                           std::move(answer), std::chrono::steady_clock::now()});
        lock.unlock();
        wake_timer();  // its next wake-up may now be this wait's end
        return;
      }
      error = ErrorCode::kConcurrentTransactions;
    } else if (md->state == TxnState::kOngoing &&
               std::includes(md->partitions.begin(), md->partitions.end(), partitions.begin(), partitions.end())) {
      return answer(ErrorCode::kNone);  // nothing new: no write
    } else if (auto t = md->prepare_add_partitions(partitions, clock_()); !t) {
      error = illegal_state(transactional_id, "AddPartitionsToTxn", t.error());
    } else {
      coordinator_epoch = found.partition->coordinator_epoch;
      transit = std::move(*t);
    }
  }
  if (error != ErrorCode::kNone) return answer(error);
  append_transit(transactional_id, coordinator_epoch, std::move(*transit), nullptr, std::move(answer));
}

void TransactionCoordinator::add_offsets_to_txn(const std::string& transactional_id, int64_t producer_id,
                                                int16_t producer_epoch, int32_t offsets_partition,
                                                int16_t api_version, ErrorCallback done) {
  const TopicPartition offsets{kOffsetsTopic, offsets_partition};
  add_partitions(transactional_id, producer_id, producer_epoch, {offsets},
                 [done = std::move(done), api_version](ErrorCode e) {
                   done(error_for_version(e, TxnApi::kAddOffsetsToTxn, api_version));
                 });
}

// --- EndTxn ------------------------------------------------------------------------

void TransactionCoordinator::end_txn(const std::string& transactional_id, int64_t producer_id,
                                     int16_t producer_epoch, bool commit, int16_t api_version, ErrorCallback done) {
  end_transaction(transactional_id, producer_id, producer_epoch, commit, /*from_client=*/true,
                  [done = std::move(done), api_version](ErrorCode e) {
                    done(error_for_version(e, TxnApi::kEndTxn, api_version));
                  });
}

void TransactionCoordinator::end_transaction(const std::string& transactional_id, int64_t producer_id,
                                             int16_t producer_epoch, bool commit, bool from_client,
                                             ErrorCallback done) {
  if (transactional_id.empty()) return done(ErrorCode::kInvalidRequest);
  ErrorCode error = ErrorCode::kNone;
  int32_t coordinator_epoch = -1;
  bool epoch_fence = false;
  std::optional<TxnTransit> transit;
  std::optional<TxnState> refused_in;  // the state an INVALID_TXN_STATE answer saw
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(transactional_id);
    TransactionMetadata* md = found.metadata;
    // The result a retry of a finished (or finishing) end gets.
    auto retry_answer = [](bool same_result, ErrorCode same) {
      return same_result ? same : ErrorCode::kInvalidTxnState;
    };
    if (found.error != ErrorCode::kNone) {
      error = found.error;
    } else if (!md || md->producer_id != producer_id) {
      error = ErrorCode::kInvalidProducerIdMapping;
    } else if ((from_client && producer_epoch != md->producer_epoch) || producer_epoch < md->producer_epoch) {
      // A client's epoch must match exactly; the coordinator's own abort may
      // carry the epoch it bumped to fence.
      error = ErrorCode::kProducerFenced;
    } else if (md->pending_transition() && md->pending_state != TxnState::kPrepareEpochFence) {
      error = ErrorCode::kConcurrentTransactions;
    } else {
      switch (md->state) {
        case TxnState::kOngoing: {
          const TxnState target = commit ? TxnState::kPrepareCommit : TxnState::kPrepareAbort;
          if (target == TxnState::kPrepareAbort && md->pending_state == TxnState::kPrepareEpochFence) {
            // The fence's bumped epoch goes into the PrepareAbort record.
            epoch_fence = true;
            md->pending_state.reset();
            md->producer_epoch = producer_epoch;
            md->last_producer_epoch = kNoProducerEpoch;
          }
          auto t = md->prepare_abort_or_commit(target, clock_());
          if (t) {
            coordinator_epoch = found.partition->coordinator_epoch;
            transit = std::move(*t);
          } else {
            error = illegal_state(transactional_id, "EndTxn", t.error());
          }
          break;
        }
        case TxnState::kCompleteCommit:
          error = retry_answer(commit, ErrorCode::kNone);
          break;
        case TxnState::kCompleteAbort:
          error = retry_answer(!commit, ErrorCode::kNone);
          break;
        case TxnState::kPrepareCommit:
          error = retry_answer(commit, ErrorCode::kConcurrentTransactions);
          break;
        case TxnState::kPrepareAbort:
          error = retry_answer(!commit, ErrorCode::kConcurrentTransactions);
          break;
        case TxnState::kEmpty:
          error = ErrorCode::kInvalidTxnState;
          break;
        case TxnState::kDead:
        case TxnState::kPrepareEpochFence:
          error = illegal_state(transactional_id, "EndTxn in a state never completed",
                                make_error_code(TxnErrc::kIllegalTransition));
          break;
      }
      if (error == ErrorCode::kInvalidTxnState) refused_in = md->state;
    }
  }
  if (refused_in) {
    // Fatal to the client (librdkafka and the Java client alike): say why.
    txn_log()->info("transactional id '{}': EndTxn({}) of producer id {} epoch {} refused with INVALID_TXN_STATE "
                    "in state {}",
                    printable(transactional_id), commit ? "commit" : "abort", producer_id, producer_epoch,
                    txn_state_name(*refused_in));
  }
  if (!transit) return done(error);
  const auto end_txn_at = std::chrono::steady_clock::now();
  append_transit(transactional_id, coordinator_epoch, std::move(*transit), nullptr,
                 [this, transactional_id, coordinator_epoch, producer_id, producer_epoch, commit, epoch_fence,
                  end_txn_at, done = std::move(done)](ErrorCode e) {
                   after_prepare_written(transactional_id, coordinator_epoch, producer_id, producer_epoch, commit,
                                         epoch_fence, end_txn_at, e, done);
                 });
}

void TransactionCoordinator::after_prepare_written(const std::string& transactional_id, int32_t coordinator_epoch,
                                                   int64_t producer_id, int16_t producer_epoch, bool commit,
                                                   bool epoch_fence, std::chrono::steady_clock::time_point end_txn_at,
                                                   ErrorCode error, const ErrorCallback& done) {
  std::optional<TxnMarker> marker;
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(transactional_id);
    TransactionMetadata* md = found.metadata;
    const bool same = found.error == ErrorCode::kNone && md && found.partition->coordinator_epoch == coordinator_epoch;
    if (error != ErrorCode::kNone) {
      // A fence whose abort was not written keeps its bumped epoch in memory;
      // the next fence reuses it instead of bumping again.
      if (epoch_fence && same) md->has_failed_epoch_fence = true;
    } else if (found.error != ErrorCode::kNone) {
      error = found.error;
    } else if (!same) {
      error = ErrorCode::kNotCoordinator;
    } else if (md->producer_id != producer_id) {
      error = ErrorCode::kInvalidProducerIdMapping;
    } else if (md->producer_epoch != producer_epoch) {
      error = ErrorCode::kProducerFenced;
    } else if (md->pending_transition()) {
      error = ErrorCode::kConcurrentTransactions;
    } else if (md->state != (commit ? TxnState::kPrepareCommit : TxnState::kPrepareAbort)) {
      error = ErrorCode::kInvalidTxnState;
    } else if (auto t = md->prepare_complete(clock_()); !t) {
      error = illegal_state(transactional_id, "preparing the completion", t.error());
    } else {
      PendingCompletion pc{.transactional_id = transactional_id,
                           .coordinator_epoch = coordinator_epoch,
                           .commit = commit,
                           .complete = std::move(*t),
                           .end_txn_at = end_txn_at,
                           .prepared_at = std::chrono::steady_clock::now()};
      marker = marker_for(pc, *md);
      pending_markers_.insert_or_assign(transactional_id, std::move(pc));
    }
  }
  // The decision is durable: the client hears of it before the markers go out.
  done(error);
  if (marker) send_markers(std::move(*marker), 0);
}

// --- verification, describe, list -----------------------------------------------------

std::map<TopicPartition, ErrorCode> TransactionCoordinator::verify_partitions(
    const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
    const std::set<TopicPartition>& partitions) {
  ErrorCode error = ErrorCode::kNone;
  std::map<TopicPartition, ErrorCode> out;
  {
    std::lock_guard lock(mu_);
    auto found = lookup_locked(transactional_id);
    const TransactionMetadata* md = found.metadata;
    error = transactional_id.empty() ? ErrorCode::kInvalidRequest
                                     : producer_error(found, producer_id, producer_epoch);
    if (error != ErrorCode::kNone) {
      // answered below
    } else if (md->state == TxnState::kPrepareCommit || md->state == TxnState::kPrepareAbort) {
      error = ErrorCode::kConcurrentTransactions;
    } else {
      for (const auto& tp : partitions) {
        out[tp] = md->partitions.contains(tp) ? ErrorCode::kNone : ErrorCode::kInvalidTxnState;
      }
      return out;
    }
  }
  for (const auto& tp : partitions) out[tp] = error;
  return out;
}

TxnDescription TransactionCoordinator::describe(const std::string& transactional_id) {
  auto failed = [](ErrorCode e) {
    TxnDescription d;
    d.error = e;
    return d;
  };
  if (transactional_id.empty()) return failed(ErrorCode::kInvalidRequest);
  std::lock_guard lock(mu_);
  auto found = lookup_locked(transactional_id);
  if (found.error != ErrorCode::kNone) return failed(found.error);
  const TransactionMetadata* md = found.metadata;
  if (!md || md->state == TxnState::kDead || md->pending_state == TxnState::kDead) {
    return failed(ErrorCode::kTransactionalIdNotFound);
  }
  return TxnDescription{.state = std::string(txn_state_name(md->state)),
                        .timeout_ms = md->timeout_ms,
                        .start_ms = md->start_ms,
                        .producer_id = md->producer_id,
                        .producer_epoch = md->producer_epoch,
                        .partitions = {md->partitions.begin(), md->partitions.end()}};
}

TxnListResult TransactionCoordinator::list(const std::set<int64_t>& producer_ids,
                                           const std::set<std::string>& states) {
  TxnListResult out;
  std::set<TxnState> wanted;
  for (const auto& name : states) {
    if (auto s = txn_state_from_name(name)) {
      wanted.insert(*s);
    } else {
      out.unknown_state_filters.push_back(name);
    }
  }
  std::lock_guard lock(mu_);
  if (!loading_.empty()) {
    out.error = ErrorCode::kCoordinatorLoadInProgress;
    out.unknown_state_filters.clear();
    return out;
  }
  for (const auto& [p, part] : partitions_) {
    for (const auto& [id, md] : part.transactions) {
      if (md.state == TxnState::kDead) continue;
      if (!producer_ids.empty() && !producer_ids.contains(md.producer_id)) continue;
      if (!states.empty() && !wanted.contains(md.state)) continue;
      out.transactions.push_back(TxnListing{.transactional_id = id,
                                            .producer_id = md.producer_id,
                                            .state = std::string(txn_state_name(md.state)),
                                            .start_ms = md.start_ms});
    }
  }
  std::sort(out.transactions.begin(), out.transactions.end(),
            [](const TxnListing& a, const TxnListing& b) { return a.transactional_id < b.transactional_id; });
  return out;
}

std::optional<TransactionMetadata> TransactionCoordinator::metadata(const std::string& transactional_id) {
  std::lock_guard lock(mu_);
  auto found = lookup_locked(transactional_id);
  if (!found.metadata) return std::nullopt;
  return *found.metadata;
}

std::optional<int32_t> TransactionCoordinator::coordinator_epoch(int32_t partition) {
  std::lock_guard lock(mu_);
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return std::nullopt;
  return it->second.coordinator_epoch;
}

size_t TransactionCoordinator::pending_marker_count() {
  std::lock_guard lock(mu_);
  return pending_markers_.size();
}

}  // namespace keel::txn
