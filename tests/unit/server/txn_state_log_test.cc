// The transaction coordinator's log over real replicas
// (server/txn_state_log.h): appends only as the leader, in the leadership
// the coordinator loaded the partition in, acks=all (min.insync.replicas, the wait for the high watermark),
// and reading a partition back for loading.

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>

#include "cluster/replica_manager.h"
#include "server/txn_state_log.h"
#include "storage/log_manager.h"
#include "txn/log_codec.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
namespace fs = std::filesystem;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string text(ByteView v) { return std::string(v.begin(), v.end()); }

class TxnStateLogTest : public ::testing::Test {
 protected:
  TxnStateLogTest() {
    dir_ = fs::temp_directory_path() / ("keel-txn-state-log-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir_.string()};
    logs_ = std::move(storage::LogManager::open(o).value());
    replicas_ = std::make_unique<cluster::ReplicaManager>(1, *logs_);
    log_ = std::make_unique<ReplicaTxnStateLog>(*replicas_, [] { return int64_t{1700000000000}; });
  }
  ~TxnStateLogTest() override {
    replicas_->shutdown();
    log_.reset();
    replicas_.reset();
    logs_.reset();
    fs::remove_all(dir_);
  }

  // __transaction_state-`partition` hosted here as replicas `replicas` with `isr`.
  void host(int32_t partition, int32_t leader, int32_t epoch, std::vector<int32_t> replicas,
            std::vector<int32_t> isr, int32_t min_isr = 1) {
    cluster::LeaderState st;
    st.leader = leader;
    st.leader_epoch = epoch;
    st.replicas = std::move(replicas);
    st.isr = std::move(isr);
    auto config = std::make_shared<cluster::PartitionConfig>();
    config->min_insync_replicas = min_isr;
    ASSERT_EQ(replicas_->apply_leader_and_isr({txn::kTransactionStateTopic, partition}, topic_id_, st,
                                              storage::LogConfig{}, config),
              ErrorCode::kNone);
  }

  ErrorCode append(int32_t partition, int32_t epoch, std::vector<txn::TxnRecordBytes> records,
                   int64_t timeout_ms = 1000) {
    auto done = std::make_shared<std::promise<ErrorCode>>();
    auto answer = done->get_future();
    log_->append(partition, epoch, std::move(records), timeout_ms, [done](ErrorCode e) { done->set_value(e); });
    EXPECT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return answer.get();
  }

  std::vector<std::pair<std::string, std::optional<std::string>>> read(int32_t partition, ErrorCode* error) {
    std::vector<std::pair<std::string, std::optional<std::string>>> out;
    *error = log_->read_all(partition, [&](ByteView key, std::optional<ByteView> value) {
      out.emplace_back(text(key), value ? std::optional<std::string>(text(*value)) : std::nullopt);
    });
    return out;
  }

  fs::path dir_;
  const protocol::Uuid topic_id_ = protocol::Uuid::random();  // one topic: a newer LeaderAndIsr does not replace it
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<cluster::ReplicaManager> replicas_;
  std::unique_ptr<ReplicaTxnStateLog> log_;
};

TEST_F(TxnStateLogTest, AppendsAsTheLeaderAndReadsBackInOrder) {
  host(4, 1, 3, {1}, {1});
  EXPECT_EQ(append(4, 3, {{bytes("a"), bytes("1")}, {bytes("b"), bytes("2")}}), ErrorCode::kNone);
  EXPECT_EQ(append(4, 3, {{bytes("a"), std::nullopt}}), ErrorCode::kNone);  // a tombstone
  ErrorCode error = ErrorCode::kUnknownServerError;
  auto records = read(4, &error);
  EXPECT_EQ(error, ErrorCode::kNone);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], (std::pair<std::string, std::optional<std::string>>{"a", "1"}));
  EXPECT_EQ(records[1], (std::pair<std::string, std::optional<std::string>>{"b", "2"}));
  EXPECT_EQ(records[2], (std::pair<std::string, std::optional<std::string>>{"a", std::nullopt}));
}

TEST_F(TxnStateLogTest, AnotherEpochOrAFollowerWritesNothing) {
  host(1, 1, 5, {1}, {1});
  EXPECT_EQ(append(1, 4, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);  // an older coordinator
  EXPECT_EQ(append(1, 6, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);
  host(2, 2, 5, {1, 2}, {1, 2});  // broker 2 leads
  EXPECT_EQ(append(2, 5, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);
  ErrorCode error = ErrorCode::kUnknownServerError;
  EXPECT_TRUE(read(1, &error).empty());
  EXPECT_EQ(error, ErrorCode::kNone);
}

TEST_F(TxnStateLogTest, APartitionNotHostedHereIsNotLed) {
  EXPECT_EQ(append(9, 0, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);
  ErrorCode error = ErrorCode::kNone;
  read(9, &error);
  EXPECT_EQ(error, ErrorCode::kNotLeaderOrFollower);
}

TEST_F(TxnStateLogTest, AcksAllChecksTheIsrAndWaitsForTheHighWatermark) {
  host(0, 1, 1, {1, 2}, {1}, /*min_isr=*/2);
  EXPECT_EQ(append(0, 1, {{bytes("k"), bytes("v")}}), ErrorCode::kNotEnoughReplicas);
  host(3, 1, 1, {1, 2}, {1, 2}, /*min_isr=*/2);
  // Broker 2 never fetches: the batch is written but never replicated.
  EXPECT_EQ(append(3, 1, {{bytes("k"), bytes("v")}}, /*timeout_ms=*/100), ErrorCode::kRequestTimedOut);
}

// An ISR change or a follower that stops bumps the leader epoch while this
// broker goes on leading: the coordinator keeps the epoch it loaded at, and
// its writes still go in. A leadership lost and won again does not take them.
TEST_F(TxnStateLogTest, ANewerEpochOfTheSameLeadershipTakesTheCoordinatorsWrites) {
  host(1, 1, 5, {1, 2}, {1});
  host(1, 1, 6, {1, 2}, {1});  // the same leader, a newer epoch
  EXPECT_EQ(append(1, 5, {{bytes("k"), bytes("v1")}}), ErrorCode::kNone);
  EXPECT_EQ(append(1, 6, {{bytes("k"), bytes("v2")}}), ErrorCode::kNone);
  EXPECT_EQ(append(1, 4, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);  // before the leadership
  host(1, 2, 7, {1, 2}, {2});                                                            // broker 2 leads
  host(1, 1, 8, {1, 2}, {1});                                                            // broker 1 again
  EXPECT_EQ(append(1, 5, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);
  EXPECT_EQ(append(1, 6, {{bytes("k"), bytes("v")}}), ErrorCode::kNotLeaderOrFollower);
  EXPECT_EQ(append(1, 8, {{bytes("k"), bytes("v3")}}), ErrorCode::kNone);
  ErrorCode error = ErrorCode::kUnknownServerError;
  EXPECT_EQ(read(1, &error).size(), 3u);
}

// A write waiting for its followers when the epoch moves on under the same
// leader (here the ISR shrinks to the leader) completes: its batch cannot
// have been truncated. It failed with NOT_LEADER_OR_FOLLOWER before.
TEST_F(TxnStateLogTest, AWaitOutlivesANewerEpochOfTheSameLeadership) {
  host(3, 1, 1, {1, 2}, {1, 2});
  auto done = std::make_shared<std::promise<ErrorCode>>();
  auto answer = done->get_future();
  log_->append(3, 1, {{bytes("k"), bytes("v")}}, 10000, [done](ErrorCode e) { done->set_value(e); });
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);  // broker 2 has not fetched
  host(3, 1, 2, {1, 2}, {1});
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(answer.get(), ErrorCode::kNone);
}

// A wait across a leadership lost (a follower, possibly truncated) fails.
TEST_F(TxnStateLogTest, AWaitAcrossALostLeadershipFails) {
  host(3, 1, 1, {1, 2}, {1, 2});
  auto done = std::make_shared<std::promise<ErrorCode>>();
  auto answer = done->get_future();
  log_->append(3, 1, {{bytes("k"), bytes("v")}}, 10000, [done](ErrorCode e) { done->set_value(e); });
  host(3, 2, 2, {1, 2}, {2});
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(answer.get(), ErrorCode::kNotLeaderOrFollower);
}

}  // namespace
}  // namespace keel::server
