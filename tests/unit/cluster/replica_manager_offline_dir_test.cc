// ReplicaManager and a failed log dir (Kafka's HostedPartition.Offline): every
// LeaderAndIsr for a replica whose log is offline is answered
// KAFKA_STORAGE_ERROR, whatever its epoch (the controller learns which
// replicas went); once another broker is to lead it, this broker stops
// hosting it; left the leader (an only replica), it keeps it for reads.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "cluster/replica_manager.h"
#include "storage/log_manager.h"

namespace keel::cluster {
namespace {

namespace fs = std::filesystem;
using protocol::ErrorCode;

class ReplicaManagerOfflineDirTest : public ::testing::Test {
 protected:
  ReplicaManagerOfflineDirTest() {
    dir_ = fs::temp_directory_path() / ("keel-replica-offline-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir_.string()};
    logs_ = std::move(storage::LogManager::open(o).value());
    replicas_ = std::make_unique<ReplicaManager>(1, *logs_);
  }
  ~ReplicaManagerOfflineDirTest() override {
    replicas_.reset();
    logs_.reset();
    fs::remove_all(dir_);
  }

  static ReplicaManager::ReplicaState state(const std::string& topic, int32_t leader, int32_t epoch,
                                           std::vector<int32_t> replicas, std::vector<int32_t> isr) {
    ReplicaManager::ReplicaState r;
    r.tp = {topic, 0};
    r.topic_id = ids().at(topic);
    r.state.leader = leader;
    r.state.leader_epoch = epoch;
    r.state.replicas = std::move(replicas);
    r.state.isr = std::move(isr);
    r.is_new = epoch == 0;
    return r;
  }
  static const std::map<std::string, protocol::Uuid>& ids() {
    static const std::map<std::string, protocol::Uuid> m{{"moved", protocol::Uuid::random()},
                                                         {"only", protocol::Uuid::random()}};
    return m;
  }

  fs::path dir_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<ReplicaManager> replicas_;
};

TEST_F(ReplicaManagerOfflineDirTest, AnOfflineReplicaAnswersStorageErrorAndStopsBeingHostedOnceLedElsewhere) {
  auto errors = replicas_->become_leader_or_follower(
      {state("moved", 1, 0, {1, 2}, {1, 2}), state("only", 1, 0, {1}, {1})});
  ASSERT_EQ(errors, (std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kNone}));
  ASSERT_TRUE(replicas_->partition({"moved", 0}));

  // The disk fails under the log: the whole dir goes offline.
  logs_->get({"moved", 0})->mark_offline();
  ASSERT_EQ(logs_->offline_dirs().size(), 1u);

  // The controller asks again at the same epoch (after the broker's
  // notification): normally STALE_CONTROLLER_EPOCH, here the storage error.
  errors = replicas_->become_leader_or_follower(
      {state("moved", 1, 0, {1, 2}, {1, 2}), state("only", 1, 0, {1}, {1})});
  EXPECT_EQ(errors, (std::vector<ErrorCode>{ErrorCode::kKafkaStorageError, ErrorCode::kKafkaStorageError}));
  EXPECT_TRUE(replicas_->partition({"moved", 0})) << "still its leader until another is chosen";

  // Broker 2 leads "moved" now; "only" has nobody else and stays led here.
  errors = replicas_->become_leader_or_follower({state("moved", 2, 1, {1, 2}, {2})});
  EXPECT_EQ(errors, std::vector<ErrorCode>{ErrorCode::kKafkaStorageError});
  EXPECT_FALSE(replicas_->partition({"moved", 0})) << "clients must be sent to the new leader";
  auto only = replicas_->partition({"only", 0});
  ASSERT_TRUE(only);
  EXPECT_EQ(only->leader_state().leader, 1);
  EXPECT_EQ(only->read(0, 1 << 20, true, -1, Isolation::kReadUncommitted, false).error, ErrorCode::kNone)
      << "an only replica still serves reads";
}

}  // namespace
}  // namespace keel::cluster
