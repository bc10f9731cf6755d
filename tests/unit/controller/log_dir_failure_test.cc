// A broker's failed log dir (an I/O error, a full disk) reaches the controller
// as Kafka's does: a /log_dir_event_notification node, after which the
// controller sends that broker LeaderAndIsr for all its replicas and acts on
// the KAFKA_STORAGE_ERROR answers. Offline leaders are elected away, offline
// followers leave the ISR at once (acks=all writes would wait for them until
// replica.lag.time.max.ms), and an only replica stays the leader for reads.
//
// The controller is broker 0, on an in-memory store. Its requests to itself go
// to `local_requests`, where the test plays broker 0 with a failed log dir:
// every LeaderAndIsr partition is answered KAFKA_STORAGE_ERROR. Broker 1 is
// registered but nothing listens for it (its requests are retried, unanswered).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "net/client.h"
#include "no_config_changes.h"
#include "protocol/error_code.h"
#include "protocol/generated/api.h"
#include "protocol/generated/leader_and_isr_request.h"
#include "protocol/generated/leader_and_isr_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/generated/update_metadata_request.h"
#include "protocol/generated/update_metadata_response.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;
using test_support::eventually;
using test_support::NoConfigChanges;
using V = std::vector<int32_t>;

// Broker 0's request handler: UpdateMetadata is fine; LeaderAndIsr is
// answered KAFKA_STORAGE_ERROR for every partition once `dir_failed`.
class Broker0 {
 public:
  std::atomic<bool> dir_failed{false};
  std::atomic<int> storage_errors{0};  // partitions answered KAFKA_STORAGE_ERROR
  std::atomic<int> answered{0};        // LeaderAndIsr partitions answered at all
  cluster::MetadataCache* metadata = nullptr;

  void handle(Bytes frame, const std::function<void(Result<Bytes>)>& done) {
    ByteReader peek{ByteView(frame)};
    const int16_t api_key = peek.read_i16();
    const int16_t version = peek.read_i16();
    ByteReader r{ByteView(frame)};
    protocol::RequestHeader header;
    ASSERT_TRUE(header.decode(r, protocol::request_header_version(api_key, version)));
    ByteWriter w;
    protocol::ResponseHeader rh;
    rh.correlation_id = header.correlation_id;
    rh.encode(w, protocol::response_header_version(api_key, version));
    if (api_key == protocol::LeaderAndIsrRequest::kApiKey) {
      protocol::LeaderAndIsrRequest req;
      ASSERT_TRUE(req.decode(r, version));
      protocol::LeaderAndIsrResponse resp;
      for (const auto& t : req.topic_states) {
        auto& te = resp.topics.emplace_back();
        te.topic_id = t.topic_id;
        for (const auto& p : t.partition_states) {
          auto& pe = te.partition_errors.emplace_back();
          pe.partition_index = p.partition_index;
          if (dir_failed) {
            pe.error_code = static_cast<int16_t>(protocol::ErrorCode::kKafkaStorageError);
            ++storage_errors;
          }
          ++answered;
        }
      }
      resp.encode(w, version);
    } else {
      ASSERT_EQ(api_key, protocol::UpdateMetadataResponse::kApiKey) << "only LeaderAndIsr and UpdateMetadata come";
      // The live brokers reach the metadata cache, as on a real broker
      // (the controller's CreateTopics checks replicas against it).
      protocol::UpdateMetadataRequest req;
      ASSERT_TRUE(req.decode(r, version));
      std::map<int32_t, cluster::BrokerInfo> live;
      for (const auto& b : req.live_brokers) live[b.id] = cluster::BrokerInfo{b.id, {}, std::nullopt};
      metadata->set_brokers(std::move(live), req.controller_id);
      protocol::UpdateMetadataResponse resp;
      resp.encode(w, version);
    }
    done(Bytes(w.buffer().begin(), w.buffer().end()));
  }
};

coord::BrokerRegistration registration(int32_t id) {
  coord::BrokerRegistration r;
  r.id = id;
  r.endpoints.push_back({"PLAINTEXT", "127.0.0.1", id == 0 ? 9092 : 1, "PLAINTEXT"});
  return r;
}

class LogDirFailureTest : public ::testing::Test {
 protected:
  void start_controller() {
    ControllerOptions o = test_support::broker0_options("log-dir-cluster");
    o.registration = registration(0);
    o.runtime = &runtime_;
    broker0_.metadata = &metadata_;
    o.local_requests = [this](Bytes frame, std::function<void(Result<Bytes>)> done) {
      broker0_.handle(std::move(frame), done);
    };
    controller_ = std::make_unique<Controller>(kafka_, metadata_, config_, o);
    controller_->start();
    ASSERT_TRUE(controller_->is_controller());
  }
  void create(const std::string& name, const V& replicas) {
    cluster::NewTopic t;
    t.name = name;
    t.assignment = {{0, replicas}};
    const auto r = controller_->create_topic(t, false, nullptr);
    ASSERT_EQ(r.error, protocol::ErrorCode::kNone) << r.message;
  }
  coord::PartitionState state(const std::string& topic) {
    auto s = kafka_.partition_state(topic, 0);
    return s && *s ? (*s)->state : coord::PartitionState{};
  }
  void TearDown() override {
    if (controller_) controller_->stop();
  }

  std::unique_ptr<coord::EmbeddedStore> store_ = coord::EmbeddedStore::in_memory();
  coord::KafkaStore kafka_{*store_};
  cluster::MetadataCache metadata_;
  NoConfigChanges config_;
  net::ClientRuntime runtime_{"test-ctrl"};
  Broker0 broker0_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(LogDirFailureTest, OfflineLeadersMoveOfflineFollowersLeaveTheIsrAndAnOnlyReplicaStays) {
  start_controller();
  ASSERT_TRUE(kafka_.register_broker(registration(1)));
  ASSERT_TRUE(eventually([&] { return metadata_.snapshot()->brokers.size() == 2; }));
  create("led-here", {0, 1});
  create("followed-here", {1, 0});
  create("only-here", {0});
  // The creations' LeaderAndIsr are answered while the dir is fine: only the
  // notification can bring the KAFKA_STORAGE_ERROR answers below.
  ASSERT_TRUE(eventually([&] { return broker0_.answered.load() >= 3; }));
  ASSERT_EQ(state("followed-here").isr, (V{1, 0}));
  EXPECT_EQ(state("led-here").leader, 0);
  EXPECT_EQ(state("followed-here").leader, 1);
  const int32_t only_epoch = state("only-here").leader_epoch;

  broker0_.dir_failed = true;
  controller_->log_dir_failed();

  ASSERT_TRUE(eventually([&] { return state("led-here").leader == 1; }, 20s))
      << "the offline leader's partition was not moved to the other in-sync replica";
  EXPECT_EQ(state("led-here").isr, V{1});
  ASSERT_TRUE(eventually([&] { return state("followed-here").isr == V{1}; }, 20s))
      << "the offline follower stayed in the ISR";
  EXPECT_EQ(state("followed-here").leader, 1);
  EXPECT_GE(broker0_.storage_errors.load(), 3) << "broker 0 was asked about each of its replicas";
  // Nobody else has it: it stays led where it is, in the same epoch.
  EXPECT_EQ(state("only-here").leader, 0);
  EXPECT_EQ(state("only-here").leader_epoch, only_epoch);
  // The notification was handled and removed.
  ASSERT_TRUE(eventually([&] {
    auto events = kafka_.log_dir_events();
    return events && events->empty();
  }, 20s));
}

TEST_F(LogDirFailureTest, ANewControllerRemovesTheNotificationsItsFullStateAnswers) {
  // A notification left by a broker while there was no controller (or by one
  // that went): the new controller's full state asks every broker anyway.
  ASSERT_TRUE(kafka_.ensure_paths());
  ASSERT_TRUE(kafka_.create_log_dir_event(0));
  auto before = kafka_.log_dir_events();
  ASSERT_TRUE(before);
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ(before->front().broker, 0);
  start_controller();
  EXPECT_TRUE(eventually([&] {
    auto events = kafka_.log_dir_events();
    return events && events->empty();
  }, 20s));
}

}  // namespace
}  // namespace keel::controller
