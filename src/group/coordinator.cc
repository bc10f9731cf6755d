// GroupCoordinator's frame: its threads, the leadership of
// __consumer_offsets partitions (handed to the manager), the timer pass, and
// the APIs over stored groups (commit, fetch, lag, describe, list, delete).
// The rebalance protocol itself (join, sync, heartbeat, leave) is in
// rebalance.cc.

#include "group/coordinator.h"

#include <algorithm>
#include <future>

#include "common/log.h"
#include "common/thread_name.h"
#include "group/offsets_codec.h"

namespace keel::group {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("group");
  return l;
}

}  // namespace

GroupCoordinator::GroupCoordinator(CoordinatorConfig config, OffsetsLog& log, std::function<int64_t()> now_ms)
    : config_(config), now_ms_(std::move(now_ms)), meta_(config, log) {}

GroupCoordinator::~GroupCoordinator() { shutdown(); }

void GroupCoordinator::run(Calls& calls) {
  for (auto& c : calls) c();
  calls.clear();
}

void GroupCoordinator::start() {
  std::lock_guard lock(mu_);
  if (timer_.joinable() || stop_) return;
  meta_.start_expiry_clock(now_ms_());
  timer_ = std::thread([this] {
    set_thread_name("keel-group-tmr");
    loop();
  });
  loader_ = std::thread([this] {
    set_thread_name("keel-group-load");
    loader_loop();
  });
}

void GroupCoordinator::shutdown() {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    if (stop_ && !timer_.joinable()) return;
    stop_ = true;
    meta_.resign_all(answer_not_coordinator(calls));
  }
  wake_.notify_all();
  if (timer_.joinable()) timer_.join();
  if (loader_.joinable()) loader_.join();
  run(calls);
}

void GroupCoordinator::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Group deadlines are seconds apart at the least (session timeouts of
    // 6 s and more); a 100 ms tick keeps them well within their precision.
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (stop_) break;
    lock.unlock();
    tick(now_ms_());
    lock.lock();
  }
}

void GroupCoordinator::loader_loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait(lock, [this] { return stop_ || meta_.has_loads(); });
    if (stop_) break;
    lock.unlock();
    run_loads();
    lock.lock();
  }
}

int32_t GroupCoordinator::partition_for(std::string_view group_id) const { return meta_.partition_for(group_id); }

ErrorCode GroupCoordinator::check(std::string_view group_id) const {
  std::lock_guard lock(mu_);
  return meta_.check(group_id);
}

size_t GroupCoordinator::group_count() const {
  std::lock_guard lock(mu_);
  return meta_.groups().size();
}

// --- leadership of __consumer_offsets partitions -----------------------------

void GroupCoordinator::on_elected(int32_t partition, int32_t leader_epoch) {
  Calls calls;
  bool scheduled;
  {
    std::lock_guard lock(mu_);
    scheduled = meta_.on_elected(partition, leader_epoch, answer_not_coordinator(calls));
  }
  run(calls);
  if (scheduled) wake_.notify_all();
}

void GroupCoordinator::on_resigned(int32_t partition, int32_t leader_epoch) {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    meta_.on_resigned(partition, leader_epoch, answer_not_coordinator(calls));
  }
  run(calls);
}

void GroupCoordinator::after_replication(const PendingWrite& w, AfterWrite then, Calls& calls) {
  if (!w.waiting()) {
    then(w.error, calls);
    return;
  }
  calls.push_back([this, w, then = std::move(then)]() mutable {
    meta_.await_replication(w, [this, then = std::move(then)](ErrorCode e) {
      Calls after;
      {
        std::lock_guard lock(mu_);
        then(e, after);
      }
      run(after);
    });
  });
}

void GroupCoordinator::run_loads() {
  while (true) {
    std::optional<GroupMetadataManager::Load> load;
    {
      std::lock_guard lock(mu_);
      if (stop_ || !(load = meta_.next_load())) return;
    }
    // Read outside the lock: other partitions' groups go on meanwhile.
    LoadedPartition loaded = meta_.read_partition(*load);
    const int64_t now = now_ms_();
    std::lock_guard lock(mu_);
    meta_.complete_load(std::move(loaded), now);
  }
}

void GroupCoordinator::on_partition_deleted(const TopicPartition& tp) {
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  meta_.on_partition_deleted(tp, now);
}

void GroupCoordinator::on_transaction_completed(int64_t producer_id, const std::vector<int32_t>& partitions,
                                                bool committed) {
  std::lock_guard lock(mu_);
  for (int32_t p : partitions) meta_.complete_transaction(p, producer_id, committed);
}

// --- offsets ----------------------------------------------------------------

void GroupCoordinator::refuse_commit(const CommitRequest& req, const CommitCallback& done, ErrorCode e,
                                     Calls& calls) {
  CommitResult out;
  out.error = e;
  out.partitions.assign(req.partitions.size(), e);
  calls.push_back([done, out] { done(out); });
}

void GroupCoordinator::store_offsets(Group& g, const CommitRequest& req, const CommitCallback& done, int64_t now,
                                     Calls& calls) {
  auto w = std::make_shared<OffsetCommitWrite>(meta_.store_offsets(g, req, now));
  after_replication(
      w->write,
      [this, w, done](ErrorCode e, Calls& after) {
        // Done at once: store_offsets has the answers already.
        if (w->write.waiting()) meta_.complete_offsets(*w, e);
        CommitResult out;
        out.partitions = w->errors;
        after.push_back([done, out] { done(out); });
      },
      calls);
}

CommitResult GroupCoordinator::commit_offsets(const CommitRequest& req) {
  std::promise<CommitResult> answered;
  auto answer = answered.get_future();
  commit_offsets(req, [&answered](CommitResult r) { answered.set_value(std::move(r)); });
  return answer.get();
}

void GroupCoordinator::commit_offsets(const CommitRequest& req, CommitCallback done) {
  Calls calls;
  const int64_t now = now_ms_();
  auto all = [&](ErrorCode e) { refuse_commit(req, done, e, calls); };
  {
    std::lock_guard lock(mu_);
    Group* g = nullptr;
    if (req.group_id.empty() || req.group_id.size() > kMaxRecordStringBytes) {
      all(ErrorCode::kInvalidGroupId);
    } else if (ErrorCode e = meta_.check(req.group_id); e != ErrorCode::kNone) {
      all(e);
    } else if (!(g = meta_.find(req.group_id)) && req.generation >= 0) {
      // Only a commit from outside group management may create a group
      // (consumers that assign partitions themselves); anything else is a
      // member of a generation that is gone.
      all(ErrorCode::kIllegalGeneration);
    } else {
      if (!g) g = &meta_.add_group(req.group_id, now);
      std::optional<ErrorCode> refused;
      if (g->is(GroupState::kDead)) {
        refused = ErrorCode::kCoordinatorNotAvailable;
      } else if (!(req.generation < 0 && g->is(GroupState::kEmpty))) {
        if (g->is_fenced_static(req.group_instance_id, req.member_id)) {
          refused = ErrorCode::kFencedInstanceId;
        } else if (!g->has(req.member_id)) {
          refused = ErrorCode::kUnknownMemberId;
        } else if (req.generation != g->generation) {
          refused = ErrorCode::kIllegalGeneration;
        } else if (g->is(GroupState::kCompletingRebalance)) {
          refused = ErrorCode::kRebalanceInProgress;
        } else {
          Member& m = g->members[req.member_id];
          m.heartbeat_deadline_ms = now + m.session_timeout_ms;
        }
      }
      if (refused) {
        all(*refused);
      } else {
        store_offsets(*g, req, done, now, calls);
      }
    }
  }
  run(calls);
}

void GroupCoordinator::txn_commit_offsets(const CommitRequest& req, CommitCallback done) {
  Calls calls;
  const int64_t now = now_ms_();
  auto all = [&](ErrorCode e) { refuse_commit(req, done, e, calls); };
  {
    std::lock_guard lock(mu_);
    if (req.group_id.empty() || req.group_id.size() > kMaxRecordStringBytes) {
      all(ErrorCode::kInvalidGroupId);
    } else if (ErrorCode e = meta_.check(req.group_id); e != ErrorCode::kNone) {
      all(e);
    } else {
      // Kafka's handleTxnCommitOffsets makes the group when it is new, then
      // validateOffsetCommit decides.
      Group* g = meta_.find(req.group_id);
      const bool fresh = !g;
      if (fresh) g = &meta_.add_group(req.group_id, now);
      std::optional<ErrorCode> refused;
      if (g->is(GroupState::kDead)) {
        refused = ErrorCode::kCoordinatorNotAvailable;
      } else if (req.generation < 0 && g->is(GroupState::kEmpty)) {
        // From outside group management, into a group with no members.
      } else if (req.generation >= 0 || !req.member_id.empty() || req.group_instance_id) {
        // Kafka's validateCurrentMember: an instance id must be the member's.
        if (g->is_fenced_static(req.group_instance_id, req.member_id)) {
          refused = ErrorCode::kFencedInstanceId;
        } else if (!g->has(req.member_id) ||
                   (req.group_instance_id && !g->static_members.count(*req.group_instance_id))) {
          refused = ErrorCode::kUnknownMemberId;
        } else if (req.generation != g->generation) {
          refused = ErrorCode::kIllegalGeneration;
        }
      }
      // Older versions carry no member: a transaction may commit for a group
      // with members (unlike OffsetCommit).
      if (refused) {
        if (fresh) meta_.forget_group(req.group_id);
        all(*refused);
      } else {
        store_offsets(*g, req, done, now, calls);
      }
    }
  }
  run(calls);
}

FetchOffsetsResult GroupCoordinator::fetch_offsets(const std::string& group_id,
                                                   const std::optional<std::vector<TopicPartition>>& partitions,
                                                   bool require_stable) {
  std::lock_guard lock(mu_);
  return meta_.fetch_offsets(group_id, partitions, require_stable);
}

std::vector<PartitionLag> GroupCoordinator::lag(
    const std::string& group_id, const std::function<std::optional<int64_t>(const TopicPartition&)>& end_offset) {
  std::vector<std::pair<TopicPartition, int64_t>> committed;
  {
    std::lock_guard lock(mu_);
    Group* g = meta_.find(group_id);
    if (!g) return {};
    for (const auto& [tp, c] : g->offsets) committed.push_back({tp, c.offset});
  }
  // Outside our lock: the partitions lock themselves.
  std::vector<PartitionLag> out;
  for (const auto& [tp, offset] : committed) {
    PartitionLag l{tp, offset};
    if (auto end = end_offset(tp)) {
      l.end_offset = *end;
      l.lag = std::max<int64_t>(0, *end - offset);
    }
    out.push_back(l);
  }
  return out;
}

// --- admin ------------------------------------------------------------------

GroupDescription GroupCoordinator::describe_group(const std::string& group_id) {
  GroupDescription d;
  d.group_id = group_id;
  std::lock_guard lock(mu_);
  if (ErrorCode e = meta_.check(group_id); e != ErrorCode::kNone) {
    d.error = e;
    return d;
  }
  Group* g = meta_.find(group_id);
  if (!g) {
    d.state = state_name(GroupState::kDead);  // Kafka describes an unknown group as Dead, no error
    return d;
  }
  d.state = state_name(g->state);
  d.protocol_type = g->protocol_type;
  d.protocol = g->is(GroupState::kStable) ? g->protocol_name.value_or("") : "";
  for (const auto& [id, m] : g->members) {
    MemberDescription md;
    md.member_id = id;
    md.group_instance_id = m.group_instance_id;
    md.client_id = m.client_id;
    md.client_host = m.client_host;
    // Metadata and assignment only once they are settled (Kafka's summary).
    if (g->is(GroupState::kStable) && g->protocol_name) {
      if (const Bytes* b = m.metadata_for(*g->protocol_name)) md.metadata = *b;
      md.assignment = m.assignment;
    }
    d.members.push_back(std::move(md));
  }
  return d;
}

ListGroupsResult GroupCoordinator::list_groups(const std::vector<std::string>& states,
                                               const std::vector<std::string>& types) {
  ListGroupsResult out;
  std::set<GroupState> wanted;
  for (const auto& s : states) {
    if (auto st = parse_state(s)) wanted.insert(*st);
  }
  std::lock_guard lock(mu_);
  if (meta_.loading()) out.error = ErrorCode::kCoordinatorLoadInProgress;
  for (const auto& [id, g] : meta_.groups()) {
    if (g.is(GroupState::kDead)) continue;
    if (!states.empty() && !wanted.count(g.state)) continue;
    if (!types.empty() && std::find(types.begin(), types.end(), "classic") == types.end()) continue;
    out.groups.push_back({id, g.protocol_type, state_name(g.state)});
  }
  return out;
}

ErrorCode GroupCoordinator::delete_group(const std::string& group_id) {
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  if (ErrorCode e = meta_.check(group_id); e != ErrorCode::kNone) return e;
  Group* g = meta_.find(group_id);
  if (!g || g->is(GroupState::kDead)) return ErrorCode::kGroupIdNotFound;
  if (!g->is(GroupState::kEmpty)) return ErrorCode::kNonEmptyGroup;
  return meta_.delete_group(*g, now);
}

DeleteOffsetsResult GroupCoordinator::delete_offsets(const std::string& group_id,
                                                     const std::vector<TopicPartition>& partitions) {
  DeleteOffsetsResult out;
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  if (ErrorCode e = meta_.check(group_id); e != ErrorCode::kNone) {
    out.error = e;
    return out;
  }
  Group* g = meta_.find(group_id);
  if (!g || g->is(GroupState::kDead)) {
    out.error = ErrorCode::kGroupIdNotFound;
    return out;
  }
  std::optional<std::set<std::string>> subscribed;
  if (!g->is(GroupState::kEmpty)) {
    subscribed = g->subscribed_topics();
    if (!subscribed) {
      // Members of a protocol whose subscriptions we cannot read.
      out.error = ErrorCode::kNonEmptyGroup;
      return out;
    }
  }
  std::vector<TopicPartition> deletable;
  for (const auto& tp : partitions) {
    if (subscribed && subscribed->count(tp.topic)) {
      out.partitions.push_back(ErrorCode::kGroupSubscribedToTopic);
      continue;
    }
    out.partitions.push_back(ErrorCode::kNone);
    deletable.push_back(tp);
  }
  if (ErrorCode e = meta_.delete_offsets(*g, deletable, now); e != ErrorCode::kNone) {
    out.error = e;
    out.partitions.clear();
  }
  return out;
}

// --- timers -----------------------------------------------------------------

void GroupCoordinator::tick(int64_t now) {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, g] : meta_.groups()) {
      // Member ids handed out by MEMBER_ID_REQUIRED that never came back.
      bool pending_expired = false;
      for (auto it = g.pending_members.begin(); it != g.pending_members.end();) {
        if (it->second <= now) {
          it = g.pending_members.erase(it);
          pending_expired = true;
        } else {
          ++it;
        }
      }
      // Session expiry. A member waiting in JoinGroup or SyncGroup is
      // alive (its request is open), except a new member that never
      // completes its first join.
      std::vector<std::string> expired;
      for (auto& [mid, m] : g.members) {
        if (m.heartbeat_deadline_ms > now) continue;
        if (m.awaiting_sync || (m.awaiting_join && !m.is_new)) {
          m.heartbeat_deadline_ms = now + m.session_timeout_ms;
          continue;
        }
        expired.push_back(mid);
      }
      for (const auto& mid : expired) {
        log()->info("group {}: member {} session expired, removed", id, mid);
        remove_member(g, mid, now, calls);
      }
      if (pending_expired) maybe_complete_join(g, now, calls);
      // End of the join phase (or of the initial delay).
      if (g.is(GroupState::kPreparingRebalance) && g.join_deadline_ms <= now) {
        if (g.initial_delay && g.new_member_joined_in_delay && g.initial_delay_remaining_ms > 0) {
          const int64_t delay = std::min<int64_t>(config_.initial_rebalance_delay_ms, g.initial_delay_remaining_ms);
          g.initial_delay_remaining_ms = std::max<int64_t>(g.initial_delay_remaining_ms - delay, 0);
          g.new_member_joined_in_delay = false;
          g.join_deadline_ms = now + delay;
        } else {
          g.initial_delay = false;
          complete_join(g, now, calls);
        }
      }
      // End of the sync phase: members that never sent SyncGroup are out.
      if (g.is(GroupState::kCompletingRebalance) && g.join_deadline_ms <= now) {
        std::vector<std::string> lagging;
        for (const auto& [mid, m] : g.members) {
          if (!m.awaiting_sync) lagging.push_back(mid);
        }
        for (const auto& mid : lagging) {
          log()->info("group {}: member {} did not sync in time, removed", id, mid);
          remove_member(g, mid, now, calls);
        }
        if (g.is(GroupState::kCompletingRebalance)) prepare_rebalance(g, now, calls);
      }
    }
    meta_.expire_offsets_if_due(now);
  }
  run(calls);
}

}  // namespace keel::group
