#pragma once
// Kafka's sparse segment indexes, byte-compatible with its files.
//
//   .index      8-byte entries: relativeOffset i32 | position i32
//   .timeindex 12-byte entries: timestamp i64 | relativeOffset i32
//
// Entries live in memory (a vector) and reach the file with pwrite(2) in
// persist() — called before every fdatasync of the segment and on seal — not
// one syscall per entry: an index is only relied on below the recovery point,
// which moves only after a flush, and everything above it is rebuilt by
// recovery. No mmap, so a full disk gives an error value instead of SIGBUS.
// A new index file is preallocated (ftruncate, sparse) to segment.index.bytes
// rounded down to the entry size; trim() cuts it to the used size on roll and
// close. load() reads an existing file, drops trailing all-zero entries (the
// unused preallocated tail) and checks the entries; a caller that gets an
// error rebuilds the index from the log: an index is never trusted blindly.
// Not thread-safe: the owning Log serialises access.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/file_cache.h"

namespace keel::storage {

struct OffsetPosition {
  int64_t offset = 0;
  int64_t position = 0;
};

struct TimestampOffset {
  int64_t timestamp = -1;
  int64_t offset = -1;
};

// File side shared by both indexes.
class IndexFile {
 public:
  IndexFile(FileCache& cache, std::string path, size_t entry_size, int32_t max_index_bytes);
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  const std::string& path() const { return slot_.path; }
  size_t max_entries() const { return max_entries_; }
  // Renames the file (e.g. to *.deleted). Open handles keep working.
  Result<void> rename(const std::string& new_path);
  Result<void> remove();
  Result<void> flush();
  // Grows the file back to its preallocated size (an active segment reopened).
  Result<void> preallocate();
  Result<std::shared_ptr<OpenFile>> handle() { return cache_.get(slot_); }

 protected:
  Result<void> reset_file();  // truncate to 0 then preallocate
  Result<std::vector<uint8_t>> read_file();
  Result<void> trim_file(size_t entries);
  Result<void> write_entries(size_t first, const std::vector<uint8_t>& raw);
  // Cuts the file to `entries` entries and grows it back to the preallocated
  // size: the dropped entries read as zeros (the unused tail) afterwards.
  Result<void> cut_file(size_t entries);
  // Drops the entries from the first with relative offset >= rel (ascending)
  // and cuts the file when some of them were on it.
  template <class Entry>
  Result<void> truncate_entries(std::vector<Entry>& entries, size_t& persisted, int64_t rel) {
    auto it = std::lower_bound(entries.begin(), entries.end(), rel,
                               [](const Entry& e, int64_t r) { return e.relative_offset < r; });
    size_t keep = static_cast<size_t>(it - entries.begin());
    size_t on_file = persisted;
    entries.resize(keep);
    persisted = std::min(persisted, keep);
    if (on_file <= keep) return {};
    return cut_file(keep);
  }

  FileCache& cache_;
  FileSlot slot_;
  size_t entry_size_;
  size_t max_entries_;
};

class OffsetIndex : public IndexFile {
 public:
  static constexpr size_t kEntrySize = 8;
  OffsetIndex(FileCache& cache, std::string path, int64_t base_offset, int32_t max_index_bytes)
      : IndexFile(cache, std::move(path), kEntrySize, max_index_bytes), base_offset_(base_offset) {}

  // Starts an empty, preallocated file (overwriting any).
  Result<void> create();
  // Reads the file; errors (kCorruptMessage) when an entry is out of order,
  // negative or points at or past log_size.
  Result<void> load(int64_t log_size);
  bool full() const { return entries_.size() >= max_entries_; }
  size_t size() const { return entries_.size(); }
  // Appends (offset, position); ignored unless offset exceeds the last entry's.
  Result<void> append(int64_t offset, int64_t position);
  // Greatest entry with offset <= target, or {base_offset, 0}.
  OffsetPosition lookup(int64_t target) const;
  std::optional<OffsetPosition> last() const;
  // Log truncation (Kafka's OffsetIndex.truncateTo): drops the entries with
  // offset >= `offset`; the file is cut to the kept entries and grown back
  // to its preallocated size (zeros), so no stale entry survives a reopen.
  Result<void> truncate_to(int64_t offset);
  // Writes the entries not yet in the file.
  Result<void> persist();
  Result<void> trim() {
    if (auto r = persist(); !r) return r;
    return trim_file(entries_.size());
  }

 private:
  struct Entry {
    int32_t relative_offset;
    int32_t position;
  };
  int64_t base_offset_;
  std::vector<Entry> entries_;
  size_t persisted_ = 0;
};

class TimeIndex : public IndexFile {
 public:
  static constexpr size_t kEntrySize = 12;
  TimeIndex(FileCache& cache, std::string path, int64_t base_offset, int32_t max_index_bytes)
      : IndexFile(cache, std::move(path), kEntrySize, max_index_bytes), base_offset_(base_offset) {}

  Result<void> create();
  // Errors (kCorruptMessage) when timestamps or offsets decrease or an offset
  // is below the base offset or above max_offset.
  Result<void> load(int64_t max_offset);
  bool full() const { return entries_.size() >= max_entries_; }
  size_t size() const { return entries_.size(); }
  // Adds (timestamp, offset) only when timestamp is greater than the last
  // entry's (Kafka's maybeAppend). skip_full_check: the final entry forced at roll.
  Result<void> maybe_append(int64_t timestamp, int64_t offset, bool skip_full_check = false);
  // Greatest entry with timestamp <= ts, or {-1, base_offset}.
  TimestampOffset lookup(int64_t ts) const;
  std::optional<TimestampOffset> last() const;
  // Log truncation: drops the entries whose offset >= `offset`; the file as
  // OffsetIndex::truncate_to.
  Result<void> truncate_to(int64_t offset);
  Result<void> persist();
  Result<void> trim() {
    if (auto r = persist(); !r) return r;
    return trim_file(entries_.size());
  }

 private:
  struct Entry {
    int64_t timestamp;
    int32_t relative_offset;
  };
  int64_t base_offset_;
  std::vector<Entry> entries_;
  size_t persisted_ = 0;
};

}  // namespace keel::storage
