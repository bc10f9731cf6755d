#include "controller/replica_assignment.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace keel::controller {
namespace {

using protocol::ErrorCode;
using Assignment = std::map<int32_t, std::vector<int32_t>>;

std::vector<BrokerRack> with_racks(const std::map<int32_t, std::string>& racks) {
  std::vector<BrokerRack> out;
  for (const auto& [id, rack] : racks) out.push_back({id, rack});
  return out;
}

std::vector<BrokerRack> without_racks(std::vector<int32_t> ids) {
  std::vector<BrokerRack> out;
  for (int32_t id : ids) out.push_back({id, std::nullopt});
  return out;
}

// Kafka's AdminTest.testReplicaAssignment: five brokers, fixed start 0.
TEST(ReplicaAssignment, RackUnawareMatchesKafka) {
  const Assignment expected = {{0, {0, 1, 2}}, {1, {1, 2, 3}}, {2, {2, 3, 4}}, {3, {3, 4, 0}}, {4, {4, 0, 1}},
                               {5, {0, 2, 3}}, {6, {1, 3, 4}}, {7, {2, 4, 0}}, {8, {3, 0, 1}}, {9, {4, 1, 2}}};
  auto r = assign_replicas(without_racks({4, 2, 0, 3, 1}), 10, 3, 0);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  EXPECT_EQ(r.partitions, expected);
}

// Kafka's AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
TEST(ReplicaAssignment, RackAlternatedListMatchesKafka) {
  std::map<int32_t, std::string> racks = {{0, "rack1"}, {1, "rack3"}, {2, "rack3"},
                                          {3, "rack2"}, {4, "rack2"}, {5, "rack1"}};
  EXPECT_EQ(rack_alternated_brokers(racks), (std::vector<int32_t>{0, 3, 1, 5, 4, 2}));
  auto fewer = racks;
  fewer.erase(5);
  EXPECT_EQ(rack_alternated_brokers(fewer), (std::vector<int32_t>{0, 3, 1, 4, 2}));
  const Assignment expected = {{0, {0, 3, 1}}, {1, {3, 1, 5}}, {2, {1, 5, 4}}, {3, {5, 4, 2}},
                               {4, {4, 2, 0}}, {5, {2, 0, 3}}, {6, {0, 4, 2}}};
  auto r = assign_replicas(with_racks(racks), 7, 3, 0, 0);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  EXPECT_EQ(r.partitions, expected);
}

TEST(ReplicaAssignment, RackAwareCoversAsManyRacksAsReplicasAllow) {
  const std::map<int32_t, std::string> racks = {{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}, {6, "c"}, {7, "c"}};
  for (int16_t rf = 1; rf <= 7; ++rf) {
    for (int round = 0; round < 20; ++round) {  // random start and shift each time
      auto r = assign_replicas(with_racks(racks), 12, rf);
      ASSERT_EQ(r.error, ErrorCode::kNone);
      ASSERT_EQ(r.partitions.size(), 12u);
      for (const auto& [p, replicas] : r.partitions) {
        ASSERT_EQ(replicas.size(), static_cast<size_t>(rf));
        std::set<int32_t> distinct(replicas.begin(), replicas.end());
        EXPECT_EQ(distinct.size(), replicas.size()) << "partition " << p;
        // At most one replica per rack until every rack has one.
        std::set<std::string> covered;
        for (size_t i = 0; i < replicas.size() && i < 3; ++i) covered.insert(racks.at(replicas[i]));
        EXPECT_EQ(covered.size(), std::min<size_t>(replicas.size(), 3)) << "partition " << p << " rf " << rf;
      }
    }
  }
}

TEST(ReplicaAssignment, RackAwareBalancesLeadersOverBrokers) {
  const std::map<int32_t, std::string> racks = {{0, "r1"}, {1, "r2"}, {2, "r3"}, {3, "r1"}, {4, "r2"}, {5, "r3"}};
  auto r = assign_replicas(with_racks(racks), 60, 3);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  std::map<int32_t, int> leaders, replicas;
  for (const auto& [p, rs] : r.partitions) {
    ++leaders[rs.front()];
    for (int32_t b : rs) ++replicas[b];
  }
  for (const auto& [id, rack] : racks) {
    EXPECT_EQ(leaders[id], 10) << "broker " << id;
    EXPECT_EQ(replicas[id], 30) << "broker " << id;
  }
}

TEST(ReplicaAssignment, ThreeRacksThreeBrokersPutOneReplicaInEachRack) {
  auto r = assign_replicas(with_racks({{1, "us-east-1a"}, {2, "us-east-1b"}, {3, "us-east-1c"}}), 6, 3);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  for (const auto& [p, rs] : r.partitions) EXPECT_EQ(std::set<int32_t>(rs.begin(), rs.end()).size(), 3u);
}

TEST(ReplicaAssignment, SomeBrokersWithoutRackAreRefusedAsKafkaDoes) {
  std::vector<BrokerRack> brokers = {{1, "a"}, {2, std::nullopt}, {3, "b"}};
  auto r = assign_replicas(brokers, 3, 2);
  EXPECT_EQ(r.error, ErrorCode::kUnknownServerError);
  EXPECT_EQ(r.message, "Not all brokers have rack information for replica rack aware assignment.");
  EXPECT_TRUE(r.partitions.empty());
}

TEST(ReplicaAssignment, CountsAreChecked) {
  EXPECT_EQ(assign_replicas(without_racks({1, 2}), 0, 1).error, ErrorCode::kInvalidPartitions);
  EXPECT_EQ(assign_replicas(without_racks({1, 2}), 1, 0).error, ErrorCode::kInvalidReplicationFactor);
  auto r = assign_replicas(without_racks({1, 2}), 1, 3);
  EXPECT_EQ(r.error, ErrorCode::kInvalidReplicationFactor);
  EXPECT_EQ(r.message, "Replication factor: 3 larger than available brokers: 2.");
}

// CreatePartitions continues the numbering and starts at partition 0's first
// replica, as Kafka's AdminZkClient.createPartitions does.
TEST(ReplicaAssignment, AddedPartitionsContinueFromTheExistingOnes) {
  const auto brokers = without_racks({10, 20, 30});
  EXPECT_EQ(start_index_for(brokers, 20), 1);
  EXPECT_EQ(start_index_for(brokers, 25), 2);
  EXPECT_EQ(start_index_for(brokers, 99), 0);
  auto r = assign_replicas(brokers, 2, 2, start_index_for(brokers, 20), 3);
  ASSERT_EQ(r.error, ErrorCode::kNone);
  EXPECT_EQ(r.partitions, (Assignment{{3, {20, 30}}, {4, {30, 10}}}));
}

}  // namespace
}  // namespace keel::controller
