#include "storage/index.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "storage/errors.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::TempDir;

TEST(OffsetIndex, NewFileIsPreallocatedToMaxSizeRoundedToEntrySize) {
  TempDir dir;
  FileCache cache;
  OffsetIndex idx(cache, dir.sub("0.index"), 100, 1003);
  ASSERT_TRUE(idx.create());
  EXPECT_EQ(test::file_size(dir.sub("0.index")), 1000);
  EXPECT_EQ(idx.max_entries(), 125u);
}

TEST(OffsetIndex, EntriesAreKafkaEightByteRelativeBigEndian) {
  TempDir dir;
  FileCache cache;
  OffsetIndex idx(cache, dir.sub("0.index"), 1000, 80);
  ASSERT_TRUE(idx.create());
  ASSERT_TRUE(idx.append(1005, 4200));
  ASSERT_TRUE(idx.trim());
  std::string raw = test::read_file(dir.sub("0.index"));
  ASSERT_EQ(raw.size(), 8u);
  auto* p = reinterpret_cast<const uint8_t*>(raw.data());
  EXPECT_EQ(load_be<int32_t>(p), 5);
  EXPECT_EQ(load_be<int32_t>(p + 4), 4200);
}

TEST(OffsetIndex, LookupFindsGreatestEntryAtOrBelowTarget) {
  TempDir dir;
  FileCache cache;
  OffsetIndex idx(cache, dir.sub("0.index"), 100, 1024);
  ASSERT_TRUE(idx.create());
  ASSERT_TRUE(idx.append(110, 1000));
  ASSERT_TRUE(idx.append(120, 2000));
  ASSERT_TRUE(idx.append(130, 3000));
  EXPECT_EQ(idx.lookup(105).position, 0);
  EXPECT_EQ(idx.lookup(105).offset, 100);
  EXPECT_EQ(idx.lookup(110).position, 1000);
  EXPECT_EQ(idx.lookup(119).position, 1000);
  EXPECT_EQ(idx.lookup(125).position, 2000);
  EXPECT_EQ(idx.lookup(1000000).position, 3000);
}

TEST(OffsetIndex, ReportsFullAtCapacity) {
  TempDir dir;
  FileCache cache;
  OffsetIndex idx(cache, dir.sub("0.index"), 0, 16);
  ASSERT_TRUE(idx.create());
  EXPECT_FALSE(idx.full());
  ASSERT_TRUE(idx.append(1, 10));
  ASSERT_TRUE(idx.append(2, 20));
  EXPECT_TRUE(idx.full());
}

TEST(OffsetIndex, ReloadDropsZeroTailAndKeepsEntries) {
  TempDir dir;
  FileCache cache;
  {
    OffsetIndex idx(cache, dir.sub("0.index"), 50, 1024);
    ASSERT_TRUE(idx.create());
    ASSERT_TRUE(idx.append(60, 100));
    ASSERT_TRUE(idx.append(70, 200));
    ASSERT_TRUE(idx.persist());  // entries reach the file in persist(), not per append
  }
  OffsetIndex idx(cache, dir.sub("0.index"), 50, 1024);
  ASSERT_TRUE(idx.load(10000));
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_EQ(idx.lookup(75).position, 200);
}

TEST(OffsetIndex, LoadRejectsOutOfOrderEntriesAndPositionsPastTheLog) {
  TempDir dir;
  FileCache cache;
  {
    OffsetIndex idx(cache, dir.sub("0.index"), 0, 1024);
    ASSERT_TRUE(idx.create());
    ASSERT_TRUE(idx.append(10, 500));
    ASSERT_TRUE(idx.persist());
  }
  OffsetIndex idx(cache, dir.sub("0.index"), 0, 1024);
  auto r = idx.load(400);  // entry points past a 400-byte log
  EXPECT_EQ(r.error(), make_error_code(StorageErrc::kCorruptMessage));
  // Garbage bytes: decreasing offsets.
  int fd = ::open(dir.sub("1.index").c_str(), O_CREAT | O_WRONLY, 0644);
  uint8_t raw[16];
  store_be<int32_t>(raw, 9);
  store_be<int32_t>(raw + 4, 100);
  store_be<int32_t>(raw + 8, 3);
  store_be<int32_t>(raw + 12, 200);
  ASSERT_EQ(::write(fd, raw, 16), 16);
  ::close(fd);
  OffsetIndex bad(cache, dir.sub("1.index"), 0, 1024);
  EXPECT_FALSE(bad.load(100000));
}

TEST(TimeIndex, EntriesAreTwelveBytesAndOnlyIncreasingTimestampsAreAdded) {
  TempDir dir;
  FileCache cache;
  TimeIndex idx(cache, dir.sub("0.timeindex"), 100, 120);
  ASSERT_TRUE(idx.create());
  EXPECT_EQ(test::file_size(dir.sub("0.timeindex")), 120);
  ASSERT_TRUE(idx.maybe_append(5000, 105));
  ASSERT_TRUE(idx.maybe_append(5000, 107));  // not greater: skipped
  ASSERT_TRUE(idx.maybe_append(4000, 108));  // smaller: skipped
  ASSERT_TRUE(idx.maybe_append(6000, 110));
  EXPECT_EQ(idx.size(), 2u);
  ASSERT_TRUE(idx.trim());
  std::string raw = test::read_file(dir.sub("0.timeindex"));
  ASSERT_EQ(raw.size(), 24u);
  auto* p = reinterpret_cast<const uint8_t*>(raw.data());
  EXPECT_EQ(load_be<int64_t>(p), 5000);
  EXPECT_EQ(load_be<int32_t>(p + 8), 5);
  EXPECT_EQ(load_be<int64_t>(p + 12), 6000);
  EXPECT_EQ(load_be<int32_t>(p + 20), 10);
}

TEST(TimeIndex, LookupFindsGreatestTimestampAtOrBelow) {
  TempDir dir;
  FileCache cache;
  TimeIndex idx(cache, dir.sub("0.timeindex"), 0, 1200);
  ASSERT_TRUE(idx.create());
  ASSERT_TRUE(idx.maybe_append(100, 10));
  ASSERT_TRUE(idx.maybe_append(200, 20));
  EXPECT_EQ(idx.lookup(50).offset, 0);
  EXPECT_EQ(idx.lookup(150).offset, 10);
  EXPECT_EQ(idx.lookup(200).offset, 20);
  EXPECT_EQ(idx.lookup(999).timestamp, 200);
}

TEST(FileCache, KeepsAtMostCapacityDescriptorsAndEvictedHandlesStayUsable) {
  TempDir dir;
  FileCache cache(2);
  FileSlot a, b, c;
  a.path = dir.sub("a");
  b.path = dir.sub("b");
  c.path = dir.sub("c");
  auto fa = cache.get(a);
  ASSERT_TRUE(fa);
  ASSERT_TRUE(cache.get(b));
  ASSERT_TRUE(cache.get(c));
  EXPECT_EQ(cache.cached(), 2u);
  // `a` was evicted from the cache but the caller's handle still works.
  EXPECT_EQ(::pwrite((*fa)->fd(), "x", 1, 0), 1);
  EXPECT_EQ(test::read_file(dir.sub("a")), "x");
  cache.forget(a);
  cache.forget(b);
  cache.forget(c);
}

}  // namespace
}  // namespace keel::storage
