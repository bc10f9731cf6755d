#include "storage/log_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "storage/checkpoint.h"
#include "storage/errors.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

Result<AppendResult> append_tmp(Log& log, Bytes b, int64_t now = 0) { return log.append(b, now); }

size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

TEST(Checkpoint, OffsetCheckpointIsKafkasTextFormatAndRoundTrips) {
  TempDir tmp;
  OffsetMap m{{{"orders", 0}, 42}, {{"orders", 1}, 7}, {{"a.b_c-d", 3}, 0}};
  std::string path = tmp.sub(kRecoveryPointCheckpoint);
  ASSERT_TRUE(write_offset_checkpoint(path, m));
  EXPECT_EQ(test::read_file(path), "0\n3\na.b_c-d 3 0\norders 0 42\norders 1 7\n");
  auto back = read_offset_checkpoint(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, m);
  EXPECT_EQ(test::file_size(path + ".tmp"), -1);
}

TEST(Checkpoint, MissingFileIsEmptyAndMalformedFilesAreErrors) {
  TempDir tmp;
  auto none = read_offset_checkpoint(tmp.sub("nope"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  for (const char* bad : {"1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt x 1\n", "0\n1\nt 0\n", "", "0\n1\nt -1 5\n"}) {
    std::string p = tmp.sub("bad");
    ASSERT_TRUE(write_file_atomic(p, bad));
    EXPECT_EQ(read_offset_checkpoint(p).error(), make_error_code(StorageErrc::kBadCheckpoint)) << bad;
  }
}

TEST(Checkpoint, PartitionMetadataHoldsVersionAndTopicId) {
  TempDir tmp;
  ASSERT_TRUE(write_partition_metadata(tmp.path(), "AAAAAAAAAAAAAAAAAAAAAQ"));
  EXPECT_EQ(test::read_file(tmp.sub("partition.metadata")), "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n");
  auto id = read_partition_metadata(tmp.path());
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "AAAAAAAAAAAAAAAAAAAAAQ");
  ASSERT_TRUE(write_file_atomic(tmp.sub("partition.metadata"), "version: 1\n"));
  EXPECT_FALSE(read_partition_metadata(tmp.path()));
}

TEST(Checkpoint, PartitionDirNamesParseAsTopicDashPartition) {
  EXPECT_EQ(parse_partition_dir("my-topic-12"), (TopicPartition{"my-topic", 12}));
  EXPECT_FALSE(parse_partition_dir("topic"));
  EXPECT_FALSE(parse_partition_dir("topic-x"));
  EXPECT_FALSE(parse_partition_dir("t-0.abc-delete"));
  EXPECT_FALSE(parse_partition_dir("t-0.abc-future"));
  EXPECT_FALSE(parse_partition_dir("-3"));
}

LogManagerOptions options(const TempDir& tmp, int64_t* clock) {
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1"), tmp.sub("d2")};
  o.clock = [clock] { return *clock; };
  return o;
}

TEST(LogManager, CleanShutdownWritesCheckpointsAndMarkerAndReloadsEverything) {
  TempDir tmp;
  int64_t clock = 1000;
  {
    auto m = LogManager::open(options(tmp, &clock));
    ASSERT_TRUE(m);
    for (int p = 0; p < 4; ++p) {
      auto log = (*m)->get_or_create({"t", p}, LogConfig{}, "AAAAAAAAAAAAAAAAAAAAAQ");
      ASSERT_TRUE(log);
      for (int i = 0; i <= p; ++i) ASSERT_TRUE(append_tmp(**log, make_batch(2, 10, 0)));
    }
    ASSERT_TRUE((*m)->shutdown());
  }
  // Partitions are spread over both dirs, each with its marker and checkpoint.
  EXPECT_GE(test::file_size(tmp.sub("d1/.kafka_cleanshutdown")), 0);
  EXPECT_GE(test::file_size(tmp.sub("d2/.kafka_cleanshutdown")), 0);
  auto rp1 = read_offset_checkpoint(tmp.sub("d1/recovery-point-offset-checkpoint"));
  auto rp2 = read_offset_checkpoint(tmp.sub("d2/recovery-point-offset-checkpoint"));
  ASSERT_TRUE(rp1 && rp2);
  EXPECT_EQ(rp1->size() + rp2->size(), 4u);
  EXPECT_EQ(rp1->size(), 2u);
  auto m = LogManager::open(options(tmp, &clock));
  ASSERT_TRUE(m);
  EXPECT_TRUE((*m)->loaded_cleanly(tmp.sub("d1")));
  EXPECT_EQ(test::file_size(tmp.sub("d1/.kafka_cleanshutdown")), -1);  // removed once loaded
  EXPECT_EQ((*m)->partition_count(), 4u);
  for (int p = 0; p < 4; ++p) {
    Log* log = (*m)->get({"t", p});
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->log_end_offset(), 2 * (p + 1));
    EXPECT_FALSE(log->recovered());
    auto id = read_partition_metadata(log->dir());
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, "AAAAAAAAAAAAAAAAAAAAAQ");
  }
}

TEST(LogManager, LogStartOffsetSurvivesARestartThroughItsCheckpoint) {
  TempDir tmp;
  int64_t clock = 1000;
  {
    auto m = LogManager::open(options(tmp, &clock));
    ASSERT_TRUE(m);
    auto log = (*m)->get_or_create({"t", 0}, LogConfig{});
    ASSERT_TRUE(log);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_tmp(**log, make_batch(1, 10, 0)));
    ASSERT_TRUE((*log)->delete_records_before(3, clock));  // mid-segment: only the checkpoint remembers it
    ASSERT_TRUE((*m)->shutdown());
  }
  auto m = LogManager::open(options(tmp, &clock));
  ASSERT_TRUE(m);
  Log* log = (*m)->get({"t", 0});
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->log_start_offset(), 3);
  EXPECT_EQ(log->read(2, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
}

TEST(LogManager, ALockedLogDirCannotBeOpenedTwice) {
  TempDir tmp;
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1")};
  auto first = LogManager::open(o);
  ASSERT_TRUE(first);
  auto second = LogManager::open(o);
  EXPECT_EQ(second.error(), make_error_code(StorageErrc::kStorageError));
  first = StorageErrc::kStorageError;  // destroys the first manager, releasing the lock
  EXPECT_TRUE(LogManager::open(o));
}

TEST(LogManager, WithoutTheMarkerLogsAfterTheRecoveryPointAreRecovered) {
  TempDir tmp;
  int64_t clock = 1000;
  {
    auto m = LogManager::open(options(tmp, &clock));
    ASSERT_TRUE(m);
    auto log = (*m)->get_or_create({"t", 0}, LogConfig{});
    ASSERT_TRUE(log);
    ASSERT_TRUE(append_tmp(**log, make_batch(2, 10, 0)));
    ASSERT_TRUE((*m)->shutdown());
  }
  ::unlink(tmp.sub("d1/.kafka_cleanshutdown").c_str());
  ::unlink(tmp.sub("d2/.kafka_cleanshutdown").c_str());
  auto m = LogManager::open(options(tmp, &clock));
  ASSERT_TRUE(m);
  Log* log = (*m)->get({"t", 0});
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovered());
  EXPECT_EQ(log->log_end_offset(), 2);
}

TEST(LogManager, FlusherThreadFlushesByFlushMessagesOffTheRequestPath) {
  TempDir tmp;
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1")};
  o.flush_check_interval_ms = 600000;  // only the append's signal can wake the flusher in time
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  LogConfig c;
  c.flush_messages = 3;
  auto log = (*m)->get_or_create({"t", 0}, c);
  ASSERT_TRUE(log);
  (*m)->start();
  ASSERT_TRUE(append_tmp(**log, make_batch(2, 10, 0)));
  EXPECT_EQ((*log)->recovery_point(), 0);  // below flush.messages; append itself never flushes
  ASSERT_TRUE(append_tmp(**log, make_batch(1, 10, 0)));
  for (int i = 0; i < 2000 && (*log)->recovery_point() != 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ((*log)->recovery_point(), 3);
  ASSERT_TRUE((*m)->shutdown());
}

TEST(LogManager, FlushMsAndRetentionRunInTheBackgroundPass) {
  TempDir tmp;
  int64_t clock = 1000;
  LogManagerOptions o = options(tmp, &clock);
  o.retention_check_interval_ms = 100;
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  LogConfig c;
  c.flush_ms = 50;
  c.retention_ms = 10000;
  c.file_delete_delay_ms = 500;
  c.segment_bytes = 300;
  auto log = (*m)->get_or_create({"t", 0}, c);
  ASSERT_TRUE(log);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_tmp(**log, make_batch(1, 200, 1000 + i)));
  ASSERT_EQ((*log)->segment_count(), 5u);
  clock = 1040;
  (*m)->run_background_once(clock);
  EXPECT_EQ((*log)->recovery_point(), 0);
  clock = 1060;
  (*m)->run_background_once(clock);
  EXPECT_EQ((*log)->recovery_point(), 5);
  clock = 1000 + 10003;  // segments 0..2 (timestamps 1000..1002) are older than 10 s
  (*m)->run_background_once(clock);
  EXPECT_EQ((*log)->segment_base_offsets(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ((*log)->log_start_offset(), 3);
}

TEST(LogManager, ThousandsOfPartitionsStayWithinTheDescriptorBudget) {
  TempDir tmp;
  size_t before = open_fds();
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1")};
  o.max_open_files = 64;
  LogConfig c;
  c.segment_index_bytes = 4096;
  {
    auto m = LogManager::open(o);
    ASSERT_TRUE(m);
    for (int p = 0; p < 1500; ++p) {
      auto log = (*m)->get_or_create({"many", p}, c);
      ASSERT_TRUE(log);
      ASSERT_TRUE(append_tmp(**log, make_batch(1, 10, 0)));
    }
    EXPECT_LE(open_fds(), before + 70);
    ASSERT_TRUE((*m)->shutdown());
  }
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->partition_count(), 1500u);
  EXPECT_LE(open_fds(), before + 70);
  Log* log = (*m)->get({"many", 1499});
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->log_end_offset(), 1);
}

}  // namespace
}  // namespace keel::storage
