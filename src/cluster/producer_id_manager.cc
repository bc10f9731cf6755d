#include "cluster/producer_id_manager.h"

namespace keel::cluster {

Result<int64_t> ProducerIdManager::next_id() {
  std::lock_guard lock(mu_);
  if (next_ > last_) {
    auto block = claim_();
    if (!block) return block.error();
    next_ = block->first;
    last_ = block->second;
  }
  return next_++;
}

}  // namespace keel::cluster
