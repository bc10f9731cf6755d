#pragma once
// What the cleaner knows of transactions while it walks a log in offset
// order (Kafka's CleanedTransactionMetadata):
// - a transactional data batch of a producer inside one of its aborted
//   transactions (from the first offset the .txnindex gives up to its ABORT
//   marker) is aborted: its records are removed, and it is never put in the
//   offset map (an aborted value must not hide a committed one);
// - a marker may be removed once no batch of its transaction is left: an
//   ABORT marker when this walk saw none of the transaction's batches, a
//   COMMIT marker likewise, an already-emptied control batch always. The
//   cleaner removes such a marker only where it removes tombstones (after
//   delete.retention.ms), so a consumer that was reading the transaction
//   still sees how it ended.
// Not thread-safe; one per walk.

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "protocol/record_batch.h"
#include "storage/txn_index.h"

namespace keel::storage {

class AbortedTxnTracker {
 public:
  // `aborted`: the log's aborted transactions whose markers are at or after
  // where the walk starts (Log::collect_aborted_txns), sorted by first offset.
  explicit AbortedTxnTracker(std::vector<AbortedTxn> aborted);

  // A data batch, in offset order: true when its records belong to an
  // aborted transaction.
  bool on_data_batch(const protocol::RecordBatchView& batch);
  // A control batch, in offset order: true when the marker may be removed
  // (no batch of its transaction was seen in this walk).
  bool on_control_batch(const protocol::RecordBatchView& batch);

 private:
  void start_up_to(int64_t offset);
  struct Open {
    AbortedTxn txn;
    bool saw_batch = false;
  };
  std::deque<AbortedTxn> pending_;               // not begun yet, by first offset
  std::unordered_map<int64_t, Open> aborting_;   // producer id -> its aborted transaction under way
  std::unordered_set<int64_t> committing_;       // producers with transactional data not known aborted
};

}  // namespace keel::storage
