#pragma once
// The aborted-transaction index of one segment: <base offset>.txnindex, in
// Kafka's format (ON-DISK-FORMAT.md): 34-byte entries, big-endian,
//   version int16 (0) | producerId int64 | firstOffset int64 |
//   lastOffset int64 (the ABORT marker's offset) | lastStableOffset int64
// one per transaction aborted by a marker in this segment, in marker order.
// A read_committed Fetch answers its AbortedTransactions from these entries.
//
// The file is created on the first append only (most segments never have
// one). Entries are read once and kept in memory (an index holds one entry
// per aborted transaction: small). Not thread-safe: the owning Segment's Log
// serialises calls.
//
// Crash behaviour: appends are not synced (Segment::sync_handles returns the
// descriptor for the log's flush). A file that fails the sanity check
// (length not a multiple of 34, a version other than 0, last offsets not
// increasing or outside the segment) is reported by load(); the Log then
// deletes it and has the partition rebuild it from the log's markers.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "storage/file_cache.h"

namespace keel::storage {

struct AbortedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = -1;
  int64_t last_offset = -1;         // offset of the ABORT marker
  int64_t last_stable_offset = -1;  // the LSO once this transaction completed
  bool operator==(const AbortedTxn&) const = default;
};

inline constexpr size_t kAbortedTxnEntrySize = 34;
inline constexpr int16_t kAbortedTxnVersion = 0;
inline constexpr const char* kTxnIndexSuffix = ".txnindex";

Bytes encode_aborted_txns(const std::vector<AbortedTxn>& entries);
// nullopt unless the bytes are whole version-0 entries whose last offsets
// increase and lie in [base_offset, end_offset) (end_offset < 0: unbounded).
std::optional<std::vector<AbortedTxn>> decode_aborted_txns(ByteView bytes, int64_t base_offset,
                                                           int64_t end_offset = -1);

class TransactionIndex {
 public:
  TransactionIndex(FileCache& cache, std::string path, int64_t base_offset);
  ~TransactionIndex();
  TransactionIndex(const TransactionIndex&) = delete;
  TransactionIndex& operator=(const TransactionIndex&) = delete;

  const std::string& path() const { return slot_.path; }
  // Reads the file (once). Errors: kCorruptMessage (fails the sanity check;
  // end_offset >= 0: also a marker at or past it), kStorageError. A missing
  // file is an empty index.
  Result<void> load(int64_t end_offset = -1);
  // Appends `txn` (file created when missing). An entry whose last offset is
  // not above the last entry's is already here (a replay): skipped, Ok.
  Result<void> append(const AbortedTxn& txn);
  // Every entry, in marker order.
  Result<std::vector<AbortedTxn>> entries();
  bool empty();
  // Kafka's collectAbortedTxns: adds the entries with last offset >=
  // fetch_offset and first offset < upper_bound to `out`; returns true
  // (complete: no later segment can matter) once an entry's lastStableOffset
  // reaches upper_bound.
  Result<bool> collect(int64_t fetch_offset, int64_t upper_bound, std::vector<AbortedTxn>& out);
  // Drops the entries whose marker is at or after `offset` (log truncation).
  Result<void> truncate_to(int64_t offset);
  // Replaces the whole contents (written to <path>.tmp, fsynced, renamed;
  // an empty list removes the file).
  Result<void> replace(const std::vector<AbortedTxn>& entries);
  // Deletes the file; the index is empty afterwards.
  void reset();

  // The descriptor to fdatasync, when the file exists.
  Result<std::optional<std::shared_ptr<OpenFile>>> sync_handle();
  // Renames the file (when it exists) — *.deleted for retention.
  Result<void> rename(const std::string& to);
  void remove();

 private:
  Result<void> ensure_loaded();
  FileCache& cache_;
  FileSlot slot_;
  int64_t base_offset_;
  std::optional<std::vector<AbortedTxn>> entries_;  // loaded contents
  bool exists_ = false;                             // the file is on disk
};

}  // namespace keel::storage
