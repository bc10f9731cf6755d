#pragma once
// Where a new topic's (or new partitions') replicas go when the request names
// no assignment: Kafka's AdminUtils.assignReplicasToBrokers, rack-unaware and
// rack-aware, as pure functions of the live brokers so they can be tested
// without a controller.
//
// - No broker has a rack: the rack-unaware spread. A start broker and a shift
//   (random, or both the fixed start index): partition p's first replica is
//   broker (p + start) mod n, the others follow at steps 1 + (shift + j) mod
//   (n - 1), and the shift grows by one every n partitions, so leaders and
//   followers both balance.
// - Every broker has a rack: the same walk over the rack-alternated broker
//   list (one broker of each rack in turn, racks sorted by name, brokers by
//   id), skipping a broker whose rack already holds a replica while some rack
//   holds none, and a broker that already holds one while some broker holds
//   none. So a partition's replicas cover min(rf, racks) racks.
// - Some brokers have a rack and some do not: refused, as Kafka refuses
//   (AdminOperationException "Not all brokers have rack information for
//   replica rack aware assignment.", answered UNKNOWN_SERVER_ERROR).
//
// No state, no threads.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/error_code.h"

namespace keel::controller {

struct BrokerRack {
  int32_t id = -1;
  std::optional<std::string> rack;
};

struct AssignmentResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  std::map<int32_t, std::vector<int32_t>> partitions;  // partition -> replicas, first = preferred leader
};

// The live brokers in id order (`brokers` may be in any order).
// `fixed_start_index` < 0: a random start and shift, as Kafka's CreateTopics;
// CreatePartitions passes the index of the first broker whose id is at least
// partition 0's first replica. `start_partition` < 0 counts from 0. Errors:
// INVALID_PARTITIONS (partitions <= 0), INVALID_REPLICATION_FACTOR (rf <= 0
// or more than the brokers), UNKNOWN_SERVER_ERROR (racks on some brokers only).
AssignmentResult assign_replicas(std::vector<BrokerRack> brokers, int32_t partitions, int16_t replication_factor,
                                 int32_t fixed_start_index = -1, int32_t start_partition = -1);

// The two walks themselves; `brokers` in the order to walk (assign_replicas
// sorts by id), `start` and `shift` already chosen.
std::map<int32_t, std::vector<int32_t>> assign_rack_unaware(const std::vector<int32_t>& brokers, int32_t partitions,
                                                            int16_t replication_factor, int32_t start, int32_t shift,
                                                            int32_t start_partition);
std::map<int32_t, std::vector<int32_t>> assign_rack_aware(const std::map<int32_t, std::string>& rack_of,
                                                          int32_t partitions, int16_t replication_factor,
                                                          int32_t start, int32_t shift, int32_t start_partition);

// Kafka's getRackAlternatedBrokerList: racks sorted by name, each rack's
// brokers by id, one broker of each rack in turn until all are listed.
std::vector<int32_t> rack_alternated_brokers(const std::map<int32_t, std::string>& rack_of);

// The index in id-sorted `brokers` CreatePartitions starts from: the first
// broker whose id is at least `first_replica` (partition 0's first replica), else 0.
int32_t start_index_for(const std::vector<BrokerRack>& brokers, int32_t first_replica);

}  // namespace keel::controller
