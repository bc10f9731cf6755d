#include "storage/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

struct Fixture {
  TempDir tmp;
  FileCache cache{64};
  LogConfig config;
  std::unique_ptr<Log> open(bool clean = true, int64_t recovery_point = 0, int64_t now = 1000) {
    LogOpenOptions o;
    o.dir = tmp.sub("topic-0");
    o.config = config;
    o.cache = &cache;
    o.clean_shutdown = clean;
    o.recovery_point = recovery_point;
    o.now_ms = now;
    auto r = Log::open(o);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
};

Result<AppendResult> append_tmp(Log& log, Bytes b, int64_t now = 0) { return log.append(b, now); }

Bytes read_range(const FileRange& r) {
  Bytes out(static_cast<size_t>(r.length));
  EXPECT_EQ(::pread(r.file->fd(), out.data(), out.size(), r.position), r.length);
  return out;
}

// Every batch in the bytes, as (base offset, last offset).
std::vector<std::pair<int64_t, int64_t>> batches_in(const Bytes& b) {
  std::vector<std::pair<int64_t, int64_t>> out;
  protocol::BatchIterator it{ByteView(b)};
  while (true) {
    auto n = it.next();
    EXPECT_TRUE(n);
    if (!n || !*n) break;
    EXPECT_TRUE((*n)->verify_crc());
    out.emplace_back((*n)->base_offset(), (*n)->last_offset());
  }
  EXPECT_FALSE(it.partial_tail());
  return out;
}

TEST(Log, AppendAssignsConsecutiveOffsetsByRewritingBaseOffset) {
  Fixture f;
  auto log = f.open();
  Bytes a = make_batch(3, 10, 100);
  auto r1 = log->append(a, 1000);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->first_offset, 0);
  EXPECT_EQ(r1->last_offset, 2);
  EXPECT_EQ(r1->log_end_offset, 3);
  Bytes b = make_batch(2, 10, 200);
  auto r2 = log->append(b, 1000);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->first_offset, 3);
  EXPECT_EQ(r2->last_offset, 4);
  EXPECT_EQ(log->log_end_offset(), 5);
  // The caller's buffer now carries the assigned base offset; the CRC is still valid.
  auto view = protocol::RecordBatchView::parse(b);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->base_offset(), 3);
  EXPECT_TRUE(view->verify_crc());
  // The .log holds the bytes unchanged.
  std::string raw = test::read_file(f.tmp.sub("topic-0/00000000000000000000.log"));
  ASSERT_EQ(raw.size(), a.size() + b.size());
  EXPECT_EQ(0, std::memcmp(raw.data() + a.size(), b.data(), b.size()));
}

TEST(Log, MultipleBatchesInOneAppendGetOffsetsInOrder) {
  Fixture f;
  auto log = f.open();
  Bytes a = make_batch(2, 5, 1), b = make_batch(4, 5, 1);
  Bytes both = a;
  both.insert(both.end(), b.begin(), b.end());
  auto r = log->append(both, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_offset, 0);
  EXPECT_EQ(r->last_offset, 5);
  auto rr = log->read(0, 1 << 20);
  ASSERT_TRUE(rr);
  auto got = batches_in(read_range(rr->ranges.at(0)));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], std::make_pair(int64_t{2}, int64_t{5}));
}

TEST(Log, OversizedBatchIsRefusedWithMessageTooLarge) {
  Fixture f;
  f.config.max_message_bytes = 500;
  auto log = f.open();
  Bytes big = make_batch(1, 600, 1);
  auto r = log->append(big, 0);
  EXPECT_EQ(r.error(), make_error_code(StorageErrc::kMessageTooLarge));
  EXPECT_EQ(kafka_error_code(r.error()), 10);
  EXPECT_EQ(log->log_end_offset(), 0);
}

TEST(Log, CorruptCrcTruncatedOrEmptyInputIsRefused) {
  Fixture f;
  auto log = f.open();
  Bytes b = make_batch(1, 20, 1);
  b[b.size() - 1] ^= 0xff;
  EXPECT_EQ(log->append(b, 0).error(), make_error_code(StorageErrc::kCorruptMessage));
  Bytes t = make_batch(1, 20, 1);
  t.resize(t.size() - 3);
  EXPECT_EQ(log->append(t, 0).error(), make_error_code(StorageErrc::kCorruptMessage));
  Bytes empty;
  EXPECT_EQ(log->append(empty, 0).error(), make_error_code(StorageErrc::kInvalidRecord));
  EXPECT_EQ(log->log_end_offset(), 0);
  EXPECT_EQ(log->size_bytes(), 0);
}

TEST(Log, LogAppendTimeRewritesMaxTimestampAndKeepsCrcValid) {
  Fixture f;
  f.config.message_timestamp_type = protocol::TimestampType::kLogAppendTime;
  auto log = f.open();
  Bytes b = make_batch(2, 10, 5);
  auto r = log->append(b, 777777);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->log_append_time, 777777);
  auto rr = log->read(0, 1 << 20);
  ASSERT_TRUE(rr);
  Bytes got = read_range(rr->ranges.at(0));
  auto view = protocol::RecordBatchView::parse(got);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->max_timestamp(), 777777);
  EXPECT_EQ(view->timestamp_type(), protocol::TimestampType::kLogAppendTime);
  EXPECT_TRUE(view->verify_crc());
}

TEST(Log, ReadReturnsWholeBatchesUpToMaxBytes) {
  Fixture f;
  auto log = f.open();
  std::vector<size_t> sizes;
  for (int i = 0; i < 10; ++i) {
    Bytes b = make_batch(1, 100, i);
    sizes.push_back(b.size());
    ASSERT_TRUE(log->append(b, 0));
  }
  // Room for 3.5 batches: exactly 3 come back.
  auto r = log->read(0, static_cast<int64_t>(sizes[0] * 3 + sizes[0] / 2));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->ranges.size(), 1u);
  EXPECT_EQ(r->ranges[0].length, static_cast<int64_t>(sizes[0] * 3));
  EXPECT_EQ(batches_in(read_range(r->ranges[0])).size(), 3u);
}

TEST(Log, ReadFromMidBatchOffsetStartsAtThatBatch) {
  Fixture f;
  auto log = f.open();
  ASSERT_TRUE(append_tmp(*log, make_batch(5, 10, 0), 0).ok());  // 0..4
  Bytes second = make_batch(5, 10, 0);
  ASSERT_TRUE(log->append(second, 0).ok());  // 5..9
  auto r = log->read(7, 1 << 20);
  ASSERT_TRUE(r);
  auto got = batches_in(read_range(r->ranges.at(0)));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 5);
  EXPECT_EQ(r->ranges[0].first_offset, 5);
}

TEST(Log, FirstBatchLargerThanMaxBytesIsReturnedWhole) {
  Fixture f;
  auto log = f.open();
  Bytes b = make_batch(1, 1000, 0);
  ASSERT_TRUE(log->append(b, 0).ok());
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 0), 0).ok());
  auto r = log->read(0, 10);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->ranges.size(), 1u);
  EXPECT_EQ(r->ranges[0].length, static_cast<int64_t>(b.size()));
  auto none = log->read(0, 10, /*min_one_batch=*/false);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->ranges.empty());
}

TEST(Log, ReadAtLogEndIsEmptyAndOutsideTheLogIsOutOfRange) {
  Fixture f;
  auto log = f.open();
  ASSERT_TRUE(append_tmp(*log, make_batch(2, 10, 0), 0).ok());
  auto end = log->read(2, 100);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->ranges.empty());
  EXPECT_EQ(end->log_end_offset, 2);
  EXPECT_EQ(log->read(3, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
  EXPECT_EQ(log->read(-1, 100).error(), make_error_code(StorageErrc::kOffsetOutOfRange));
}

TEST(Log, RollsWhenSegmentBytesWouldBeExceeded) {
  Fixture f;
  Bytes probe = make_batch(1, 200, 0);
  f.config.segment_bytes = static_cast<int64_t>(probe.size() * 3);
  auto log = f.open();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 200, 0), 0).ok());
  EXPECT_EQ(log->segment_base_offsets(), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_GT(test::file_size(f.tmp.sub("topic-0/00000000000000000003.log")), 0);
  // Rolled segments' indexes are trimmed to their used size.
  EXPECT_EQ(test::file_size(f.tmp.sub("topic-0/00000000000000000000.index")) % 8, 0);
  EXPECT_LT(test::file_size(f.tmp.sub("topic-0/00000000000000000000.index")), 1024);
  // The active segment's index is preallocated.
  EXPECT_EQ(test::file_size(f.tmp.sub("topic-0/00000000000000000006.index")), 10 * 1024 * 1024);
  // Reads cross segment boundaries by offset.
  auto r = log->read(4, 1 << 20);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ranges.at(0).first_offset, 4);
}

TEST(Log, RecordSetLargerThanSegmentBytesIsRecordListTooLarge) {
  Fixture f;
  f.config.segment_bytes = 100;
  auto log = f.open();
  Bytes b = make_batch(1, 200, 0);
  auto r = log->append(b, 0);
  EXPECT_EQ(r.error(), make_error_code(StorageErrc::kRecordListTooLarge));
  EXPECT_EQ(kafka_error_code(r.error()), 18);
}

TEST(Log, RollsBySegmentMsMeasuredFromFirstBatchTimestamp) {
  Fixture f;
  f.config.segment_ms = 1000;
  auto log = f.open();
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 10000), 10000).ok());
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 10500), 10500).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 11001), 11001).ok());
  EXPECT_EQ(log->segment_count(), 2u);
}

TEST(Log, RollsWhenTheOffsetIndexIsFull) {
  Fixture f;
  f.config.segment_index_bytes = 24;  // 3 offset entries, 2 time entries
  f.config.index_interval_bytes = 1;
  auto log = f.open();
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, i + 1), 0).ok());
  EXPECT_GT(log->segment_count(), 2u);
  // Everything is still readable in order.
  int64_t next = 0;
  while (next < log->log_end_offset()) {
    auto r = log->read(next, 1 << 20);
    ASSERT_TRUE(r);
    auto got = batches_in(read_range(r->ranges.at(0)));
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front().first, next);
    next = got.back().second + 1;
  }
}

TEST(Log, OffsetIndexGetsAnEntryAfterIndexIntervalBytes) {
  Fixture f;
  f.config.index_interval_bytes = 4096;
  auto log = f.open();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 1000, i), 0).ok());
  ASSERT_TRUE(log->close());
  int64_t entries = test::file_size(f.tmp.sub("topic-0/00000000000000000000.index")) / 8;
  // ~1085-byte batches: one entry per 4 batches after the first interval.
  EXPECT_GE(entries, 20);
  EXPECT_LE(entries, 25);
}

TEST(Log, OffsetForTimestampFindsFirstRecordAtOrAfter) {
  Fixture f;
  f.config.index_interval_bytes = 100;
  auto log = f.open();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(4, 50, 1000 + i * 10), 0).ok());
  // Batch i holds offsets 4i..4i+3 with timestamps 1000+10i .. +3.
  auto hit = log->offset_for_timestamp(1000 + 25 * 10 + 2);
  ASSERT_TRUE(hit);
  ASSERT_TRUE(*hit);
  EXPECT_EQ((*hit)->offset, 25 * 4 + 2);
  EXPECT_EQ((*hit)->timestamp, 1252);
  auto gap = log->offset_for_timestamp(1000 + 25 * 10 + 5);  // between batches
  ASSERT_TRUE(gap && *gap);
  EXPECT_EQ((*gap)->offset, 26 * 4);
  auto none = log->offset_for_timestamp(999999);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

// KIP-734 as Kafka answers it: the offset of the first record carrying the
// log's largest timestamp, not of the batch around it, compressed or not.
TEST(Log, MaxTimestampAnswersTheRecordThatCarriesIt) {
  using protocol::Compression;
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    Fixture f;
    f.config.segment_bytes = 1 << 20;
    auto log = f.open();
    auto batch = [c](std::initializer_list<int64_t> stamps) {
      protocol::RecordBatchBuilder b(c);
      for (int64_t ts : stamps) b.add(ts, std::nullopt, ByteView(reinterpret_cast<const uint8_t*>("v"), 1));
      auto r = b.build();
      EXPECT_TRUE(r);
      return std::move(*r);
    };
    ASSERT_TRUE(append_tmp(*log, batch({100, 900, 300, 900, 200})));  // offsets 0-4
    ASSERT_TRUE(log->roll(0));
    ASSERT_TRUE(append_tmp(*log, batch({500, 600})));  // 5-6, a later segment with less
    auto hit = log->max_timestamp_offset();
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ((*hit)->timestamp, 900);
    EXPECT_EQ((*hit)->offset, 1) << "codec " << static_cast<int>(c);
    // With the first of the two records deleted, the second one answers.
    ASSERT_TRUE(log->delete_records_before(2, 0));
    hit = log->max_timestamp_offset();
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ((*hit)->offset, 3);
    // A later segment with a larger timestamp wins.
    ASSERT_TRUE(append_tmp(*log, batch({950, 100})));  // 7-8
    hit = log->max_timestamp_offset();
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ((*hit)->timestamp, 950);
    EXPECT_EQ((*hit)->offset, 7);
  }
}

TEST(Log, ReopenAfterCleanCloseKeepsOffsetsAndContinues) {
  Fixture f;
  {
    auto log = f.open();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(2, 300, i), 0).ok());
    ASSERT_TRUE(log->close());
  }
  auto log = f.open();
  EXPECT_EQ(log->log_end_offset(), 40);
  auto r = append_tmp(*log, make_batch(1, 10, 0), 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_offset, 40);
  auto rr = log->read(39, 1 << 20);
  ASSERT_TRUE(rr);
  auto got = batches_in(read_range(rr->ranges.at(0)));
  EXPECT_EQ(got.front().first, 38);
  EXPECT_EQ(got.back().first, 40);
}

// st_blocks also counts the file's extent-tree blocks: a few KiB beside the
// data that no reservation explains.
constexpr int64_t kMetadataSlack = 64 << 10;

int64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<int64_t>(st.st_blocks) * 512;
}

// A busy segment has space reserved past its end (the file size stays at the
// data's end); a roll and a close give it back, and the data reads back whole.
TEST(Log, SpaceReservedAheadOfAppendsIsGivenBackAtRollAndClose) {
  Fixture f;
  // Not a multiple of the batch size: the segment rolls with reserved space left.
  f.config.segment_bytes = (8 << 20) + (200 << 10);
  const std::string first = f.tmp.sub("topic-0/00000000000000000000.log");
  std::vector<int64_t> offsets;
  {
    auto log = f.open();
    Bytes batch = test::make_batch_of_size(256 << 10, 0);
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(append_tmp(*log, batch, 0).ok());  // 2 MiB
    const int64_t size = test::file_size(first);
    EXPECT_EQ(size, static_cast<int64_t>(8 * batch.size()));
    if (allocated_bytes(first) <= size + kMetadataSlack) GTEST_SKIP() << "this filesystem does not reserve (fallocate)";
    EXPECT_GT(allocated_bytes(first), size + kMetadataSlack);
    // Up to the roll at 8 MiB: the reservation never passes segment.bytes.
    while (log->segment_base_offsets().size() == 1) {
      ASSERT_TRUE(append_tmp(*log, batch, 0).ok());
      if (log->segment_base_offsets().size() == 1) {
        EXPECT_LE(allocated_bytes(first), f.config.segment_bytes + kMetadataSlack);
      }
    }
    EXPECT_LT(allocated_bytes(first), test::file_size(first) + kMetadataSlack)
        << "the rolled segment kept its reservation";
    const std::string second = f.tmp.sub("topic-0/" + std::string(20 - std::to_string(log->segment_base_offsets()[1]).size(), '0') +
                                          std::to_string(log->segment_base_offsets()[1]) + ".log");
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(append_tmp(*log, batch, 0).ok());
    EXPECT_GT(allocated_bytes(second), test::file_size(second) + kMetadataSlack);
    ASSERT_TRUE(log->close());
    EXPECT_LT(allocated_bytes(second), test::file_size(second) + kMetadataSlack) << "close kept the reservation";
    offsets = log->segment_base_offsets();
  }
  auto log = f.open();
  EXPECT_EQ(log->segment_base_offsets(), offsets);
  const int64_t end = log->log_end_offset();
  int64_t next = 0;
  while (next < end) {
    auto r = log->read(next, 1 << 20);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->ranges.empty());
    auto got = batches_in(read_range(r->ranges.at(0)));
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front().first, next);
    next = got.back().second + 1;
  }
  EXPECT_EQ(next, end);
}

TEST(Log, CorruptIndexIsRebuiltNotTrusted) {
  Fixture f;
  f.config.index_interval_bytes = 10;
  {
    auto log = f.open();
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 50, i), 0).ok());
    ASSERT_TRUE(log->close());
  }
  // Scribble over the index: entries point nowhere sensible.
  std::string idx = f.tmp.sub("topic-0/00000000000000000000.index");
  int fd = ::open(idx.c_str(), O_WRONLY);
  uint8_t junk[16];
  std::memset(junk, 0x7f, sizeof junk);
  ASSERT_EQ(::pwrite(fd, junk, sizeof junk, 0), 16);
  ::close(fd);
  auto log = f.open();
  for (int64_t o : {0, 7, 15, 29}) {
    auto r = log->read(o, 1);
    ASSERT_TRUE(r);
    auto got = batches_in(read_range(r->ranges.at(0)));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, o);
  }
}

TEST(Log, PropertyRandomBatchSizesReadBackExactlyFromAnyOffset) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 5; ++round) {
    Fixture f;
    f.config.segment_bytes = 4096 + static_cast<int64_t>(rng() % 20000);
    f.config.index_interval_bytes = static_cast<int32_t>(rng() % 2000);
    auto log = f.open();
    std::vector<std::pair<int64_t, int64_t>> expected;
    for (int i = 0; i < 120; ++i) {
      int records = 1 + static_cast<int>(rng() % 5);
      size_t value = 1 + rng() % 700;
      Bytes b = make_batch(records, value, i);
      auto r = log->append(b, 0);
      ASSERT_TRUE(r);
      expected.emplace_back(r->first_offset, r->last_offset);
    }
    if (round % 2 == 1) {
      ASSERT_TRUE(log->close());
      log = f.open();
    }
    for (int q = 0; q < 60; ++q) {
      int64_t offset = static_cast<int64_t>(rng() % static_cast<uint64_t>(log->log_end_offset()));
      int64_t max_bytes = 1 + static_cast<int64_t>(rng() % 5000);
      auto r = log->read(offset, max_bytes);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->ranges.size(), 1u);
      auto got = batches_in(read_range(r->ranges[0]));
      ASSERT_FALSE(got.empty());
      // Starts at the batch containing `offset`, batches contiguous, within max_bytes unless one.
      auto it = std::find_if(expected.begin(), expected.end(), [&](auto& e) { return e.second >= offset; });
      EXPECT_EQ(got.front(), *it);
      for (size_t k = 1; k < got.size(); ++k) EXPECT_EQ(got[k].first, got[k - 1].second + 1);
      if (got.size() > 1) {
        EXPECT_LE(r->ranges[0].length, max_bytes);
      }
    }
  }
}

}  // namespace
}  // namespace keel::storage

namespace keel::storage {
namespace {

// The header scan reads small after a batch larger than its buffer and its
// usual chunk again once batches are small: with runs of large and small
// batches, reads from any offset (and the scan that recovers the log after an
// unclean stop) must still find every batch boundary and fill max_bytes with
// whole batches.
TEST(Log, ScansOverRunsOfLargeAndSmallBatchesFindEveryBatch) {
  std::mt19937 rng(777);
  Fixture f;
  f.config.segment_bytes = 64 << 20;
  f.config.index_interval_bytes = 8 << 20;  // few index entries: reads scan far
  std::vector<std::pair<int64_t, int64_t>> expected;
  std::vector<int64_t> sizes;
  {
    auto log = f.open();
    for (int run = 0; run < 12; ++run) {
      const bool large = run % 2 == 0;
      const int n = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) {
        const size_t value = large ? 70000 + rng() % 250000 : 1 + rng() % 3000;
        Bytes b = make_batch(1 + static_cast<int>(rng() % 3), value, static_cast<int>(expected.size()));
        sizes.push_back(static_cast<int64_t>(b.size()));
        auto r = log->append(b, 0);
        ASSERT_TRUE(r);
        expected.emplace_back(r->first_offset, r->last_offset);
      }
    }
    ASSERT_TRUE(log->flush());
  }  // no close: the reopen below recovers by scanning the segment
  auto log = f.open(false);
  ASSERT_EQ(log->log_end_offset(), expected.back().second + 1);
  for (int q = 0; q < 80; ++q) {
    const int64_t offset = static_cast<int64_t>(rng() % static_cast<uint64_t>(log->log_end_offset()));
    const int64_t max_bytes = 1 + static_cast<int64_t>(rng() % (3 << 20));
    auto r = log->read(offset, max_bytes);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->ranges.size(), 1u);
    auto got = batches_in(read_range(r->ranges[0]));
    size_t first = 0;
    while (expected[first].second < offset) ++first;
    // Whole batches from the one holding `offset`, as many as fit (at least one).
    size_t want = 0;
    int64_t bytes = 0;
    while (first + want < expected.size() && (want == 0 || bytes + sizes[first + want] <= max_bytes)) {
      bytes += sizes[first + want];
      ++want;
    }
    ASSERT_EQ(got.size(), want) << "offset " << offset << " max_bytes " << max_bytes;
    for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k], expected[first + k]);
    EXPECT_EQ(r->ranges[0].length, bytes);
  }
}

TEST(Log, GarbageAfterTheLastBatchIsCutEvenWithACleanMarker) {
  Fixture f;
  {
    auto log = f.open();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(1, 50, i)));
    ASSERT_TRUE(log->close());
  }
  std::string path = f.tmp.sub("topic-0/00000000000000000000.log");
  int64_t good = test::file_size(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(::write(fd, "\0\0\0\0\0\0\0\0\0\0\0\x40garbage", 19), 19);
  ::close(fd);
  auto log = f.open(/*clean=*/true);
  EXPECT_EQ(test::file_size(path), good);
  auto r = append_tmp(*log, make_batch(1, 50, 9));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_offset, 5);
  auto rr = log->read(5, 1 << 20);
  ASSERT_TRUE(rr);
  ASSERT_EQ(rr->ranges.size(), 1u);
  EXPECT_EQ(batches_in(read_range(rr->ranges[0])).front().first, 5);
}

TEST(Log, TimeIndexHoldsIncreasingMaxTimestampsAndAFinalEntryAtRoll) {
  Fixture f;
  f.config.index_interval_bytes = 1;
  auto log = f.open();
  int64_t ts[] = {100, 300, 200, 400, 400};
  for (int64_t t : ts) ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, t)));
  ASSERT_TRUE(log->roll(0));
  std::string raw = test::read_file(f.tmp.sub("topic-0/00000000000000000000.timeindex"));
  std::vector<std::pair<int64_t, int32_t>> entries;
  for (size_t i = 0; i + 12 <= raw.size(); i += 12) {
    auto* p = reinterpret_cast<const uint8_t*>(raw.data() + i);
    entries.emplace_back(load_be<int64_t>(p), load_be<int32_t>(p + 8));
  }
  // Entries come with offset entries (from the 2nd batch on): max so far 300
  // (offset 1) then 400 (offset 3); nothing new after. Strictly increasing.
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0], std::make_pair(int64_t{300}, int32_t{1}));
  EXPECT_EQ(entries[1], std::make_pair(int64_t{400}, int32_t{3}));
  auto hit = log->offset_for_timestamp(250);
  ASSERT_TRUE(hit && *hit);
  EXPECT_EQ((*hit)->offset, 1);
}

TEST(Log, SegmentJitterShortensTheRollIntervalWithinItsBound) {
  Fixture f;
  f.config.segment_ms = 10000;
  f.config.segment_jitter_ms = 5000;
  auto log = f.open();
  ASSERT_TRUE(log->roll(0));  // empty: no roll
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 1000)));
  ASSERT_TRUE(log->roll(0));  // the new segment draws a jitter in [0, 5000)
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 1000)));
  EXPECT_EQ(log->segment_count(), 2u);
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 1000 + 5000)));  // never rolls before segment.ms - jitter max
  EXPECT_EQ(log->segment_count(), 2u);
  ASSERT_TRUE(append_tmp(*log, make_batch(1, 10, 1000 + 10001)));  // always rolls after segment.ms
  EXPECT_EQ(log->segment_count(), 3u);
}

TEST(Log, ConcurrentAppendsReadsAndFlushesStayConsistent) {
  Fixture f;
  f.config.segment_bytes = 64 * 1024;
  auto log = f.open();
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done) {
      ASSERT_TRUE(log->flush());
    }
  });
  std::thread reader([&] {
    std::mt19937 rng(7);
    while (!done) {
      int64_t end = log->log_end_offset();
      if (end == 0) continue;
      auto r = log->read(static_cast<int64_t>(rng() % static_cast<uint64_t>(end)), 4096);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->ranges.size(), 1u);
      batches_in(read_range(r->ranges[0]));
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) ASSERT_TRUE(append_tmp(*log, make_batch(2, 100, i)));
    });
  for (auto& t : writers) t.join();
  done = true;
  flusher.join();
  reader.join();
  EXPECT_EQ(log->log_end_offset(), 2000);
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(log->recovery_point(), 2000);
}

TEST(Errors, StorageErrorsMapToKafkaCodes) {
  EXPECT_EQ(kafka_error_code({}), 0);
  EXPECT_EQ(kafka_error_code(StorageErrc::kCorruptMessage), 2);
  EXPECT_EQ(kafka_error_code(StorageErrc::kMessageTooLarge), 10);
  EXPECT_EQ(kafka_error_code(StorageErrc::kRecordListTooLarge), 18);
  EXPECT_EQ(kafka_error_code(StorageErrc::kOffsetOutOfRange), 1);
  EXPECT_EQ(kafka_error_code(StorageErrc::kStorageError), 56);
  EXPECT_EQ(kafka_error_code(StorageErrc::kLogDirOffline), 56);
  EXPECT_EQ(kafka_error_code(std::make_error_code(std::errc::io_error)), -1);
}

}  // namespace
}  // namespace keel::storage
