// Follower replication's storage side: append_as_follower, truncate_to,
// truncate_fully_and_start_at.

#include <unistd.h>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/leader_epoch_cache.h"
#include "storage/log.h"
#include "storage/log_manager.h"
#include "storage/checkpoint.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::TempDir;

struct Fixture {
  TempDir tmp;
  FileCache cache{64};
  LogConfig config;
  Fixture() {
    config.index_interval_bytes = 1;  // an index entry for (nearly) every batch
  }
  std::unique_ptr<Log> open(bool clean = true, int64_t recovery_point = 0, int64_t log_start = 0) {
    LogOpenOptions o;
    o.dir = tmp.sub("topic-0");
    o.config = config;
    o.cache = &cache;
    o.clean_shutdown = clean;
    o.recovery_point = recovery_point;
    o.log_start_offset = log_start;
    o.now_ms = 1000;
    auto r = Log::open(o);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
};

// A batch as a leader wrote it: base offset, `records` records, epoch, timestamps ts..ts+n-1.
Bytes leader_batch(int64_t base, int records, int32_t epoch, int64_t ts, size_t value_size = 10,
                   std::optional<int64_t> log_append_time = std::nullopt) {
  protocol::RecordBatchBuilder b(protocol::Compression::kNone, base);
  b.partition_leader_epoch(epoch);
  if (log_append_time) b.timestamp_type(protocol::TimestampType::kLogAppendTime).log_append_time(*log_append_time);
  Bytes value(value_size, 'v');
  for (int i = 0; i < records; ++i) {
    value[0] = static_cast<uint8_t>(base + i);
    b.add(ts + i, std::nullopt, ByteView(value));
  }
  auto r = b.build();
  EXPECT_TRUE(r);
  return std::move(*r);
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// `count` batches of `per` records from offset `from`, epoch `epoch`.
std::vector<Bytes> batches(int64_t from, int count, int per, int32_t epoch = 1, size_t value_size = 10) {
  std::vector<Bytes> out;
  for (int i = 0; i < count; ++i) out.push_back(leader_batch(from + i * per, per, epoch, 5000 + from + i * per, value_size));
  return out;
}

// Every byte of the log from its start, segment after segment.
Bytes read_all(Log& log) {
  Bytes out;
  int64_t off = log.log_start_offset();
  while (off < log.log_end_offset()) {
    auto r = log.read(off, 1 << 30);
    EXPECT_TRUE(r);
    if (!r || r->ranges.empty()) break;
    int64_t last = off;
    for (const auto& range : r->ranges) {
      Bytes chunk(static_cast<size_t>(range.length));
      EXPECT_EQ(::pread(range.file->fd(), chunk.data(), chunk.size(), range.position), range.length);
      protocol::BatchIterator it{ByteView(chunk)};
      while (auto n = it.next()) {
        if (!*n) break;
        last = (**n).last_offset();
      }
      out.insert(out.end(), chunk.begin(), chunk.end());
    }
    off = last + 1;
  }
  return out;
}

// The log as a crash leaves it: opened again (while the first Log object still
// exists, never closed) with its own descriptor cache.
std::unique_ptr<Log> reopen_crashed(const Fixture& f, const std::string& dir, bool clean, int64_t recovery_point,
                                    FileCache& cache) {
  LogOpenOptions o;
  o.dir = dir;
  o.config = f.config;
  o.cache = &cache;
  o.clean_shutdown = clean;
  o.recovery_point = recovery_point;
  auto r = Log::open(o);
  EXPECT_TRUE(r);
  return r ? std::move(*r) : nullptr;
}

TEST(LogReplica, FollowerAppendKeepsOffsetsAndTimestampsByteForByte) {
  Fixture f;
  f.config.message_timestamp_type = protocol::TimestampType::kLogAppendTime;  // not re-stamped
  f.config.max_message_bytes = 100;                                           // not enforced
  auto log = f.open();
  std::vector<Bytes> parts = {leader_batch(0, 3, 1, 100), leader_batch(3, 2, 1, 50, 300),
                              leader_batch(5, 2, 2, 200, 10, 777)};
  Bytes input = concat(parts);
  Bytes copy = input;
  auto r = log->append_as_follower(copy, 99999);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->first_offset, 0);
  EXPECT_EQ(r->last_offset, 6);
  EXPECT_EQ(r->log_end_offset, 7);
  EXPECT_EQ(r->log_append_time, -1);
  EXPECT_EQ(copy, input);  // the caller's bytes are untouched
  EXPECT_EQ(read_all(*log), input);
  auto ts = log->offset_for_timestamp(201);
  ASSERT_TRUE(ts);
  ASSERT_TRUE(*ts);
  EXPECT_EQ((*ts)->offset, 5);  // the LogAppendTime batch keeps the leader's 777
  // A second append continues.
  auto more = log->append_as_follower(leader_batch(7, 1, 2, 300), 99999);
  ASSERT_TRUE(more);
  EXPECT_EQ(more->first_offset, 7);
  EXPECT_EQ(log->log_end_offset(), 8);
}

TEST(LogReplica, GapOrOverlapIsRefusedAndChangesNothing) {
  Fixture f;
  auto log = f.open();
  ASSERT_TRUE(log->append_as_follower(concat(batches(0, 1, 5)), 0));
  int64_t size = log->size_bytes();
  auto refused = [&](const Bytes& b, bool gaps = false) {
    auto r = log->append_as_follower(b, 0, nullptr, gaps);
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error(), make_error_code(StorageErrc::kOffsetOutOfOrder));
    }
    EXPECT_EQ(log->log_end_offset(), 5);
    EXPECT_EQ(log->size_bytes(), size);
  };
  refused(leader_batch(3, 2, 1, 0));                                        // overlap
  refused(leader_batch(4, 2, 1, 0));                                        // overlap by one
  refused(leader_batch(7, 2, 1, 0));                                        // gap
  refused(concat({leader_batch(5, 2, 1, 0), leader_batch(8, 1, 1, 0)}));    // gap inside the set
  refused(concat({leader_batch(5, 2, 1, 0), leader_batch(6, 1, 1, 0)}));    // overlap inside the set
  refused(leader_batch(4, 2, 1, 0), true);                                  // overlap, even with gaps allowed
  refused(concat({leader_batch(5, 2, 1, 0), leader_batch(5, 2, 1, 0)}), true);
  EXPECT_STREQ(make_error_code(StorageErrc::kOffsetOutOfOrder).message().substr(0, 28).c_str(),
               "follower append out of order");
  // A compacted leader's holes, when allowed.
  auto r = log->append_as_follower(concat({leader_batch(7, 2, 1, 0), leader_batch(12, 1, 1, 0)}), 0, nullptr, true);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->first_offset, 7);
  EXPECT_EQ(r->last_offset, 12);
  EXPECT_EQ(log->log_end_offset(), 13);
  auto read = log->read(10, 1 << 20);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->ranges.size(), 1u);
  EXPECT_EQ(read->ranges[0].first_offset, 12);
}

TEST(LogReplica, CorruptBatchIsRefused) {
  Fixture f;
  auto log = f.open();
  Bytes b = concat(batches(0, 2, 3));
  b[b.size() - 3] ^= 0x5a;  // a record byte of the second batch
  auto r = log->append_as_follower(b, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(StorageErrc::kCorruptMessage));
  Bytes torn = concat(batches(0, 1, 3));
  torn.resize(torn.size() - 1);
  EXPECT_FALSE(log->append_as_follower(torn, 0));
  EXPECT_FALSE(log->append_as_follower(Bytes{}, 0));
  EXPECT_EQ(log->log_end_offset(), 0);
  EXPECT_EQ(log->size_bytes(), 0);
}

TEST(LogReplica, EpochCacheFollowsBatchEpochs) {
  Fixture f;
  auto log = f.open();
  auto epochs = LeaderEpochCache::open(log->dir());
  ASSERT_TRUE(epochs);
  Bytes set = concat({leader_batch(0, 3, 1, 0), leader_batch(3, 2, 1, 0), leader_batch(5, 1, -1, 0),
                      leader_batch(6, 2, 3, 0), leader_batch(8, 1, 2, 0), leader_batch(9, 1, 3, 0)});
  ASSERT_TRUE(log->append_as_follower(set, 0, &*epochs));
  EXPECT_EQ(epochs->entries(), (std::vector<EpochEntry>{{1, 0}, {3, 6}}));
  ASSERT_TRUE(log->append_as_follower(leader_batch(10, 2, 5, 0), 0, &*epochs));
  EXPECT_EQ(epochs->entries(), (std::vector<EpochEntry>{{1, 0}, {3, 6}, {5, 10}}));
  // Persisted.
  auto again = LeaderEpochCache::open(log->dir());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->entries(), epochs->entries());
}

TEST(LogReplica, FollowerAppendRollsAndSplitsASetLargerThanASegment) {
  Fixture f;
  std::vector<Bytes> parts = batches(0, 12, 2, 1, 200);
  f.config.segment_bytes = static_cast<int32_t>(3 * parts[0].size());  // 3 batches a segment
  auto log = f.open();
  Bytes input = concat(parts);
  ASSERT_GT(static_cast<int64_t>(input.size()), f.config.segment_bytes);
  auto r = log->append_as_follower(input, 0);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->last_offset, 23);
  EXPECT_EQ(log->segment_base_offsets(), (std::vector<int64_t>{0, 6, 12, 18}));
  EXPECT_EQ(read_all(*log), input);
  ASSERT_TRUE(log->close());
  log = f.open();
  EXPECT_EQ(read_all(*log), input);
  // Segment ms by the batches' timestamps, as append().
  f.config.segment_bytes = 1 << 20;
  log->set_config(f.config);
  auto late = leader_batch(24, 1, 1, 5000 + f.config.segment_ms + 1000);
  ASSERT_TRUE(log->append_as_follower(late, 0));
  EXPECT_EQ(log->segment_base_offsets().back(), 24);
  // One batch larger than a segment cannot be placed.
  f.config.segment_bytes = 100;
  log->set_config(f.config);
  auto big = log->append_as_follower(leader_batch(25, 1, 1, 0, 200), 0);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error(), make_error_code(StorageErrc::kRecordListTooLarge));
}

// 10 batches of 3 records (offsets 0..29), 3 batches a segment: segments 0, 9, 18, 27.
struct TruncFixture : Fixture {
  std::vector<Bytes> parts;
  std::unique_ptr<Log> log;
  std::optional<LeaderEpochCache> epochs;
  TruncFixture() {
    parts = batches(0, 4, 3, 1, 50);
    auto later = batches(12, 6, 3, 2, 50);
    parts.insert(parts.end(), later.begin(), later.end());
    config.segment_bytes = static_cast<int32_t>(3 * parts[0].size());  // all the same size
    log = open();
    auto e = LeaderEpochCache::open(log->dir());
    EXPECT_TRUE(e);
    epochs.emplace(std::move(*e));
    auto r = log->append_as_follower(concat(parts), 0, &*epochs);
    EXPECT_TRUE(r) << r.error().message();
  }
  Bytes prefix(size_t n) const { return concat(std::vector<Bytes>(parts.begin(), parts.begin() + n)); }
  // Every offset below the log end is found in the batch holding it.
  void expect_indexed() {
    for (int64_t o = 0; o < log->log_end_offset(); ++o) {
      auto r = log->read(o, 1);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->ranges.size(), 1u) << o;
      EXPECT_EQ(r->ranges[0].first_offset, o / 3 * 3) << o;
      auto ts = log->offset_for_timestamp(5000 + o);
      ASSERT_TRUE(ts && *ts) << o;
      EXPECT_EQ((*ts)->offset, o);
    }
    auto end = log->read(log->log_end_offset(), 1);
    ASSERT_TRUE(end);
    EXPECT_TRUE(end->ranges.empty());
  }
};

TEST(LogReplica, TruncateAtABatchBoundaryInsideASegment) {
  TruncFixture f;
  ASSERT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{0, 9, 18, 27}));
  f.log->set_high_watermark(25);
  ASSERT_TRUE(f.log->truncate_to(21, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 21);
  EXPECT_EQ(f.log->high_watermark(), 21);
  EXPECT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{0, 9, 18}));
  EXPECT_EQ(read_all(*f.log), f.prefix(7));
  EXPECT_EQ(f.epochs->entries(), (std::vector<EpochEntry>{{1, 0}, {2, 12}}));
  f.expect_indexed();
}

TEST(LogReplica, TruncateInsideABatchRemovesTheWholeBatch) {
  TruncFixture f;
  ASSERT_TRUE(f.log->truncate_to(22, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 21);  // the batch 21..23 went whole
  EXPECT_EQ(read_all(*f.log), f.prefix(7));
  ASSERT_TRUE(f.log->truncate_to(13, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 12);
  EXPECT_EQ(read_all(*f.log), f.prefix(4));
  EXPECT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{0, 9}));
  EXPECT_EQ(f.epochs->entries(), (std::vector<EpochEntry>{{1, 0}}));  // epoch 2 started at 12
  f.expect_indexed();
}

TEST(LogReplica, TruncateAcrossSegmentsToASegmentBaseAndToZero) {
  TruncFixture f;
  ASSERT_TRUE(f.log->truncate_to(9, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 9);
  EXPECT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{0, 9}));  // 9 kept, empty: the active one
  EXPECT_EQ(read_all(*f.log), f.prefix(3));
  EXPECT_EQ(f.log->pending_deletions(), 2u);
  f.expect_indexed();
  ASSERT_TRUE(f.log->truncate_to(4, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 3);
  EXPECT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{0}));
  f.expect_indexed();
  ASSERT_TRUE(f.log->truncate_to(0, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 0);
  EXPECT_EQ(f.log->log_start_offset(), 0);
  EXPECT_EQ(f.log->size_bytes(), 0);
  EXPECT_TRUE(f.epochs->entries().empty());
  // And it fills again from 0.
  ASSERT_TRUE(f.log->append_as_follower(concat(f.parts), 0, &*f.epochs));
  EXPECT_EQ(read_all(*f.log), concat(f.parts));
  f.expect_indexed();
}

TEST(LogReplica, TruncateAtOrBeyondTheLogEndIsANoOp) {
  TruncFixture f;
  int64_t size = f.log->size_bytes();
  ASSERT_TRUE(f.log->truncate_to(30, &*f.epochs));
  ASSERT_TRUE(f.log->truncate_to(1000, &*f.epochs));
  EXPECT_EQ(f.log->log_end_offset(), 30);
  EXPECT_EQ(f.log->size_bytes(), size);
  EXPECT_EQ(f.log->pending_deletions(), 0u);
  EXPECT_EQ(f.epochs->entries().size(), 2u);
  auto neg = f.log->truncate_to(-1);
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error(), make_error_code(StorageErrc::kOffsetOutOfRange));
}

TEST(LogReplica, AppendsContinueAfterTruncationAsLeaderAndAsFollower) {
  TruncFixture f;
  ASSERT_TRUE(f.log->truncate_to(16, &*f.epochs));
  ASSERT_EQ(f.log->log_end_offset(), 15);
  // As follower, a new leader's epoch 3 from 15.
  auto fol = f.log->append_as_follower(concat(batches(15, 2, 3, 3)), 0, &*f.epochs);
  ASSERT_TRUE(fol) << fol.error().message();
  EXPECT_EQ(fol->first_offset, 15);
  EXPECT_EQ(f.log->log_end_offset(), 21);
  EXPECT_EQ(f.epochs->entries(), (std::vector<EpochEntry>{{1, 0}, {2, 12}, {3, 15}}));
  // As leader: offsets assigned from the log end.
  Bytes b = leader_batch(0, 3, 4, 5021, 50);
  auto lead = f.log->append(b, 0);
  ASSERT_TRUE(lead);
  EXPECT_EQ(lead->first_offset, 21);
  EXPECT_EQ(f.log->log_end_offset(), 24);
  // A stale follower batch (overlap) is refused after all that.
  EXPECT_FALSE(f.log->append_as_follower(leader_batch(21, 1, 3, 0), 0));
  f.expect_indexed();
}

TEST(LogReplica, ReopenAfterTruncationGivesTheSameLog) {
  TruncFixture f;
  ASSERT_TRUE(f.log->truncate_to(14, &*f.epochs));
  Bytes expect = f.prefix(4);
  ASSERT_EQ(read_all(*f.log), expect);
  ASSERT_TRUE(f.log->close());
  f.log = f.open();
  EXPECT_EQ(f.log->log_end_offset(), 12);
  EXPECT_EQ(read_all(*f.log), expect);
  f.expect_indexed();
  // Appending after the reopen goes where it should.
  ASSERT_TRUE(f.log->append_as_follower(concat(batches(12, 2, 3, 2, 50)), 0));
  f.expect_indexed();
}

TEST(LogReplica, CrashRightAfterTruncationRecoversToTheTruncatedLog) {
  for (int64_t target : {int64_t{26}, int64_t{14}, int64_t{9}, int64_t{0}}) {
    TruncFixture f;
    ASSERT_TRUE(f.log->flush());
    int64_t old_recovery_point = f.log->recovery_point();
    ASSERT_EQ(old_recovery_point, 30);
    ASSERT_TRUE(f.log->truncate_to(target, &*f.epochs));
    EXPECT_LE(f.log->recovery_point(), f.log->log_end_offset());
    Bytes expect = read_all(*f.log);
    int64_t end = f.log->log_end_offset();
    // No close: the files as a crash leaves them, opened with the stale
    // checkpoint's recovery point (unclean) — and also as if clean.
    for (bool clean : {false, true}) {
      FileCache cache2{16};
      auto reopened = reopen_crashed(f, f.log->dir(), clean, old_recovery_point, cache2);
      ASSERT_TRUE(reopened);
      EXPECT_EQ(reopened->log_end_offset(), end) << target;
      EXPECT_EQ(read_all(*reopened), expect) << target;
    }
  }
}

TEST(LogReplica, AReaderOfATruncatedRangeDoesNotCrash) {
  TruncFixture f;
  auto before = f.log->read(27, 1 << 20);  // in a segment that goes
  ASSERT_TRUE(before);
  ASSERT_EQ(before->ranges.size(), 1u);
  auto cut = f.log->read(21, 1 << 20);  // in the segment that is cut
  ASSERT_TRUE(cut);
  ASSERT_EQ(cut->ranges.size(), 1u);
  ASSERT_TRUE(f.log->truncate_to(20));
  // The deleted segment's bytes stay readable through the held descriptor.
  const FileRange& r = before->ranges[0];
  Bytes old(static_cast<size_t>(r.length));
  EXPECT_EQ(::pread(r.file->fd(), old.data(), old.size(), r.position), r.length);
  EXPECT_EQ(old, f.parts.back());
  // The cut one comes up short.
  const FileRange& c = cut->ranges[0];
  Bytes tail(static_cast<size_t>(c.length));
  EXPECT_LT(::pread(c.file->fd(), tail.data(), tail.size(), c.position), c.length);
}

TEST(LogReplica, TruncateFullyAndStartAtThenFollowFromThere) {
  TruncFixture f;
  f.log->set_high_watermark(30);
  ASSERT_TRUE(f.log->truncate_fully_and_start_at(100, &*f.epochs));
  EXPECT_EQ(f.log->log_start_offset(), 100);
  EXPECT_EQ(f.log->log_end_offset(), 100);
  EXPECT_EQ(f.log->recovery_point(), 100);
  EXPECT_EQ(f.log->high_watermark(), 30);  // below: kept
  EXPECT_EQ(f.log->segment_base_offsets(), (std::vector<int64_t>{100}));
  EXPECT_TRUE(f.epochs->entries().empty());
  auto low = f.log->read(50, 100);
  ASSERT_FALSE(low);
  std::vector<Bytes> next = batches(100, 3, 3, 4, 50);
  auto r = f.log->append_as_follower(concat(next), 0, &*f.epochs);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->first_offset, 100);
  EXPECT_EQ(r->log_end_offset, 109);
  EXPECT_EQ(f.epochs->entries(), (std::vector<EpochEntry>{{4, 100}}));
  EXPECT_EQ(read_all(*f.log), concat(next));
  // A crash right after: the old segments do not come back.
  FileCache cache2{16};
  auto reopened = reopen_crashed(f, f.log->dir(), false, 30, cache2);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->log_start_offset(), 100);
  EXPECT_EQ(reopened->log_end_offset(), 109);
  EXPECT_EQ(read_all(*reopened), concat(next));
  // truncate_to below the first segment starts over too.
  ASSERT_TRUE(f.log->truncate_to(50, &*f.epochs));
  EXPECT_EQ(f.log->log_start_offset(), 50);
  EXPECT_EQ(f.log->log_end_offset(), 50);
  EXPECT_EQ(f.log->high_watermark(), 30);
}

TEST(LogReplica, TheLogManagerCheckpointsTheRecoveryPointAfterATruncation) {
  TempDir tmp;
  int64_t clock = 1000;
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1")};
  o.clock = [&clock] { return clock; };
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  auto log = (*m)->get_or_create({"t", 0}, LogConfig{});
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->append_as_follower(concat(batches(0, 5, 4)), 0));
  ASSERT_TRUE((*log)->flush());
  ASSERT_TRUE((*m)->checkpoint_recovery_points());
  std::string path = tmp.sub("d1/recovery-point-offset-checkpoint");
  EXPECT_EQ(read_offset_checkpoint(path)->at({"t", 0}), 20);
  ASSERT_TRUE((*log)->truncate_to(6));
  EXPECT_EQ(read_offset_checkpoint(path)->at({"t", 0}), 4);  // at once, not at the next interval
  ASSERT_TRUE((*log)->truncate_fully_and_start_at(50));
  EXPECT_EQ(read_offset_checkpoint(path)->at({"t", 0}), 50);
  EXPECT_EQ(read_offset_checkpoint(tmp.sub("d1/log-start-offset-checkpoint"))->size(), 0u);  // start = first segment
  ASSERT_TRUE((*m)->shutdown());
}

}  // namespace
}  // namespace keel::storage
