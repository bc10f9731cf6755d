#pragma once
// Reassignment plans for the /keel/v1 reassignment routes: pure functions
// from the cluster's current assignment (Metadata) to the moves that reach a
// goal, so the REST routes only fetch, plan and submit, and the unit tests
// can check the plans alone.
//
// Every plan moves as few replicas as possible: a replica stays where it is
// unless its broker leaves the target set or the replication factor drops;
// a new replica goes to a rack the partition does not use yet when there is
// one (as CreateTopics' rack-aware assignment spreads replicas), then to the
// broker holding the fewest replicas. Replica order is kept; the first
// replica is the preferred leader.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keel::server::rest {

struct PlanBroker {
  int32_t id = 0;
  std::optional<std::string> rack;
};

struct PlanPartition {
  std::string topic;
  int32_t partition = 0;
  std::vector<int32_t> replicas;  // the current assignment, preferred leader first
  std::vector<int32_t> isr;
  int32_t leader = -1;
};

struct Move {
  std::string topic;
  int32_t partition = 0;
  std::vector<int32_t> current;
  std::vector<int32_t> target;
};

// Places `parts` on `brokers` (the target set), each with `replication_factor`
// replicas (0: the partition's current count). Only partitions whose replica
// list changes are answered. nullopt and *why when it cannot be done (a
// factor below 1 or above the number of target brokers). `others`, the
// cluster's other partitions, count in the brokers' loads.
std::optional<std::vector<Move>> plan_placement(const std::vector<PlanPartition>& parts,
                                                const std::vector<PlanBroker>& brokers, int32_t replication_factor,
                                                std::string* why, const std::vector<PlanPartition>& others = {});

// The moves that even out replicas, then preferred leaders, across `brokers`
// (the live brokers minus the excluded ones): first every replica off a broker
// not in the set, then single replica moves from the fullest to the emptiest
// broker while they differ by more than one (never putting two replicas of a
// partition on one rack when another rack is free), then replica-list
// reorders that move preferred leadership the same way.
std::optional<std::vector<Move>> plan_rebalance(const std::vector<PlanPartition>& parts,
                                                const std::vector<PlanBroker>& brokers, std::string* why);

// Reorders of the replica lists of the partitions `broker` leads or prefers
// so that it comes last and an in-sync replica first (the replica set is
// unchanged: only the preferred leader moves). Partitions where it is the
// only replica, or the only one in sync, cannot be drained: they are listed
// in *stuck.
std::vector<Move> plan_drain(const std::vector<PlanPartition>& parts, int32_t broker,
                             std::vector<PlanPartition>* stuck);

}  // namespace keel::server::rest
