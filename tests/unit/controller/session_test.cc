// After a store session expiry the broker's registration (/brokers/ids/<id>,
// ephemeral) and its election watch are gone; the broker renews the session
// and the controller registers again. Kafka's broker keeps at it until it is
// registered: a broker that stays up unregistered is counted dead by every
// controller, yet clients and followers still reach it. Before, one failed
// re-registration (ZooKeeper unreachable for a moment after the new session)
// was logged and the broker stayed unregistered for good.
//
// The controller (broker 0) runs on an in-memory store behind a wrapper that
// plays ZooKeeper's side of an expiry: the old session's watches never fire,
// and the registration's create can be made to fail a number of times.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "coord/kafka_layout.h"
#include "no_config_changes.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;
using test_support::eventually;

class SessionStore : public coord::CoordinationStore {
 public:
  std::atomic<int> registration_failures{0};  // the next this many registrations fail (kConnectionLoss)
  std::atomic<int> failed{0};                 // registrations that failed
  std::atomic<int> registered{0};             // registrations that committed
  // Asked at each failed registration: what the controller says meanwhile.
  std::function<bool()> probe;
  std::atomic<int> probed_registered{0};  // failures during which the controller said it was registered

  // ZooKeeper expires the session and the client gets a new one: the old
  // session's ephemeral nodes go, and its watches with it, unfired.
  void expire() {
    ++session_generation_;
    inner_->expire_session();
  }

  Result<std::string> create(const std::string& path, ByteView data, coord::CreateMode mode) override {
    return inner_->create(path, data, mode);
  }
  Result<coord::Node> get(const std::string& path, coord::Watch watch) override {
    return inner_->get(path, session_bound(std::move(watch)));
  }
  Result<coord::Stat> set(const std::string& path, ByteView data, int32_t version) override {
    return inner_->set(path, data, version);
  }
  Result<void> remove(const std::string& path, int32_t version) override { return inner_->remove(path, version); }
  Result<std::optional<coord::Stat>> exists(const std::string& path, coord::Watch watch) override {
    return inner_->exists(path, session_bound(std::move(watch)));
  }
  Result<std::vector<std::string>> children(const std::string& path, coord::Watch watch) override {
    return inner_->children(path, session_bound(std::move(watch)));
  }
  Result<std::vector<coord::OpResult>> multi(std::span<const coord::Op> ops) override {
    const bool registration = !ops.empty() && ops[0].kind == coord::Op::Kind::kCreate &&
                              ops[0].path == coord::paths::broker(0);
    if (registration && registration_failures > 0) {
      --registration_failures;
      if (probe && probe()) ++probed_registered;
      ++failed;
      return make_error_code(coord::CoordErrc::kConnectionLoss);
    }
    auto r = inner_->multi(ops);
    if (registration && r) ++registered;
    return r;
  }
  int64_t session_id() const override { return inner_->session_id(); }

 private:
  coord::Watch session_bound(coord::Watch watch) {
    if (!watch) return watch;
    return [this, gen = session_generation_.load(), watch = std::move(watch)](const coord::WatchEvent& e) {
      if (gen == session_generation_) watch(e);
    };
  }

  std::atomic<int> session_generation_{0};
  std::unique_ptr<coord::EmbeddedStore> inner_ = coord::EmbeddedStore::in_memory();
};

// The broker epoch the store's registration stands for (its czxid); -1 when there is none.
int64_t stored_epoch(SessionStore& store) {
  auto node = store.exists(coord::paths::broker(0), {});
  return node && *node ? (*node)->czxid : -1;
}

// The registration in the store now, owned by the current session.
bool registered_in_current_session(SessionStore& store, coord::KafkaStore& kafka) {
  auto node = store.exists(coord::paths::broker(0), {});
  if (!node || !*node) return false;
  auto b = kafka.broker(0);
  return b && *b && (*node)->ephemeral_owner == store.session_id();
}

// Broker 0's controller on a SessionStore, not started.
class ControllerSession : public ::testing::Test {
 protected:
  SessionStore store;
  coord::KafkaStore kafka{store};
  cluster::MetadataCache metadata;
  test_support::NoConfigChanges config;
  Controller controller{kafka, metadata, config, test_support::broker0_options("session-cluster")};
};

TEST_F(ControllerSession, AFailedReRegistrationIsRetriedUntilItSucceeds) {
  store.probe = [&] { return controller.registered(); };
  controller.start();
  ASSERT_TRUE(controller.registered());
  ASSERT_TRUE(controller.is_controller());
  const int64_t first_epoch = controller.broker_epoch();

  store.registration_failures = 3;
  store.expire();
  ASSERT_FALSE(registered_in_current_session(store, kafka));
  controller.session_reestablished();

  EXPECT_TRUE(eventually([&] {
    return store.failed == 3 && controller.registered() && registered_in_current_session(store, kafka) &&
           controller.is_controller();
  })) << "failed registrations " << store.failed << ", registered " << controller.registered()
      << ": the broker gave up registering after a new session";
  EXPECT_EQ(store.probed_registered.load(), 0) << "the controller said it was registered while it was not";
  EXPECT_NE(controller.broker_epoch(), first_epoch);
  EXPECT_EQ(controller.broker_epoch(), stored_epoch(store));
  auto id = kafka.controller_id();
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 0);
  controller.stop();
}

TEST_F(ControllerSession, StopEndsTheRetries) {
  controller.start();
  store.registration_failures = 1 << 30;
  store.expire();
  controller.session_reestablished();
  ASSERT_TRUE(eventually([&] { return store.failed >= 2; })) << "the registration was not tried again";
  EXPECT_FALSE(controller.registered());
  controller.stop();  // returns at once: the next attempt, waiting for its time, is dropped
  EXPECT_FALSE(controller.registered());
}

// The broker follows its session from the moment it connects, so a session
// renewed while it starts reaches a controller that has not registered yet:
// start() registers in the new session, once; nothing is registered twice
// (a second registration would replace the node and change the broker epoch
// just handed out).
TEST_F(ControllerSession, ASessionRenewedBeforeStartLeavesTheRegistrationToStart) {
  store.expire();
  controller.session_reestablished();  // queued: the event thread is not running yet
  controller.start();                  // runs that event, then start-up's registration
  EXPECT_EQ(store.registered.load(), 1);
  EXPECT_TRUE(controller.registered());
  EXPECT_TRUE(registered_in_current_session(store, kafka));
  EXPECT_EQ(controller.broker_epoch(), stored_epoch(store));
  EXPECT_TRUE(controller.is_controller());
  controller.stop();
}

}  // namespace
}  // namespace keel::controller
