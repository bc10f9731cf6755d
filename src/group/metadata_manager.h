#pragma once
// The storage side of the group coordinator (Kafka's GroupMetadataManager):
// the cache of groups and the partitions of __consumer_offsets it is kept in
// (Kafka's record formats, offsets_codec.h). Each group belongs to partition
// partition_for(id); the manager loads a partition's groups back when this
// broker becomes the partition's leader (COORDINATOR_LOAD_IN_PROGRESS until
// the load is done) and drops them when it stops leading it. It writes group
// metadata and offset commits to the partition before the cache takes them,
// answers OffsetFetch, deletes offsets and groups, expires offsets (KIP-211)
// and drops the offsets of deleted partitions, writing tombstones for all
// that goes. A transaction's offsets (TxnOffsetCommit) are written in a
// transactional batch and stay pending per producer id until the
// transaction's marker commits or drops them (txn_offsets.cc).
//
// GroupCoordinator decides what changes (the rebalance protocol); this class
// keeps it. It holds no lock of its own: the coordinator holds its mutex
// around every call, except read_partition, which touches only the log and
// runs without it (other partitions' groups go on while one is read). Appends
// happen under that mutex (a page-cache write), so the log and the cache
// never disagree on order.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "group/group.h"
#include "group/offsets_log.h"

namespace keel::group {

// The settings of __consumer_offsets and of the offsets kept in it.
struct OffsetsConfig {
  int32_t num_partitions = 50;                             // offsets.topic.num.partitions
  int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
  int64_t retention_check_interval_ms = 600000;            // offsets.retention.check.interval.ms
  int32_t max_metadata_bytes = 4096;                       // offset.metadata.max.bytes
  int64_t commit_timeout_ms = 5000;                        // offsets.commit.timeout.ms
};

struct CommitPartition {
  TopicPartition tp;
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::optional<std::string> metadata;
  int64_t commit_timestamp_ms = -1;  // v1's per-partition timestamp; -1: now
};
struct CommitRequest {
  std::string group_id;
  int32_t generation = -1;  // -1: a commit from outside group management
  std::string member_id;
  std::optional<std::string> group_instance_id;
  int64_t retention_ms = -1;  // v2-4's retention_time; -1: the broker's
  std::vector<CommitPartition> partitions;
  // TxnOffsetCommit: the transaction's producer; -1 for an OffsetCommit.
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};

struct FetchedOffset {
  TopicPartition tp;
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
};
struct FetchOffsetsResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<FetchedOffset> partitions;
};

// A write of group metadata or offsets on its way to the ISR (Kafka appends
// them with acks=all, offsets.commit.required.acks' default): appended here
// under the coordinator's mutex, then waited for outside it unless the high
// watermark passed it at once.
struct PendingWrite {
  // The append failed (nothing written): Kafka's mapping for the client.
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int32_t partition = -1;
  int32_t coordinator_epoch = -1;  // the leadership it was written under
  OffsetsAppend append;
  // Appended, the ISR does not have it yet: await_replication.
  bool waiting() const { return error == protocol::ErrorCode::kNone && !append.replicated; }
};

// An offset commit being written (store_offsets, complete_offsets).
struct OffsetCommitWrite {
  std::string group_id;
  int64_t producer_id = -1;  // a transaction's commit (TxnOffsetCommit) when >= 0
  bool transactional() const { return producer_id >= 0; }
  // One per request partition, in request order: final unless
  // write.waiting(), when the written ones get the wait's outcome.
  std::vector<protocol::ErrorCode> errors;
  PendingWrite write;
  std::vector<size_t> written;  // request indexes written
  std::vector<std::pair<TopicPartition, CommittedOffset>> offsets;  // as written, same order
};

// One partition's groups as read back from its log, before the cache takes
// them (read_partition, then complete_load).
struct LoadedPartition {
  int32_t partition = -1;
  int32_t epoch = -1;  // the leadership it was read for
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::map<std::string, Group> groups;
  size_t records = 0;
  size_t skipped = 0;  // undecodable records
};

class GroupMetadataManager {
 public:
  // Called for each group the cache drops with its partition, just before it
  // goes (the coordinator answers the group's waiting members).
  using OnUnloaded = std::function<void(Group&)>;

  GroupMetadataManager(OffsetsConfig config, OffsetsLog& log);
  GroupMetadataManager(const GroupMetadataManager&) = delete;
  GroupMetadataManager& operator=(const GroupMetadataManager&) = delete;

  // Kafka's group -> partition mapping. Needs no lock.
  int32_t partition_for(std::string_view group_id) const;
  // NONE when the group's partition is loaded here, else
  // COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR.
  protocol::ErrorCode check(std::string_view group_id) const;
  // Some partition led here is still loading.
  bool loading() const;

  // --- leadership of __consumer_offsets partitions -------------------------

  // Schedules the partition's load; a newer epoch of a partition already
  // led here unloads it first. False when there is nothing to load (the same
  // leadership again, or no such partition).
  bool on_elected(int32_t partition, int32_t leader_epoch, const OnUnloaded& unloaded);
  // Drops the partition's groups (a load under way is abandoned).
  // leader_epoch: the epoch of the leadership that replaces ours (LeaderAndIsr
  // making this broker a follower); one older than ours is stale and changes
  // nothing (Kafka's coordinator epoch). -1 (StopReplica): unconditional.
  void on_resigned(int32_t partition, int32_t leader_epoch, const OnUnloaded& unloaded);
  // Every partition, as at shutdown.
  void resign_all(const OnUnloaded& unloaded);

  // A load runs in three steps, so that the read needs no lock: next_load
  // (locked) takes a scheduled partition, read_partition (unlocked) reads
  // it, complete_load (locked) gives its groups to the cache unless the
  // leadership changed meanwhile. A failed read is scheduled again.
  bool has_loads() const { return !to_load_.empty(); }
  struct Load {
    int32_t partition;
    int32_t epoch;
  };
  std::optional<Load> next_load();
  LoadedPartition read_partition(Load load) const;
  void complete_load(LoadedPartition loaded, int64_t now);

  // --- the cache -------------------------------------------------------------

  Group* find(const std::string& group_id);
  // A new, empty group in its partition (which must be loaded here).
  Group& add_group(const std::string& group_id, int64_t now);
  // Forgets a group that was never stored (nothing is written).
  void forget_group(const std::string& group_id) { groups_.erase(group_id); }
  // Every group, for the coordinator's passes (timers, ListGroups).
  std::map<std::string, Group>& groups() { return groups_; }
  const std::map<std::string, Group>& groups() const { return groups_; }

  // --- writes and reads ------------------------------------------------------
  // Errors of writes are Kafka's mapping of a failed __consumer_offsets
  // append for the client (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...).

  // Writes the group's metadata: members, generation, leader and protocol,
  // with `assignment` (member id -> bytes) or, when null, the members' own.
  // INVALID_REQUEST when a string is too long for the record. The caller
  // acts on it once it is replicated: at once unless waiting(), else after
  // await_replication, mapping the wait's error with group_write_error.
  PendingWrite store_group(const Group& g, const std::map<std::string, Bytes>* assignment, int64_t now);
  // Writes the commits the coordinator accepted; a transaction's
  // (req.producer_id set) in a transactional batch under its producer id and
  // epoch, kept pending per producer until the marker (complete_transaction)
  // and dropped again if the write fails. Errors per partition:
  // OFFSET_METADATA_TOO_LARGE for metadata over offset.metadata.max.bytes,
  // the write's error for the rest when it failed. Once replicated the
  // offsets go into the group (and OffsetFetch answers them): here when the
  // write is done at once, else complete_offsets after the wait; meanwhile
  // they are pending in the group (Kafka's pendingOffsetCommits).
  OffsetCommitWrite store_offsets(Group& g, const CommitRequest& req, int64_t now);
  // The wait for a commit ended with `replication_error` (the log's):
  // answers mapped into w.errors, the offsets put in the group on success if
  // it is still loaded here under the same leadership and still waits for them.
  void complete_offsets(OffsetCommitWrite& w, protocol::ErrorCode replication_error);
  // acks=all's wait for a write (w.waiting()); `done` gets the log's error,
  // unmapped, on another thread (see OffsetsLog::await_replication). Needs
  // no lock: call it without the coordinator's.
  void await_replication(const PendingWrite& w, OffsetsLog::ReplicatedFn done) const;
  // Kafka's mappings of a failed __consumer_offsets write for the client:
  // group metadata (GroupMetadataManager.storeGroup) and offset commits
  // (storeOffsets).
  static protocol::ErrorCode group_write_error(protocol::ErrorCode e);
  static protocol::ErrorCode offset_write_error(protocol::ErrorCode e);
  // The partition is loaded here under this leadership (a write made under
  // it may still touch the cache).
  bool owns(int32_t partition, int32_t coordinator_epoch) const;
  // OffsetFetch: the committed offsets of `partitions` (-1 for none), or
  // every one the group has when nullopt. require_stable (v7+): a partition
  // with a commit not settled yet (a transaction's without its marker, or
  // one waiting for the ISR) answers UNSTABLE_OFFSET_COMMIT instead.
  FetchOffsetsResult fetch_offsets(const std::string& group_id,
                                   const std::optional<std::vector<TopicPartition>>& partitions,
                                   bool require_stable = false) const;
  // Writes tombstones for the group and its offsets and drops it from the
  // cache (g is gone when this returns NONE).
  protocol::ErrorCode delete_group(Group& g, int64_t now);
  // Writes tombstones for those of `partitions` the group has offsets for
  // and drops them; the group stays, even with no offsets left.
  protocol::ErrorCode delete_offsets(Group& g, const std::vector<TopicPartition>& partitions, int64_t now);
  // A topic's partition was deleted: every loaded group's offsets for it go,
  // and a group left empty with no offsets goes too.
  void on_partition_deleted(const TopicPartition& tp, int64_t now);

  // --- offset expiry ---------------------------------------------------------

  // The next pass comes a check interval after `now` (the timer's start).
  void start_expiry_clock(int64_t now) { last_expiry_ms_ = now; }
  // Runs the expiry pass when offsets.retention.check.interval.ms has passed
  // since the last one. A group that loses its last offsets while empty goes.
  void expire_offsets_if_due(int64_t now);

  // --- transactions ----------------------------------------------------------

  // The marker of producer_id's transaction was written to `partition`
  // (Kafka's handleTxnCompletion): the producer's pending offsets of the
  // groups there become committed offsets — each unless the group has one
  // written after it — or, aborted, are dropped. Nothing is written: the
  // marker in the log says the same to the next load. A partition not
  // loaded here is skipped (its next leader replays the marker).
  void complete_transaction(int32_t partition, int64_t producer_id, bool committed);

 private:
  struct PartitionState {
    bool loaded = false;
    int32_t epoch = -1;
  };

  bool loaded(int32_t partition) const;
  void unload(int32_t partition, const OnUnloaded& unloaded);
  // Appends without waiting for the ISR (what is written here needs no
  // answer to wait for it: Kafka writes tombstones the same way).
  protocol::ErrorCode append(int32_t partition, std::vector<OffsetsRecordBytes> records, int64_t now);
  PendingWrite write(int32_t partition, std::vector<OffsetsRecordBytes> records, int64_t now,
                     std::optional<TxnProducer> txn = std::nullopt);
  void apply_offsets(OffsetCommitWrite& w, protocol::ErrorCode error);
  // A transaction's offsets, written: pending in the group until the marker.
  void add_pending_txn(Group& g, int64_t producer_id,
                       const std::vector<std::pair<TopicPartition, CommittedOffset>>& offsets);
  // Its write failed: the offsets it made pending go (Kafka's
  // failPendingTxnOffsetCommit), unless a later commit replaced them.
  void fail_pending_txn(const OffsetCommitWrite& w);
  // The group leaves the cache: its producers stop naming it.
  void forget_txn_group(const Group& g);
  void expire_offsets(int64_t now);
  // Writes tombstones for `gone` (and for the group itself when it is empty
  // and has nothing left) and drops them from the cache. False when the
  // write failed (nothing changed). `it` moves past the group either way.
  bool remove_offsets(std::map<std::string, Group>::iterator& it, const std::vector<TopicPartition>& gone,
                      int64_t now);

  const OffsetsConfig config_;
  OffsetsLog& log_;

  std::map<std::string, Group> groups_;
  std::map<int32_t, PartitionState> partitions_;  // led by this broker: loading or loaded
  // The newest leader epoch seen per partition, led or not (Kafka's
  // epochForPartitionId): elections and resignations older than it are stale.
  std::map<int32_t, int32_t> epochs_;
  std::set<int32_t> to_load_;
  // The groups each producer has pending transactional offsets in (Kafka's
  // openGroupsForProducer), for the markers; may name groups gone since.
  std::map<int64_t, std::set<std::string>> txn_groups_;
  int64_t last_expiry_ms_ = 0;
};

}  // namespace keel::group
