#include "cluster/producer_id_manager.h"

#include <system_error>

namespace keel::cluster {

Result<int64_t> ProducerIdManager::next_id() {
  std::lock_guard lock(mu_);
  if (next_ > last_) {
    auto block = claim_();
    if (!block) return block.error();
    // An empty or negative block would hand out ids nobody claimed.
    if (block->first < 0 || block->second < block->first) {
      return std::make_error_code(std::errc::result_out_of_range);
    }
    next_ = block->first;
    last_ = block->second;
  }
  return next_++;
}

}  // namespace keel::cluster
