// ZooKeeperStore against a real ZooKeeper (Debian's `zookeeper` package),
// started here on a free loopback port with its own data directory and
// stopped by PID at the end of each test.

#include "coord/zookeeper_store.h"

#include "coord/zookeeper_security.h"
#include "support/socket_io.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace keel::coord {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test_support::free_port;

class ZooKeeperStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists("/usr/share/java/zookeeper.jar"))
        << "Debian's zookeeper package is needed (scripts/install-deps.sh installs it)";
    dir_ = fs::temp_directory_path() /
           ("keel-zk-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    port_ = free_port();
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string log = (dir_ / "zk.log").string();
      FILE* out = std::freopen(log.c_str(), "w", stdout);
      (void)out;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      const std::string port = std::to_string(port_);
      const std::string data = (dir_ / "data").string();
      ::execlp("java", "java", "-Xmx128m", "-cp", "/etc/zookeeper/conf:/usr/share/java/*",
               "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.jmx.log4j.disable=true",
               "org.apache.zookeeper.server.ZooKeeperServerMain", port.c_str(), data.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    store_ = connect_store();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    stop_server();
    fs::remove_all(dir_);
  }

  std::unique_ptr<ZooKeeperStore> connect_store(const std::string& chroot = "") {
    auto res = ZooKeeperStore::connect("127.0.0.1:" + std::to_string(port_) + chroot, 6000ms,
                                       30000ms);
    EXPECT_TRUE(res.ok()) << res.error().message();
    return res.ok() ? std::move(*res) : nullptr;
  }

  void stop_server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  fs::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<ZooKeeperStore> store_;
};

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST_F(ZooKeeperStoreTest, CrudWithVersionsAndZooKeeperErrors) {
  auto& s = *store_;
  ASSERT_TRUE(create_recursive(s, "/brokers/topics").ok());
  ASSERT_TRUE(s.create("/brokers/topics/orders", ByteView(b("{\"version\":3}")),
                       CreateMode::kPersistent).ok());
  auto node = s.get("/brokers/topics/orders");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(std::string(node->data.begin(), node->data.end()), "{\"version\":3}");
  EXPECT_EQ(node->stat.version, 0);
  auto stat = s.set("/brokers/topics/orders", ByteView(b("x")), 0);
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->version, 1);
  EXPECT_EQ(s.set("/brokers/topics/orders", ByteView(b("y")), 0).error(),
            make_error_code(CoordErrc::kBadVersion));
  EXPECT_EQ(s.create("/brokers/topics/orders", {}, CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kNodeExists));
  EXPECT_EQ(s.create("/no/parent", {}, CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kNoNode));
  EXPECT_EQ(s.remove("/brokers").error(), make_error_code(CoordErrc::kNotEmpty));
  EXPECT_EQ(*s.children("/brokers"), std::vector<std::string>{"topics"});

  // Large data is read whole (the client's first buffer is 1 KiB).
  const std::string big(100000, 'k');
  ASSERT_TRUE(s.set("/brokers/topics/orders", ByteView(b(big))).ok());
  EXPECT_EQ(s.get("/brokers/topics/orders")->data.size(), big.size());
}

TEST_F(ZooKeeperStoreTest, SequentialMultiAndWatches) {
  auto& s = *store_;
  ASSERT_TRUE(create_recursive(s, "/config/changes").ok());
  auto seq = s.create("/config/changes/config_change_", {}, CreateMode::kPersistentSequential);
  EXPECT_EQ(*seq, "/config/changes/config_change_0000000000");

  ASSERT_TRUE(s.create("/controller_epoch", ByteView(b("0")), CreateMode::kPersistent).ok());
  std::vector<Op> stale = {Op::check("/controller_epoch", 5),
                           Op::create("/x", {}, CreateMode::kPersistent)};
  EXPECT_EQ(s.multi(stale).error(), make_error_code(CoordErrc::kBadVersion));
  EXPECT_FALSE(s.exists("/x")->has_value());
  std::vector<Op> good = {Op::check("/controller_epoch", 0),
                          Op::set("/controller_epoch", b("1"), 0),
                          Op::create("/x", {}, CreateMode::kPersistent)};
  auto res = s.multi(good);
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ((*res)[1].stat.version, 1);
  EXPECT_EQ((*res)[2].path, "/x");

  std::atomic<int> created{0}, changed{0};
  ASSERT_TRUE(s.exists("/controller", [&](const WatchEvent& e) {
    if (e.type == EventType::kCreated && e.path == "/controller") ++created;
  }).ok());
  ASSERT_TRUE(s.get("/x", [&](const WatchEvent& e) {
    if (e.type == EventType::kDataChanged) ++changed;
  }).ok());
  ASSERT_TRUE(s.create("/controller", ByteView(b("{}")), CreateMode::kEphemeral).ok());
  ASSERT_TRUE(s.set("/x", ByteView(b("1"))).ok());
  ASSERT_TRUE(s.set("/x", ByteView(b("2"))).ok());
  for (int i = 0; i < 100 && (created == 0 || changed == 0); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(changed.load(), 1);  // one-shot
}

TEST_F(ZooKeeperStoreTest, EphemeralNodesGoWithTheirSessionAndChrootIsApplied) {
  ASSERT_TRUE(create_recursive(*store_, "/kafka/brokers/ids").ok());
  auto rooted = connect_store("/kafka");
  ASSERT_NE(rooted, nullptr);
  ASSERT_TRUE(rooted->create("/brokers/ids/1", ByteView(b("me")), CreateMode::kEphemeral).ok());
  auto seen = store_->get("/kafka/brokers/ids/1");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->stat.ephemeral_owner, rooted->session_id());

  std::atomic<bool> gone{false};
  ASSERT_TRUE(store_->exists("/kafka/brokers/ids/1", [&](const WatchEvent& e) {
    gone = e.type == EventType::kDeleted;
  }).ok());
  const int64_t old_session = rooted->session_id();
  ASSERT_TRUE(rooted->reconnect().ok());  // a new session: the old one's nodes go
  EXPECT_NE(rooted->session_id(), old_session);
  for (int i = 0; i < 100 && !gone; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(gone);
  EXPECT_FALSE(store_->exists("/kafka/brokers/ids/1")->has_value());
}

TEST_F(ZooKeeperStoreTest, ConnectingToNothingFailsWithinTheTimeout) {
  stop_server();
  store_.reset();
  const auto start = std::chrono::steady_clock::now();
  auto res = ZooKeeperStore::connect("127.0.0.1:" + std::to_string(port_), 4000ms, 1500ms);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(CoordErrc::kConnectionLoss));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(ZooKeeperStoreTest, SetAclLocksOutOtherIdentitiesAndHidesCredentials) {
  const std::string where = "127.0.0.1:" + std::to_string(port_);
  auto broker = ZooKeeperStore::connect(where, 6000ms, 30000ms, {"keel:secret", true});
  ASSERT_TRUE(broker.ok()) << broker.error().message();
  auto& s = **broker;
  ASSERT_TRUE(create_recursive(s, "/config/users").ok());
  ASSERT_TRUE(s.create("/config/users/alice", ByteView(b("salt")), CreateMode::kPersistent).ok());
  ASSERT_TRUE(create_recursive(s, "/brokers/topics").ok());
  ASSERT_TRUE(s.multi(std::vector<Op>{Op::create("/brokers/topics/t", b("{}"))}).ok());
  ASSERT_TRUE(s.create("/consumers", {}, CreateMode::kPersistent).ok());
  EXPECT_TRUE(s.check_write_access("/brokers/topics/t").ok());

  auto& anon = *store_;  // no credentials
  const auto no_auth = make_error_code(CoordErrc::kNoAuth);
  EXPECT_TRUE(anon.get("/brokers/topics/t").ok());  // world may read metadata
  EXPECT_EQ(anon.get("/config/users/alice").error(), no_auth);
  EXPECT_EQ(anon.children("/config/users").error(), no_auth);
  EXPECT_EQ(anon.set("/brokers/topics/t", ByteView(b("x"))).error(), no_auth);
  EXPECT_EQ(anon.create("/brokers/topics/u", {}, CreateMode::kPersistent).error(), no_auth);
  EXPECT_EQ(anon.remove("/brokers/topics/t").error(), no_auth);
  EXPECT_EQ(anon.check_write_access("/brokers/topics/t").error(), no_auth);
  EXPECT_TRUE(anon.create("/consumers/c", {}, CreateMode::kPersistent).ok());  // open, as in Kafka

  auto wrong = ZooKeeperStore::connect(where, 6000ms, 30000ms, {"keel:wrong", false});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->check_write_access("/brokers/topics/t").error(), no_auth);
  EXPECT_EQ((*wrong)->get("/config/users/alice").error(), no_auth);
}

TEST_F(ZooKeeperStoreTest, SecureGivesOpenNodesKafkasAclAndLeavesOthers) {
  const std::string where = "127.0.0.1:" + std::to_string(port_);
  ASSERT_TRUE(create_recursive(*store_, "/config/users/alice").ok());  // open: made without the flag
  ASSERT_TRUE(create_recursive(*store_, "/brokers/ids").ok());
  auto broker = ZooKeeperStore::connect(where, 6000ms, 30000ms, {"keel:secret", true});
  ASSERT_TRUE(broker.ok());
  auto n = (*broker)->secure("/config", true);
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 3u);  // /config, /config/users, /config/users/alice
  EXPECT_EQ(*(*broker)->secure("/config", true), 0u);  // already secure
  EXPECT_EQ(store_->get("/config/users/alice").error(), make_error_code(CoordErrc::kNoAuth));
  EXPECT_TRUE(store_->get("/config").ok());
  EXPECT_TRUE(store_->set("/brokers/ids", {}).ok());  // not walked: still open
  EXPECT_EQ(*(*broker)->secure("/missing", true), 0u);
  // Another identity cannot take the nodes over.
  auto other = ZooKeeperStore::connect(where, 6000ms, 30000ms, {"other:pw", true});
  ASSERT_TRUE(other.ok());
  // It may not even read the ACL of a credentials node.
  EXPECT_EQ((*other)->secure("/config", true).error(), make_error_code(CoordErrc::kNoAuth));
  EXPECT_EQ((*other)->set("/config", {}).error(), make_error_code(CoordErrc::kNoAuth));
}

TEST(DigestCredentials, OneUserPasswordLine) {
  auto c = parse_digest_credentials("# brokers' identity\n\nkeel:pa:ss\r\n");
  EXPECT_EQ(c.user, "keel");
  EXPECT_EQ(c.password, "pa:ss");
  EXPECT_EQ(c.auth(), "keel:pa:ss");
  EXPECT_THROW(parse_digest_credentials(""), std::invalid_argument);
  EXPECT_THROW(parse_digest_credentials("# only a comment\n"), std::invalid_argument);
  EXPECT_THROW(parse_digest_credentials("nocolon\n"), std::invalid_argument);
  EXPECT_THROW(parse_digest_credentials(":pw\n"), std::invalid_argument);
  EXPECT_THROW(parse_digest_credentials("user:\n"), std::invalid_argument);
  EXPECT_THROW(parse_digest_credentials("a:b\nc:d\n"), std::invalid_argument);
  try {
    parse_digest_credentials("secretvalue");
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("secretvalue"), std::string::npos);
  }
}

}  // namespace
}  // namespace keel::coord
