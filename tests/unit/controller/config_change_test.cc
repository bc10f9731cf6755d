// A config change answered by this broker is applied here before the answer
// (apply_config_here), and every broker also applies the change from its
// notification (/config/changes). The answering broker must not apply its
// own change twice: a broker config change re-applies every topic's config,
// which took seconds at 10,000 topics.

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>

#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "no_config_changes.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;
using test_support::broker0_options;
using test_support::eventually;

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

TEST(ControllerConfigChange, TheAnsweringBrokerAppliesItsOwnChangeOnce) {
  auto store = coord::EmbeddedStore::in_memory();
  coord::KafkaStore kafka{*store};
  cluster::MetadataCache metadata;
  CountingChannel channel;
  Controller controller{kafka, metadata, channel, broker0_options("config-cluster")};
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
