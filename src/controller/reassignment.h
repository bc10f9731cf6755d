#pragma once
// One partition's replicas as a reassignment sees them (Kafka's
// ReplicaAssignment, KIP-455), as pure functions so they can be tested
// without a controller. While a partition moves from its original replicas
// (ORS) to its target replicas (TRS), its assignment node lists
// RS = TRS then ORS (each once), adding = TRS - ORS and removing = ORS - TRS;
// ORS and TRS are read back from those three, so the node alone says what is
// under way and a new controller can resume it.
//
// No state, no threads.

#include <cstdint>
#include <string>
#include <vector>

#include "coord/kafka_layout.h"

namespace keel::controller {

struct ReplicaAssignment {
  std::vector<int32_t> replicas;  // RS: the target replicas first, then those leaving
  std::vector<int32_t> adding;    // AR = TRS - ORS
  std::vector<int32_t> removing;  // RR = ORS - TRS

  bool being_reassigned() const { return !adding.empty() || !removing.empty(); }
  // ORS = RS - AR, in RS order (so a cancelled reassignment may come back in
  // another order than it started in, as in Kafka).
  std::vector<int32_t> origin() const;
  // TRS = RS - RR.
  std::vector<int32_t> target() const;
  // Kafka's reassignTo: always relative to the original replicas, so a new
  // target replaces a reassignment under way, and target = origin() cancels it.
  ReplicaAssignment reassign_to(const std::vector<int32_t>& target) const;
  bool operator==(const ReplicaAssignment&) const = default;
};

// Partition `p` of a topic's assignment node (empty when it has no such partition).
ReplicaAssignment assignment_of(const coord::TopicAssignment& a, int32_t p);
// Writes `r` as partition `p` of `a`; the adding/removing entries go when empty.
void set_assignment(coord::TopicAssignment& a, int32_t p, const ReplicaAssignment& r);

// Kafka's validateReplicas for a target: "" when fine, else why it is
// INVALID_REPLICA_ASSIGNMENT (empty, a duplicate, a negative id, or a replica
// to add on a broker that is not live; replicas already placed may be on dead brokers).
std::string check_target_replicas(const std::vector<int32_t>& target, const ReplicaAssignment& current,
                                  const std::vector<int32_t>& live_brokers);

// Done once every target replica is in the ISR.
bool reassignment_complete(const ReplicaAssignment& r, const std::vector<int32_t>& isr);

}  // namespace keel::controller
