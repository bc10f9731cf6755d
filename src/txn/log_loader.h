#pragma once
// Rebuilding a __transaction_state partition's transactions from its log when
// this broker becomes the partition's leader (Kafka's
// TransactionStateManager.loadTransactionMetadata): records are replayed in
// offset order, the last value of an id wins, a tombstone removes the id.
// Loaded metadata has no last epoch (-1: it is never stored) and no pending
// state; what to do with ids left in PrepareCommit/PrepareAbort (send their
// markers again) is the coordinator's.
//
// Unlike Kafka, which stops loading at the first record it cannot read, a
// malformed record is logged, counted and skipped, so one bad record does not
// cost every id after it. A key version Keel does not know is skipped, as
// Kafka skips it. Not thread-safe; the coordinator loads outside its mutex.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "protocol/error_code.h"
#include "txn/metadata.h"
#include "txn/state_log.h"

namespace keel::txn {

class TxnLogReplay {
 public:
  explicit TxnLogReplay(int32_t partition) : partition_(partition) {}

  // One record, in offset order.
  void apply(ByteView key, std::optional<ByteView> value);

  const std::map<std::string, TransactionMetadata>& transactions() const { return transactions_; }
  std::map<std::string, TransactionMetadata> take() { return std::move(transactions_); }
  size_t records() const { return records_; }
  size_t skipped() const { return skipped_; }

 private:
  int32_t partition_;
  std::map<std::string, TransactionMetadata> transactions_;
  size_t records_ = 0;
  size_t skipped_ = 0;
};

struct LoadedTransactions {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;  // the log's read error, if any
  std::map<std::string, TransactionMetadata> transactions;
  size_t records = 0;
  size_t skipped = 0;
};

// Reads `partition` from the log start to its end and replays it.
LoadedTransactions load_transactions(TxnStateLog& log, int32_t partition);

}  // namespace keel::txn
