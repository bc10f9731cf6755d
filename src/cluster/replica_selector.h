#pragma once
// Which replica a consumer should read from (KIP-392, Kafka's ReplicaSelector
// as configured by replica.selector.class). The leader asks on each Fetch
// v11+ from a consumer; a choice other than itself goes back as
// preferred_read_replica and the consumer fetches from that follower.
//
// RackAwareReplicaSelector: with a client rack, a replica in that rack, the
// leader itself if it is there, else the most caught-up one (largest log end,
// then most recently caught up); with no replica in the rack, or no client
// rack, the leader. LeaderSelector (and no selector): always the leader.
//
// The candidates are the leader and the ISR followers that hold the fetch
// offset (ReplicaManager.findPreferredReadReplica): a lagging follower would
// keep the consumer behind. Pure functions; no state.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::cluster {

enum class ReplicaSelectorKind { kNone, kLeader, kRackAware };

// "" (Kafka's null) → kNone; Kafka's class names of its two selectors; any
// other name → nullopt (config validation refuses it first).
std::optional<ReplicaSelectorKind> parse_replica_selector(std::string_view class_name);

struct ReplicaView {
  int32_t broker_id = -1;
  std::optional<std::string> rack;  // the broker's, from the metadata cache
  int64_t log_end_offset = 0;
  int64_t time_since_last_caught_up_ms = 0;  // 0 for the leader
};

// The replica `kind` picks among `candidates` (the leader among them) for a
// client in `client_rack` ("" = none): a broker id, the leader's included.
int32_t select_read_replica(ReplicaSelectorKind kind, const std::string& client_rack,
                            const std::vector<ReplicaView>& candidates, int32_t leader);

}  // namespace keel::cluster
