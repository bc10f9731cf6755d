// The controller's requests as a broker receives them through the router:
// LeaderAndIsr hosts replicas (leader or follower by the state), UpdateMetadata
// replaces the broker's view of the cluster, StopReplica stops and deletes,
// and all three are fenced by broker epoch (KIP-380) and controller epoch.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "protocol/generated/all.h"
#include "server/router.h"
#include "router_call.h"
#include "storage/log_manager.h"

namespace keel::server {
namespace {

using namespace keel::protocol;
namespace fs = std::filesystem;

constexpr int16_t kStaleControllerEpoch = 11, kStaleBrokerEpoch = 77, kFencedLeaderEpoch = 74;

class ControllerRequestsTest : public ::testing::Test {
 protected:
  ControllerRequestsTest() : router_(identity_, config_, services_) {
    dir_ = fs::temp_directory_path() / ("keel-controller-requests-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir_.string()};
    logs_ = std::move(storage::LogManager::open(o).value());
    replicas_ = std::make_unique<cluster::ReplicaManager>(1, *logs_);
    identity_.broker_id = 1;
    identity_.cluster_id = "AAAAAAAAAAAAAAAAAAAAAA";
    services_.metadata = &metadata_;
    services_.replicas = replicas_.get();
    services_.broker_epoch = [this] { return broker_epoch_; };
    conn_.peer = "127.0.0.1:5000";
    conn_.listener_name = "PLAINTEXT";
  }
  ~ControllerRequestsTest() override {
    replicas_.reset();
    logs_.reset();
    fs::remove_all(dir_);
  }

  template <typename Resp, typename Req>
  Resp call(int16_t api_key, int16_t version, const Req& request) {
    return call_router<Resp>(router_, conn_, api_key, version, request, "controller");
  }

  LeaderAndIsrRequest leader_and_isr(int32_t controller_epoch, int64_t broker_epoch, const std::string& topic,
                                     Uuid id, int32_t partitions, int32_t leader, int32_t leader_epoch) {
    LeaderAndIsrRequest req;
    req.controller_id = 2;
    req.controller_epoch = controller_epoch;
    req.broker_epoch = broker_epoch;
    auto& t = req.topic_states.emplace_back();
    t.topic_name = topic;
    t.topic_id = id;
    for (int32_t p = 0; p < partitions; ++p) {
      auto& s = t.partition_states.emplace_back();
      s.topic_name = topic;
      s.partition_index = p;
      s.controller_epoch = controller_epoch;
      s.leader = leader;
      s.leader_epoch = leader_epoch;
      s.isr = {1, 2};
      s.replicas = {1, 2};
      s.partition_epoch = 4;
      s.is_new = true;
    }
    // v0-1 carry the states ungrouped.
    for (const auto& s : t.partition_states) req.ungrouped_partition_states.push_back(s);
    return req;
  }

  UpdateMetadataRequest update_metadata(int32_t controller_epoch, const std::string& topic, Uuid id,
                                        int32_t leader) {
    UpdateMetadataRequest req;
    req.controller_id = 2;
    req.controller_epoch = controller_epoch;
    req.broker_epoch = broker_epoch_;
    for (int32_t b : {1, 2}) {
      auto& lb = req.live_brokers.emplace_back();
      lb.id = b;
      lb.v0_host = "h" + std::to_string(b);
      lb.v0_port = 9090 + b;
      auto& ep = lb.endpoints.emplace_back();
      ep.host = "h" + std::to_string(b);
      ep.port = 9090 + b;
      ep.listener = "INTERNAL";
      ep.security_protocol = 0;
      lb.rack = b == 2 ? std::optional<std::string>("rack-b") : std::nullopt;
    }
    auto& t = req.topic_states.emplace_back();
    t.topic_name = topic;
    t.topic_id = id;
    for (int32_t p = 0; p < 2; ++p) {
      auto& s = t.partition_states.emplace_back();
      s.topic_name = topic;
      s.partition_index = p;
      s.leader = leader;
      s.leader_epoch = 3;
      s.isr = {2, 1};
      s.replicas = {2, 1};
      s.zk_version = 8;
    }
    for (const auto& s : t.partition_states) req.ungrouped_partition_states.push_back(s);
    return req;
  }

  fs::path dir_;
  int64_t broker_epoch_ = 100;
  BrokerIdentity identity_;
  config::BrokerConfig config_;
  cluster::MetadataCache metadata_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<cluster::ReplicaManager> replicas_;
  Services services_;
  net::ConnectionInfo conn_;
  Router router_;
};

TEST_F(ControllerRequestsTest, LeaderAndIsrHostsLeadersAndFollowersAtEveryVersion) {
  for (int16_t v = 0; v <= 7; ++v) {
    const std::string topic = "t" + std::to_string(v);
    const Uuid id = Uuid::random();
    // This broker (1) leads partition 0 and follows broker 2 on partition 1.
    auto req = leader_and_isr(5, 100, topic, id, 2, 1, 7);
    req.topic_states[0].partition_states[1].leader = 2;
    req.ungrouped_partition_states[1].leader = 2;
    auto resp = call<LeaderAndIsrResponse>(4, v, req);
    EXPECT_EQ(resp.error_code, 0) << "v" << v;
    if (v < 5) {
      ASSERT_EQ(resp.partition_errors.size(), 2u) << "v" << v;
      EXPECT_EQ(resp.partition_errors[1].topic_name, topic);
      EXPECT_EQ(resp.partition_errors[1].error_code, 0);
    } else {
      ASSERT_EQ(resp.topics.size(), 1u) << "v" << v;
      EXPECT_EQ(resp.topics[0].topic_id, id);
      ASSERT_EQ(resp.topics[0].partition_errors.size(), 2u);
    }
    auto leader = replicas_->partition({topic, 0});
    auto follower = replicas_->partition({topic, 1});
    ASSERT_TRUE(leader && follower) << "v" << v;
    EXPECT_TRUE(leader->is_leader());
    EXPECT_FALSE(follower->is_leader());
    EXPECT_EQ(follower->leader_state().leader, 2);
    EXPECT_EQ(leader->leader_state().leader_epoch, 7);
    EXPECT_EQ(leader->leader_state().partition_epoch, 4);
    EXPECT_TRUE(fs::exists(dir_ / (topic + "-1"))) << "the follower's log exists too";
  }
}

// A stop writes each partition's producer snapshot once: Broker::stop()
// shuts the replica manager down, and destroying it afterwards must not write
// them all again (it did: 10,000 partitions spent 2-3 s of their stop on a
// second pass, after the logs were closed).
TEST_F(ControllerRequestsTest, ProducerSnapshotsAreWrittenOnceAtAStop) {
  auto resp = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "snap", Uuid::random(), 3, 1, 7));
  ASSERT_EQ(resp.error_code, 0);
  const auto snapshots = [this] {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) n += e.path().extension() == ".snapshot";
    return n;
  };
  replicas_->shutdown();
  ASSERT_EQ(snapshots(), 3u);  // one per partition, written by the stop
  for (int p = 0; p < 3; ++p) {
    for (const auto& e : fs::directory_iterator(dir_ / ("snap-" + std::to_string(p)))) {
      if (e.path().extension() == ".snapshot") fs::remove(e.path());
    }
  }
  replicas_->shutdown();  // a second call is a no-op
  replicas_.reset();
  EXPECT_EQ(snapshots(), 0u);
}

TEST_F(ControllerRequestsTest, AnOlderLeaderEpochIsRefusedPerPartition) {
  const Uuid id = Uuid::random();
  call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "t", id, 1, 1, 7));
  auto resp = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "t", id, 1, 2, 6));
  EXPECT_EQ(resp.error_code, 0);
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, kStaleControllerEpoch);
  EXPECT_TRUE(replicas_->partition({"t", 0})->is_leader()) << "nothing changed";
}

TEST_F(ControllerRequestsTest, StaleControllerAndBrokerEpochsChangeNothing) {
  const Uuid id = Uuid::random();
  call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "t", id, 1, 1, 7));
  // A controller older than epoch 5.
  auto stale = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(4, 100, "t", id, 1, 2, 9));
  EXPECT_EQ(stale.error_code, kStaleControllerEpoch);
  EXPECT_EQ(stale.topics[0].partition_errors[0].error_code, kStaleControllerEpoch);
  EXPECT_TRUE(replicas_->partition({"t", 0})->is_leader());
  // Meant for an earlier registration of this broker id (KIP-380).
  auto old = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(6, 99, "t", id, 1, 2, 9));
  EXPECT_EQ(old.error_code, kStaleBrokerEpoch);
  EXPECT_TRUE(replicas_->partition({"t", 0})->is_leader());
  EXPECT_EQ(replicas_->controller_epoch(), 5) << "a fenced request does not move the controller epoch";
  // -1 (unknown) passes, a newer controller is accepted.
  auto fresh = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(6, -1, "t", id, 1, 2, 9));
  EXPECT_EQ(fresh.error_code, 0);
  EXPECT_FALSE(replicas_->partition({"t", 0})->is_leader());
  EXPECT_EQ(replicas_->controller_epoch(), 6);

  auto um = update_metadata(5, "u", Uuid::random(), 2);
  EXPECT_EQ(call<UpdateMetadataResponse>(6, 8, um).error_code, kStaleControllerEpoch);
  EXPECT_EQ(metadata_.snapshot()->topic("u"), nullptr);
  um.controller_epoch = 6;
  um.broker_epoch = 42;
  EXPECT_EQ(call<UpdateMetadataResponse>(6, 8, um).error_code, kStaleBrokerEpoch);
  EXPECT_EQ(metadata_.snapshot()->topic("u"), nullptr);

  StopReplicaRequest stop;
  stop.controller_id = 2;
  stop.controller_epoch = 3;
  stop.broker_epoch = 100;
  auto& st = stop.topic_states.emplace_back();
  st.topic_name = "t";
  st.partition_states.push_back({0, -1, true, {}});
  auto refused = call<StopReplicaResponse>(5, 4, stop);
  EXPECT_EQ(refused.error_code, kStaleControllerEpoch);
  ASSERT_EQ(refused.partition_errors.size(), 1u);
  EXPECT_EQ(refused.partition_errors[0].error_code, kStaleControllerEpoch);
  EXPECT_NE(replicas_->partition({"t", 0}), nullptr);
}

TEST_F(ControllerRequestsTest, UpdateMetadataReplacesTheViewAtEveryVersion) {
  for (int16_t v = 0; v <= 8; ++v) {
    const std::string topic = "m" + std::to_string(v);
    const Uuid id = Uuid::random();
    auto resp = call<UpdateMetadataResponse>(6, v, update_metadata(5, topic, id, 2));
    EXPECT_EQ(resp.error_code, 0) << "v" << v;
    auto s = metadata_.snapshot();
    EXPECT_EQ(s->controller_id, 2);
    ASSERT_EQ(s->brokers.size(), 2u) << "v" << v;
    const auto& ep = s->brokers.at(2).endpoints.at(0);
    EXPECT_EQ(ep.host, "h2");
    EXPECT_EQ(ep.port, 9092);
    EXPECT_EQ(ep.listener_name, v >= 3 ? "INTERNAL" : "PLAINTEXT") << "v" << v;
    EXPECT_EQ(s->brokers.at(2).rack, v >= 2 ? std::optional<std::string>("rack-b") : std::nullopt) << "v" << v;
    const auto* p = s->partition(topic, 1);
    ASSERT_NE(p, nullptr) << "v" << v;
    EXPECT_EQ(p->leader, 2);
    EXPECT_EQ(p->leader_epoch, 3);
    EXPECT_EQ(p->partition_epoch, 8);
    EXPECT_EQ(p->isr, (std::vector<int32_t>{2, 1}));
    if (v >= 7) EXPECT_EQ(s->topic(topic)->id, id) << "topic ids from v7";
  }
  // Leader -2: the topic is being deleted and leaves the cache.
  auto gone = update_metadata(5, "m8", Uuid::random(), -2);
  EXPECT_EQ(call<UpdateMetadataResponse>(6, 8, gone).error_code, 0);
  EXPECT_EQ(metadata_.snapshot()->topic("m8"), nullptr);
  EXPECT_NE(metadata_.snapshot()->topic("m7"), nullptr);
}

TEST_F(ControllerRequestsTest, StopReplicaStopsDeletesAndRespectsLeaderEpochs) {
  const Uuid id = Uuid::random();
  call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "s", id, 3, 1, 7));
  ASSERT_TRUE(fs::exists(dir_ / "s-2"));
  StopReplicaRequest stop;
  stop.controller_id = 2;
  stop.controller_epoch = 5;
  stop.broker_epoch = 100;
  auto& st = stop.topic_states.emplace_back();
  st.topic_name = "s";
  st.partition_states.push_back({0, 6, false, {}});  // from before leader epoch 7: fenced
  st.partition_states.push_back({1, 7, false, {}});  // stop, keep the log
  st.partition_states.push_back({2, -2, true, {}});  // the topic is deleted
  auto resp = call<StopReplicaResponse>(5, 4, stop);
  EXPECT_EQ(resp.error_code, 0);
  ASSERT_EQ(resp.partition_errors.size(), 3u);
  EXPECT_EQ(resp.partition_errors[0].error_code, kFencedLeaderEpoch);
  EXPECT_EQ(resp.partition_errors[1].error_code, 0);
  EXPECT_EQ(resp.partition_errors[2].error_code, 0);
  EXPECT_NE(replicas_->partition({"s", 0}), nullptr);
  EXPECT_EQ(replicas_->partition({"s", 1}), nullptr);
  EXPECT_EQ(replicas_->partition({"s", 2}), nullptr);
  EXPECT_TRUE(fs::exists(dir_ / "s-1")) << "stopped, not deleted";
  EXPECT_FALSE(fs::exists(dir_ / "s-2")) << "renamed for deletion";

  // v1-2: one delete flag for all, partitions by topic.
  StopReplicaRequest v1;
  v1.controller_id = 2;
  v1.controller_epoch = 5;
  v1.broker_epoch = 100;
  v1.delete_partitions = true;
  auto& t = v1.topics.emplace_back();
  t.name = "s";
  t.partition_indexes = {0};
  auto r1 = call<StopReplicaResponse>(5, 1, v1);
  ASSERT_EQ(r1.partition_errors.size(), 1u);
  EXPECT_EQ(r1.partition_errors[0].error_code, 0);
  EXPECT_EQ(replicas_->partition({"s", 0}), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "s-0"));
}

// Before the first UpdateMetadata a broker knows no broker and no topic: a
// named topic is "not available yet" (clients retry), never "unknown", and
// nothing is auto-created; after it, the topic is there.
TEST_F(ControllerRequestsTest, ABrokerNotYetToldByTheControllerAnswersLeaderNotAvailable) {
  MetadataRequest md;
  md.topics.emplace();
  md.topics->emplace_back().name = "m1";
  md.allow_auto_topic_creation = true;
  auto before = call<MetadataResponse>(3, 9, md);
  ASSERT_EQ(before.topics.size(), 1u);
  EXPECT_EQ(before.topics[0].error_code, 5) << "LEADER_NOT_AVAILABLE";
  EXPECT_TRUE(before.brokers.empty());
  call<UpdateMetadataResponse>(6, 8, update_metadata(5, "m1", Uuid::random(), 2));
  auto after = call<MetadataResponse>(3, 9, md);
  ASSERT_EQ(after.topics.size(), 1u);
  EXPECT_EQ(after.topics[0].error_code, 0);
}

// A broker whose data directories are new (a wiped disk) holds nothing of
// what it led before: told to lead a partition with history (leader epoch
// > 0) it has no log for, while others are in the ISR, it answers
// KAFKA_STORAGE_ERROR so the controller elects one of them — leading would
// make them truncate every record. It still follows, leads a new partition
// (epoch 0), and leads when it is the only ISR member (an operator's choice).
TEST_F(ControllerRequestsTest, ABrokerWithNewDataDirectoriesRefusesToLeadWhatItHasNoLogOf) {
  constexpr int16_t kKafkaStorageError = 56;
  replicas_->set_log_dirs_new(true);
  // A partition the controller did not just create (IsNew false), at any
  // leader epoch: 0 too, a partition never re-elected since its creation.
  auto existing = [&](const std::string& topic, Uuid id, int32_t leader, int32_t epoch) {
    auto req = leader_and_isr(5, 100, topic, id, 1, leader, epoch);
    req.topic_states[0].partition_states[0].is_new = false;
    req.ungrouped_partition_states[0].is_new = false;
    return req;
  };
  const Uuid id = Uuid::random();
  auto resp = call<LeaderAndIsrResponse>(4, 7, existing("t", id, 1, 7));
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, kKafkaStorageError);
  EXPECT_EQ(replicas_->partition({"t", 0}), nullptr) << "not hosted";
  resp = call<LeaderAndIsrResponse>(4, 7, existing("epoch0", Uuid::random(), 1, 0));
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, kKafkaStorageError) << "epoch 0 has records too";

  resp = call<LeaderAndIsrResponse>(4, 7, existing("t", id, 2, 8));
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, 0) << "it follows";
  ASSERT_NE(replicas_->partition({"t", 0}), nullptr);
  EXPECT_FALSE(replicas_->partition({"t", 0})->is_leader());
  resp = call<LeaderAndIsrResponse>(4, 7, existing("t", id, 1, 9));
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, 0) << "hosted now: it has a log";

  resp = call<LeaderAndIsrResponse>(4, 7, leader_and_isr(5, 100, "fresh", Uuid::random(), 1, 1, 0));
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, 0) << "a new partition (IsNew)";

  auto sole = existing("sole", Uuid::random(), 1, 4);
  sole.topic_states[0].partition_states[0].isr = {1};
  sole.ungrouped_partition_states[0].isr = {1};
  resp = call<LeaderAndIsrResponse>(4, 7, sole);
  EXPECT_EQ(resp.topics[0].partition_errors[0].error_code, 0) << "nobody else in the ISR";
}

}  // namespace
}  // namespace keel::server
