#include "coord/embedded_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace keel::coord {
namespace {

namespace fs = std::filesystem;

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string str(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

class EmbeddedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel-coord-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<EmbeddedStore> open() {
    auto res = EmbeddedStore::open(dir_);
    EXPECT_TRUE(res.ok()) << res.error().message();
    return res.ok() ? std::move(*res) : nullptr;
  }

  fs::path dir_;
};

TEST_F(EmbeddedStoreTest, CreateGetSetWithVersions) {
  auto s = EmbeddedStore::in_memory();
  ASSERT_TRUE(s->create("/brokers", {}, CreateMode::kPersistent).ok());
  auto created = s->create("/brokers/topics", ByteView(b("x")), CreateMode::kPersistent);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*created, "/brokers/topics");
  auto node = s->get("/brokers/topics");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(str(node->data), "x");
  EXPECT_EQ(node->stat.version, 0);

  auto stat = s->set("/brokers/topics", ByteView(b("y")), 0);
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->version, 1);
  // Compare-and-set with a stale version fails and changes nothing.
  EXPECT_EQ(s->set("/brokers/topics", ByteView(b("z")), 0).error(),
            make_error_code(CoordErrc::kBadVersion));
  EXPECT_EQ(str(s->get("/brokers/topics")->data), "y");
  EXPECT_TRUE(s->set("/brokers/topics", ByteView(b("z")), -1).ok());
  EXPECT_EQ(s->get("/brokers/topics")->stat.version, 2);
}

TEST_F(EmbeddedStoreTest, ZooKeeperErrors) {
  auto s = EmbeddedStore::in_memory();
  EXPECT_EQ(s->create("/a/b", {}, CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kNoNode));
  ASSERT_TRUE(s->create("/a", {}, CreateMode::kPersistent).ok());
  EXPECT_EQ(s->create("/a", {}, CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kNodeExists));
  ASSERT_TRUE(s->create("/a/b", {}, CreateMode::kPersistent).ok());
  EXPECT_EQ(s->remove("/a").error(), make_error_code(CoordErrc::kNotEmpty));
  EXPECT_EQ(s->get("/nope").error(), make_error_code(CoordErrc::kNoNode));
  for (const char* bad : {"", "a", "/a/", "//a", "/a//b"}) {
    EXPECT_EQ(s->get(bad).error(), make_error_code(CoordErrc::kInvalidPath)) << bad;
  }
  ASSERT_TRUE(s->create("/e", {}, CreateMode::kEphemeral).ok());
  EXPECT_EQ(s->create("/e/child", {}, CreateMode::kPersistent).error(),
            make_error_code(CoordErrc::kEphemeralParent));
}

TEST_F(EmbeddedStoreTest, SequentialNodesCountPerParent) {
  auto s = EmbeddedStore::in_memory();
  ASSERT_TRUE(create_recursive(*s, "/config/changes").ok());
  auto first = s->create("/config/changes/config_change_", {}, CreateMode::kPersistentSequential);
  auto second = s->create("/config/changes/config_change_", {}, CreateMode::kPersistentSequential);
  EXPECT_EQ(*first, "/config/changes/config_change_0000000000");
  EXPECT_EQ(*second, "/config/changes/config_change_0000000001");
  auto kids = s->children("/config/changes");
  EXPECT_EQ(*kids, (std::vector<std::string>{"config_change_0000000000",
                                             "config_change_0000000001"}));
}

TEST_F(EmbeddedStoreTest, WatchesFireOnceWithTheRightEvent) {
  auto s = EmbeddedStore::in_memory();
  std::vector<std::pair<EventType, std::string>> seen;
  auto watch = [&](const WatchEvent& e) { seen.emplace_back(e.type, e.path); };

  ASSERT_TRUE(s->exists("/controller", watch).ok());  // absent: fires on creation
  ASSERT_TRUE(s->children("/", watch).ok());
  ASSERT_TRUE(s->create("/controller", ByteView(b("{}")), CreateMode::kEphemeral).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(EventType::kCreated, std::string("/controller")));
  EXPECT_EQ(seen[1], std::make_pair(EventType::kChildrenChanged, std::string("/")));

  seen.clear();
  ASSERT_TRUE(s->get("/controller", watch).ok());
  ASSERT_TRUE(s->set("/controller", ByteView(b("1"))).ok());
  ASSERT_TRUE(s->set("/controller", ByteView(b("2"))).ok());  // the watch was one-shot
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, EventType::kDataChanged);

  seen.clear();
  ASSERT_TRUE(s->exists("/controller", watch).ok());
  ASSERT_TRUE(s->remove("/controller").ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, EventType::kDeleted);
}

TEST_F(EmbeddedStoreTest, AWatchMayCallBackIntoTheStore) {
  auto s = EmbeddedStore::in_memory();
  bool reread = false;
  ASSERT_TRUE(s->exists("/x", [&](const WatchEvent&) { reread = s->get("/x").ok(); }).ok());
  ASSERT_TRUE(s->create("/x", {}, CreateMode::kPersistent).ok());
  EXPECT_TRUE(reread);
}

TEST_F(EmbeddedStoreTest, MultiIsAllOrNothing) {
  auto s = EmbeddedStore::in_memory();
  ASSERT_TRUE(s->create("/controller_epoch", ByteView(b("0")), CreateMode::kPersistent).ok());
  // The controller's fenced write: a check on the epoch's version, then writes.
  std::vector<Op> stale = {Op::check("/controller_epoch", 7),
                           Op::create("/brokers", {}, CreateMode::kPersistent)};
  EXPECT_EQ(s->multi(stale).error(), make_error_code(CoordErrc::kBadVersion));
  EXPECT_FALSE(s->exists("/brokers")->has_value());

  std::vector<Op> good = {Op::check("/controller_epoch", 0),
                          Op::create("/brokers", {}, CreateMode::kPersistent),
                          Op::create("/brokers/ids", {}, CreateMode::kPersistent),
                          Op::set("/controller_epoch", b("1"), 0)};
  auto res = s->multi(good);
  ASSERT_TRUE(res.ok()) << res.error().message();
  ASSERT_EQ(res->size(), 4u);
  EXPECT_EQ((*res)[3].stat.version, 1);
  EXPECT_TRUE(s->exists("/brokers/ids")->has_value());
  // One transaction: the created nodes share a czxid.
  EXPECT_EQ(s->get("/brokers")->stat.czxid, s->get("/brokers/ids")->stat.czxid);
}

TEST_F(EmbeddedStoreTest, PersistentNodesSurviveReopenEphemeralOnesDoNot) {
  int64_t czxid = 0;
  {
    auto s = open();
    ASSERT_TRUE(create_recursive(*s, "/brokers/topics/orders").ok());
    ASSERT_TRUE(s->set("/brokers/topics/orders", ByteView(b("{\"version\":3}"))).ok());
    ASSERT_TRUE(create_recursive(*s, "/brokers/ids").ok());
    ASSERT_TRUE(s->create("/brokers/ids/0", ByteView(b("me")), CreateMode::kEphemeral).ok());
    czxid = s->get("/brokers/topics/orders")->stat.czxid;
  }
  auto s = open();
  auto topic = s->get("/brokers/topics/orders");
  ASSERT_TRUE(topic.ok());
  EXPECT_EQ(str(topic->data), "{\"version\":3}");
  EXPECT_EQ(topic->stat.version, 1);
  EXPECT_EQ(topic->stat.czxid, czxid);
  EXPECT_EQ(*s->children("/brokers/ids"), std::vector<std::string>{});
  // zxids keep growing across restarts.
  ASSERT_TRUE(s->create("/later", {}, CreateMode::kPersistent).ok());
  EXPECT_GT(s->get("/later")->stat.czxid, czxid);
}

TEST_F(EmbeddedStoreTest, CorruptSnapshotRefusesToLoad) {
  {
    auto s = open();
    ASSERT_TRUE(s->create("/cluster", ByteView(b("id")), CreateMode::kPersistent).ok());
  }
  {
    std::fstream f(dir_ / "coord.snapshot", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x5a');
  }
  auto res = EmbeddedStore::open(dir_);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(CoordErrc::kCorrupt));
}

// A change is one journal append, not a snapshot rewrite; reopening replays it.
TEST_F(EmbeddedStoreTest, ChangesGoToTheJournalAndAreReplayedOnOpen) {
  uintmax_t snapshot_size = 0;
  {
    auto s = open();
    snapshot_size = fs::file_size(dir_ / "coord.snapshot");
    ASSERT_TRUE(create_recursive(*s, "/brokers/topics").ok());
    for (int i = 0; i < 50; ++i) {
      const std::string t = "/brokers/topics/t" + std::to_string(i);
      ASSERT_TRUE(s->create(t, ByteView(b("v0")), CreateMode::kPersistent).ok());
      ASSERT_TRUE(s->set(t, ByteView(b("v1"))).ok());
    }
    ASSERT_TRUE(s->remove("/brokers/topics/t7").ok());
    ASSERT_TRUE(s->create("/brokers/ids", {}, CreateMode::kPersistent).ok());
    ASSERT_TRUE(s->create("/brokers/ids/0", ByteView(b("me")), CreateMode::kEphemeral).ok());
    EXPECT_EQ(fs::file_size(dir_ / "coord.snapshot"), snapshot_size) << "a change rewrote the snapshot";
    EXPECT_GT(fs::file_size(dir_ / "coord.journal"), 50u * 2 * 20);
  }
  auto s = open();
  EXPECT_EQ(fs::file_size(dir_ / "coord.journal"), 0u) << "opening folds the journal into the snapshot";
  auto kids = s->children("/brokers/topics");
  ASSERT_TRUE(kids.ok());
  EXPECT_EQ(kids->size(), 49u);
  auto t3 = s->get("/brokers/topics/t3");
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(str(t3->data), "v1");
  EXPECT_EQ(t3->stat.version, 1);
  EXPECT_FALSE(s->get("/brokers/topics/t7").ok());
  EXPECT_EQ(s->get("/brokers/topics")->stat.num_children, 49);
  EXPECT_EQ(*s->children("/brokers/ids"), std::vector<std::string>{});
}

// A crash in the middle of an append leaves a torn last record: it is cut
// off, every whole record before it kept, and the store writes on.
TEST_F(EmbeddedStoreTest, ATornJournalTailIsDroppedAndTheRestKept) {
  {
    auto s = open();
    ASSERT_TRUE(s->create("/a", ByteView(b("1")), CreateMode::kPersistent).ok());
    ASSERT_TRUE(s->create("/b", ByteView(b("2")), CreateMode::kPersistent).ok());
    ASSERT_TRUE(s->create("/c", ByteView(b("3")), CreateMode::kPersistent).ok());
  }
  // The process is gone before it could fold: open() folds, so rebuild the
  // crash state by hand from a second store's journal.
  const auto journal = dir_ / "coord.journal";
  {
    auto s = open();  // folded: /a /b /c in the snapshot
    ASSERT_TRUE(s->create("/d", ByteView(b("4")), CreateMode::kPersistent).ok());
    ASSERT_TRUE(s->create("/e", ByteView(b("5")), CreateMode::kPersistent).ok());
  }
  const auto whole = fs::file_size(journal);
  fs::resize_file(journal, whole - 3);  // /e's record torn
  {
    auto s = open();
    EXPECT_TRUE(s->get("/d").ok());
    EXPECT_FALSE(s->get("/e").ok());
    EXPECT_EQ(str(s->get("/c")->data), "3");
    ASSERT_TRUE(s->create("/f", ByteView(b("6")), CreateMode::kPersistent).ok());
  }
  auto s = open();
  EXPECT_TRUE(s->get("/d").ok());
  EXPECT_TRUE(s->get("/f").ok());
  EXPECT_FALSE(s->get("/e").ok());
}

// A crash after the snapshot was written but before the journal was emptied
// leaves records the snapshot already holds: replaying them changes nothing.
TEST_F(EmbeddedStoreTest, RecordsTheSnapshotAlreadyHoldsAreSkipped) {
  {
    auto s = open();
    ASSERT_TRUE(s->create("/n", ByteView(b("0")), CreateMode::kPersistent).ok());
    ASSERT_TRUE(s->set("/n", ByteView(b("1"))).ok());
  }
  const auto journal = dir_ / "coord.journal";
  const auto saved = dir_ / "journal.saved";
  fs::copy_file(journal, saved);
  { auto s = open(); }  // folds and empties the journal
  fs::copy_file(saved, journal, fs::copy_options::overwrite_existing);
  auto s = open();
  auto n = s->get("/n");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(str(n->data), "1");
  EXPECT_EQ(n->stat.version, 1);
  ASSERT_TRUE(s->set("/n", ByteView(b("2"))).ok());
  EXPECT_EQ(s->get("/n")->stat.version, 2);
}

// A long-running store folds its journal once it outgrows the limit.
TEST_F(EmbeddedStoreTest, AGrowingJournalIsFoldedIntoTheSnapshot) {
  auto s = open();
  const Bytes big(64 * 1024, 'x');
  ASSERT_TRUE(s->create("/big", {}, CreateMode::kPersistent).ok());
  uintmax_t most = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(s->set("/big", ByteView(big)).ok());
    most = std::max(most, fs::file_size(dir_ / "coord.journal"));
  }
  EXPECT_LE(most, EmbeddedStore::kJournalFoldBytes + big.size() + 1024);
  EXPECT_GT(fs::file_size(dir_ / "coord.snapshot"), big.size()) << "never folded";
  s.reset();
  auto again = open();
  EXPECT_EQ(again->get("/big")->stat.version, 100);
}

TEST_F(EmbeddedStoreTest, SessionExpiryRemovesEphemeralsAndFiresWatches) {
  auto s = EmbeddedStore::in_memory();
  ASSERT_TRUE(create_recursive(*s, "/brokers/ids").ok());
  ASSERT_TRUE(s->create("/brokers/ids/1", {}, CreateMode::kEphemeral).ok());
  const int64_t old_session = s->session_id();
  EXPECT_EQ(s->get("/brokers/ids/1")->stat.ephemeral_owner, old_session);
  bool deleted = false;
  ASSERT_TRUE(s->exists("/brokers/ids/1", [&](const WatchEvent& e) {
    deleted = e.type == EventType::kDeleted;
  }).ok());
  s->expire_session();
  EXPECT_TRUE(deleted);
  EXPECT_FALSE(s->exists("/brokers/ids/1")->has_value());
  EXPECT_NE(s->session_id(), old_session);
}

}  // namespace
}  // namespace keel::coord
