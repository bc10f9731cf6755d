// A broker that registers while the coordination store cannot be reached for
// a moment (a ZooKeeper connection loss under load) must still get the
// controller's UpdateMetadata: the controller reads /brokers/ids (and the
// broker's registration) again until it can, as Kafka's KafkaZkClient
// retries until connected. Before, one failed read lost the watch, and the
// new broker answered Metadata with no brokers until the next broker change.
//
// The controller (broker 0) runs on an in-memory store behind a wrapper that
// fails chosen reads with kConnectionLoss; its requests to itself go to
// `local_requests`, where the test reads the live brokers of each
// UpdateMetadata.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "no_config_changes.h"
#include "net/client.h"
#include "protocol/generated/api.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/generated/update_metadata_request.h"
#include "protocol/generated/update_metadata_response.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;

// Forwards to an in-memory store; reads of one path fail with
// kConnectionLoss (and set no watch) while `failures` is above zero.
class FlakyStore : public coord::CoordinationStore {
 public:
  std::string failing_path;
  std::atomic<int> failures{0};
  std::atomic<int> failed{0};  // how many reads failed

  Result<std::string> create(const std::string& path, ByteView data, coord::CreateMode mode) override {
    return inner_->create(path, data, mode);
  }
  Result<coord::Node> get(const std::string& path, coord::Watch watch) override {
    if (fail(path)) return make_error_code(coord::CoordErrc::kConnectionLoss);
    return inner_->get(path, std::move(watch));
  }
  Result<coord::Stat> set(const std::string& path, ByteView data, int32_t version) override {
    return inner_->set(path, data, version);
  }
  Result<void> remove(const std::string& path, int32_t version) override { return inner_->remove(path, version); }
  Result<std::optional<coord::Stat>> exists(const std::string& path, coord::Watch watch) override {
    return inner_->exists(path, std::move(watch));
  }
  Result<std::vector<std::string>> children(const std::string& path, coord::Watch watch) override {
    if (fail(path)) return make_error_code(coord::CoordErrc::kConnectionLoss);
    return inner_->children(path, std::move(watch));
  }
  // A multi that creates this path commits, but its caller hears of a connection loss (once).
  std::string lose_answer_of_create;
  Result<std::vector<coord::OpResult>> multi(std::span<const coord::Op> ops) override {
    auto r = inner_->multi(ops);
    for (const auto& op : ops) {
      if (r && op.kind == coord::Op::Kind::kCreate && op.path == lose_answer_of_create) {
        lose_answer_of_create.clear();
        ++failed;
        return make_error_code(coord::CoordErrc::kConnectionLoss);
      }
    }
    return r;
  }
  int64_t session_id() const override { return inner_->session_id(); }

 private:
  bool fail(const std::string& path) {
    if (path != failing_path) return false;
    int left = failures.load();
    while (left > 0) {
      if (failures.compare_exchange_weak(left, left - 1)) {
        ++failed;
        return true;
      }
    }
    return false;
  }
  std::unique_ptr<coord::EmbeddedStore> inner_ = coord::EmbeddedStore::in_memory();
};

using test_support::NoConfigChanges;

coord::BrokerRegistration registration(int32_t id) {
  coord::BrokerRegistration r;
  r.id = id;
  // Port 1 on loopback: nothing listens, the controller's channel keeps retrying (harmless here).
  r.endpoints.push_back({"PLAINTEXT", "127.0.0.1", id == 0 ? 9092 : 1, "PLAINTEXT"});
  return r;
}

// The live brokers of every UpdateMetadata the controller sent itself.
class LocalBroker {
 public:
  // A test with topics: requests other than UpdateMetadata get no answer
  // but an error (the controller's channel tries them again).
  std::atomic<bool> topics{false};

  void handle(Bytes frame, const std::function<void(Result<Bytes>)>& done) {
    ByteReader peek{ByteView(frame)};
    const int16_t api_key = peek.read_i16();
    const int16_t version = peek.read_i16();
    if (topics && api_key != protocol::UpdateMetadataRequest::kApiKey) {
      done(std::make_error_code(std::errc::connection_refused));
      return;
    }
    ByteReader r{ByteView(frame)};
    protocol::RequestHeader header;
    ASSERT_TRUE(header.decode(r, protocol::request_header_version(api_key, version)));
    ASSERT_EQ(api_key, protocol::UpdateMetadataRequest::kApiKey) << "no topics: only UpdateMetadata is sent";
    protocol::UpdateMetadataRequest req;
    ASSERT_TRUE(req.decode(r, version));
    {
      std::lock_guard lock(mu_);
      std::set<int32_t> ids;
      for (const auto& b : req.live_brokers) ids.insert(b.id);
      last_ = ids;
      cv_.notify_all();
    }
    ByteWriter w;
    protocol::ResponseHeader rh;
    rh.correlation_id = header.correlation_id;
    rh.encode(w, protocol::response_header_version(api_key, version));
    protocol::UpdateMetadataResponse resp;
    resp.encode(w, version);
    done(Bytes(w.buffer().begin(), w.buffer().end()));
  }

  // Whether an UpdateMetadata listing exactly `ids` came within `timeout`.
  bool wait_for(const std::set<int32_t>& ids, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return last_ == ids; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int32_t> last_;
};

class BrokerChangeTest : public ::testing::Test {
 protected:
  void start_controller(bool expect_controller = true) {
    ControllerOptions o;
    o.broker_id = 0;
    o.cluster_id = "flaky-cluster";
    o.registration = registration(0);
    o.runtime = &runtime_;
    o.auto_leader_rebalance_enable = false;
    o.local_requests = [this](Bytes frame, std::function<void(Result<Bytes>)> done) {
      local_.handle(std::move(frame), done);
    };
    controller_ = std::make_unique<Controller>(kafka_, metadata_, config_, o);
    controller_->start();
    if (!expect_controller) return;
    ASSERT_TRUE(controller_->is_controller());
    ASSERT_TRUE(local_.wait_for({0}, 5s)) << "the controller tells itself about itself";
  }
  void expect_broker_1_despite_failing(const std::string& path, int failures);
  void TearDown() override {
    if (controller_) controller_->stop();
  }

  FlakyStore store_;
  coord::KafkaStore kafka_{store_};
  cluster::MetadataCache metadata_;
  NoConfigChanges config_;
  net::ClientRuntime runtime_{"test-ctrl"};
  LocalBroker local_;
  std::unique_ptr<Controller> controller_;
};

// Broker 1 registers while reads of `path` fail `failures` times: the
// controller still tells itself (and so every broker) that broker 1 is live.
void BrokerChangeTest::expect_broker_1_despite_failing(const std::string& path, int failures) {
  start_controller();
  store_.failing_path = path;
  store_.failures = failures;
  ASSERT_TRUE(kafka_.register_broker(registration(1)));
  EXPECT_TRUE(local_.wait_for({0, 1}, 5s)) << "broker 1 never reached the controller's live brokers";
  EXPECT_EQ(store_.failed.load(), failures) << "each failed read was done again";
}

TEST_F(BrokerChangeTest, ABrokerListedWhileTheStoreIsUnreachableIsReadAgain) {
  // The watch on /brokers/ids fires for broker 1; the listing fails twice.
  expect_broker_1_despite_failing("/brokers/ids", 2);
}

TEST_F(BrokerChangeTest, ARegistrationThatCannotBeReadIsReadAgain) {
  // The listing works; reading broker 1's registration fails once.
  expect_broker_1_despite_failing("/brokers/ids/1", 1);
}

TEST_F(BrokerChangeTest, AStoreErrorThatIsNoOutageIsNotRetriedForever) {
  start_controller();
  // A registration that cannot be decoded is logged and skipped: broker 2 still counts.
  ASSERT_TRUE(store_.create("/brokers/ids/1", ByteView(Bytes{0x7b}), coord::CreateMode::kEphemeral));
  ASSERT_TRUE(kafka_.register_broker(registration(2)));
  EXPECT_TRUE(local_.wait_for({0, 2}, 5s));
}

TEST_F(BrokerChangeTest, AnElectionWonWithoutHearingSoIsRunAgain) {
  // The election's multi (create /controller, bump the epoch) commits, but the
  // answer is lost: the node names broker 0 with an epoch it does not know.
  store_.lose_answer_of_create = "/controller";
  start_controller(false);
  for (int i = 0; i < 50 && !controller_->is_controller(); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(controller_->is_controller()) << "the cluster was left with a controller node nobody acts on";
  EXPECT_EQ(store_.failed.load(), 1);
  EXPECT_TRUE(local_.wait_for({0}, 5s));
}

TEST_F(BrokerChangeTest, APartitionStateThatCannotBeReadIsReadAgainAndTheOthersAreNotHeldUp) {
  // The topic is there before the controller: it reads the three states
  // together (none yet: it creates them), and partition 1's read fails once.
  coord::TopicAssignment assignment;
  assignment.topic_id = "AAAAAAAAAAAAAAAAAAAAAA";
  for (int32_t p = 0; p < 3; ++p) assignment.partitions[p] = {0};
  ASSERT_TRUE(kafka_.ensure_paths());
  ASSERT_TRUE(kafka_.create_topic("orders", assignment, {}));
  local_.topics = true;
  store_.failing_path = coord::paths::partition_state("orders", 1);
  store_.failures = 1;
  start_controller(false);  // its LeaderAndIsr to itself go unanswered: no UpdateMetadata follows
  ASSERT_TRUE(controller_->is_controller());
  auto stored = [&](int32_t p) {
    auto e = store_.exists(coord::paths::partition_state("orders", p), {});
    return e.ok() && e->has_value();
  };
  for (int i = 0; i < 100 && !(stored(0) && stored(1) && stored(2)); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(store_.failed.load(), 1);
  for (int32_t p = 0; p < 3; ++p) {
    ASSERT_TRUE(stored(p)) << "partition " << p << " got no state";
    auto state = kafka_.partition_state("orders", p);
    ASSERT_TRUE(state.ok() && state->has_value());
    EXPECT_EQ((*state)->state.leader, 0);
    EXPECT_EQ((*state)->zk_version, 0) << "created once, not twice";
  }
}

}  // namespace
}  // namespace keel::controller
