#pragma once
// One log segment: <base offset, 20 digits>.log with its .index and .timeindex.
//
// The .log holds whole v2 batches back to back, written with pwrite(2) at the
// segment's end; a failed or short write is cut back off (ftruncate) so the
// file always ends at a batch boundary. The indexes are filled as Kafka's
// LogSegment does: when more than index.interval.bytes were appended since
// the last entry, the next batch gets an offset entry (its last offset, its
// position) and a time entry (max timestamp so far, the offset carrying it).
//
// State of an opened (not freshly created) segment — next offset, max
// timestamp, indexes — is loaded lazily (ensure_loaded), so a broker with
// many partitions reads nothing until a segment is used. Not thread-safe: the
// owning Log serialises calls; the file handles it returns are shared.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "storage/file_cache.h"
#include "storage/index.h"
#include "storage/log_config.h"
#include "storage/txn_index.h"

namespace keel::storage {

// Header fields of one batch found while scanning a .log.
struct BatchHeader {
  int64_t position = 0;
  int32_t size = 0;  // 12 + batchLength
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int64_t max_timestamp = -1;
};

// What append() needs to know about each batch it writes (already validated).
struct BatchMeta {
  int32_t size;
  int64_t last_offset;
  int64_t max_timestamp;
};

// A byte range of one segment file, aligned to batch boundaries.
struct SegmentSlice {
  int64_t position = 0;
  int64_t length = 0;
  int64_t first_offset = 0;  // base offset of the first batch in the slice
  int64_t end_offset = 0;    // last offset of the last batch in the slice, plus one
};

std::string segment_file_name(int64_t base_offset, const char* suffix);  // "000…0042.log"

class Segment {
 public:
  // New empty segment (files created, indexes preallocated).
  static Result<std::unique_ptr<Segment>> create(const std::string& dir, int64_t base_offset,
                                                 const LogConfig& config, FileCache& cache, int64_t now_ms);
  // Existing segment; nothing is read until ensure_loaded()/recover().
  static Result<std::unique_ptr<Segment>> open(const std::string& dir, int64_t base_offset,
                                               const LogConfig& config, FileCache& cache);
  ~Segment();

  int64_t base_offset() const { return base_offset_; }
  int64_t size() const { return size_; }
  const std::string& log_path() const { return log_.path; }
  bool loaded() const { return loaded_; }

  // Loads the indexes (rebuilding them from the log when they fail the sanity
  // check) and scans the tail after the last index entry for the next offset
  // and max timestamp. Idempotent.
  Result<void> ensure_loaded();
  // Recovery: reads every batch (length, magic, CRC, offsets), rebuilds both
  // indexes and truncates the .log at the first invalid byte. Returns the
  // number of bytes truncated. The aborted-transaction index keeps the
  // entries whose markers survived (a torn index is deleted); entries lost
  // with the crash come back from the partition's replay of the markers
  // (Log::txn_index_rebuild_from).
  Result<int64_t> recover();

  int64_t next_offset() const { return next_offset_; }  // after ensure_loaded
  int64_t max_timestamp() const { return max_timestamp_; }
  // The last offset of the batch holding max_timestamp() (-1 when empty).
  int64_t offset_of_max_timestamp() const { return offset_of_max_timestamp_; }
  bool index_full() const { return offset_index_->full() || time_index_->full(); }
  size_t offset_index_entries() const { return offset_index_->size(); }
  size_t time_index_entries() const { return time_index_->size(); }
  // Kafka's segment.ms rule (see Log::append).
  bool time_to_roll(int64_t now_ms, int64_t incoming_max_timestamp, int64_t segment_ms) const;

  // Writes `bytes` (the batches described by `metas`, offsets assigned) at the
  // end. Errors: kStorageError (the segment is unchanged), kLogDirOffline (the
  // partial write could not be cut off).
  Result<void> append(ByteView bytes, const std::vector<BatchMeta>& metas);

  // Batches from the first one whose last offset >= start, up to max_bytes
  // (always the first whole batch when min_one_batch), within [0, max_position).
  Result<std::optional<SegmentSlice>> read(int64_t start, int64_t max_bytes, int64_t max_position,
                                           bool min_one_batch);
  // First record with timestamp >= ts and offset >= start_offset.
  Result<std::optional<TimestampOffset>> find_offset_by_timestamp(int64_t ts, int64_t start_offset);
  // Position of the first batch whose last offset >= offset (size() if none).
  Result<int64_t> position_of(int64_t offset);

  // Log truncation (Kafka's LogSegment.truncateTo): cuts the .log at the
  // first batch whose last offset >= offset — a batch straddling `offset` goes
  // whole — drops the index entries past the cut, grows the indexes back to
  // their preallocated size (the segment becomes the active one) and
  // recomputes the next offset and max timestamp. Returns the bytes cut.
  // Not synced: the Log fdatasyncs.
  Result<int64_t> truncate_to(int64_t offset);

  // Roll/close: force the final time index entry, trim both indexes, free
  // the .log's blocks reserved past its end.
  Result<void> seal();
  // Grows trimmed index files back to their preallocated size (reopened active segment).
  Result<void> preallocate_indexes();
  // A segment whose .log was replaced (compaction swap): rebuilds both
  // indexes from the log and trims them as a sealed segment.
  Result<void> rebuild_sealed();
  Result<void> flush();
  // Descriptors to fdatasync (log, and indexes when loaded) — lets the Log
  // sync outside its lock.
  Result<std::vector<std::shared_ptr<OpenFile>>> sync_handles();
  Result<std::shared_ptr<OpenFile>> log_file();
  // Renames all files to *.deleted (open handles stay valid).
  Result<void> rename_to_deleted();
  void remove_files();

  // The segment's aborted-transaction index (<base>.txnindex, created on
  // its first entry). Truncation, retention and deletion take it along.
  TransactionIndex& txn_index() { return *txn_index_; }

  int64_t created_ms() const { return created_ms_; }
  int64_t roll_jitter_ms = 0;

 private:
  Segment(const std::string& dir, int64_t base_offset, const LogConfig& config, FileCache& cache);
  Result<void> index_batch(const BatchHeader& h);
  // Scans headers from `start` while fn returns true; stops at the end, a
  // partial or malformed header. Returns the position where it stopped.
  Result<int64_t> scan(int64_t start, int64_t end, const std::function<bool(const BatchHeader&)>& fn);
  Result<void> rebuild_indexes();
  // Recomputes next offset, max timestamp and bytes since the last index
  // entry from the indexes and a scan of the log after the last offset entry.
  // Returns where the scan stopped (size() when the log ends in whole batches).
  Result<int64_t> load_tail();
  void reset_state();
  void reserve_ahead(int fd, int64_t incoming);
  Result<void> release_reserved();

  std::string dir_;
  int64_t base_offset_;
  const LogConfig& config_;
  FileCache& cache_;
  FileSlot log_;
  std::unique_ptr<OffsetIndex> offset_index_;
  std::unique_ptr<TimeIndex> time_index_;
  std::unique_ptr<TransactionIndex> txn_index_;
  bool loaded_ = false;
  int64_t size_ = 0;
  int64_t next_offset_;
  int64_t max_timestamp_ = -1;
  int64_t offset_of_max_timestamp_ = -1;
  std::optional<int64_t> first_batch_timestamp_;
  int64_t bytes_since_index_entry_ = 0;
  int64_t created_ms_ = 0;
  int64_t reserved_end_ = 0;     // the .log's blocks are reserved up to here (reserve_ahead)
  bool reserve_failed_ = false;  // fallocate failed once: no more tries for this segment
};

}  // namespace keel::storage
