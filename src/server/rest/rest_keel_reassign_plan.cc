#include "server/rest/rest_keel_reassign_plan.h"

#include <algorithm>
#include <tuple>

namespace keel::server::rest {
namespace {

// The brokers of the target set, their racks, and how many replicas each holds.
class Placement {
 public:
  explicit Placement(const std::vector<PlanBroker>& brokers) {
    for (const auto& b : brokers) {
      // A broker without a rack counts as a rack of its own: spreading over
      // "racks" then spreads over brokers, as the rack-unaware assignment does.
      rack_[b.id] = b.rack ? "r:" + *b.rack : "b:" + std::to_string(b.id);
      load_[b.id] = 0;
    }
  }
  bool has(int32_t id) const { return load_.count(id) > 0; }
  size_t size() const { return load_.size(); }
  const std::string& rack(int32_t id) const { return rack_.at(id); }
  int& load(int32_t id) { return load_.at(id); }
  const std::map<int32_t, int>& loads() const { return load_; }

  // How many of `replicas` other than `skip` are on `id`'s rack.
  int rack_uses(const std::vector<int32_t>& replicas, int32_t id, size_t skip = SIZE_MAX) const {
    int n = 0;
    for (size_t i = 0; i < replicas.size(); ++i) {
      if (i != skip && has(replicas[i]) && rack(replicas[i]) == rack(id)) ++n;
    }
    return n;
  }

  // Drops replicas until `want` remain: first one sharing a rack with
  // another, then one not preferred, then the fullest broker's.
  void shrink(std::vector<int32_t>& replicas, size_t want) {
    while (replicas.size() > want) {
      size_t victim = 0;
      std::tuple<int, int, int> best{-1, -1, -1};
      for (size_t i = 0; i < replicas.size(); ++i) {
        const std::tuple<int, int, int> score{rack_uses(replicas, replicas[i], i) > 0, i != 0, load(replicas[i])};
        if (score > best) best = score, victim = i;
      }
      --load(replicas[victim]);
      replicas.erase(replicas.begin() + static_cast<ptrdiff_t>(victim));
    }
  }

  // Adds replicas until `want`: an unused rack first, then the emptiest broker.
  void grow(std::vector<int32_t>& replicas, size_t want) {
    while (replicas.size() < want) {
      std::optional<int32_t> pick;
      std::tuple<int, int, int32_t> best{};
      for (const auto& [id, n] : load_) {
        if (std::find(replicas.begin(), replicas.end(), id) != replicas.end()) continue;
        const std::tuple<int, int, int32_t> score{rack_uses(replicas, id), n, id};
        if (!pick || score < best) best = score, pick = id;
      }
      if (!pick) return;  // the caller checked there are enough brokers
      ++load(*pick);
      replicas.push_back(*pick);
    }
  }

 private:
  std::map<int32_t, std::string> rack_;
  std::map<int32_t, int> load_;
};

std::vector<Move> changed(const std::vector<PlanPartition>& parts, const std::vector<std::vector<int32_t>>& targets) {
  std::vector<Move> moves;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (targets[i] != parts[i].replicas) moves.push_back({parts[i].topic, parts[i].partition, parts[i].replicas, targets[i]});
  }
  return moves;
}

// Growing one partition at a time is greedy: with p0:[1] p1:[2] p2:[3] to
// two replicas it gives [1,2] [2,1] [3,1], broker 1 holding three and broker 3
// one. Here replicas the plan added (never ones a partition already had) move
// from the fullest broker to the emptiest while their counts differ by more
// than one and a partition can take the move without a new rack collision.
void even_out_added(const std::vector<PlanPartition>& parts, std::vector<std::vector<int32_t>>& targets,
                    Placement& at) {
  auto added = [&](size_t i, int32_t r) {
    return std::find(parts[i].replicas.begin(), parts[i].replicas.end(), r) == parts[i].replicas.end();
  };
  for (size_t step = 0; step < 100000; ++step) {
    int32_t full = -1;
    int32_t empty = -1;
    for (const auto& [id, n] : at.loads()) {
      if (full < 0 || n > at.load(full)) full = id;
      if (empty < 0 || n < at.load(empty)) empty = id;
    }
    if (full < 0 || at.load(full) - at.load(empty) <= 1) return;
    bool moved = false;
    for (size_t i = 0; i < targets.size() && !moved; ++i) {
      auto& t = targets[i];
      auto it = std::find(t.begin(), t.end(), full);
      if (it == t.end() || !added(i, full) || std::find(t.begin(), t.end(), empty) != t.end()) continue;
      const size_t pos = static_cast<size_t>(it - t.begin());
      if (at.rack_uses(t, empty, pos) > 0 && at.rack_uses(t, full, pos) == 0) continue;
      *it = empty;
      --at.load(full);
      ++at.load(empty);
      moved = true;
    }
    if (!moved) return;  // what is left over-full is replicas partitions already had
  }
}

// Each partition's replicas placed on the target set (the core of plan_placement).
std::optional<std::vector<std::vector<int32_t>>> place(const std::vector<PlanPartition>& parts, Placement& at,
                                                       int32_t replication_factor, std::string* why) {
  if (at.size() == 0) {
    *why = "no target brokers";
    return std::nullopt;
  }
  if (replication_factor < 0 || static_cast<size_t>(replication_factor) > at.size()) {
    *why = "replication factor " + std::to_string(replication_factor) + " does not fit " +
           std::to_string(at.size()) + " target broker(s)";
    return std::nullopt;
  }
  std::vector<std::vector<int32_t>> targets;
  for (const auto& p : parts) {
    std::vector<int32_t> keep;
    for (int32_t r : p.replicas) {
      if (at.has(r) && std::find(keep.begin(), keep.end(), r) == keep.end()) keep.push_back(r);
    }
    for (int32_t r : keep) ++at.load(r);
    targets.push_back(std::move(keep));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const size_t want = replication_factor > 0 ? static_cast<size_t>(replication_factor) : parts[i].replicas.size();
    if (want == 0 || want > at.size()) {
      *why = parts[i].topic + "-" + std::to_string(parts[i].partition) + " has " + std::to_string(want) +
             " replica(s); there are " + std::to_string(at.size()) + " target broker(s)";
      return std::nullopt;
    }
    at.shrink(targets[i], want);
    at.grow(targets[i], want);
  }
  even_out_added(parts, targets, at);
  return targets;
}

}  // namespace

std::optional<std::vector<Move>> plan_placement(const std::vector<PlanPartition>& parts,
                                                const std::vector<PlanBroker>& brokers, int32_t replication_factor,
                                                std::string* why, const std::vector<PlanPartition>& others) {
  Placement at(brokers);
  for (const auto& o : others) {
    const bool planned = std::any_of(parts.begin(), parts.end(), [&](const auto& p) {
      return p.topic == o.topic && p.partition == o.partition;
    });
    for (int32_t r : o.replicas) {
      if (!planned && at.has(r)) ++at.load(r);
    }
  }
  auto targets = place(parts, at, replication_factor, why);
  if (!targets) return std::nullopt;
  return changed(parts, *targets);
}

std::optional<std::vector<Move>> plan_rebalance(const std::vector<PlanPartition>& parts,
                                                const std::vector<PlanBroker>& brokers, std::string* why) {
  Placement at(brokers);
  auto placed = place(parts, at, 0, why);
  if (!placed) return std::nullopt;
  auto& targets = *placed;
  // Brokers by load, emptiest first (ties: lower id).
  auto by_load = [&](const std::map<int32_t, int>& load) {
    std::vector<int32_t> ids;
    for (const auto& [id, n] : load) ids.push_back(id);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return load.at(a) < load.at(b); });
    return ids;
  };
  // Replicas: one move at a time from the fullest broker to the emptiest one that can take it.
  for (size_t step = 0; step < 100000; ++step) {
    const auto ids = by_load(at.loads());
    const int32_t full = ids.back();
    bool moved = false;
    for (int32_t empty : ids) {
      if (at.load(full) - at.load(empty) <= 1) break;
      for (auto& t : targets) {
        auto it = std::find(t.begin(), t.end(), full);
        if (it == t.end() || std::find(t.begin(), t.end(), empty) != t.end()) continue;
        const size_t pos = static_cast<size_t>(it - t.begin());
        // No new rack collision: the new rack is free, or the old one was shared already.
        if (at.rack_uses(t, empty, pos) > 0 && at.rack_uses(t, full, pos) == 0) continue;
        *it = empty;
        --at.load(full);
        ++at.load(empty);
        moved = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) break;
  }
  // Preferred leaders: put another replica of the partition first.
  std::map<int32_t, int> leads;
  for (const auto& [id, n] : at.loads()) leads[id] = 0;
  for (const auto& t : targets) ++leads[t.front()];
  for (size_t step = 0; step < 100000; ++step) {
    const auto ids = by_load(leads);
    const int32_t full = ids.back();
    bool moved = false;
    for (int32_t empty : ids) {
      if (leads[full] - leads[empty] <= 1) break;
      for (auto& t : targets) {
        auto it = std::find(t.begin(), t.end(), empty);
        if (t.front() != full || it == t.end()) continue;
        std::iter_swap(t.begin(), it);
        --leads[full];
        ++leads[empty];
        moved = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) break;
  }
  return changed(parts, targets);
}

std::vector<Move> plan_drain(const std::vector<PlanPartition>& parts, int32_t broker, std::vector<PlanPartition>* stuck) {
  std::vector<Move> moves;
  for (const auto& p : parts) {
    if (p.leader != broker && (p.replicas.empty() || p.replicas.front() != broker)) continue;
    auto in_sync = [&](int32_t r) { return std::find(p.isr.begin(), p.isr.end(), r) != p.isr.end(); };
    std::vector<int32_t> order;
    for (int32_t r : p.replicas) {
      if (r != broker && in_sync(r)) order.push_back(r);
    }
    if (order.empty()) {
      stuck->push_back(p);
      continue;
    }
    for (int32_t r : p.replicas) {
      if (r != broker && !in_sync(r)) order.push_back(r);
    }
    if (std::find(p.replicas.begin(), p.replicas.end(), broker) != p.replicas.end()) order.push_back(broker);
    moves.push_back({p.topic, p.partition, p.replicas, std::move(order)});
  }
  return moves;
}

}  // namespace keel::server::rest
