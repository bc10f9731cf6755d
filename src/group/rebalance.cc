// GroupCoordinator's rebalance protocol (Kafka's classic one): JoinGroup,
// SyncGroup, Heartbeat and LeaveGroup, static members (KIP-345), and the
// group state machine they drive (Empty, PreparingRebalance,
// CompletingRebalance, Stable). The entry points take the coordinator's
// mutex; the helpers run under it and collect the answers owed in `calls`,
// run once the mutex is released.

#include "group/coordinator.h"

#include <algorithm>
#include <random>

#include "common/log.h"
#include "group/offsets_codec.h"

namespace keel::group {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("group");
  return l;
}

// Kafka's member ids: the client id, a dash and a random UUID.
std::string new_member_id(const std::string& client_id) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                  // version 4
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);      // variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(hi >> 32),
                static_cast<uint32_t>((hi >> 16) & 0xFFFF), static_cast<uint32_t>(hi & 0xFFFF),
                static_cast<uint32_t>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  // The id must fit a record's int16 string with room to spare.
  return client_id.substr(0, 1024) + "-" + buf;
}

// Answers whatever JoinGroup/SyncGroup the member has waiting with `error`.
void fail_waiting(Member& m, ErrorCode error, std::vector<std::function<void()>>& calls) {
  if (m.awaiting_join) {
    JoinResult r;
    r.error = error;
    r.member_id = m.member_id;
    calls.push_back([cb = std::move(m.awaiting_join), r] { cb(r); });
    m.awaiting_join = nullptr;
  }
  if (m.awaiting_sync) {
    SyncResult r;
    r.error = error;
    calls.push_back([cb = std::move(m.awaiting_sync), r] { cb(r); });
    m.awaiting_sync = nullptr;
  }
}

}  // namespace

GroupMetadataManager::OnUnloaded GroupCoordinator::answer_not_coordinator(Calls& calls) {
  return [&calls](Group& g) {
    for (auto& [id, m] : g.members) fail_waiting(m, ErrorCode::kNotCoordinator, calls);
  };
}

// --- join -------------------------------------------------------------------

void GroupCoordinator::transition(Group& g, GroupState s, int64_t now) {
  g.state = s;
  g.current_state_timestamp_ms = now;
}

JoinResult GroupCoordinator::join_result_for(const Group& g, const Member& m) const {
  JoinResult r;
  r.member_id = m.member_id;
  r.generation = g.generation;
  r.protocol_type = g.protocol_type;
  r.protocol_name = g.protocol_name;
  r.leader = g.leader.value_or("");
  if (g.leader && *g.leader == m.member_id && g.protocol_name) {
    for (const auto& [id, other] : g.members) {
      const Bytes* md = other.metadata_for(*g.protocol_name);
      r.members.push_back({id, other.group_instance_id, md ? *md : Bytes{}});
    }
  }
  return r;
}

void GroupCoordinator::join_group(JoinRequest req, JoinCallback done) {
  Calls calls;
  const int64_t now = now_ms_();
  auto fail = [&](ErrorCode e) {
    JoinResult r;
    r.error = e;
    r.member_id = req.member_id;
    calls.push_back([done, r] { done(r); });
  };
  {
    std::lock_guard lock(mu_);
    if (req.group_id.empty() || req.group_id.size() > kMaxRecordStringBytes) {
      fail(ErrorCode::kInvalidGroupId);
    } else if (ErrorCode e = meta_.check(req.group_id); e != ErrorCode::kNone) {
      fail(e);
    } else if (req.session_timeout_ms < config_.min_session_timeout_ms ||
               req.session_timeout_ms > config_.max_session_timeout_ms) {
      fail(ErrorCode::kInvalidSessionTimeout);
    } else {
      Group* g = meta_.find(req.group_id);
      if (!g && !req.member_id.empty()) {
        fail(ErrorCode::kUnknownMemberId);
      } else {
        if (!g) g = &meta_.add_group(req.group_id, now);
        if (g->is(GroupState::kDead)) {
          // Being deleted by another request: the client looks up the coordinator again.
          fail(ErrorCode::kCoordinatorNotAvailable);
        } else if (!g->supports(req.protocol_type, req.protocols)) {
          fail(ErrorCode::kInconsistentGroupProtocol);
        } else if (req.member_id.empty()) {
          // A new member (or a static member coming back under a new id).
          if (req.group_instance_id && g->static_members.count(*req.group_instance_id)) {
            static_member_rejoin(*g, req, done, now, calls);
          } else if (static_cast<int64_t>(g->members.size() + g->pending_members.size()) >= config_.max_size) {
            fail(ErrorCode::kGroupMaxSizeReached);
          } else if (req.require_known_member_id && !req.group_instance_id) {
            // KIP-394: hand out the id first, so a client that times out
            // and retries does not leave orphan members behind.
            std::string id = new_member_id(req.client_id);
            g->pending_members[id] = now + req.session_timeout_ms;
            JoinResult r;
            r.error = ErrorCode::kMemberIdRequired;
            r.member_id = id;
            calls.push_back([done, r] { done(r); });
          } else {
            add_member_and_rebalance(*g, req, new_member_id(req.client_id), done, now, calls);
          }
        } else if (g->pending_members.count(req.member_id)) {
          g->pending_members.erase(req.member_id);
          add_member_and_rebalance(*g, req, req.member_id, done, now, calls);
        } else if (g->is_fenced_static(req.group_instance_id, req.member_id)) {
          fail(ErrorCode::kFencedInstanceId);
        } else if (!g->has(req.member_id)) {
          fail(ErrorCode::kUnknownMemberId);
        } else {
          Member& m = g->members[req.member_id];
          switch (g->state) {
            case GroupState::kPreparingRebalance:
              update_member_and_rebalance(*g, m, req, done, now, calls);
              break;
            case GroupState::kCompletingRebalance:
              if (m.protocols == req.protocols) {
                // The member missed its JoinGroup answer: send it again.
                JoinResult r = join_result_for(*g, m);
                calls.push_back([done, r] { done(r); });
              } else {
                update_member_and_rebalance(*g, m, req, done, now, calls);
              }
              break;
            case GroupState::kStable:
              if ((g->leader && *g->leader == m.member_id) || m.protocols != req.protocols) {
                // The leader rejoining (its subscription may have changed,
                // which only it can tell) or new metadata: rebalance.
                update_member_and_rebalance(*g, m, req, done, now, calls);
              } else {
                JoinResult r = join_result_for(*g, m);
                calls.push_back([done, r] { done(r); });
              }
              break;
            case GroupState::kEmpty:
            case GroupState::kDead:
              fail(ErrorCode::kUnknownMemberId);
              break;
          }
          if (auto* mm = g->has(req.member_id) ? &g->members[req.member_id] : nullptr) {
            mm->heartbeat_deadline_ms = now + mm->session_timeout_ms;
          }
        }
        // A group created by this request that took no member is not kept.
        if (g->members.empty() && g->pending_members.empty() && g->offsets.empty() && g->pending_offsets.empty() &&
            g->protocol_type.empty() && g->generation == 0) {
          meta_.forget_group(req.group_id);
        }
      }
    }
  }
  run(calls);
}

void GroupCoordinator::add_member_and_rebalance(Group& g, JoinRequest& req, const std::string& member_id,
                                                JoinCallback done, int64_t now, Calls& calls) {
  Member m;
  m.member_id = member_id;
  m.group_instance_id = req.group_instance_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  m.protocol_type = req.protocol_type;
  m.protocols = std::move(req.protocols);
  m.awaiting_join = std::move(done);
  m.is_new = true;
  m.heartbeat_deadline_ms = now + config_.new_member_join_timeout_ms;
  if (g.members.empty()) g.protocol_type = m.protocol_type;
  if (m.group_instance_id) g.static_members[*m.group_instance_id] = member_id;
  // The first member of a group is its leader until the join completes.
  if (!g.leader || !g.has(*g.leader)) g.leader = member_id;
  g.members[member_id] = std::move(m);
  if (g.is(GroupState::kPreparingRebalance) && g.initial_delay) g.new_member_joined_in_delay = true;
  maybe_prepare_rebalance(g, now, calls);
  maybe_complete_join(g, now, calls);
}

void GroupCoordinator::update_member_and_rebalance(Group& g, Member& m, JoinRequest& req, JoinCallback done,
                                                   int64_t now, Calls& calls) {
  m.protocols = std::move(req.protocols);
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  if (m.awaiting_join) {
    // A second JoinGroup from the same member replaces the first one's wait.
    JoinResult r;
    r.error = ErrorCode::kUnknownMemberId;
    r.member_id = m.member_id;
    calls.push_back([cb = std::move(m.awaiting_join), r] { cb(r); });
  }
  m.awaiting_join = std::move(done);
  maybe_prepare_rebalance(g, now, calls);
  maybe_complete_join(g, now, calls);
}

void GroupCoordinator::static_member_rejoin(Group& g, JoinRequest& req, JoinCallback done, int64_t now,
                                            Calls& calls) {
  const std::string instance = *req.group_instance_id;
  const std::string old_id = g.static_members[instance];
  const std::string new_id = new_member_id(req.client_id);
  auto node = g.members.extract(old_id);
  Member& old = node.mapped();
  // Whoever still waits under the old id is a duplicate instance: fence it.
  fail_waiting(old, ErrorCode::kFencedInstanceId, calls);
  auto old_protocols = old.protocols;
  node.key() = new_id;
  node.mapped().member_id = new_id;
  g.members.insert(std::move(node));
  Member& m = g.members[new_id];
  g.static_members[instance] = new_id;
  const bool was_leader = g.leader && *g.leader == old_id;
  if (was_leader) g.leader = new_id;
  m.protocols = req.protocols;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.heartbeat_deadline_ms = now + m.session_timeout_ms;
  switch (g.state) {
    case GroupState::kStable: {
      // KIP-345: a known instance that comes back with the same protocols
      // keeps its assignment and causes no rebalance.
      if (g.select_protocol() == g.protocol_name) {
        // The new id is the member's at once; once the record has reached
        // the ISR the member gets its answer, and if it cannot be written
        // the old id is the member again (Kafka's updateStaticMemberAndRebalance).
        const bool skip = req.supports_skip_assignment && was_leader;
        after_replication(
            meta_.store_group(g, nullptr, now),
            [this, group_id = g.group_id, instance, old_id, new_id, old_protocols, was_leader, skip, done](
                ErrorCode written, Calls& after) {
              const ErrorCode e = GroupMetadataManager::group_write_error(written);
              Group* g = meta_.find(group_id);
              auto named = g ? g->static_members.find(instance) : decltype(g->static_members)::iterator{};
              const bool current = g && g->has(new_id) && named != g->static_members.end() && named->second == new_id;
              JoinResult r;
              if (e != ErrorCode::kNone) {
                if (current) {
                  // Undo: the old id is the member again.
                  auto back = g->members.extract(new_id);
                  back.key() = old_id;
                  back.mapped().member_id = old_id;
                  back.mapped().protocols = old_protocols;
                  g->members.insert(std::move(back));
                  named->second = old_id;
                  if (was_leader && g->leader == new_id) g->leader = old_id;
                }
                r.error = e;
              } else if (!g) {
                r.error = ErrorCode::kNotCoordinator;  // unloaded while it was written
              } else if (!current) {
                r.error = ErrorCode::kFencedInstanceId;  // another instance came meanwhile
              } else {
                // Older leaders run the assignor again; their SyncGroup in
                // Stable just gets the current assignment back.
                r = join_result_for(*g, g->members[new_id]);
                r.skip_assignment = skip;
              }
              after.push_back([done, r] { done(r); });
            },
            calls);
      } else {
        m.awaiting_join = std::move(done);
        prepare_rebalance(g, now, calls);
      }
      break;
    }
    case GroupState::kCompletingRebalance:
      // The leader may already have the old id in its assignment: rebalance.
      m.awaiting_join = std::move(done);
      prepare_rebalance(g, now, calls);
      break;
    case GroupState::kPreparingRebalance:
      m.awaiting_join = std::move(done);
      maybe_complete_join(g, now, calls);
      break;
    case GroupState::kEmpty:
    case GroupState::kDead: {
      JoinResult r;
      r.error = ErrorCode::kUnknownMemberId;
      calls.push_back([done, r] { done(r); });
      break;
    }
  }
}

void GroupCoordinator::maybe_prepare_rebalance(Group& g, int64_t now, Calls& calls) {
  if (g.is(GroupState::kStable) || g.is(GroupState::kCompletingRebalance) || g.is(GroupState::kEmpty)) {
    prepare_rebalance(g, now, calls);
  }
}

void GroupCoordinator::reset_assignments(Group& g, ErrorCode error, Calls& calls) {
  for (auto& [id, m] : g.members) {
    m.assignment.clear();
    if (m.awaiting_sync) {
      SyncResult r;
      r.error = error;
      calls.push_back([cb = std::move(m.awaiting_sync), r] { cb(r); });
      m.awaiting_sync = nullptr;
    }
  }
}

void GroupCoordinator::prepare_rebalance(Group& g, int64_t now, Calls& calls) {
  if (g.is(GroupState::kCompletingRebalance)) reset_assignments(g, ErrorCode::kRebalanceInProgress, calls);
  if (g.is(GroupState::kEmpty) && config_.initial_rebalance_delay_ms > 0) {
    // group.initial.rebalance.delay.ms: let more members arrive before the
    // first generation, extended while they keep coming, up to the
    // rebalance timeout.
    g.initial_delay = true;
    g.new_member_joined_in_delay = false;
    const int64_t delay = config_.initial_rebalance_delay_ms;
    g.initial_delay_remaining_ms = std::max<int64_t>(g.rebalance_timeout_ms() - delay, 0);
    g.join_deadline_ms = now + delay;
  } else {
    g.initial_delay = false;
    g.join_deadline_ms = now + g.rebalance_timeout_ms();
  }
  transition(g, GroupState::kPreparingRebalance, now);
  log()->info("preparing to rebalance group {} (generation {}, {} member(s))", g.group_id, g.generation,
              g.members.size());
  // Kafka tries the join at once: a group whose members have all rejoined
  // (or that has none left) goes on without waiting for the deadline.
  maybe_complete_join(g, now, calls);
}

void GroupCoordinator::maybe_complete_join(Group& g, int64_t now, Calls& calls) {
  if (!g.is(GroupState::kPreparingRebalance) || g.initial_delay) return;
  if (g.all_members_joined()) complete_join(g, now, calls);
}

void GroupCoordinator::complete_join(Group& g, int64_t now, Calls& calls) {
  // Dynamic members that did not rejoin in time are out; static ones stay
  // until their session expires (KIP-345).
  for (auto it = g.members.begin(); it != g.members.end();) {
    if (!it->second.awaiting_join && !it->second.group_instance_id) {
      log()->info("group {}: member {} did not rejoin in time, removed", g.group_id, it->first);
      it = g.members.erase(it);
    } else {
      ++it;
    }
  }
  g.initial_delay = false;
  g.join_deadline_ms = INT64_MAX;
  const bool anyone_joined =
      std::any_of(g.members.begin(), g.members.end(), [](const auto& m) { return bool(m.second.awaiting_join); });
  if (!g.members.empty() && !anyone_joined) {
    // Only static members that have not rejoined: wait another round for
    // their sessions to expire.
    g.join_deadline_ms = now + g.rebalance_timeout_ms();
    return;
  }
  if (!g.leader || !g.has(*g.leader) || !g.members[*g.leader].awaiting_join) {
    g.leader.reset();
    for (const auto& [id, m] : g.members) {
      if (m.awaiting_join) {
        g.leader = id;
        break;
      }
    }
  }
  ++g.generation;
  if (g.members.empty()) {
    g.protocol_name.reset();
    g.leader.reset();
    transition(g, GroupState::kEmpty, now);
    // If it cannot be written, the previous generation comes back after a
    // failover: harmless, its members are gone (Kafka only warns too).
    after_replication(
        meta_.store_group(g, nullptr, now),
        [group_id = g.group_id, generation = g.generation](ErrorCode written, Calls&) {
          if (ErrorCode e = GroupMetadataManager::group_write_error(written); e != ErrorCode::kNone) {
            log()->warn("group {}: cannot store the empty generation {}: {}", group_id, generation,
                        protocol::error_name(e));
          }
        },
        calls);
    log()->info("group {} is empty at generation {}", g.group_id, g.generation);
    return;
  }
  g.protocol_name = g.select_protocol();
  transition(g, GroupState::kCompletingRebalance, now);
  g.pending_members.clear();
  const int64_t sync_deadline = now + g.rebalance_timeout_ms();
  for (auto& [id, m] : g.members) {
    if (m.awaiting_join) {
      JoinResult r = join_result_for(g, m);
      calls.push_back([cb = std::move(m.awaiting_join), r] { cb(r); });
      m.awaiting_join = nullptr;
    }
    m.is_new = false;
    m.heartbeat_deadline_ms = now + m.session_timeout_ms;
  }
  g.join_deadline_ms = sync_deadline;  // reused as the sync deadline while CompletingRebalance
  log()->info("group {} generation {} formed: protocol {}, leader {}, {} member(s)", g.group_id, g.generation,
              g.protocol_name.value_or("-"), g.leader.value_or("-"), g.members.size());
}

// --- sync -------------------------------------------------------------------

void GroupCoordinator::sync_group(SyncRequest req, SyncCallback done) {
  Calls calls;
  const int64_t now = now_ms_();
  auto fail = [&](ErrorCode e) {
    SyncResult r;
    r.error = e;
    calls.push_back([done, r] { done(r); });
  };
  {
    std::lock_guard lock(mu_);
    Group* g = nullptr;
    if (ErrorCode e = meta_.check(req.group_id); e != ErrorCode::kNone) {
      fail(e);
    } else if (!(g = meta_.find(req.group_id)) || g->is(GroupState::kDead)) {
      fail(ErrorCode::kUnknownMemberId);
    } else if (g->is_fenced_static(req.group_instance_id, req.member_id)) {
      fail(ErrorCode::kFencedInstanceId);
    } else if (!g->has(req.member_id)) {
      fail(ErrorCode::kUnknownMemberId);
    } else if (req.generation != g->generation) {
      fail(ErrorCode::kIllegalGeneration);
    } else if ((req.protocol_type && *req.protocol_type != g->protocol_type) ||
               (req.protocol_name && *req.protocol_name != g->protocol_name.value_or(""))) {
      fail(ErrorCode::kInconsistentGroupProtocol);
    } else {
      Member& m = g->members[req.member_id];
      m.heartbeat_deadline_ms = now + m.session_timeout_ms;
      switch (g->state) {
        case GroupState::kEmpty:
        case GroupState::kDead:
          fail(ErrorCode::kUnknownMemberId);
          break;
        case GroupState::kPreparingRebalance:
          fail(ErrorCode::kRebalanceInProgress);
          break;
        case GroupState::kStable: {
          SyncResult r;
          r.protocol_type = g->protocol_type;
          r.protocol_name = g->protocol_name;
          r.assignment = m.assignment;
          calls.push_back([done, r] { done(r); });
          break;
        }
        case GroupState::kCompletingRebalance: {
          if (m.awaiting_sync) {
            SyncResult r;
            r.error = ErrorCode::kRebalanceInProgress;
            calls.push_back([cb = std::move(m.awaiting_sync), r] { cb(r); });
          }
          m.awaiting_sync = std::move(done);
          if (g->leader && *g->leader == req.member_id) {
            std::map<std::string, Bytes> assignment;
            for (auto& [id, bytes] : req.assignments) {
              if (g->has(id)) assignment[id] = std::move(bytes);
            }
            // The group stays CompletingRebalance until the assignment has
            // reached the ISR; then (same generation still) it is Stable
            // and every waiting member gets its assignment (Kafka's doSyncGroup).
            after_replication(
                meta_.store_group(*g, &assignment, now),
                [this, group_id = g->group_id, generation = g->generation, assignment](ErrorCode written,
                                                                                        Calls& after) {
                  complete_sync(group_id, generation, assignment, GroupMetadataManager::group_write_error(written),
                                after);
                },
                calls);
          }
          break;
        }
      }
    }
  }
  run(calls);
}

void GroupCoordinator::complete_sync(const std::string& group_id, int32_t generation,
                                     const std::map<std::string, Bytes>& assignment, ErrorCode error,
                                     Calls& calls) {
  Group* g = meta_.find(group_id);
  // Unloaded, or a rebalance began meanwhile: nothing to complete (the
  // waiting members were answered by whatever moved the group on).
  if (!g || !g->is(GroupState::kCompletingRebalance) || g->generation != generation) return;
  const int64_t now = now_ms_();
  if (error != ErrorCode::kNone) {
    reset_assignments(*g, error, calls);
    prepare_rebalance(*g, now, calls);
    return;
  }
  for (auto& [id, member] : g->members) {
    auto it = assignment.find(id);
    member.assignment = it == assignment.end() ? Bytes{} : it->second;
  }
  transition(*g, GroupState::kStable, now);
  g->join_deadline_ms = INT64_MAX;
  for (auto& [id, member] : g->members) {
    if (!member.awaiting_sync) continue;
    SyncResult r;
    r.protocol_type = g->protocol_type;
    r.protocol_name = g->protocol_name;
    r.assignment = member.assignment;
    calls.push_back([cb = std::move(member.awaiting_sync), r] { cb(r); });
    member.awaiting_sync = nullptr;
  }
  log()->info("group {} generation {} is stable", g->group_id, g->generation);
}

// --- heartbeat and leave ----------------------------------------------------

ErrorCode GroupCoordinator::heartbeat(const std::string& group_id, int32_t generation, const std::string& member_id,
                                      const std::optional<std::string>& group_instance_id) {
  std::lock_guard lock(mu_);
  if (ErrorCode e = meta_.check(group_id); e != ErrorCode::kNone) return e;
  Group* g = meta_.find(group_id);
  if (!g || g->is(GroupState::kDead)) return ErrorCode::kUnknownMemberId;
  if (g->is_fenced_static(group_instance_id, member_id)) return ErrorCode::kFencedInstanceId;
  if (!g->has(member_id) || g->is(GroupState::kEmpty)) return ErrorCode::kUnknownMemberId;
  if (generation != g->generation) return ErrorCode::kIllegalGeneration;
  Member& m = g->members[member_id];
  m.heartbeat_deadline_ms = now_ms_() + m.session_timeout_ms;
  if (g->is(GroupState::kPreparingRebalance)) return ErrorCode::kRebalanceInProgress;
  return ErrorCode::kNone;
}

void GroupCoordinator::remove_member(Group& g, const std::string& member_id, int64_t now, Calls& calls) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  Member& m = it->second;
  fail_waiting(m, ErrorCode::kUnknownMemberId, calls);
  if (m.group_instance_id) g.static_members.erase(*m.group_instance_id);
  g.members.erase(it);
  switch (g.state) {
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      prepare_rebalance(g, now, calls);
      break;
    case GroupState::kPreparingRebalance:
      maybe_complete_join(g, now, calls);
      break;
    default:
      break;
  }
}

LeaveResult GroupCoordinator::leave_group(const std::string& group_id, const std::vector<LeaveMember>& members) {
  Calls calls;
  LeaveResult out;
  const int64_t now = now_ms_();
  {
    std::lock_guard lock(mu_);
    if (ErrorCode e = meta_.check(group_id); e != ErrorCode::kNone) {
      out.error = e;
    } else {
      Group* g = meta_.find(group_id);
      for (const auto& lm : members) {
        if (!g || g->is(GroupState::kDead)) {
          out.members.push_back(ErrorCode::kUnknownMemberId);
          continue;
        }
        std::string id = lm.member_id;
        if (lm.group_instance_id) {
          auto sit = g->static_members.find(*lm.group_instance_id);
          if (sit == g->static_members.end()) {
            out.members.push_back(ErrorCode::kUnknownMemberId);
            continue;
          }
          // KIP-345: an empty member id names the instance; another id is a fenced duplicate.
          if (!id.empty() && id != sit->second) {
            out.members.push_back(ErrorCode::kFencedInstanceId);
            continue;
          }
          id = sit->second;
        }
        if (g->pending_members.erase(id)) {
          out.members.push_back(ErrorCode::kNone);
          continue;
        }
        if (!g->has(id)) {
          out.members.push_back(ErrorCode::kUnknownMemberId);
          continue;
        }
        log()->info("group {}: member {} left", group_id, id);
        remove_member(*g, id, now, calls);
        out.members.push_back(ErrorCode::kNone);
      }
    }
  }
  run(calls);
  return out;
}

}  // namespace keel::group
