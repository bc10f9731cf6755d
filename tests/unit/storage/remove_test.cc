// LogManager::remove (topic deletion): the partition directory is renamed to
// a -delete name at once, vanishes after file.delete.delay.ms, a reader's
// range stays readable meanwhile, and a restart finishes an interrupted
// deletion.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "storage/log_manager.h"
#include "test_util.h"

namespace keel::storage {
namespace {

int64_t g_now = 1000;

std::unique_ptr<LogManager> open_manager(const std::string& dir) {
  LogManagerOptions o;
  o.log_dirs = {dir};
  o.default_config.file_delete_delay_ms = 5000;
  o.clock = [] { return g_now; };
  auto m = LogManager::open(o);
  EXPECT_TRUE(m);
  return m ? std::move(*m) : nullptr;
}

std::vector<std::string> deleted_dirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 7 && name.ends_with("-delete")) out.push_back(name);
  }
  return out;
}

TEST(LogManagerRemove, RenamesAtOnceDeletesAfterTheDelayAndReadersKeepTheirRange) {
  test::TempDir tmp;
  auto m = open_manager(tmp.path());
  ASSERT_TRUE(m);
  TopicPartition tp{"orders", 3};
  LogConfig config;
  config.file_delete_delay_ms = 5000;
  auto log = m->get_or_create(tp, config, "");
  ASSERT_TRUE(log);
  Bytes batch = test::make_batch(5, 100, g_now);
  ASSERT_TRUE((*log)->append(batch, g_now));
  auto read = (*log)->read(0, 1 << 20);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->ranges.size(), 1u);

  ASSERT_TRUE(m->remove(tp));
  EXPECT_EQ(m->get(tp), nullptr);
  EXPECT_TRUE(m->logs().empty());
  EXPECT_FALSE(std::filesystem::exists(tmp.sub("orders-3")));
  auto gone = deleted_dirs(tmp.path());
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_TRUE(gone[0].starts_with("orders-3.")) << gone[0];
  EXPECT_EQ(gone[0].size(), std::string("orders-3.").size() + 32 + 7) << gone[0];

  // The reader's range is still there to send.
  const auto& r = read->ranges[0];
  Bytes back(static_cast<size_t>(r.length));
  ASSERT_EQ(::pread(r.file->fd(), back.data(), back.size(), r.position), r.length);
  EXPECT_EQ(back.size(), batch.size());

  g_now += 4000;
  m->run_background_once(g_now);
  EXPECT_EQ(deleted_dirs(tmp.path()).size(), 1u) << "removed before file.delete.delay.ms";
  g_now += 2000;
  m->run_background_once(g_now);
  EXPECT_TRUE(deleted_dirs(tmp.path()).empty());
  EXPECT_TRUE(m->remove(tp)) << "removing an absent partition is a no-op";
  ASSERT_TRUE(m->shutdown());
}

TEST(LogManagerRemove, ARestartFinishesAnInterruptedDeletion) {
  test::TempDir tmp;
  {
    auto m = open_manager(tmp.path());
    ASSERT_TRUE(m->get_or_create({"t", 0}, LogConfig{}, ""));
    ASSERT_TRUE(m->get_or_create({"t", 1}, LogConfig{}, ""));
    ASSERT_TRUE(m->remove({"t", 0}));
    ASSERT_TRUE(m->shutdown());
  }
  ASSERT_EQ(deleted_dirs(tmp.path()).size(), 1u);
  auto m = open_manager(tmp.path());
  EXPECT_TRUE(deleted_dirs(tmp.path()).empty());
  EXPECT_EQ(m->get({"t", 0}), nullptr);
  EXPECT_NE(m->get({"t", 1}), nullptr);
  ASSERT_TRUE(m->shutdown());
}

TEST(LogManagerRemove, APartitionDeletedManyTimesWithinOneMillisecondGetsADistinctNameEachTime) {
  test::TempDir tmp;
  auto m = open_manager(tmp.path());
  ASSERT_TRUE(m);
  TopicPartition tp{"again", 0};
  for (int i = 0; i < 64; ++i) {  // the clock stands still: only the names differ
    ASSERT_TRUE(m->get_or_create(tp, LogConfig{}, "")) << i;
    ASSERT_TRUE(m->remove(tp)) << "deletion " << i;
  }
  EXPECT_EQ(deleted_dirs(tmp.path()).size(), 64u);
}

}  // namespace
}  // namespace keel::storage
