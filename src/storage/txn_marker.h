#pragma once
// Transaction markers: the control batches that end a transaction on a
// partition, in Kafka's format. A marker is a v2 batch with the
// transactional (0x10) and control (0x20) attribute bits, the producer's id
// and epoch, base sequence -1, and one record:
//   key   = version int16 (0) | type int16 (ABORT = 0, COMMIT = 1)
//   value = version int16 (0) | coordinatorEpoch int32
// (Kafka's ControlRecordType and EndTransactionMarker.)

#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/record_batch.h"

namespace keel::storage {

enum class ControlType : int16_t { kAbort = 0, kCommit = 1 };

struct TxnMarker {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  bool commit = false;
  int32_t coordinator_epoch = 0;
};

// The marker batch at base offset 0 with `timestamp` (the coordinator's clock
// is not in it: Kafka stamps markers with the leader's time).
Result<Bytes> build_marker_batch(const TxnMarker& marker, int64_t timestamp, int32_t partition_leader_epoch = -1);

// The control type of a control batch (any version-0 key), nullopt for a
// data batch, an empty control batch (a cleaned one) or an unreadable key.
std::optional<int16_t> control_type(const protocol::RecordBatchView& batch);
// The marker a control batch carries: nullopt unless it is a COMMIT or ABORT
// marker with a readable key and value.
std::optional<TxnMarker> parse_marker(const protocol::RecordBatchView& batch);

}  // namespace keel::storage
