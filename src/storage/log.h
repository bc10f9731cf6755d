#pragma once
// The log of one partition: an ordered set of segments in <dir> (<topic>-<n>).
//
// Contracts:
// - append() validates the batches (parse, CRC, max.message.bytes), assigns
//   offsets by rewriting each batch's base offset in place (and maxTimestamp
//   for LogAppendTime), writes the bytes unchanged and returns the offsets. It
//   never fsyncs: durability is flush() (the LogManager's flusher thread, or
//   shutdown).
// - read() returns file ranges, not bytes, aligned to batch boundaries.
// - An I/O error on append returns kStorageError, leaves the log readable and
//   consistent (the partial write is cut off), and takes the log offline
//   (later appends: kLogDirOffline); on_offline tells the LogManager.
// - Thread-safe: one mutex; fdatasync and file removal happen outside it.
//   read() does its header scan under the mutex (short preads of page cache).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/file_cache.h"
#include "storage/index.h"
#include "storage/leader_epoch_cache.h"
#include "storage/log_config.h"
#include "storage/segment.h"
#include "storage/txn_index.h"

namespace keel::storage {

struct AppendResult {
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t log_append_time = -1;  // -1 unless the topic uses LogAppendTime
  int64_t log_start_offset = 0;
  int64_t log_end_offset = 0;
};

// A byte range of a segment file. `file` keeps the descriptor open even if the
// segment is deleted meanwhile (sendfile it, pread it).
struct FileRange {
  std::shared_ptr<OpenFile> file;
  int64_t position = 0;
  int64_t length = 0;
  int64_t first_offset = 0;
  int64_t end_offset = 0;  // the last batch's last offset + 1 (bounds the aborted-transaction list)
};

struct ReadResult {
  std::vector<FileRange> ranges;  // empty at the log end
  int64_t log_start_offset = 0;
  int64_t log_end_offset = 0;
  int64_t total_bytes() const {
    int64_t n = 0;
    for (const auto& r : ranges) n += r.length;
    return n;
  }
};

struct LogOpenOptions {
  std::string dir;                 // the partition directory (created if missing)
  LogConfig config;
  FileCache* cache = nullptr;      // shared descriptor cache (required, outlives the Log)
  bool clean_shutdown = true;      // false: recover every segment from recovery_point on
  int64_t recovery_point = 0;
  int64_t log_start_offset = 0;    // from log-start-offset-checkpoint (max'ed with the first segment)
  int64_t now_ms = 0;
};

class Log {
 public:
  // Opens or creates the log. Deletes *.deleted/*.tmp/*.cleaned/*.swap
  // leftovers, loads segments and, after an unclean stop, recovers every
  // segment from the one holding the recovery point: the first invalid batch
  // ends the log (truncated there, later segments deleted). Errors: kStorageError.
  static Result<std::unique_ptr<Log>> open(LogOpenOptions options);
  ~Log();

  // records: one or more v2 batches, rewritten in place. Errors:
  // kCorruptMessage, kInvalidRecord, kMessageTooLarge, kRecordListTooLarge,
  // kStorageError (write failed; log now offline), kLogDirOffline.
  // crc_verified: the caller (the produce path's record validation) already
  // checked every batch's CRC, so it is not computed twice; headers, sizes
  // and framing are checked regardless.
  Result<AppendResult> append(std::span<uint8_t> records, int64_t now_ms, bool crc_verified = false);

  // --- Follower replication (log_replica.cc) ---
  // Kafka's appendAsFollower: the leader's batches are written exactly as
  // they came — offsets not reassigned, LogAppendTime not re-stamped,
  // max.message.bytes not enforced. Every batch must parse and its CRC
  // verify (kCorruptMessage); offsets: the first batch's base offset equals
  // the log end offset and each next batch starts right after the previous
  // one's last offset, otherwise kOffsetOutOfOrder and nothing is written.
  // allow_gaps (a compacted leader has holes between batches; Kafka always
  // allows them): a batch may start anywhere above the previous last offset
  // (the first one anywhere at or above the log end); an overlap is still
  // refused. Rolls as append() does (size, segment.ms by the batches'
  // timestamps, full index, int32 relative offsets), a set larger than
  // segment.bytes is split over segments (only one batch larger than
  // segment.bytes is kRecordListTooLarge); a new segment is named by the
  // base offset of its first batch. `epochs` (optional, the partition's
  // cache): each batch whose partitionLeaderEpoch is above the latest epoch
  // assigns (epoch, base offset), after its bytes are written — Kafka's
  // assignEpochStartOffset. Producer state is the caller's. Returns the
  // first batch's base offset, the last batch's last offset, log start and
  // end; log_append_time is -1. Errors also: kInvalidRecord (empty set, bad
  // counts), kStorageError / kLogDirOffline as append() (batches written
  // before a failed write stay; the log end offset covers them).
  Result<AppendResult> append_as_follower(std::span<const uint8_t> records, int64_t now_ms,
                                          LeaderEpochCache* epochs = nullptr, bool allow_gaps = false);
  // Kafka's Log.truncateTo: removes every batch whose last offset >=
  // `offset`. Segments whose base offset > offset are scheduled for deletion
  // (renamed *.deleted, removed after file.delete.delay.ms, as retention),
  // the segment holding `offset` is cut at the first batch whose last offset
  // >= offset — a batch straddling `offset` is removed whole — and its
  // indexes truncated; it becomes the active segment. The new log end offset
  // is that batch's base offset (= `offset` at a batch boundary; Kafka sets
  // the log end offset to `offset` itself, which only differs inside a
  // batch). `epochs`: truncate_from_end(new log end). The high watermark is
  // clamped to the new log end (unless unset), the recovery point too, and
  // the cut file, its indexes and the directory are fdatasynced before it
  // returns, so a crash right after reopens to the same log. offset >= log
  // end: no-op; offset < 0: kOffsetOutOfRange; offset <= the first segment's
  // base offset or below the log start offset: truncate_fully_and_start_at(offset).
  // Concurrent readers: a FileRange taken before into a deleted segment
  // reads the old bytes (descriptor kept); one into the cut segment comes up
  // short (pread returns less, the server closes the connection on a short
  // sendfile) — never a crash (no mmap, no SIGBUS).
  Result<void> truncate_to(int64_t offset, LeaderEpochCache* epochs = nullptr, int64_t now_ms = 0);
  // Kafka's truncateFullyAndStartAt (a follower out of the leader's range):
  // every segment is scheduled for deletion and an empty log starts at
  // `offset`: log start = log end = recovery point = offset, high watermark
  // clamped, `epochs` cleared. Durable (directory fsynced) on return.
  // Errors: kOffsetOutOfRange (offset < 0), kStorageError, kLogDirOffline.
  Result<void> truncate_fully_and_start_at(int64_t offset, LeaderEpochCache* epochs = nullptr, int64_t now_ms = 0);

  // From `offset` up to max_bytes (whole batches; at least one when
  // min_one_batch). offset == log end gives no ranges. Errors: kOffsetOutOfRange.
  Result<ReadResult> read(int64_t offset, int64_t max_bytes, bool min_one_batch = true);
  // The same, bounded by max_offset (the high watermark for consumers): only
  // batches whose last offset is below max_offset (a batch straddling it is
  // left out, as Kafka bounds a fetch by the HW's position). offset >=
  // max_offset gives no ranges. Errors: kOffsetOutOfRange.
  Result<ReadResult> read(int64_t offset, int64_t max_bytes, bool min_one_batch, int64_t max_offset);

  // ListOffsets by time: first record with timestamp >= ts, nullopt if none.
  Result<std::optional<TimestampOffset>> offset_for_timestamp(int64_t ts);
  // ListOffsets MAX_TIMESTAMP (KIP-734): the largest timestamp in the log and
  // the offset of the first record carrying it; nullopt when empty.
  Result<std::optional<TimestampOffset>> max_timestamp_offset();

  int64_t log_start_offset() const;
  int64_t log_end_offset() const;
  int64_t recovery_point() const;
  int64_t size_bytes() const;
  size_t segment_count() const;
  std::vector<int64_t> segment_base_offsets() const;
  bool offline() const { return offline_.load(); }
  const std::string& dir() const { return dir_; }
  // The config is read under the log's lock by append/roll/retention;
  // config() returns a copy for that reason.
  LogConfig config() const;
  // A topic's config changed (AlterConfigs): takes effect from the next
  // append, roll or retention pass.
  void set_config(const LogConfig& config);
  // True when the log was opened without recovery being needed.
  bool recovered() const { return recovered_; }

  // fdatasyncs every segment from the recovery point on; the recovery point
  // becomes the log end offset seen at the start. Not for the request path.
  Result<void> flush(int64_t now_ms = 0);
  int64_t unflushed_messages() const;
  int64_t last_flush_ms() const;

  // DeleteRecords: moves the log start offset forward (to at most the log
  // end) and schedules whole segments below it for deletion. Returns the new
  // log start offset. Errors: kOffsetOutOfRange.
  Result<int64_t> delete_records_before(int64_t offset, int64_t now_ms);
  // retention.ms / retention.bytes: schedules whole segments for deletion,
  // oldest first. The active segment goes too once every record in it has
  // expired (retention.ms) and is below the high watermark, as Kafka does:
  // an empty active segment is rolled in at the log end first, so a quiet
  // topic's day-old data does not wait for segment.ms. Returns the number
  // scheduled.
  Result<int> apply_retention(int64_t now_ms);
  // What retention may delete up to: the partition's high watermark (records
  // a follower may still need are kept). Until a partition sets it, all of
  // the log counts as replicated (a log without a partition, as in tests).
  void set_high_watermark(int64_t hw) { high_watermark_.store(hw, std::memory_order_relaxed); }
  // INT64_MAX until set; truncation clamps a set one to the log end.
  int64_t high_watermark() const { return high_watermark_.load(std::memory_order_relaxed); }
  // Removes *.deleted files whose delay (file.delete.delay.ms) has passed.
  void delete_expired_files(int64_t now_ms);
  size_t pending_deletions() const;

  // Clean close: seals the active segment (indexes trimmed) and flushes all.
  Result<void> close();
  // Forces a roll.
  Result<void> roll(int64_t now_ms);

  // Called (under the log's lock: it must only signal) when an append brings
  // the unflushed messages to flush.messages, so the flusher can run at once.
  void set_on_flush_needed(std::function<void()> fn) { on_flush_needed_ = std::move(fn); }
  // Called after a truncation (truncate_to, truncate_fully_and_start_at),
  // outside the log's lock: the LogManager writes the recovery-point and
  // log-start checkpoints then, as Kafka's LogManager.truncateTo does, so an
  // unclean restart does not trust a recovery point above the new log end.
  void set_on_truncated(std::function<void()> fn) { on_truncated_ = std::move(fn); }
  // Called once when the log goes offline after an I/O error.
  void set_on_offline(std::function<void()> fn) { on_offline_ = std::move(fn); }
  // `own_error`: this log met the I/O error (logged); false: its dir went
  // offline through another log's (the LogManager says so once for the dir).
  void mark_offline(bool own_error = true);

  // --- Transactions (log_txn.cc) ---
  // Records an aborted transaction in the .txnindex of the segment holding
  // its ABORT marker (txn.last_offset, already in the log). An entry whose
  // marker is not after that index's last one is already there (a replay
  // after a restart or truncation): skipped. Errors: kOffsetOutOfRange (the
  // marker is not in the log), kStorageError.
  Result<void> append_aborted_txn(const AbortedTxn& txn);
  // Kafka's collectAbortedTransactions: the aborted transactions whose
  // marker is at or after `start` and whose first offset is below
  // `upper_bound`, from the segment holding `start` onwards until an entry's
  // lastStableOffset reaches `upper_bound`; sorted by first offset.
  Result<std::vector<AbortedTxn>> collect_aborted_txns(int64_t start, int64_t upper_bound);
  // The lowest segment base offset whose .txnindex could not be trusted at
  // open (recovered after an unclean stop, failed its sanity check, or an
  // interrupted compaction swap); -1 when none. The partition replays the
  // log's markers from a producer snapshot at or below it, appending the
  // missing entries, then calls txn_index_rebuilt().
  int64_t txn_index_rebuild_from() const;
  void txn_index_rebuilt();
  // The partition's last stable offset: the cleaner never cleans at or past
  // it (an open transaction's records are neither committed nor aborted
  // yet). INT64_MAX until a partition sets it.
  void set_last_stable_offset(int64_t lso) { last_stable_offset_.store(lso, std::memory_order_relaxed); }
  int64_t last_stable_offset() const { return last_stable_offset_.load(std::memory_order_relaxed); }

  // --- Compaction support (used by Cleaner; see cleaner.h) ---
  // A sealed (non-active) segment as seen at one moment: a handle to read it
  // outside the log's lock, and an identity checked again at swap time.
  struct SealedSegment {
    int64_t base_offset = 0;
    int64_t end_offset = 0;  // the next segment's base offset
    int64_t size = 0;
    std::shared_ptr<OpenFile> file;
    const void* identity = nullptr;
  };
  // Every segment but the active one, oldest first.
  Result<std::vector<SealedSegment>> sealed_segments();
  // The steps of replace_segment, for fault injection in tests.
  enum class SwapStep { kRenamedToSwap, kOldRenamedToDeleted, kSwapRenamedToLog };
  // Swaps `cleaned_path` (a complete, fsynced segment file holding the same
  // offset range) in for the segment `seg`: rename to <base>.log.swap, old
  // files to *.deleted (removed after file.delete.delay.ms; readers keep their
  // descriptors), .swap to .log, indexes rebuilt and trimmed. `txn_entries`
  // is the new segment's aborted-transaction index, written first as
  // <base>.txnindex.cleaned (fsynced) and renamed into place last. Returns
  // false (and removes cleaned_path) when the segment changed or went away
  // since `seg` was taken. A crash at any step is completed by open(): a
  // .swap file becomes the segment, with the .txnindex.cleaned beside it (or
  // none). `hook` (tests) is called after each step.
  Result<bool> replace_segment(const SealedSegment& seg, const std::string& cleaned_path, int64_t now_ms,
                               const std::function<void(SwapStep)>& hook = {},
                               const std::vector<AbortedTxn>& txn_entries = {});

 private:
  explicit Log(LogOpenOptions options);
  Result<void> load();
  // Seals the active segment and starts one at `base` (the log end offset
  // unless given: a follower's first batch after a gap).
  Result<void> roll_locked(int64_t now_ms, int64_t base = -1);
  Result<void> truncate_locked(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms);
  Result<void> truncate_fully_locked(int64_t offset, LeaderEpochCache* epochs, int64_t now_ms);
  void notify_truncated(uint64_t truncations_before);
  Result<void> sync_dir();
  void clamp_high_watermark_locked();
  Segment& active() { return *segments_.rbegin()->second; }
  void schedule_delete_locked(std::map<int64_t, std::unique_ptr<Segment>>::iterator it, int64_t now_ms);

  std::string dir_;
  LogConfig config_;
  FileCache& cache_;
  mutable std::mutex mu_;
  std::map<int64_t, std::unique_ptr<Segment>> segments_;
  struct PendingDelete {
    std::unique_ptr<Segment> segment;
    int64_t due_ms;
  };
  std::vector<PendingDelete> pending_deletes_;
  int64_t log_start_offset_ = 0;
  int64_t log_end_offset_ = 0;
  std::atomic<int64_t> high_watermark_{INT64_MAX};
  std::atomic<int64_t> last_stable_offset_{INT64_MAX};
  int64_t txn_index_rebuild_from_ = -1;
  int64_t recovery_point_ = 0;
  uint64_t truncations_ = 0;  // a flush that saw another count must not move the recovery point
  int64_t unflushed_messages_ = 0;
  int64_t last_flush_ms_ = 0;
  bool clean_shutdown_;
  bool recovered_ = false;
  int64_t open_now_ms_;
  std::atomic<bool> offline_{false};
  std::function<void()> on_offline_;
  std::function<void()> on_flush_needed_;
  std::function<void()> on_truncated_;
  uint64_t rng_state_;
};

}  // namespace keel::storage
