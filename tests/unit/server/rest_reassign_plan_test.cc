// The reassignment plans of the /keel/v1 routes: fewest moves, rack spread,
// balance, and leadership drains that keep the replica set.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "server/rest/rest_keel_reassign_plan.h"

namespace keel::server::rest {
namespace {

std::vector<PlanBroker> brokers(std::initializer_list<std::pair<int32_t, const char*>> racks) {
  std::vector<PlanBroker> out;
  for (auto [id, rack] : racks) out.push_back({id, rack ? std::optional<std::string>(rack) : std::nullopt});
  return out;
}

PlanPartition part(int32_t p, std::vector<int32_t> replicas, std::vector<int32_t> isr = {}) {
  if (isr.empty()) isr = replicas;
  return {"t", p, replicas, isr, replicas.empty() ? -1 : replicas.front()};
}

std::map<int32_t, int> loads(const std::vector<PlanPartition>& parts, const std::vector<Move>& moves, bool leaders) {
  std::map<int32_t, int> n;
  for (const auto& p : parts) {
    std::vector<int32_t> r = p.replicas;
    for (const auto& m : moves) {
      if (m.partition == p.partition) r = m.target;
    }
    if (leaders) ++n[r.front()];
    else for (int32_t b : r) ++n[b];
  }
  return n;
}

TEST(ReassignPlan, RaisingTheFactorKeepsEveryReplicaAndSpreadsOverRacks) {
  const auto bs = brokers({{0, "a"}, {1, "a"}, {2, "b"}, {3, "b"}});
  std::vector<PlanPartition> parts = {part(0, {0}), part(1, {1}), part(2, {2}), part(3, {3})};
  std::string why;
  auto moves = plan_placement(parts, bs, 2, &why);
  ASSERT_TRUE(moves) << why;
  ASSERT_EQ(moves->size(), 4u);
  for (const auto& m : *moves) {
    ASSERT_EQ(m.target.size(), 2u);
    EXPECT_EQ(m.target.front(), m.current.front()) << "the preferred leader stays";
    // The new replica is on the other rack.
    const bool first_a = m.target[0] <= 1, second_a = m.target[1] <= 1;
    EXPECT_NE(first_a, second_a) << m.partition;
  }
  EXPECT_EQ(loads(parts, *moves, false), (std::map<int32_t, int>{{0, 2}, {1, 2}, {2, 2}, {3, 2}}));
}

// The case a 3-broker cluster test hit: growing one partition at a time put
// three replicas on broker 1 and one on broker 3.
TEST(ReassignPlan, RaisingTheFactorEvensOutWhatItAdds) {
  const auto bs = brokers({{1, nullptr}, {2, nullptr}, {3, nullptr}});
  std::vector<PlanPartition> parts = {part(0, {1}), part(1, {2}), part(2, {3})};
  std::string why;
  auto moves = plan_placement(parts, bs, 2, &why);
  ASSERT_TRUE(moves) << why;
  EXPECT_EQ(loads(parts, *moves, false), (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
  for (const auto& m : *moves) {
    EXPECT_EQ(m.target.size(), 2u);
    EXPECT_EQ(m.target.front(), m.current.front()) << "the existing replica stays preferred";
  }
}

TEST(ReassignPlan, NothingMovesWhenNothingMust) {
  const auto bs = brokers({{0, nullptr}, {1, nullptr}, {2, nullptr}});
  std::vector<PlanPartition> parts = {part(0, {0, 1}), part(1, {1, 2}), part(2, {2, 0})};
  std::string why;
  auto moves = plan_placement(parts, bs, 0, &why);
  ASSERT_TRUE(moves) << why;
  EXPECT_TRUE(moves->empty());
  moves = plan_rebalance(parts, bs, &why);
  ASSERT_TRUE(moves) << why;
  EXPECT_TRUE(moves->empty());
}

TEST(ReassignPlan, LoweringTheFactorDropsOnlyReplicas) {
  const auto bs = brokers({{0, nullptr}, {1, nullptr}, {2, nullptr}});
  std::vector<PlanPartition> parts = {part(0, {0, 1, 2}), part(1, {1, 2, 0})};
  std::string why;
  auto moves = plan_placement(parts, bs, 2, &why);
  ASSERT_TRUE(moves) << why;
  ASSERT_EQ(moves->size(), 2u);
  for (const auto& m : *moves) {
    EXPECT_EQ(m.target.size(), 2u);
    EXPECT_EQ(m.target.front(), m.current.front());
    for (int32_t b : m.target) EXPECT_NE(std::find(m.current.begin(), m.current.end(), b), m.current.end());
  }
}

TEST(ReassignPlan, RefusesAFactorTheBrokersCannotHold) {
  std::string why;
  EXPECT_FALSE(plan_placement({part(0, {0})}, brokers({{0, nullptr}, {1, nullptr}}), 3, &why));
  EXPECT_NE(why.find("does not fit 2"), std::string::npos) << why;
  EXPECT_FALSE(plan_placement({part(0, {0, 1})}, brokers({{0, nullptr}}), 0, &why));
}

TEST(ReassignPlan, RebalanceFillsANewBrokerAndEvensLeaders) {
  const auto bs = brokers({{0, nullptr}, {1, nullptr}, {2, nullptr}, {3, nullptr}});
  std::vector<PlanPartition> parts;
  for (int32_t p = 0; p < 12; ++p) parts.push_back(part(p, {p % 3, (p + 1) % 3}));
  std::string why;
  auto moves = plan_rebalance(parts, bs, &why);
  ASSERT_TRUE(moves) << why;
  for (const auto& [b, n] : loads(parts, *moves, false)) EXPECT_EQ(n, 6) << "broker " << b;
  for (const auto& [b, n] : loads(parts, *moves, true)) EXPECT_EQ(n, 3) << "broker " << b;
  // Only what must move: broker 3 takes 6 replicas, so at most 6 partitions change their set.
  int set_changes = 0;
  for (const auto& m : *moves) {
    if (std::set<int32_t>(m.current.begin(), m.current.end()) != std::set<int32_t>(m.target.begin(), m.target.end())) {
      ++set_changes;
    }
  }
  EXPECT_EQ(set_changes, 6);
}

TEST(ReassignPlan, RebalanceExcludingABrokerEmptiesIt) {
  const auto bs = brokers({{0, nullptr}, {1, nullptr}});  // broker 2 excluded
  std::vector<PlanPartition> parts = {part(0, {2, 0}), part(1, {1, 2}), part(2, {0, 1})};
  std::string why;
  auto moves = plan_rebalance(parts, bs, &why);
  ASSERT_TRUE(moves) << why;
  for (const auto& [b, n] : loads(parts, *moves, false)) EXPECT_NE(b, 2);
}

TEST(ReassignPlan, DrainPutsAnInSyncReplicaFirstAndKeepsTheSet) {
  std::vector<PlanPartition> parts = {part(0, {1, 2, 3}, {1, 3}), part(1, {2, 1}), part(2, {1}),
                                      part(3, {1, 2}, {1})};
  parts[1].leader = 1;  // led by 1 without being preferred
  std::vector<PlanPartition> stuck;
  auto moves = plan_drain(parts, 1, &stuck);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].target, (std::vector<int32_t>{3, 2, 1}));
  EXPECT_EQ(moves[1].target, (std::vector<int32_t>{2, 1}));
  ASSERT_EQ(stuck.size(), 2u);  // a single replica, and no other in-sync one
  EXPECT_EQ(stuck[0].partition, 2);
  EXPECT_EQ(stuck[1].partition, 3);
}

}  // namespace
}  // namespace keel::server::rest
