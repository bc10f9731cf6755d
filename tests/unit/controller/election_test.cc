// The controller election must never leave a cluster without a controller.
// A broker whose create of /controller loses to another (NodeExists) reads
// the winner back and watches /controller. When the winner's node goes in
// between (its broker stopped or its session expired), the watch is set on
// an absent node, waits for a creation nobody makes, and every broker in
// that spot sits without a controller. Kafka re-elects when /controller is
// gone; so must Keel.
//
// The controller (broker 0) runs on an in-memory store behind a wrapper that
// plays the other broker: it takes /controller just before broker 0's
// election commits, and drops it again at a chosen moment.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "controller/controller.h"
#include "coord/embedded_store.h"
#include "no_config_changes.h"
#include "coord/kafka_layout.h"

namespace keel::controller {
namespace {

using namespace std::chrono_literals;

// When the winner's node vanishes: before broker 0 reads /controller back
// after losing, or after that read, before broker 0 sets its watch.
enum class Vanish { kBeforeReRead, kBeforeWatch };

class RivalStore : public coord::CoordinationStore {
 public:
  explicit RivalStore(Vanish when) : when_(when) {}

  std::atomic<int> rival_wins{0};  // elections broker 7 won just before broker 0's

  Result<std::string> create(const std::string& path, ByteView data, coord::CreateMode mode) override {
    return inner_->create(path, data, mode);
  }
  Result<coord::Node> get(const std::string& path, coord::Watch watch) override {
    auto r = inner_->get(path, std::move(watch));
    // The re-read after the lost election is exists + get; the winner's node
    // was read, and goes before broker 0 watches it.
    if (path == coord::paths::kController && when_ == Vanish::kBeforeWatch && lost_) {
      lost_ = false;
      drop_before_next_watch_ = true;
    }
    return r;
  }
  Result<coord::Stat> set(const std::string& path, ByteView data, int32_t version) override {
    return inner_->set(path, data, version);
  }
  Result<void> remove(const std::string& path, int32_t version) override { return inner_->remove(path, version); }
  Result<std::optional<coord::Stat>> exists(const std::string& path, coord::Watch watch) override {
    if (path == coord::paths::kController && watch && drop_before_next_watch_) {
      drop_before_next_watch_ = false;
      (void)inner_->remove(path, -1);
    }
    return inner_->exists(path, std::move(watch));
  }
  Result<std::vector<std::string>> children(const std::string& path, coord::Watch watch) override {
    return inner_->children(path, std::move(watch));
  }
  Result<std::vector<coord::OpResult>> multi(std::span<const coord::Op> ops) override {
    const bool election = !ops.empty() && ops[0].kind == coord::Op::Kind::kCreate &&
                          ops[0].path == coord::paths::kController;
    if (election && rival_wins == 0) {
      // Broker 7 wins first: its node is there when broker 0's multi runs.
      ++rival_wins;
      const Bytes rival = coord::encode_controller({7, 1});
      EXPECT_TRUE(inner_->create(coord::paths::kController, ByteView(rival), coord::CreateMode::kEphemeral));
      auto r = inner_->multi(ops);
      EXPECT_EQ(r.error(), make_error_code(coord::CoordErrc::kNodeExists));
      if (when_ == Vanish::kBeforeReRead) {
        (void)inner_->remove(coord::paths::kController, -1);  // broker 7 goes at once
      } else {
        lost_ = true;
      }
      return r;
    }
    return inner_->multi(ops);
  }
  int64_t session_id() const override { return inner_->session_id(); }

 private:
  const Vanish when_;
  bool lost_ = false;                    // broker 0 just lost; its re-read comes next
  bool drop_before_next_watch_ = false;  // broker 7's node goes before broker 0's watch
  std::unique_ptr<coord::EmbeddedStore> inner_ = coord::EmbeddedStore::in_memory();
};

using test_support::NoConfigChanges;

// Broker 0 starts, loses its first election to broker 7, whose node then
// vanishes `when`: broker 0 must end up the controller.
void expect_reelection(Vanish when) {
  RivalStore store(when);
  coord::KafkaStore kafka(store);
  cluster::MetadataCache metadata;
  NoConfigChanges config;
  Controller controller(kafka, metadata, config, test_support::broker0_options("election-cluster"));
  controller.start();
  for (int i = 0; i < 50 && !controller.is_controller(); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(store.rival_wins.load(), 1) << "broker 0's first election did not meet broker 7's node";
  EXPECT_TRUE(controller.is_controller()) << "the winner's node went and nobody ran the election again";
  auto id = kafka.controller_id();
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 0);
  controller.stop();
}

TEST(ControllerElection, AWinnerGoneBeforeTheReReadIsFollowedByANewElection) { expect_reelection(Vanish::kBeforeReRead); }

TEST(ControllerElection, AWinnerGoneBeforeTheWatchIsFollowedByANewElection) { expect_reelection(Vanish::kBeforeWatch); }

}  // namespace
}  // namespace keel::controller
