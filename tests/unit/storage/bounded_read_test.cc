#include <gtest/gtest.h>

#include "storage/errors.h"
#include "storage/log.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

struct Fixture {
  TempDir tmp;
  FileCache cache{16};
  std::unique_ptr<Log> log;
  Fixture() {
    LogOpenOptions o;
    o.dir = tmp.sub("t-0");
    o.cache = &cache;
    auto r = Log::open(o);
    EXPECT_TRUE(r);
    log = std::move(*r);
  }
  void append(int records) {
    Bytes b = make_batch(records, 50, 1000);
    ASSERT_TRUE(log->append(b, 1000));
  }
  // (first offset, bytes) of the read, or (-1, 0) when empty.
  std::pair<int64_t, int64_t> read(int64_t offset, int64_t max_offset, int64_t max_bytes = 1 << 20) {
    auto r = log->read(offset, max_bytes, true, max_offset);
    EXPECT_TRUE(r);
    if (!r || r->ranges.empty()) return {-1, 0};
    return {r->ranges[0].first_offset, r->total_bytes()};
  }
};

TEST(BoundedRead, StopsBeforeTheBatchHoldingMaxOffset) {
  Fixture f;
  f.append(3);  // 0..2
  f.append(3);  // 3..5
  f.append(3);  // 6..8
  auto all = f.log->read(0, 1 << 20);
  ASSERT_TRUE(all);
  int64_t batch = all->total_bytes() / 3;
  EXPECT_EQ(f.read(0, 9), std::make_pair(int64_t{0}, 3 * batch));
  EXPECT_EQ(f.read(0, 6), std::make_pair(int64_t{0}, 2 * batch));
  EXPECT_EQ(f.read(0, 5), std::make_pair(int64_t{0}, batch));  // 3..5 straddles 5: out
  EXPECT_EQ(f.read(4, 6), std::make_pair(int64_t{3}, batch));
  EXPECT_EQ(f.read(6, 6), std::make_pair(int64_t{-1}, int64_t{0}));
  EXPECT_EQ(f.read(0, 0), std::make_pair(int64_t{-1}, int64_t{0}));
  auto bad = f.log->read(10, 1 << 20, true, 5);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), make_error_code(StorageErrc::kOffsetOutOfRange));
}

TEST(BoundedRead, BoundAppliesAcrossSegments) {
  Fixture f;
  f.append(2);  // 0..1
  ASSERT_TRUE(f.log->roll(1000));
  f.append(2);  // 2..3
  f.append(2);  // 4..5
  auto first = f.read(0, 4);
  EXPECT_EQ(first.first, 0);
  EXPECT_EQ(f.read(2, 4).first, 2);
  EXPECT_EQ(f.read(2, 2).first, -1);
  EXPECT_EQ(f.read(0, 2).first, 0);
  auto two = f.log->read(2, 1 << 20, true, 4);
  auto all = f.log->read(2, 1 << 20, true);
  ASSERT_TRUE(two && all);
  EXPECT_EQ(two->total_bytes() * 2, all->total_bytes());
}

}  // namespace
}  // namespace keel::storage
