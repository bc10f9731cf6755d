// Recovery after an unclean stop, including a crash test that SIGKILLs a
// writer process at random moments.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/log.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

std::unique_ptr<Log> open_log(const std::string& dir, FileCache& cache, const LogConfig& config, bool clean,
                              int64_t recovery_point = 0) {
  LogOpenOptions o;
  o.dir = dir;
  o.config = config;
  o.cache = &cache;
  o.clean_shutdown = clean;
  o.recovery_point = recovery_point;
  auto r = Log::open(o);
  return r ? std::move(*r) : nullptr;
}

Result<AppendResult> append_tmp(Log& log, Bytes b) { return log.append(b, 0); }

// Reads the whole log batch by batch; checks CRCs and contiguous offsets.
// Returns the batches' (base offset, base timestamp) or fails the test.
std::vector<std::pair<int64_t, int64_t>> read_all(Log& log) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t next = log.log_start_offset();
  while (next < log.log_end_offset()) {
    auto r = log.read(next, 1 << 20);
    EXPECT_TRUE(r);
    if (!r || r->ranges.empty()) break;
    const FileRange& fr = r->ranges[0];
    Bytes buf(static_cast<size_t>(fr.length));
    EXPECT_EQ(::pread(fr.file->fd(), buf.data(), buf.size(), fr.position), fr.length);
    protocol::BatchIterator it{ByteView(buf)};
    while (true) {
      auto b = it.next();
      EXPECT_TRUE(b);
      if (!b || !*b) break;
      EXPECT_TRUE((*b)->verify_crc()) << "corrupt batch readable at " << (*b)->base_offset();
      EXPECT_EQ((*b)->base_offset(), next);
      Bytes scratch;
      auto recs = (*b)->decode_records(scratch);
      EXPECT_TRUE(recs);
      out.emplace_back((*b)->base_offset(), (*b)->base_timestamp());
      next = (*b)->last_offset() + 1;
    }
    EXPECT_FALSE(it.partial_tail()) << "partial batch readable";
  }
  return out;
}

TEST(Recovery, TornTailIsTruncatedAtTheFirstInvalidByte) {
  TempDir tmp;
  FileCache cache;
  LogConfig config;
  std::string dir = tmp.sub("t-0");
  Bytes tail = make_batch(3, 100, 0);
  int64_t good_size;
  {
    auto log = open_log(dir, cache, config, true);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(2, 100, i)));
    good_size = log->size_bytes();
  }
  // Half a batch at the end, as a crash mid-write leaves it.
  std::string path = dir + "/00000000000000000000.log";
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(::write(fd, tail.data(), tail.size() / 2), static_cast<ssize_t>(tail.size() / 2));
  ::close(fd);
  auto log = open_log(dir, cache, config, /*clean=*/false);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), 20);
  EXPECT_EQ(test::file_size(path), good_size);
  EXPECT_EQ(read_all(*log).size(), 10u);
  auto r = append_tmp(*log, make_batch(1, 10, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_offset, 20);
}

TEST(Recovery, CorruptBatchEndsTheLogAndLaterSegmentsAreDeleted) {
  TempDir tmp;
  FileCache cache;
  LogConfig config;
  config.segment_bytes = 2000;
  std::string dir = tmp.sub("t-0");
  {
    auto log = open_log(dir, cache, config, true);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 300, i)));
    ASSERT_GE(log->segment_count(), 4u);
  }
  // Flip one byte inside the 2nd batch of the 2nd segment (CRC-covered area).
  auto log0 = open_log(dir, cache, config, true);
  auto bases = log0->segment_base_offsets();
  log0.reset();
  char name[64];
  std::snprintf(name, sizeof name, "/%020lld.log", static_cast<long long>(bases[1]));
  std::string path = dir + name;
  Bytes one = make_batch(1, 300, 0);
  int fd = ::open(path.c_str(), O_RDWR);
  uint8_t byte;
  off_t pos = static_cast<off_t>(one.size() + 100);
  ASSERT_EQ(::pread(fd, &byte, 1, pos), 1);
  byte ^= 0x55;
  ASSERT_EQ(::pwrite(fd, &byte, 1, pos), 1);
  ::close(fd);
  auto log = open_log(dir, cache, config, /*clean=*/false);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), bases[1] + 1);
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(test::file_size(path), static_cast<int64_t>(one.size()));
  EXPECT_EQ(read_all(*log).size(), static_cast<size_t>(bases[1] + 1));
}

TEST(Recovery, SegmentsBelowTheRecoveryPointAreNotRescanned) {
  TempDir tmp;
  FileCache cache;
  LogConfig config;
  config.segment_bytes = 2000;
  std::string dir = tmp.sub("t-0");
  std::vector<int64_t> bases;
  {
    auto log = open_log(dir, cache, config, true);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 300, i)));
    bases = log->segment_base_offsets();
  }
  // Corrupt the first segment's last byte; with the recovery point in the last
  // segment recovery never reads it (Kafka trusts flushed data).
  std::string first = dir + "/00000000000000000000.log";
  int64_t size = test::file_size(first);
  int fd = ::open(first.c_str(), O_RDWR);
  uint8_t b = 0xAA;
  ASSERT_EQ(::pwrite(fd, &b, 1, size - 1), 1);
  ::close(fd);
  auto log = open_log(dir, cache, config, false, bases.back());
  ASSERT_TRUE(log);
  EXPECT_EQ(test::file_size(first), size);
  EXPECT_EQ(log->segment_count(), bases.size());
}

// The writer: appends numbered batches, flushes every few, and reports each
// flushed log end offset through the pipe. Runs until killed.
// Record values are value_min + [0, value_spread) bytes.
struct CrashLoad {
  size_t value_min;
  size_t value_spread;
  int max_run_us;  // the writer is killed 2 ms to this long after it starts
};

[[noreturn]] void crash_writer(const std::string& dir, const LogConfig& config, int report_fd, unsigned seed,
                               const CrashLoad& load) {
  FileCache cache(16);
  auto log = open_log(dir, cache, config, /*clean=*/true);
  if (!log) _exit(3);
  std::mt19937 rng(seed);
  for (int i = 0; i < 4000; ++i) {
    int64_t next = log->log_end_offset();
    Bytes b = make_batch(1 + static_cast<int>(rng() % 4), load.value_min + rng() % load.value_spread, next);
    // The base timestamp is the offset the batch is meant for, so the parent
    // can tell a misplaced batch from the right one.
    auto r = log->append(b, 0);
    if (!r) _exit(4);
    if (rng() % 4 == 0) {
      if (!log->flush()) _exit(5);
      int64_t flushed = log->recovery_point();
      if (::write(report_fd, &flushed, sizeof flushed) != sizeof flushed) _exit(6);
    }
  }
  pause();
  _exit(0);
}

void sigkill_at_random_moments(const LogConfig& config, const CrashLoad& load, int iterations) {
  TempDir tmp;
  std::string dir = tmp.sub("crash-0");
  std::mt19937 rng(2026);
  int64_t max_flushed = 0;
  for (int iter = 0; iter < iterations; ++iter) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      crash_writer(dir, config, fds[1], static_cast<unsigned>(iter), load);
    }
    ::close(fds[1]);
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::microseconds(2000 + rng() % static_cast<unsigned>(load.max_run_us - 2000));
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1) > 0) {
        int64_t v;
        ssize_t n = ::read(fds[0], &v, sizeof v);
        if (n == sizeof v) max_flushed = std::max(max_flushed, v);
        if (n == 0) break;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    int64_t v;
    while (::read(fds[0], &v, sizeof v) == sizeof v) max_flushed = std::max(max_flushed, v);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early with " << WEXITSTATUS(status);

    // Every other round also tears the tail the way a power cut could.
    if (iter % 2 == 1) {
      FileCache c;
      auto probe = open_log(dir, c, config, false);
      ASSERT_TRUE(probe);
      auto bases = probe->segment_base_offsets();
      probe.reset();
      char name[64];
      std::snprintf(name, sizeof name, "/%020lld.log", static_cast<long long>(bases.back()));
      Bytes torn = make_batch(2, 100, 0);
      int fd = ::open((dir + name).c_str(), O_WRONLY | O_APPEND);
      ASSERT_GE(fd, 0);
      ASSERT_GT(::write(fd, torn.data(), 1 + rng() % (torn.size() - 1)), 0);
      ::close(fd);
    }

    FileCache cache;
    auto log = open_log(dir, cache, config, /*clean=*/false);
    ASSERT_TRUE(log);
    EXPECT_GE(log->log_end_offset(), max_flushed) << "iteration " << iter;
    auto batches = read_all(*log);
    // A writer killed before its first append leaves an empty log, which is
    // right as long as it had flushed nothing.
    if (max_flushed > 0) {
      ASSERT_FALSE(batches.empty()) << "iteration " << iter;
    }
    if (!batches.empty()) {
      EXPECT_EQ(batches.front().first, 0);
    }
    for (const auto& [base, ts] : batches) EXPECT_EQ(base, ts);
    ASSERT_TRUE(log->close());
  }
  EXPECT_GT(max_flushed, 0);
}

TEST(Recovery, CrashTestSigkillAtRandomMomentsLosesNoFlushedBatch) {
  LogConfig config;
  config.segment_bytes = 48 * 1024;
  config.index_interval_bytes = 512;
  config.segment_index_bytes = 4096;
  sigkill_at_random_moments(config, {20, 400, 42000}, 30);
}

// The same with segments large enough to reserve space ahead of their
// appends (Segment::reserve_ahead, from 1 MiB on): a kill leaves blocks
// reserved past the end of the data, which recovery must not read as data.
TEST(Recovery, CrashTestWithSpaceReservedAheadLosesNoFlushedBatch) {
  LogConfig config;
  config.segment_bytes = 6 << 20;
  config.index_interval_bytes = 64 << 10;
  sigkill_at_random_moments(config, {8000, 40000, 150000}, 12);
}

}  // namespace
}  // namespace keel::storage
