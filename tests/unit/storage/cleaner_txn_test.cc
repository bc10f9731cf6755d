// The cleaner and transactions: aborted records go, committed ones are
// compacted as usual, markers stay until their transaction's data is gone
// and delete.retention.ms has passed, nothing at or past the LSO is cleaned.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/cleaner.h"
#include "storage/cleaner_txn.h"
#include "storage/txn_marker.h"
#include "test_util.h"

namespace keel::storage {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kHour = 3'600'000;

class CleanerTxnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.cleanup_policy = CleanupPolicy::kCompact;
    config_.segment_bytes = 1 << 20;
    config_.delete_retention_ms = kHour;
    reopen();
  }
  void reopen() {
    log_.reset();
    LogOpenOptions o;
    o.dir = tmp_.sub("txn-0");
    o.config = config_;
    o.cache = &cache_;
    o.now_ms = kT0;
    auto r = Log::open(o);
    ASSERT_TRUE(r);
    log_ = std::move(*r);
  }

  // One record key=value; pid >= 0 makes it transactional.
  int64_t put(const std::string& key, const std::string& value, int64_t pid = -1) {
    protocol::RecordBatchBuilder b;
    if (pid >= 0) b.producer(pid, 0, seq_[pid]++).transactional(true);
    b.add(kT0, ByteView(reinterpret_cast<const uint8_t*>(key.data()), key.size()),
          ByteView(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
    auto bytes = b.build();
    auto r = log_->append(*bytes, kT0);
    EXPECT_TRUE(r);
    return r->first_offset;
  }
  int64_t end_txn(int64_t pid, bool commit, int64_t first) {
    auto bytes = build_marker_batch({pid, 0, commit, 1}, kT0);
    auto r = log_->append(*bytes, kT0);
    EXPECT_TRUE(r);
    if (!commit) {
      EXPECT_TRUE(log_->append_aborted_txn({pid, first, r->first_offset, r->first_offset + 1}));
    }
    return r->first_offset;
  }

  // A sealed segment of fresh data, so that the next pass runs.
  void dirty() {
    put("other-" + std::to_string(++dirty_count_), "y");
    ASSERT_TRUE(log_->roll(kT0));
  }

  struct View {
    std::map<std::string, std::string> latest;  // key -> value, data records in order
    std::vector<std::pair<int64_t, bool>> markers;  // (offset, commit) of readable markers
  };
  View view() {
    View v;
    auto r = log_->read(log_->log_start_offset(), 1 << 24, true);
    EXPECT_TRUE(r);
    for (const auto& fr : r->ranges) {
      Bytes bytes(static_cast<size_t>(fr.length));
      EXPECT_EQ(::pread(fr.file->fd(), bytes.data(), bytes.size(), fr.position), fr.length);
      protocol::BatchIterator it{ByteView(bytes)};
      while (auto n = it.next()) {
        if (!*n) break;
        const auto& b = **n;
        EXPECT_TRUE(b.verify_crc());
        if (b.is_control()) {
          if (auto m = parse_marker(b)) v.markers.emplace_back(b.base_offset(), m->commit);
          continue;
        }
        Bytes scratch;
        auto recs = b.decode_records(scratch);
        EXPECT_TRUE(recs);
        for (const auto& rec : *recs) {
          v.latest[std::string(rec.key->begin(), rec.key->end())] = std::string(rec.value->begin(), rec.value->end());
        }
      }
    }
    return v;
  }

  test::TempDir tmp_;
  FileCache cache_{32};
  LogConfig config_;
  std::unique_ptr<Log> log_;
  std::map<int64_t, int32_t> seq_;
  int dirty_count_ = 0;
};

TEST_F(CleanerTxnTest, AbortedRecordsGoCommittedStayMarkersWaitForTheirHorizon) {
  put("k", "plain-1");
  const int64_t c_first = put("k", "committed", 7);  // committed txn of producer 7
  const int64_t commit_at = end_txn(7, true, c_first);
  const int64_t a_first = put("k", "aborted", 8);  // aborted txn of producer 8: must not hide "committed"
  put("only-aborted", "x", 8);
  const int64_t abort_at = end_txn(8, false, a_first);
  ASSERT_TRUE(log_->roll(kT0));

  Cleaner cleaner;
  auto s1 = cleaner.clean(*log_, 0, kT0);
  ASSERT_TRUE(s1) << s1.error().message();
  View v = view();
  EXPECT_EQ(v.latest, (std::map<std::string, std::string>{{"k", "committed"}}));
  // First pass: the abort marker stays (its data was there), with its index entry.
  EXPECT_EQ(v.markers, (std::vector<std::pair<int64_t, bool>>{{commit_at, true}, {abort_at, false}}));
  auto entries = log_->collect_aborted_txns(0, log_->log_end_offset());
  ASSERT_TRUE(entries);
  EXPECT_EQ(entries->size(), 1u);

  // A clean segment, but delete.retention.ms has not passed: markers stay.
  // (A pass needs something dirty to run at all.)
  dirty();
  auto s2 = cleaner.clean(*log_, s1->cleaned_up_to, kT0 + kHour / 2);
  ASSERT_TRUE(s2);
  EXPECT_EQ(view().markers.size(), 2u);

  // Past the horizon: the abort marker (no data left) goes with its index
  // entry; the commit marker stays (its record is still the latest of "k").
  dirty();
  auto s3 = cleaner.clean(*log_, s2->cleaned_up_to, kT0 + 2 * kHour);
  ASSERT_TRUE(s3);
  v = view();
  EXPECT_EQ(v.latest["k"], "committed");
  EXPECT_FALSE(v.latest.contains("only-aborted"));
  EXPECT_EQ(v.markers, (std::vector<std::pair<int64_t, bool>>{{commit_at, true}}));
  entries = log_->collect_aborted_txns(0, log_->log_end_offset());
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
  EXPECT_FALSE(std::filesystem::exists(tmp_.sub("txn-0") + "/" + segment_file_name(0, kTxnIndexSuffix)));
}

TEST_F(CleanerTxnTest, CommitMarkerGoesOnceItsRecordsAreCompactedAway) {
  const int64_t first = put("k", "old", 7);
  end_txn(7, true, first);
  put("k", "new");  // supersedes the transaction's only record
  ASSERT_TRUE(log_->roll(kT0));
  Cleaner cleaner;
  auto s1 = cleaner.clean(*log_, 0, kT0);
  ASSERT_TRUE(s1);
  EXPECT_EQ(view().markers.size(), 1u);  // pass 1 still saw the batch
  dirty();
  ASSERT_TRUE(cleaner.clean(*log_, s1->cleaned_up_to, kT0 + 2 * kHour));
  View v = view();
  EXPECT_TRUE(v.markers.empty());
  EXPECT_EQ(v.latest["k"], "new");
}

TEST_F(CleanerTxnTest, NothingAtOrPastTheLastStableOffsetIsCleaned) {
  put("k", "v1");
  const int64_t open_first = put("k", "in-open-txn", 9);  // never ends
  ASSERT_TRUE(log_->roll(kT0));
  put("k", "v3");
  ASSERT_TRUE(log_->roll(kT0));
  log_->set_last_stable_offset(open_first);
  Cleaner cleaner;
  auto s = cleaner.clean(*log_, 0, kT0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->segments_rewritten, 0);
  EXPECT_EQ(s->cleaned_up_to, 0);
  // Once the transaction is decided, cleaning goes ahead.
  log_->set_last_stable_offset(INT64_MAX);
  s = cleaner.clean(*log_, 0, kT0);
  ASSERT_TRUE(s);
  EXPECT_GT(s->segments_rewritten, 0);
}

// A child cleans and is SIGKILLed right after `step` of the first pass
// (aborted data removed, marker and index entry kept: a new .txnindex goes
// with the new segment) or of a later one (marker and entry removed). The
// reopened log has a .txnindex entry for an abort marker exactly when the
// marker is still there: never an entry without its marker (it would hide
// the producer's later transactions), never a lost one.
class CleanerTxnCrashTest : public CleanerTxnTest,
                            public ::testing::WithParamInterface<std::tuple<Cleaner::Step, bool>> {};

TEST_P(CleanerTxnCrashTest, TheIndexFollowsTheSwap) {
  const auto [step, first_pass] = GetParam();
  const int64_t c_first = put("k", "committed", 7);
  end_txn(7, true, c_first);
  const int64_t a_first = put("k", "aborted", 8);
  end_txn(8, false, a_first);
  ASSERT_TRUE(log_->roll(kT0));
  int64_t first_dirty = 0;
  if (!first_pass) {
    auto s1 = Cleaner().clean(*log_, 0, kT0);
    ASSERT_TRUE(s1);
    first_dirty = s1->cleaned_up_to;
    dirty();
  }
  ASSERT_TRUE(log_->close());
  log_.reset();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    reopen();
    Cleaner cleaner([&](Cleaner::Step s) {
      if (s == step) ::raise(SIGKILL);
    });
    (void)cleaner.clean(*log_, first_dirty, kT0 + 2 * kHour);
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  reopen();
  std::vector<int64_t> abort_markers;
  for (const auto& [offset, commit] : view().markers) {
    if (!commit) abort_markers.push_back(offset);
  }
  auto entries = log_->collect_aborted_txns(0, log_->log_end_offset());
  ASSERT_TRUE(entries);
  std::vector<int64_t> indexed;
  for (const auto& e : *entries) indexed.push_back(e.last_offset);
  EXPECT_EQ(indexed, abort_markers);
  if (first_pass) {
    EXPECT_EQ(abort_markers.size(), 1u) << "the first pass keeps the marker";
  }
  for (const auto& entry : std::filesystem::directory_iterator(tmp_.sub("txn-0"))) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find(".swap"), std::string::npos) << name;
    EXPECT_EQ(name.find(".cleaned"), std::string::npos) << name;
  }
  // The pass completes after the restart, and aborted data stays invisible.
  ASSERT_TRUE(Cleaner().clean(*log_, 0, kT0 + 2 * kHour));
  EXPECT_EQ(view().latest["k"], "committed");
}

INSTANTIATE_TEST_SUITE_P(EachSwapStep, CleanerTxnCrashTest,
                         ::testing::Combine(::testing::Values(Cleaner::Step::kCleanedWritten,
                                                              Cleaner::Step::kRenamedToSwap,
                                                              Cleaner::Step::kOldRenamedToDeleted,
                                                              Cleaner::Step::kSwapRenamedToLog),
                                            ::testing::Bool()));

TEST(AbortedTxnTracker, FollowsEachProducersAbortedRange) {
  auto batch = [](int64_t pid, int64_t offset, bool txn) {
    protocol::RecordBatchBuilder b(protocol::Compression::kNone, offset);
    b.producer(pid, 0, 0).transactional(txn).add(kT0, std::nullopt, std::nullopt);
    return *b.build();
  };
  auto marker = [](int64_t pid, int64_t offset, bool commit) {
    Bytes b = *build_marker_batch({pid, 0, commit, 0}, kT0);
    protocol::set_base_offset(b, offset);
    return b;
  };
  auto view = [](const Bytes& b) { return *protocol::RecordBatchView::parse(ByteView(b)); };
  AbortedTxnTracker t({{1, 2, 4, 5}});
  const Bytes b0 = batch(1, 0, true), b1 = batch(1, 1, false), b2 = batch(1, 2, true), b3 = batch(2, 3, true);
  const Bytes m4 = marker(1, 4, false), b5 = batch(1, 5, true), m6 = marker(2, 6, true);
  EXPECT_FALSE(t.on_data_batch(view(b0)));  // before the aborted range
  EXPECT_FALSE(t.on_data_batch(view(b1)));  // not transactional
  EXPECT_TRUE(t.on_data_batch(view(b2)));
  EXPECT_FALSE(t.on_data_batch(view(b3)));      // another producer
  EXPECT_FALSE(t.on_control_batch(view(m4)));   // its data was seen: the abort marker stays
  EXPECT_FALSE(t.on_data_batch(view(b5)));      // after the marker: a new transaction
  EXPECT_FALSE(t.on_control_batch(view(m6)));   // producer 2's commit had data
}

}  // namespace
}  // namespace keel::storage
