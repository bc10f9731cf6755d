// Replicas that cannot serve: a broker's failed log dir, reported through the
// store (Kafka's LogDirEventNotification), and the KAFKA_STORAGE_ERROR answers
// to LeaderAndIsr that say which replicas are offline (a failed log dir, or a
// replica that lost acknowledged records and refuses to lead).

#include "controller/controller.h"

#include <algorithm>

#include "controller/internal.h"
#include "protocol/generated/leader_and_isr_response.h"

namespace keel::controller {

using protocol::ErrorCode;
using namespace internal;

bool Controller::replica_offline(const std::string& topic, int32_t partition, int32_t broker) const {
  auto it = offline_replicas_.find({topic, partition});
  return it != offline_replicas_.end() && it->second.contains(broker);
}

// --- this broker's side: telling the controller -------------------------------------

void Controller::log_dir_failed() {
  post([this] { report_log_dir_failure(0); });
}

void Controller::report_log_dir_failure(int attempt) {
  auto r = store_.create_log_dir_event(options_.broker_id);
  if (r) {
    log()->warn("a log dir of broker {} failed: told the controller, which moves its replicas there to other "
                "in-sync replicas where there are any",
                options_.broker_id);
    return;
  }
  if (!is_outage(r.error())) {
    log_store_error("cannot report a failed log dir", r.error());
    return;
  }
  // The store is away for a moment: the controller must still hear of it.
  post_after(reregister_backoff_ms(attempt), [this, attempt] { report_log_dir_failure(attempt + 1); });
}

// --- the controller's side ---------------------------------------------------------------

void Controller::process_log_dir_events() {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto events = store_.log_dir_events([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) process_log_dir_events();
    });
  });
  if (!events) {
    store_read_failed("cannot read the log dir failure notifications", events.error(),
                      [this] { process_log_dir_events(); });
    return;
  }
  if (events->empty()) return;
  std::set<int32_t> brokers;
  std::vector<std::string> nodes;
  for (const auto& e : *events) {
    nodes.push_back(e.node);
    if (e.broker) {
      brokers.insert(*e.broker);
    } else {
      log()->warn("skipping the unreadable log dir failure notification {}", e.node);
    }
  }
  // Kafka's onBrokerLogDirFailure: LeaderAndIsr for every replica the broker
  // hosts, at the partition's current state; its KAFKA_STORAGE_ERROR answers
  // (on_leader_and_isr_answer) say which replicas are offline. A broker that
  // is not live any more needs nothing: its replicas went offline with it.
  for (int32_t b : brokers) {
    if (!live_brokers_.contains(b)) continue;
    log()->warn("broker {} reports a failed log dir: asking it which of its replicas are offline", b);
    for (const auto& [name, t] : topics_) {
      if (deleting_.contains(name)) continue;
      for (const auto& [p, node] : t.states) {
        PartitionDecision d = decision(name, p);
        if (d.leader >= 0 && contains(d.replicas, b)) batch_.leader_and_isr({b}, d);
      }
    }
  }
  send_batch();
  if (auto r = store_.delete_log_dir_events(nodes, fence_); !r) {
    store_write_failed("cannot delete the log dir failure notifications", r.error());
  }
}

void Controller::on_leader_and_isr_answer(int32_t broker, const Bytes& body) {
  ByteReader r{ByteView(body)};
  protocol::LeaderAndIsrResponse resp;
  if (!resp.decode(r, RequestBatch::kLeaderAndIsrVersion)) return;
  std::vector<std::pair<std::string, int32_t>> lost_leaders;
  std::vector<std::pair<std::string, int32_t>> lost_followers;
  for (const auto& t : resp.topics) {
    std::string name;
    for (const auto& [n, ts] : topics_) {
      if (ts.id == t.topic_id) name = n;
    }
    if (name.empty()) continue;
    for (const auto& pe : t.partition_errors) {
      if (pe.error_code != static_cast<int16_t>(ErrorCode::kKafkaStorageError)) continue;
      offline_replicas_[{name, pe.partition_index}].insert(broker);
      auto s = topics_.at(name).states.find(pe.partition_index);
      if (s == topics_.at(name).states.end()) continue;
      if (s->second.state.leader == broker) {
        lost_leaders.emplace_back(name, pe.partition_index);
      } else if (contains(s->second.state.isr, broker)) {
        lost_followers.emplace_back(name, pe.partition_index);
      }
    }
  }
  for (const auto& tp : lost_leaders) {
    log()->error("{}-{}: broker {} cannot lead (its replica is offline or lost acknowledged records)", tp.first,
                 tp.second, broker);
  }
  const auto outcomes = elect(lost_leaders, ElectionRule::kOffline);
  if (!is_controller_) return;
  for (const auto& tp : lost_leaders) {
    if (outcomes.at(tp).error != ErrorCode::kEligibleLeadersNotAvailable) continue;
    const auto& t = topics_.at(tp.first);
    if (t.assignment.partitions.at(tp.second).size() <= 1) {
      // The only replica: nobody could have more of it. It keeps leading
      // and serves reads of what it has; writes fail while its log is offline.
      // (A replica refuses leadership for lost records only when other
      // replicas exist, so here the log is offline.)
      log()->error("{}-{}: its only replica, on broker {}, is offline: it stays the leader for reads until its log "
                   "dir is back (a restart with the disk repaired or space freed)",
                   tp.first, tp.second, broker);
      continue;
    }
    // Nobody else can lead: offline (leader -1, the ISR kept), as Kafka
    // leaves a partition whose last ISR member is gone.
    coord::PartitionState next = t.states.at(tp.second).state;
    next.leader = -1;
    if (write_state(tp.first, tp.second, next)) {
      log()->error("{}-{} is offline: no other in-sync replica; an unclean leader election brings it back with the "
                   "best other replica",
                   tp.first, tp.second);
      publish(tp.first, {tp.second});
    }
  }
  // An offline follower leaves the ISR at once (Kafka's OfflineReplica
  // transition), not after replica.lag.time.max.ms: acks=all writes would
  // wait for it until then.
  std::vector<std::pair<std::pair<std::string, int32_t>, coord::PartitionState>> to_write;
  for (const auto& tp : lost_followers) {
    const coord::PartitionState& cur = topics_.at(tp.first).states.at(tp.second).state;
    if (cur.leader < 0 || cur.leader == broker || !contains(cur.isr, broker)) continue;
    coord::PartitionState next = cur;
    std::erase(next.isr, broker);
    log()->warn("{}-{}: broker {}'s replica is offline; it leaves the ISR", tp.first, tp.second, broker);
    to_write.push_back({tp, next});
  }
  const std::vector<bool> written = write_states(to_write);
  std::map<std::string, std::vector<int32_t>> changed;
  for (size_t i = 0; i < to_write.size(); ++i) {
    if (written[i]) changed[to_write[i].first.first].push_back(to_write[i].first.second);
  }
  if (!is_controller_) return;
  for (const auto& [name, ps] : changed) publish(name, ps, {}, /*send=*/false);
  send_batch();
}

}  // namespace keel::controller
