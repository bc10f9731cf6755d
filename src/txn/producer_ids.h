#pragma once
// Where the coordinator gets producer ids: cluster::ProducerIdManager (blocks
// claimed in the coordination store) in the broker, a counter in tests.

#include <cstdint>

#include "cluster/producer_id_manager.h"
#include "common/result.h"

namespace keel::txn {

class ProducerIdSource {
 public:
  virtual ~ProducerIdSource() = default;
  // A producer id never handed out before. Errors: whatever claiming a block
  // failed with (the coordinator answers COORDINATOR_NOT_AVAILABLE, retriable,
  // as Keel's InitProducerId for idempotent producers does).
  virtual Result<int64_t> next_id() = 0;
};

// Over the broker's ProducerIdManager (thread-safe, as it is).
class ClusterProducerIds final : public ProducerIdSource {
 public:
  explicit ClusterProducerIds(cluster::ProducerIdManager& manager) : manager_(manager) {}
  Result<int64_t> next_id() override { return manager_.next_id(); }

 private:
  cluster::ProducerIdManager& manager_;
};

}  // namespace keel::txn
