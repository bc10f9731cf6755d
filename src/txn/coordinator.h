#pragma once
// The transaction coordinator (Kafka's TransactionCoordinator and
// TransactionStateManager): the decisions of InitProducerId with a
// transactional id, AddPartitionsToTxn (v0-v3), AddOffsetsToTxn and EndTxn,
// the KIP-890 part 1 check that a partition is in a producer's transaction,
// DescribeTransactions and ListTransactions, the sweeps that abort timed-out
// transactions and expire unused transactional ids, and the leadership of
// __transaction_state partitions (loading one, completing the transactions a
// previous coordinator left in PrepareCommit/PrepareAbort).
//
// The wire handlers stay in server/: they check ACLs, topics and partitions,
// then call here and encode what comes back. Every answer goes to a callback
// because a state change is only answered once its record is replicated
// (acks=all on __transaction_state). Answers carry Kafka's error codes for
// the request's version (KIP-588: PRODUCER_FENCED only where the version
// knows it, INVALID_PRODUCER_EPOCH before).
//
// What it talks to comes in through interfaces: TxnStateLog (the partitions
// of __transaction_state), ProducerIdSource, MarkerChannel (WriteTxnMarkers)
// and a clock.
//
// Thread-safety: every method may be called from any thread. One mutex
// guards the cache of transactions; it is never held while calling the log,
// the producer id source, the marker channel or a callback (any of which may
// call back in on the same thread). A partition's load runs on the thread
// that calls on_elected, outside the mutex. start() runs the sweeps and
// retries on a timer thread of the coordinator's own. The log and the marker
// channel must have run (or dropped) every callback before the coordinator is
// destroyed.
//
// Files: coordinator.cc (requests and the write path), completion.cc
// (markers, completing transactions, partition leadership), sweeps.cc
// (timeouts, expiry, the timer thread).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "protocol/error_code.h"
#include "txn/marker_channel.h"
#include "txn/metadata.h"
#include "txn/producer_ids.h"
#include "txn/state_log.h"

namespace keel::txn {

struct TxnCoordinatorConfig {
  int32_t num_partitions = 50;                      // transaction.state.log.num.partitions
  int32_t transaction_max_timeout_ms = 900000;      // transaction.max.timeout.ms
  int64_t transactional_id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  // transaction.abort.timed.out.transaction.cleanup.interval.ms
  int64_t abort_timed_out_interval_ms = 10000;
  // transaction.remove.expired.transaction.cleanup.interval.ms
  int64_t remove_expired_interval_ms = 3600000;
  int64_t request_timeout_ms = 30000;          // request.timeout.ms: the wait for tombstone writes
  int64_t retry_backoff_ms = 100;              // before a marker or a completion write is retried
  // How long AddPartitionsToTxn / AddOffsetsToTxn wait for the previous
  // transaction's markers and Complete record before answering
  // CONCURRENT_TRANSACTIONS (add_partitions_to_txn).
  int64_t completion_wait_ms = 1000;
  int64_t max_batch_bytes = 1048588;           // max.message.bytes: tombstones per batch
};

// The request APIs whose fencing error depends on the version (KIP-588).
enum class TxnApi { kInitProducerId, kAddPartitionsToTxn, kAddOffsetsToTxn, kEndTxn };

// PRODUCER_FENCED (90) for the versions that know it (InitProducerId v4+,
// AddPartitionsToTxn / AddOffsetsToTxn / EndTxn v2+), INVALID_PRODUCER_EPOCH
// (47) before, as Kafka's KafkaApis answers; every other code unchanged.
protocol::ErrorCode error_for_version(protocol::ErrorCode error, TxnApi api, int16_t api_version);

struct InitProducerIdRequest {
  std::optional<std::string> transactional_id;  // nullopt: an idempotent producer
  int32_t transaction_timeout_ms = 0;
  int64_t producer_id = kNoProducerId;     // v3+ (KIP-360): the producer's current id, or -1
  int16_t producer_epoch = kNoProducerEpoch;
  int16_t api_version = 0;
};
struct InitProducerIdResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
};
using InitProducerIdCallback = std::function<void(InitProducerIdResult)>;
using ErrorCallback = std::function<void(protocol::ErrorCode)>;

// DescribeTransactions' answer for one id.
struct TxnDescription {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string state;  // Kafka's state name
  int32_t timeout_ms = 0;
  int64_t start_ms = -1;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  // In PrepareCommit/PrepareAbort: only the partitions still awaiting a marker.
  std::vector<TopicPartition> partitions;
};

struct TxnListing {
  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  std::string state;
  int64_t start_ms = -1;  // txnStartTimestamp (ListTransactions v1's DurationFilter)
};
struct TxnListResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<TxnListing> transactions;        // sorted by transactional id
  std::vector<std::string> unknown_state_filters;
};

class TransactionCoordinator {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds since the epoch
  static int64_t system_clock_ms();

  TransactionCoordinator(TxnCoordinatorConfig config, TxnStateLog& log, ProducerIdSource& producer_ids,
                         MarkerChannel& markers, Clock clock = &system_clock_ms);
  ~TransactionCoordinator();  // stops the timer thread
  TransactionCoordinator(const TransactionCoordinator&) = delete;
  TransactionCoordinator& operator=(const TransactionCoordinator&) = delete;

  const TxnCoordinatorConfig& config() const { return config_; }
  int32_t partition_for(std::string_view transactional_id) const;

  // --- requests --------------------------------------------------------------

  // Without a transactional id: a fresh producer id at epoch 0. With one:
  // INVALID_REQUEST for "" (or an id too long for the log's key, or only one
  // of producer id / epoch given), INVALID_TRANSACTION_TIMEOUT for a timeout
  // <= 0 or above transaction.max.timeout.ms; a new id gets a producer id at
  // epoch 0; a known one in Empty/Complete* gets its epoch bumped (a fresh id
  // at epoch 0 once the epoch is exhausted), with KIP-360's rules for a
  // producer that names its current id and epoch; an Ongoing transaction is
  // fenced (epoch bumped, aborted) and answered CONCURRENT_TRANSACTIONS, so
  // the client's retry bumps again; PrepareCommit/PrepareAbort or a pending
  // transition: CONCURRENT_TRANSACTIONS. NOT_COORDINATOR /
  // COORDINATOR_LOAD_IN_PROGRESS when this broker does not (yet) own the
  // id's partition; COORDINATOR_NOT_AVAILABLE when the write could not be
  // replicated (or no producer id could be allocated).
  void init_producer_id(const InitProducerIdRequest& req, InitProducerIdCallback done);

  // AddPartitionsToTxn v0-v3 for the partitions the handler accepted (one
  // error for all of them): INVALID_PRODUCER_ID_MAPPING for an unknown id or
  // another producer id, PRODUCER_FENCED for another epoch,
  // CONCURRENT_TRANSACTIONS while a transition is pending or the transaction
  // is in PrepareCommit/PrepareAbort, NONE at once (no write) when every
  // partition is already in the Ongoing transaction; else the transaction
  // becomes Ongoing with them (its start time set when it opens).
  // The next transaction's first request usually arrives while the previous
  // one's markers are still being written (EndTxn is answered when the
  // PrepareCommit is replicated): rather than CONCURRENT_TRANSACTIONS, which
  // clients retry only after a backoff (librdkafka and Java: 20 ms), such a
  // request waits for this coordinator's completion of the previous
  // transaction, up to completion_wait_ms, and is then decided again.
  void add_partitions_to_txn(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                             const std::set<TopicPartition>& partitions, int16_t api_version, ErrorCallback done);

  // AddOffsetsToTxn: adds the __consumer_offsets partition that holds the
  // group (the group coordinator's partition_for_group, computed by the
  // handler as KafkaApis does) as add_partitions_to_txn does.
  void add_offsets_to_txn(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                          int32_t offsets_partition, int16_t api_version, ErrorCallback done);

  // EndTxn: Ongoing -> PrepareCommit/PrepareAbort, answered NONE once that is
  // replicated, then the markers go out and CompleteCommit/CompleteAbort is
  // written when every partition has its marker. A retry after the end:
  // NONE for the same result, CONCURRENT_TRANSACTIONS while its markers are
  // pending; the other result, or EndTxn without a transaction (Empty):
  // INVALID_TXN_STATE. The epoch must match exactly (else PRODUCER_FENCED).
  void end_txn(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch, bool commit,
               int16_t api_version, ErrorCallback done);

  // KIP-890 part 1, for the partition leader before a producer's first
  // transactional append to a partition: NONE per partition in the
  // transaction, INVALID_TXN_STATE per partition that is not; one error for
  // all on an unknown id, another producer, another epoch (PRODUCER_FENCED)
  // or a transaction in PrepareCommit/PrepareAbort (CONCURRENT_TRANSACTIONS).
  std::map<TopicPartition, protocol::ErrorCode> verify_partitions(const std::string& transactional_id,
                                                                  int64_t producer_id, int16_t producer_epoch,
                                                                  const std::set<TopicPartition>& partitions);

  // DescribeTransactions for one id: TRANSACTIONAL_ID_NOT_FOUND when unknown
  // (or expiring), INVALID_REQUEST for "", NOT_COORDINATOR /
  // COORDINATOR_LOAD_IN_PROGRESS.
  TxnDescription describe(const std::string& transactional_id);

  // ListTransactions over the partitions this broker owns, filtered by
  // producer id and state name (an empty filter takes all); Dead ids are never
  // listed. COORDINATOR_LOAD_IN_PROGRESS while any partition loads.
  TxnListResult list(const std::set<int64_t>& producer_ids, const std::set<std::string>& states);

  // --- leadership of __transaction_state ------------------------------------

  // This broker now leads `partition` at leader epoch `coordinator_epoch`:
  // the partition's ids answer COORDINATOR_LOAD_IN_PROGRESS while it is read
  // back from the log (on the calling thread, which should be a loader
  // thread), then PrepareCommit/PrepareAbort transactions have their markers
  // sent again. A read error leaves the partition unowned (NOT_COORDINATOR)
  // rather than half-loaded. A newer election or a resignation meanwhile wins.
  // A partition loaded and not resigned since is kept as it is, with its
  // coordinator epoch (the same leadership at a newer leader epoch; the log
  // accepts writes of the epoch while the leadership lasts).
  void on_elected(int32_t partition, int32_t coordinator_epoch);

  // This broker no longer leads `partition`: its ids are dropped (answers
  // NOT_COORDINATOR) and their pending markers and completions abandoned.
  // With an epoch, a state loaded at a newer epoch is kept (a stale notice).
  void on_resigned(int32_t partition, std::optional<int32_t> coordinator_epoch);

  // --- sweeps (sweeps.cc) ------------------------------------------------------

  // Ongoing transactions older than their timeout (start + timeout < now) are
  // fenced (epoch + 1) and aborted, so their producer's next request fails.
  void abort_timed_out_transactions();
  // Ids in Empty/Complete* not updated for transactional.id.expiration.ms get
  // a tombstone and leave the cache once it is replicated.
  void remove_expired_transactional_ids();
  // Completion writes that failed with COORDINATOR_NOT_AVAILABLE, again.
  void retry_completions();
  // Runs whichever of the above are due by the clock; returns the
  // milliseconds until the next is due.
  int64_t run_due();
  // The timer thread calling run_due. stop() is idempotent.
  void start();
  void stop();

  // --- for tests and admin ----------------------------------------------------

  // A copy of the id's metadata, if this broker owns and has it.
  std::optional<TransactionMetadata> metadata(const std::string& transactional_id);
  // The coordinator epoch of a loaded partition.
  std::optional<int32_t> coordinator_epoch(int32_t partition);
  size_t pending_marker_count();

 private:
  struct PartitionState {
    int32_t coordinator_epoch = -1;
    std::map<std::string, TransactionMetadata> transactions;
  };
  // Where an id's metadata stands, under mu_.
  struct Lookup {
    protocol::ErrorCode error = protocol::ErrorCode::kNone;  // NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS
    PartitionState* partition = nullptr;
    TransactionMetadata* metadata = nullptr;  // null: the id is unknown
  };
  // A transaction whose markers are out; `complete` is written once every
  // partition has its marker (Kafka's PendingCompleteTxn).
  struct PendingCompletion {
    std::string transactional_id;
    int32_t coordinator_epoch = -1;
    bool commit = false;
    TxnTransit complete;
    // The completion's phases, for the debug line written with the Complete
    // record (steady clock; unset after a failover's reload).
    std::chrono::steady_clock::time_point end_txn_at{}, prepared_at{}, markers_done_at{};
  };

  // Microseconds from `from` to `to` (default: now), for the debug timings.
  static int64_t micros_since(std::chrono::steady_clock::time_point from,
                              std::chrono::steady_clock::time_point to = std::chrono::steady_clock::now()) {
    return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
  }

  Lookup lookup_locked(const std::string& transactional_id);
  // The checks every producer request starts with: the lookup's error, an
  // unknown id or another producer id (INVALID_PRODUCER_ID_MAPPING), another
  // epoch (PRODUCER_FENCED); NONE when the id and epoch are the current ones.
  static protocol::ErrorCode producer_error(const Lookup& found, int64_t producer_id, int16_t producer_epoch);

  // The write path (Kafka's appendTransactionToLog): writes `transit` for the
  // id under `coordinator_epoch`, then completes the transition, or clears
  // the pending state when the write failed (unless retry_on says the caller
  // will retry with the same pending state). `done` gets NONE or the
  // coordinator's error for the write.
  void append_transit(const std::string& transactional_id, int32_t coordinator_epoch, TxnTransit transit,
                      std::function<bool(protocol::ErrorCode)> retry_on, ErrorCallback done);
  void on_transit_appended(const std::string& transactional_id, int32_t coordinator_epoch,
                           const TxnTransit& transit, const std::function<bool(protocol::ErrorCode)>& retry_on,
                           protocol::ErrorCode error, const ErrorCallback& done);

  // AddPartitionsToTxn's body, answering unmapped errors.
  // wait_until_ms: how long it may wait for a completion in progress (-1:
  // a new request, completion_wait_ms from now).
  void add_partitions(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                      const std::set<TopicPartition>& partitions, ErrorCallback answer, int64_t wait_until_ms = -1);
  // An AddPartitionsToTxn waiting for the completion of the id's previous
  // transaction (add_partitions_to_txn).
  struct ParkedAdd {
    int64_t producer_id = kNoProducerId;
    int16_t producer_epoch = kNoProducerEpoch;
    std::set<TopicPartition> partitions;
    int64_t wait_until_ms = 0;
    ErrorCallback answer;
    std::chrono::steady_clock::time_point parked_at{};  // for the debug line when it is released
  };
  // Decides the id's parked requests again (after each write for the id).
  void release_parked(const std::string& transactional_id);
  // Decides again the parked requests whose wait is over at `now` (the
  // timer); returns when the next one's wait ends (INT64_MAX: none parked).
  int64_t release_expired_parked(int64_t now);
  // EndTxn's body; from_client=false for the coordinator's own aborts
  // (fencing, timeouts), whose epoch may be ahead of the metadata's.
  void end_transaction(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                       bool commit, bool from_client, ErrorCallback done);
  void after_prepare_written(const std::string& transactional_id, int32_t coordinator_epoch, int64_t producer_id,
                             int16_t producer_epoch, bool commit, bool epoch_fence,
                             std::chrono::steady_clock::time_point end_txn_at, protocol::ErrorCode error,
                             const ErrorCallback& done);

  // completion.cc
  TxnMarker marker_for(const PendingCompletion& pc, const TransactionMetadata& md) const;
  void send_markers(TxnMarker marker, int64_t delay_ms);
  void on_marker_results(const TxnMarker& marker, const std::vector<MarkerResult>& results);
  void maybe_write_completion(const std::string& transactional_id);
  void write_completion(PendingCompletion pc);
  // The debug line with the completion's phases, once its Complete record is written.
  void log_completion_timing(const PendingCompletion& pc);
  void drop_partition_work_locked(int32_t partition);
  // on_resigned's body, under the mutex.
  void forget_partition(int32_t partition, std::optional<int32_t> coordinator_epoch);

  void wake_timer();

  const TxnCoordinatorConfig config_;
  TxnStateLog& log_;
  ProducerIdSource& producer_ids_;
  MarkerChannel& markers_;
  const Clock clock_;

  std::mutex mu_;
  std::map<int32_t, PartitionState> partitions_;        // loaded partitions
  std::map<int32_t, int32_t> loading_;                  // partition -> epoch being loaded
  std::map<std::string, PendingCompletion> pending_markers_;
  std::vector<PendingCompletion> completion_retries_;
  std::map<std::string, std::vector<ParkedAdd>> parked_adds_;
  int64_t next_abort_sweep_ms_ = -1;    // -1: not scheduled yet (first run_due schedules)
  int64_t next_expiry_sweep_ms_ = -1;
  int64_t next_retry_ms_ = 0;           // when completion_retries_ are due

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;
  bool timer_woken_ = false;
  std::thread timer_;
};

}  // namespace keel::txn
