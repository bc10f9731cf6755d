// Closing many logs at a stop (issue 23): the work runs on several threads at
// once, each log closed exactly once, and a restart finds a clean shutdown.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/log_manager.h"
#include "storage/parallel.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using test::make_batch;
using test::TempDir;

// Holds each caller until `want` callers are inside at the same time. Run on
// one thread, the first caller would wait forever: it gives up after a long
// time instead (then nobody waits any more) and the test reads the maximum.
// A timeout only decides how slowly a broken build fails, never a pass.
class Rendezvous {
 public:
  explicit Rendezvous(size_t want) : want_(want) {}
  void enter() {
    std::unique_lock lock(mu_);
    max_inside_ = std::max(max_inside_, ++inside_);
    cv_.notify_all();
    if (!gave_up_ && !cv_.wait_for(lock, std::chrono::seconds(30), [&] { return max_inside_ >= want_; }))
      gave_up_ = true;
    --inside_;
  }
  size_t max_inside() {
    std::lock_guard lock(mu_);
    return max_inside_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t want_;
  size_t inside_ = 0;
  size_t max_inside_ = 0;
  bool gave_up_ = false;
};

TEST(ForEachParallel, CallsEveryIndexOnceWithSeveralThreadsAtOnce) {
  std::vector<std::atomic<int>> calls(100);
  Rendezvous meet(4);
  for_each_parallel(calls.size(), 4, [&](size_t i) {
    meet.enter();
    ++calls[i];
  });
  EXPECT_EQ(meet.max_inside(), 4u);
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].load(), 1) << i;
}

TEST(ForEachParallel, OneThreadOrNoWorkRunsOnTheCaller) {
  const auto caller = std::this_thread::get_id();
  int n = 0;
  for_each_parallel(5, 1, [&](size_t) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    ++n;
  });
  EXPECT_EQ(n, 5);
  for_each_parallel(0, 8, [&](size_t) { ++n; });
  EXPECT_EQ(n, 5);
}

TEST(LogManager, ShutdownClosesLogsOnSeveralThreadsAtOnce) {
  TempDir tmp;
  constexpr int kPartitions = 64;
  Rendezvous meet(4);
  std::atomic<size_t> reports{0}, last_total{0};
  LogManagerOptions o;
  o.log_dirs = {tmp.sub("d1"), tmp.sub("d2")};
  o.shutdown_threads_per_dir = 2;  // four closing threads for the two dirs
  o.on_close_progress = [&](size_t closed, size_t total) {
    EXPECT_GE(closed, 1u);
    EXPECT_LE(closed, total);
    last_total = total;
    ++reports;
    meet.enter();
  };
  {
    auto m = LogManager::open(o);
    ASSERT_TRUE(m);
    for (int p = 0; p < kPartitions; ++p) {
      auto log = (*m)->get_or_create({"t", p}, LogConfig{});
      ASSERT_TRUE(log);
      for (int i = 0; i <= p % 3; ++i) {
        Bytes batch = make_batch(2, 10, 0);
        ASSERT_TRUE((*log)->append(batch, 0));
      }
    }
    ASSERT_TRUE((*m)->shutdown());
  }
  EXPECT_EQ(meet.max_inside(), 4u);
  EXPECT_EQ(reports.load(), static_cast<size_t>(kPartitions));
  EXPECT_EQ(last_total.load(), static_cast<size_t>(kPartitions));
  // Every log was flushed and closed: a restart is clean and replays nothing.
  o.on_close_progress = nullptr;
  auto m = LogManager::open(o);
  ASSERT_TRUE(m);
  EXPECT_TRUE((*m)->loaded_cleanly(tmp.sub("d1")));
  EXPECT_TRUE((*m)->loaded_cleanly(tmp.sub("d2")));
  ASSERT_EQ((*m)->partition_count(), static_cast<size_t>(kPartitions));
  for (int p = 0; p < kPartitions; ++p) {
    Log* log = (*m)->get({"t", p});
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->log_end_offset(), 2 * (p % 3 + 1)) << p;
    EXPECT_FALSE(log->recovered()) << p;
  }
}

}  // namespace
}  // namespace keel::storage
