#pragma once
// The log cleaner (cleanup.policy=compact): keeps the latest record of every
// key, as Kafka's LogCleaner does. See docs/storage.md "Compaction".
//
// One pass over one Log:
// 1. The cleanable range is the sealed segments (never the active one) up to
//    the first segment whose largest timestamp is younger than
//    min.compaction.lag.ms (Kafka's segment granularity).
// 2. The dirty section is the part of that range at or after
//    `first_dirty_offset` (the cleaner checkpoint). Its records give the map
//    key -> latest offset (full keys, no hashing: exact, memory ~ dirty keys).
// 3. Every cleanable segment (clean and dirty) is filtered: a record stays
//    when its key has no later offset in the map. Batches that keep every
//    record are copied byte for byte; others are re-encoded with the same
//    codec, header fields and original offsets (never renumbered); an emptied
//    batch is dropped, except the last batch of a producer id, kept as an
//    empty header so producer state survives (Kafka's RETAIN_EMPTY).
//    Transactions (cleaner_txn.h): records of aborted transactions are
//    removed and never enter the offset map; a marker is removed only once
//    no batch of its transaction is left and, like a tombstone, only from an
//    already-clean segment older than delete.retention.ms; a rewritten
//    segment's .txnindex keeps the entries whose markers stay. Nothing at or
//    past the log's last stable offset is cleanable.
//    Records without a key are removed (Kafka's cleaner counts them invalid
//    and drops them; the produce path already refuses them on compacted topics).
// 4. Tombstones (null value) are removed only in segments that were already
//    clean when the pass began and whose file mtime is more than
//    delete.retention.ms old. The cleaner sets a segment's mtime to the pass
//    time when it first cleans it and preserves it on later rewrites, so the
//    mtime is "when this segment was first cleaned" (Kafka's pre-KIP-534
//    rule, which also uses the cleaned segment's last-modified time).
// 5. A changed segment is written to <base>.log.cleaned, fsynced and swapped
//    in with Log::replace_segment (crash-safe, see log.h).
//
// Not thread-safe per log: the LogManager runs one pass at a time. Appends,
// reads and retention go on meanwhile (a segment removed or changed under
// the cleaner is simply skipped at swap time).

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "storage/log.h"

namespace keel::storage {

struct CleanerStats {
  int64_t segments_scanned = 0;
  int64_t segments_rewritten = 0;
  int64_t records_read = 0;
  int64_t records_removed = 0;
  int64_t bytes_before = 0;  // of the cleanable range
  int64_t bytes_after = 0;
  // The new cleaner checkpoint: end of the cleanable range (unchanged when
  // nothing was cleanable, or the pass was aborted).
  int64_t cleaned_up_to = 0;
  bool aborted = false;  // should_stop said so; segments swapped before stay swapped
};

// What the LogManager needs to choose a log to clean.
struct DirtyInfo {
  int64_t clean_bytes = 0;  // sealed segments wholly below first_dirty_offset
  int64_t dirty_bytes = 0;  // the other sealed segments
  // Largest timestamp of the first batch of the first dirty segment (-1 if none).
  int64_t first_dirty_timestamp = -1;
  double ratio() const {
    int64_t total = clean_bytes + dirty_bytes;
    return total == 0 ? 0.0 : static_cast<double>(dirty_bytes) / static_cast<double>(total);
  }
};

class Cleaner {
 public:
  // The fault hook (tests) is called after each step of a segment's swap:
  // the .cleaned file written and fsynced, then Log::replace_segment's steps.
  enum class Step { kCleanedWritten, kRenamedToSwap, kOldRenamedToDeleted, kSwapRenamedToLog };
  // should_stop (the LogManager's shutdown) is polled between batches: a pass
  // that sees it true stops at once, leaves the segment it was writing
  // untouched (its .cleaned file removed) and reports aborted.
  explicit Cleaner(std::function<void(Step)> fault_hook = {}, std::function<bool()> should_stop = {})
      : hook_(std::move(fault_hook)), should_stop_(std::move(should_stop)) {}

  static Result<DirtyInfo> dirty_info(Log& log, int64_t first_dirty_offset);
  // Kafka's rule: dirty ratio >= min.cleanable.dirty.ratio, or the oldest
  // dirty record is older than max.compaction.lag.ms; and something is dirty.
  static bool needs_cleaning(const DirtyInfo& info, const LogConfig& config, int64_t now_ms);

  // One pass (see above). Errors: kStorageError (I/O; the log is unchanged or
  // consistently swapped segment by segment).
  Result<CleanerStats> clean(Log& log, int64_t first_dirty_offset, int64_t now_ms);

 private:
  bool stopping() const { return should_stop_ && should_stop_(); }
  std::function<void(Step)> hook_;
  std::function<bool()> should_stop_;
};

}  // namespace keel::storage
