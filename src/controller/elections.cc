// Leader elections and telling the brokers: the partition state machine's decisions.

#include "controller/controller.h"

#include <algorithm>

#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;
using namespace internal;

// Offline election for partitions whose leader is gone: the first replica in
// assignment order that is live and in the ISR (or, when the topic allows an
// unclean election and no ISR member is live, the first live replica, which
// then is the whole ISR). Replicas in `offline` (dead or bounced brokers)
// leave every ISR, unless one is the last member: then the ISR stays as it is
// and the partition has no leader until an ISR member returns (Kafka's rule).
// Every change bumps the leader epoch.
void Controller::elect_leaders_for(const std::string& name, const std::set<int32_t>& offline) {
  auto it = topics_.find(name);
  if (it == topics_.end() || deleting_.contains(name)) return;
  TopicState& t = it->second;
  const std::vector<int32_t> live = live_broker_ids();
  auto usable = [&](int32_t r) { return contains(live, r) && !offline.contains(r); };
  std::vector<int32_t> changed;
  std::vector<std::pair<std::pair<std::string, int32_t>, coord::PartitionState>> to_write;
  for (auto& [p, node] : t.states) {
    const coord::PartitionState& cur = node.state;
    const bool leader_ok = cur.leader >= 0 && usable(cur.leader);
    // Every ISR member must be live too: a new controller never saw the
    // brokers that died before it was elected (the old controller among
    // them), and finds them only missing from the live set.
    const bool isr_ok = std::all_of(cur.isr.begin(), cur.isr.end(), usable);
    if (leader_ok && isr_ok) continue;
    coord::PartitionState next = cur;
    std::vector<int32_t> isr;
    for (int32_t r : cur.isr) {
      if (usable(r)) isr.push_back(r);
    }
    const auto& replicas = t.assignment.partitions[p];
    if (leader_ok) {
      next.isr = isr;  // only followers left
    } else {
      int32_t leader = -1;
      for (int32_t r : replicas) {
        if (contains(isr, r) && !replica_offline(name, p, r)) {
          leader = r;
          break;
        }
      }
      if (leader < 0 && unclean_allowed(name)) {
        for (int32_t r : replicas) {
          if (usable(r) && !replica_offline(name, p, r)) {
            leader = r;
            log()->warn("unclean election: {}-{} led by out-of-sync replica {}; records may be lost", name, p, r);
            unclean_elections_.fetch_add(1, std::memory_order_relaxed);
            isr = {r};
            break;
          }
        }
      }
      if (leader < 0 && cur.leader < 0) continue;  // still nobody
      next.leader = leader;
      // With nobody to lead, the ISR keeps its last member(s) (Kafka's rule).
      if (leader >= 0) next.isr = isr;
    }
    if (next == cur) continue;
    to_write.push_back({{name, p}, next});
  }
  // A broker that led thousands of partitions: their states go to the store
  // together, as a controlled shutdown's do.
  const std::vector<bool> written = write_states(to_write);
  for (size_t i = 0; i < to_write.size(); ++i) {
    if (written[i]) changed.push_back(to_write[i].first.second);
  }
  if (is_controller_) publish(name, changed);
}

void Controller::store_write_failed(const char* what, const std::error_code& ec) {
  if (ec == coord::KafkaStoreErrc::kControllerMoved) {
    resign();
  } else {
    log_store_error(what, ec);
  }
}

void Controller::state_written(const std::string& topic, int32_t partition, const coord::PartitionState& state,
                               int32_t zk_version) {
  auto& node = topics_.at(topic).states.at(partition);
  log()->info("{}-{}: leader {} -> {}, ISR [{}] -> [{}] (leader epoch {})", topic, partition, node.state.leader,
              state.leader, fmt::join(node.state.isr, ","), fmt::join(state.isr, ","), state.leader_epoch);
  node = {state, zk_version};
  if (state.leader >= 0) offline_replicas_.erase({topic, partition});
}

bool Controller::write_state(const std::string& topic, int32_t partition, coord::PartitionState next) {
  const auto& node = topics_.at(topic).states.at(partition);
  next.leader_epoch = node.state.leader_epoch + 1;
  next.controller_epoch = fence_.controller_epoch;
  auto updated = store_.update_partition_state(topic, partition, next, node.zk_version, fence_);
  if (!updated) {
    store_write_failed("cannot update a partition state", updated.error());
    return false;
  }
  state_written(topic, partition, next, *updated);
  return true;
}

std::map<std::pair<std::string, int32_t>, ElectionOutcome> Controller::elect(
    const std::vector<std::pair<std::string, int32_t>>& partitions, ElectionRule rule,
    const std::set<int32_t>& excluded) {
  std::map<std::pair<std::string, int32_t>, ElectionOutcome> out;
  const std::vector<int32_t> live = live_broker_ids();
  std::map<std::string, std::vector<int32_t>> changed;
  std::vector<std::pair<std::pair<std::string, int32_t>, coord::PartitionState>> to_write;
  for (const auto& tp : partitions) {
    ElectionOutcome& o = out[tp];
    const auto& [name, p] = tp;
    auto t = topics_.find(name);
    // A topic queued for deletion: only its reassignment goes on, until its replicas are being deleted.
    const bool deleted = deletion_started(name) || (deleting_.contains(name) && rule != ElectionRule::kReassignment);
    if (t == topics_.end() || deleted || !t->second.states.contains(p) ||
        !t->second.assignment.partitions.contains(p)) {
      o.error = ErrorCode::kUnknownTopicOrPartition;
      o.message = "no such partition";
      continue;
    }
    const coord::PartitionState& cur = t->second.states.at(p).state;
    const std::vector<int32_t>& replicas = t->second.assignment.partitions.at(p);
    auto in_sync = [&](int32_t r) {
      return contains(live, r) && contains(cur.isr, r) && !excluded.contains(r) && !replica_offline(name, p, r);
    };
    coord::PartitionState next = cur;
    int32_t leader = -1;
    switch (rule) {
      case ElectionRule::kPreferred:
        if (!replicas.empty() && in_sync(replicas.front())) leader = replicas.front();
        if (leader >= 0 && leader == cur.leader) {
          o.error = ErrorCode::kElectionNotNeeded;
          o.message = "the preferred replica already leads";
        } else if (leader < 0) {
          o.error = ErrorCode::kPreferredLeaderNotAvailable;
          o.message = "the preferred replica is not live or not in the ISR";
        }
        break;
      case ElectionRule::kReassignment:
      case ElectionRule::kControlledShutdown:
      case ElectionRule::kOffline:
      case ElectionRule::kUnclean:
        if (rule == ElectionRule::kUnclean || rule == ElectionRule::kOffline) {
          if (cur.leader >= 0 && contains(live, cur.leader) && !replica_offline(name, p, cur.leader)) {
            o.error = ErrorCode::kElectionNotNeeded;
            o.message = "the partition has a live leader";
            break;
          }
        }
        // A controlled shutdown moves only what the stopping brokers lead.
        if (rule == ElectionRule::kControlledShutdown && cur.leader >= 0 && in_sync(cur.leader)) {
          leader = cur.leader;
        }
        for (int32_t r : replicas) {
          if (leader < 0 && in_sync(r)) leader = r;
        }
        if (leader < 0 && (rule == ElectionRule::kUnclean ||
                           (rule == ElectionRule::kOffline && unclean_allowed(name)))) {
          // The first live replica; one that refused to lead only when no
          // other is live, and only when an operator asked (kUnclean).
          for (int pass = 0; pass < 2 && leader < 0; ++pass) {
            if (pass == 1 && rule != ElectionRule::kUnclean) break;
            for (int32_t r : replicas) {
              if (contains(live, r) && !excluded.contains(r) && (pass == 1 || !replica_offline(name, p, r))) {
                leader = r;
                next.isr = {r};
                log()->warn("unclean election: {}-{} led by out-of-sync replica {}; records may be lost", name, p, r);
                unclean_elections_.fetch_add(1, std::memory_order_relaxed);
                break;
              }
            }
          }
        }
        if (leader < 0) {
          o.error = ErrorCode::kEligibleLeadersNotAvailable;
          o.message = "no live replica in the ISR can lead";
        } else if (leader == cur.leader && rule != ElectionRule::kControlledShutdown) {
          o.error = ErrorCode::kElectionNotNeeded;
          o.message = "the leader already is the one the rule picks";
        }
        break;
    }
    if (o.error != ErrorCode::kNone) {
      o.leader = cur.leader;
      continue;
    }
    next.leader = leader;
    // A replica that could not lead because its log is gone or short
    // (offline_replicas_) is not in sync either: out of the ISR until it has
    // caught up with the new leader.
    if (rule == ElectionRule::kOffline) {
      std::erase_if(next.isr, [&](int32_t r) { return r != leader && replica_offline(name, p, r); });
    }
    if (rule == ElectionRule::kControlledShutdown) {
      std::vector<int32_t> isr;
      for (int32_t r : next.isr) {
        if (!excluded.contains(r)) isr.push_back(r);
      }
      next.isr = isr;
    }
    o.leader = leader;
    if (next == cur) continue;
    to_write.push_back({tp, next});
  }
  // Written together (one store round trip per 500 partitions: a controlled
  // shutdown of a broker leading thousands), one by one if that fails.
  const std::vector<bool> written = write_states(to_write);
  for (size_t i = 0; i < to_write.size(); ++i) {
    const auto& [tp, next] = to_write[i];
    if (written[i]) {
      changed[tp.first].push_back(tp.second);
      continue;
    }
    ElectionOutcome& o = out[tp];
    o.error = is_controller_ ? ErrorCode::kUnknownServerError : ErrorCode::kNotController;
    o.message = "cannot write the partition state";
    o.leader = topics_.at(tp.first).states.at(tp.second).state.leader;
  }
  if (is_controller_) {
    // One LeaderAndIsr and one UpdateMetadata per broker for the whole
    // election, as Kafka's controller batches them: a controlled shutdown of
    // a broker leading 200 topics sent 200 of each, one after another.
    for (const auto& [name, ps] : changed) publish(name, ps, {}, /*send=*/false);
    send_batch();
  }
  return out;
}

std::vector<bool> Controller::write_states(
    const std::vector<std::pair<std::pair<std::string, int32_t>, coord::PartitionState>>& updates) {
  constexpr size_t kChunk = 500;
  std::vector<bool> written(updates.size(), false);
  for (size_t start = 0; start < updates.size() && is_controller_; start += kChunk) {
    const size_t end = std::min(updates.size(), start + kChunk);
    std::vector<coord::KafkaStore::StateUpdate> batch;
    for (size_t i = start; i < end; ++i) {
      const auto& [tp, next] = updates[i];
      const auto& node = topics_.at(tp.first).states.at(tp.second);
      coord::PartitionState s = next;
      s.leader_epoch = node.state.leader_epoch + 1;
      s.controller_epoch = fence_.controller_epoch;
      batch.push_back({tp.first, tp.second, s, node.zk_version});
    }
    if (batch.size() == 1) {
      written[start] = write_state(updates[start].first.first, updates[start].first.second, updates[start].second);
      continue;
    }
    auto versions = store_.update_partition_states(batch, fence_);
    if (versions && versions->size() == batch.size()) {
      for (size_t k = 0; k < batch.size(); ++k) {
        state_written(batch[k].topic, batch[k].partition, batch[k].state, (*versions)[k]);
        written[start + k] = true;
      }
      continue;
    }
    if (!versions && versions.error() == coord::KafkaStoreErrc::kControllerMoved) {
      resign();
      break;
    }
    // The chunk is atomic: nothing of it was written; one by one tells which can be.
    for (size_t i = start; i < end && is_controller_; ++i) {
      written[i] = write_state(updates[i].first.first, updates[i].first.second, updates[i].second);
    }
  }
  return written;
}

void Controller::check_leader_imbalance() {
  if (!is_controller_ || loading_) return;
  const std::vector<int32_t> live = live_broker_ids();
  std::map<int32_t, size_t> preferred_of;                                   // broker -> partitions it prefers
  std::map<int32_t, std::vector<std::pair<std::string, int32_t>>> led_elsewhere;  // ... led by another
  for (const auto& [name, t] : topics_) {
    if (deleting_.contains(name)) continue;
    for (const auto& [p, node] : t.states) {
      auto a = t.assignment.partitions.find(p);
      if (a == t.assignment.partitions.end() || a->second.empty()) continue;
      if (t.assignment.adding_replicas.contains(p) || t.assignment.removing_replicas.contains(p)) continue;
      const int32_t preferred = a->second.front();
      ++preferred_of[preferred];
      if (node.state.leader != preferred && contains(node.state.isr, preferred)) {
        led_elsewhere[preferred].emplace_back(name, p);
      }
    }
  }
  for (const auto& [broker, partitions] : led_elsewhere) {
    if (!contains(live, broker) || shutting_down_.contains(broker)) continue;
    const size_t share = partitions.size() * 100 / preferred_of[broker];
    if (share <= static_cast<size_t>(options_.leader_imbalance_per_broker_percentage)) continue;
    log()->info("leader imbalance: broker {} prefers {} partitions, {} led elsewhere ({}%); electing it again",
                broker, preferred_of[broker], partitions.size(), share);
    elect(partitions, ElectionRule::kPreferred);
    if (!is_controller_) return;
  }
}

bool Controller::unclean_allowed(const std::string& topic) const {
  auto it = topics_.find(topic);
  if (it != topics_.end()) {
    auto o = it->second.overrides.find("unclean.leader.election.enable");
    if (o != it->second.overrides.end()) return o->second == "true";
  }
  return options_.unclean_leader_election_enable;
}

PartitionDecision Controller::decision(const std::string& name, int32_t p) const {
  PartitionDecision d;
  d.topic = name;
  d.partition = p;
  auto it = topics_.find(name);
  if (it == topics_.end()) return d;
  const TopicState& t = it->second;
  d.topic_id = t.id;
  if (auto a = t.assignment.partitions.find(p); a != t.assignment.partitions.end()) d.replicas = a->second;
  const std::vector<int32_t> live = live_broker_ids();
  for (int32_t r : d.replicas) {
    if (!contains(live, r)) d.offline_replicas.push_back(r);
  }
  if (auto s = t.states.find(p); s != t.states.end()) {
    auto deletion = deletions_.find(name);
    d.leader = deletion != deletions_.end() && deletion->second.hidden ? -2 : s->second.state.leader;
    d.leader_epoch = s->second.state.leader_epoch;
    d.partition_epoch = s->second.zk_version;
    d.controller_epoch = s->second.state.controller_epoch;
    d.isr = s->second.state.isr;
  }
  return d;
}

void Controller::publish(const std::string& name, const std::vector<int32_t>& partitions,
                         const std::vector<int32_t>& created, bool send) {
  // While loading, send_full_state tells everything afterwards.
  if (loading_ || partitions.empty() || !topics_.contains(name)) return;
  const std::vector<int32_t> live = live_broker_ids();
  for (int32_t p : partitions) {
    PartitionDecision d = decision(name, p);
    d.is_new = contains(created, p);
    std::vector<int32_t> hosts;
    for (int32_t r : d.replicas) {
      if (contains(live, r)) hosts.push_back(r);
    }
    if (d.leader >= 0) batch_.leader_and_isr(hosts, d);
    batch_.update_metadata(live, d);
  }
  if (send) send_batch();
}

void Controller::send_full_state(const std::vector<int32_t>& brokers) {
  if (brokers.empty()) return;
  for (const auto& [name, t] : topics_) {
    for (const auto& [p, node] : t.states) {
      PartitionDecision d = decision(name, p);
      std::vector<int32_t> hosts;
      for (int32_t b : brokers) {
        // A topic queued for deletion is not hosted again (Kafka's onBrokerStartup).
        if (contains(d.replicas, b) && !deleting_.contains(name)) hosts.push_back(b);
      }
      if (d.leader >= 0 && !hosts.empty()) batch_.leader_and_isr(hosts, d);
      batch_.update_metadata(brokers, d);
    }
  }
  batch_.update_metadata_brokers(brokers);  // also when there are no topics
  send_batch();
}

void Controller::send_batch() {
  if (loading_ || !is_controller_ || !channels_ || batch_.empty()) return;
  const uint64_t gen = generation_;
  batch_.send(*channels_, options_.broker_id, fence_.controller_epoch, live_brokers_, options_.inter_broker_listener,
              [this, gen](int32_t broker, Result<Bytes> body) {
                if (!body) return;
                post([this, gen, broker, body = std::move(*body)] {
                  if (gen == generation_ && is_controller_) on_leader_and_isr_answer(broker, body);
                });
              },
              [this, gen](int32_t broker, int64_t broker_epoch, Result<Bytes> body) {
                if (!body) return;
                post([this, gen, broker, broker_epoch, body = std::move(*body)] {
                  if (gen == generation_ && is_controller_) on_stop_replica_answer(broker, broker_epoch, body);
                });
              });
}

}  // namespace keel::controller
