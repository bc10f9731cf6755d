#include "storage/cleaner_txn.h"

#include "storage/txn_marker.h"

namespace keel::storage {

AbortedTxnTracker::AbortedTxnTracker(std::vector<AbortedTxn> aborted) : pending_(aborted.begin(), aborted.end()) {}

void AbortedTxnTracker::start_up_to(int64_t offset) {
  while (!pending_.empty() && pending_.front().first_offset <= offset) {
    aborting_[pending_.front().producer_id] = Open{pending_.front(), false};
    pending_.pop_front();
  }
}

bool AbortedTxnTracker::on_data_batch(const protocol::RecordBatchView& batch) {
  start_up_to(batch.last_offset());
  if (!batch.is_transactional() || batch.producer_id() < 0) return false;
  auto it = aborting_.find(batch.producer_id());
  if (it != aborting_.end() && batch.base_offset() <= it->second.txn.last_offset) {
    it->second.saw_batch = true;
    return true;
  }
  committing_.insert(batch.producer_id());
  return false;
}

bool AbortedTxnTracker::on_control_batch(const protocol::RecordBatchView& batch) {
  start_up_to(batch.last_offset());
  const int64_t pid = batch.producer_id();
  auto type = control_type(batch);
  if (!type) return true;  // emptied by an earlier pass: nothing left to describe
  if (*type == static_cast<int16_t>(ControlType::kAbort)) {
    committing_.erase(pid);
    auto it = aborting_.find(pid);
    if (it == aborting_.end()) return true;
    const bool saw = it->second.saw_batch;
    aborting_.erase(it);
    return !saw;
  }
  if (*type == static_cast<int16_t>(ControlType::kCommit)) return committing_.erase(pid) == 0;
  return false;  // a control type Keel does not know: kept
}

}  // namespace keel::storage
