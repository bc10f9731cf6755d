// Partition reassignment (KIP-455) as Kafka's ZooKeeper-mode controller runs
// it (KafkaController.onPartitionReassignment): AlterPartitionReassignments,
// ListPartitionReassignments and the legacy /admin/reassign_partitions node.
//
// Starting: the assignment node gets RS = TRS + ORS with AR and RR (so a new
// controller can resume), the leader epoch goes up and every replica, old and
// new, gets LeaderAndIsr: the new ones start fetching. Each ISR change
// (AlterPartition) and each broker start-up looks again. Once every target
// replica is in the ISR: the leader moves into TRS if it is not there (the
// reassignment election), the removed replicas leave the ISR and get
// StopReplica with delete, and the node says RS = TRS with AR and RR gone.

#include "controller/reassignment.h"

#include <algorithm>
#include <future>

#include "controller/controller.h"
#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using namespace internal;

// --- ReplicaAssignment -------------------------------------------------------------------

namespace {

// `a` without the members of `b`, in `a`'s order.
std::vector<int32_t> minus(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> out;
  for (int32_t x : a) {
    if (!contains(b, x)) out.push_back(x);
  }
  return out;
}

std::string list(const std::vector<int32_t>& v) { return "[" + fmt::format("{}", fmt::join(v, ", ")) + "]"; }

// The answer when the event thread did not get to the request in time.
template <typename Response>
Response timed_out() {
  Response r;
  r.error_code = static_cast<int16_t>(ErrorCode::kRequestTimedOut);
  r.error_message = std::nullopt;
  return r;
}

}  // namespace

std::vector<int32_t> ReplicaAssignment::origin() const { return minus(replicas, adding); }

std::vector<int32_t> ReplicaAssignment::target() const { return minus(replicas, removing); }

ReplicaAssignment ReplicaAssignment::reassign_to(const std::vector<int32_t>& target) const {
  const std::vector<int32_t> ors = origin();
  std::vector<int32_t> full;
  for (const auto* part : {&target, &ors}) {
    for (int32_t r : *part) {
      if (!contains(full, r)) full.push_back(r);
    }
  }
  ReplicaAssignment out;
  out.adding = minus(full, ors);
  out.removing = minus(full, target);
  out.replicas = std::move(full);
  return out;
}

ReplicaAssignment assignment_of(const coord::TopicAssignment& a, int32_t p) {
  ReplicaAssignment r;
  if (auto it = a.partitions.find(p); it != a.partitions.end()) r.replicas = it->second;
  if (auto it = a.adding_replicas.find(p); it != a.adding_replicas.end()) r.adding = it->second;
  if (auto it = a.removing_replicas.find(p); it != a.removing_replicas.end()) r.removing = it->second;
  return r;
}

void set_assignment(coord::TopicAssignment& a, int32_t p, const ReplicaAssignment& r) {
  a.partitions[p] = r.replicas;
  if (r.adding.empty()) {
    a.adding_replicas.erase(p);
  } else {
    a.adding_replicas[p] = r.adding;
  }
  if (r.removing.empty()) {
    a.removing_replicas.erase(p);
  } else {
    a.removing_replicas[p] = r.removing;
  }
}

std::string check_target_replicas(const std::vector<int32_t>& target, const ReplicaAssignment& current,
                                  const std::vector<int32_t>& live) {
  // Kafka's words (KafkaController.validateReplicas).
  if (target.empty()) return "Empty replica list specified in partition reassignment.";
  std::vector<int32_t> sorted = target;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return "Duplicate replica ids in partition reassignment replica list: " + list(target);
  }
  if (sorted.front() < 0) return "Invalid broker id in replica list: " + list(target);
  const std::vector<int32_t> adding = current.reassign_to(target).adding;
  if (!minus(adding, live).empty()) {
    return "Replica assignment has brokers that are not alive. Replica list: " + list(adding) +
           ", live broker list: " + list(live);
  }
  return "";
}

bool reassignment_complete(const ReplicaAssignment& r, const std::vector<int32_t>& isr) {
  const std::vector<int32_t> trs = r.target();
  return !trs.empty() && minus(trs, isr).empty();
}

// --- the requests ----------------------------------------------------------------------

protocol::AlterPartitionReassignmentsResponse Controller::alter_partition_reassignments(
    const protocol::AlterPartitionReassignmentsRequest& req, int16_t /*version*/) {
  auto resp = std::make_shared<protocol::AlterPartitionReassignmentsResponse>();
  const bool ran = run_on_event_thread([this, req, resp] {
    if (!is_controller_) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kNotController);
      resp->error_message = std::nullopt;
      return;
    }
    resp->error_message = std::nullopt;
    std::set<PartitionKey> started;
    for (const auto& t : req.topics) {
      auto& rt = resp->responses.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        auto [error, message] = is_controller_ ? reassign(t.name, p.partition_index, p.replicas)
                                               : std::pair{ErrorCode::kNotController, std::string()};
        rp.error_code = static_cast<int16_t>(error);
        if (error == ErrorCode::kNone) {
          rp.error_message = std::nullopt;
          started.insert({t.name, p.partition_index});
        } else {
          rp.error_message = message.empty() ? std::nullopt : std::optional<std::string>(message);
        }
      }
    }
    // The latest reassignment, by request or through the node, wins: the
    // node forgets these partitions (Kafka's maybeRemoveFromZkReassignment).
    if (!started.empty() && is_controller_) {
      drop_from_legacy_node([&](const coord::PartitionReassignment& e) {
        return started.contains({e.topic, e.partition});
      });
    }
  });
  return ran ? *resp : timed_out<protocol::AlterPartitionReassignmentsResponse>();
}

protocol::ListPartitionReassignmentsResponse Controller::list_partition_reassignments(
    const protocol::ListPartitionReassignmentsRequest& req, int16_t /*version*/) {
  auto resp = std::make_shared<protocol::ListPartitionReassignmentsResponse>();
  const bool ran = run_on_event_thread([this, req, resp] {
    resp->error_message = std::nullopt;
    if (!is_controller_) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kNotController);
      return;
    }
    std::set<PartitionKey> asked;
    if (req.topics) {
      for (const auto& t : *req.topics) {
        for (int32_t p : t.partition_indexes) asked.insert({t.name, p});
      }
    } else {
      asked = reassigning_;
    }
    // Partitions that are not moving, or do not exist, are left out (Kafka's answer).
    std::map<std::string, std::vector<protocol::ListPartitionReassignmentsResponse::OngoingPartitionReassignment>>
        found;
    for (const auto& [topic, p] : asked) {
      auto t = topics_.find(topic);
      if (t == topics_.end() || deletion_started(topic)) continue;
      const ReplicaAssignment a = assignment_of(t->second.assignment, p);
      if (!a.being_reassigned()) continue;
      auto& o = found[topic].emplace_back();
      o.partition_index = p;
      o.replicas = a.replicas;
      o.adding_replicas = a.adding;
      o.removing_replicas = a.removing;
    }
    for (auto& [topic, partitions] : found) {
      auto& t = resp->topics.emplace_back();
      t.name = topic;
      t.partitions = std::move(partitions);
    }
  });
  return ran ? *resp : timed_out<protocol::ListPartitionReassignmentsResponse>();
}

// --- the controller's side ---------------------------------------------------------------

std::pair<ErrorCode, std::string> Controller::reassign(const std::string& topic, int32_t partition,
                                                       const std::optional<std::vector<int32_t>>& target) {
  // Kafka's order: the target's own checks, then "nothing to cancel", then
  // whether the partition exists (processApiPartitionReassignment).
  auto t = topics_.find(topic);
  const bool known = t != topics_.end() && t->second.assignment.partitions.contains(partition);
  const ReplicaAssignment current = known ? assignment_of(t->second.assignment, partition) : ReplicaAssignment{};
  if (target) {
    if (std::string why = check_target_replicas(*target, current, live_broker_ids()); !why.empty()) {
      return {ErrorCode::kInvalidReplicaAssignment, why};
    }
  } else if (!current.being_reassigned()) {
    return {ErrorCode::kNoReassignmentInProgress, "no reassignment of " + topic + "-" + std::to_string(partition) +
                                                      " is in progress"};
  }
  if (!known || deleting_.contains(topic) || !t->second.states.contains(partition)) {
    return {ErrorCode::kUnknownTopicOrPartition, "The partition does not exist."};
  }
  const ReplicaAssignment next = current.reassign_to(target ? *target : current.origin());
  if (!start_reassignment(topic, partition, next)) {
    if (!is_controller_) return {ErrorCode::kNotController, ""};
    return {ErrorCode::kUnknownServerError, "cannot write the reassignment to the coordination store"};
  }
  return {ErrorCode::kNone, ""};
}

bool Controller::start_reassignment(const std::string& topic, int32_t partition, const ReplicaAssignment& next) {
  const ReplicaAssignment current = assignment_of(topics_.at(topic).assignment, partition);
  if (!(current == next)) {
    coord::TopicAssignment a = topics_.at(topic).assignment;
    set_assignment(a, partition, next);
    if (!write_assignment(topic, a)) return false;
    if (next.being_reassigned()) {
      log()->info("{}-{}: reassigning from [{}] to [{}] (adding [{}], removing [{}])", topic, partition,
                  fmt::join(next.origin(), ","), fmt::join(next.target(), ","), fmt::join(next.adding, ","),
                  fmt::join(next.removing, ","));
    } else {
      log()->info("{}-{}: reassignment cancelled, back to [{}]", topic, partition, fmt::join(next.replicas, ","));
    }
    // Replicas being added by the reassignment this one replaces, and no
    // longer wanted, go at once.
    if (auto unneeded = minus(current.replicas, next.replicas); !unneeded.empty()) {
      stop_removed_replicas(topic, partition, unneeded);
      if (!is_controller_) return false;
    }
  }
  // A replica removed earlier and wanted again must not be deleted when its broker returns.
  for (int32_t r : next.replicas) {
    if (auto it = pending_removals_.find(r); it != pending_removals_.end()) it->second.erase({topic, partition});
  }
  reassigning_.insert({topic, partition});
  on_partition_reassignment(topic, partition);
  return is_controller_;
}

void Controller::on_partition_reassignment(const std::string& topic, int32_t partition) {
  auto t = topics_.find(topic);
  // A topic queued for deletion finishes its reassignment first (it waits
  // to be deleted), unless its replicas are already being deleted.
  if (t == topics_.end() || deletion_started(topic) || !t->second.assignment.partitions.contains(partition)) {
    reassigning_.erase({topic, partition});
    return;
  }
  auto s = t->second.states.find(partition);
  if (s == t->second.states.end()) return;  // no state yet: goes on when the partition comes online
  const ReplicaAssignment a = assignment_of(t->second.assignment, partition);
  if (reassignment_complete(a, s->second.state.isr)) return complete_reassignment(topic, partition);
  // Every replica, old and new, hears of the full replica set under a new
  // leader epoch; the new ones create their logs and fetch from the leader.
  if (!write_state(topic, partition, s->second.state)) return;
  publish(topic, {partition});
}

void Controller::complete_reassignment(const std::string& topic, int32_t partition) {
  TopicState& t = topics_.at(topic);
  const ReplicaAssignment a = assignment_of(t.assignment, partition);
  const std::vector<int32_t> trs = a.target();
  const std::vector<int32_t> removed = a.removing;
  const coord::TopicAssignment before = t.assignment;
  coord::TopicAssignment completed = t.assignment;
  set_assignment(completed, partition, ReplicaAssignment{trs, {}, {}});
  // The controller's copy first: the election and the brokers see only the
  // target replicas, in the target order.
  t.assignment = completed;
  const int32_t leader = t.states.at(partition).state.leader;
  if (!contains(trs, leader) || !live_brokers_.contains(leader)) {
    auto outcome = elect({{topic, partition}}, ElectionRule::kReassignment).at({topic, partition});
    if (outcome.error != ErrorCode::kNone && outcome.error != ErrorCode::kElectionNotNeeded) {
      if (!is_controller_) return;
      log()->warn("{}-{}: the reassignment cannot move the leader into [{}]: {}; it waits", topic, partition,
                  fmt::join(trs, ","), outcome.message);
      topics_.at(topic).assignment = before;
      return;
    }
    if (!is_controller_) return;
  } else {
    // The same leader, a new replica set: a new leader epoch tells the replicas.
    if (!write_state(topic, partition, t.states.at(partition).state)) {
      if (is_controller_) topics_.at(topic).assignment = before;
      return;
    }
    publish(topic, {partition});
  }
  if (!removed.empty()) {
    stop_removed_replicas(topic, partition, removed);
    if (!is_controller_) return;
  }
  if (!write_assignment(topic, completed)) return;
  reassigning_.erase({topic, partition});
  log()->info("{}-{}: reassignment to [{}] complete (leader {})", topic, partition, fmt::join(trs, ","),
              topics_.at(topic).states.at(partition).state.leader);
  drop_from_legacy_node([&](const coord::PartitionReassignment& e) {
    return e.topic == topic && e.partition == partition && e.replicas == trs;
  });
  if (deleting_.contains(topic) && is_controller_) resume_deletions();  // it waited for this reassignment
}

void Controller::stop_removed_replicas(const std::string& topic, int32_t partition,
                                       const std::vector<int32_t>& removed) {
  TopicState& t = topics_.at(topic);
  auto s = t.states.find(partition);
  if (s != t.states.end()) {
    // A leader among them hands over first, to a live ISR member of the
    // replicas that stay (the controller's copy no longer lists the removed).
    if (contains(removed, s->second.state.leader)) {
      (void)elect({{topic, partition}}, ElectionRule::kReassignment, std::set<int32_t>(removed.begin(), removed.end()));
      if (!is_controller_) return;
    }
    // Kafka's OfflineReplica: out of the ISR (its last member stays), and no
    // leader if the leader itself could not hand over.
    coord::PartitionState next = s->second.state;
    if (contains(removed, next.leader)) next.leader = -1;
    std::vector<int32_t> isr = minus(next.isr, removed);
    if (!isr.empty()) next.isr = std::move(isr);
    if (!(next == s->second.state)) {
      if (!write_state(topic, partition, next)) return;
      publish(topic, {partition});
    }
  }
  // Each deletes its log: now if live, else when its broker starts again
  // (pending until the StopReplica is answered).
  const int32_t epoch = s != t.states.end() ? s->second.state.leader_epoch : -1;
  std::vector<int32_t> down;
  for (int32_t r : removed) {
    pending_removals_[r].insert({topic, partition});
    if (live_brokers_.contains(r)) {
      batch_.stop_replica(r, topic, partition, epoch, true);
    } else {
      down.push_back(r);
    }
  }
  send_batch();
  log()->info("{}-{}: replicas [{}] removed", topic, partition, fmt::join(removed, ","));
  if (!down.empty()) {
    log()->info("{}-{}: removed replicas on brokers [{}] delete their logs when those brokers start again", topic,
                partition, fmt::join(down, ","));
  }
}

bool Controller::write_assignment(const std::string& topic, const coord::TopicAssignment& assignment) {
  auto r = store_.update_topic_assignment(topic, assignment, fence_);
  if (!r) {
    store_write_failed("cannot write a topic's assignment", r.error());
    return false;
  }
  topics_.at(topic).assignment = assignment;
  return true;
}

// --- what drives it -------------------------------------------------------------------

void Controller::on_isr_changed(const std::string& topic, const std::vector<int32_t>& partitions) {
  std::vector<int32_t> moving;
  for (int32_t p : partitions) {
    if (reassigning_.contains({topic, p})) moving.push_back(p);
  }
  if (moving.empty()) return;
  // After the AlterPartition answer, as its own event.
  const uint64_t gen = generation_;
  post([this, gen, topic, moving] {
    if (gen != generation_ || !is_controller_) return;
    for (int32_t p : moving) {
      if (!reassigning_.contains({topic, p})) continue;
      auto t = topics_.find(topic);
      if (t == topics_.end() || !t->second.states.contains(p)) continue;
      if (reassignment_complete(assignment_of(t->second.assignment, p), t->second.states.at(p).state.isr)) {
        log()->info("{}-{}: every target replica is in the ISR", topic, p);
        complete_reassignment(topic, p);
        if (!is_controller_) return;
      }
    }
  });
}

void Controller::on_brokers_started(const std::vector<int32_t>& brokers) {
  if (brokers.empty() || !is_controller_) return;
  const std::set<PartitionKey> moving = reassigning_;
  for (const auto& [topic, p] : moving) {
    auto t = topics_.find(topic);
    if (t == topics_.end()) continue;
    const ReplicaAssignment a = assignment_of(t->second.assignment, p);
    if (std::any_of(brokers.begin(), brokers.end(), [&](int32_t b) { return contains(a.replicas, b); })) {
      on_partition_reassignment(topic, p);
      if (!is_controller_) return;
    }
  }
}

void Controller::resume_reassignments() {
  reassigning_.clear();
  if (!is_controller_) return;
  for (const auto& [name, t] : topics_) {
    for (const auto& [p, replicas] : t.assignment.partitions) {
      if (assignment_of(t.assignment, p).being_reassigned()) reassigning_.insert({name, p});
    }
  }
  // New entries in the legacy node first (a tool may have written it while
  // no controller was there), then what the assignment nodes record.
  const std::set<PartitionKey> from_node = process_legacy_reassignments();
  const std::set<PartitionKey> moving = reassigning_;
  for (const auto& [topic, p] : moving) {
    if (from_node.contains({topic, p})) continue;
    log()->info("{}-{}: resuming its reassignment", topic, p);
    on_partition_reassignment(topic, p);
    if (!is_controller_) return;
  }
}

std::set<Controller::PartitionKey> Controller::process_legacy_reassignments() {
  std::set<PartitionKey> started;
  if (!is_controller_) return started;
  const uint64_t gen = generation_;
  auto entries = store_.partition_reassignments([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) (void)process_legacy_reassignments();
    });
  });
  if (!entries) {
    // A node no one can read is ignored, as Kafka ignores it.
    log_store_error("cannot read /admin/reassign_partitions", entries.error());
    return started;
  }
  if (!*entries) return started;
  std::set<PartitionKey> failed;
  for (const auto& e : **entries) {
    const PartitionKey tp{e.topic, e.partition};
    // Under way to this very target: our own rewrite of the node fired the watch.
    if (auto t = topics_.find(e.topic); t != topics_.end() && reassigning_.contains(tp) &&
                                        assignment_of(t->second.assignment, e.partition).target() == e.replicas) {
      started.insert(tp);
      continue;
    }
    auto [error, message] = reassign(e.topic, e.partition, e.replicas);
    if (!is_controller_) return started;
    if (error == ErrorCode::kNone) {
      started.insert(tp);
    } else {
      log()->warn("{}-{}: reassignment from /admin/reassign_partitions refused: {} ({})", e.topic, e.partition,
                  protocol::error_name(error), message);
      failed.insert(tp);
    }
  }
  if (!failed.empty()) {
    drop_from_legacy_node([&](const coord::PartitionReassignment& e) { return failed.contains({e.topic, e.partition}); });
  }
  return started;
}

void Controller::drop_from_legacy_node(const std::function<bool(const coord::PartitionReassignment&)>& done) {
  auto entries = store_.partition_reassignments();
  if (!entries || !*entries) return;
  std::vector<coord::PartitionReassignment> keep;
  for (const auto& e : **entries) {
    if (!done(e)) keep.push_back(e);
  }
  if (keep.size() == (*entries)->size()) return;
  if (auto r = store_.set_partition_reassignments(keep, fence_); !r) {
    if (r.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
    log_store_error("cannot update /admin/reassign_partitions", r.error());
    return;
  }
  if (keep.empty()) log()->info("every reassignment of /admin/reassign_partitions is done; the node is deleted");
}

}  // namespace keel::controller
