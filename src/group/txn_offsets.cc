// GroupMetadataManager's transactional offsets (Kafka's pendingTransactional-
// OffsetCommits and handleTxnCompletion): what TxnOffsetCommit wrote stays
// pending per producer id until the transaction's marker lands on the
// group's __consumer_offsets partition, then becomes the group's committed
// offset (COMMIT) or goes (ABORT). The write itself is store_offsets'
// (metadata_manager.cc), loading them back is the Replay's there.

#include "common/log.h"
#include "group/metadata_manager.h"

namespace keel::group {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("group");
  return l;
}

}  // namespace

void GroupMetadataManager::add_pending_txn(Group& g, int64_t producer_id,
                                           const std::vector<std::pair<TopicPartition, CommittedOffset>>& offsets) {
  if (offsets.empty()) return;
  auto& mine = g.pending_txn_offsets[producer_id];
  for (const auto& [tp, c] : offsets) mine[tp] = c;
  txn_groups_[producer_id].insert(g.group_id);
}

void GroupMetadataManager::forget_txn_group(const Group& g) {
  for (const auto& [producer_id, offsets] : g.pending_txn_offsets) {
    auto it = txn_groups_.find(producer_id);
    if (it == txn_groups_.end()) continue;
    it->second.erase(g.group_id);
    if (it->second.empty()) txn_groups_.erase(it);
  }
}

void GroupMetadataManager::fail_pending_txn(const OffsetCommitWrite& w) {
  Group* g = find(w.group_id);
  if (!g) return;  // deleted meanwhile
  auto mine = g->pending_txn_offsets.find(w.producer_id);
  if (mine == g->pending_txn_offsets.end()) return;  // the marker came first
  for (const auto& [tp, c] : w.offsets) {
    auto it = mine->second.find(tp);
    if (it != mine->second.end() && it->second.record_offset == c.record_offset) mine->second.erase(it);
  }
  if (mine->second.empty()) g->pending_txn_offsets.erase(mine);
}

void GroupMetadataManager::complete_transaction(int32_t partition, int64_t producer_id, bool committed) {
  if (!loaded(partition)) return;
  auto open = txn_groups_.find(producer_id);
  if (open == txn_groups_.end()) return;
  for (auto it = open->second.begin(); it != open->second.end();) {
    Group* g = find(*it);
    if (g && g->partition != partition) {
      ++it;  // another partition's group: its own marker settles it
      continue;
    }
    it = open->second.erase(it);
    if (!g) continue;  // deleted or unloaded since
    auto pending = g->pending_txn_offsets.find(producer_id);
    if (pending == g->pending_txn_offsets.end()) continue;
    if (committed) {
      for (const auto& [tp, c] : pending->second) {
        auto cur = g->offsets.find(tp);
        // A plain commit written after the transaction's stays (Kafka orders
        // them by where they were written, not by when the marker came).
        if (cur != g->offsets.end() && cur->second.record_offset >= c.record_offset) continue;
        g->offsets[tp] = c;
        log()->debug("group {} committed {}-{} at {} (transaction of producer {})", g->group_id, tp.topic,
                     tp.partition, c.offset, producer_id);
      }
    }
    g->pending_txn_offsets.erase(pending);
  }
  if (open->second.empty()) txn_groups_.erase(open);
}

}  // namespace keel::group
