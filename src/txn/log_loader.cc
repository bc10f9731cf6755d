#include "txn/log_loader.h"

#include <utility>

#include "common/log.h"
#include "txn/log_codec.h"

namespace keel::txn {

void TxnLogReplay::apply(ByteView key, std::optional<ByteView> value) {
  ++records_;
  auto rec = decode_txn_record(key, value);
  if (!rec) {
    ++skipped_;
    keel::logger("txn")->error("{}-{}: skipping an unreadable record: {}", kTransactionStateTopic, partition_,
                               rec.error().message());
    return;
  }
  if (!rec->known_key) {
    ++skipped_;
    keel::logger("txn")->warn("{}-{}: skipping a record with unknown key version {}", kTransactionStateTopic,
                              partition_, rec->key_version);
    return;
  }
  if (!rec->value) {
    transactions_.erase(rec->transactional_id);
    return;
  }
  const TxnLogValue& v = *rec->value;
  TransactionMetadata md(rec->transactional_id, v.producer_id, v.producer_epoch, v.timeout_ms, v.state,
                         v.last_update_ms);
  md.partitions = v.partitions;
  md.start_ms = v.start_ms;
  transactions_.insert_or_assign(rec->transactional_id, std::move(md));
}

LoadedTransactions load_transactions(TxnStateLog& log, int32_t partition) {
  TxnLogReplay replay(partition);
  LoadedTransactions out;
  out.error = log.read_all(partition, [&](ByteView key, std::optional<ByteView> value) { replay.apply(key, value); });
  out.records = replay.records();
  out.skipped = replay.skipped();
  out.transactions = replay.take();
  return out;
}

}  // namespace keel::txn
