// Topic deletion across the brokers (/admin/delete_topics).

#include "controller/controller.h"

#include <algorithm>

#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;
using namespace internal;

// --- deletion ----------------------------------------------------------------------

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
    if (!options_.delete_topic_enable) {
      log()->warn("ignoring the deletion of topic '{}': delete.topic.enable is false", name);
      (void)store_.raw().remove(coord::paths::delete_topic(name));
      continue;
    }
    // The replicas stop and delete their logs (a replica on a dead broker
    // keeps its log; see docs/replication.md), the topic goes from the store,
    // and then leader -2 ("deleted") reaches every metadata cache: a client
    // whose DeleteTopics was answered finds the name free.
    auto it = topics_.find(name);
    std::vector<PartitionDecision> gone;
    if (it != topics_.end()) {
      deleting_.insert(name);
      const std::vector<int32_t> live = live_broker_ids();
      for (const auto& [p, replicas] : it->second.assignment.partitions) {
        gone.push_back(decision(name, p));
        for (int32_t r : replicas) {
          if (contains(live, r)) batch_.stop_replica(r, name, p, -2, true);
        }
      }
      send_batch();
    }
    if (auto r = store_.delete_topic(name, fence_); !r) {
      deleting_.erase(name);
      if (r.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
      log_store_error("cannot delete a topic", r.error());
      continue;
    }
    deleting_.erase(name);
    topics_.erase(name);
    for (const auto& d : gone) batch_.update_metadata(live_broker_ids(), d);
    send_batch();
    log()->info("deleted topic '{}'", name);
  }
}

}  // namespace keel::controller
