// ZooKeeperStore against a real ZooKeeper (Debian's `zookeeper` package),
// started here on a free loopback port with its own data directory and
// stopped by PID at the end of each test.

#include "coord/zookeeper_store.h"

#include "coord/zookeeper_security.h"
#include "support/socket_io.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace keel::coord {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test_support::free_port;

// A loopback TCP proxy between a ZooKeeperStore and the test's ZooKeeper
// that loses one chosen request with the connection, as a network blip or a
// ZooKeeper restart does: the first request whose bytes name the armed
// marker is either dropped before ZooKeeper sees it (kRequest) or passed on
// and its answer dropped (kAnswer: ZooKeeper carried it out, the client
// never hears). Every connection is then closed and new ones are refused for
// the outage; after it the client reconnects within its session.
class CuttingProxy {
 public:
  enum class Lose { kRequest, kAnswer };

  explicit CuttingProxy(uint16_t target) : target_(target) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = loopback(0);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listener_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    thread_.join();
    drop_all(std::chrono::milliseconds(0));
    ::close(listener_);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void arm(std::string marker, Lose what, std::chrono::milliseconds outage) {
    std::lock_guard lock(mu_);
    marker_ = std::move(marker);
    lose_ = what;
    outage_ = outage;
    armed_ = true;
    seen_ = 0;
  }
  // Requests naming the marker that reached the proxy: the lost one and
  // every one sent again.
  int seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return !armed_ && seen_ > 0;
  }
  // Waits (up to 10 s) for the armed request to have been lost.
  bool wait_fired() {
    for (int i = 0; i < 1000 && !fired(); ++i) std::this_thread::sleep_for(10ms);
    return fired();
  }
  // Ends the outage now.
  void restore() {
    std::lock_guard lock(mu_);
    refuse_until_ = {};
  }

 private:
  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
  }

  struct Link {
    int client = -1;
    int server = -1;
    bool lose_answer = false;
    bool closed = false;
  };

  void run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (const auto& l : links_) {
        fds.push_back({l.client, POLLIN, 0});
        fds.push_back({l.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents != 0) accept_one();
      const uint64_t drops = drops_;
      for (size_t i = 0; i < (fds.size() - 1) / 2 && drops == drops_; ++i) {
        if (fds[1 + 2 * i].revents != 0) pass(links_[i], true);
        if (drops == drops_ && !links_[i].closed && fds[2 + 2 * i].revents != 0) pass(links_[i], false);
      }
      if (drops != drops_) continue;
      std::erase_if(links_, [](const Link& l) {
        if (!l.closed) return false;
        ::close(l.client);
        ::close(l.server);
        return true;
      });
    }
  }

  void accept_one() {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    if (std::lock_guard lock(mu_); std::chrono::steady_clock::now() < refuse_until_) {
      ::close(client);
      return;
    }
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(target_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(client);
      ::close(server);
      return;
    }
    links_.push_back({client, server});
  }

  void pass(Link& l, bool from_client) {
    uint8_t buf[65536];
    const ssize_t n = ::recv(from_client ? l.client : l.server, buf, sizeof(buf), 0);
    if (n <= 0) {
      l.closed = true;
      return;
    }
    if (from_client) {
      std::unique_lock lock(mu_);
      const std::string_view data(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
      if (!marker_.empty() && data.find(marker_) != std::string_view::npos) {
        ++seen_;
        if (armed_) {
          armed_ = false;
          if (lose_ == Lose::kRequest) {
            const auto outage = outage_;
            lock.unlock();
            drop_all(outage);
            return;
          }
          l.lose_answer = true;
        }
      }
    } else if (l.lose_answer) {
      std::unique_lock lock(mu_);
      const auto outage = outage_;
      lock.unlock();
      drop_all(outage);
      return;
    }
    if (!test_support::write_all(from_client ? l.server : l.client, buf, static_cast<size_t>(n))) l.closed = true;
  }

  void drop_all(std::chrono::milliseconds outage) {
    for (const auto& l : links_) {
      ::shutdown(l.client, SHUT_RDWR);
      ::close(l.client);
      ::close(l.server);
    }
    links_.clear();
    ++drops_;
    std::lock_guard lock(mu_);
    refuse_until_ = std::chrono::steady_clock::now() + outage;
  }

  const uint16_t target_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // The proxy thread's alone (and the destructor's, after the join).
  std::vector<Link> links_;
  uint64_t drops_ = 0;

  std::mutex mu_;  // what the test sets and reads
  std::chrono::steady_clock::time_point refuse_until_{};  // new connections are closed until then
  std::string marker_;
  Lose lose_ = Lose::kRequest;
  std::chrono::milliseconds outage_{0};
  bool armed_ = false;
  int seen_ = 0;
};

// ZooKeeper's tick: sessions may be as short as two ticks, and the test of
// an expiry during a wait needs a short one.
constexpr const char* kTickMs = "1000";

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
               kTickMs, static_cast<char*>(nullptr));
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

// --- a request that meets a lost connection --------------------------------

// A store behind a CuttingProxy: a 6 s session, a 20 s connection timeout
// (the bound of its waits).
std::unique_ptr<ZooKeeperStore> connect_through(const CuttingProxy& proxy,
                                                std::chrono::milliseconds session = 6000ms) {
  auto res = ZooKeeperStore::connect(proxy.address(), session, 20000ms);
  EXPECT_TRUE(res.ok()) << res.error().message();
  return res.ok() ? std::move(*res) : nullptr;
}

std::string text(const Bytes& data) { return std::string(data.begin(), data.end()); }

constexpr auto kBlip = 300ms;

TEST_F(ZooKeeperStoreTest, RequestsLostWithTheConnectionAreSentAgainOnceItIsBack) {
  CuttingProxy proxy(port_);
  auto zk = connect_through(proxy);
  ASSERT_NE(zk, nullptr);
  auto& s = *zk;
  const int64_t session = s.session_id();
  ASSERT_TRUE(create_recursive(*store_, "/kids/a").ok());
  ASSERT_TRUE(store_->create("/read-me", ByteView(b("r")), CreateMode::kPersistent).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_->create("/many" + std::to_string(i), ByteView(b(std::to_string(i))),
                               CreateMode::kPersistent).ok());
  }
  const auto lose = [&](const std::string& marker) { proxy.arm(marker, CuttingProxy::Lose::kRequest, kBlip); };
  // Each request below is dropped on its way to ZooKeeper with every
  // connection: the client answers it ZCONNECTIONLOSS, the store sends it
  // again in the same session once the client has reconnected.
  lose("/made-here");
  auto made = s.create("/made-here", ByteView(b("m")), CreateMode::kPersistent);
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(*made, "/made-here");
  EXPECT_GE(proxy.seen(), 2);
  lose("/read-me");
  auto read = s.get("/read-me");
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(text(read->data), "r");
  lose("/made-here");
  auto set = s.set("/made-here", ByteView(b("n")), 0);
  ASSERT_TRUE(set.ok()) << set.error().message();
  EXPECT_EQ(set->version, 1);
  lose("/kids");
  auto kids = s.children("/kids");
  ASSERT_TRUE(kids.ok()) << kids.error().message();
  EXPECT_EQ(*kids, std::vector<std::string>{"a"});
  lose("/kids/a");
  auto there = s.exists("/kids/a");
  ASSERT_TRUE(there.ok()) << there.error().message();
  EXPECT_TRUE(there->has_value());
  lose("/multi-made");
  auto multi = s.multi(std::vector<Op>{Op::check("/made-here", 1), Op::create("/multi-made", b("x"))});
  ASSERT_TRUE(multi.ok()) << multi.error().message();
  lose("/made-here");
  ASSERT_TRUE(s.remove("/made-here", 1).ok());
  EXPECT_FALSE(store_->exists("/made-here")->has_value());
  EXPECT_TRUE(store_->exists("/multi-made")->has_value());
  // get_many: the reads the connection took are sent again.
  std::vector<std::string> paths;
  for (int i = 0; i < 10; ++i) paths.push_back("/many" + std::to_string(i));
  lose("/many7");
  auto many = s.get_many(paths);
  ASSERT_EQ(many.size(), paths.size());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(many[i].ok()) << paths[i] << ": " << many[i].error().message();
    EXPECT_EQ(text(many[i]->data), std::to_string(i));
  }
  EXPECT_TRUE(proxy.fired());
  EXPECT_EQ(s.session_id(), session);  // all in the session it started with
}

// The first try was carried out and only its answer was lost: the request
// sent again finds what it did.
TEST_F(ZooKeeperStoreTest, ARequestSentAgainFindsWhatItsFirstTryDid) {
  CuttingProxy proxy(port_);
  auto zk = connect_through(proxy);
  ASSERT_NE(zk, nullptr);
  auto& s = *zk;
  const auto lose_answer = [&](const std::string& marker) {
    proxy.arm(marker, CuttingProxy::Lose::kAnswer, kBlip);
  };
  // An ephemeral node this session holds is the one it made (Kafka's rule).
  lose_answer("/mine");
  auto eph = s.create("/mine", ByteView(b("e")), CreateMode::kEphemeral);
  ASSERT_TRUE(eph.ok()) << eph.error().message();
  EXPECT_EQ(*eph, "/mine");
  EXPECT_EQ(store_->exists("/mine")->value().ephemeral_owner, s.session_id());
  EXPECT_GE(proxy.seen(), 2);
  // A versioned set whose data is there at the next version went through.
  ASSERT_TRUE(store_->create("/v", ByteView(b("old")), CreateMode::kPersistent).ok());
  lose_answer("/v");
  auto set = s.set("/v", ByteView(b("new")), 0);
  ASSERT_TRUE(set.ok()) << set.error().message();
  EXPECT_EQ(set->version, 1);
  // ... and one that finds other data there did not.
  ASSERT_TRUE(store_->set("/v", ByteView(b("theirs")), 1).ok());
  lose_answer("/v");
  EXPECT_EQ(s.set("/v", ByteView(b("mine")), 1).error(), make_error_code(CoordErrc::kBadVersion));
  EXPECT_EQ(text(store_->get("/v")->data), "theirs");
  // So did a multi of checks and versioned sets (the controller's writes)
  // whose sets find their data at the next version.
  ASSERT_TRUE(store_->create("/epoch", ByteView(b("7")), CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->create("/state", ByteView(b("leader 1")), CreateMode::kPersistent).ok());
  lose_answer("/state");
  auto multi = s.multi(std::vector<Op>{Op::check("/epoch", 0), Op::set("/state", b("leader 2"), 0)});
  ASSERT_TRUE(multi.ok()) << multi.error().message();
  EXPECT_EQ((*multi)[1].stat.version, 1);
  ASSERT_TRUE(store_->set("/state", ByteView(b("leader 3")), 1).ok());
  lose_answer("/state");
  EXPECT_EQ(s.multi(std::vector<Op>{Op::check("/epoch", 0), Op::set("/state", b("leader 4"), 1)}).error(),
            make_error_code(CoordErrc::kBadVersion));
  EXPECT_EQ(text(store_->get("/state")->data), "leader 3");
  // A delete sent again that finds nothing has what it asked for.
  ASSERT_TRUE(store_->create("/gone", {}, CreateMode::kPersistent).ok());
  lose_answer("/gone");
  EXPECT_TRUE(s.remove("/gone", 0).ok());
  EXPECT_FALSE(store_->exists("/gone")->has_value());
  // A persistent node holding exactly the data sent, never changed, is the
  // one the first try made (a topic's assignment carries a random id) ...
  lose_answer("/persistent");
  auto made = s.create("/persistent", ByteView(b("p-1234")), CreateMode::kPersistent);
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(*made, "/persistent");
  EXPECT_GE(proxy.seen(), 2);
  // ... one holding other data is someone else's.
  ASSERT_TRUE(store_->create("/taken", ByteView(b("theirs")), CreateMode::kPersistent).ok());
  lose_answer("/taken");
  EXPECT_EQ(s.create("/taken", ByteView(b("mine")), CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kNodeExists));
  EXPECT_GE(proxy.seen(), 2);
  // And an ephemeral node of another session is not this one's.
  auto other = connect_store();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->create("/held", {}, CreateMode::kEphemeral).ok());
  lose_answer("/held");
  EXPECT_EQ(s.create("/held", {}, CreateMode::kEphemeral).error(), make_error_code(CoordErrc::kNodeExists));
}

// A watch runs on the C client's completion thread, which also delivers the
// session events: a request made there waits for the connection by looking
// at the client's state, not for an event it would itself have to deliver.
TEST_F(ZooKeeperStoreTest, ARequestFromAWatchWaitsForTheConnectionToo) {
  CuttingProxy proxy(port_);
  auto zk = connect_through(proxy);
  ASSERT_NE(zk, nullptr);
  ASSERT_TRUE(store_->create("/poke", {}, CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->create("/in-watch", ByteView(b("w")), CreateMode::kPersistent).ok());
  std::promise<Result<Node>> read_in_watch;
  auto answer = read_in_watch.get_future();
  ASSERT_TRUE(zk->get("/poke", [&](const WatchEvent&) {
    read_in_watch.set_value(zk->get("/in-watch"));
  }).ok());
  proxy.arm("/in-watch", CuttingProxy::Lose::kRequest, 1000ms);
  ASSERT_TRUE(store_->set("/poke", ByteView(b("now"))).ok());
  ASSERT_EQ(answer.wait_for(15s), std::future_status::ready) << "the watch's read never ended";
  auto node = answer.get();
  ASSERT_TRUE(node.ok()) << node.error().message();
  EXPECT_EQ(text(node->data), "w");
  EXPECT_GE(proxy.seen(), 2);
}

// Waits the request cannot outlast: the session expiring meanwhile, the
// owner stopping, the session being replaced.
TEST_F(ZooKeeperStoreTest, AWaitForTheConnectionEndsWithTheSessionOrTheStop) {
  using Clock = std::chrono::steady_clock;
  CuttingProxy proxy(port_);
  {
    // Away for longer than the 2 s session: ZooKeeper expires it, and the
    // client hears so when it reconnects.
    auto zk = connect_through(proxy, 2000ms);
    ASSERT_NE(zk, nullptr);
    proxy.arm("/expiring", CuttingProxy::Lose::kRequest, 5000ms);
    const auto start = Clock::now();
    EXPECT_EQ(zk->get("/expiring").error(), make_error_code(CoordErrc::kSessionExpired));
    EXPECT_LT(Clock::now() - start, 15s);  // the connection timeout is 20 s
  }
  {
    // stop_waiting(): the broker is stopping.
    auto zk = connect_through(proxy);
    ASSERT_NE(zk, nullptr);
    proxy.arm("/stopping", CuttingProxy::Lose::kRequest, 60000ms);
    auto waiting = std::async(std::launch::async, [&] { return zk->get("/stopping"); });
    ASSERT_TRUE(proxy.wait_fired());
    const auto start = Clock::now();
    zk->stop_waiting();
    ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(waiting.get().error(), make_error_code(CoordErrc::kConnectionLoss));
    EXPECT_EQ(zk->exists("/stopping").error(), make_error_code(CoordErrc::kConnectionLoss));
    EXPECT_LT(Clock::now() - start, 10s);
  }
  {
    // reconnect(): the session the request was sent in is gone.
    proxy.restore();
    proxy.arm("/replaced", CuttingProxy::Lose::kRequest, 3000ms);
    auto zk = connect_through(proxy);
    ASSERT_NE(zk, nullptr);
    auto waiting = std::async(std::launch::async, [&] {
      auto r = zk->get("/replaced");
      return std::make_pair(r.ok() ? std::error_code() : r.error(), Clock::now());
    });
    ASSERT_TRUE(proxy.wait_fired());
    // The new session opens only once the proxy lets it (3 s after the cut).
    ASSERT_TRUE(zk->reconnect().ok());
    const auto reconnected = Clock::now();
    const auto [error, ended] = waiting.get();
    // Waiting: the session is gone. Still in the C client's call (it had not
    // seen the connection go yet): the closing handle fails it.
    EXPECT_TRUE(error == make_error_code(CoordErrc::kSessionExpired) ||
                error == make_error_code(CoordErrc::kConnectionLoss))
        << error.message();
    EXPECT_LT(ended, reconnected) << "the wait outlived the session it was for";
  }
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
