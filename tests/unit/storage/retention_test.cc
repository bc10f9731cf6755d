// Retention, DeleteRecords, asynchronous deletion and disk-full behaviour.

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/log.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

std::unique_ptr<Log> open_log(const std::string& dir, FileCache& cache, const LogConfig& config, bool clean = true) {
  LogOpenOptions o;
  o.dir = dir;
  o.config = config;
  o.cache = &cache;
  o.clean_shutdown = clean;
  auto r = Log::open(o);
  EXPECT_TRUE(r) << r.error().message();
  return r ? std::move(*r) : nullptr;
}

Result<AppendResult> append_tmp(Log& log, Bytes b, int64_t now = 0) { return log.append(b, now); }

bool exists(const std::string& p) { return std::filesystem::exists(p); }

TEST(Retention, RetentionBytesDeletesOldestWholeSegmentsOnly) {
  TempDir tmp;
  FileCache cache;
  LogConfig c;
  Bytes probe = make_batch(1, 200, 0);
  c.segment_bytes = static_cast<int64_t>(probe.size() * 2);
  c.retention_bytes = static_cast<int64_t>(probe.size() * 5);
  c.retention_ms = -1;
  auto log = open_log(tmp.sub("t-0"), cache, c);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 200, i)));
  ASSERT_EQ(log->segment_count(), 5u);  // 2 batches each
  auto n = log->apply_retention(0);
  ASSERT_TRUE(n);
  // 10 batches over a 5-batch budget: an excess of 5 batches removes two
  // whole segments (4 batches); a third would cut below the budget.
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(log->log_start_offset(), 4);
  EXPECT_EQ(log->read(3, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
  EXPECT_TRUE(log->read(4, 100));
}

TEST(Retention, RetentionMsUsesTheSegmentsLargestTimestamp) {
  TempDir tmp;
  FileCache cache;
  LogConfig c;
  c.segment_bytes = 400;
  c.retention_ms = 1000;
  auto log = open_log(tmp.sub("t-0"), cache, c);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 300, 5000 + i * 100)));
  ASSERT_EQ(log->segment_count(), 4u);
  auto n = log->apply_retention(5000 + 100 + 1001);  // segments with max ts 5000 and 5100 expired
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(log->log_start_offset(), 2);
  n = log->apply_retention(99999999);  // everything expired, the active segment too
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(log->segment_count(), 1u);  // a fresh one at the log end
  EXPECT_EQ(log->segment_base_offsets(), (std::vector<int64_t>{4}));
  EXPECT_EQ(log->log_end_offset(), 4);
  EXPECT_EQ(log->log_start_offset(), 4);
  // The next pass finds only the empty segment and leaves it.
  n = log->apply_retention(99999999);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0);
  auto appended = append_tmp(*log, make_batch(1, 300, 99999999));
  ASSERT_TRUE(appended);
  EXPECT_EQ(appended->first_offset, 4);
}

TEST(Retention, AnExpiredActiveSegmentWaitsForTheHighWatermark) {
  TempDir tmp;
  FileCache cache;
  LogConfig c;
  c.retention_ms = 1000;
  auto log = open_log(tmp.sub("t-0"), cache, c);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(2, 100, 5000)));
  ASSERT_EQ(log->segment_count(), 1u);
  log->set_high_watermark(4);  // a follower has not fetched the last batch
  auto n = log->apply_retention(10000);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0);
  EXPECT_EQ(log->log_start_offset(), 0);
  log->set_high_watermark(6);
  n = log->apply_retention(10000);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(log->log_start_offset(), 6);
  EXPECT_EQ(log->log_end_offset(), 6);
  EXPECT_TRUE(log->read(6, 100));
  EXPECT_EQ(log->read(5, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
}

TEST(Retention, DeleteRecordsMovesLogStartAndDeletionIsDelayedAndSafeForReaders) {
  TempDir tmp;
  FileCache cache;
  LogConfig c;
  c.segment_bytes = 400;
  c.file_delete_delay_ms = 60000;
  std::string dir = tmp.sub("t-0");
  auto log = open_log(dir, cache, c);
  Bytes first = make_batch(1, 300, 0);
  Bytes copy = first;
  ASSERT_TRUE(log->append(first, 0));
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 300, i)));
  auto held = log->read(0, 1 << 20);  // a reader holds segment 0
  ASSERT_TRUE(held);
  ASSERT_EQ(held->ranges.size(), 1u);
  auto start = log->delete_records_before(3, 1000);
  ASSERT_TRUE(start);
  EXPECT_EQ(*start, 3);
  EXPECT_EQ(log->segment_base_offsets(), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(exists(dir + "/00000000000000000000.log.deleted"));
  EXPECT_FALSE(exists(dir + "/00000000000000000000.log"));
  log->delete_expired_files(1000 + 59999);
  EXPECT_TRUE(exists(dir + "/00000000000000000000.log.deleted"));
  log->delete_expired_files(1000 + 60000);
  EXPECT_FALSE(exists(dir + "/00000000000000000000.log.deleted"));
  EXPECT_FALSE(exists(dir + "/00000000000000000000.index.deleted"));
  // The reader's range still reads the batch it was given.
  Bytes buf(static_cast<size_t>(held->ranges[0].length));
  ASSERT_EQ(::pread(held->ranges[0].file->fd(), buf.data(), buf.size(), held->ranges[0].position),
            static_cast<ssize_t>(buf.size()));
  protocol::set_base_offset(copy, 0);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(copy.size())), copy);
  // Beyond the log end is out of range; offsets below the start read as out of range.
  EXPECT_EQ(log->delete_records_before(6, 0).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
  EXPECT_EQ(log->read(2, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
  auto r = log->read(3, 1 << 20);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->log_start_offset, 3);
}

TEST(Retention, LeftoverDeletedFilesAreRemovedAtOpen) {
  TempDir tmp;
  FileCache cache;
  LogConfig c;
  c.segment_bytes = 400;
  std::string dir = tmp.sub("t-0");
  {
    auto log = open_log(dir, cache, c);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 300, i)));
    ASSERT_TRUE(log->delete_records_before(2, 0));
  }
  EXPECT_TRUE(exists(dir + "/00000000000000000000.log.deleted"));
  auto log = open_log(dir, cache, c);
  EXPECT_FALSE(exists(dir + "/00000000000000000000.log.deleted"));
  // Segments 0 and 1 lay wholly below the log start offset 2.
  EXPECT_EQ(log->segment_base_offsets(), (std::vector<int64_t>{2}));
  EXPECT_FALSE(exists(dir + "/00000000000000000001.log.deleted"));
}

// Disk full: a small tmpfs mounted by the test (needs CAP_SYS_ADMIN; the
// test is skipped, saying so, where mounting is not allowed).
class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    mnt_ = tmp_.sub("mnt");
    std::filesystem::create_directories(mnt_);
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  bool mount_tmpfs(const char* options) {
    mounted_ = ::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, options) == 0;
    return mounted_;
  }
  // Appends batches of value_size + (i % 7) * 100 bytes until the disk is full,
  // then checks the error, that every acknowledged batch reads back and that
  // nothing torn is left, and that a recovery with space freed (the tmpfs
  // grown to `grown`) keeps exactly the acknowledged batches.
  void fill_and_recover(size_t value_size, const char* grown);
  TempDir tmp_;
  std::string mnt_;
  bool mounted_ = false;
};

void DiskFull::fill_and_recover(size_t value_size, const char* grown) {
  FileCache cache;
  LogConfig c;
  c.segment_index_bytes = 1024;
  std::string dir = mnt_ + "/t-0";
  int offline_calls = 0;
  int64_t acked_end = 0;
  int64_t acked_bytes = 0;
  {
    auto log = open_log(dir, cache, c);
    ASSERT_TRUE(log);
    log->set_on_offline([&] { ++offline_calls; });
    std::error_code err;
    for (int i = 0; i < 1000; ++i) {
      Bytes b = make_batch(1, value_size + static_cast<size_t>(i % 7) * 100, i);
      auto r = log->append(b, 0);
      if (!r) {
        err = r.error();
        break;
      }
      acked_end = r->log_end_offset;
      acked_bytes += static_cast<int64_t>(b.size());
    }
    ASSERT_EQ(err, make_error_code(StorageErrc::kStorageError));
    EXPECT_EQ(kafka_error_code(err), 56);  // KAFKA_STORAGE_ERROR
    EXPECT_TRUE(log->offline());
    EXPECT_EQ(offline_calls, 1);
    EXPECT_EQ(log->log_end_offset(), acked_end);
    EXPECT_EQ(test::file_size(dir + "/00000000000000000000.log"), acked_bytes);  // no torn batch left
    Bytes again = make_batch(1, 10, 0);
    EXPECT_EQ(log->append(again, 0).error(), make_error_code(StorageErrc::kLogDirOffline));
    // Every acknowledged batch is still readable.
    int64_t next = 0;
    while (next < acked_end) {
      auto r = log->read(next, 1 << 20);
      ASSERT_TRUE(r);
      Bytes buf(static_cast<size_t>(r->ranges.at(0).length));
      ASSERT_EQ(::pread(r->ranges[0].file->fd(), buf.data(), buf.size(), r->ranges[0].position),
                static_cast<ssize_t>(buf.size()));
      protocol::BatchIterator it{ByteView(buf)};
      while (auto b = it.next()) {
        if (!*b) break;
        EXPECT_TRUE((*b)->verify_crc());
        EXPECT_EQ((*b)->base_offset(), next);
        next = (*b)->last_offset() + 1;
      }
    }
    EXPECT_EQ(next, acked_end);
  }
  ASSERT_GT(acked_end, 10);
  // Space is freed (the tmpfs grows); a recovery keeps exactly the acknowledged batches.
  ASSERT_EQ(::mount("tmpfs", mnt_.c_str(), "tmpfs", MS_REMOUNT, grown), 0);
  auto log = open_log(dir, cache, c, /*clean=*/false);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), acked_end);
}

TEST_F(DiskFull, FailedAppendIsAStorageErrorAndTheLogStaysReadableAndConsistent) {
  if (!mount_tmpfs("size=256k")) GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  fill_and_recover(3000, "size=1m");
}

// Past 1 MiB the segment reserves space ahead (Segment::reserve_ahead) until
// a reservation no longer fits; the writes then fill what is left and fail as
// without reserving.
TEST_F(DiskFull, ASegmentThatReservesAheadFailsTheSameWayWhenTheDiskFills) {
  if (!mount_tmpfs("size=4m")) GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  fill_and_recover(60000, "size=16m");
}

}  // namespace
}  // namespace keel::storage
