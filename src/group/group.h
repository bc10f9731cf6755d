#pragma once
// One consumer group as the classic rebalance protocol sees it (Kafka's
// GroupMetadata): its members, their supported protocols, the generation, the
// selected protocol and leader, the state, and the offsets committed for it.
//
// Plain data with a few pure helpers; not thread-safe: the GroupCoordinator
// holds its lock around every use.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "protocol/error_code.h"
#include "storage/checkpoint.h"

namespace keel::group {

using storage::TopicPartition;

// Kafka's group states, with the names DescribeGroups and ListGroups use.
enum class GroupState : int8_t { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
const char* state_name(GroupState s);
// "Empty", "Stable", ... matched case-insensitively (ListGroups' filter).
std::optional<GroupState> parse_state(std::string_view name);

// What JoinGroup answers one member.
struct JoinMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  Bytes metadata;
};
struct JoinResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int32_t generation = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  bool skip_assignment = false;
  std::vector<JoinMember> members;  // the leader's answer only
};
struct SyncResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  Bytes assignment;
};
using JoinCallback = std::function<void(JoinResult)>;
using SyncCallback = std::function<void(SyncResult)>;

struct Member {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::string protocol_type;
  std::vector<std::pair<std::string, Bytes>> protocols;  // in the member's order of preference
  Bytes assignment;
  JoinCallback awaiting_join;  // set while a JoinGroup waits for the rebalance
  SyncCallback awaiting_sync;  // set while a SyncGroup waits for the leader
  int64_t heartbeat_deadline_ms = INT64_MAX;  // session expiry
  bool is_new = false;  // joined in this rebalance: expires after the new-member timeout if it never rejoins

  const Bytes* metadata_for(const std::string& protocol) const;
};

struct CommittedOffset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
  int64_t expire_timestamp_ms = -1;  // -1: by the retention rules
  // Where it was written in __consumer_offsets (the base offset of its
  // batch, Kafka's appendedBatchOffset), so a commit that completes late —
  // or a transaction's offsets committed by a later marker — never replaces
  // one written after it.
  int64_t record_offset = -1;
};

struct Group {
  std::string group_id;
  int32_t partition = 0;  // of __consumer_offsets
  GroupState state = GroupState::kEmpty;
  int32_t generation = 0;
  std::string protocol_type;  // empty when the group has no members
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;
  std::map<std::string, Member> members;
  std::map<std::string, std::string> static_members;  // group.instance.id -> member id
  std::map<std::string, int64_t> pending_members;     // member ids handed out by MEMBER_ID_REQUIRED -> expiry
  std::map<TopicPartition, CommittedOffset> offsets;
  // Commits written but not yet replicated (Kafka's pendingOffsetCommits):
  // the record offset of the newest per partition. They are not in `offsets`
  // (OffsetFetch answers the previous one) and keep expiry off the partition.
  std::map<TopicPartition, int64_t> pending_offsets;
  // Transactional commits (TxnOffsetCommit) written in a transaction that
  // has no marker yet, by producer id (Kafka's
  // pendingTransactionalOffsetCommits). OffsetFetch does not answer them
  // (UNSTABLE_OFFSET_COMMIT when stable offsets are asked for); the COMMIT
  // marker moves them into `offsets`, the ABORT marker drops them.
  std::map<int64_t, std::map<TopicPartition, CommittedOffset>> pending_txn_offsets;

  // The rebalance in progress: when the join phase ends at the latest, and
  // for the initial delay (group.initial.rebalance.delay.ms) how much of the
  // rebalance timeout is left to extend it by.
  int64_t join_deadline_ms = INT64_MAX;
  bool initial_delay = false;
  int64_t initial_delay_remaining_ms = 0;
  bool new_member_joined_in_delay = false;

  bool has(const std::string& member_id) const { return members.count(member_id) != 0; }
  // A commit of this partition, plain or transactional, is not settled yet
  // (Kafka's hasPendingOffsetCommitsForTopicPartition).
  bool has_pending_commit(const TopicPartition& tp) const;
  // Offsets, settled or not, keep an empty group alive (Kafka's hasOffsets).
  bool has_offsets() const { return !offsets.empty() || !pending_offsets.empty() || !pending_txn_offsets.empty(); }
  // Drops the transactional commits of `tp` of every producer.
  void drop_pending_txn(const TopicPartition& tp);
  bool is(GroupState s) const { return state == s; }
  bool all_members_joined() const;
  // The largest rebalance timeout of the members (the join phase's length).
  int32_t rebalance_timeout_ms() const;
  // A member with this instance id exists under a different member id.
  bool is_fenced_static(const std::optional<std::string>& instance_id, const std::string& member_id) const;
  // Would a member with these protocols fit (same type, a protocol in common)?
  bool supports(const std::string& protocol_type, const std::vector<std::pair<std::string, Bytes>>& protocols) const;
  // The protocol all members support with the most first-choice votes.
  std::optional<std::string> select_protocol() const;
  // Topics the members subscribe to (consumer protocol only); nullopt when
  // they cannot be known (another protocol type, or undecodable metadata).
  std::optional<std::set<std::string>> subscribed_topics() const;
};

}  // namespace keel::group
