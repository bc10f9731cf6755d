#include "cluster/replica_selector.h"

namespace keel::cluster {

std::optional<ReplicaSelectorKind> parse_replica_selector(std::string_view class_name) {
  if (class_name.empty()) return ReplicaSelectorKind::kNone;
  if (class_name == "org.apache.kafka.common.replica.LeaderSelector") return ReplicaSelectorKind::kLeader;
  if (class_name == "org.apache.kafka.common.replica.RackAwareReplicaSelector") return ReplicaSelectorKind::kRackAware;
  return std::nullopt;
}

int32_t select_read_replica(ReplicaSelectorKind kind, const std::string& client_rack,
                            const std::vector<ReplicaView>& candidates, int32_t leader) {
  if (kind != ReplicaSelectorKind::kRackAware || client_rack.empty()) return leader;
  const ReplicaView* best = nullptr;
  for (const ReplicaView& r : candidates) {
    if (!r.rack || *r.rack != client_rack) continue;
    if (r.broker_id == leader) return leader;  // the leader is in the client's rack: no need to move
    // ReplicaView.comparator: the largest log end, then the shortest time since caught up.
    if (!best || r.log_end_offset > best->log_end_offset ||
        (r.log_end_offset == best->log_end_offset &&
         r.time_since_last_caught_up_ms < best->time_since_last_caught_up_ms)) {
      best = &r;
    }
  }
  return best ? best->broker_id : leader;
}

}  // namespace keel::cluster
