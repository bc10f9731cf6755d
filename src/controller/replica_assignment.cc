#include "controller/replica_assignment.h"

#include <algorithm>
#include <random>
#include <set>

namespace keel::controller {

using protocol::ErrorCode;

namespace {

// Kafka's replicaIndex: the j-th follower of a partition whose first replica
// is at `first`, `shift` steps further round the broker list.
int32_t replica_index(int32_t first, int32_t shift, int32_t j, int32_t n) {
  const int32_t step = 1 + (shift + j) % (n - 1);
  return (first + step) % n;
}

int32_t random_index(int32_t n) {
  static thread_local std::mt19937 rng(std::random_device{}());
  return static_cast<int32_t>(rng() % static_cast<uint32_t>(n));
}

}  // namespace

std::map<int32_t, std::vector<int32_t>> assign_rack_unaware(const std::vector<int32_t>& brokers, int32_t partitions,
                                                            int16_t rf, int32_t start, int32_t shift,
                                                            int32_t start_partition) {
  std::map<int32_t, std::vector<int32_t>> out;
  const int32_t n = static_cast<int32_t>(brokers.size());
  int32_t current = std::max(0, start_partition);
  for (int32_t i = 0; i < partitions; ++i, ++current) {
    if (current > 0 && current % n == 0) ++shift;
    const int32_t first = (current + start) % n;
    std::vector<int32_t> replicas{brokers[static_cast<size_t>(first)]};
    for (int32_t j = 0; j < rf - 1; ++j) replicas.push_back(brokers[static_cast<size_t>(replica_index(first, shift, j, n))]);
    out[current] = std::move(replicas);
  }
  return out;
}

std::vector<int32_t> rack_alternated_brokers(const std::map<int32_t, std::string>& rack_of) {
  std::map<std::string, std::vector<int32_t>> by_rack;  // sorted racks; ids come sorted from rack_of
  for (const auto& [id, rack] : rack_of) by_rack[rack].push_back(id);
  std::vector<int32_t> out;
  out.reserve(rack_of.size());
  for (size_t round = 0; out.size() < rack_of.size(); ++round) {
    for (const auto& [rack, ids] : by_rack) {
      if (round < ids.size()) out.push_back(ids[round]);
    }
  }
  return out;
}

std::map<int32_t, std::vector<int32_t>> assign_rack_aware(const std::map<int32_t, std::string>& rack_of,
                                                          int32_t partitions, int16_t rf, int32_t start, int32_t shift,
                                                          int32_t start_partition) {
  std::set<std::string> racks;
  for (const auto& [id, rack] : rack_of) racks.insert(rack);
  const auto num_racks = static_cast<int32_t>(racks.size());
  const std::vector<int32_t> arranged = rack_alternated_brokers(rack_of);
  const auto n = static_cast<int32_t>(arranged.size());
  std::map<int32_t, std::vector<int32_t>> out;
  int32_t current = std::max(0, start_partition);
  for (int32_t i = 0; i < partitions; ++i, ++current) {
    if (current > 0 && current % n == 0) ++shift;
    const int32_t first = (current + start) % n;
    const int32_t leader = arranged[static_cast<size_t>(first)];
    std::vector<int32_t> replicas{leader};
    std::set<std::string> racks_with_replicas{rack_of.at(leader)};
    std::set<int32_t> brokers_with_replicas{leader};
    int32_t k = 0;
    for (int32_t j = 0; j < rf - 1; ++j) {
      while (true) {
        const int32_t broker = arranged[static_cast<size_t>(replica_index(first, shift * num_racks, k++, n))];
        const std::string& rack = rack_of.at(broker);
        // Kafka's skip rule: a rack that has a replica while another has none,
        // or a broker that has one while another has none, is passed over.
        if ((!racks_with_replicas.contains(rack) || static_cast<int32_t>(racks_with_replicas.size()) == num_racks) &&
            (!brokers_with_replicas.contains(broker) || static_cast<int32_t>(brokers_with_replicas.size()) == n)) {
          replicas.push_back(broker);
          racks_with_replicas.insert(rack);
          brokers_with_replicas.insert(broker);
          break;
        }
      }
    }
    out[current] = std::move(replicas);
  }
  return out;
}

int32_t start_index_for(const std::vector<BrokerRack>& brokers, int32_t first_replica) {
  std::vector<int32_t> ids;
  for (const auto& b : brokers) ids.push_back(b.id);
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= first_replica) return static_cast<int32_t>(i);
  }
  return 0;
}

AssignmentResult assign_replicas(std::vector<BrokerRack> brokers, int32_t partitions, int16_t rf,
                                 int32_t fixed_start_index, int32_t start_partition) {
  AssignmentResult r;
  if (partitions <= 0) {
    r.error = ErrorCode::kInvalidPartitions;
    r.message = "Number of partitions must be larger than 0.";
    return r;
  }
  if (rf <= 0) {
    r.error = ErrorCode::kInvalidReplicationFactor;
    r.message = "Replication factor must be larger than 0.";
    return r;
  }
  if (static_cast<size_t>(rf) > brokers.size()) {
    r.error = ErrorCode::kInvalidReplicationFactor;
    r.message = "Replication factor: " + std::to_string(rf) + " larger than available brokers: " +
                std::to_string(brokers.size()) + ".";
    return r;
  }
  std::sort(brokers.begin(), brokers.end(), [](const BrokerRack& a, const BrokerRack& b) { return a.id < b.id; });
  const auto with_rack = std::count_if(brokers.begin(), brokers.end(), [](const BrokerRack& b) { return b.rack.has_value(); });
  const auto n = static_cast<int32_t>(brokers.size());
  const int32_t start = fixed_start_index >= 0 ? fixed_start_index : random_index(n);
  const int32_t shift = fixed_start_index >= 0 ? fixed_start_index : random_index(n);
  if (with_rack == 0) {
    std::vector<int32_t> ids;
    for (const auto& b : brokers) ids.push_back(b.id);
    r.partitions = assign_rack_unaware(ids, partitions, rf, start, shift, start_partition);
    return r;
  }
  if (with_rack != static_cast<std::ptrdiff_t>(brokers.size())) {
    r.error = ErrorCode::kUnknownServerError;
    r.message = "Not all brokers have rack information for replica rack aware assignment.";
    return r;
  }
  std::map<int32_t, std::string> rack_of;
  for (const auto& b : brokers) rack_of[b.id] = *b.rack;
  r.partitions = assign_rack_aware(rack_of, partitions, rf, start, shift, start_partition);
  return r;
}

}  // namespace keel::controller
