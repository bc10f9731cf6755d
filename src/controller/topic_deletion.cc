// Topic deletion across the brokers (/admin/delete_topics), as Kafka's
// TopicDeletionManager runs it: the topic's nodes leave the store only once
// every replica has deleted its log, so a broker that was down when the
// topic was deleted deletes its log when it comes back.

#include "controller/topic_deletion.h"

#include <algorithm>

#include "controller/controller.h"
#include "controller/internal.h"
#include "protocol/generated/stop_replica_response.h"

namespace keel::controller {

using protocol::ErrorCode;
using namespace internal;

// --- TopicDeletion ---------------------------------------------------------------------

TopicDeletion::TopicDeletion(const std::map<int32_t, std::vector<int32_t>>& partitions) {
  for (const auto& [p, replicas] : partitions) {
    for (int32_t r : replicas) replicas_[{p, r}] = ReplicaDeletion::kPending;
  }
}

std::vector<TopicDeletion::Replica> TopicDeletion::start(const std::vector<int32_t>& live) {
  std::vector<Replica> out;
  for (auto& [replica, state] : replicas_) {
    if (state == ReplicaDeletion::kSuccessful || state == ReplicaDeletion::kStarted) continue;
    if (contains(live, replica.second)) {
      state = ReplicaDeletion::kStarted;
      out.push_back(replica);
    } else {
      state = ReplicaDeletion::kIneligible;
    }
  }
  started_ = true;
  retry_due_ = false;
  return out;
}

void TopicDeletion::answered(int32_t partition, int32_t broker, bool ok) {
  auto it = replicas_.find({partition, broker});
  if (it == replicas_.end() || it->second != ReplicaDeletion::kStarted) return;
  it->second = ok ? ReplicaDeletion::kSuccessful : ReplicaDeletion::kIneligible;
}

void TopicDeletion::broker_offline(int32_t broker) {
  for (auto& [replica, state] : replicas_) {
    if (replica.second == broker && state == ReplicaDeletion::kStarted) state = ReplicaDeletion::kIneligible;
  }
}

bool TopicDeletion::broker_started(int32_t broker) {
  for (const auto& [replica, state] : replicas_) {
    if (replica.second == broker && state == ReplicaDeletion::kIneligible) {
      retry_due_ = true;
      return true;
    }
  }
  return false;
}

bool TopicDeletion::any(ReplicaDeletion s) const {
  return std::any_of(replicas_.begin(), replicas_.end(), [s](const auto& kv) { return kv.second == s; });
}

bool TopicDeletion::done() const {
  return std::all_of(replicas_.begin(), replicas_.end(),
                     [](const auto& kv) { return kv.second == ReplicaDeletion::kSuccessful; });
}

bool TopicDeletion::can_start() const { return retry_due_ && !done() && !any(ReplicaDeletion::kStarted); }

bool TopicDeletion::any_ineligible() const { return any(ReplicaDeletion::kIneligible); }

ReplicaDeletion TopicDeletion::state(int32_t partition, int32_t broker) const {
  auto it = replicas_.find({partition, broker});
  return it == replicas_.end() ? ReplicaDeletion::kSuccessful : it->second;
}

// --- the controller's side ---------------------------------------------------------------

bool Controller::deletion_started(const std::string& topic) const {
  auto d = deletions_.find(topic);
  return d != deletions_.end() && (d->second.replicas.started() || d->second.hidden);
}

void Controller::process_deletions() {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto names = store_.topics_marked_for_deletion([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) process_deletions();
    });
  });
  if (!names) {
    log_store_error("cannot list topics to delete", names.error());
    return;
  }
  for (const auto& name : *names) {
    if (deleting_.contains(name)) continue;
    if (!options_.delete_topic_enable) {
      log()->warn("ignoring the deletion of topic '{}': delete.topic.enable is false", name);
      (void)store_.raw().remove(coord::paths::delete_topic(name));
      continue;
    }
    if (!topics_.contains(name)) {
      // A marker for no topic (Kafka drops it); whatever nodes are left go too.
      if (auto r = store_.delete_topic(name, fence_); !r) {
        if (r.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
        log_store_error("cannot delete a topic", r.error());
      }
      continue;
    }
    deleting_.insert(name);
    log()->info("topic '{}' is marked for deletion", name);
  }
  resume_deletions();
}

void Controller::resume_deletions() {
  if (!is_controller_ || loading_) return;
  const std::vector<std::string> queued(deleting_.begin(), deleting_.end());
  for (const auto& name : queued) {
    auto t = topics_.find(name);
    if (t == topics_.end()) {
      deleting_.erase(name);
      deletions_.erase(name);
      continue;
    }
    Deletion& d = deletions_[name];
    if (!d.replicas.started()) {
      // Kafka: ineligible while any of its partitions is being reassigned
      // (the reassignment finishes first, then the deletion starts).
      const bool moving = std::any_of(reassigning_.begin(), reassigning_.end(),
                                      [&](const PartitionKey& k) { return k.first == name; });
      if (moving) {
        if (d.waiting_for != "reassignment") {
          d.waiting_for = "reassignment";
          log()->info("the deletion of topic '{}' waits until its partitions' reassignment completes", name);
        }
        continue;
      }
      d.replicas = TopicDeletion(t->second.assignment.partitions);
    }
    if (d.replicas.done()) {
      complete_deletion(name);
      if (!is_controller_) return;
      continue;
    }
    if (!d.replicas.can_start()) continue;
    const auto started = d.replicas.start(live_broker_ids());
    std::set<int32_t> brokers;
    for (const auto& [p, broker] : started) {
      batch_.stop_replica(broker, name, p, -2, true);
      brokers.insert(broker);
    }
    log()->info("deleting topic '{}': StopReplica (delete) to its replicas on brokers [{}]", name,
                fmt::join(brokers, ","));
    if (d.replicas.any_ineligible()) hide_topic(name);
    send_batch();
  }
}

void Controller::hide_topic(const std::string& name) {
  Deletion& d = deletions_[name];
  std::set<int32_t> waiting;
  for (const auto& [replica, state] : d.replicas.replicas()) {
    if (state == ReplicaDeletion::kIneligible) waiting.insert(replica.second);
  }
  const std::string what = fmt::format("brokers [{}]", fmt::join(waiting, ","));
  if (d.waiting_for != what) {
    d.waiting_for = what;
    log()->warn("the deletion of topic '{}' waits for replicas on {} (down, or their deletion failed); it "
                "completes once they start again and delete their logs",
                name, what);
  }
  if (d.hidden) return;
  d.hidden = true;
  const TopicState& t = topics_.at(name);
  const std::vector<int32_t> live = live_broker_ids();
  for (const auto& [p, replicas] : t.assignment.partitions) {
    PartitionDecision pd = decision(name, p);
    pd.leader = -2;
    batch_.update_metadata(live, pd);
  }
}

void Controller::complete_deletion(const std::string& name) {
  if (auto r = store_.delete_topic(name, fence_); !r) {
    // Left queued: the next broker change or marker tries again, as does a new controller.
    if (r.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
    log_store_error("cannot delete a topic", r.error());
    return;
  }
  // Now every metadata cache drops it (again, if it was hidden).
  deletions_[name].hidden = true;
  const std::vector<int32_t> live = live_broker_ids();
  for (const auto& [p, replicas] : topics_.at(name).assignment.partitions) {
    PartitionDecision pd = decision(name, p);
    pd.leader = -2;
    batch_.update_metadata(live, pd);
  }
  topics_.erase(name);
  deleting_.erase(name);
  deletions_.erase(name);
  std::erase_if(reassigning_, [&](const PartitionKey& k) { return k.first == name; });
  std::erase_if(offline_replicas_, [&](const auto& kv) { return kv.first.first == name; });
  send_batch();
  log()->info("deleted topic '{}'", name);
}

void Controller::on_stop_replica_answer(int32_t broker, int64_t broker_epoch, const Bytes& body) {
  auto b = live_brokers_.find(broker);
  if (b == live_brokers_.end() || b->second.epoch != broker_epoch) return;  // an earlier incarnation's
  ByteReader r{ByteView(body)};
  protocol::StopReplicaResponse resp;
  if (!resp.decode(r, RequestBatch::kStopReplicaVersion)) return;
  bool touched = false;
  auto removals = pending_removals_.find(broker);
  for (const auto& pe : resp.partition_errors) {
    const bool ok = resp.error_code == 0 && pe.error_code == 0;
    if (auto d = deletions_.find(pe.topic_name); d != deletions_.end()) {
      if (d->second.replicas.state(pe.partition_index, broker) == ReplicaDeletion::kStarted) {
        d->second.replicas.answered(pe.partition_index, broker, ok);
        touched = true;
        if (!ok) {
          log()->warn("broker {} could not delete its replica of {}-{}: {}", broker, pe.topic_name,
                      pe.partition_index, protocol::error_name(static_cast<ErrorCode>(pe.error_code)));
          hide_topic(pe.topic_name);
        }
      }
    }
    if (removals != pending_removals_.end() && ok) removals->second.erase({pe.topic_name, pe.partition_index});
  }
  if (removals != pending_removals_.end() && removals->second.empty()) pending_removals_.erase(removals);
  if (touched) resume_deletions();
  send_batch();
}

void Controller::on_brokers_changed_for_deletion(const std::set<int32_t>& offline,
                                                 const std::vector<int32_t>& started) {
  if (!is_controller_ || (offline.empty() && started.empty())) return;
  for (auto& [name, d] : deletions_) {
    if (!d.replicas.started()) continue;
    for (int32_t b : offline) d.replicas.broker_offline(b);
    for (int32_t b : started) (void)d.replicas.broker_started(b);
    if (d.replicas.any_ineligible() && topics_.contains(name)) hide_topic(name);
  }
  for (int32_t b : started) send_pending_removals(b);
  send_batch();
  resume_deletions();
}

void Controller::send_pending_removals(int32_t broker) {
  auto it = pending_removals_.find(broker);
  if (it == pending_removals_.end()) return;
  const auto removals = it->second;
  for (const auto& [topic, p] : removals) {
    // A replica there again (reassigned back, or a new topic of that name): it stays.
    if (auto t = topics_.find(topic); t != topics_.end() && contains(assignment_of(t->second.assignment, p).replicas, broker)) {
      it->second.erase({topic, p});
      continue;
    }
    log()->info("{}-{}: broker {} is back; its removed replica deletes its log", topic, p, broker);
    batch_.stop_replica(broker, topic, p, -1, true);
  }
  if (it->second.empty()) pending_removals_.erase(it);
}

}  // namespace keel::controller
