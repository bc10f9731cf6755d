// The controller's channel to its own broker (controller/channel_manager.h):
// the request runs apart from the caller, the controller's event thread, as a
// remote broker's does, one at a time and in order. Before, it ran inside
// send() on the event thread, and a LeaderAndIsr making the broker leader of
// thousands of partitions held every ControlledShutdown, AlterPartition and
// broker change behind it.
//
// The local broker's handler here blocks until the test lets it go; broker 1
// is a scripted server on loopback (tests/unit/net's TestServer).

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/channel_manager.h"
#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "no_config_changes.h"
#include "protocol/generated/api.h"
#include "protocol/generated/leader_and_isr_request.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "unit/net/client_test_support.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;
using net::client_test::TestServer;

// The tests' requests: a one-byte body (the tag) that the answer carries back.
constexpr int16_t kApi = protocol::LeaderAndIsrRequest::kApiKey;
constexpr int16_t kVersion = 0;

// The answer to a request frame: the response header, then the request's
// body back. Empty when the frame cannot be read.
Bytes answer(const Bytes& frame) {
  ByteReader r{ByteView(frame)};
  const int16_t api_key = r.read_i16();
  const int16_t version = r.read_i16();
  ByteReader hr{ByteView(frame)};
  protocol::RequestHeader header;
  if (!r.ok() || !header.decode(hr, protocol::request_header_version(api_key, version))) return {};
  ByteWriter w;
  protocol::ResponseHeader rh;
  rh.correlation_id = header.correlation_id;
  rh.encode(w, protocol::response_header_version(api_key, version));
  w.write_bytes(hr.read_view(hr.remaining()));
  return Bytes(w.buffer().begin(), w.buffer().end());
}

// Broker 1: a TestServer script that answers every request at once.
void answer_everything(int fd, int) {
  while (auto frame = net::client_test::read_frame(fd)) {
    if (!net::client_test::write_frame(fd, answer(*frame))) return;
  }
}

coord::BrokerRegistration registration(int32_t id, uint16_t port) {
  coord::BrokerRegistration r;
  r.id = id;
  r.endpoints.push_back({"PLAINTEXT", "127.0.0.1", port, "PLAINTEXT"});
  return r;
}

// The tags seen, in order, for a test to wait on.
class TagLog {
 public:
  void add(int tag) {
    std::lock_guard lock(mu_);
    tags_.push_back(tag);
    cv_.notify_all();
  }
  // Whether `n` tags have come within `timeout`.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return tags_.size() >= n; });
  }
  std::vector<int> tags() {
    std::lock_guard lock(mu_);
    return tags_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> tags_;
};

// The controller's own broker: records each request's tag and thread, and
// holds its answers while held.
class LocalBroker : public TagLog {
 public:
  void handle(Bytes frame, std::function<void(Result<Bytes>)> done) {
    std::unique_lock lock(mu_);
    threads_.push_back(std::this_thread::get_id());
    add(frame.empty() ? -1 : frame.back());
    cv_.wait(lock, [&] { return !held_; });
    const bool fail = failing_;
    lock.unlock();
    if (fail) return done(std::make_error_code(std::errc::bad_message));
    done(answer(frame));
  }
  // Every request fails from now on (the channel tries it again and again).
  void fail() {
    std::lock_guard lock(mu_);
    failing_ = true;
  }
  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool failing_ = false;
  std::vector<std::thread::id> threads_;
};

// What the callbacks saw: the tag answered, and whether on the client runtime's thread.
class Answers : public TagLog {
 public:
  explicit Answers(net::ClientRuntime& runtime) : runtime_(runtime) {}
  ChannelManager::Callback cb() {
    return [this](Result<Bytes> body) {
      {
        std::lock_guard lock(mu_);
        on_runtime_.push_back(runtime_.on_runtime_thread());
      }
      add(body.ok() && !body->empty() ? body->back() : -1);
    };
  }
  std::vector<bool> on_runtime() {
    std::lock_guard lock(mu_);
    return on_runtime_;
  }

 private:
  net::ClientRuntime& runtime_;
  std::mutex mu_;
  std::vector<bool> on_runtime_;
};

class ChannelManagerTest : public ::testing::Test {
 protected:
  ChannelManagerTest() {
    ChannelOptions o;
    o.controller_id = 0;
    o.local_broker_id = 0;
    o.retry_backoff_ms = 10;
    o.local = [this](Bytes frame, std::function<void(Result<Bytes>)> done) {
      local_.handle(std::move(frame), std::move(done));
    };
    channels_ = std::make_unique<ChannelManager>(runtime_, o);
    channels_->set_brokers({{0, registration(0, remote_.port())}, {1, registration(1, remote_.port())}});
  }
  ~ChannelManagerTest() override {
    local_.release();  // whatever a failed check left held
    channels_->stop();
  }

  void send(int32_t broker, uint8_t tag, Answers& answers) {
    channels_->send(broker, kApi, kVersion, Bytes{tag}, answers.cb());
  }

  TestServer remote_{answer_everything};
  net::ClientRuntime runtime_{"test-channels"};
  LocalBroker local_;
  std::unique_ptr<ChannelManager> channels_;
};

TEST_F(ChannelManagerTest, ALocalRequestBeingHandledHoldsNeitherTheCallerNorAnotherBroker) {
  ASSERT_TRUE(remote_.ok());
  Answers local_answers(runtime_), remote_answers(runtime_);
  local_.hold();
  // The caller stands for the controller's event thread.
  std::thread::id caller;
  auto sent = std::async(std::launch::async, [&] {
    caller = std::this_thread::get_id();
    send(0, 1, local_answers);
  });
  ASSERT_TRUE(local_.wait_for(1, 10s)) << "the local broker never got the request";
  const bool returned = sent.wait_for(10s) == std::future_status::ready;
  if (!returned) local_.release();  // the old way: send() returns only with the answer
  ASSERT_TRUE(returned) << "send() waited for the local broker to handle its request";
  EXPECT_NE(local_.threads()[0], caller);

  // Meanwhile: another broker's request is answered, and the local broker's
  // next ones wait their turn.
  send(1, 7, remote_answers);
  EXPECT_TRUE(remote_answers.wait_for(1, 10s)) << "broker 1 waited for the local broker";
  send(0, 2, local_answers);
  send(0, 3, local_answers);
  EXPECT_EQ(channels_->pending(0), 3u);
  EXPECT_EQ(local_.tags(), (std::vector<int>{1})) << "one request in flight at a time";
  EXPECT_TRUE(local_answers.tags().empty());

  local_.release();
  ASSERT_TRUE(local_answers.wait_for(3, 10s));
  EXPECT_EQ(channels_->pending(0), 0u);
  EXPECT_EQ(local_.tags(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(local_answers.tags(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(local_answers.on_runtime(), (std::vector<bool>{true, true, true}))
      << "callbacks run on the client runtime's thread, the local broker's too";
  EXPECT_EQ(remote_answers.tags(), (std::vector<int>{7}));
}

TEST_F(ChannelManagerTest, StopWaitsForTheLocalRequestBeingHandledAndDropsTheRest) {
  Answers answers(runtime_);
  local_.hold();
  send(0, 1, answers);
  send(0, 2, answers);
  ASSERT_TRUE(local_.wait_for(1, 10s));
  auto stopped = std::async(std::launch::async, [&] { channels_->stop(); });
  // Not a timing check: stop() must not return at all while the handler runs
  // (the broker would close its logs under it); 200 ms is only how long we look.
  EXPECT_EQ(stopped.wait_for(200ms), std::future_status::timeout) << "stop() left the local request running";
  local_.release();
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(local_.tags(), (std::vector<int>{1})) << "what was queued is dropped";
  // Request 1's answer went to the runtime before stop() returned: once the
  // runtime has run what it holds, nobody was called back.
  std::promise<void> flushed;
  runtime_.post([&] { flushed.set_value(); });
  flushed.get_future().wait();
  EXPECT_TRUE(answers.tags().empty()) << "a stopped channel calls nobody back";
  send(0, 3, answers);
  EXPECT_EQ(channels_->pending(0), 0u);
  EXPECT_EQ(local_.tags(), (std::vector<int>{1}));
}

TEST_F(ChannelManagerTest, ARequestDroppedBeforeItsTurnIsNotHandled) {
  Answers answers(runtime_);
  local_.hold();
  send(0, 1, answers);
  ASSERT_TRUE(local_.wait_for(1, 10s));
  // Resignations and elections while request 1 runs: request 2, of the
  // second term, waits for the local thread behind it when the third term
  // drops it; request 3 is the third term's.
  const std::map<int32_t, coord::BrokerRegistration> brokers{{0, registration(0, remote_.port())}};
  channels_->clear();
  channels_->set_brokers(brokers);
  send(0, 2, answers);
  channels_->clear();
  channels_->set_brokers(brokers);
  send(0, 3, answers);
  local_.release();
  ASSERT_TRUE(answers.wait_for(1, 10s));
  EXPECT_EQ(local_.tags(), (std::vector<int>{1, 3})) << "a dropped request still ran";
  EXPECT_EQ(answers.tags(), (std::vector<int>{3})) << "only the current term's answer is handed on";
}

// What start-up waits for: the local broker's requests answered, or the one
// in front failed (a broker that fails its requests does not hold start-up
// until the bound).
TEST_F(ChannelManagerTest, AWaitForTheLocalBrokerEndsWithAnswersOrAFailureWhenAskedTo) {
  Answers answers(runtime_);
  local_.hold();
  send(0, 1, answers);
  EXPECT_FALSE(channels_->wait_idle(0, 50ms, /*or_failing=*/true)) << "request 1 is being handled";
  local_.release();
  EXPECT_TRUE(channels_->wait_idle(0, 10s));
  local_.fail();
  send(0, 2, answers);
  EXPECT_TRUE(channels_->wait_idle(0, 10s, /*or_failing=*/true));
  EXPECT_EQ(channels_->pending(0), 1u) << "request 2 failed and waits for its retry";
  EXPECT_FALSE(channels_->wait_idle(0, 50ms)) << "without or_failing, only an empty queue ends the wait";
}

// A controlled shutdown holds the stopping broker's requests until its
// partitions' new leaders have taken theirs. Not a timing check: a held
// request must not be sent at all; 200 ms is only how long we look.
TEST_F(ChannelManagerTest, HeldRequestsWaitUntilReleasedAndOtherBrokersDoNot) {
  ASSERT_TRUE(remote_.ok());
  Answers remote_answers(runtime_), local_answers(runtime_);
  channels_->hold_for(1, 60s);
  send(1, 5, remote_answers);
  send(1, 6, remote_answers);
  send(0, 1, local_answers);
  ASSERT_TRUE(local_answers.wait_for(1, 10s)) << "a hold on broker 1 held broker 0";
  EXPECT_FALSE(remote_answers.wait_for(1, 200ms)) << "a held request was sent";
  EXPECT_EQ(channels_->pending(1), 2u);
  EXPECT_FALSE(channels_->wait_idle(1, 50ms)) << "a held channel is not idle";
  channels_->release(1);
  ASSERT_TRUE(remote_answers.wait_for(2, 10s)) << "release() did not send what was held";
  EXPECT_EQ(remote_answers.tags(), (std::vector<int>{5, 6}));
  channels_->release(1);  // nothing held: nothing happens
  send(1, 7, remote_answers);
  EXPECT_TRUE(remote_answers.wait_for(3, 10s));
}

TEST_F(ChannelManagerTest, AHoldNobodyReleasesEndsAtItsLimitAndAnOldLimitEndsNoNewerHold) {
  ASSERT_TRUE(remote_.ok());
  Answers answers(runtime_);
  channels_->hold_for(1, 50ms);
  send(1, 5, answers);
  ASSERT_TRUE(answers.wait_for(1, 10s)) << "a hold outlived its limit";
  // Held for 50 ms, released, held again for a minute: the first hold's
  // timer must not end the second.
  channels_->hold_for(1, 50ms);
  channels_->release(1);
  channels_->hold_for(1, 60s);
  send(1, 6, answers);
  EXPECT_FALSE(answers.wait_for(2, 300ms)) << "an earlier hold's limit released a later hold";
  channels_->release(1);
  EXPECT_TRUE(answers.wait_for(2, 10s));
  EXPECT_EQ(answers.tags(), (std::vector<int>{5, 6}));
}

// The same through the controller: while its own broker handles an
// UpdateMetadata, the event thread answers ListPartitionReassignments (as it
// would ControlledShutdown or AlterPartition).
TEST(ControllerLocalChannelTest, TheEventThreadGoesOnWhileItsOwnBrokerHandlesARequest) {
  auto store = coord::EmbeddedStore::in_memory();
  coord::KafkaStore kafka(*store);
  cluster::MetadataCache metadata;
  test_support::NoConfigChanges config;
  net::ClientRuntime runtime("test-ctrl");
  LocalBroker local;
  ControllerOptions o;
  o.broker_id = 0;
  o.cluster_id = "local-channel";
  o.registration = registration(0, 9092);
  o.runtime = &runtime;
  o.auto_leader_rebalance_enable = false;
  o.local_requests = [&local](Bytes frame, std::function<void(Result<Bytes>)> done) {
    local.handle(std::move(frame), std::move(done));
  };
  Controller controller(kafka, metadata, config, o);
  controller.start();
  ASSERT_TRUE(controller.is_controller());
  ASSERT_TRUE(local.wait_for(1, 10s)) << "the controller tells itself about itself";

  local.hold();
  TestServer broker1(answer_everything);
  ASSERT_TRUE(kafka.register_broker(registration(1, broker1.port())));
  ASSERT_TRUE(local.wait_for(2, 10s)) << "no UpdateMetadata for broker 1's arrival";
  auto listed = std::async(std::launch::async, [&] {
    return controller.list_partition_reassignments(protocol::ListPartitionReassignmentsRequest{}, 0);
  });
  const bool answered = listed.wait_for(10s) == std::future_status::ready;
  local.release();
  EXPECT_TRUE(answered) << "the event thread waited for its own broker's UpdateMetadata";
  EXPECT_EQ(listed.get().error_code, 0);
  controller.stop();
}

}  // namespace
}  // namespace keel::controller
