#pragma once
// The consumer group coordinator (Kafka's classic GroupCoordinator): members
// join, the leader assigns, everyone syncs, heartbeats keep members alive,
// static members come back under new ids, and the group state machine moves
// on session, join and sync deadlines. What is stored — the groups' cache,
// the partitions of __consumer_offsets it is loaded from, offset commits,
// fetches, deletion and expiry — is the GroupMetadataManager's
// (metadata_manager.h); the coordinator checks each request against the
// protocol's rules and calls the manager for what is kept.
//
// Thread-safety: one mutex guards every group and the manager. Appends to
// __consumer_offsets happen under it (a page-cache write), so the log and the
// cache never disagree on order; the wait for the ISR to have them (acks=all,
// as Kafka writes group metadata and offset commits) happens outside it, and
// what depends on the write (the commit's answer and cache update, the
// SyncGroup answers and the Stable state) runs under it again once the high
// watermark passed the write. Callbacks (the JoinGroup, SyncGroup and
// OffsetCommit answers) are run after the lock is released. A timer thread expires
// sessions, ends join and sync phases and runs the manager's offset expiry;
// a loader thread has the manager load partitions.
//
// coordinator.cc holds the threads, the leadership and the APIs over stored
// groups; rebalance.cc the join/sync/heartbeat/leave rules.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "group/group.h"
#include "group/metadata_manager.h"
#include "group/offsets_log.h"

namespace keel::group {

// The rebalance protocol's settings, with those of the offsets' storage.
struct CoordinatorConfig : OffsetsConfig {
  int32_t min_session_timeout_ms = 6000;           // group.min.session.timeout.ms
  int32_t max_session_timeout_ms = 1800000;        // group.max.session.timeout.ms
  int32_t initial_rebalance_delay_ms = 3000;       // group.initial.rebalance.delay.ms
  int32_t max_size = INT32_MAX;                    // group.max.size
  int64_t new_member_join_timeout_ms = 300000;     // Kafka's fixed 5 minutes
};

struct JoinRequest {
  std::string group_id;
  std::string member_id;  // empty: a new member
  std::optional<std::string> group_instance_id;
  std::string protocol_type;
  std::vector<std::pair<std::string, Bytes>> protocols;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;  // v0: the session timeout
  std::string client_id;
  std::string client_host;
  bool require_known_member_id = false;  // v4+: a new member first gets MEMBER_ID_REQUIRED
  bool supports_skip_assignment = false; // v9+
};

struct SyncRequest {
  std::string group_id;
  int32_t generation = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::optional<std::string> protocol_type;  // v5+
  std::optional<std::string> protocol_name;  // v5+
  std::vector<std::pair<std::string, Bytes>> assignments;  // the leader's
};

struct LeaveMember {
  std::string member_id;  // may be empty for a static member named by instance id
  std::optional<std::string> group_instance_id;
};
struct LeaveResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<protocol::ErrorCode> members;  // one per LeaveMember, same order
};

struct CommitResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;  // for every partition when set
  std::vector<protocol::ErrorCode> partitions;             // same order as the request
};
using CommitCallback = std::function<void(CommitResult)>;

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  Bytes metadata;
  Bytes assignment;
};
struct GroupDescription {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string group_id;
  std::string state;
  std::string protocol_type;
  std::string protocol;
  std::vector<MemberDescription> members;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};
struct ListGroupsResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<GroupListing> groups;
};

struct DeleteOffsetsResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<protocol::ErrorCode> partitions;
};

// Consumer lag of one partition: committed offset, the partition's end
// (high watermark) and their difference.
struct PartitionLag {
  TopicPartition tp;
  int64_t committed = -1;
  int64_t end_offset = -1;
  int64_t lag = -1;  // -1 when the end is unknown (the partition is not here)
};

class GroupCoordinator {
 public:
  GroupCoordinator(CoordinatorConfig config, OffsetsLog& log, std::function<int64_t()> now_ms);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // The timer and loader threads. Without start() (unit tests) call tick()
  // and run_loads() by hand.
  void start();
  // Answers every waiting JoinGroup/SyncGroup with NOT_COORDINATOR and stops
  // the threads. Idempotent.
  void shutdown();

  int32_t partition_for(std::string_view group_id) const;
  // NONE when this broker coordinates the group now, else
  // COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR.
  protocol::ErrorCode check(std::string_view group_id) const;

  // Leadership of __consumer_offsets partitions (from the replica manager):
  // the manager loads the partition's groups on the loader thread, or drops
  // them, answering their waiting members NOT_COORDINATOR.
  // The leader epoch is the coordinator epoch: a resignation older than the
  // leadership it would end is stale and ignored; -1 (StopReplica) always
  // resigns.
  void on_elected(int32_t partition, int32_t leader_epoch);
  void on_resigned(int32_t partition, int32_t leader_epoch = -1);
  // A topic's partition was deleted: every group's offsets for it go
  // (tombstones written), and a group left empty with no offsets goes too.
  void on_partition_deleted(const TopicPartition& tp);

  void join_group(JoinRequest req, JoinCallback done);
  void sync_group(SyncRequest req, SyncCallback done);
  protocol::ErrorCode heartbeat(const std::string& group_id, int32_t generation, const std::string& member_id,
                                const std::optional<std::string>& group_instance_id);
  LeaveResult leave_group(const std::string& group_id, const std::vector<LeaveMember>& members);
  // Answers once the commit is replicated to the ISR (at once on one broker),
  // or failed: Kafka's errors (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
  // REQUEST_TIMED_OUT after offsets.commit.timeout.ms, ...). `done` runs on
  // this thread or, after a wait, on the purgatory's.
  void commit_offsets(const CommitRequest& req, CommitCallback done);
  // The same, waiting for the answer (blocks the calling thread for up to
  // offsets.commit.timeout.ms).
  CommitResult commit_offsets(const CommitRequest& req);
  // TxnOffsetCommit: the offsets are written in the transaction of
  // req.producer_id/producer_epoch and stay pending (not answered by
  // OffsetFetch) until its marker (on_transaction_completed). Kafka's checks:
  // a commit from outside group management (generation -1, no member id, no
  // instance id) is taken by any group; otherwise (KIP-447, v3) the member
  // must be the group's (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID) in its
  // generation (ILLEGAL_GENERATION). Answers as commit_offsets.
  void txn_commit_offsets(const CommitRequest& req, CommitCallback done);
  // topics nullopt: every offset the group has. require_stable (OffsetFetch
  // v7+): UNSTABLE_OFFSET_COMMIT for a partition whose commit is not settled.
  FetchOffsetsResult fetch_offsets(const std::string& group_id,
                                   const std::optional<std::vector<TopicPartition>>& partitions,
                                   bool require_stable = false);
  GroupDescription describe_group(const std::string& group_id);
  // Empty filters match everything; states by Kafka's names, any case.
  ListGroupsResult list_groups(const std::vector<std::string>& states, const std::vector<std::string>& types);
  protocol::ErrorCode delete_group(const std::string& group_id);
  DeleteOffsetsResult delete_offsets(const std::string& group_id, const std::vector<TopicPartition>& partitions);
  // Lag of every partition the group has committed; end_offset gives a
  // partition's high watermark, or nullopt when it is not hosted here.
  std::vector<PartitionLag> lag(const std::string& group_id,
                                const std::function<std::optional<int64_t>(const TopicPartition&)>& end_offset);

  // A transaction marker (WriteTxnMarkers) was written to these
  // __consumer_offsets partitions for `producer_id`: the producer's pending
  // transactional offsets of the groups on them become committed offsets
  // (committed) or are dropped (aborted). Partitions not led here are skipped.
  void on_transaction_completed(int64_t producer_id, const std::vector<int32_t>& partitions, bool committed);

  // Expires sessions, pending members and offsets; ends join and sync phases.
  void tick(int64_t now_ms);
  // Loads every partition elected since the last call (the loader thread's work).
  void run_loads();

  size_t group_count() const;

 private:
  using Calls = std::vector<std::function<void()>>;

  // The rebalance protocol's steps (rebalance.cc), under mu_.
  //
  // What the manager calls for each group it unloads: the group's waiting
  // JoinGroup/SyncGroup requests are answered NOT_COORDINATOR (into calls).
  static GroupMetadataManager::OnUnloaded answer_not_coordinator(Calls& calls);
  void add_member_and_rebalance(Group& g, JoinRequest& req, const std::string& member_id, JoinCallback done,
                                int64_t now, Calls& calls);
  void update_member_and_rebalance(Group& g, Member& m, JoinRequest& req, JoinCallback done, int64_t now,
                                   Calls& calls);
  void static_member_rejoin(Group& g, JoinRequest& req, JoinCallback done, int64_t now, Calls& calls);
  void maybe_prepare_rebalance(Group& g, int64_t now, Calls& calls);
  void prepare_rebalance(Group& g, int64_t now, Calls& calls);
  void maybe_complete_join(Group& g, int64_t now, Calls& calls);
  void complete_join(Group& g, int64_t now, Calls& calls);
  void remove_member(Group& g, const std::string& member_id, int64_t now, Calls& calls);
  // The leader's assignment for `generation` was written (or failed with
  // `error`, mapped): the group becomes Stable and the members get their
  // assignments, or it rebalances.
  void complete_sync(const std::string& group_id, int32_t generation, const std::map<std::string, Bytes>& assignment,
                     protocol::ErrorCode error, Calls& calls);
  void reset_assignments(Group& g, protocol::ErrorCode error, Calls& calls);
  void transition(Group& g, GroupState s, int64_t now);
  JoinResult join_result_for(const Group& g, const Member& m) const;

  // Runs `then` under mu_ with the write's outcome: at once when the write
  // failed (its error, mapped already) or is replicated already, else once
  // the wait for the ISR ends (the log's error, to be mapped: the manager's
  // mappings leave a mapped error as it is). The wait is registered from
  // `calls`, after mu_ is released; `then` may add answers to its Calls.
  using AfterWrite = std::function<void(protocol::ErrorCode, Calls&)>;
  void after_replication(const PendingWrite& w, AfterWrite then, Calls& calls);

  // An offset commit's answers (coordinator.cc): every partition refused
  // with `e`, or the accepted commit written and answered once replicated.
  static void refuse_commit(const CommitRequest& req, const CommitCallback& done, protocol::ErrorCode e,
                            Calls& calls);
  void store_offsets(Group& g, const CommitRequest& req, const CommitCallback& done, int64_t now, Calls& calls);

  // The timer and loader threads' bodies (coordinator.cc).
  void loop();
  void loader_loop();
  static void run(Calls& calls);

  const CoordinatorConfig config_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;
  GroupMetadataManager meta_;  // guarded by mu_ (but its read_partition)

  std::condition_variable wake_;
  bool stop_ = false;
  std::thread timer_;
  std::thread loader_;
};

}  // namespace keel::group
