// Client quotas in Kafka's layout (server/client_quotas.h) over the embedded
// store: paths and change notifications as Kafka's, and a second broker's
// cache following a change through /config/changes.

#include "server/client_quotas.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "coord/embedded_store.h"
#include "coord/kafka_store.h"

namespace keel::server {
namespace {

namespace fs = std::filesystem;
using Part = security::ClientQuotaEntity::Part;
using security::QuotaKey;

QuotaEntity user_client(Part u, Part c) {
  QuotaEntity e;
  e.user_client.user = std::move(u);
  e.user_client.client_id = std::move(c);
  return e;
}

TEST(ClientQuotaLayout, EntitiesLiveWhereKafkaKeepsThem) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(quota_entity_node(user_client(Part::named("alice"), Part{})), P("users", "alice"));
  EXPECT_EQ(quota_entity_node(user_client(Part::named("CN=a b"), Part::named("app-1"))),
            P("users", "CN%3Da%20b/clients/app-1"));
  EXPECT_EQ(quota_entity_node(user_client(Part::default_entity(), Part::default_entity())),
            P("users", "<default>/clients/<default>"));
  EXPECT_EQ(quota_entity_node(user_client(Part{}, Part::default_entity())), P("clients", "<default>"));
  QuotaEntity ip;
  ip.ip = Part::named("::1");
  EXPECT_EQ(quota_entity_node(ip), P("ips", "%3A%3A1"));
}

TEST(ClientQuotaLayout, ChangeNotificationsNameTheirEntity) {
  EXPECT_EQ(quota_entity_of_change("users/alice"), user_client(Part::named("alice"), Part{}));
  EXPECT_EQ(quota_entity_of_change("users/%3Cdefault%3E/clients/<default>"),
            user_client(Part::named("<default>"), Part::default_entity()));
  EXPECT_EQ(quota_entity_of_change("clients/app"), user_client(Part{}, Part::named("app")));
  auto ip = quota_entity_of_change("ips/<default>");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->is_ip());
  EXPECT_FALSE(ip->ip.name);
  EXPECT_FALSE(quota_entity_of_change("topics/t"));
  EXPECT_FALSE(quota_entity_of_change("brokers/<default>"));
  EXPECT_FALSE(quota_entity_of_change("users/a/topics/b"));
  EXPECT_FALSE(quota_entity_of_change("users/bad%zz"));
}

TEST(ClientQuotaLayout, ValuesAreWrittenSoKafkaReadsThemBack) {
  EXPECT_EQ(format_quota_value(1048576), "1048576");
  EXPECT_EQ(format_quota_value(12.5), "12.5");
  EXPECT_EQ(format_quota_value(0.1), "0.1");
}

class ClientQuotaManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel-quotas-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto s = coord::EmbeddedStore::open(dir_);
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    kafka_ = std::make_unique<coord::KafkaStore>(*store_);
    ASSERT_TRUE(kafka_->ensure_paths().ok());
  }
  void TearDown() override {
    kafka_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<coord::EmbeddedStore> store_;
  std::unique_ptr<coord::KafkaStore> kafka_;
};

TEST_F(ClientQuotaManagerTest, AnotherBrokersCacheFollowsAChangeWithinASecond) {
  ClientQuotaManager writer(*kafka_);
  ClientQuotaManager follower(*kafka_);
  ASSERT_TRUE(writer.start().ok());
  ASSERT_TRUE(follower.start().ok());
  const auto alice_app = user_client(Part::named("alice"), Part::named("app"));
  ASSERT_TRUE(writer.store(alice_app, {{"producer_byte_rate", "1024"}}).ok());
  // The writer's own cache at once; the node and notification in Kafka's layout.
  EXPECT_EQ(writer.cache().effective("alice", "app").producer_byte_rate, 1024);
  auto node = kafka_->entity_config("users", "alice/clients/app");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->at("producer_byte_rate"), "1024");
  auto changes = kafka_->config_changes_after(-1);
  ASSERT_TRUE(changes.ok());
  ASSERT_FALSE(changes->empty());
  EXPECT_EQ(changes->back().second, "users/alice/clients/app");

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!follower.cache().effective("alice", "app").producer_byte_rate &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(follower.cache().effective("alice", "app").producer_byte_rate, 1024);
  // Removing the key removes the quota everywhere.
  ASSERT_TRUE(writer.store(alice_app, {}).ok());
  const auto gone = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (follower.cache().effective("alice", "app").producer_byte_rate && std::chrono::steady_clock::now() < gone) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(follower.cache().effective("alice", "app").producer_byte_rate);
  follower.stop();
  writer.stop();
}

TEST_F(ClientQuotaManagerTest, StartUpReadsEveryEntityAndLeavesOtherKeysOut) {
  // As kafka-configs --zookeeper (or another broker) left them.
  ASSERT_TRUE(kafka_->set_entity_config("users", "alice",
                                         {{"SCRAM-SHA-256", "salt=...,stored_key=...,server_key=...,iterations=4096"},
                                          {"consumer_byte_rate", "2048"}})
                  .ok());
  ASSERT_TRUE(kafka_->set_entity_config("users", "<default>/clients/<default>", {{"request_percentage", "25.5"}}).ok());
  ASSERT_TRUE(kafka_->set_entity_config("clients", "<default>", {{"producer_byte_rate", "100"}}).ok());
  ASSERT_TRUE(kafka_->set_entity_config("ips", "10.0.0.1", {{"connection_creation_rate", "7"}}).ok());
  ASSERT_TRUE(kafka_->set_entity_config("users", "bob", {{"SCRAM-SHA-512", "x"}}).ok());
  ClientQuotaManager quotas(*kafka_);
  ASSERT_TRUE(quotas.start().ok());
  const auto q = quotas.cache().effective("alice", "any");
  EXPECT_EQ(q.consumer_byte_rate, 2048);
  EXPECT_EQ(q.request_percentage, 25.5);
  EXPECT_EQ(q.producer_byte_rate, 100);
  EXPECT_EQ(quotas.cache().connection_creation_rate("10.0.0.1"), 7);
  auto stored = quotas.stored();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), 4u);  // bob has credentials only
  EXPECT_EQ(stored->at(user_client(Part::named("alice"), Part{})), (std::map<std::string, double>{
                                                                       {"consumer_byte_rate", 2048}}));
  quotas.stop();
}

}  // namespace
}  // namespace keel::server
