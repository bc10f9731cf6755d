// Log operations of follower replication: append_as_follower, truncate_to,
// truncate_fully_and_start_at (contracts in log.h).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "common/log.h"
#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/log.h"

namespace keel::storage {

Result<AppendResult> Log::append_as_follower(std::span<const uint8_t> records, int64_t now_ms,
                                             LeaderEpochCache* epochs, bool allow_gaps) {
  struct Found {
    size_t position;
    int32_t size;
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_timestamp;
    int32_t leader_epoch;
  };
  // Parsing and CRCs touch only the caller's bytes: no lock.
  std::vector<Found> found;
  protocol::BatchIterator it{ByteView(records.data(), records.size())};
  int64_t segment_bytes;
  {
    std::lock_guard lock(mu_);
    segment_bytes = config_.segment_bytes;
  }
  int64_t incoming_max_ts = -1;
  while (true) {
    auto next = it.next();
    if (!next) return StorageErrc::kCorruptMessage;
    if (!*next) break;
    const protocol::RecordBatchView& b = **next;
    if (!b.verify_crc()) return StorageErrc::kCorruptMessage;
    if (b.last_offset_delta() < 0 || b.records_count() < 0) return StorageErrc::kInvalidRecord;
    if (static_cast<int64_t>(b.size_bytes()) > segment_bytes) return StorageErrc::kRecordListTooLarge;
    found.push_back({it.position() - b.size_bytes(), static_cast<int32_t>(b.size_bytes()), b.base_offset(),
                     b.last_offset(), b.max_timestamp(), b.partition_leader_epoch()});
    incoming_max_ts = std::max(incoming_max_ts, b.max_timestamp());
  }
  if (it.partial_tail()) return StorageErrc::kCorruptMessage;
  if (found.empty()) return StorageErrc::kInvalidRecord;

  std::lock_guard lock(mu_);
  if (offline_) return StorageErrc::kLogDirOffline;
  // Offsets as the leader assigned them: continuing the log end, increasing.
  int64_t prev_last = log_end_offset_ - 1;
  for (const Found& f : found) {
    bool ok = allow_gaps ? f.base_offset > prev_last : f.base_offset == prev_last + 1;
    if (!ok || f.last_offset < f.base_offset) return StorageErrc::kOffsetOutOfOrder;
    prev_last = f.last_offset;
  }
  AppendResult out;
  out.first_offset = found.front().base_offset;
  const int64_t first_leo = log_end_offset_;
  auto fail = [&]() -> Result<AppendResult> {
    mark_offline();
    return StorageErrc::kStorageError;
  };
  std::vector<BatchMeta> metas;
  size_t i = 0;
  while (i < found.size()) {
    Segment* seg = &active();
    if (auto r = seg->ensure_loaded(); !r) return fail();
    const Found& first = found[i];
    bool roll = seg->size() > config_.segment_bytes - first.size || seg->index_full() ||
                first.last_offset - seg->base_offset() > INT32_MAX ||
                (i == 0 && seg->time_to_roll(now_ms, incoming_max_ts, config_.segment_ms));
    if (roll) {
      if (auto r = roll_locked(now_ms, first.base_offset); !r) return fail();
      seg = &active();
    }
    // As many batches as fit this segment (a set larger than segment.bytes
    // is split: a fetch response may well be larger).
    metas.clear();
    size_t j = i;
    int64_t bytes = 0;
    while (j < found.size()) {
      const Found& f = found[j];
      if (j > i && (seg->size() + bytes + f.size > config_.segment_bytes ||
                    f.last_offset - seg->base_offset() > INT32_MAX))
        break;
      metas.push_back({f.size, f.last_offset, f.max_timestamp});
      bytes += f.size;
      ++j;
    }
    if (auto r = seg->append(ByteView(records.data() + first.position, static_cast<size_t>(bytes)), metas); !r)
      return fail();
    log_end_offset_ = found[j - 1].last_offset + 1;
    // Kafka's assignEpochStartOffset, once the bytes are in the log.
    if (epochs) {
      for (size_t k = i; k < j; ++k) {
        if (found[k].leader_epoch < 0 || found[k].leader_epoch <= epochs->latest_epoch()) continue;
        if (auto r = epochs->assign(found[k].leader_epoch, found[k].base_offset); !r) return fail();
      }
    }
    i = j;
  }
  unflushed_messages_ += log_end_offset_ - first_leo;
  if (unflushed_messages_ >= config_.flush_messages && on_flush_needed_) on_flush_needed_();
  out.last_offset = log_end_offset_ - 1;
  out.log_start_offset = log_start_offset_;
  out.log_end_offset = log_end_offset_;
  return out;
}

Result<void> Log::sync_dir() {
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return StorageErrc::kStorageError;
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return StorageErrc::kStorageError;
  return {};
}

void Log::clamp_high_watermark_locked() {
  // INT64_MAX: no partition sets it (all of the log counts as replicated).
  int64_t hw = high_watermark_.load(std::memory_order_relaxed);
  if (hw != std::numeric_limits<int64_t>::max() && hw > log_end_offset_)
    high_watermark_.store(log_end_offset_, std::memory_order_relaxed);
}

Result<void> Log::truncate_to(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms) {
  uint64_t before;
  Result<void> r;
  {
    std::lock_guard lock(mu_);
    before = truncations_;
    r = truncate_locked(offset, epochs, now_ms);
  }
  notify_truncated(before);
  return r;
}

void Log::notify_truncated(uint64_t before) {
  // Outside the lock: the LogManager's checkpoint takes every log's lock.
  bool changed;
  {
    std::lock_guard lock(mu_);
    changed = truncations_ != before && !offline_;
  }
  if (changed && on_truncated_) on_truncated_();
}

Result<void> Log::truncate_locked(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms) {
  if (offline_) return StorageErrc::kLogDirOffline;
  if (offset < 0) return StorageErrc::kOffsetOutOfRange;
  if (offset >= log_end_offset_) return {};
  if (offset < segments_.begin()->first) return truncate_fully_locked(offset, epochs, now_ms);
  auto fail = [&]() -> Result<void> {
    mark_offline();
    return StorageErrc::kStorageError;
  };
  ++truncations_;
  // Newest first: a crash part-way leaves a prefix of the old log.
  while (std::prev(segments_.end())->first > offset) {
    schedule_delete_locked(std::prev(segments_.end()), now_ms);
    if (offline_) return StorageErrc::kStorageError;
  }
  if (auto r = sync_dir(); !r) return fail();
  Segment& seg = active();
  auto cut = seg.truncate_to(offset);
  if (!cut) return fail();
  if (auto r = seg.flush(); !r) return fail();
  int64_t old_end = log_end_offset_;
  log_end_offset_ = seg.next_offset();
  log_start_offset_ = std::min(log_start_offset_, log_end_offset_);
  recovery_point_ = std::min(recovery_point_, log_end_offset_);
  clamp_high_watermark_locked();
  keel::logger("storage")->info("{}: truncated from log end {} to {} (requested {}), {} bytes cut in segment {}", dir_,
                                old_end, log_end_offset_, offset, *cut, seg.base_offset());
  if (epochs) {
    if (auto r = epochs->truncate_from_end(log_end_offset_); !r) return r;
  }
  return {};
}

Result<void> Log::truncate_fully_and_start_at(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms) {
  uint64_t before;
  Result<void> r;
  {
    std::lock_guard lock(mu_);
    before = truncations_;
    if (offline_) return StorageErrc::kLogDirOffline;
    if (offset < 0) return StorageErrc::kOffsetOutOfRange;
    r = truncate_fully_locked(offset, epochs, now_ms);
  }
  notify_truncated(before);
  return r;
}

Result<void> Log::truncate_fully_locked(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms) {
  ++truncations_;
  int64_t old_end = log_end_offset_;
  while (!segments_.empty()) schedule_delete_locked(std::prev(segments_.end()), now_ms);
  // Even after a failed rename the log keeps an (empty) active segment.
  auto seg = Segment::create(dir_, offset, config_, cache_, now_ms);
  if (!seg) {
    mark_offline();
    return StorageErrc::kStorageError;
  }
  segments_.emplace(offset, std::move(*seg));
  log_start_offset_ = log_end_offset_ = recovery_point_ = offset;
  unflushed_messages_ = 0;
  clamp_high_watermark_locked();
  if (offline_) return StorageErrc::kStorageError;
  if (auto r = active().flush(); !r) {
    mark_offline();
    return StorageErrc::kStorageError;
  }
  if (auto r = sync_dir(); !r) {
    mark_offline();
    return StorageErrc::kStorageError;
  }
  keel::logger("storage")->info("{}: truncated fully (log end was {}), starting at {}", dir_, old_end, offset);
  if (epochs) {
    if (auto r = epochs->truncate_from_end(0); !r) return r;
  }
  return {};
}

}  // namespace keel::storage
