// What the request versions current clients send carry, acted on: the
// authorized operations Metadata v8+ asks for, v10-11's topic ids refused,
// and DescribeTopicPartitions (KIP-966) with its cursor, all through the
// router as a client reaches them.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "storage/log_manager.h"
#include "protocol/generated/all.h"
#include "server/router.h"
#include "router_call.h"

namespace keel::server {
namespace {

using namespace keel::protocol;

// AclOperation READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
// ALTER_CONFIGS: what Kafka without an authorizer reports for a topic.
constexpr int32_t kAllTopicOperations = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
                                        (1 << 10) | (1 << 11);
static_assert(kAllTopicOperations == 3576);

class RequestVersionsTest : public ::testing::Test {
 protected:
  RequestVersionsTest() : router_(identity_, config_, services_) {
    single_broker_cluster(identity_, metadata_, services_, conn_);
  }

  void add_topic(const std::string& name, int32_t partitions, int32_t leader = 1, bool internal = false) {
    cluster::TopicInfo t;
    t.name = name;
    t.id = Uuid::random();
    t.internal = internal;
    for (int32_t i = 0; i < partitions; ++i) {
      cluster::PartitionInfo p;
      p.partition = i;
      p.leader = leader;
      p.leader_epoch = 3;
      p.replicas = {1};
      p.isr = {1};
      t.partitions.push_back(p);
    }
    metadata_.put_topic(t);
  }

  // Runs `body` with a ReplicaManager over a temporary log directory and a
  // topic "elsewhere" (2 partitions, leader epoch 3) led by broker 2, of which
  // this broker (1) hosts nothing; broker 2 is on two listeners.
  void with_topic_led_elsewhere(const std::function<void()>& body) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("keel-request-versions-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir.string()};
    auto logs = std::move(storage::LogManager::open(o).value());
    {
      cluster::ReplicaManager replicas(1, *logs);
      services_.replicas = &replicas;
      cluster::BrokerInfo self;
      self.id = 1;
      self.endpoints = {{"PLAINTEXT", "broker1.example", 9092, "PLAINTEXT"}};
      cluster::BrokerInfo other;
      other.id = 2;
      other.rack = "r2";
      other.endpoints = {{"INTERNAL", "10.0.0.2", 9094, "PLAINTEXT"},
                         {"PLAINTEXT", "broker2.example", 9093, "PLAINTEXT"}};
      metadata_.set_brokers({{1, self}, {2, other}}, 1);
      add_topic("elsewhere", 2, /*leader=*/2);
      body();
      services_.replicas = nullptr;
    }
    (void)logs->shutdown();
    logs.reset();
    std::filesystem::remove_all(dir);
  }

  template <typename Resp, typename Req>
  Resp call(int16_t api_key, int16_t version, const Req& request) {
    return call_router<Resp>(router_, conn_, api_key, version, request, "test");
  }

  DescribeTopicPartitionsResponse describe(std::vector<std::string> topics, int32_t limit,
                                           std::optional<std::pair<std::string, int32_t>> cursor = std::nullopt) {
    DescribeTopicPartitionsRequest req;
    for (auto& t : topics) req.topics.emplace_back().name = t;
    req.response_partition_limit = limit;
    if (cursor) {
      req.cursor.emplace().topic_name = cursor->first;
      req.cursor->partition_index = cursor->second;
    }
    return call<DescribeTopicPartitionsResponse>(75, 0, req);
  }

  BrokerIdentity identity_;
  config::BrokerConfig config_;
  cluster::MetadataCache metadata_;
  Services services_;
  net::ConnectionInfo conn_;
  Router router_;
};

TEST_F(RequestVersionsTest, MetadataAnswersAuthorizedOperationsOnlyWhenAskedFor) {
  add_topic("orders", 1);
  for (int16_t v : {8, 9, 10, 11, 12}) {
    MetadataRequest req;
    req.topics.emplace();
    req.topics->emplace_back().name = "orders";
    req.topics->emplace_back().name = "missing";
    auto plain = call<MetadataResponse>(3, v, req);
    ASSERT_EQ(plain.topics.size(), 2u) << "v" << v;
    EXPECT_EQ(plain.topics[0].topic_authorized_operations, INT32_MIN) << "v" << v;
    EXPECT_EQ(plain.cluster_authorized_operations, INT32_MIN) << "v" << v;

    req.include_topic_authorized_operations = true;
    req.include_cluster_authorized_operations = v <= 10;
    auto asked = call<MetadataResponse>(3, v, req);
    ASSERT_EQ(asked.topics.size(), 2u) << "v" << v;
    EXPECT_EQ(asked.topics[0].topic_authorized_operations, kAllTopicOperations) << "v" << v;
    EXPECT_EQ(asked.topics[1].topic_authorized_operations, kAllTopicOperations) << "v" << v << ": unknown too";
    if (v <= 10) {
      EXPECT_EQ(asked.cluster_authorized_operations, 8096) << "v" << v;
    }
  }
}

TEST_F(RequestVersionsTest, MetadataV10AndV11RefuseTopicIdsAsKafkaDoes) {
  add_topic("orders", 1);
  for (int16_t v : {10, 11}) {
    MetadataRequest req;
    req.topics.emplace();
    req.topics->emplace_back().name = "orders";
    auto& with_id = req.topics->emplace_back();
    with_id.name = "orders";
    with_id.topic_id.bytes[3] = 9;
    auto resp = call<MetadataResponse>(3, v, req);
    ASSERT_EQ(resp.topics.size(), 2u) << "v" << v;
    EXPECT_EQ(resp.topics[0].error_code, 42) << "v" << v;
    EXPECT_EQ(resp.topics[1].error_code, 42) << "v" << v;
    EXPECT_EQ(resp.topics[1].topic_id.bytes[3], 9);
    EXPECT_TRUE(resp.brokers.empty());
  }
  // Zero ids (what v10-11 clients send) are fine.
  MetadataRequest req;
  req.topics.emplace();
  req.topics->emplace_back().name = "orders";
  auto resp = call<MetadataResponse>(3, 10, req);
  ASSERT_EQ(resp.topics.size(), 1u);
  EXPECT_EQ(resp.topics[0].error_code, 0);
  EXPECT_FALSE(resp.topics[0].topic_id.is_zero()) << "v10+ answers carry the id";
}

TEST_F(RequestVersionsTest, DescribeTopicPartitionsDescribesTopicsSortedWithTheirPartitions) {
  add_topic("zeta", 2);
  add_topic("alpha", 1);
  add_topic("__consumer_offsets", 1, 1, /*internal=*/true);
  add_topic("leaderless", 1, /*leader=*/-1);
  auto resp = describe({"zeta", "alpha", "nope", "alpha", "bad/name", "leaderless"}, 100);
  ASSERT_EQ(resp.topics.size(), 5u) << "each name once";
  EXPECT_EQ(resp.topics[0].name, std::optional<std::string>("alpha"));
  EXPECT_EQ(resp.topics[1].name, std::optional<std::string>("bad/name"));
  EXPECT_EQ(resp.topics[1].error_code, 17) << "INVALID_TOPIC_EXCEPTION";
  EXPECT_EQ(resp.topics[2].name, std::optional<std::string>("leaderless"));
  EXPECT_EQ(resp.topics[3].name, std::optional<std::string>("nope"));
  EXPECT_EQ(resp.topics[3].error_code, 3);
  EXPECT_TRUE(resp.topics[3].topic_id.is_zero());
  const auto& zeta = resp.topics[4];
  EXPECT_EQ(zeta.error_code, 0);
  EXPECT_EQ(zeta.topic_id, metadata_.snapshot()->topic("zeta")->id);
  EXPECT_FALSE(zeta.is_internal);
  EXPECT_EQ(zeta.topic_authorized_operations, kAllTopicOperations);
  ASSERT_EQ(zeta.partitions.size(), 2u);
  EXPECT_EQ(zeta.partitions[1].partition_index, 1);
  EXPECT_EQ(zeta.partitions[1].leader_id, 1);
  EXPECT_EQ(zeta.partitions[1].leader_epoch, 3);
  EXPECT_EQ(zeta.partitions[1].replica_nodes, std::vector<int32_t>{1});
  EXPECT_EQ(zeta.partitions[1].isr_nodes, std::vector<int32_t>{1});
  EXPECT_EQ(zeta.partitions[1].eligible_leader_replicas, std::vector<int32_t>{});
  EXPECT_EQ(zeta.partitions[1].last_known_elr, std::vector<int32_t>{});
  ASSERT_EQ(resp.topics[2].partitions.size(), 1u);
  EXPECT_EQ(resp.topics[2].partitions[0].error_code, 5) << "LEADER_NOT_AVAILABLE, as Metadata";
  EXPECT_EQ(resp.topics[2].partitions[0].leader_id, -1);
  EXPECT_FALSE(resp.next_cursor);

  // An empty list is every topic, internal ones included.
  auto all = describe({}, 100);
  ASSERT_EQ(all.topics.size(), 4u);
  EXPECT_EQ(all.topics[0].name, std::optional<std::string>("__consumer_offsets"));
  EXPECT_TRUE(all.topics[0].is_internal);
  EXPECT_EQ(all.topics[3].name, std::optional<std::string>("zeta"));
}

TEST_F(RequestVersionsTest, DescribeTopicPartitionsPagesWithACursor) {
  add_topic("a", 3);
  add_topic("b", 2);
  add_topic("c", 1);
  // Page 1: two partitions of a, cut inside it.
  auto p1 = describe({}, 2);
  ASSERT_EQ(p1.topics.size(), 1u);
  EXPECT_EQ(p1.topics[0].partitions.size(), 2u);
  ASSERT_TRUE(p1.next_cursor);
  EXPECT_EQ(p1.next_cursor->topic_name, "a");
  EXPECT_EQ(p1.next_cursor->partition_index, 2);
  // Page 2: a's last partition and the first of b.
  auto p2 = describe({}, 2, std::make_pair(std::string("a"), 2));
  ASSERT_EQ(p2.topics.size(), 2u);
  EXPECT_EQ(p2.topics[0].partitions.size(), 1u);
  EXPECT_EQ(p2.topics[0].partitions[0].partition_index, 2);
  EXPECT_EQ(p2.topics[1].partitions.size(), 1u);
  ASSERT_TRUE(p2.next_cursor);
  EXPECT_EQ(p2.next_cursor->topic_name, "b");
  EXPECT_EQ(p2.next_cursor->partition_index, 1);
  // Page 3: b's last partition fills the page exactly: the cursor names c from 0.
  auto p3 = describe({}, 1, std::make_pair(std::string("b"), 1));
  ASSERT_EQ(p3.topics.size(), 1u);
  ASSERT_TRUE(p3.next_cursor);
  EXPECT_EQ(p3.next_cursor->topic_name, "c");
  EXPECT_EQ(p3.next_cursor->partition_index, 0);
  // The last page has no cursor.
  auto p4 = describe({}, 5, std::make_pair(std::string("c"), 0));
  ASSERT_EQ(p4.topics.size(), 1u);
  EXPECT_FALSE(p4.next_cursor);
  // A limit of 0 or less is 1, as Kafka clamps it.
  auto one = describe({"b"}, 0);
  ASSERT_EQ(one.topics.size(), 1u);
  EXPECT_EQ(one.topics[0].partitions.size(), 1u);
  EXPECT_TRUE(one.next_cursor);
}

TEST_F(RequestVersionsTest, DescribeTopicPartitionsRefusesACursorOutsideTheNamedTopics) {
  add_topic("a", 1);
  add_topic("b", 1);
  auto outside = describe({"a", "b"}, 10, std::make_pair(std::string("x"), 0));
  ASSERT_EQ(outside.topics.size(), 2u);
  EXPECT_EQ(outside.topics[0].error_code, 42);
  EXPECT_EQ(outside.topics[1].error_code, 42);
  auto negative = describe({}, 10, std::make_pair(std::string("a"), -1));
  EXPECT_TRUE(negative.topics.empty());
  // With every topic asked for, a cursor past the last topic answers nothing.
  auto past = describe({}, 10, std::make_pair(std::string("zz"), 0));
  EXPECT_TRUE(past.topics.empty());
  EXPECT_FALSE(past.next_cursor);
  // A cursor partition past the end answers the topic with no partitions.
  auto beyond = describe({"a", "b"}, 10, std::make_pair(std::string("a"), 7));
  ASSERT_EQ(beyond.topics.size(), 2u);
  EXPECT_TRUE(beyond.topics[0].partitions.empty());
  EXPECT_EQ(beyond.topics[1].partitions.size(), 1u);
}

// KIP-951: from Fetch v16 a partition this broker does not lead names the
// leader the metadata has, and the response carries that leader's endpoint
// on the client's listener; older versions have neither.
TEST_F(RequestVersionsTest, FetchV16NamesTheCurrentLeaderOfAPartitionLedElsewhere) {
  with_topic_led_elsewhere([&] {
    for (int16_t v : {15, 16, 17}) {
      FetchRequest req;
      req.max_wait_ms = 0;
      req.max_bytes = 1 << 20;
      req.session_epoch = -1;
      auto& t = req.topics.emplace_back();
      t.topic = "elsewhere";
      t.topic_id = metadata_.snapshot()->topic("elsewhere")->id;
      for (int32_t p : {0, 1}) {
        auto& fp = t.partitions.emplace_back();
        fp.partition = p;
        fp.partition_max_bytes = 1 << 20;
      }
      auto resp = call<FetchResponse>(1, v, req);
      ASSERT_EQ(resp.responses.size(), 1u) << "v" << v;
      ASSERT_EQ(resp.responses[0].partitions.size(), 2u) << "v" << v;
      for (const auto& p : resp.responses[0].partitions) {
        EXPECT_EQ(p.error_code, 6) << "NOT_LEADER_OR_FOLLOWER, v" << v;
        EXPECT_EQ(p.current_leader.leader_id, v >= 16 ? 2 : -1) << "v" << v;
        EXPECT_EQ(p.current_leader.leader_epoch, v >= 16 ? 3 : -1) << "v" << v;
      }
      if (v < 16) {
        EXPECT_TRUE(resp.node_endpoints.empty());
        continue;
      }
      ASSERT_EQ(resp.node_endpoints.size(), 1u) << "one entry per leader, v" << v;
      EXPECT_EQ(resp.node_endpoints[0].node_id, 2);
      EXPECT_EQ(resp.node_endpoints[0].host, "broker2.example");
      EXPECT_EQ(resp.node_endpoints[0].port, 9093);
      EXPECT_EQ(resp.node_endpoints[0].rack, std::optional<std::string>("r2"));
    }
  });
}

// KIP-951 for Produce: from v10 a partition this broker does not lead names
// the leader and carries its endpoint; older versions have neither.
TEST_F(RequestVersionsTest, ProduceV10NamesTheCurrentLeaderOfAPartitionLedElsewhere) {
  with_topic_led_elsewhere([&] {
    for (int16_t v : {9, 10, 11}) {
      ProduceRequest req;
      req.acks = 1;
      req.timeout_ms = 1000;
      auto& t = req.topic_data.emplace_back();
      t.name = "elsewhere";
      for (int32_t p : {0, 1}) t.partition_data.emplace_back().index = p;
      auto resp = call<ProduceResponse>(0, v, req);
      ASSERT_EQ(resp.responses.size(), 1u) << "v" << v;
      for (const auto& p : resp.responses[0].partition_responses) {
        EXPECT_EQ(p.error_code, 6) << "NOT_LEADER_OR_FOLLOWER, v" << v;
        EXPECT_EQ(p.current_leader.leader_id, v >= 10 ? 2 : -1) << "v" << v;
        EXPECT_EQ(p.current_leader.leader_epoch, v >= 10 ? 3 : -1) << "v" << v;
      }
      ASSERT_EQ(resp.node_endpoints.size(), v >= 10 ? 1u : 0u) << "one entry for the one leader, v" << v;
      if (v >= 10) EXPECT_EQ(resp.node_endpoints[0].host, "broker2.example");
    }
  });
}

}  // namespace
}  // namespace keel::server
