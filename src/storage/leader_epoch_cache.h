#pragma once
// A partition's leader-epoch-checkpoint: the first offset written in each
// leader epoch, as Kafka's LeaderEpochFileCache keeps it. Used to answer
// OffsetForLeaderEpoch and to truncate a follower's divergent tail.
//
// File format (Kafka's, in the partition directory):
//   "0\n<count>\n<epoch> <startOffset>\n..." (epochs and offsets ascending)
// Every change is persisted atomically (.tmp, fsync, rename, dir fsync)
// before the call returns. Thread-safe (one mutex).

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace keel::storage {

inline constexpr const char* kLeaderEpochCheckpoint = "leader-epoch-checkpoint";

struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
  bool operator==(const EpochEntry&) const = default;
};

class LeaderEpochCache {
 public:
  // Loads <partition_dir>/leader-epoch-checkpoint (missing = empty).
  // Errors: kBadCheckpoint (bad version, count, line, or entries not
  // ascending), kStorageError.
  static Result<LeaderEpochCache> open(const std::string& partition_dir);
  LeaderEpochCache(LeaderEpochCache&& other) noexcept;

  // Records that `epoch` starts at `start_offset` (a leader's first append in
  // a new epoch, or a batch with a larger partitionLeaderEpoch during
  // recovery). As Kafka: a repeat of the latest epoch at the same or a later
  // offset is a no-op; entries with epoch >= epoch or start >= start_offset
  // are dropped first, so the entries stay monotonic. Negative values:
  // kInvalidRecord. Returns whether the cache changed.
  Result<bool> assign(int32_t epoch, int64_t start_offset);

  // OffsetForLeaderEpoch: (epoch, end offset) for `requested`, given the log
  // end offset. Kafka's rules: the latest epoch ends at the log end; an older
  // known epoch ends where the next one starts, answered with the largest
  // epoch <= requested; a requested epoch below every entry answers
  // (requested, first start); above every entry, or -1: (-1, -1).
  std::pair<int32_t, int64_t> end_offset_for(int32_t requested, int64_t log_end_offset) const;

  // Log truncated to end_offset: drops entries starting at or after it.
  Result<void> truncate_from_end(int64_t end_offset);
  // Log start moved to start_offset: entries wholly before it go; the last
  // one starting before it now starts at start_offset.
  Result<void> truncate_from_start(int64_t start_offset);

  std::vector<EpochEntry> entries() const;
  int32_t latest_epoch() const;  // -1 when empty
  const std::string& path() const { return path_; }

 private:
  explicit LeaderEpochCache(std::string path) : path_(std::move(path)) {}
  Result<void> persist_locked();

  std::string path_;
  mutable std::mutex mu_;
  std::vector<EpochEntry> entries_;  // ascending by epoch and start offset
};

}  // namespace keel::storage
