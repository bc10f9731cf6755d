#include "storage/cleaner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <chrono>
#include <thread>
#include <string>

#include <gtest/gtest.h>

#include "protocol/record_batch.h"
#include "storage/checkpoint.h"
#include "storage/errors.h"
#include "storage/log_manager.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using protocol::Compression;
using test::TempDir;

constexpr int64_t kNow = 1'700'000'000'000;  // ms; segment mtimes are set from this clock
constexpr int64_t kDay = 86'400'000;

struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt = tombstone
};

ByteView view_of(const std::string& s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

Bytes build(const std::vector<Rec>& recs, Compression c, int64_t ts, int64_t producer_id = -1) {
  protocol::RecordBatchBuilder b(c);
  if (producer_id >= 0) b.producer(producer_id, 0, 0);
  for (const auto& r : recs) {
    std::optional<ByteView> k, v;
    if (r.key) k = view_of(*r.key);
    if (r.value) v = view_of(*r.value);
    b.add(ts, k, v);
  }
  auto out = b.build();
  EXPECT_TRUE(out);
  return *out;
}

struct Seen {
  int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
};

struct SeenBatch {
  int64_t base_offset;
  int64_t last_offset;
  Compression compression;
  int32_t records;
  int64_t producer_id;
};

struct Fixture {
  TempDir tmp;
  FileCache cache{64};
  LogConfig config;
  Fixture() { config.cleanup_policy = CleanupPolicy::kCompact; }
  std::string dir() const { return tmp.sub("compacted-0"); }
  std::unique_ptr<Log> open(bool clean = true) {
    LogOpenOptions o;
    o.dir = dir();
    o.config = config;
    o.cache = &cache;
    o.clean_shutdown = clean;
    o.now_ms = kNow;
    auto r = Log::open(o);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
};

int64_t append(Log& log, const std::vector<Rec>& recs, Compression c = Compression::kNone, int64_t ts = kNow,
               int64_t producer_id = -1) {
  Bytes b = build(recs, c, ts, producer_id);
  auto r = log.append(b, ts);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->first_offset : -1;
}

// Every record of the log (CRC checked, offsets strictly increasing).
std::vector<Seen> read_all(Log& log, std::vector<SeenBatch>* batches = nullptr) {
  std::vector<Seen> out;
  int64_t offset = log.log_start_offset();
  int64_t prev = -1;
  while (offset < log.log_end_offset()) {
    auto r = log.read(offset, 1 << 20);
    EXPECT_TRUE(r);
    if (!r || r->ranges.empty()) break;
    const FileRange& fr = r->ranges[0];
    Bytes bytes(static_cast<size_t>(fr.length));
    EXPECT_EQ(::pread(fr.file->fd(), bytes.data(), bytes.size(), fr.position), fr.length);
    protocol::BatchIterator it{ByteView(bytes)};
    while (true) {
      auto n = it.next();
      EXPECT_TRUE(n);
      if (!n || !*n) break;
      const auto& b = **n;
      EXPECT_TRUE(b.verify_crc());
      EXPECT_GT(b.base_offset(), prev);
      if (batches) batches->push_back({b.base_offset(), b.last_offset(), b.compression(), b.records_count(), b.producer_id()});
      Bytes scratch;
      auto recs = b.decode_records(scratch);
      EXPECT_TRUE(recs);
      for (const auto& rec : *recs) {
        EXPECT_GT(rec.offset, prev);
        prev = rec.offset;
        Seen s{rec.offset, std::nullopt, std::nullopt};
        if (rec.key) s.key = std::string(reinterpret_cast<const char*>(rec.key->data()), rec.key->size());
        if (rec.value) s.value = std::string(reinterpret_cast<const char*>(rec.value->data()), rec.value->size());
        out.push_back(s);
      }
      prev = std::max(prev, b.last_offset());
      offset = b.last_offset() + 1;
    }
  }
  return out;
}

// key -> (offset, value) of the latest record per key.
using Model = std::map<std::string, std::pair<int64_t, std::optional<std::string>>>;

void expect_equals_model(Log& log, const Model& model) {
  auto seen = read_all(log);
  Model got;
  for (const auto& s : seen) {
    ASSERT_TRUE(s.key);
    EXPECT_FALSE(got.count(*s.key)) << "duplicate key " << *s.key << " at " << s.offset;
    got[*s.key] = {s.offset, s.value};
  }
  EXPECT_EQ(got, model);
}

const Compression kCodecs[] = {Compression::kNone, Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                               Compression::kZstd};

TEST(Cleaner, RandomLogEqualsTheModelAfterCompactionWithOffsetsKept) {
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    Fixture f;
    auto log = f.open();
    std::mt19937 rng(seed);
    Model model;
    for (int seg = 0; seg < 12; ++seg) {
      int batches = 1 + static_cast<int>(rng() % 6);
      for (int b = 0; b < batches; ++b) {
        std::vector<Rec> recs;
        int n = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < n; ++i) {
          Rec r;
          r.key = "k" + std::to_string(rng() % 40);
          if (rng() % 10 != 0) r.value = "v" + std::to_string(rng()) + std::string(rng() % 50, 'x');
          recs.push_back(r);
        }
        int64_t first = append(*log, recs, kCodecs[rng() % 5]);
        for (int i = 0; i < n; ++i) model[*recs[i].key] = {first + i, recs[i].value};
      }
      ASSERT_TRUE(log->roll(kNow));
    }
    int64_t end = log->log_end_offset();
    Cleaner cleaner;
    auto stats = cleaner.clean(*log, 0, kNow);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->cleaned_up_to, end);
    EXPECT_GT(stats->records_removed, 0);
    EXPECT_LT(stats->bytes_after, stats->bytes_before);
    EXPECT_EQ(log->log_end_offset(), end);
    expect_equals_model(*log, model);

    // A second round on top of the cleaned log, with the checkpoint.
    for (int i = 0; i < 30; ++i) {
      Rec r{"k" + std::to_string(rng() % 60), "w" + std::to_string(i)};
      int64_t off = append(*log, {r}, kCodecs[rng() % 5]);
      model[*r.key] = {off, r.value};
    }
    ASSERT_TRUE(log->roll(kNow));
    auto again = cleaner.clean(*log, stats->cleaned_up_to, kNow);
    ASSERT_TRUE(again);
    expect_equals_model(*log, model);

    // Reopened (indexes rebuilt at swap time are valid), and a read from the
    // middle finds the record at its original offset.
    ASSERT_TRUE(log->close());
    log.reset();
    log = f.open();
    expect_equals_model(*log, model);
    const auto& [key, entry] = *std::next(model.begin(), static_cast<long>(model.size() / 2));
    auto r = log->read(entry.first, 1);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->ranges.empty());
    EXPECT_LE(r->ranges[0].first_offset, entry.first);
  }
}

TEST(Cleaner, CompressedBatchIsReencodedWithItsCodecAndOriginalOffsets) {
  Fixture f;
  auto log = f.open();
  append(*log, {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, Compression::kZstd);  // 0..3
  append(*log, {{"a", "5"}, {"c", "6"}}, Compression::kNone);                           // 4..5
  ASSERT_TRUE(log->roll(kNow));
  ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));
  std::vector<SeenBatch> batches;
  auto seen = read_all(*log, &batches);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].offset, 1);
  EXPECT_EQ(*seen[0].key, "b");
  EXPECT_EQ(seen[1].offset, 3);
  EXPECT_EQ(seen[2].offset, 4);
  EXPECT_EQ(seen[3].offset, 5);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].compression, Compression::kZstd);
  EXPECT_EQ(batches[0].base_offset, 0);  // the base offset is kept even when record 0 went
  EXPECT_EQ(batches[0].records, 2);
}

TEST(Cleaner, SegmentWithNothingToRemoveIsNotRewritten) {
  Fixture f;
  auto log = f.open();
  append(*log, {{"a", "1"}, {"b", "2"}}, Compression::kLz4);
  append(*log, {{"c", "3"}});
  ASSERT_TRUE(log->roll(kNow));
  std::string path = f.dir() + "/" + segment_file_name(0, ".log");
  std::string before = test::read_file(path);
  auto stats = Cleaner().clean(*log, 0, kNow);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->segments_rewritten, 0);
  EXPECT_EQ(stats->records_removed, 0);
  EXPECT_EQ(test::read_file(path), before);
}

TEST(Cleaner, SegmentWithAnUnframeableBatchIsLeftAsItIs) {
  Fixture f;
  auto log = f.open();
  append(*log, {{"a", "1"}});
  append(*log, {{"a", "2"}});
  append(*log, {{"b", "3"}});
  ASSERT_TRUE(log->roll(kNow));
  std::string path = f.dir() + "/" + segment_file_name(0, ".log");
  int64_t third = test::file_size(path) / 3 * 2;  // the three batches have the same size
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  uint8_t bad_magic = 7;
  ASSERT_EQ(::pwrite(fd, &bad_magic, 1, third + 16), 1);
  ::close(fd);
  std::string before = test::read_file(path);
  auto stats = Cleaner().clean(*log, 0, kNow);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->segments_rewritten, 0);
  EXPECT_EQ(test::read_file(path), before);  // the batch after the bad header is not dropped
}

TEST(Cleaner, StopRequestAbortsThePassWithoutLosingRecords) {
  for (int stop_after : {3, 40, 75}) {  // in the header pass, the map pass, the filter pass
    Fixture f;
    auto log = f.open();
    Model model;
    std::vector<Seen> before;
    for (int seg = 0; seg < 3; ++seg) {
      for (int i = 0; i < 10; ++i) {
        Rec r{"k" + std::to_string(i % 4), std::to_string(seg * 10 + i)};
        model[*r.key] = {append(*log, {r}), r.value};
      }
      ASSERT_TRUE(log->roll(kNow));
    }
    before = read_all(*log);
    int polls = 0;
    Cleaner cleaner({}, [&] { return ++polls > stop_after; });
    auto stats = cleaner.clean(*log, 0, kNow);
    ASSERT_TRUE(stats);
    EXPECT_TRUE(stats->aborted) << stop_after;
    EXPECT_EQ(stats->cleaned_up_to, 0);
    auto after = read_all(*log);
    std::map<std::string, int64_t> latest;
    for (const auto& s : after) latest[*s.key] = s.offset;
    for (const auto& [k, e] : model) EXPECT_EQ(latest[k], e.first) << k;
    EXPECT_LE(after.size(), before.size());
    for (const auto& entry : std::filesystem::directory_iterator(f.dir()))
      EXPECT_EQ(entry.path().string().find(".cleaned"), std::string::npos);
    ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));  // a later pass finishes the job
    expect_equals_model(*log, model);
  }
}

TEST(Cleaner, TombstoneStaysUntilDeleteRetentionAfterItsSegmentWasCleaned) {
  Fixture f;
  f.config.delete_retention_ms = kDay;
  auto log = f.open();
  append(*log, {{"a", "1"}, {"b", "2"}});
  append(*log, {{"a", std::nullopt}});  // tombstone for a at 2
  ASSERT_TRUE(log->roll(kNow));
  Cleaner cleaner;
  auto s1 = cleaner.clean(*log, 0, kNow);
  ASSERT_TRUE(s1);
  Model model{{"a", {2, std::nullopt}}, {"b", {1, "2"}}};
  expect_equals_model(*log, model);  // dirty when cleaned: the tombstone is kept

  // Something new to clean, just before the tombstone's segment is a day clean.
  append(*log, {{"c", "3"}});
  ASSERT_TRUE(log->roll(kNow));
  model["c"] = {3, "3"};
  auto s2 = cleaner.clean(*log, s1->cleaned_up_to, kNow + kDay - 1000);
  ASSERT_TRUE(s2);
  expect_equals_model(*log, model);

  append(*log, {{"d", "4"}});
  ASSERT_TRUE(log->roll(kNow));
  model["d"] = {4, "4"};
  auto s3 = cleaner.clean(*log, s2->cleaned_up_to, kNow + kDay + 1000);
  ASSERT_TRUE(s3);
  model.erase("a");
  expect_equals_model(*log, model);
}

TEST(Cleaner, MinCompactionLagProtectsYoungSegments) {
  Fixture f;
  f.config.min_compaction_lag_ms = 3'600'000;
  auto log = f.open();
  append(*log, {{"a", "1"}}, Compression::kNone, kNow - 100);
  append(*log, {{"a", "2"}}, Compression::kNone, kNow - 100);
  ASSERT_TRUE(log->roll(kNow));
  log->set_config(f.config);
  auto young = Cleaner().clean(*log, 0, kNow);
  ASSERT_TRUE(young);
  EXPECT_EQ(young->cleaned_up_to, 0);
  EXPECT_EQ(read_all(*log).size(), 2u);
  auto old = Cleaner().clean(*log, 0, kNow + 2 * 3'600'000);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->cleaned_up_to, 2);
  EXPECT_EQ(read_all(*log).size(), 1u);
}

TEST(Cleaner, DirtyRatioAndMaxLagDecideWhetherALogNeedsCleaning) {
  Fixture f;
  auto log = f.open();
  for (int i = 0; i < 4; ++i) append(*log, {{"k" + std::to_string(i), std::string(100, 'x')}});
  ASSERT_TRUE(log->roll(kNow));
  auto info = Cleaner::dirty_info(*log, 0);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->clean_bytes, 0);
  EXPECT_GT(info->dirty_bytes, 0);
  EXPECT_EQ(info->first_dirty_timestamp, kNow);
  EXPECT_TRUE(Cleaner::needs_cleaning(*info, f.config, kNow));

  // Clean 4 batches, then one more dirty batch of the same size: ratio ~0.2.
  auto stats = Cleaner().clean(*log, 0, kNow);
  ASSERT_TRUE(stats);
  append(*log, {{"k9", std::string(100, 'x')}}, Compression::kNone, kNow + 10);
  ASSERT_TRUE(log->roll(kNow));
  info = Cleaner::dirty_info(*log, stats->cleaned_up_to);
  ASSERT_TRUE(info);
  EXPECT_NEAR(info->ratio(), 0.2, 0.01);
  EXPECT_FALSE(Cleaner::needs_cleaning(*info, f.config, kNow + 20));
  LogConfig low = f.config;
  low.min_cleanable_dirty_ratio = 0.1;
  EXPECT_TRUE(Cleaner::needs_cleaning(*info, low, kNow + 20));
  LogConfig lag = f.config;
  lag.max_compaction_lag_ms = 60'000;
  EXPECT_FALSE(Cleaner::needs_cleaning(*info, lag, kNow + 20));
  EXPECT_TRUE(Cleaner::needs_cleaning(*info, lag, kNow + 10 + 60'001));
  // Nothing dirty: never.
  info = Cleaner::dirty_info(*log, log->log_end_offset());
  ASSERT_TRUE(info);
  EXPECT_FALSE(Cleaner::needs_cleaning(*info, low, kNow + 100 * kDay));
}

TEST(Cleaner, KeylessRecordsAreRemoved) {
  Fixture f;
  auto log = f.open();
  append(*log, {{std::nullopt, "no key"}, {"a", "1"}});
  ASSERT_TRUE(log->roll(kNow));
  ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));
  auto seen = read_all(*log);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].offset, 1);
}

TEST(Cleaner, EmptiedLastBatchOfAProducerKeepsItsHeader) {
  Fixture f;
  auto log = f.open();
  append(*log, {{"a", "1"}}, Compression::kNone, kNow, /*producer_id=*/7);  // 0: last batch of pid 7
  append(*log, {{"b", "1"}}, Compression::kNone, kNow, /*producer_id=*/8);  // 1: pid 8, superseded below
  append(*log, {{"b", "2"}}, Compression::kNone, kNow, /*producer_id=*/8);  // 2
  append(*log, {{"a", "2"}});                                               // 3
  ASSERT_TRUE(log->roll(kNow));
  ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));
  std::vector<SeenBatch> batches;
  auto seen = read_all(*log, &batches);
  ASSERT_EQ(seen.size(), 2u);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].producer_id, 7);  // emptied but kept: pid 7's last batch
  EXPECT_EQ(batches[0].records, 0);
  EXPECT_EQ(batches[0].base_offset, 0);
  EXPECT_EQ(batches[1].base_offset, 2);  // pid 8's first batch went entirely
}

TEST(Cleaner, ReaderHoldingTheOldSegmentKeepsReadingIt) {
  Fixture f;
  auto log = f.open();
  append(*log, {{"a", "1"}});
  append(*log, {{"a", "2"}});
  ASSERT_TRUE(log->roll(kNow));
  auto before = log->read(0, 1 << 20);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->ranges.size(), 1u);
  int64_t len = before->ranges[0].length;
  ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));
  EXPECT_EQ(log->pending_deletions(), 1u);
  Bytes old(static_cast<size_t>(len));
  EXPECT_EQ(::pread(before->ranges[0].file->fd(), old.data(), old.size(), before->ranges[0].position), len);
  protocol::BatchIterator it{ByteView(old)};
  int batches = 0;
  while (true) {
    auto n = it.next();
    ASSERT_TRUE(n);
    if (!*n) break;
    EXPECT_TRUE((*n)->verify_crc());
    ++batches;
  }
  EXPECT_EQ(batches, 2);
  EXPECT_EQ(read_all(*log).size(), 1u);
}

TEST(Cleaner, RetentionDoesNotDeleteSegmentsOfACompactOnlyLog) {
  Fixture f;
  f.config.retention_ms = 1000;
  auto log = f.open();
  append(*log, {{"a", "1"}}, Compression::kNone, kNow - kDay);
  ASSERT_TRUE(log->roll(kNow));
  auto r = log->apply_retention(kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  LogConfig both = f.config;
  both.cleanup_policy = CleanupPolicy::kCompactDelete;
  log->set_config(both);
  r = log->apply_retention(kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 1);
}

// A child process cleans and is SIGKILLed right after `step`; the parent
// reopens the log (as after a crash) and checks that nothing that must
// survive was lost, then finishes the clean.
void crash_at(Cleaner::Step step) {
  Fixture f;
  Model model;
  std::map<int64_t, Seen> original;
  {
    auto log = f.open();
    std::mt19937 rng(static_cast<uint32_t>(step) + 11);
    for (int seg = 0; seg < 4; ++seg) {
      // A key whose only record is in this segment: losing any segment loses it.
      int64_t only = append(*log, {{"only-" + std::to_string(seg), "x"}});
      model["only-" + std::to_string(seg)] = {only, "x"};
      for (int b = 0; b < 5; ++b) {
        std::vector<Rec> recs;
        for (int i = 0; i < 4; ++i) recs.push_back({"k" + std::to_string(rng() % 12), "v" + std::to_string(rng())});
        int64_t first = append(*log, recs, kCodecs[rng() % 5]);
        for (int i = 0; i < 4; ++i) model[*recs[i].key] = {first + i, recs[i].value};
      }
      ASSERT_TRUE(log->roll(kNow));
    }
    for (const auto& s : read_all(*log)) original[s.offset] = s;
    ASSERT_TRUE(log->close());
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto log = f.open();
    Cleaner cleaner([&](Cleaner::Step s) {
      if (s == step) ::raise(SIGKILL);
    });
    (void)cleaner.clean(*log, 0, kNow);
    ::_exit(3);  // the step was never reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  auto log = f.open(/*clean=*/false);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), original.rbegin()->first + 1);
  EXPECT_EQ(log->log_start_offset(), 0);
  auto seen = read_all(*log);
  std::map<std::string, int64_t> latest_seen;
  for (const auto& s : seen) {
    auto o = original.find(s.offset);
    ASSERT_NE(o, original.end()) << "offset " << s.offset << " was renumbered or invented";
    EXPECT_EQ(s.key, o->second.key);
    EXPECT_EQ(s.value, o->second.value);
    latest_seen[*s.key] = s.offset;
  }
  for (const auto& [key, entry] : model) EXPECT_EQ(latest_seen[key], entry.first) << key;
  for (const auto& entry : std::filesystem::directory_iterator(f.dir())) {
    std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find(".swap"), std::string::npos) << name;
    EXPECT_EQ(name.find(".cleaned"), std::string::npos) << name;
  }
  ASSERT_TRUE(Cleaner().clean(*log, 0, kNow));
  expect_equals_model(*log, model);
}

TEST(Cleaner, CrashAfterCleanedFileWrittenLosesNothing) { crash_at(Cleaner::Step::kCleanedWritten); }
TEST(Cleaner, CrashAfterRenameToSwapIsCompletedAtOpen) { crash_at(Cleaner::Step::kRenamedToSwap); }
TEST(Cleaner, CrashAfterOldSegmentRenamedToDeletedIsCompletedAtOpen) {
  crash_at(Cleaner::Step::kOldRenamedToDeleted);
}
TEST(Cleaner, CrashAfterSwapRenamedToLogLosesNothing) { crash_at(Cleaner::Step::kSwapRenamedToLog); }

std::unique_ptr<LogManager> open_manager(const std::string& dir) {
  LogManagerOptions o;
  o.log_dirs = {dir};
  o.clock = [] { return kNow; };
  auto m = LogManager::open(o);
  EXPECT_TRUE(m);
  return m ? std::move(*m) : nullptr;
}

TEST(CleanerManager, CleansTheDirtiestCompactedLogAndCheckpointsItsProgress) {
  TempDir tmp;
  LogConfig compact;
  compact.cleanup_policy = CleanupPolicy::kCompact;
  LogConfig del;  // cleanup.policy=delete: never compacted, however dirty
  TopicPartition a{"a", 0}, b{"b", 0}, d{"d", 0};
  {
    auto m = open_manager(tmp.path());
    ASSERT_TRUE(m);
    auto la = m->get_or_create(a, compact);
    auto lb = m->get_or_create(b, compact);
    auto ld = m->get_or_create(d, del);
    ASSERT_TRUE(la && lb && ld);
    for (int i = 0; i < 10; ++i) {
      append(**la, {{"k", std::to_string(i)}});
      append(**ld, {{"k", std::to_string(i)}});
    }
    for (int i = 0; i < 10; ++i) append(**lb, {{"k" + std::to_string(i % 2), std::to_string(i)}});
    for (Log* l : {*la, *lb, *ld}) ASSERT_TRUE(l->roll(kNow));

    // b and a are both fully dirty (ratio 1); both get cleaned, one per pass.
    std::set<TopicPartition> cleaned;
    for (int pass = 0; pass < 2; ++pass) {
      auto r = m->run_cleaner_once(kNow);
      ASSERT_TRUE(r);
      ASSERT_TRUE(*r);
      cleaned.insert(**r);
    }
    EXPECT_EQ(cleaned, (std::set<TopicPartition>{a, b}));
    auto none = m->run_cleaner_once(kNow);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);  // nothing dirty is left, and d is never a candidate
    EXPECT_EQ(read_all(**la).size(), 1u);
    EXPECT_EQ(read_all(**lb).size(), 2u);
    EXPECT_EQ(read_all(**ld).size(), 10u);
    EXPECT_EQ(m->cleaner_checkpoint(a), 10);
    EXPECT_EQ(test::read_file(tmp.sub(kCleanerOffsetCheckpoint)), "0\n2\na 0 10\nb 0 10\n");
    ASSERT_TRUE(m->shutdown());
  }
  auto m = open_manager(tmp.path());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->cleaner_checkpoint(a), 10);
  EXPECT_EQ(m->cleaner_checkpoint(b), 10);
  auto again = m->run_cleaner_once(kNow);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST(CleanerManager, CleanerThreadCompactsWhileAppendsGoOn) {
  TempDir tmp;
  LogManagerOptions o;
  o.log_dirs = {tmp.path()};
  o.cleaner_backoff_ms = 10;
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  LogConfig compact;
  compact.cleanup_policy = CleanupPolicy::kCompact;
  compact.segment_bytes = 4096;  // many small segments, rolled by the appends
  auto log = (*m)->get_or_create({"c", 0}, compact);
  ASSERT_TRUE(log);
  (*m)->start();
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  Model model;
  for (int i = 0; i < 2000; ++i) {
    Rec r{"k" + std::to_string(i % 7), "v" + std::to_string(i) + std::string(40, 'x')};
    int64_t off = append(**log, {r}, Compression::kNone, now);
    model[*r.key] = {off, r.value};
  }
  // Wait for the cleaner to catch up with every sealed segment.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto bases = (*log)->segment_base_offsets();
    if ((*m)->cleaner_checkpoint({"c", 0}) == bases.back()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto bases = (*log)->segment_base_offsets();
  EXPECT_EQ((*m)->cleaner_checkpoint({"c", 0}), bases.back());
  // The sealed part holds at most one record per key; the active segment may repeat keys.
  std::map<std::string, int64_t> latest;
  int sealed_records = 0;
  for (const auto& s : read_all(**log)) {
    if (s.offset < bases.back()) ++sealed_records;
    latest[*s.key] = s.offset;
  }
  EXPECT_LE(sealed_records, 7);
  for (const auto& [k, e] : model) EXPECT_EQ(latest[k], e.first) << k;
  ASSERT_TRUE((*m)->shutdown());
}

}  // namespace
}  // namespace keel::storage
