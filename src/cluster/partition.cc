#include "cluster/partition.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>

#include "common/log.h"
#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/txn_marker.h"

namespace keel::cluster {

using protocol::ErrorCode;

namespace {

ErrorCode storage_error(std::error_code ec) {
  return static_cast<ErrorCode>(storage::kafka_error_code(ec));
}

// A produce refused by the producer state (OUT_OF_ORDER_SEQUENCE_NUMBER,
// INVALID_PRODUCER_EPOCH, ...) with the reason, which clients seldom show:
// at most one line a second for the whole broker, with how many were not
// logged, so a misbehaving client cannot flood the log.
void log_producer_refusal(const std::string& dir, const ProducerBatch& pb, ErrorCode error,
                          const std::string& why) {
  static std::atomic<int64_t> next_ms{0};
  static std::atomic<uint64_t> unlogged{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t due = next_ms.load(std::memory_order_relaxed);
  if (now < due || !next_ms.compare_exchange_strong(due, now + 1000, std::memory_order_relaxed)) {
    unlogged.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  keel::logger("partition")
      ->info("{}: refused a batch of producer {} epoch {} sequences {}..{}: {} ({}){}", dir, pb.producer_id,
             pb.producer_epoch, pb.base_sequence, pb.last_sequence, protocol::error_name(error), why,
             [n = unlogged.exchange(0, std::memory_order_relaxed)] {
               return n ? " (" + std::to_string(n) + " more refusals since the last line)" : std::string();
             }());
}

// What the producer state keeps of a stored batch.
ProducerBatch producer_batch_of(const protocol::RecordBatchView& batch) {
  ProducerBatch pb;
  pb.producer_id = batch.producer_id();
  pb.producer_epoch = batch.producer_epoch();
  pb.base_sequence = batch.base_sequence();
  pb.last_sequence =
      static_cast<int32_t>((int64_t{batch.base_sequence()} + batch.last_offset_delta()) % (int64_t{1} << 31));
  pb.first_offset = batch.base_offset();
  pb.last_offset = batch.last_offset();
  pb.timestamp = batch.max_timestamp();
  pb.transactional = batch.is_transactional();
  return pb;
}

// The marker a stored control batch carries (nullopt: not a COMMIT/ABORT
// marker, e.g. one the cleaner emptied).
std::optional<MarkerBatch> marker_batch_of(const protocol::RecordBatchView& batch) {
  auto m = storage::parse_marker(batch);
  if (!m) return std::nullopt;
  return MarkerBatch{m->producer_id, m->producer_epoch, m->commit, m->coordinator_epoch, batch.base_offset(),
                     batch.max_timestamp()};
}

// An append's offsets, as the produce answer carries them.
void fill_outcome(AppendOutcome& out, const storage::AppendResult& appended) {
  out.base_offset = appended.first_offset;
  out.last_offset = appended.last_offset;
  out.log_append_time = appended.log_append_time;
  out.log_start_offset = appended.log_start_offset;
}

int64_t now_wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Partition::Partition(TopicPartition tp, protocol::Uuid topic_id, storage::Log* log, int32_t local_broker_id)
    : tp_(std::move(tp)),
      topic_id_(topic_id),
      log_(log),
      local_broker_id_(local_broker_id),
      config_(std::make_shared<PartitionConfig>()),
      producers_(log->dir()) {
  // A fresh leader starts its HW at its own log end only once it leads; until
  // then nothing past the log start is exposed.
  high_watermark_ = log_->log_start_offset();
  log_->set_high_watermark(high_watermark_);
  rebuild_producer_state();
  auto epochs = storage::LeaderEpochCache::open(log_->dir());
  if (epochs) {
    epochs_.emplace(std::move(*epochs));
    // Entries past the log end describe records a crash took away.
    (void)epochs_->truncate_from_end(log_->log_end_offset());
  } else {
    keel::logger("storage")->warn("{}: unreadable leader-epoch-checkpoint ({}); epochs start afresh",
                                  log_->dir(), epochs.error().message());
    ::unlink((log_->dir() + "/" + storage::kLeaderEpochCheckpoint).c_str());
    if (auto fresh = storage::LeaderEpochCache::open(log_->dir())) epochs_.emplace(std::move(*fresh));
  }
}

std::pair<int32_t, int64_t> Partition::end_offset_for_epoch(int32_t requested) const {
  std::lock_guard lock(mu_);
  if (!epochs_) return {-1, -1};
  return epochs_->end_offset_for(requested, log_->log_end_offset());
}

int32_t Partition::epoch_for_offset(int64_t offset) const {
  std::lock_guard lock(mu_);
  if (!epochs_ || offset < 0) return -1;
  int32_t epoch = -1;
  for (const auto& e : epochs_->entries()) {
    if (e.start_offset > offset) break;
    epoch = e.epoch;
  }
  return epoch;
}

void Partition::log_start_moved(int64_t log_start_offset) {
  std::lock_guard lock(mu_);
  if (epochs_) (void)epochs_->truncate_from_start(log_start_offset);
}

// The newest snapshot, then the producer fields of every batch after it.
void Partition::rebuild_producer_state() {
  const int64_t log_end = log_->log_end_offset();
  // Expired producers are dropped at the next roll (remove_expired), not here:
  // the partition has no clock of its own at construction.
  // Segments whose .txnindex was lost or emptied (recovery, corruption) get
  // their entries back from the markers: the replay then starts at or below
  // the first of them (appending an entry that is there already is a no-op).
  const int64_t txn_rebuild_from = log_->txn_index_rebuild_from();
  int64_t pos = producers_.load(log_->log_start_offset(),
                                txn_rebuild_from >= 0 ? std::min(log_end, txn_rebuild_from) : log_end);
  size_t replayed = 0;
  while (pos < log_end) {
    auto read = log_->read(pos, 1 << 20, true);
    if (!read || read->ranges.empty()) break;
    int64_t next = pos;
    for (const auto& r : read->ranges) {
      Bytes raw(static_cast<size_t>(r.length));
      if (::pread(r.file->fd(), raw.data(), raw.size(), r.position) != r.length) return;
      protocol::BatchIterator it{ByteView(raw)};
      while (true) {
        auto b = it.next();
        if (!b || !*b) break;
        const protocol::RecordBatchView& batch = **b;
        next = batch.last_offset() + 1;
        if (batch.producer_id() < 0 || batch.last_offset() < pos) continue;
        if (batch.is_control()) {
          if (auto m = marker_batch_of(batch)) (void)apply_marker_locked(*m);
        } else {
          producers_.record(producer_batch_of(batch));
        }
        ++replayed;
      }
    }
    if (next <= pos) break;
    pos = next;
  }
  segments_at_last_snapshot_ = log_->segment_count();
  if (txn_rebuild_from >= 0) {
    log_->txn_index_rebuilt();
    keel::logger("storage")->info("{}: transaction indexes rebuilt from offset {}", log_->dir(), txn_rebuild_from);
    // The snapshots above the rebuild point went: one at the log end again.
    (void)producers_.take_snapshot(log_end);
  }
  producers_.on_high_watermark(high_watermark_);
  log_->set_last_stable_offset(last_stable_offset_locked());
  if (replayed > 0 || producers_.producer_count() > 0) {
    keel::logger("storage")->info("{}: producer state of {} producers loaded ({} batches replayed)", log_->dir(),
                                  producers_.producer_count(), replayed);
  }
}

void Partition::snapshot_producer_state() {
  std::lock_guard lock(mu_);
  // Nothing new since the snapshot at the log end (a partition not written
  // since the last start or flush): it already says all of it, as Kafka's
  // takeSnapshot skips. A stop of 10,000 idle partitions spent 2.7-3.5 s in
  // these fsyncs. Expired producers still in it are dropped at load.
  const int64_t end = log_->log_end_offset();
  if (producers_.last_snapshot_offset() == end) {
    const auto offsets = producers_.snapshot_offsets();
    if (!offsets.empty() && offsets.back() == end) return;
  }
  // Written even when empty: the next start then replays nothing.
  if (auto r = producers_.take_snapshot(end); !r) {
    keel::logger("storage")->warn("{}: cannot write the producer snapshot: {}", log_->dir(), r.error().message());
  }
}

size_t Partition::producer_count() const {
  std::lock_guard lock(mu_);
  return producers_.producer_count();
}

bool Partition::apply_leader_state(const LeaderState& state) {
  std::lock_guard lock(mu_);
  if (has_state_ && state.leader_epoch < state_.leader_epoch) return false;
  const bool became_leader = state.leader == local_broker_id_ &&
                             (!has_state_ || state_.leader != local_broker_id_ || state_.leader_epoch != state.leader_epoch);
  if (state.leader == local_broker_id_ && (!has_state_ || state_.leader != local_broker_id_)) {
    ++leader_term_;
    term_start_epoch_ = state.leader_epoch;
  }
  state_ = state;
  has_state_ = true;
  // A leader's epoch starts at its log end (Kafka's makeLeader).
  if (state_.leader == local_broker_id_ && epochs_) {
    if (auto r = epochs_->assign(state_.leader_epoch, log_->log_end_offset()); !r) {
      keel::logger("storage")->warn("{}: cannot record leader epoch {}: {}", log_->dir(), state_.leader_epoch,
                                    r.error().message());
    }
  }
  // A new leadership starts its followers afresh (Kafka's makeLeader): their
  // log ends are unknown until they fetch, and ISR members count as caught
  // up now, so none is dropped before it had the chance to fetch.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::erase_if(followers_, [&](const auto& kv) {
    return std::find(state_.replicas.begin(), state_.replicas.end(), kv.first) == state_.replicas.end();
  });
  if (became_leader) {
    followers_.clear();
    for (int32_t r : state_.isr) {
      if (r != local_broker_id_) followers_[r].last_caught_up_ms = now;
    }
  }
  pending_isr_.reset();
  last_isr_refusal_.reset();
  update_high_watermark_locked();
  return true;
}

bool Partition::leads_in_term(uint64_t term) const {
  std::lock_guard lock(mu_);
  return has_state_ && state_.leader == local_broker_id_ && leader_term_ == term;
}

std::optional<uint64_t> Partition::term_led_since(int32_t epoch) const {
  std::lock_guard lock(mu_);
  if (!has_state_ || state_.leader != local_broker_id_) return std::nullopt;
  if (epoch < term_start_epoch_ || epoch > state_.leader_epoch) return std::nullopt;
  return leader_term_;
}

LeaderState Partition::leader_state() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool Partition::is_leader() const {
  std::lock_guard lock(mu_);
  return has_state_ && state_.leader == local_broker_id_;
}

void Partition::set_config(std::shared_ptr<const PartitionConfig> config) {
  std::lock_guard lock(mu_);
  config_ = std::move(config);
}

std::shared_ptr<const PartitionConfig> Partition::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

void Partition::update_high_watermark_locked() {
  if (!has_state_ || state_.leader != local_broker_id_) return;
  int64_t hw = log_->log_end_offset();
  // The maximal ISR: a member being added counts already, one being removed still.
  auto counts = [&](int32_t replica) {
    return std::find(state_.isr.begin(), state_.isr.end(), replica) != state_.isr.end() ||
           (pending_isr_ && std::find(pending_isr_->begin(), pending_isr_->end(), replica) != pending_isr_->end());
  };
  for (const auto& [replica, f] : followers_) {
    if (!counts(replica)) continue;
    hw = std::min(hw, f.leo < 0 ? high_watermark_ : f.leo);
  }
  for (int32_t replica : state_.isr) {
    if (replica != local_broker_id_ && !followers_.contains(replica)) hw = std::min(hw, high_watermark_);
  }
  // The HW never moves back while we lead, and never below the log start.
  high_watermark_ = std::max({high_watermark_, hw, log_->log_start_offset()});
  high_watermark_ = std::min(high_watermark_, log_->log_end_offset());
  log_->set_high_watermark(high_watermark_);
  stable_offset_changed_locked();
}

int64_t Partition::high_watermark() const {
  std::lock_guard lock(mu_);
  return high_watermark_;
}

int64_t Partition::last_stable_offset_locked() const {
  const auto unstable = producers_.first_unstable_offset();
  return unstable ? std::min(*unstable, high_watermark_) : high_watermark_;
}

void Partition::stable_offset_changed_locked() {
  producers_.on_high_watermark(high_watermark_);
  log_->set_last_stable_offset(last_stable_offset_locked());
}

int64_t Partition::last_stable_offset() const {
  std::lock_guard lock(mu_);
  return last_stable_offset_locked();
}

bool Partition::has_open_txn(int64_t producer_id, int16_t producer_epoch) const {
  std::lock_guard lock(mu_);
  return producers_.has_open_txn(producer_id, producer_epoch);
}

std::vector<ProducerView> Partition::producers() const {
  std::lock_guard lock(mu_);
  return producers_.producers();
}

ErrorCode Partition::apply_marker_locked(const MarkerBatch& marker) {
  auto done = producers_.complete_txn(marker);
  if (!done || !done->aborted) return ErrorCode::kNone;
  const storage::AbortedTxn txn{done->producer_id, done->first_offset, done->last_offset,
                                producers_.last_stable_offset_after(*done)};
  if (auto r = log_->append_aborted_txn(txn); !r) {
    keel::logger("storage")->error("{}: cannot index the aborted transaction of producer {} at {}: {}", log_->dir(),
                                   txn.producer_id, txn.last_offset, r.error().message());
    return storage_error(r.error());
  }
  return ErrorCode::kNone;
}

AppendOutcome Partition::append_txn_marker(int64_t producer_id, int16_t producer_epoch, bool commit,
                                           int32_t coordinator_epoch, int64_t now_ms) {
  AppendOutcome out;
  {
    std::lock_guard lock(mu_);
    if (!may_append_locked(/*acks_all=*/true, out)) return out;
    MarkerBatch marker{producer_id, producer_epoch, commit, coordinator_epoch, -1, now_ms};
    ProducerCheck check = producers_.check_marker(marker);
    if (check.error != ErrorCode::kNone) {
      out.error = check.error;
      out.message = check.message;
      return out;
    }
    auto batch = storage::build_marker_batch({producer_id, producer_epoch, commit, coordinator_epoch}, now_ms,
                                             state_.leader_epoch);
    if (!batch) {
      out.error = ErrorCode::kUnknownServerError;
      out.message = "cannot build the transaction marker";
      return out;
    }
    auto appended = log_->append(std::span<uint8_t>(*batch), now_ms, /*crc_verified=*/true);
    if (!appended) {
      out.error = storage_error(appended.error());
      out.message = appended.error().message();
      return out;
    }
    fill_outcome(out, *appended);
    marker.offset = appended->first_offset;
    marker.timestamp = appended->log_append_time >= 0 ? appended->log_append_time : now_ms;
    if (ErrorCode e = apply_marker_locked(marker); e != ErrorCode::kNone) {
      out.error = e;
      out.message = "the marker was written but its transaction index entry was not";
      return out;
    }
    if (const size_t segments = log_->segment_count(); segments != segments_at_last_snapshot_) {
      segments_at_last_snapshot_ = segments;
      (void)producers_.take_snapshot(log_->log_end_offset());
    }
    update_high_watermark_locked();
  }
  if (on_append_) on_append_(tp_);
  return out;
}

ErrorCode Partition::check_leader_epoch(int32_t current_leader_epoch) const {
  std::lock_guard lock(mu_);
  return check_leader_epoch_locked(current_leader_epoch);
}

ErrorCode Partition::check_leader_epoch_locked(int32_t epoch) const {
  if (epoch < 0) return ErrorCode::kNone;
  if (epoch < state_.leader_epoch) return ErrorCode::kFencedLeaderEpoch;
  if (epoch > state_.leader_epoch) return ErrorCode::kUnknownLeaderEpoch;
  return ErrorCode::kNone;
}

bool Partition::may_append_locked(bool acks_all, AppendOutcome& out) const {
  if (!has_state_ || state_.leader != local_broker_id_) {
    out.error = ErrorCode::kNotLeaderOrFollower;
    return false;
  }
  out.leader_term = leader_term_;
  if (acks_all && static_cast<int32_t>(state_.isr.size()) < config_->min_insync_replicas) {
    out.error = ErrorCode::kNotEnoughReplicas;
    out.message = "the ISR has " + std::to_string(state_.isr.size()) + " replica(s), min.insync.replicas is " +
                  std::to_string(config_->min_insync_replicas);
    return false;
  }
  return true;
}

AppendOutcome Partition::append_as_leader(const ValidatedRecords& records, int16_t acks, int64_t now_ms) {
  AppendOutcome out;
  {
    std::lock_guard lock(mu_);
    if (!may_append_locked(acks == -1, out)) return out;
    ProducerBatch pb;
    if (records.producer_id >= 0) {
      pb.producer_id = records.producer_id;
      pb.producer_epoch = records.producer_epoch;
      pb.base_sequence = records.base_sequence;
      pb.last_sequence = records.last_sequence;
      pb.transactional = records.transactional;
      pb.coordinator_origin = records.coordinator_origin;
      ProducerCheck check = producers_.check(pb);
      if (check.duplicate) {
        // A retry of a batch already written: its original offsets, nothing appended.
        out.base_offset = check.duplicate->first_offset;
        out.last_offset = check.duplicate->last_offset;
        out.log_start_offset = log_->log_start_offset();
        return out;
      }
      if (check.error != ErrorCode::kNone) {
        out.error = check.error;
        out.message = check.message;
        log_producer_refusal(log_->dir(), pb, check.error, check.message);
        return out;
      }
    }
    // Kafka stamps every batch with the leader epoch it was appended under
    // (outside the CRC); consumers and followers use it to detect truncation.
    int64_t max_timestamp = -1;  // the producer state's last timestamp, as followers and recovery read it
    for (size_t pos = 0; pos + protocol::kBatchHeaderSize <= records.records.size();) {
      std::span<uint8_t> batch = records.records.subspan(pos);
      protocol::set_partition_leader_epoch(batch, state_.leader_epoch);
      max_timestamp = std::max(max_timestamp, load_be<int64_t>(batch.data() + protocol::batch_field::kMaxTimestamp));
      pos += protocol::kLogOverhead + static_cast<size_t>(load_be<int32_t>(batch.data() + protocol::batch_field::kBatchLength));
    }
    auto appended = log_->append(records.records, now_ms, /*crc_verified=*/true);
    if (!appended) {
      out.error = storage_error(appended.error());
      out.message = appended.error().message();
      return out;
    }
    fill_outcome(out, *appended);
    if (pb.producer_id >= 0) {
      pb.first_offset = appended->first_offset;
      pb.last_offset = appended->last_offset;
      // Kafka's lastTimestamp is the batch's max timestamp (the append time
      // under LogAppendTime, which the stored batch then carries too).
      pb.timestamp = appended->log_append_time >= 0 ? appended->log_append_time : max_timestamp;
      producers_.record(pb);
    }
    // A roll: snapshot the producer state at the new segment's start, as Kafka does.
    if (const size_t segments = log_->segment_count(); segments != segments_at_last_snapshot_) {
      segments_at_last_snapshot_ = segments;
      producers_.remove_expired(now_ms);
      (void)producers_.take_snapshot(log_->log_end_offset());
    }
    update_high_watermark_locked();
  }
  if (on_append_) on_append_(tp_);
  return out;
}

ReadOutcome Partition::read(int64_t offset, int64_t max_bytes, bool min_one_batch, int32_t current_leader_epoch,
                            Isolation isolation, bool from_replica, int32_t last_fetched_epoch, bool leader_only) {
  ReadOutcome out;
  int64_t max_offset;
  std::pair<int32_t, int64_t> fetched_epoch_end{-1, -1};
  bool as_follower = false;
  {
    std::lock_guard lock(mu_);
    if (!has_state_ || state_.leader != local_broker_id_) {
      as_follower = true;
      // A follower serves consumers that may read from followers (KIP-392),
      // never other followers; below, its own high watermark bounds the read.
      const bool hosted = has_state_ && std::find(state_.replicas.begin(), state_.replicas.end(),
                                                  local_broker_id_) != state_.replicas.end();
      if (leader_only || from_replica || !hosted) {
        out.error = ErrorCode::kNotLeaderOrFollower;
        return out;
      }
      if (!served_follower_read_.exchange(true)) {
        keel::logger("replica")->info("{}: serving consumer fetches as a follower (KIP-392), up to the high watermark {}",
                                      tp_.dir_name(), high_watermark_);
      }
    }
    out.error = check_leader_epoch_locked(current_leader_epoch);
    if (out.error != ErrorCode::kNone) return out;
    out.high_watermark = high_watermark_;
    out.last_stable_offset = last_stable_offset_locked();
    max_offset = from_replica ? log_->log_end_offset()
                              : (isolation == Isolation::kReadCommitted ? out.last_stable_offset : high_watermark_);
    if (last_fetched_epoch >= 0 && epochs_) {
      fetched_epoch_end = epochs_->end_offset_for(last_fetched_epoch, log_->log_end_offset());
    }
  }
  out.log_start_offset = log_->log_start_offset();
  out.log_end_offset = log_->log_end_offset();
  // Kafka's readRecords: the divergence check comes before the range check,
  // so a fetcher whose own log runs past ours learns where to truncate
  // rather than getting OFFSET_OUT_OF_RANGE.
  if (last_fetched_epoch >= 0) {
    const auto [epoch, end_offset] = fetched_epoch_end;
    if (epoch < 0 || end_offset < 0 || offset < out.log_start_offset) {
      out.error = ErrorCode::kOffsetOutOfRange;
      return out;
    }
    if (epoch < last_fetched_epoch || end_offset < offset) {
      out.diverging_epoch = fetched_epoch_end;
      return out;
    }
  }
  if (as_follower && offset > out.log_end_offset) {
    // A follower whose log ends before the offset is behind (just restarted,
    // perhaps on an empty disk), not proof that the offset is gone. Kafka
    // answers OFFSET_OUT_OF_RANGE, after which its Java consumer asks the
    // leader (KIP-392) but a client without KIP-320 (librdkafka before 2.1)
    // resets to auto.offset.reset and reads everything again: send the
    // consumer to the leader instead (docs/compatibility.md).
    out.error = ErrorCode::kNotLeaderOrFollower;
    return out;
  }
  if (offset < out.log_start_offset || offset > out.log_end_offset) {
    out.error = ErrorCode::kOffsetOutOfRange;
    return out;
  }
  const bool committed_consumer = isolation == Isolation::kReadCommitted && !from_replica;
  if (committed_consumer) out.aborted_transactions.emplace();
  if (offset >= max_offset) return out;  // nothing visible yet: an empty answer, not an error
  // Only whole batches below max_offset (the high watermark for consumers).
  auto read = log_->read(offset, max_bytes, min_one_batch, max_offset);
  if (!read) {
    out.error = storage_error(read.error());
    return out;
  }
  int64_t data_end = offset;
  for (auto& r : read->ranges) {
    out.bytes += r.length;
    data_end = std::max(data_end, r.end_offset);
    out.ranges.push_back(std::move(r));
  }
  if (committed_consumer && !out.ranges.empty()) {
    // Bounded by the data returned (the transactions that began below its
    // end). Every transaction that began below the LSO has its marker and
    // index entry already: the LSO cannot pass an open one.
    auto aborted = log_->collect_aborted_txns(offset, data_end);
    if (!aborted) {
      out.error = storage_error(aborted.error());
      out.ranges.clear();
      out.bytes = 0;
      return out;
    }
    out.aborted_transactions = std::move(*aborted);
  }
  return out;
}

}  // namespace keel::cluster

namespace keel::cluster {

// --- the leader's side of replication -------------------------------------------

bool Partition::update_follower(int32_t replica, int64_t fetch_offset, int64_t now_ms) {
  bool moved = false;
  std::optional<IsrChange> change;
  {
    std::lock_guard lock(mu_);
    if (!has_state_ || state_.leader != local_broker_id_) return false;
    if (std::find(state_.replicas.begin(), state_.replicas.end(), replica) == state_.replicas.end()) return false;
    const int64_t leo = log_->log_end_offset();
    FollowerState& f = followers_[replica];
    // A follower's fetch offset is its log end; it never has more than we do.
    f.leo = std::min(fetch_offset, leo);
    // Kafka's lastCaughtUpTime: caught up now if it has all we have; caught
    // up at its previous fetch if it now has what we had then.
    if (fetch_offset >= leo) {
      f.last_caught_up_ms = now_ms;
    } else if (f.last_fetch_leader_leo >= 0 && fetch_offset >= f.last_fetch_leader_leo) {
      f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
    }
    f.last_fetch_leader_leo = leo;
    f.last_fetch_ms = now_ms;
    const int64_t before = high_watermark_;
    update_high_watermark_locked();
    moved = high_watermark_ != before;
    // Back into the ISR once it has reached the high watermark and the
    // current epoch's first offset (so it holds nothing of an older leader's
    // that we do not), with no other change in flight.
    const bool in_isr = std::find(state_.isr.begin(), state_.isr.end(), replica) != state_.isr.end();
    if (!in_isr && !pending_isr_ && f.leo >= high_watermark_) {
      const int64_t epoch_start = epochs_ ? epochs_->end_offset_for(state_.leader_epoch - 1, leo).second : 0;
      if (f.leo >= epoch_start) {
        std::vector<int32_t> isr = state_.isr;
        isr.push_back(replica);
        change = propose_isr_locked(std::move(isr));
      }
    }
  }
  // Produces waiting for acks=all and fetches waiting for data see the new HW.
  if (moved && on_append_) on_append_(tp_);
  if (change) send_isr_change(std::move(*change));
  return moved;
}

void Partition::set_isr_sender(IsrSender sender) {
  std::lock_guard lock(mu_);
  isr_sender_ = std::move(sender);
}

void Partition::maybe_shrink_isr(int64_t now_ms, int64_t lag_ms) {
  std::optional<IsrChange> change;
  {
    std::lock_guard lock(mu_);
    if (!has_state_ || state_.leader != local_broker_id_ || pending_isr_) return;
    std::vector<int32_t> isr;
    std::vector<int32_t> lagging;
    for (int32_t r : state_.isr) {
      auto f = followers_.find(r);
      const bool out = r != local_broker_id_ && f != followers_.end() && now_ms - f->second.last_caught_up_ms > lag_ms &&
                       f->second.leo < log_->log_end_offset();
      (out ? lagging : isr).push_back(r);
    }
    if (lagging.empty()) return;
    keel::logger("replica")->info("{}: shrinking the ISR from [{}] to [{}]: not caught up for {} ms", tp_.dir_name(),
                                  fmt::join(state_.isr, ","), fmt::join(isr, ","), lag_ms);
    change = propose_isr_locked(std::move(isr));
  }
  if (change) send_isr_change(std::move(*change));
}

std::optional<Partition::IsrChange> Partition::propose_isr_locked(std::vector<int32_t> new_isr) {
  if (!isr_sender_) return std::nullopt;
  pending_isr_ = new_isr;
  IsrChange c;
  c.tp = tp_;
  c.topic_id = topic_id_;
  c.leader_epoch = state_.leader_epoch;
  c.partition_epoch = state_.partition_epoch;
  c.new_isr = std::move(new_isr);
  return c;
}

void Partition::send_isr_change(IsrChange change) {
  IsrSender sender;
  {
    std::lock_guard lock(mu_);
    sender = isr_sender_;
  }
  if (!sender) return;
  std::weak_ptr<Partition> weak = weak_from_this();
  sender(change, [weak, change](const IsrChangeResult& result) {
    if (auto self = weak.lock()) self->on_isr_change(change, result);
  });
}

void Partition::on_isr_change(const IsrChange& change, const IsrChangeResult& result) {
  bool moved = false;
  {
    std::lock_guard lock(mu_);
    if (!has_state_ || state_.leader != local_broker_id_ || state_.leader_epoch != change.leader_epoch) return;
    pending_isr_.reset();
    if (result.error != ErrorCode::kNone) {
      // A newer state is on its way (LeaderAndIsr), or the next check proposes again.
      auto refusal = std::make_pair(result.error, change.new_isr);
      const auto level = last_isr_refusal_ == refusal ? spdlog::level::debug : spdlog::level::info;
      keel::logger("replica")->log(level, "{}: ISR change to [{}] refused: {}", tp_.dir_name(),
                                   fmt::join(change.new_isr, ","), protocol::error_name(result.error));
      last_isr_refusal_ = std::move(refusal);
      return;
    }
    last_isr_refusal_.reset();
    if (result.leader_epoch != state_.leader_epoch) return;
    keel::logger("replica")->info("{}: ISR now [{}] (partition epoch {})", tp_.dir_name(), fmt::join(result.isr, ","),
                                  result.partition_epoch);
    state_.isr = result.isr;
    state_.partition_epoch = result.partition_epoch;
    const int64_t before = high_watermark_;
    update_high_watermark_locked();
    moved = high_watermark_ != before;
  }
  if (moved && on_append_) on_append_(tp_);
}

std::vector<ReplicaView> Partition::read_replica_candidates(int64_t fetch_offset, int64_t now_ms) const {
  std::lock_guard lock(mu_);
  std::vector<ReplicaView> out;
  if (!has_state_ || state_.leader != local_broker_id_) return out;
  out.push_back({local_broker_id_, std::nullopt, log_->log_end_offset(), 0});
  for (const auto& [id, f] : followers_) {
    if (std::find(state_.isr.begin(), state_.isr.end(), id) == state_.isr.end()) continue;
    if (f.leo < fetch_offset) continue;
    out.push_back({id, std::nullopt, f.leo, std::max<int64_t>(0, now_ms - f.last_caught_up_ms)});
  }
  return out;
}

// --- the follower's side ---------------------------------------------------------------

bool Partition::following_locked(int32_t leader_epoch) const {
  return has_state_ && state_.leader >= 0 && state_.leader != local_broker_id_ &&
         (leader_epoch < 0 || state_.leader_epoch == leader_epoch);
}

std::optional<Partition::FollowerFetch> Partition::follower_fetch() const {
  std::lock_guard lock(mu_);
  if (!following_locked(-1)) return std::nullopt;
  FollowerFetch f;
  f.fetch_offset = log_->log_end_offset();
  f.last_fetched_epoch = epochs_ ? epochs_->latest_epoch() : -1;
  f.leader_epoch = state_.leader_epoch;
  f.log_start_offset = log_->log_start_offset();
  return f;
}

ErrorCode Partition::append_as_follower(std::span<uint8_t> records, int64_t leader_hw, int32_t leader_epoch) {
  {
    std::lock_guard lock(mu_);
    if (!following_locked(leader_epoch)) return ErrorCode::kNotLeaderOrFollower;
    // Whole batches only: a fetch may end inside one (KIP-74); the rest comes next time.
    protocol::BatchIterator it{ByteView(records.data(), records.size())};
    // Producer batches and markers, in log order (a marker closes what came before it).
    std::vector<ProducerBatch> producer_batches;
    std::vector<std::pair<size_t, MarkerBatch>> markers;  // (batches before it, marker)
    while (true) {
      auto b = it.next();
      if (!b) return ErrorCode::kCorruptMessage;
      if (!*b) break;
      const protocol::RecordBatchView& batch = **b;
      if (batch.producer_id() < 0) continue;
      if (!batch.is_control()) {
        producer_batches.push_back(producer_batch_of(batch));
      } else if (auto m = marker_batch_of(batch)) {
        markers.emplace_back(producer_batches.size(), *m);
      }
    }
    const size_t whole = it.position();
    if (whole > 0) {
      // Offsets may jump between batches: a compacted leader's log has gaps.
      auto appended = log_->append_as_follower(records.subspan(0, whole), now_wall_ms(), epochs_ ? &*epochs_ : nullptr,
                                               /*allow_gaps=*/true);
      if (!appended) return storage_error(appended.error());
      size_t next = 0;
      for (const auto& [before, marker] : markers) {
        for (; next < before; ++next) producers_.record(producer_batches[next]);
        if (ErrorCode e = apply_marker_locked(marker); e != ErrorCode::kNone) return e;
      }
      for (; next < producer_batches.size(); ++next) producers_.record(producer_batches[next]);
    }
    // A follower's HW: what the leader says is committed, up to what it has.
    high_watermark_ = std::max(high_watermark_, std::min(leader_hw, log_->log_end_offset()));
    log_->set_high_watermark(high_watermark_);
    stable_offset_changed_locked();
  }
  if (on_append_) on_append_(tp_);
  return ErrorCode::kNone;
}

void Partition::after_truncation_locked() {
  const int64_t end = log_->log_end_offset();
  if (epochs_) (void)epochs_->truncate_from_end(end);
  high_watermark_ = std::min(high_watermark_, end);
  log_->set_high_watermark(high_watermark_);
  // Markers truncated away reopen their transactions (the replay from a
  // snapshot at or below the new end does it).
  rebuild_producer_state();
}

ErrorCode Partition::truncate_to_divergence(int32_t epoch, int64_t leader_end_offset, int32_t leader_epoch) {
  std::lock_guard lock(mu_);
  if (!following_locked(leader_epoch)) return ErrorCode::kNotLeaderOrFollower;
  int64_t target = leader_end_offset;
  if (epochs_) {
    const auto [ours_epoch, ours_end] = epochs_->end_offset_for(epoch, log_->log_end_offset());
    if (ours_epoch == epoch && ours_end >= 0) target = std::min(target, ours_end);
  }
  target = std::max(target, log_->log_start_offset());
  if (target >= log_->log_end_offset()) return ErrorCode::kNone;
  keel::logger("replica")->info("{}: truncating to {} (diverged from the leader in epoch {}; log end was {})",
                                tp_.dir_name(), target, epoch, log_->log_end_offset());
  if (auto r = log_->truncate_to(target, epochs_ ? &*epochs_ : nullptr, now_wall_ms()); !r) {
    return storage_error(r.error());
  }
  after_truncation_locked();
  return ErrorCode::kNone;
}

ErrorCode Partition::restart_at(int64_t leader_log_start, int32_t leader_epoch) {
  std::lock_guard lock(mu_);
  if (!following_locked(leader_epoch)) return ErrorCode::kNotLeaderOrFollower;
  keel::logger("replica")->info("{}: fetch offset {} is below the leader's log start {}: starting the log afresh there",
                                tp_.dir_name(), log_->log_end_offset(), leader_log_start);
  if (auto r = log_->truncate_fully_and_start_at(leader_log_start, epochs_ ? &*epochs_ : nullptr, now_wall_ms()); !r) {
    return storage_error(r.error());
  }
  high_watermark_ = leader_log_start;
  after_truncation_locked();
  return ErrorCode::kNone;
}

}  // namespace keel::cluster
