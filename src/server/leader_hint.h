#pragma once
// KIP-951: answers that tell a client it asked the wrong broker (Produce v10+,
// Fetch v16+: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH) name the leader the
// metadata has, with its epoch, and carry that leader's endpoint on the
// client's listener, so the client moves on without a Metadata round trip.

#include <cstdint>
#include <optional>
#include <string>

#include "cluster/metadata_cache.h"

namespace keel::server {

struct LeaderHint {
  int32_t leader_id = -1;
  int32_t leader_epoch = -1;
  // The leader's endpoint on `listener`; nullopt when there is no leader or
  // it has no such listener.
  struct Endpoint {
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack;
  };
  std::optional<Endpoint> endpoint;
};

LeaderHint leader_hint(const cluster::ClusterSnapshot& snapshot, const std::string& topic, int32_t partition,
                       const std::string& listener);

// Adds the hint's endpoint to a response's node_endpoints once per leader.
template <typename NodeEndpoints>
void add_node_endpoint(NodeEndpoints& endpoints, const LeaderHint& hint) {
  if (!hint.endpoint) return;
  for (const auto& e : endpoints) {
    if (e.node_id == hint.leader_id) return;
  }
  auto& node = endpoints.emplace_back();
  node.node_id = hint.leader_id;
  node.host = hint.endpoint->host;
  node.port = hint.endpoint->port;
  node.rack = hint.endpoint->rack;
}

}  // namespace keel::server
