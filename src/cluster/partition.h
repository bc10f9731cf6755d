#pragma once
// One partition replica on this broker: its log, its leader state (from the
// controller), and the high watermark.
//
// The high watermark is the smallest log end offset among the ISR (this
// broker's own log end, and each follower's as reported by its fetches —
// followers arrive with the multi-broker issue; today the ISR the controller
// gives a single broker is {itself}). Consumers read below it; acks=all
// completes when it passes the appended batch.
//
// Thread-safety: leader state and the high watermark are under one mutex,
// held for the append (so offsets, producer checks and HW move together) and
// for reading the positions, never across a wait.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cluster/producer_state.h"
#include "cluster/record_validation.h"
#include "cluster/replica_selector.h"
#include "cluster/replication_quota.h"
#include "protocol/error_code.h"
#include "protocol/types.h"
#include "storage/checkpoint.h"
#include "storage/leader_epoch_cache.h"
#include "storage/log.h"

namespace keel::cluster {

using storage::TopicPartition;

// What the produce path needs of a topic's config (copied from TopicConfig).
struct PartitionConfig {
  ProduceValidationConfig validation;
  int32_t min_insync_replicas = 1;
  // The replication throttles' replica lists (replication_quota.h).
  ThrottledReplicas leader_throttled;
  ThrottledReplicas follower_throttled;
};

struct LeaderState {
  int32_t leader = -1;
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
};

struct AppendOutcome {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  int64_t base_offset = -1;
  int64_t log_append_time = -1;
  int64_t log_start_offset = -1;
  int64_t last_offset = -1;
  // Which leadership of this broker the records were appended under
  // (Partition::leads_in_term()).
  uint64_t leader_term = 0;
};

enum class Isolation : int8_t { kReadUncommitted = 0, kReadCommitted = 1 };

struct ReadOutcome {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<storage::FileRange> ranges;
  int64_t bytes = 0;
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
  int64_t log_end_offset = -1;
  // read_committed consumer fetches only (Fetch v4+): the aborted
  // transactions overlapping the returned data, sorted by first offset
  // (empty when nothing was returned); nullopt for read_uncommitted and
  // followers, which must get a null list.
  std::optional<std::vector<storage::AbortedTxn>> aborted_transactions;
  // Set when the request's last fetched epoch shows the fetcher's log has
  // diverged from ours (KIP-320/KIP-595): the largest epoch the two logs
  // share and where it ends here. No records then.
  std::optional<std::pair<int32_t, int64_t>> diverging_epoch;
};

class Partition : public std::enable_shared_from_this<Partition> {
 public:
  Partition(TopicPartition tp, protocol::Uuid topic_id, storage::Log* log, int32_t local_broker_id);

  const TopicPartition& tp() const { return tp_; }
  const protocol::Uuid& topic_id() const { return topic_id_; }
  storage::Log& log() { return *log_; }

  // The controller's decision for this partition. Returns false (and changes
  // nothing) when `state` is older than what we have (lower leader epoch).
  bool apply_leader_state(const LeaderState& state);
  LeaderState leader_state() const;
  bool is_leader() const;
  // This broker leads the partition in leadership term `term`. The term
  // counts this broker's leaderships of the partition: it goes up each time
  // the broker becomes leader after not being one (not on the epoch bumps of
  // an ISR change). Records appended in one term and replicated are safe to
  // acknowledge only while the term lasts: a broker that was a follower in
  // between may have truncated them.
  bool leads_in_term(uint64_t term) const;
  // The term this broker leads the partition in, if it has led it without a
  // break since leader epoch `epoch` (the term began at that epoch or
  // before, and the partition is at that epoch or after): what a
  // coordinator that loaded the partition at `epoch` may still write under.
  std::optional<uint64_t> term_led_since(int32_t epoch) const;
  void set_config(std::shared_ptr<const PartitionConfig> config);
  std::shared_ptr<const PartitionConfig> config() const;

  // Produce on the leader. `records` were validated by validate_produce_records.
  // acks: 0, 1 or -1 (all). Errors: NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS
  // (acks=all and ISR smaller than min.insync.replicas), storage errors.
  AppendOutcome append_as_leader(const ValidatedRecords& records, int16_t acks, int64_t now_ms);

  // Fetch from a consumer (max offset = high watermark) or, with from_replica,
  // a follower (max offset = log end). current_leader_epoch -1 = unchecked.
  // last_fetched_epoch (Fetch v12+, -1 = none) is the epoch of the batch
  // before `offset` in the fetcher's log; as in Kafka, when our log ends that
  // epoch before `offset`, or never had it, the answer is diverging_epoch
  // instead of records.
  // Errors: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH,
  // OFFSET_OUT_OF_RANGE (also for a last fetched epoch newer than any we
  // know), KAFKA_STORAGE_ERROR.
  //
  // leader_only false (a consumer's Fetch v11+, KIP-392): a follower answers
  // too, up to its own high watermark, as Kafka's follower fetching does: an
  // offset between its high watermark and its log end is an empty answer, one
  // past its log end OFFSET_OUT_OF_RANGE (the consumer goes back to the leader).
  ReadOutcome read(int64_t offset, int64_t max_bytes, bool min_one_batch, int32_t current_leader_epoch,
                   Isolation isolation, bool from_replica, int32_t last_fetched_epoch = -1,
                   bool leader_only = true);

  // KIP-392, on the leader: the replicas a consumer at `fetch_offset` may be
  // sent to (Kafka's findPreferredReadReplica): this leader, and each ISR
  // follower whose log end has reached the offset, with its log end and time
  // since it was last caught up (`now_ms` on update_follower's clock). Racks
  // are left for the caller. Empty unless this replica leads.
  std::vector<ReplicaView> read_replica_candidates(int64_t fetch_offset, int64_t now_ms) const;

  int64_t high_watermark() const;
  // Kafka's lastStableOffset: the first offset of the earliest transaction
  // still open (or completed by a marker the high watermark has not passed),
  // else the high watermark. read_committed fetches read below it;
  // ListOffsets(LATEST, read_committed) answers it.
  int64_t last_stable_offset() const;
  // DescribeProducers: every producer this partition knows.
  std::vector<ProducerView> producers() const;
  // Whether the producer has a transaction open here at that epoch.
  bool has_open_txn(int64_t producer_id, int16_t producer_epoch) const;

  // WriteTxnMarkers on the leader: appends the COMMIT or ABORT marker of
  // `producer_id`'s transaction (a control batch, Kafka's format), closes
  // the transaction, records an abort in the .txnindex and moves the last
  // stable offset once the high watermark passes the marker. The marker
  // counts as acks=all: min.insync.replicas is checked, and the caller waits
  // for the high watermark to pass `last_offset` (as for an acks=all
  // produce) before it tells the coordinator. Errors: NOT_LEADER_OR_FOLLOWER,
  // NOT_ENOUGH_REPLICAS, INVALID_PRODUCER_EPOCH (epoch older than the
  // producer's), TRANSACTION_COORDINATOR_FENCED (coordinator epoch older than
  // the last marker's for this producer), storage errors.
  AppendOutcome append_txn_marker(int64_t producer_id, int16_t producer_epoch, bool commit,
                                  int32_t coordinator_epoch, int64_t now_ms);
  int64_t log_end_offset() const { return log_->log_end_offset(); }
  int64_t log_start_offset() const { return log_->log_start_offset(); }

  // Checks a client's current_leader_epoch against ours: NONE,
  // FENCED_LEADER_EPOCH (client's is older) or UNKNOWN_LEADER_EPOCH (newer).
  protocol::ErrorCode check_leader_epoch(int32_t current_leader_epoch) const;

  // OffsetForLeaderEpoch: (epoch, end offset) from the leader-epoch cache.
  std::pair<int32_t, int64_t> end_offset_for_epoch(int32_t requested) const;
  // The leader epoch the record at `offset` was written in, from the
  // leader-epoch cache (Kafka's epochForOffset); -1 when the cache has none.
  // ListOffsets answers it beside each offset.
  int32_t epoch_for_offset(int64_t offset) const;
  // DeleteRecords moved the log start: the epoch cache follows.
  void log_start_moved(int64_t log_start_offset);

  // --- the leader's side of replication
  // A follower's Fetch (replica id `replica`) says its log ends at
  // `fetch_offset`: the leader records it and moves the high watermark (the
  // smallest log end of the ISR). A follower outside the ISR that has reached
  // the high watermark (and the start of the current leader epoch) is asked
  // back into the ISR. Returns whether the high watermark moved.
  bool update_follower(int32_t replica, int64_t fetch_offset, int64_t now_ms);

  // ISR changes go to the controller (AlterPartition, KIP-497): the leader
  // proposes, the controller decides, and the answer comes back to
  // on_isr_change. While one is in flight no other is proposed, and the high
  // watermark counts the "maximal" ISR (the current one and the proposed one).
  struct IsrChange {
    TopicPartition tp;
    protocol::Uuid topic_id;
    int32_t leader_epoch = 0;
    int32_t partition_epoch = 0;
    std::vector<int32_t> new_isr;
  };
  struct IsrChangeResult {
    protocol::ErrorCode error = protocol::ErrorCode::kNone;
    int32_t leader_epoch = 0;
    int32_t partition_epoch = 0;
    std::vector<int32_t> isr;
  };
  using IsrSender = std::function<void(const IsrChange&, std::function<void(const IsrChangeResult&)>)>;
  void set_isr_sender(IsrSender sender);
  // Followers in the ISR that have not caught up with the leader's log end
  // for `lag_ms` (replica.lag.time.max.ms) are proposed out of it.
  void maybe_shrink_isr(int64_t now_ms, int64_t lag_ms);

  // --- the follower's side (cluster/replica_fetcher.h)
  struct FollowerFetch {
    int64_t fetch_offset = 0;         // this replica's log end
    int32_t last_fetched_epoch = -1;  // the newest epoch in its leader-epoch cache
    int32_t leader_epoch = -1;        // the leader epoch it follows (current_leader_epoch)
    int64_t log_start_offset = 0;
  };
  // nullopt unless this replica follows another broker now.
  std::optional<FollowerFetch> follower_fetch() const;
  // Appends what the leader sent, as the leader wrote it (a trailing partial
  // batch is left for the next fetch); the follower's high watermark becomes
  // min(leader_hw, its log end). `leader_epoch`: the epoch the fetch was made
  // in; a stale answer (the replica moved on) is dropped. Errors:
  // NOT_LEADER_OR_FOLLOWER (stale), CORRUPT_MESSAGE, storage errors.
  protocol::ErrorCode append_as_follower(std::span<uint8_t> records, int64_t leader_hw, int32_t leader_epoch);
  // The leader answered a diverging epoch: truncate to the smaller of its end
  // offset for that epoch and ours (Kafka's truncation on fetch).
  protocol::ErrorCode truncate_to_divergence(int32_t epoch, int64_t leader_end_offset, int32_t leader_epoch);
  // The fetch offset is below the leader's log start: start afresh there.
  protocol::ErrorCode restart_at(int64_t leader_log_start, int32_t leader_epoch);

  // Writes the producer-state snapshot at the log end (clean shutdown).
  void snapshot_producer_state();
  size_t producer_count() const;

  // Called (outside the lock) after each successful append and each move of
  // the high watermark, on the thread that made it: the purgatory completes
  // the fetches and produces that satisfies right there.
  void set_on_append(std::function<void(const TopicPartition&)> fn) { on_append_ = std::move(fn); }

 private:
  protocol::ErrorCode check_leader_epoch_locked(int32_t current_leader_epoch) const;
  void update_high_watermark_locked();

  const TopicPartition tp_;
  const protocol::Uuid topic_id_;
  storage::Log* const log_;
  const int32_t local_broker_id_;
  mutable std::mutex mu_;
  LeaderState state_;
  bool has_state_ = false;
  uint64_t leader_term_ = 0;
  int32_t term_start_epoch_ = -1;  // the leader epoch leader_term_ began at
  int64_t high_watermark_ = 0;
  // What the leader knows of each follower (Kafka's Replica state).
  struct FollowerState {
    int64_t leo = -1;                    // its log end, from its last fetch (-1: not yet)
    int64_t last_caught_up_ms = 0;       // when it last had everything we had
    int64_t last_fetch_leader_leo = -1;  // our log end at its previous fetch
    int64_t last_fetch_ms = 0;
  };
  std::map<int32_t, FollowerState> followers_;
  std::optional<std::vector<int32_t>> pending_isr_;  // an ISR change in flight
  // The controller's last refusal of an ISR change: the same refusal again (a
  // follower in controlled shutdown asked back in on every fetch) logs at debug.
  std::optional<std::pair<protocol::ErrorCode, std::vector<int32_t>>> last_isr_refusal_;
  IsrSender isr_sender_;
  // Marks `new_isr` pending and returns the change to send (outside the lock).
  std::optional<IsrChange> propose_isr_locked(std::vector<int32_t> new_isr);
  void send_isr_change(IsrChange change);
  void on_isr_change(const IsrChange& change, const IsrChangeResult& result);
  std::shared_ptr<const PartitionConfig> config_;
  std::atomic<bool> served_follower_read_{false};  // logged once: a follower serving consumers
  std::function<void(const TopicPartition&)> on_append_;
  ProducerStateManager producers_;
  std::optional<storage::LeaderEpochCache> epochs_;  // nullopt when the checkpoint could not be read
  size_t segments_at_last_snapshot_ = 0;
  void rebuild_producer_state();
  // The leader's checks before an append: NOT_LEADER_OR_FOLLOWER, and with
  // acks_all NOT_ENOUGH_REPLICAS (ISR below min.insync.replicas). Sets
  // out.leader_term; false with out.error set when the append may not go on.
  bool may_append_locked(bool acks_all, AppendOutcome& out) const;
  // A marker is in the log (appended or replayed): close its transaction,
  // index an abort.
  protocol::ErrorCode apply_marker_locked(const MarkerBatch& marker);
  // The high watermark or the open transactions changed: the stable offset
  // follows (producer state, and the log's bound for the cleaner).
  int64_t last_stable_offset_locked() const;
  void stable_offset_changed_locked();
  bool following_locked(int32_t leader_epoch) const;
  void after_truncation_locked();

};

}  // namespace keel::cluster
