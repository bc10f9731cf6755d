// AlterPartition (KIP-497): a leader's ISR change, checked and written by the
// controller.

#include "controller/controller.h"

#include <algorithm>
#include <functional>

#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;
using namespace internal;

// --- AlterPartition ---------------------------------------------------------------

void Controller::alter_partition(const protocol::AlterPartitionRequest& req, int16_t version,
                                 std::function<void(protocol::AlterPartitionResponse)> done) {
  const bool posted = post([this, req, version, done] {
    protocol::AlterPartitionResponse resp;
    auto fail_all = [&](ErrorCode e) {
      resp.error_code = static_cast<int16_t>(e);
      done(std::move(resp));
    };
    if (!is_controller_) return fail_all(ErrorCode::kNotController);
    auto broker = live_brokers_.find(req.broker_id);
    if (broker == live_brokers_.end() || (req.broker_epoch != -1 && req.broker_epoch != broker->second.epoch)) {
      return fail_all(ErrorCode::kStaleBrokerEpoch);
    }
    const std::vector<int32_t> live = live_broker_ids();
    for (const auto& td : req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.topic_name = td.topic_name;
      rt.topic_id = td.topic_id;
      std::string name = td.topic_name;
      if (version >= 2) {
        for (const auto& [n, t] : topics_) {
          if (t.id == td.topic_id) name = n;
        }
      }
      std::vector<int32_t> changed;
      for (const auto& pd : td.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = pd.partition_index;
        auto set_error = [&](ErrorCode e) { rp.error_code = static_cast<int16_t>(e); };
        auto t = topics_.find(name);
        // A topic queued for deletion still changes its ISR while its reassignment finishes.
        if (t == topics_.end() || deletion_started(name) || !t->second.states.contains(pd.partition_index)) {
          set_error(ErrorCode::kUnknownTopicOrPartition);
          continue;
        }
        auto& node = t->second.states[pd.partition_index];
        const auto& replicas = t->second.assignment.partitions[pd.partition_index];
        std::vector<int32_t> new_isr = pd.new_isr;
        if (version >= 3) {
          new_isr.clear();
          for (const auto& b : pd.new_isr_with_epochs) new_isr.push_back(b.broker_id);
        }
        if (node.state.leader != req.broker_id || pd.leader_epoch < node.state.leader_epoch) {
          set_error(ErrorCode::kFencedLeaderEpoch);
          continue;
        }
        if (pd.leader_epoch > node.state.leader_epoch || pd.partition_epoch != node.zk_version) {
          set_error(ErrorCode::kInvalidUpdateVersion);
          continue;
        }
        const bool eligible = contains(new_isr, req.broker_id) &&
                              std::all_of(new_isr.begin(), new_isr.end(), [&](int32_t r) {
                                // A broker in controlled shutdown may leave an ISR, not join one.
                                const bool joining = !contains(node.state.isr, r);
                                return contains(replicas, r) && contains(live, r) &&
                                       !(joining && shutting_down_.contains(r));
                              });
        if (!eligible) {
          set_error(ErrorCode::kIneligibleReplica);
          continue;
        }
        if (new_isr != node.state.isr) {
          coord::PartitionState next = node.state;
          next.isr = new_isr;
          next.controller_epoch = fence_.controller_epoch;
          auto updated = store_.update_partition_state(name, pd.partition_index, next, node.zk_version, fence_);
          if (!updated) {
            if (updated.error() == coord::KafkaStoreErrc::kControllerMoved) {
              resign();
              set_error(ErrorCode::kNotController);
            } else {
              log_store_error("cannot write an ISR change", updated.error());
              set_error(ErrorCode::kInvalidUpdateVersion);
            }
            continue;
          }
          log()->info("{}-{}: ISR [{}] -> [{}] (asked by leader {})", name, pd.partition_index,
                      fmt::join(node.state.isr, ","), fmt::join(new_isr, ","), req.broker_id);
          node = {next, *updated};
          changed.push_back(pd.partition_index);
        }
        rp.leader_id = node.state.leader;
        rp.leader_epoch = node.state.leader_epoch;
        rp.isr = node.state.isr;
        rp.partition_epoch = node.zk_version;
      }
      // The leader learns from the answer; everyone's metadata from UpdateMetadata.
      for (int32_t p : changed) batch_.update_metadata(live, decision(name, p));
      on_isr_changed(name, changed);  // a reassignment may be complete now
    }
    send_batch();
    done(std::move(resp));
  });
  if (!posted) {
    protocol::AlterPartitionResponse resp;
    resp.error_code = static_cast<int16_t>(ErrorCode::kNotController);
    done(std::move(resp));
  }
}

}  // namespace keel::controller
