// KIP-890's check on the partition leader (server/txn_verification.h) when
// the transaction coordinator is on another broker: the produce is held
// until the coordinator's verify_only answer (shared by produces asking the
// same question), translated as Kafka's ReplicaManager does, bounded by the
// produce's timeout (NETWORK_EXCEPTION) and by an unreachable coordinator;
// answers given at once (an open transaction, no coordinator, no id); the
// retry form TxnOffsetCommit uses; and the destructor leaving no produce held.

#include "server/txn_verification.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "../txn/txn_fixture.h"
#include "cluster/metadata_cache.h"
#include "cluster/partition.h"
#include "cluster/record_validation.h"
#include "net/client.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "protocol/record_batch.h"

namespace keel::server {
namespace {

using protocol::AddPartitionsToTxnRequest;
using protocol::AddPartitionsToTxnResponse;
using protocol::ErrorCode;

constexpr int32_t kStatePartitions = 3;

// A verify_only answer for `partition` of topic "t".
AddPartitionsToTxnResponse answer_for(int32_t partition, ErrorCode e) {
  AddPartitionsToTxnResponse resp;
  auto& r = resp.results_by_transaction.emplace_back();
  r.transactional_id = "tx";
  auto& t = r.topic_results.emplace_back();
  t.name = "t";
  t.results_by_partition.push_back({partition, static_cast<int16_t>(e), {}});
  return resp;
}

class TxnVerificationTest : public ::testing::Test {
 protected:
  TxnVerificationTest()
      : dir_(std::filesystem::temp_directory_path() / ("keel-txv-" + std::to_string(std::random_device{}()))) {
    config_.num_partitions = kStatePartitions;
    coordinator_.emplace(config_, log_, pids_, markers_, [] { return int64_t{1000}; });
    // This broker is 1; every __transaction_state partition is led by 2.
    cluster::BrokerInfo b1{1, {{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}}, std::nullopt};
    cluster::BrokerInfo b2{2, {{"PLAINTEXT", "127.0.0.1", 9093, "PLAINTEXT"}}, std::nullopt};
    metadata_.set_brokers({{1, b1}, {2, b2}}, 1);
    state_leader(2);
    storage::LogOpenOptions o;
    o.dir = (dir_ / "t-0").string();
    o.config = storage::LogConfig{};
    o.cache = &cache_;
    auto r = storage::Log::open(o);
    EXPECT_TRUE(r) << r.error().message();
    storage_log_ = std::move(*r);
    partition_ = std::make_shared<cluster::Partition>(cluster::TopicPartition{"t", 0}, protocol::Uuid{},
                                                      storage_log_.get(), 1);
    EXPECT_TRUE(partition_->apply_leader_state({1, 1, 0, {1}, {1}}));
    make_verifier();
  }
  ~TxnVerificationTest() override {
    verifier_.reset();
    partition_.reset();
    storage_log_.reset();
    std::filesystem::remove_all(dir_);
  }

  void make_verifier() {
    TxnPartitionVerifier::Remote remote;
    remote.broker_id = 1;
    remote.send = [this](int32_t broker, const AddPartitionsToTxnRequest& req,
                         std::function<void(Result<AddPartitionsToTxnResponse>)> answer) {
      sent_.push_back({broker, req, std::move(answer)});
    };
    remote.schedule = [this](int64_t delay_ms, std::function<void()> fn) {
      timers_.push_back({delay_ms, std::move(fn), false});
      const size_t i = timers_.size() - 1;
      return std::function<void()>([this, i] { timers_[i].cancelled = true; });
    };
    verifier_ = std::make_unique<TxnPartitionVerifier>(*coordinator_, std::move(remote), metadata_);
  }

  void state_leader(int32_t leader) {
    cluster::TopicInfo t;
    t.name = txn::kTransactionStateTopic;
    t.internal = true;
    for (int32_t i = 0; i < kStatePartitions; ++i) {
      cluster::PartitionInfo p;
      p.partition = i;
      p.leader = leader;
      t.partitions.push_back(p);
    }
    metadata_.put_topic(t);
  }

  cluster::ValidatedRecords records(int64_t pid = 42, int16_t epoch = 3) {
    cluster::ValidatedRecords r;
    r.producer_id = pid;
    r.producer_epoch = epoch;
    r.transactional = true;
    return r;
  }

  // verify() for producer 42 epoch 3 of "tx"; answers land in `out`.
  std::optional<ErrorCode> verify(std::vector<ErrorCode>& out, int64_t timeout_ms = 30000,
                                  std::optional<std::string> id = "tx") {
    return verifier_->verify(id, records(), *partition_, timeout_ms, [&out](ErrorCode e) { out.push_back(e); });
  }

  struct Sent {
    int32_t broker;
    AddPartitionsToTxnRequest req;
    std::function<void(Result<AddPartitionsToTxnResponse>)> answer;
  };
  struct Timer {
    int64_t delay_ms;
    std::function<void()> fn;
    bool cancelled;
  };

  std::filesystem::path dir_;
  txn::TxnCoordinatorConfig config_;
  txn::testing::MemoryTxnLog log_;
  txn::testing::CountingProducerIds pids_;
  txn::testing::RecordingMarkerChannel markers_;
  std::optional<txn::TransactionCoordinator> coordinator_;
  cluster::MetadataCache metadata_;
  storage::FileCache cache_{16};
  std::unique_ptr<storage::Log> storage_log_;
  std::shared_ptr<cluster::Partition> partition_;
  std::vector<Sent> sent_;
  std::vector<Timer> timers_;
  std::unique_ptr<TxnPartitionVerifier> verifier_;
};

TEST_F(TxnVerificationTest, TheProduceIsHeldUntilTheRemoteCoordinatorAnswers) {
  std::vector<ErrorCode> out;
  EXPECT_FALSE(verify(out).has_value()) << "held, not refused with a retriable error";
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].broker, 2);
  ASSERT_EQ(sent_[0].req.transactions.size(), 1u);
  const auto& t = sent_[0].req.transactions[0];
  EXPECT_TRUE(t.verify_only);
  EXPECT_EQ(t.transactional_id, "tx");
  EXPECT_EQ(t.producer_id, 42);
  EXPECT_EQ(t.producer_epoch, 3);
  ASSERT_EQ(t.topics.size(), 1u);
  EXPECT_EQ(t.topics[0].name, "t");
  EXPECT_EQ(t.topics[0].partitions, std::vector<int32_t>{0});
  ASSERT_EQ(timers_.size(), 1u);
  EXPECT_EQ(timers_[0].delay_ms, 30000) << "bounded by the produce's timeout";
  EXPECT_EQ(verifier_->in_flight(), 1u);

  sent_[0].answer(answer_for(0, ErrorCode::kNone));
  EXPECT_EQ(out, std::vector<ErrorCode>{ErrorCode::kNone});
  EXPECT_TRUE(timers_[0].cancelled) << "the answer cancels the timeout";
  EXPECT_EQ(verifier_->in_flight(), 0u);
}

TEST_F(TxnVerificationTest, TheCoordinatorsAnswersAreTranslatedAsKafkasReplicaManagerDoes) {
  const std::vector<std::pair<ErrorCode, ErrorCode>> cases = {
      {ErrorCode::kInvalidTxnState, ErrorCode::kInvalidTxnState},
      {ErrorCode::kInvalidProducerIdMapping, ErrorCode::kInvalidTxnState},
      {ErrorCode::kProducerFenced, ErrorCode::kInvalidProducerEpoch},
      {ErrorCode::kInvalidProducerEpoch, ErrorCode::kInvalidProducerEpoch},
      {ErrorCode::kNotCoordinator, ErrorCode::kNotEnoughReplicas},
      {ErrorCode::kCoordinatorLoadInProgress, ErrorCode::kNotEnoughReplicas},
      {ErrorCode::kConcurrentTransactions, ErrorCode::kNotEnoughReplicas},
  };
  for (const auto& [coordinator_says, produce_gets] : cases) {
    std::vector<ErrorCode> out;
    ASSERT_FALSE(verify(out).has_value());
    ASSERT_FALSE(sent_.empty());
    sent_.back().answer(answer_for(0, coordinator_says));
    EXPECT_EQ(out, std::vector<ErrorCode>{produce_gets}) << static_cast<int>(coordinator_says);
  }
  // A request-level error, and an answer that leaves the partition out.
  std::vector<ErrorCode> out;
  ASSERT_FALSE(verify(out).has_value());
  AddPartitionsToTxnResponse whole;
  whole.error_code = static_cast<int16_t>(ErrorCode::kNotCoordinator);
  sent_.back().answer(whole);
  ASSERT_FALSE(verify(out).has_value());
  sent_.back().answer(answer_for(5, ErrorCode::kNone));
  EXPECT_EQ(out, (std::vector<ErrorCode>{ErrorCode::kNotEnoughReplicas, ErrorCode::kNotEnoughReplicas}));
}

TEST_F(TxnVerificationTest, ProducesAskingTheSameQuestionShareOneRequest) {
  std::vector<ErrorCode> first, second;
  ASSERT_FALSE(verify(first).has_value());
  ASSERT_FALSE(verify(second).has_value());
  EXPECT_EQ(sent_.size(), 1u);
  sent_[0].answer(answer_for(0, ErrorCode::kInvalidTxnState));
  EXPECT_EQ(first, std::vector<ErrorCode>{ErrorCode::kInvalidTxnState});
  EXPECT_EQ(second, std::vector<ErrorCode>{ErrorCode::kInvalidTxnState});
  // Answered: the next produce asks again (answers are not cached for produce).
  std::vector<ErrorCode> third;
  ASSERT_FALSE(verify(third).has_value());
  ASSERT_EQ(sent_.size(), 2u);
  // Answered here, before `third` goes out of scope: a produce still held
  // when the fixture destroys the verifier would be answered into a dead vector.
  sent_[1].answer(answer_for(0, ErrorCode::kNone));
  EXPECT_EQ(third, std::vector<ErrorCode>{ErrorCode::kNone});
  EXPECT_EQ(verifier_->in_flight(), 0u);
}

TEST_F(TxnVerificationTest, NoAnswerWithinTheTimeoutIsANetworkExceptionAndALateAnswerIsDropped) {
  std::vector<ErrorCode> out;
  ASSERT_FALSE(verify(out, 1500).has_value());
  ASSERT_EQ(timers_.size(), 1u);
  EXPECT_EQ(timers_[0].delay_ms, 1500);
  timers_[0].fn();
  EXPECT_EQ(out, std::vector<ErrorCode>{ErrorCode::kNetworkException});
  sent_[0].answer(answer_for(0, ErrorCode::kNone));
  EXPECT_EQ(out.size(), 1u) << "answered once";
  EXPECT_EQ(verifier_->in_flight(), 0u);
}

TEST_F(TxnVerificationTest, AnUnreachableCoordinatorIsANetworkException) {
  std::vector<ErrorCode> out;
  ASSERT_FALSE(verify(out).has_value());
  sent_[0].answer(std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(out, std::vector<ErrorCode>{ErrorCode::kNetworkException});
}

TEST_F(TxnVerificationTest, AnswersKnownAtOnceAreReturnedWithoutAsking) {
  std::vector<ErrorCode> out;
  EXPECT_EQ(verify(out, 30000, std::nullopt), ErrorCode::kTransactionalIdAuthorizationFailed);
  state_leader(-1);
  EXPECT_EQ(verify(out), ErrorCode::kNotEnoughReplicas) << "no coordinator elected";
  state_leader(1);
  EXPECT_EQ(verify(out), ErrorCode::kNotEnoughReplicas) << "this broker's coordinator is not loaded yet";
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(out.empty()) << "no callback for an answer returned";

  // The producer's transaction is already open here at this epoch.
  protocol::RecordBatchBuilder b;
  b.producer(42, 3, 0).transactional(true).add(1000, std::nullopt, std::nullopt);
  Bytes batch = b.build().value();
  auto validated = cluster::validate_produce_records(batch, {});
  ASSERT_TRUE(validated.ok());
  ASSERT_EQ(partition_->append_as_leader(validated, 1, 1000).error, ErrorCode::kNone);
  state_leader(2);
  EXPECT_EQ(verify(out), ErrorCode::kNone);
  EXPECT_TRUE(sent_.empty());
  // Another epoch's first batch is asked about.
  EXPECT_FALSE(verifier_->verify("tx", records(42, 4), *partition_, 30000, [](ErrorCode) {}).has_value());
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(TxnVerificationTest, DestroyingTheVerifierAnswersEveryHeldProduce) {
  std::vector<ErrorCode> out;
  ASSERT_FALSE(verify(out).has_value());
  verifier_.reset();
  EXPECT_EQ(out, std::vector<ErrorCode>{ErrorCode::kNetworkException});
}

}  // namespace
}  // namespace keel::server
