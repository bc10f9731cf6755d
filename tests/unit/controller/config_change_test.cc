// A config change answered by this broker is applied here before the answer
// (apply_config_here), and every broker also applies the change from its
// notification (/config/changes). The answering broker must not apply its
// own change twice: a broker config change re-applies every topic's config,
// which took seconds at 10,000 topics.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "controller/controller.h"
#include "coord/embedded_store.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;

// Counts the broker config applications and keeps the last cluster default.
class CountingChannel : public BrokerChannel {
 public:
  void topic_config_changed(const std::string&, const std::map<std::string, std::string>&) override {}
  void broker_config_changed(const std::map<std::string, std::string>& cluster_default,
                             const std::map<std::string, std::string>&) override {
    std::lock_guard lock(mu_);
    ++applied_;
    last_ = cluster_default;
  }
  int applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  std::string last(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = last_.find(key);
    return it == last_.end() ? "" : it->second;
  }

 private:
  mutable std::mutex mu_;
  int applied_ = 0;
  std::map<std::string, std::string> last_;
};

ControllerOptions options() {
  ControllerOptions o;
  o.broker_id = 0;
  o.cluster_id = "config-cluster";
  o.registration.id = 0;
  o.registration.endpoints.push_back({"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"});
  o.auto_leader_rebalance_enable = false;
  return o;
}

bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST(ControllerConfigChange, TheAnsweringBrokerAppliesItsOwnChangeOnce) {
  auto store = coord::EmbeddedStore::in_memory();
  coord::KafkaStore kafka{*store};
  cluster::MetadataCache metadata;
  CountingChannel channel;
  Controller controller{kafka, metadata, channel, options()};
  controller.start();

  const int before = channel.applied();
  ASSERT_TRUE(controller.set_overrides("brokers", "<default>", {{"log.retention.ms", "1000"}}, false).ok());
  // Applied before the answer.
  EXPECT_EQ(channel.last("log.retention.ms"), "1000");
  EXPECT_EQ(channel.applied(), before + 1);

  // Another broker's change, written to the store as it would write it: its
  // notification comes after the first one's, so once it is applied here the
  // first one's notification has been handled too.
  ASSERT_TRUE(kafka.set_entity_config("brokers", "<default>", {{"log.retention.ms", "2000"}}).ok());
  ASSERT_TRUE(eventually([&] { return channel.last("log.retention.ms") == "2000"; }))
      << "the other broker's change never applied here";
  EXPECT_EQ(channel.applied(), before + 2)
      << "the change this broker answered was applied again from its own notification";
  controller.stop();
}

}  // namespace
}  // namespace keel::controller
