#include "server/leader_hint.h"

namespace keel::server {

LeaderHint leader_hint(const cluster::ClusterSnapshot& snapshot, const std::string& topic, int32_t partition,
                       const std::string& listener) {
  LeaderHint hint;
  const cluster::PartitionInfo* info = snapshot.partition(topic, partition);
  if (!info) return hint;
  hint.leader_id = info->leader;
  hint.leader_epoch = info->leader_epoch;
  if (info->leader < 0) return hint;
  auto broker = snapshot.brokers.find(info->leader);
  if (broker == snapshot.brokers.end()) return hint;
  for (const auto& ep : broker->second.endpoints) {
    if (ep.listener_name != listener) continue;
    hint.endpoint = LeaderHint::Endpoint{ep.host, ep.port, broker->second.rack};
    break;
  }
  return hint;
}

}  // namespace keel::server
