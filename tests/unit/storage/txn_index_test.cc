// The aborted-transaction index (.txnindex), transaction markers, and the
// Log's transaction hooks: lookup, truncation, retention, recovery.

#include "storage/txn_index.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/errors.h"
#include "storage/log.h"
#include "storage/txn_marker.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::TempDir;

constexpr int64_t kTs = 1'700'000'000'000;

bool exists(const std::string& p) { return std::filesystem::exists(p); }

TEST(TxnIndexFormat, EntryIsKafkasThirtyFourBytes) {
  const Bytes b = encode_aborted_txns({{0x0102030405060708, 5, 9, 10}});
  ASSERT_EQ(b.size(), 34u);
  const Bytes want = {0x00, 0x00,                                      // version 0
                      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // producerId
                      0, 0, 0, 0, 0, 0, 0, 5,                          // firstOffset
                      0, 0, 0, 0, 0, 0, 0, 9,                          // lastOffset
                      0, 0, 0, 0, 0, 0, 0, 10};                        // lastStableOffset
  EXPECT_EQ(b, want);
  auto back = decode_aborted_txns(ByteView(b), 0);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], (AbortedTxn{0x0102030405060708, 5, 9, 10}));
}

TEST(TxnIndexFormat, SanityCheckRefusesTornOrStrangeFiles) {
  Bytes two = encode_aborted_txns({{1, 0, 3, 4}, {2, 1, 7, 8}});
  EXPECT_TRUE(decode_aborted_txns(ByteView(two), 0));
  EXPECT_FALSE(decode_aborted_txns(ByteView(two).subspan(0, 50), 0));  // torn entry
  EXPECT_FALSE(decode_aborted_txns(ByteView(two), 4));                 // a marker below the segment
  EXPECT_FALSE(decode_aborted_txns(ByteView(two), 0, 7));               // a marker past its end
  Bytes swapped = encode_aborted_txns({{2, 1, 7, 8}, {1, 0, 3, 4}});
  EXPECT_FALSE(decode_aborted_txns(ByteView(swapped), 0));  // markers out of order
  Bytes v1 = two;
  v1[1] = 1;
  EXPECT_FALSE(decode_aborted_txns(ByteView(v1), 0));  // version 1
}

TEST(TxnIndex, CreatedOnFirstAppendAndCollectsAsKafka) {
  TempDir tmp;
  FileCache cache(8);
  const std::string path = tmp.sub("00000000000000000000.txnindex");
  {
    TransactionIndex idx(cache, path, 0);
    EXPECT_TRUE(idx.empty());
    EXPECT_FALSE(exists(path));
    ASSERT_TRUE(idx.append({7, 0, 10, 5}));
    ASSERT_TRUE(idx.append({8, 5, 20, 21}));
    ASSERT_TRUE(idx.append({9, 22, 30, 31}));
    ASSERT_TRUE(idx.append({7, 0, 10, 5}));  // a replay: already there
    EXPECT_EQ(test::file_size(path), 3 * 34);
  }
  TransactionIndex idx(cache, path, 0);
  ASSERT_TRUE(idx.load());
  std::vector<AbortedTxn> out;
  // Markers at or after 11 with first offsets below 25: the second and the
  // third, whose lastStableOffset (31) reaches the bound: complete.
  auto complete = idx.collect(11, 25, out);
  ASSERT_TRUE(complete);
  EXPECT_TRUE(*complete);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].producer_id, 8);
  EXPECT_EQ(out[1].producer_id, 9);
  // No entry's lastStableOffset reaches 50: later segments may matter.
  out.clear();
  complete = idx.collect(0, 50, out);
  ASSERT_TRUE(complete);
  EXPECT_FALSE(*complete);
  EXPECT_EQ(out.size(), 3u);
  // The search stops at the second entry (lastStableOffset 21 >= 21).
  out.clear();
  complete = idx.collect(0, 21, out);
  ASSERT_TRUE(complete);
  EXPECT_TRUE(*complete);
  EXPECT_EQ(out.size(), 2u);
  ASSERT_TRUE(idx.truncate_to(20));
  EXPECT_EQ(test::file_size(path), 34);
  auto left = idx.entries();
  ASSERT_TRUE(left);
  EXPECT_EQ(*left, (std::vector<AbortedTxn>{{7, 0, 10, 5}}));
}

TEST(TxnMarker, ControlRecordsInKafkasFormat) {
  auto abort = build_marker_batch({42, 3, false, 7}, kTs, 5);
  ASSERT_TRUE(abort);
  auto view = protocol::RecordBatchView::parse(ByteView(*abort));
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->is_control());
  EXPECT_TRUE(view->is_transactional());
  EXPECT_EQ(view->producer_id(), 42);
  EXPECT_EQ(view->producer_epoch(), 3);
  EXPECT_EQ(view->base_sequence(), -1);
  EXPECT_EQ(view->partition_leader_epoch(), 5);
  EXPECT_TRUE(view->verify_crc());
  Bytes scratch;
  auto recs = view->decode_records(scratch);
  ASSERT_TRUE(recs);
  ASSERT_EQ(recs->size(), 1u);
  // kafkajs recognises an abort marker by these key bytes.
  EXPECT_EQ(Bytes((*recs)[0].key->begin(), (*recs)[0].key->end()), (Bytes{0, 0, 0, 0}));
  EXPECT_EQ(Bytes((*recs)[0].value->begin(), (*recs)[0].value->end()), (Bytes{0, 0, 0, 0, 0, 7}));
  auto parsed = parse_marker(*view);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->commit);
  EXPECT_EQ(parsed->coordinator_epoch, 7);

  auto commit = build_marker_batch({42, 3, true, 8}, kTs);
  ASSERT_TRUE(commit);
  auto cview = protocol::RecordBatchView::parse(ByteView(*commit));
  ASSERT_TRUE(cview);
  EXPECT_EQ(control_type(*cview), std::optional<int16_t>(1));
  EXPECT_TRUE(parse_marker(*cview)->commit);

  // A data batch is no marker.
  protocol::RecordBatchBuilder data;
  data.add(kTs, std::nullopt, std::nullopt);
  auto d = data.build();
  auto dview = protocol::RecordBatchView::parse(ByteView(*d));
  EXPECT_FALSE(parse_marker(*dview));
  EXPECT_FALSE(control_type(*dview));
}

// A log with small segments for the Log-level tests.
struct TxnLog {
  TempDir tmp;
  FileCache cache{64};
  LogConfig config;
  std::unique_ptr<Log> log;
  TxnLog() {
    config.segment_bytes = 4096;
    open(true);
  }
  std::string dir() const { return tmp.sub("t-0"); }
  void open(bool clean) {
    log.reset();
    LogOpenOptions o;
    o.dir = dir();
    o.config = config;
    o.cache = &cache;
    o.clean_shutdown = clean;
    o.now_ms = kTs;
    auto r = Log::open(o);
    ASSERT_TRUE(r) << r.error().message();
    log = std::move(*r);
  }
  // A transactional batch of `n` records of about 300 bytes for `pid`.
  int64_t data(int64_t pid, int n = 1) {
    protocol::RecordBatchBuilder b;
    b.producer(pid, 0, 0).transactional(true);
    const std::string v(300, 'v');
    for (int i = 0; i < n; ++i) b.add(kTs, std::nullopt, ByteView(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
    auto bytes = b.build();
    auto r = log->append(*bytes, kTs);
    EXPECT_TRUE(r);
    return r->first_offset;
  }
  int64_t marker(int64_t pid, bool commit) {
    auto bytes = build_marker_batch({pid, 0, commit, 1}, kTs);
    auto r = log->append(*bytes, kTs);
    EXPECT_TRUE(r);
    return r->first_offset;
  }
  // A transaction of `pid` with one batch, aborted and indexed: {first offset, marker offset}.
  std::pair<int64_t, int64_t> abort_one(int64_t pid) {
    const int64_t f = data(pid);
    const int64_t m = marker(pid, false);
    EXPECT_TRUE(log->append_aborted_txn({pid, f, m, m + 1}));
    return {f, m};
  }
  // How many aborted transactions a fetch of [0, end) gets.
  size_t aborted_below(int64_t end) {
    auto got = log->collect_aborted_txns(0, end);
    EXPECT_TRUE(got);
    return got ? got->size() : 0;
  }
  std::string txn_index_of(int64_t base) const { return dir() + "/" + segment_file_name(base, kTxnIndexSuffix); }
};

TEST(LogTxn, AbortedTransactionsSpanSegmentsSortedByFirstOffset) {
  TxnLog t;
  // Producer 1 and 2 interleave; 2 began first but aborts last.
  const int64_t f2 = t.data(2);
  const int64_t f1 = t.data(1);
  for (int i = 0; i < 20; ++i) t.data(i % 2 + 1);  // several segments of 4 KiB
  const int64_t m1 = t.marker(1, false);
  ASSERT_TRUE(t.log->append_aborted_txn({1, f1, m1, f2}));
  const int64_t m2 = t.marker(2, false);
  ASSERT_TRUE(t.log->append_aborted_txn({2, f2, m2, m2 + 1}));
  ASSERT_GT(t.log->segment_count(), 2u);
  EXPECT_EQ(t.log->append_aborted_txn({3, 0, t.log->log_end_offset(), 0}).error(),
            make_error_code(StorageErrc::kOffsetOutOfRange));

  // Reading the first batch only: both transactions began at or below it.
  auto got = t.log->collect_aborted_txns(0, f1 + 1);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].producer_id, 2);  // sorted by first offset
  EXPECT_EQ((*got)[1].producer_id, 1);
  // Only the first transaction began below f1.
  got = t.log->collect_aborted_txns(0, f1);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].producer_id, 2);
  // A fetch past the first marker does not see its transaction.
  got = t.log->collect_aborted_txns(m1 + 1, m2 + 1);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].producer_id, 2);
  EXPECT_TRUE(exists(t.txn_index_of(t.log->segment_base_offsets().back())));
}

TEST(LogTxn, TruncationDropsEntriesOfRemovedMarkers) {
  TxnLog t;
  const auto [f, m] = t.abort_one(1);
  ASSERT_TRUE(t.log->truncate_to(m));
  EXPECT_EQ(t.aborted_below(m + 1), 0u);
  EXPECT_EQ(test::file_size(t.txn_index_of(0)), 0);
}

TEST(LogTxn, RetentionTakesTheIndexWithItsSegment) {
  TxnLog t;
  t.config.retention_bytes = 1;
  t.log->set_config(t.config);
  (void)t.abort_one(1);
  while (t.log->segment_count() < 3) t.data(2);
  ASSERT_TRUE(exists(t.txn_index_of(0)));
  auto deleted = t.log->apply_retention(kTs);
  ASSERT_TRUE(deleted);
  EXPECT_GE(*deleted, 1);
  EXPECT_FALSE(exists(t.txn_index_of(0)));
  EXPECT_TRUE(exists(t.txn_index_of(0) + ".deleted"));
  t.log->delete_expired_files(kTs + 3'600'000);
  EXPECT_FALSE(exists(t.txn_index_of(0) + ".deleted"));
}

TEST(LogTxn, CleanRestartKeepsIndexesUncleanOneAsksForARebuild) {
  TxnLog t;
  const auto [f, m] = t.abort_one(1);
  ASSERT_TRUE(t.log->close());
  t.open(true);
  EXPECT_EQ(t.log->txn_index_rebuild_from(), -1);
  EXPECT_EQ(t.aborted_below(m + 1), 1u);

  // After a crash the partition is told where to rebuild from; the entry
  // of a marker that survived is kept, a replayed one is not doubled.
  t.open(false);
  EXPECT_EQ(t.log->txn_index_rebuild_from(), 0);
  ASSERT_TRUE(t.log->append_aborted_txn({1, f, m, m + 1}));
  EXPECT_EQ(t.aborted_below(m + 1), 1u);
  EXPECT_EQ(test::file_size(t.txn_index_of(0)), 34);
  t.log->txn_index_rebuilt();
  EXPECT_EQ(t.log->txn_index_rebuild_from(), -1);
}

TEST(LogTxn, RecoveryDropsEntriesWhoseMarkersWereLost) {
  TxnLog t;
  const auto [f, m] = t.abort_one(1);
  ASSERT_TRUE(t.log->close());
  t.log.reset();
  // The crash tore the marker off the log; its index entry was written.
  const std::string seg = t.dir() + "/" + segment_file_name(0, ".log");
  std::filesystem::resize_file(seg, std::filesystem::file_size(seg) - 3);
  t.open(false);
  EXPECT_EQ(t.log->log_end_offset(), m);
  EXPECT_EQ(t.aborted_below(m + 1), 0u);
  EXPECT_EQ(test::file_size(t.txn_index_of(0)), 0);
}

TEST(LogTxn, CorruptIndexIsRemovedAndRebuilt) {
  TxnLog t;
  (void)t.abort_one(1);
  while (t.log->segment_count() < 2) t.data(2);
  ASSERT_TRUE(t.log->close());
  t.log.reset();
  {
    std::ofstream out(t.txn_index_of(0), std::ios::binary | std::ios::app);
    out << "torn";
  }
  t.open(true);
  EXPECT_EQ(t.log->txn_index_rebuild_from(), 0);
  EXPECT_FALSE(exists(t.txn_index_of(0)));
}

}  // namespace
}  // namespace keel::storage
