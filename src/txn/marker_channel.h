#pragma once
// How the coordinator's decisions reach the data: WriteTxnMarkers to the
// leaders of a transaction's partitions (Kafka's TransactionMarkerChannelManager
// sends them; which partition errors are retried is the coordinator's call,
// see coordinator.h). An interface so unit tests record and answer markers;
// the broker's implementation groups partitions by leader and sends one
// WriteTxnMarkers per leader (or writes locally for partitions it leads).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocol/error_code.h"
#include "txn/metadata.h"

namespace keel::txn {

// One transaction's marker for some of its partitions.
struct TxnMarker {
  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  bool commit = false;              // TransactionResult: true = COMMIT, false = ABORT
  int32_t coordinator_epoch = -1;   // the leader epoch of the __transaction_state partition
  int32_t txn_partition = -1;       // which __transaction_state partition decided it
  std::vector<TopicPartition> partitions;
  bool operator==(const TxnMarker&) const = default;
};

struct MarkerResult {
  TopicPartition partition;
  // The leader's answer for the partition; NETWORK_EXCEPTION when the request
  // got no answer (the connection dropped); NOT_LEADER_OR_FOLLOWER when the
  // leader is known but not reachable.
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  // The metadata has no such partition any more (its topic was deleted): no
  // marker is needed, and none was sent.
  bool deleted = false;
};

class MarkerChannel {
 public:
  virtual ~MarkerChannel() = default;
  // Sends `marker` after `delay_ms` (0 at once; the coordinator's retry
  // backoff for a retry) and reports one result per partition of the marker.
  // `done` runs exactly once, on any thread, possibly before send returns:
  // call this holding no lock `done` takes. At shutdown a channel may drop
  // `done` unrun.
  using Done = std::function<void(std::vector<MarkerResult>)>;
  virtual void send(TxnMarker marker, int64_t delay_ms, Done done) = 0;
};

}  // namespace keel::txn
