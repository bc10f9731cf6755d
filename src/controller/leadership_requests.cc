// The leadership requests the controller answers for others: ElectLeaders
// (kafka-leader-election, AdminClient.electLeaders) and ControlledShutdown
// (a broker stopping on SIGTERM).

#include <memory>

#include "controller/controller.h"
#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using namespace internal;

protocol::ElectLeadersResponse Controller::elect_leaders(const protocol::ElectLeadersRequest& req, int16_t version) {
  auto resp = std::make_shared<protocol::ElectLeadersResponse>();
  // v0 has no election type: it elects the preferred replica.
  const ElectionRule rule = version >= 1 && req.election_type == 1 ? ElectionRule::kUnclean : ElectionRule::kPreferred;
  if (version >= 1 && req.election_type != 0 && req.election_type != 1) {
    resp->error_code = static_cast<int16_t>(ErrorCode::kInvalidRequest);
    return *resp;
  }
  const bool ran = run_on_event_thread([this, req, rule, resp] {
    if (!is_controller_) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kNotController);
      return;
    }
    std::vector<std::pair<std::string, int32_t>> partitions;
    if (!req.topic_partitions) {
      for (const auto& [name, t] : topics_) {
        if (deleting_.contains(name)) continue;
        for (const auto& [p, node] : t.states) partitions.emplace_back(name, p);
      }
    } else {
      for (const auto& tp : *req.topic_partitions) {
        for (int32_t p : tp.partitions) partitions.emplace_back(tp.topic, p);
      }
    }
    const auto outcomes = elect(partitions, rule);
    for (const auto& [tp, o] : outcomes) {
      auto topic = std::find_if(resp->replica_election_results.begin(), resp->replica_election_results.end(),
                                [&](const auto& r) { return r.topic == tp.first; });
      if (topic == resp->replica_election_results.end()) {
        topic = resp->replica_election_results.emplace(resp->replica_election_results.end());
        topic->topic = tp.first;
      }
      auto& pr = topic->partition_result.emplace_back();
      pr.partition_id = tp.second;
      pr.error_code = static_cast<int16_t>(o.error);
      if (o.error == ErrorCode::kNone) {
        pr.error_message = std::nullopt;
      } else {
        pr.error_message = o.message;
      }
    }
  });
  if (!ran) resp->error_code = static_cast<int16_t>(ErrorCode::kRequestTimedOut);
  return *resp;
}

protocol::ControlledShutdownResponse Controller::controlled_shutdown(const protocol::ControlledShutdownRequest& req,
                                                                     int16_t version) {
  auto resp = std::make_shared<protocol::ControlledShutdownResponse>();
  const bool ran = run_on_event_thread([this, req, version, resp] {
    if (!is_controller_) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kNotController);
      return;
    }
    const int32_t id = req.broker_id;
    auto broker = live_brokers_.find(id);
    if (broker == live_brokers_.end()) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kBrokerNotAvailable);
      return;
    }
    if (version >= 2 && req.broker_epoch != -1 && req.broker_epoch != broker->second.epoch) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kStaleBrokerEpoch);
      return;
    }
    if (shutting_down_.insert(id).second) log()->info("broker {} is shutting down (controlled)", id);
    // Every partition it hosts with another replica: what it leads moves to
    // another ISR member, and it leaves the ISRs it is in. A partition with a
    // single replica just goes offline with it (Kafka does not wait for those).
    std::vector<std::pair<std::string, int32_t>> partitions;
    for (const auto& [name, t] : topics_) {
      if (deleting_.contains(name)) continue;
      for (const auto& [p, replicas] : t.assignment.partitions) {
        if (replicas.size() > 1 && contains(replicas, id) && t.states.contains(p)) partitions.emplace_back(name, p);
      }
    }
    const auto outcomes = elect(partitions, ElectionRule::kControlledShutdown, shutting_down_);
    if (!is_controller_) {
      resp->error_code = static_cast<int16_t>(ErrorCode::kNotController);
      return;
    }
    size_t moved = 0;
    for (const auto& [tp, o] : outcomes) {
      const auto& node = topics_.at(tp.first).states.at(tp.second);
      if (node.state.leader == id) {
        auto& r = resp->remaining_partitions.emplace_back();
        r.topic_name = tp.first;
        r.partition_index = tp.second;
        continue;
      }
      // A follower now: it stops fetching (StopReplica without delete, after
      // the LeaderAndIsr that made it one), so it cannot rejoin the ISR.
      batch_.stop_replica(id, tp.first, tp.second, node.state.leader_epoch, false);
      ++moved;
    }
    send_batch();
    log()->info("controlled shutdown of broker {}: {} partitions moved or left, {} still led by it", id, moved,
                resp->remaining_partitions.size());
  });
  if (!ran) resp->error_code = static_cast<int16_t>(ErrorCode::kRequestTimedOut);
  // The controller's own broker stops next (fetchers, producer snapshots):
  // the LeaderAndIsr that made it a follower is applied first. Waited for
  // here, on the caller's thread; the event thread went on at once.
  if (ran && req.broker_id == options_.broker_id && channels_ && !wait_for_local_broker()) {
    log()->warn("controlled shutdown of broker {}: its own LeaderAndIsr not applied within {} ms", req.broker_id,
                kLocalApplyWaitMs);
  }
  return *resp;
}

}  // namespace keel::controller
