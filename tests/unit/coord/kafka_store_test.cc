// KafkaStore's typed, fenced operations, each run against both backends:
// EmbeddedStore in a temporary directory and a real ZooKeeper (Debian's
// `zookeeper` package) started once for the suite on a free loopback port.
// Every ZooKeeper test works under its own chroot, so tests cannot see each
// other's nodes.

#include "coord/kafka_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "coord/acl_store.h"
#include "coord/embedded_store.h"
#include "coord/zookeeper_store.h"
#include "support/socket_io.h"

namespace keel::coord {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test_support::free_port;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

enum class Backend { kEmbedded, kZooKeeper };

class KafkaStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  // One ZooKeeper for the whole suite (a JVM start costs seconds on this machine).
  static void SetUpTestSuite() {
    if (!fs::exists("/usr/share/java/zookeeper.jar")) return;  // ZooKeeper tests fail in SetUp
    zk_dir_ = fs::temp_directory_path() / ("keel-kstore-zk-" + std::to_string(::getpid()));
    fs::remove_all(zk_dir_);
    fs::create_directories(zk_dir_ / "data");
    zk_port_ = free_port();
    zk_pid_ = ::fork();
    if (zk_pid_ == 0) {
      const std::string log = (zk_dir_ / "zk.log").string();
      FILE* out = std::freopen(log.c_str(), "w", stdout);
      (void)out;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      const std::string port = std::to_string(zk_port_);
      const std::string data = (zk_dir_ / "data").string();
      ::execlp("java", "java", "-Xmx128m", "-cp", "/etc/zookeeper/conf:/usr/share/java/*",
               "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.jmx.log4j.disable=true",
               "org.apache.zookeeper.server.ZooKeeperServerMain", port.c_str(), data.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  static void TearDownTestSuite() {
    if (zk_pid_ > 0) {
      ::kill(zk_pid_, SIGKILL);
      ::waitpid(zk_pid_, nullptr, 0);
      zk_pid_ = -1;
    }
    fs::remove_all(zk_dir_);
  }

  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string safe;
    for (char c : name) safe += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (GetParam() == Backend::kEmbedded) {
      dir_ = fs::temp_directory_path() / ("keel-kstore-" + std::to_string(::getpid()) + "-" + safe);
      fs::remove_all(dir_);
      auto s = EmbeddedStore::open(dir_);
      ASSERT_TRUE(s.ok()) << s.error().message();
      store_ = std::move(*s);
    } else {
      ASSERT_GT(zk_pid_, 0) << "Debian's zookeeper package is needed (scripts/install-deps.sh)";
      chroot_ = "/" + safe;
      auto root = connect("");  // the server may still be starting: connect waits
      ASSERT_NE(root, nullptr);
      ASSERT_TRUE(create_recursive(*root, chroot_).ok());
      store_ = connect(chroot_);
      ASSERT_NE(store_, nullptr);
    }
    ks_ = std::make_unique<KafkaStore>(*store_);
    ASSERT_TRUE(ks_->ensure_paths().ok());
  }

  void TearDown() override {
    ks_.reset();
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::unique_ptr<CoordinationStore> connect(const std::string& chroot) {
    auto res = ZooKeeperStore::connect("127.0.0.1:" + std::to_string(zk_port_) + chroot, 6000ms,
                                       60000ms);
    EXPECT_TRUE(res.ok()) << res.error().message();
    if (!res.ok()) return nullptr;
    return std::unique_ptr<CoordinationStore>(std::move(*res));
  }

  // A second client with its own session on the same tree; EmbeddedStore has
  // exactly one session per process, so there it is null.
  std::unique_ptr<CoordinationStore> second_session() {
    if (GetParam() == Backend::kEmbedded) return nullptr;
    return connect(chroot_);
  }

  // Ends the main store's session and starts a new one (its ephemerals go).
  void expire_session() {
    if (GetParam() == Backend::kEmbedded) {
      static_cast<EmbeddedStore&>(*store_).expire_session();
    } else {
      ASSERT_TRUE(static_cast<ZooKeeperStore&>(*store_).reconnect().ok());
    }
  }

  static BrokerRegistration registration(int32_t id, int32_t port) {
    BrokerRegistration b;
    b.id = id;
    b.endpoints.push_back({"PLAINTEXT", "localhost", port, "PLAINTEXT"});
    b.timestamp_ms = 1700000000000;
    return b;
  }

  static TopicAssignment assignment(int partitions) {
    TopicAssignment a;
    a.topic_id = "AAAAAAAAAAAAAAAAAAAAAA";
    for (int p = 0; p < partitions; ++p) a.partitions[p] = {1};
    return a;
  }

  Fence elect(int32_t id) {
    auto r = ks_->try_elect_controller(id, now_ms());
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.ok() && r->won);
    return r.ok() ? r->fence : Fence{};
  }

  static inline fs::path zk_dir_;
  static inline uint16_t zk_port_ = 0;
  static inline pid_t zk_pid_ = -1;

  fs::path dir_;
  std::string chroot_;
  std::unique_ptr<CoordinationStore> store_;
  std::unique_ptr<KafkaStore> ks_;
};

TEST_P(KafkaStoreTest, EnsurePathsCreatesLayoutAndClusterIdIsCreateIfAbsent) {
  for (const auto& p : paths::persistent_paths()) {
    auto st = store_->exists(p);
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->has_value()) << p;
  }
  EXPECT_TRUE(ks_->ensure_paths().ok()) << "ensure_paths is idempotent";
  auto first = ks_->get_or_create_cluster_id("clusterA");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "clusterA");
  auto second = ks_->get_or_create_cluster_id("clusterB");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "clusterA") << "the id written first wins";
  EXPECT_EQ(text(store_->get(paths::kClusterId)->data), "{\"version\":\"1\",\"id\":\"clusterA\"}");
}

TEST_P(KafkaStoreTest, RegisteredBrokerEpochIsTheNodeCzxidAndNodeVersionIsOne) {
  auto epoch = ks_->register_broker(registration(1, 9092));
  ASSERT_TRUE(epoch.ok()) << epoch.error().message();
  auto st = store_->exists(paths::broker(1));
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ(*epoch, (*st)->czxid);
  EXPECT_EQ((*st)->version, 1) << "create + setData, as Kafka";
  EXPECT_EQ((*st)->ephemeral_owner, store_->session_id());

  auto b = ks_->broker(1);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->epoch, *epoch);
  EXPECT_EQ((*b)->endpoints, registration(1, 9092).endpoints);
  EXPECT_EQ(*ks_->broker_ids(), std::vector<int32_t>{1});
  auto missing = ks_->broker(7);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(KafkaStoreTest, ReRegistrationAfterSessionLossGetsANewerEpoch) {
  auto first = ks_->register_broker(registration(1, 9092));
  ASSERT_TRUE(first.ok());
  expire_session();
  auto gone = ks_->broker(1);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value()) << "the ephemeral went with its session";
  auto second = ks_->register_broker(registration(1, 9093));
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_GT(*second, *first);
  EXPECT_EQ((*ks_->broker(1))->endpoints[0].port, 9093);
}

TEST_P(KafkaStoreTest, SameSessionReRegistrationReplacesItsOwnNode) {
  auto first = ks_->register_broker(registration(1, 9092));
  ASSERT_TRUE(first.ok());
  auto second = ks_->register_broker(registration(1, 9094));
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_GT(*second, *first);
  EXPECT_EQ((*ks_->broker(1))->endpoints[0].port, 9094);
}

TEST_P(KafkaStoreTest, BrokerIdOwnedByAnotherLiveSessionIsBrokerRegistered) {
  auto other = second_session();
  if (!other) GTEST_SKIP() << "EmbeddedStore has a single session";
  KafkaStore other_ks(*other);
  ASSERT_TRUE(other_ks.register_broker(registration(1, 9092)).ok());
  auto r = ks_->register_broker(registration(1, 9999));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), make_error_code(KafkaStoreErrc::kBrokerRegistered));
  EXPECT_EQ((*ks_->broker(1))->endpoints[0].port, 9092) << "the owner's registration is untouched";
  EXPECT_EQ((*store_->exists(paths::broker(1)))->ephemeral_owner, other->session_id());
}

TEST_P(KafkaStoreTest, FirstControllerGetsEpochOneAndOthersSeeIt) {
  auto none = ks_->controller_id();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, -1);
  auto r = ks_->try_elect_controller(3, now_ms());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->won);
  EXPECT_EQ(r->controller_id, 3);
  EXPECT_EQ(r->fence.controller_epoch, 1);
  auto epoch_node = store_->get(paths::kControllerEpoch);
  ASSERT_TRUE(epoch_node.ok());
  EXPECT_EQ(text(epoch_node->data), "1");
  EXPECT_EQ(r->fence.epoch_zk_version, epoch_node->stat.version);
  EXPECT_EQ(*ks_->controller_id(), 3);

  auto again = ks_->try_elect_controller(4, now_ms());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->won);
  EXPECT_EQ(again->controller_id, 3);
  EXPECT_EQ(text(store_->get(paths::kControllerEpoch)->data), "1") << "a lost election bumps nothing";
}

TEST_P(KafkaStoreTest, TwoConcurrentContendersExactlyOneWins) {
  auto other = second_session();  // embedded: both contenders share the one session
  CoordinationStore& s2 = other ? *other : *store_;
  KafkaStore ks2(s2);
  std::atomic<bool> go{false};
  Result<ElectionResult> r1 = ElectionResult{}, r2 = ElectionResult{};
  std::thread t1([&] {
    while (!go) {}
    r1 = ks_->try_elect_controller(1, now_ms());
  });
  std::thread t2([&] {
    while (!go) {}
    r2 = ks2.try_elect_controller(2, now_ms());
  });
  go = true;
  t1.join();
  t2.join();
  ASSERT_TRUE(r1.ok()) << r1.error().message();
  ASSERT_TRUE(r2.ok()) << r2.error().message();
  EXPECT_NE(r1->won, r2->won) << "exactly one wins";
  const int32_t winner = r1->won ? 1 : 2;
  EXPECT_EQ(r1->controller_id, winner);
  EXPECT_EQ(r2->controller_id, winner);
  EXPECT_EQ(text(store_->get(paths::kControllerEpoch)->data), "1");
}

// Kafka's LogDirEventNotification: brokers write, the controller reads and
// removes what it read (fenced; one already gone is no error).
TEST_P(KafkaStoreTest, LogDirEventsAreListedInOrderAndRemovedByTheController) {
  ASSERT_TRUE(ks_->ensure_paths().ok());
  ASSERT_TRUE(ks_->create_log_dir_event(3).ok());
  ASSERT_TRUE(ks_->create_log_dir_event(1).ok());
  ASSERT_TRUE(store_->create(std::string(paths::kLogDirEventNotification) + "/log_dir_event_", ByteView(Bytes{'{'}),
                             CreateMode::kPersistentSequential).ok());
  auto events = ks_->log_dir_events();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].broker, 3);
  EXPECT_EQ((*events)[1].broker, 1);
  EXPECT_FALSE((*events)[2].broker.has_value()) << "unreadable, but listed so that it is removed too";
  EXPECT_EQ((*events)[0].node.rfind("log_dir_event_", 0), 0u) << (*events)[0].node;

  const Fence fence = elect(1);
  std::vector<std::string> nodes;
  for (const auto& e : *events) nodes.push_back(e.node);
  ASSERT_TRUE(ks_->delete_log_dir_events({nodes[0]}, fence).ok());
  ASSERT_TRUE(ks_->delete_log_dir_events(nodes, fence).ok()) << "the one already gone is skipped";
  EXPECT_TRUE(ks_->log_dir_events()->empty());

  ASSERT_TRUE(ks_->create_log_dir_event(2).ok());
  expire_session();
  (void)elect(2);
  auto left = ks_->log_dir_events();
  ASSERT_TRUE(left.ok() && left->size() == 1u);
  auto stale = ks_->delete_log_dir_events({left->front().node}, fence);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error(), make_error_code(KafkaStoreErrc::kControllerMoved));
  EXPECT_EQ(ks_->log_dir_events()->size(), 1u) << "a superseded controller removes nothing";
}

TEST_P(KafkaStoreTest, SupersededControllerFencedWritesFailWithControllerMovedAndChangeNothing) {
  const Fence old_fence = elect(1);
  ASSERT_TRUE(ks_->create_topic("orders", assignment(2), {}).ok());
  PartitionState s0{1, 0, 1, {1}, false};
  ASSERT_TRUE(ks_->create_partition_state("orders", 0, s0, old_fence).ok());

  expire_session();  // the old controller's /controller goes with its session
  const Fence new_fence = elect(2);
  EXPECT_EQ(new_fence.controller_epoch, 2);

  PartitionState s1{1, 1, 1, {1}, false};
  auto upd = ks_->update_partition_state("orders", 0, s1, 0, old_fence);
  ASSERT_FALSE(upd.ok());
  EXPECT_EQ(upd.error(), make_error_code(KafkaStoreErrc::kControllerMoved));
  auto cre = ks_->create_partition_state("orders", 1, s0, old_fence);
  ASSERT_FALSE(cre.ok());
  EXPECT_EQ(cre.error(), make_error_code(KafkaStoreErrc::kControllerMoved));
  auto del = ks_->delete_topic("orders", old_fence);
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error(), make_error_code(KafkaStoreErrc::kControllerMoved));

  auto state = ks_->partition_state("orders", 0);
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_EQ((*state)->state, s0);
  EXPECT_EQ((*state)->zk_version, 0);
  EXPECT_FALSE(ks_->partition_state("orders", 1)->has_value());
  EXPECT_FALSE((*store_->exists(paths::partition("orders", 1))).has_value())
      << "the failed multi created no container either";
  EXPECT_TRUE(ks_->topic_assignment("orders")->has_value());

  auto ok = ks_->update_partition_state("orders", 0, s1, 0, new_fence);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(*ok, 1);
}

TEST_P(KafkaStoreTest, ResignDeletesOnlyTheControllerNodeThisSessionOwns) {
  auto other = second_session();
  if (other) {
    KafkaStore ks2(*other);
    ASSERT_TRUE(ks2.try_elect_controller(2, now_ms())->won);
    ASSERT_TRUE(ks_->resign_controller(2).ok());
    EXPECT_EQ(*ks_->controller_id(), 2) << "not ours to delete";
    ASSERT_TRUE(ks2.resign_controller(2).ok());
  } else {
    elect(2);
    ASSERT_TRUE(ks_->resign_controller(5).ok());
    EXPECT_EQ(*ks_->controller_id(), 2) << "another broker id's node is not deleted";
    ASSERT_TRUE(ks_->resign_controller(2).ok());
  }
  EXPECT_EQ(*ks_->controller_id(), -1);
  EXPECT_TRUE(ks_->resign_controller(2).ok()) << "resigning without a controller is fine";
}

TEST_P(KafkaStoreTest, CreateTopicWritesConfigAndAssignmentAndSecondCreateIsTopicExists) {
  const std::map<std::string, std::string> cfg{{"retention.ms", "1000"}};
  ASSERT_TRUE(ks_->create_topic("orders", assignment(3), cfg).ok());
  auto a = ks_->topic_assignment("orders");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ(**a, assignment(3));
  EXPECT_EQ(*ks_->entity_config("topics", "orders"), cfg);
  EXPECT_EQ(*ks_->topics(), std::vector<std::string>{"orders"});

  auto dup = ks_->create_topic("orders", assignment(1), {});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error(), make_error_code(KafkaStoreErrc::kTopicExists));
  EXPECT_EQ((*ks_->topic_assignment("orders"))->partitions.size(), 3u) << "unchanged";
  EXPECT_EQ(*ks_->entity_config("topics", "orders"), cfg) << "config unchanged";
  EXPECT_FALSE(ks_->topic_assignment("nope")->has_value());
}

TEST_P(KafkaStoreTest, AssignmentRewriteHonoursExpectedVersion) {
  ASSERT_TRUE(ks_->create_topic("orders", assignment(1), {}).ok());
  ASSERT_TRUE(ks_->set_topic_assignment("orders", assignment(2), 0).ok());
  auto stale = ks_->set_topic_assignment("orders", assignment(4), 0);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error(), make_error_code(CoordErrc::kBadVersion));
  EXPECT_EQ((*ks_->topic_assignment("orders"))->partitions.size(), 2u);
  ASSERT_TRUE(ks_->set_topic_assignment("orders", assignment(4)).ok()) << "-1: any version";
  EXPECT_EQ((*ks_->topic_assignment("orders"))->partitions.size(), 4u);
  auto missing = ks_->set_topic_assignment("nope", assignment(1), -1);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), make_error_code(KafkaStoreErrc::kNoTopic));
}

TEST_P(KafkaStoreTest, FencedDeleteRemovesTheWholeTopicSubtreeConfigAndMarker) {
  const Fence fence = elect(1);
  ASSERT_TRUE(ks_->create_topic("orders", assignment(2), {{"cleanup.policy", "compact"}}).ok());
  ASSERT_TRUE(ks_->create_topic("keep", assignment(1), {}).ok());
  for (int p = 0; p < 2; ++p) {
    ASSERT_TRUE(ks_->create_partition_state("orders", p, {1, 0, 1, {1}, false}, fence).ok());
  }
  ASSERT_TRUE(ks_->mark_topic_for_deletion("orders").ok());
  ASSERT_TRUE(ks_->mark_topic_for_deletion("orders").ok()) << "marking twice is fine";
  EXPECT_EQ(*ks_->topics_marked_for_deletion(), std::vector<std::string>{"orders"});

  auto r = ks_->delete_topic("orders", fence);
  ASSERT_TRUE(r.ok()) << r.error().message();
  for (const auto& p : {paths::topic("orders"), paths::topic_config("orders"),
                        paths::delete_topic("orders"), paths::partitions("orders")}) {
    EXPECT_FALSE((*store_->exists(p)).has_value()) << p;
  }
  EXPECT_TRUE(ks_->topics_marked_for_deletion()->empty());
  EXPECT_EQ(*ks_->topics(), std::vector<std::string>{"keep"});
  EXPECT_TRUE(ks_->entity_config("topics", "orders")->empty());
}

TEST_P(KafkaStoreTest, PartitionStateCreateAndConditionalUpdate) {
  const Fence fence = elect(1);
  ASSERT_TRUE(ks_->create_topic("orders", assignment(1), {}).ok());
  const PartitionState s0{1, 0, 1, {1, 2}, false};
  auto created = ks_->create_partition_state("orders", 0, s0, fence);
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(*created, 0);
  auto dup = ks_->create_partition_state("orders", 0, s0, fence);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error(), make_error_code(CoordErrc::kNodeExists));

  const PartitionState s1{2, 1, 1, {2}, true};
  auto v1 = ks_->update_partition_state("orders", 0, s1, 0, fence);
  ASSERT_TRUE(v1.ok()) << v1.error().message();
  EXPECT_EQ(*v1, 1);
  auto stale = ks_->update_partition_state("orders", 0, s0, 0, fence);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error(), make_error_code(CoordErrc::kBadVersion))
      << "a stale partition version is not mistaken for a controller move";

  auto node = ks_->partition_state("orders", 0);
  ASSERT_TRUE(node.ok() && node->has_value());
  EXPECT_EQ((*node)->state, s1);
  EXPECT_EQ((*node)->zk_version, 1);
  EXPECT_FALSE(ks_->partition_state("orders", 5)->has_value());
}

// --- get_many (issue 21: a new controller reads every partition state) ---------------

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST_P(KafkaStoreTest, GetManyAnswersEachPathInRequestOrder) {
  ASSERT_TRUE(store_->create("/a", ByteView(bytes_of("alpha")), CreateMode::kPersistent).ok());
  // Larger than the synchronous get's first buffer: no answer is cut short.
  const Bytes big(5000, 'x');
  ASSERT_TRUE(store_->create("/big", ByteView(big), CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->set("/big", ByteView(big)).ok());
  ASSERT_TRUE(store_->create("/empty", {}, CreateMode::kPersistent).ok());

  const std::vector<std::string> asked{"/big", "/missing", "/a", "/missing/child", "/empty", "/a"};
  const auto answers = store_->get_many(asked);
  ASSERT_EQ(answers.size(), asked.size());
  ASSERT_TRUE(answers[0].ok()) << answers[0].error().message();
  EXPECT_EQ(answers[0]->data, big);
  EXPECT_EQ(answers[0]->stat, store_->get("/big")->stat) << "the stat is the node's, version 1 after one set";
  EXPECT_EQ(answers[0]->stat.version, 1);
  EXPECT_EQ(answers[1].error(), make_error_code(CoordErrc::kNoNode));
  ASSERT_TRUE(answers[2].ok());
  EXPECT_EQ(text(answers[2]->data), "alpha");
  EXPECT_EQ(answers[3].error(), make_error_code(CoordErrc::kNoNode));
  ASSERT_TRUE(answers[4].ok());
  EXPECT_TRUE(answers[4]->data.empty());
  ASSERT_TRUE(answers[5].ok()) << "a path asked twice is answered twice";
  EXPECT_EQ(text(answers[5]->data), "alpha");
  EXPECT_TRUE(store_->get_many({}).empty());
}

TEST_P(KafkaStoreTest, GetManyReadsMorePathsThanItSendsAtOnce) {
  // 1,200 nodes (ZooKeeperStore keeps at most 500 reads outstanding), created
  // 200 to a multi; asked in an order unlike the tree's, with absent ones mixed in.
  ASSERT_TRUE(store_->create("/many", {}, CreateMode::kPersistent).ok());
  constexpr int kNodes = 1200;
  for (int first = 0; first < kNodes; first += 200) {
    std::vector<Op> ops;
    for (int i = first; i < first + 200; ++i) {
      ops.push_back(Op::create("/many/n" + std::to_string(i), bytes_of("value-" + std::to_string(i))));
    }
    ASSERT_TRUE(store_->multi(ops).ok());
  }
  std::vector<std::string> asked;
  for (int i = kNodes - 1; i >= 0; i -= 2) asked.push_back("/many/n" + std::to_string(i));
  for (int i = 0; i < kNodes; i += 2) asked.push_back("/many/n" + std::to_string(i));
  for (int i = 0; i < 100; ++i) asked.insert(asked.begin() + i * 13, "/many/absent" + std::to_string(i));

  const auto answers = store_->get_many(asked);
  ASSERT_EQ(answers.size(), asked.size());
  int found = 0;
  for (size_t k = 0; k < asked.size(); ++k) {
    const std::string name = asked[k].substr(std::string("/many/").size());
    if (name.starts_with("absent")) {
      EXPECT_EQ(answers[k].error(), make_error_code(CoordErrc::kNoNode)) << asked[k];
      continue;
    }
    ASSERT_TRUE(answers[k].ok()) << asked[k] << ": " << answers[k].error().message();
    EXPECT_EQ(text(answers[k]->data), "value-" + name.substr(1)) << "answer " << k << " is not " << asked[k] << "'s";
    ++found;
  }
  EXPECT_EQ(found, kNodes);
}

TEST_P(KafkaStoreTest, GetManyFromAWatchAnswers) {
  // Watches may call back into the store; on ZooKeeper they run on the
  // thread that delivers the answers get_many would wait for.
  ASSERT_TRUE(store_->create("/w", {}, CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->create("/w/a", ByteView(bytes_of("1")), CreateMode::kPersistent).ok());
  auto read_in_watch = std::make_shared<std::promise<std::vector<std::string>>>();
  auto& store = *store_;
  ASSERT_TRUE(store_->exists("/w/b", [&store, read_in_watch](const WatchEvent&) {
    std::vector<std::string> seen;
    const std::vector<std::string> asked{"/w/a", "/w/b", "/w/c"};
    for (const auto& r : store.get_many(asked)) seen.push_back(r.ok() ? text(r->data) : r.error().message());
    read_in_watch->set_value(seen);
  }).ok());
  ASSERT_TRUE(store_->create("/w/b", ByteView(bytes_of("2")), CreateMode::kPersistent).ok());
  auto seen = read_in_watch->get_future();
  ASSERT_EQ(seen.wait_for(30s), std::future_status::ready) << "get_many inside a watch never answered";
  const auto got = seen.get();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "1");
  EXPECT_EQ(got[1], "2");
  EXPECT_EQ(got[2], make_error_code(CoordErrc::kNoNode).message());
}

TEST_P(KafkaStoreTest, PartitionStatesAreReadTogetherEachAsPartitionStateReadsIt) {
  const Fence fence = elect(1);
  ASSERT_TRUE(ks_->create_topic("orders", assignment(4), {}).ok());
  const PartitionState s0{1, 0, 1, {1, 2}, false};
  const PartitionState s2{2, 3, 1, {2}, false};
  ASSERT_TRUE(ks_->create_partition_state("orders", 0, s0, fence).ok());
  ASSERT_TRUE(ks_->create_partition_state("orders", 2, s2, fence).ok());
  ASSERT_TRUE(ks_->update_partition_state("orders", 2, s2, 0, fence).ok());
  // Partition 3's state is not JSON: its read fails alone.
  ASSERT_TRUE(ks_->create_partition_state("orders", 3, s0, fence).ok());
  const Bytes junk{'{', '"', 'v', 0xff};
  ASSERT_TRUE(store_->set(paths::partition_state("orders", 3), ByteView(junk)).ok());

  const std::vector<int32_t> asked{2, 1, 3, 0};
  const auto states = ks_->partition_states("orders", asked);
  ASSERT_EQ(states.size(), 4u);
  ASSERT_TRUE(states[0].ok() && states[0]->has_value());
  EXPECT_EQ((*states[0])->state, s2);
  EXPECT_EQ((*states[0])->zk_version, 1);
  ASSERT_TRUE(states[1].ok());
  EXPECT_FALSE(states[1]->has_value()) << "no state yet is no error: the controller creates it";
  EXPECT_EQ(states[2].error(), make_error_code(CoordErrc::kCorrupt));
  ASSERT_TRUE(states[3].ok() && states[3]->has_value());
  EXPECT_EQ((*states[3])->state, s0);
  EXPECT_EQ((*states[3])->zk_version, 0);
  EXPECT_TRUE(ks_->partition_states("orders", {}).empty());
  const auto gone = ks_->partition_states("nosuch", std::vector<int32_t>{0});
  ASSERT_EQ(gone.size(), 1u);
  ASSERT_TRUE(gone[0].ok());
  EXPECT_FALSE(gone[0]->has_value());
}

TEST_P(KafkaStoreTest, EntityConfigsAreReadTogetherEachAsEntityConfigReadsIt) {
  using Config = std::map<std::string, std::string>;
  ASSERT_TRUE(ks_->set_entity_config("topics", "a", {{"retention.ms", "1"}}).ok());
  ASSERT_TRUE(ks_->set_entity_config("topics", "b", {{"cleanup.policy", "compact"}, {"segment.ms", "7"}}).ok());
  ASSERT_TRUE(ks_->set_entity_config("topics", "none", {}).ok());
  // A node with no data (as a parent made on the way to a deeper entity)
  // is no config; one that is not JSON, or JSON of the wrong shape, fails
  // alone.
  ASSERT_TRUE(store_->create(paths::topic_config("bare"), {}, CreateMode::kPersistent).ok());
  const Bytes junk{'{', '"', 'v', 0xff};
  ASSERT_TRUE(store_->create(paths::topic_config("junk"), ByteView(junk), CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->create(paths::topic_config("shape"), ByteView(bytes_of(R"({"version":1,"config":{"a":1}})")),
                             CreateMode::kPersistent)
                  .ok());

  const std::vector<std::string> asked{"b", "missing", "junk", "a", "none", "bare", "shape", "a"};
  const auto configs = ks_->entity_configs("topics", asked);
  ASSERT_EQ(configs.size(), asked.size());
  ASSERT_TRUE(configs[0].ok()) << configs[0].error().message();
  EXPECT_EQ(*configs[0], (Config{{"cleanup.policy", "compact"}, {"segment.ms", "7"}}));
  ASSERT_TRUE(configs[1].ok()) << "a topic without a config node has no overrides: " << configs[1].error().message();
  EXPECT_TRUE(configs[1]->empty());
  ASSERT_FALSE(configs[2].ok());
  EXPECT_EQ(configs[2].error(), make_error_code(CoordErrc::kCorrupt));
  ASSERT_TRUE(configs[3].ok());
  EXPECT_EQ(*configs[3], (Config{{"retention.ms", "1"}}));
  ASSERT_TRUE(configs[4].ok());
  EXPECT_TRUE(configs[4]->empty());
  ASSERT_TRUE(configs[5].ok()) << configs[5].error().message();
  EXPECT_TRUE(configs[5]->empty());
  ASSERT_FALSE(configs[6].ok());
  EXPECT_EQ(configs[6].error(), make_error_code(CoordErrc::kCorrupt));
  ASSERT_TRUE(configs[7].ok()) << "a name asked twice is answered twice";
  EXPECT_EQ(*configs[7], (Config{{"retention.ms", "1"}}));
  // Each answer is the one entity_config gives for that name alone.
  for (size_t k = 0; k < asked.size(); ++k) {
    const auto one = ks_->entity_config("topics", asked[k]);
    ASSERT_EQ(one.ok(), configs[k].ok()) << asked[k];
    if (one.ok()) {
      EXPECT_EQ(*one, *configs[k]) << asked[k];
    } else {
      EXPECT_EQ(one.error(), configs[k].error()) << asked[k];
    }
  }

  // The entity type picks the parent: the same names under brokers are other nodes.
  ASSERT_TRUE(ks_->set_entity_config("brokers", "<default>", {{"log.retention.ms", "2"}}).ok());
  const std::vector<std::string> brokers{"1", "<default>", "a"};
  const auto broker_configs = ks_->entity_configs("brokers", brokers);
  ASSERT_EQ(broker_configs.size(), 3u);
  ASSERT_TRUE(broker_configs[0].ok() && broker_configs[1].ok() && broker_configs[2].ok());
  EXPECT_TRUE(broker_configs[0]->empty());
  EXPECT_EQ(*broker_configs[1], (Config{{"log.retention.ms", "2"}}));
  EXPECT_TRUE(broker_configs[2]->empty()) << "topic a's overrides are not broker a's";
  EXPECT_TRUE(ks_->entity_configs("topics", {}).empty());
}

TEST_P(KafkaStoreTest, EntityConfigWritesNotifyInSequenceOrder) {
  EXPECT_TRUE(ks_->entity_config("brokers", "<default>")->empty()) << "missing node = empty map";
  ASSERT_TRUE(ks_->set_entity_config("topics", "a", {{"retention.ms", "1"}}).ok());
  ASSERT_TRUE(ks_->set_entity_config("brokers", "<default>", {{"log.retention.ms", "2"}}).ok());
  ASSERT_TRUE(ks_->set_entity_config("topics", "a", {{"retention.ms", "3"}}).ok());
  EXPECT_EQ(*ks_->entity_config("topics", "a"),
            (std::map<std::string, std::string>{{"retention.ms", "3"}}));
  EXPECT_EQ(ks_->entity_config("brokers", "<default>")->at("log.retention.ms"), "2");

  auto all = ks_->config_changes_after(-1);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].second, "topics/a");
  EXPECT_EQ((*all)[1].second, "brokers/<default>");
  EXPECT_EQ((*all)[2].second, "topics/a");
  EXPECT_LT((*all)[0].first, (*all)[1].first);
  EXPECT_LT((*all)[1].first, (*all)[2].first);
  auto later = ks_->config_changes_after((*all)[0].first);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].first, (*all)[1].first);
}

TEST_P(KafkaStoreTest, PurgeRemovesOnlyNotificationsOlderThanMaxAge) {
  ASSERT_TRUE(ks_->set_entity_config("topics", "a", {}).ok());
  ASSERT_TRUE(ks_->set_entity_config("topics", "b", {}).ok());
  ASSERT_TRUE(ks_->purge_config_changes(now_ms(), 60 * 60 * 1000).ok());
  EXPECT_EQ(ks_->config_changes_after(-1)->size(), 2u) << "fresh notifications stay";
  ASSERT_TRUE(ks_->purge_config_changes(now_ms() + 2 * 60 * 60 * 1000, 60 * 60 * 1000).ok());
  EXPECT_TRUE(ks_->config_changes_after(-1)->empty());
  EXPECT_TRUE(store_->children(paths::kConfigChanges)->empty());
  EXPECT_EQ(ks_->entity_config("topics", "a")->size(), 0u);
  EXPECT_TRUE((*store_->exists(paths::topic_config("a"))).has_value()) << "configs are not purged";
}

TEST_P(KafkaStoreTest, TwoProducerIdClaimersNeverGetOverlappingBlocks) {
  auto other = second_session();
  CoordinationStore& s2 = other ? *other : *store_;
  KafkaStore ks2(s2);
  constexpr int kPerClaimer = 15;
  std::vector<ProducerIdBlock> got1, got2;
  std::atomic<bool> go{false};
  std::atomic<int> errors{0};
  auto claim = [&](KafkaStore& ks, int32_t broker, std::vector<ProducerIdBlock>& out) {
    while (!go) {}
    for (int i = 0; i < kPerClaimer; ++i) {
      auto b = ks.claim_producer_id_block(broker, 100);
      if (!b.ok()) {
        ++errors;
        continue;
      }
      out.push_back(*b);
    }
  };
  std::thread t1([&] { claim(*ks_, 1, got1); });
  std::thread t2([&] { claim(ks2, 2, got2); });
  go = true;
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  std::vector<ProducerIdBlock> all = got1;
  all.insert(all.end(), got2.begin(), got2.end());
  ASSERT_EQ(all.size(), 2u * kPerClaimer);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  EXPECT_EQ(all.front().start, 0);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].end - all[i].start + 1, 100);
    if (i > 0) {
      EXPECT_EQ(all[i].start, all[i - 1].end + 1) << "contiguous, no overlap";
    }
  }
  for (const auto& b : got1) EXPECT_EQ(b.broker, 1);
  for (const auto& b : got2) EXPECT_EQ(b.broker, 2);
  auto latest = decode_producer_id_block(ByteView(store_->get(paths::kLatestProducerIdBlock)->data));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->end, all.back().end);
}

TEST_P(KafkaStoreTest, ExhaustedProducerIdsAreAnErrorNotAWrap) {
  const Bytes last = encode_producer_id_block({1, INT64_MAX - 1500, INT64_MAX - 1001});
  ASSERT_TRUE(store_->set(paths::kLatestProducerIdBlock, ByteView(last)).ok());
  auto one = ks_->claim_producer_id_block(1, 1000);
  ASSERT_TRUE(one.ok()) << "exactly 1000 ids are left";
  EXPECT_EQ(one->end, INT64_MAX - 1);
  auto none = ks_->claim_producer_id_block(1, 1000);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error(), std::make_error_code(std::errc::value_too_large));
  EXPECT_EQ(decode_producer_id_block(ByteView(store_->get(paths::kLatestProducerIdBlock)->data))->end,
            INT64_MAX - 1)
      << "the node is unchanged";
  EXPECT_FALSE(ks_->claim_producer_id_block(1, 0).ok()) << "an empty block is refused";
}

// The controller relies on these watches: new brokers, a topic appearing, a
// controller going away.
TEST_P(KafkaStoreTest, WatchesFireOnRegistrationTopicCreationAndControllerLoss) {
  std::atomic<int> brokers_changed{0}, topic_appeared{0}, controller_changed{0};
  ASSERT_TRUE(ks_->broker_ids([&](const WatchEvent&) { ++brokers_changed; }).ok());
  auto none = ks_->topic_assignment("orders", [&](const WatchEvent& e) {
    if (e.type == EventType::kCreated) ++topic_appeared;
  });
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  elect(1);
  ASSERT_TRUE(ks_->controller_id([&](const WatchEvent& e) {
    if (e.type == EventType::kDeleted) ++controller_changed;
  }).ok());

  ASSERT_TRUE(ks_->register_broker(registration(1, 9092)).ok());
  ASSERT_TRUE(ks_->create_topic("orders", assignment(1), {}).ok());
  ASSERT_TRUE(ks_->resign_controller(1).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((brokers_changed == 0 || topic_appeared == 0 || controller_changed == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(brokers_changed.load(), 1);
  EXPECT_EQ(topic_appeared.load(), 1);
  EXPECT_EQ(controller_changed.load(), 1);
}

TEST_P(KafkaStoreTest, CorruptNodesAreCleanErrors) {
  const Bytes junk{'{', '"', 'v', 0xff};
  ASSERT_TRUE(store_->create(paths::topic("bad"), ByteView(junk), CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->create(paths::broker(9), ByteView(junk), CreateMode::kEphemeral).ok());
  ASSERT_TRUE(store_->set(paths::kLatestProducerIdBlock, ByteView(junk)).ok());
  ASSERT_TRUE(store_->create(paths::kControllerEpoch, ByteView(junk), CreateMode::kPersistent).ok());
  const auto corrupt = make_error_code(CoordErrc::kCorrupt);
  EXPECT_EQ(ks_->topic_assignment("bad").error(), corrupt);
  EXPECT_EQ(ks_->broker(9).error(), corrupt);
  EXPECT_EQ(ks_->claim_producer_id_block(1).error(), corrupt);
  auto elected = ks_->try_elect_controller(1, now_ms());
  ASSERT_FALSE(elected.ok());
  EXPECT_EQ(elected.error(), corrupt);
  EXPECT_EQ(*ks_->controller_id(), -1) << "a failed election leaves no /controller behind";
}

// --- ACLs (coord/acl_store.h) ------------------------------------------------------

security::AccessControlEntry acl_entry(const std::string& principal, security::AclOperation op,
                                       security::AclPermissionType permission = security::AclPermissionType::kAllow) {
  return {principal, "*", op, permission};
}

std::vector<security::AccessControlEntry> plus(std::vector<security::AccessControlEntry> entries,
                                               const security::AccessControlEntry& more) {
  entries.push_back(more);
  return entries;
}

TEST_P(KafkaStoreTest, AclsAreWrittenInKafkasNodesWithKafkasNotifications) {
  AclStore acls(*store_);
  ASSERT_TRUE(acls.ensure_paths().ok());
  EXPECT_TRUE(*store_->exists("/kafka-acl/Topic"));
  EXPECT_TRUE(*store_->exists("/kafka-acl/TransactionalId"));
  EXPECT_TRUE(*store_->exists("/kafka-acl-extended/prefixed/Group"));
  EXPECT_TRUE(*store_->exists("/kafka-acl-changes"));
  EXPECT_TRUE(*store_->exists("/kafka-acl-extended-changes"));

  using security::AclOperation;
  const security::ResourcePattern literal{security::ResourceType::kTopic, "orders", security::PatternType::kLiteral};
  const security::ResourcePattern prefixed{security::ResourceType::kTransactionalId, "app-",
                                           security::PatternType::kPrefixed};
  bool changed = false;
  auto r = acls.update_resource_acls(
      literal, [](const auto& cur) { return plus(cur, acl_entry("User:alice", AclOperation::kRead)); }, &changed);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(changed);
  EXPECT_EQ(text(store_->get("/kafka-acl/Topic/orders")->data),
            R"({"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]})");
  ASSERT_TRUE(acls.update_resource_acls(prefixed, [](const auto& cur) {
                    return plus(cur, acl_entry("User:bob", AclOperation::kWrite, security::AclPermissionType::kDeny));
                  }).ok());
  EXPECT_EQ(text(store_->get("/kafka-acl-extended/prefixed/TransactionalId/app-")->data),
            R"({"version":1,"acls":[{"principal":"User:bob","permissionType":"Deny","operation":"Write","host":"*"}]})");

  // One sequential notification per change, with Kafka's contents.
  EXPECT_EQ(*store_->children("/kafka-acl-changes"), std::vector<std::string>{"acl_changes_0000000000"});
  EXPECT_EQ(text(store_->get("/kafka-acl-changes/acl_changes_0000000000")->data), "TOPIC:orders");
  EXPECT_EQ(text(store_->get("/kafka-acl-extended-changes/acl_changes_0000000000")->data),
            R"({"version":1,"resourceType":"TRANSACTIONAL_ID","name":"app-","patternType":"PREFIXED"})");
  auto literal_changes = acls.changes_after(security::PatternType::kLiteral, -1);
  ASSERT_TRUE(literal_changes.ok());
  ASSERT_EQ(literal_changes->size(), 1u);
  EXPECT_EQ((*literal_changes)[0].pattern, literal);

  // Adding what is there changes nothing and notifies nobody.
  ASSERT_TRUE(acls.update_resource_acls(
                      literal, [](const auto& cur) { return plus(cur, acl_entry("User:alice", AclOperation::kRead)); },
                      &changed)
                  .ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(store_->children("/kafka-acl-changes")->size(), 1u);

  // The last entry gone, the node goes (and a notification says so).
  auto emptied = acls.update_resource_acls(literal, [](const auto&) { return std::vector<security::AccessControlEntry>{}; },
                                           &changed);
  ASSERT_TRUE(emptied.ok());
  EXPECT_TRUE(changed);
  EXPECT_TRUE(emptied->empty());
  EXPECT_FALSE(*store_->exists("/kafka-acl/Topic/orders"));
  EXPECT_EQ(*acls.last_change(security::PatternType::kLiteral), 1);

  auto all = acls.all_acls();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].pattern, prefixed);
}

TEST_P(KafkaStoreTest, AclUpdateRereadsAndRetriesWhenAnotherWriterGotIn) {
  AclStore acls(*store_);
  ASSERT_TRUE(acls.ensure_paths().ok());
  const security::ResourcePattern group{security::ResourceType::kGroup, "g", security::PatternType::kLiteral};
  const std::string path = "/kafka-acl/Group/g";
  const std::string theirs = security::zk::encode_acl_node({acl_entry("User:kafka-tool", security::AclOperation::kRead)});
  int calls = 0;
  auto r = acls.update_resource_acls(group, [&](const auto& cur) {
    // Another broker (or kafka-acls.sh) creates the node between our read and our write.
    if (++calls == 1) {
      EXPECT_TRUE(store_->create(path, ByteView(reinterpret_cast<const uint8_t*>(theirs.data()), theirs.size()),
                                 CreateMode::kPersistent).ok());
    }
    return plus(cur, acl_entry("User:keel", security::AclOperation::kDescribe));
  });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(calls, 2);
  const auto stored = acls.resource_acls(group);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->entries.size(), 2u) << "neither writer's entry is lost";
  EXPECT_EQ(stored->version, 1);
}

TEST_P(KafkaStoreTest, AclNodesKafkaWroteAreReadAndBadOnesAreNamed) {
  AclStore acls(*store_);
  ASSERT_TRUE(acls.ensure_paths().ok());
  auto put = [&](const std::string& path, const std::string& data) {
    ASSERT_TRUE(store_->create(path, ByteView(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
                               CreateMode::kPersistent).ok());
  };
  put("/kafka-acl/Cluster/kafka-cluster",
      R"({"version":1,"acls":[{"principal":"User:admin","permissionType":"Allow","operation":"All","host":"*"}]})");
  put("/kafka-acl/Topic/empty", "");  // Kafka reads empty data as no ACLs
  auto all = acls.all_acls();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].pattern.type, security::ResourceType::kCluster);
  EXPECT_EQ((*all)[0].entries[0].operation, security::AclOperation::kAll);

  put("/kafka-acl/Topic/bad", R"({"version":1,"acls":[{"principal":"nocolon"}]})");
  std::string why;
  auto bad = acls.all_acls(&why);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), make_error_code(CoordErrc::kCorrupt));
  EXPECT_NE(why.find("/kafka-acl/Topic/bad"), std::string::npos) << why;
}

TEST_P(KafkaStoreTest, AclListenerFollowsChangesAndPurgesOldNotifications) {
  AclStore acls(*store_);
  ASSERT_TRUE(acls.ensure_paths().ok());
  const security::ResourcePattern before{security::ResourceType::kTopic, "t", security::PatternType::kLiteral};
  ASSERT_TRUE(acls.update_resource_acls(before, [](const auto& cur) {
                    return plus(cur, acl_entry("User:a", security::AclOperation::kRead));
                  }).ok());
  security::AclAuthorizer authorizer;
  std::atomic<int64_t> clock{now_ms()};
  AclChangeListener listener(acls, authorizer, [&] { return clock.load(); });
  ASSERT_TRUE(listener.start().ok());
  EXPECT_EQ(authorizer.size(), 1u);

  // A write through another session (another broker) reaches this authorizer.
  auto other_session = second_session();
  CoordinationStore& other_store = other_session ? *other_session : *store_;
  AclStore other(other_store);
  const security::ResourcePattern pfx{security::ResourceType::kTopic, "log", security::PatternType::kPrefixed};
  ASSERT_TRUE(other.update_resource_acls(pfx, [](const auto& cur) {
                     return plus(cur, acl_entry("User:b", security::AclOperation::kWrite));
                   }).ok());
  ASSERT_TRUE(other.update_resource_acls(before, [](const auto&) {
                     return std::vector<security::AccessControlEntry>{};
                   }).ok());
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < deadline &&
         (authorizer.size() != 1 || authorizer.acls_of(pfx).empty())) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(authorizer.acls_of(pfx).size(), 1u);
  EXPECT_TRUE(authorizer.acls_of(before).empty());
  EXPECT_TRUE(authorizer.authorize("User:b", "10.0.0.1", security::AclOperation::kWrite,
                                   security::ResourceType::kTopic, "logs"));

  // 15 minutes on, the next change's processing purges the old notifications.
  clock += kAclChangeMaxAgeMs + 60'000;
  EXPECT_TRUE(acls.purge_changes(security::PatternType::kLiteral, now_ms()).ok());
  EXPECT_EQ(store_->children("/kafka-acl-changes")->size(), 2u) << "young notifications stay";
  ASSERT_TRUE(acls.purge_changes(security::PatternType::kLiteral, clock.load()).ok());
  EXPECT_TRUE(store_->children("/kafka-acl-changes")->empty());
  listener.stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, KafkaStoreTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kZooKeeper),
                         [](const auto& info) {
                           return info.param == Backend::kEmbedded ? "Embedded" : "ZooKeeper";
                         });

}  // namespace
}  // namespace keel::coord
