// Log operations for transactions: the aborted-transaction indexes of the
// segments (contracts in log.h, format in txn_index.h).

#include <algorithm>

#include "storage/errors.h"
#include "storage/log.h"

namespace keel::storage {

Result<void> Log::append_aborted_txn(const AbortedTxn& txn) {
  std::lock_guard lock(mu_);
  if (offline_) return StorageErrc::kLogDirOffline;
  if (txn.last_offset < segments_.begin()->first || txn.last_offset >= log_end_offset_)
    return StorageErrc::kOffsetOutOfRange;
  auto it = std::prev(segments_.upper_bound(txn.last_offset));
  if (auto r = it->second->txn_index().append(txn); !r) {
    mark_offline();
    return r;
  }
  return {};
}

Result<std::vector<AbortedTxn>> Log::collect_aborted_txns(int64_t start, int64_t upper_bound) {
  std::vector<AbortedTxn> out;
  {
    std::lock_guard lock(mu_);
    auto it = segments_.upper_bound(start);
    if (it != segments_.begin()) --it;
    // A marker past upper_bound may still end a transaction that began
    // below it: only an entry's lastStableOffset says nothing later matters.
    for (; it != segments_.end(); ++it) {
      auto complete = it->second->txn_index().collect(start, upper_bound, out);
      if (!complete) return complete.error();
      if (*complete) break;
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AbortedTxn& a, const AbortedTxn& b) { return a.first_offset < b.first_offset; });
  return out;
}

int64_t Log::txn_index_rebuild_from() const {
  std::lock_guard lock(mu_);
  return txn_index_rebuild_from_;
}

void Log::txn_index_rebuilt() {
  std::lock_guard lock(mu_);
  txn_index_rebuild_from_ = -1;
}

}  // namespace keel::storage
