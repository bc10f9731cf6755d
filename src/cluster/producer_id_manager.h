#pragma once
// Hands out producer ids for InitProducerId from blocks claimed in the
// coordination store (/latest_producer_id_block, 1000 ids per block, written
// with a compare-and-set so two brokers never get the same block). An id is
// never handed out twice, across threads, blocks and restarts. Thread-safe.

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

#include "common/result.h"

namespace keel::cluster {

class ProducerIdManager {
 public:
  // claim_block returns the next block [first, last] (inclusive).
  using ClaimBlock = std::function<Result<std::pair<int64_t, int64_t>>()>;
  explicit ProducerIdManager(ClaimBlock claim_block) : claim_(std::move(claim_block)) {}

  // Errors: whatever claiming a block failed with.
  Result<int64_t> next_id();

 private:
  ClaimBlock claim_;
  std::mutex mu_;
  int64_t next_ = 0;
  int64_t last_ = -1;  // next_ > last_: the block is used up
};

}  // namespace keel::cluster
