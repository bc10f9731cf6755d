// The leadership requests the controller answers for others: ElectLeaders
// (kafka-leader-election, AdminClient.electLeaders) and ControlledShutdown
// (a broker stopping on SIGTERM).

#include <memory>
#include <set>

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
  auto new_leaders = std::make_shared<std::set<int32_t>>();
  auto held = std::make_shared<bool>(false);
  const bool ran = run_on_event_thread([this, req, version, resp, new_leaders, held] {
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
    // The stopping broker's own requests (its LeaderAndIsr as a follower,
    // which elect() sends) wait until the new leaders have taken theirs
    // (released below, after the event thread).
    if (channels_ && !partitions.empty()) {
      channels_->hold_for(id, std::chrono::milliseconds(2 * kHandoverWaitMs));
      *held = true;
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
      if (node.state.leader >= 0) new_leaders->insert(node.state.leader);
      ++moved;
    }
    send_batch();
    log()->info("controlled shutdown of broker {}: {} partitions moved or left, {} still led by it", id, moved,
                resp->remaining_partitions.size());
  });
  if (!ran) resp->error_code = static_cast<int16_t>(ErrorCode::kRequestTimedOut);
  // The handover. Kafka sends the stopping broker its LeaderAndIsr (it is a
  // follower now) together with the new leaders'; a new leader slower to
  // apply its share (thousands of partitions; the controller's own broker
  // behind earlier requests) leaves those partitions led by nobody
  // meanwhile. Here the stopping broker's requests wait (hold_for above)
  // until each new leader has taken its own, a bounded time, and the answer
  // after them: a partition is led by both for the moment it takes the
  // stopping broker to apply its demotion, by neither not at all. (A
  // produce with acks=all to the old leader then cannot complete: its
  // followers have left it. One with acks=1 could be lost, as it can be in
  // Kafka on any leader change.)
  if (ran && resp->error_code == 0 && channels_) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHandoverWaitMs);
    for (const int32_t leader : *new_leaders) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !channels_->wait_idle(leader, left, /*or_failing=*/true)) {
        log()->warn("controlled shutdown of broker {}: new leader {} has not taken its LeaderAndIsr within {} ms; "
                    "answering anyway",
                    req.broker_id, leader, kHandoverWaitMs);
        break;
      }
    }
  }
  if (ran && *held && channels_) channels_->release(req.broker_id);
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
