// Per-API authorization through the router (server/authorization.h): with an
// AclAuthorizer in Services, each API checks what Kafka's table says it
// needs and answers Kafka's error codes; the controller's in-process
// requests are the broker itself and always allowed.

#include <gtest/gtest.h>

#include "cluster/metadata_cache.h"
#include "protocol/generated/all.h"
#include "router_call.h"
#include "security/acl.h"
#include "server/router.h"

namespace keel::server {
namespace {

using namespace keel::protocol;
using security::AclOperation;
using security::AclPermissionType;
using security::PatternType;
using security::ResourceType;

constexpr int16_t kTopicAuthFailed = 29;
constexpr int16_t kGroupAuthFailed = 30;
constexpr int16_t kClusterAuthFailed = 31;
constexpr int16_t kCoordinatorNotAvailable = 15;
constexpr int16_t kNotController = 41;

class AuthorizationTest : public ::testing::Test {
 protected:
  AuthorizationTest() : router_(identity_, config_, services_) {
    single_broker_cluster(identity_, metadata_, services_, conn_);
    services_.authorizer = &authorizer_;
    conn_.peer = "10.1.2.3:5000";
    for (const char* name : {"visible", "hidden"}) {
      cluster::TopicInfo t;
      t.name = name;
      t.id = Uuid::random();
      cluster::PartitionInfo p;
      p.leader = 1;
      p.replicas = {1};
      p.isr = {1};
      t.partitions.push_back(p);
      metadata_.put_topic(t);
    }
  }

  // An ACL for the anonymous principal every PLAINTEXT client is.
  void allow(ResourceType type, const std::string& name, AclOperation op,
             AclPermissionType permission = AclPermissionType::kAllow) {
    authorizer_.add({{type, name, PatternType::kLiteral}, {"User:ANONYMOUS", "*", op, permission}});
  }

  template <typename Resp, typename Req>
  Resp call(int16_t api_key, int16_t version, const Req& req) {
    return call_router<Resp>(router_, conn_, api_key, version, req);
  }

  BrokerIdentity identity_;
  config::BrokerConfig config_;
  cluster::MetadataCache metadata_;
  security::AclAuthorizer authorizer_;
  Services services_;
  net::ConnectionInfo conn_;
  Router router_;
};

TEST_F(AuthorizationTest, MetadataHidesUndescribableTopicsAndRefusesThemByName) {
  allow(ResourceType::kTopic, "visible", AclOperation::kRead);
  MetadataRequest all;
  all.topics.reset();
  auto listed = call<MetadataResponse>(3, 12, all);
  ASSERT_EQ(listed.topics.size(), 1u);
  EXPECT_EQ(listed.topics[0].name, std::optional<std::string>("visible"));

  MetadataRequest named;
  named.topics.emplace();
  for (const char* n : {"visible", "hidden", "missing"}) named.topics->emplace_back().name = n;
  named.include_topic_authorized_operations = true;
  auto resp = call<MetadataResponse>(3, 12, named);
  ASSERT_EQ(resp.topics.size(), 3u);
  EXPECT_EQ(resp.topics[0].error_code, 0);
  // READ, and the DESCRIBE it implies.
  EXPECT_EQ(resp.topics[0].topic_authorized_operations, (1 << 3) | (1 << 8));
  EXPECT_EQ(resp.topics[1].error_code, kTopicAuthFailed);
  EXPECT_TRUE(resp.topics[1].partitions.empty());
  EXPECT_EQ(resp.topics[1].topic_authorized_operations, INT32_MIN);
  EXPECT_EQ(resp.topics[2].error_code, kTopicAuthFailed) << "not UNKNOWN_TOPIC: existence is not told";
}

TEST_F(AuthorizationTest, DenyBeatsAllowAndClusterOperationsNeedDescribe) {
  allow(ResourceType::kTopic, "visible", AclOperation::kAll);
  allow(ResourceType::kTopic, "visible", AclOperation::kDescribe, AclPermissionType::kDeny);
  MetadataRequest named;
  named.topics.emplace();
  named.topics->emplace_back().name = "visible";
  named.include_cluster_authorized_operations = true;
  auto resp = call<MetadataResponse>(3, 10, named);
  ASSERT_EQ(resp.topics.size(), 1u);
  EXPECT_EQ(resp.topics[0].error_code, kTopicAuthFailed);
  EXPECT_EQ(resp.cluster_authorized_operations, 0) << "no DESCRIBE on the cluster: Kafka answers 0";

  allow(ResourceType::kCluster, "kafka-cluster", AclOperation::kAlter);
  DescribeClusterRequest dc;
  dc.include_cluster_authorized_operations = true;
  auto cluster = call<DescribeClusterResponse>(60, 1, dc);
  EXPECT_EQ(cluster.cluster_authorized_operations, (1 << 7) | (1 << 8)) << "ALTER, and DESCRIBE by implication";
  dc.include_cluster_authorized_operations = false;
  EXPECT_EQ(call<DescribeClusterResponse>(60, 1, dc).cluster_authorized_operations, INT32_MIN);
}

TEST_F(AuthorizationTest, GroupApisNeedTheirGroupOperation) {
  allow(ResourceType::kGroup, "mine", AclOperation::kRead);
  // Allowed requests reach the (absent) coordinator; refused ones do not.
  HeartbeatRequest hb;
  hb.group_id = "mine";
  EXPECT_EQ(call<HeartbeatResponse>(12, 4, hb).error_code, kCoordinatorNotAvailable);
  hb.group_id = "theirs";
  EXPECT_EQ(call<HeartbeatResponse>(12, 4, hb).error_code, kGroupAuthFailed);

  FindCoordinatorRequest fc;
  fc.coordinator_keys = {"mine", "theirs"};
  auto coords = call<FindCoordinatorResponse>(10, 4, fc);
  ASSERT_EQ(coords.coordinators.size(), 2u);
  EXPECT_EQ(coords.coordinators[0].error_code, kCoordinatorNotAvailable) << "READ implies DESCRIBE";
  EXPECT_EQ(coords.coordinators[1].error_code, kGroupAuthFailed);

  DescribeGroupsRequest dg;
  dg.groups = {"mine", "theirs"};
  dg.include_authorized_operations = true;
  auto described = call<DescribeGroupsResponse>(15, 5, dg);
  ASSERT_EQ(described.groups.size(), 2u);
  EXPECT_EQ(described.groups[0].error_code, kCoordinatorNotAvailable);
  EXPECT_EQ(described.groups[1].error_code, kGroupAuthFailed);

  DeleteGroupsRequest del;
  del.groups_names = {"mine"};
  auto deleted = call<DeleteGroupsResponse>(42, 2, del);
  ASSERT_EQ(deleted.results.size(), 1u);
  EXPECT_EQ(deleted.results[0].error_code, kGroupAuthFailed) << "READ does not give DELETE";
}

TEST_F(AuthorizationTest, ConfigsAreCheckedOnTheTopicOrTheCluster) {
  allow(ResourceType::kTopic, "visible", AclOperation::kAlterConfigs);
  DescribeConfigsRequest req;
  auto& broker = req.resources.emplace_back();
  broker.resource_type = 4;
  broker.resource_name = "1";
  auto& topic = req.resources.emplace_back();
  topic.resource_type = 2;
  topic.resource_name = "hidden";
  auto resp = call<DescribeConfigsResponse>(32, 4, req);
  ASSERT_EQ(resp.results.size(), 2u);
  EXPECT_EQ(resp.results[0].error_code, kClusterAuthFailed);
  EXPECT_EQ(resp.results[1].error_code, kTopicAuthFailed);
}

TEST_F(AuthorizationTest, InterBrokerApisNeedClusterActionExceptFromTheBrokerItself) {
  UpdateMetadataRequest um;
  EXPECT_EQ(call<UpdateMetadataResponse>(6, 8, um).error_code, kClusterAuthFailed);
  ControlledShutdownRequest cs;
  EXPECT_EQ(call<ControlledShutdownResponse>(7, 3, cs).error_code, kClusterAuthFailed);
  ElectLeadersRequest el;
  el.topic_partitions.emplace();
  el.topic_partitions->emplace_back().topic = "visible";
  el.topic_partitions->back().partitions = {0};
  auto elect = call<ElectLeadersResponse>(43, 2, el);
  EXPECT_EQ(elect.error_code, kClusterAuthFailed);
  ASSERT_EQ(elect.replica_election_results.size(), 1u);
  EXPECT_EQ(elect.replica_election_results[0].partition_result[0].error_code, kClusterAuthFailed);
  ListPartitionReassignmentsRequest lr;
  EXPECT_EQ(call<ListPartitionReassignmentsResponse>(46, 0, lr).error_code, kClusterAuthFailed);

  // The controller's own requests reach the handler (here: no controller).
  net::ConnectionInfo local;
  local.peer = "controller (in-process)";
  local.listener_name = "PLAINTEXT";
  local.in_process = true;
  EXPECT_EQ(call_router<ElectLeadersResponse>(router_, local, 43, 2, el).error_code, kNotController);
  EXPECT_EQ(call_router<ControlledShutdownResponse>(router_, local, 7, 3, cs).error_code, kNotController);
}

TEST_F(AuthorizationTest, IdempotentInitProducerIdNeedsIdempotentWriteOrWriteOnSomeTopic) {
  InitProducerIdRequest req;
  req.transactional_id.reset();
  EXPECT_EQ(call<InitProducerIdResponse>(22, 4, req).error_code, kClusterAuthFailed);
  allow(ResourceType::kTopic, "visible", AclOperation::kWrite);
  EXPECT_EQ(call<InitProducerIdResponse>(22, 4, req).error_code, kCoordinatorNotAvailable)
      << "allowed: on to the (absent) producer id manager";
  req.transactional_id = "txn";
  EXPECT_EQ(call<InitProducerIdResponse>(22, 4, req).error_code, 53);
}

TEST_F(AuthorizationTest, WithoutAnAuthorizerEverythingIsAllowed) {
  services_.authorizer = nullptr;
  MetadataRequest all;
  all.topics.reset();
  all.include_topic_authorized_operations = true;
  auto listed = call<MetadataResponse>(3, 12, all);
  ASSERT_EQ(listed.topics.size(), 2u);
  EXPECT_EQ(listed.topics[0].topic_authorized_operations, 3576);
  HeartbeatRequest hb;
  hb.group_id = "theirs";
  EXPECT_EQ(call<HeartbeatResponse>(12, 4, hb).error_code, kCoordinatorNotAvailable);
}

}  // namespace
}  // namespace keel::server
