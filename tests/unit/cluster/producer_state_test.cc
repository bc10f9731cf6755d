// Idempotent producer rules (Kafka 3.x), the snapshot file format, and
// deduplication that survives a restart of the partition.

#include "cluster/producer_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "cluster/partition.h"
#include "cluster/producer_id_manager.h"
#include "protocol/record_batch.h"
#include "storage/log_manager.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

std::filesystem::path temp_dir(const char* tag) {
  auto p = std::filesystem::temp_directory_path() / (std::string("keel-") + tag + "-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(p);
  return p;
}

ProducerBatch b(int64_t pid, int16_t epoch, int32_t first, int32_t last, int64_t offset = -1) {
  ProducerBatch x;
  x.producer_id = pid;
  x.producer_epoch = epoch;
  x.base_sequence = first;
  x.last_sequence = last;
  x.first_offset = offset;
  x.last_offset = offset < 0 ? -1 : offset + (last - first);
  x.timestamp = 1000;
  return x;
}

class ProducerStateTest : public ::testing::Test {
 protected:
  ProducerStateTest() : dir_(temp_dir("pstate")), state_(dir_.string()) {}
  ~ProducerStateTest() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  ProducerStateManager state_;
};

TEST_F(ProducerStateTest, InOrderBatchesAreAccepted) {
  EXPECT_EQ(state_.check(b(7, 0, 0, 4)).error, ErrorCode::kNone);
  state_.record(b(7, 0, 0, 4, 0));
  EXPECT_EQ(state_.check(b(7, 0, 5, 9)).error, ErrorCode::kNone);
}

TEST_F(ProducerStateTest, TheGroupCoordinatorsBatchesAreNotSequenceCheckedButTheirEpochIs) {
  // TxnOffsetCommit's batches all start at sequence 0 (Kafka's
  // AppendOrigin.COORDINATOR): neither a duplicate nor out of order.
  ProducerBatch first = b(7, 2, 0, 0, 10);
  first.coordinator_origin = true;
  state_.record(first);
  ProducerBatch again = b(7, 2, 0, 0);
  again.coordinator_origin = true;
  auto c = state_.check(again);
  EXPECT_FALSE(c.duplicate);
  EXPECT_EQ(c.error, ErrorCode::kNone);
  EXPECT_TRUE(state_.check(b(7, 2, 0, 0)).duplicate);  // a client's batch would be one
  ProducerBatch stale = b(7, 1, 0, 0);
  stale.coordinator_origin = true;
  EXPECT_EQ(state_.check(stale).error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(ProducerStateTest, EachOfTheLastFiveBatchesIsAnsweredWithItsOriginalOffsets) {
  for (int i = 0; i < 7; ++i) state_.record(b(7, 0, i * 10, i * 10 + 9, 100 + i * 10));
  for (int i = 2; i < 7; ++i) {
    auto c = state_.check(b(7, 0, i * 10, i * 10 + 9));
    ASSERT_TRUE(c.duplicate) << "batch " << i;
    EXPECT_EQ(c.duplicate->first_offset, 100 + i * 10);
    EXPECT_EQ(c.duplicate->last_offset, 109 + i * 10);
  }
  auto old = state_.check(b(7, 0, 10, 19));
  EXPECT_FALSE(old.duplicate) << "only the last five batches are remembered";
  EXPECT_EQ(old.error, ErrorCode::kOutOfOrderSequenceNumber);
}

TEST_F(ProducerStateTest, AGapIsOutOfOrder) {
  state_.record(b(7, 0, 0, 4, 0));
  auto c = state_.check(b(7, 0, 6, 9));
  EXPECT_EQ(c.error, ErrorCode::kOutOfOrderSequenceNumber);
  EXPECT_NE(c.message.find("expected sequence 5"), std::string::npos) << c.message;
}

TEST_F(ProducerStateTest, AnOlderEpochIsInvalidProducerEpoch) {
  state_.record(b(7, 3, 0, 0, 0));
  EXPECT_EQ(state_.check(b(7, 2, 1, 1)).error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(ProducerStateTest, ANewEpochMustStartAtSequenceZero) {
  state_.record(b(7, 0, 0, 9, 0));
  EXPECT_EQ(state_.check(b(7, 1, 5, 9)).error, ErrorCode::kOutOfOrderSequenceNumber);
  EXPECT_EQ(state_.check(b(7, 1, 0, 3)).error, ErrorCode::kNone);
  state_.record(b(7, 1, 0, 3, 10));
  EXPECT_EQ(state_.check(b(7, 1, 4, 4)).error, ErrorCode::kNone);
  EXPECT_EQ(state_.check(b(7, 0, 10, 10)).error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(ProducerStateTest, SequencesWrapAroundAtIntMax) {
  state_.record(b(7, 0, INT32_MAX - 1, INT32_MAX, 0));
  EXPECT_EQ(state_.check(b(7, 0, 0, 4)).error, ErrorCode::kNone);
  EXPECT_EQ(state_.check(b(7, 0, 1, 4)).error, ErrorCode::kOutOfOrderSequenceNumber);
}

TEST_F(ProducerStateTest, AnUnknownProducerMayStartAtAnySequence) {
  // Kafka accepts it (its state may have expired or been deleted with old segments).
  EXPECT_EQ(state_.check(b(99, 4, 1234, 1240)).error, ErrorCode::kNone);
}

TEST_F(ProducerStateTest, IdleProducersExpire) {
  ProducerStateManager s(dir_.string(), 1000);
  s.record(b(7, 0, 0, 0, 0));  // timestamp 1000
  s.remove_expired(1500);
  EXPECT_EQ(s.producer_count(), 1u);
  s.remove_expired(2001);
  EXPECT_EQ(s.producer_count(), 0u);
}

TEST(ProducerSnapshot, BytesFollowKafkasFormat) {
  auto bytes = encode_producer_snapshot({{0x0102030405060708, 2, 9, 100, 4, 5000, -1, -1}});
  ASSERT_EQ(bytes.size(), 10u + 46u);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 1) << "version 1";
  EXPECT_EQ(bytes[6], 0);
  EXPECT_EQ(bytes[9], 1) << "one entry";
  const uint8_t producer_id[] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_TRUE(std::equal(producer_id, producer_id + 8, bytes.begin() + 10));
  EXPECT_EQ(bytes[18], 0);
  EXPECT_EQ(bytes[19], 2) << "epoch";
  EXPECT_EQ(bytes[23], 9) << "last sequence";
  EXPECT_EQ(bytes[31], 100) << "last offset";
  EXPECT_EQ(bytes[35], 4) << "offset delta";
  auto back = decode_producer_snapshot(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at(0).last_offset, 100);
  bytes[40] ^= 1;
  EXPECT_FALSE(decode_producer_snapshot(bytes)) << "a flipped bit fails the CRC";
  EXPECT_FALSE(decode_producer_snapshot({0, 1, 0})) << "truncated";
}

// Every byte checked by hand: version 1, CRC-32C (Castagnoli) of everything
// after the CRC field (computed independently of keel's crc32c), the entry
// count, then one entry: id, epoch, last sequence, last offset, offset delta,
// timestamp, coordinator epoch -1, current transaction first offset -1.
TEST(ProducerSnapshot, OneEntryEncodesToTheseExactBytes) {
  const std::vector<uint8_t> expected = {
      0x00, 0x01, 0xb7, 0xdb, 0xad, 0x7d, 0x00, 0x00, 0x00, 0x01,              // version, crc, count
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03,              // id 7, epoch 3
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,  // last seq 1, last offset 42
      0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0xa4,  // delta 3, timestamp 1700
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const SnapshotEntry entry{7, 3, 1, 42, 3, 1700, -1, -1};
  EXPECT_EQ(encode_producer_snapshot({entry}), expected);
  auto back = decode_producer_snapshot(expected);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->at(0), entry);
}

TEST(ProducerSnapshot, EveryTruncationAndEveryFlippedByteIsRefused) {
  const auto bytes = encode_producer_snapshot({{7, 3, 1, 42, 3, 1700, -1, -1}, {8, 0, 9, 50, 0, 1800, -1, -1}});
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_producer_snapshot(std::vector<uint8_t>(bytes.begin(), bytes.begin() + n))) << n << " bytes";
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x40;
    EXPECT_FALSE(decode_producer_snapshot(bad)) << "byte " << i;
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decode_producer_snapshot(longer)) << "trailing bytes";
}

// A snapshot keeps only a batch's last sequence and offset delta; a batch that
// wrapped past INT32_MAX must come back with its first sequence near INT32_MAX.
TEST_F(ProducerStateTest, ABatchThatWrappedTheSequenceIsStillADuplicateAfterReload) {
  ProducerBatch wrapped;
  wrapped.producer_id = 7;
  wrapped.producer_epoch = 3;
  wrapped.base_sequence = INT32_MAX - 1;
  wrapped.last_sequence = 1;
  wrapped.first_offset = 39;
  wrapped.last_offset = 42;
  wrapped.timestamp = 1000;
  state_.record(wrapped);
  ASSERT_TRUE(state_.take_snapshot(43));
  ProducerStateManager reloaded(dir_.string());
  EXPECT_EQ(reloaded.load(0, 43), 43);
  ProducerBatch retry = wrapped;
  retry.first_offset = retry.last_offset = -1;
  auto c = reloaded.check(retry);
  ASSERT_TRUE(c.duplicate);
  EXPECT_EQ(c.duplicate->first_offset, 39);
  EXPECT_EQ(c.duplicate->last_offset, 42);
  EXPECT_EQ(reloaded.check(b(7, 3, 2, 5)).error, ErrorCode::kNone) << "the next batch continues after 1";
}

TEST_F(ProducerStateTest, ASnapshotBelowTheLogStartStillRestoresItsProducers) {
  state_.record(b(7, 2, 0, 4, 0));
  ASSERT_TRUE(state_.take_snapshot(5));
  ProducerStateManager reloaded(dir_.string());
  EXPECT_EQ(reloaded.load(8, 20), 8) << "replay starts at the log start, not the snapshot";
  EXPECT_EQ(reloaded.producer_count(), 1u);
  EXPECT_EQ(reloaded.check(b(7, 2, 6, 6)).error, ErrorCode::kOutOfOrderSequenceNumber)
      << "the sequence survives the retention pass that deleted the producer's batches";
  EXPECT_EQ(reloaded.check(b(7, 1, 0, 0)).error, ErrorCode::kInvalidProducerEpoch);
}

TEST_F(ProducerStateTest, ProducersExpiredByLoadTimeAreNotLoaded) {
  ProducerStateManager s(dir_.string(), 1000);
  s.record(b(7, 0, 0, 0, 0));  // timestamp 1000
  auto late = b(8, 0, 0, 0, 1);
  late.timestamp = 5000;
  s.record(late);
  ASSERT_TRUE(s.take_snapshot(2));
  ProducerStateManager reloaded(dir_.string(), 1000);
  EXPECT_EQ(reloaded.load(0, 2, 5500), 2);
  EXPECT_EQ(reloaded.producer_count(), 1u) << "7 idle since 1000 is past the 1000 ms expiration at 5500";
  EXPECT_EQ(reloaded.check(b(8, 0, 0, 0)).duplicate.has_value(), true);
}

TEST_F(ProducerStateTest, FilesThatOnlyLookLikeSnapshotsAreNotListed) {
  std::ofstream(dir_ / "99999999999999999999.snapshot") << "x";  // > INT64_MAX
  std::ofstream(dir_ / "0000000000000000000a.snapshot") << "x";
  std::ofstream(dir_ / "00000000000000000007.snapshot.tmp") << "x";
  EXPECT_TRUE(state_.snapshot_offsets().empty());
  EXPECT_EQ(state_.load(3, 100), 3);
}

TEST_F(ProducerStateTest, SnapshotsReloadAndNewerOnesThanTheLogEndAreDropped) {
  state_.record(b(7, 0, 0, 4, 0));
  ASSERT_TRUE(state_.take_snapshot(5));
  state_.record(b(7, 0, 5, 9, 5));
  ASSERT_TRUE(state_.take_snapshot(10));
  ProducerStateManager reloaded(dir_.string());
  EXPECT_EQ(reloaded.load(0, 7), 5) << "the snapshot at 10 is past a log truncated to 7";
  EXPECT_EQ(reloaded.snapshot_offsets(), std::vector<int64_t>{5});
  auto dup = reloaded.check(b(7, 0, 0, 4));
  ASSERT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.duplicate->first_offset, 0);
  std::ofstream(dir_ / "00000000000000000005.snapshot", std::ios::trunc) << "garbage";
  ProducerStateManager corrupt(dir_.string());
  EXPECT_EQ(corrupt.load(0, 7), 0) << "a corrupt snapshot is ignored: replay from the log start";
  EXPECT_TRUE(corrupt.snapshot_offsets().empty()) << "and deleted";
}

// Restart at the manager level: a snapshot taken midway, then the batches
// after it replayed (as the partition does from the log), answer every
// candidate batch exactly as the state that never restarted. Each producer
// writes at least five batches after the snapshot, so both remember the same
// five; with fewer, the reloaded state knows only the snapshot's last batch,
// as in Kafka.
TEST_F(ProducerStateTest, LoadPlusReplayDecidesEveryBatchAsBeforeTheRestart) {
  std::vector<ProducerBatch> log;
  int64_t offset = 0;
  auto append = [&](int64_t pid, int16_t epoch, int32_t first, int32_t count) {
    ProducerBatch x = b(pid, epoch, first, first + count - 1, offset);
    offset += count;
    log.push_back(x);
  };
  for (int i = 0; i < 4; ++i) append(1, 0, i * 3, 3);
  append(2, 5, 100, 2);
  int64_t snapshot_at = -1;
  size_t replay_from = 0;
  for (const auto& x : log) state_.record(x);
  ASSERT_TRUE(state_.take_snapshot(offset));
  snapshot_at = offset;
  replay_from = log.size();
  for (int i = 4; i < 10; ++i) append(1, 0, i * 3, 3);
  append(2, 6, 0, 4);  // an epoch bump after the snapshot
  for (int i = 1; i < 6; ++i) append(2, 6, i * 4, 4);
  append(3, 0, 0, 1);  // a producer the snapshot never saw
  for (size_t i = replay_from; i < log.size(); ++i) state_.record(log[i]);

  ProducerStateManager rebuilt(dir_.string());
  ASSERT_EQ(rebuilt.load(0, offset), snapshot_at);
  for (size_t i = replay_from; i < log.size(); ++i) rebuilt.record(log[i]);
  EXPECT_EQ(rebuilt.producer_count(), state_.producer_count());

  int compared = 0;
  for (int64_t pid : {1, 2, 3, 4}) {
    for (int16_t epoch : {0, 4, 5, 6, 7}) {
      for (int32_t first = 0; first < 40; ++first) {
        for (int32_t count : {1, 3, 4}) {
          const ProducerBatch candidate = b(pid, epoch, first, first + count - 1);
          const ProducerCheck want = state_.check(candidate);
          const ProducerCheck got = rebuilt.check(candidate);
          ASSERT_EQ(got.error, want.error) << pid << "/" << epoch << "/" << first << "+" << count;
          ASSERT_EQ(got.duplicate.has_value(), want.duplicate.has_value()) << pid << "/" << epoch << "/" << first;
          if (want.duplicate) {
            EXPECT_EQ(got.duplicate->first_offset, want.duplicate->first_offset);
            EXPECT_EQ(got.duplicate->last_offset, want.duplicate->last_offset);
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 4 * 5 * 40 * 3);
}

TEST(ProducerIdManager, IdsAreUniqueAcrossBlocksAndThreads) {
  std::mutex mu;
  int64_t next_block = 0;
  ProducerIdManager ids([&]() -> Result<std::pair<int64_t, int64_t>> {
    std::lock_guard lock(mu);
    const int64_t first = next_block;
    next_block += 10;
    return std::make_pair(first, first + 9);
  });
  std::vector<std::vector<int64_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) got[t].push_back(ids.next_id().value());
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.rbegin(), 999);
}

// The partition level: a retried batch gets its original offsets, also after
// the partition is reopened over the same log. As in Kafka, a snapshot keeps
// each producer's last batch, so that is the one a restart still recognises.
TEST(IdempotentPartition, ARetryIsDeduplicatedAcrossARestart) {
  auto dir = temp_dir("idem");
  auto make_batch = [](int32_t seq, int n) {
    protocol::RecordBatchBuilder builder;
    builder.producer(42, 0, seq);
    for (int i = 0; i < n; ++i) {
      Bytes v = {static_cast<uint8_t>(i)};
      builder.add(1000 + i, std::nullopt, ByteView(v));
    }
    return builder.build().value();
  };
  for (int round = 0; round < 2; ++round) {
    storage::LogManagerOptions o;
    o.log_dirs = {dir.string()};
    auto manager = storage::LogManager::open(o).value();
    storage::Log* log = manager->get_or_create({"t", 0}, storage::LogConfig{}, "").value();
    Partition p({"t", 0}, protocol::Uuid::random(), log, 1);
    ASSERT_TRUE(p.apply_leader_state({1, 0, 0, {1}, {1}}));
    if (round == 0) {
      Bytes first = make_batch(0, 3);
      auto v = validate_produce_records(first, {});
      ASSERT_EQ(p.append_as_leader(v, -1, 0).base_offset, 0);
      Bytes second = make_batch(3, 2);
      v = validate_produce_records(second, {});
      ASSERT_EQ(p.append_as_leader(v, -1, 0).base_offset, 3);
      p.snapshot_producer_state();
    }
    // A retry of the last batch (after the restart in round 1).
    Bytes retry = make_batch(3, 2);
    auto v = validate_produce_records(retry, {});
    auto out = p.append_as_leader(v, -1, 0);
    EXPECT_EQ(out.error, ErrorCode::kNone);
    EXPECT_EQ(out.base_offset, 3) << "round " << round;
    EXPECT_EQ(p.log_end_offset(), 5) << "nothing appended for the duplicate";
    Bytes gap = make_batch(9, 1);
    v = validate_produce_records(gap, {});
    EXPECT_EQ(p.append_as_leader(v, -1, 0).error, ErrorCode::kOutOfOrderSequenceNumber);
    (void)manager->shutdown();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::cluster

namespace keel::cluster {
namespace {

// Without a snapshot (a crash), the state is replayed from the log itself:
// every one of the last five batches is recognised again.
TEST(IdempotentPartition, WithoutASnapshotTheLogIsReplayed) {
  auto dir = temp_dir("idem-replay");
  auto make_batch = [](int32_t seq, int n) {
    protocol::RecordBatchBuilder builder;
    builder.producer(42, 0, seq);
    for (int i = 0; i < n; ++i) {
      Bytes v = {static_cast<uint8_t>(i)};
      builder.add(1000 + i, std::nullopt, ByteView(v));
    }
    return builder.build().value();
  };
  for (int round = 0; round < 2; ++round) {
    storage::LogManagerOptions o;
    o.log_dirs = {dir.string()};
    auto manager = storage::LogManager::open(o).value();
    storage::Log* log = manager->get_or_create({"t", 0}, storage::LogConfig{}, "").value();
    Partition p({"t", 0}, protocol::Uuid::random(), log, 1);
    ASSERT_TRUE(p.apply_leader_state({1, 0, 0, {1}, {1}}));
    if (round == 0) {
      for (int i = 0; i < 3; ++i) {
        Bytes batch = make_batch(i * 2, 2);
        auto v = validate_produce_records(batch, {});
        ASSERT_EQ(p.append_as_leader(v, -1, 0).base_offset, i * 2);
      }
    } else {
      EXPECT_EQ(p.producer_count(), 1u) << "rebuilt from the log";
      Bytes retry = make_batch(0, 2);
      auto v = validate_produce_records(retry, {});
      auto out = p.append_as_leader(v, -1, 0);
      EXPECT_EQ(out.error, ErrorCode::kNone);
      EXPECT_EQ(out.base_offset, 0);
      EXPECT_EQ(p.log_end_offset(), 6);
    }
    (void)manager->shutdown();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::cluster
