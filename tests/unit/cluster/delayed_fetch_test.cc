// The purgatory (cluster/delayed_fetch.h): where operations complete, and
// that each completes exactly once whoever races to complete or expire it.

#include "cluster/delayed_fetch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace keel::cluster {
namespace {

using Completion = DelayedFetchPurgatory::Completion;
using storage::TopicPartition;

const TopicPartition kTp{"t", 0};
const TopicPartition kOther{"t", 1};

// Waits (real time) until `done` holds, up to 5 s.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// One operation's record: how often it completed, how, where, and whether a
// completion ever ran while its check did.
struct Probe {
  std::atomic<bool> ready{false};
  std::atomic<int> completions{0};
  std::atomic<int> expired{0};
  std::atomic<int> checks{0};
  std::atomic<bool> in_check{false};
  std::atomic<bool> overlapped{false};
  std::thread::id completed_on;

  std::function<bool()> check_fn() {
    return [this] {
      in_check = true;
      ++checks;
      const bool r = ready.load();
      in_check = false;
      return r;
    };
  }
  std::function<void(bool)> complete_fn() {
    return [this](bool was_expired) {
      if (in_check) overlapped = true;
      completed_on = std::this_thread::get_id();
      if (was_expired) ++expired;
      ++completions;
    };
  }
};

struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> ms = std::make_shared<std::atomic<int64_t>>(1000);
  std::function<int64_t()> fn() const {
    return [ms = ms] { return ms->load(); };
  }
};

TEST(DelayedFetchPurgatory, InlineOperationCompletesOnTheNotifyingThread) {
  FakeClock clock;
  DelayedFetchPurgatory p(clock.fn());
  Probe probe;
  p.add({kTp}, 1000 + 60'000, probe.check_fn(), probe.complete_fn(), Completion::kInline);
  EXPECT_EQ(probe.completions, 0);
  EXPECT_EQ(p.waiting(), 1u);
  p.try_complete(kOther);  // not watched: nothing checked
  EXPECT_EQ(probe.completions, 0);
  probe.ready = true;
  p.try_complete(kTp);
  // Completed before try_complete returned, on this thread.
  EXPECT_EQ(probe.completions, 1);
  EXPECT_EQ(probe.expired, 0);
  EXPECT_EQ(probe.completed_on, std::this_thread::get_id());
  EXPECT_EQ(p.waiting(), 0u);
  const int checks = probe.checks;
  p.try_complete(kTp);  // gone: never checked again
  EXPECT_EQ(probe.checks, checks);
  EXPECT_EQ(probe.completions, 1);
}

TEST(DelayedFetchPurgatory, InlineOperationReadyWhenAddedCompletesInAdd) {
  DelayedFetchPurgatory p;
  Probe probe;
  probe.ready = true;
  p.add({kTp}, p.now() + 60'000, probe.check_fn(), probe.complete_fn(), Completion::kInline);
  EXPECT_EQ(probe.completions, 1);
  EXPECT_EQ(probe.completed_on, std::this_thread::get_id());
  EXPECT_EQ(p.waiting(), 0u);
}

TEST(DelayedFetchPurgatory, ThreadOperationsNeverRunOnTheNotifier) {
  DelayedFetchPurgatory p;
  Probe probe;
  p.add({kTp}, p.now() + 60'000, probe.check_fn(), probe.complete_fn(), Completion::kPurgatoryThread);
  ASSERT_TRUE(eventually([&] { return probe.checks >= 1; }));  // the check after add, on the thread
  probe.ready = true;
  p.try_complete(kTp);
  ASSERT_TRUE(eventually([&] { return probe.completions == 1; }));
  EXPECT_NE(probe.completed_on, std::this_thread::get_id());
  EXPECT_EQ(probe.expired, 0);
}

TEST(DelayedFetchPurgatory, NotifyHandsInlineOperationsToTheThread) {
  DelayedFetchPurgatory p;
  Probe probe;
  p.add({kTp}, p.now() + 60'000, probe.check_fn(), probe.complete_fn(), Completion::kInline);
  probe.ready = true;
  p.notify(kTp);
  ASSERT_TRUE(eventually([&] { return probe.completions == 1; }));
  EXPECT_NE(probe.completed_on, std::this_thread::get_id());
}

TEST(DelayedFetchPurgatory, ExpiresOnceAtTheDeadline) {
  FakeClock clock;
  DelayedFetchPurgatory p(clock.fn());
  Probe inline_probe;
  Probe thread_probe;
  p.add({kTp}, 1500, inline_probe.check_fn(), inline_probe.complete_fn(), Completion::kInline);
  p.add({kTp}, 1500, thread_probe.check_fn(), thread_probe.complete_fn(), Completion::kPurgatoryThread);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(inline_probe.completions + thread_probe.completions, 0);
  *clock.ms = 1500;
  ASSERT_TRUE(eventually([&] { return inline_probe.completions == 1 && thread_probe.completions == 1; }));
  EXPECT_EQ(inline_probe.expired, 1);
  EXPECT_EQ(thread_probe.expired, 1);
  // Ready after expiry: nothing more.
  inline_probe.ready = true;
  p.try_complete(kTp);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(inline_probe.completions, 1);
  EXPECT_EQ(thread_probe.completions, 1);
  EXPECT_EQ(p.waiting(), 0u);
}

TEST(DelayedFetchPurgatory, ShutdownCompletesWhatIsLeftAndLaterAddsAtOnce) {
  auto p = std::make_unique<DelayedFetchPurgatory>();
  Probe left;
  p->add({kTp}, p->now() + 60'000, left.check_fn(), left.complete_fn(), Completion::kInline);
  p->shutdown();
  EXPECT_EQ(left.completions, 1);
  EXPECT_EQ(left.expired, 1);
  Probe late;
  p->add({kTp}, p->now() + 60'000, late.check_fn(), late.complete_fn(), Completion::kInline);
  EXPECT_EQ(late.completions, 1);
  EXPECT_EQ(late.expired, 1);
  left.ready = true;
  p->try_complete(kTp);
  p->shutdown();  // idempotent
  p.reset();
  EXPECT_EQ(left.completions, 1);
  EXPECT_EQ(late.completions, 1);
}

// A follower fetch's check moves the high watermark, which notifies the
// same purgatory from inside the check: no recursion into the check (its
// mutex is held), and the produce that move satisfies completes on this
// thread once the check has returned.
TEST(DelayedFetchPurgatory, NotificationFromInsideACheckIsWorkedThroughAfterIt) {
  DelayedFetchPurgatory p;
  std::atomic<int64_t> high_watermark{0};
  Probe produce;
  p.add({kTp}, p.now() + 60'000, [&] { return high_watermark.load() >= 10; }, produce.complete_fn(),
        Completion::kInline);
  std::atomic<int> fetch_checks{0};
  Probe fetch;
  auto fetch_check = [&] {
    // The follower's fetch offset moves the high watermark on its first check.
    if (fetch_checks++ == 1) {
      high_watermark = 10;
      p.try_complete(kTp);
      EXPECT_EQ(produce.completions, 0);  // deferred, not recursed into
    }
    return false;
  };
  p.add({kTp}, p.now() + 60'000, fetch_check, fetch.complete_fn(), Completion::kInline);
  EXPECT_EQ(fetch_checks, 1);  // add's own check
  p.try_complete(kTp);
  EXPECT_EQ(produce.completions, 1);
  EXPECT_EQ(produce.expired, 0);
  EXPECT_EQ(produce.completed_on, std::this_thread::get_id());
  EXPECT_EQ(fetch.completions, 0);
  EXPECT_GE(fetch_checks, 3);  // checked again for the deferred notification
  EXPECT_EQ(p.waiting(), 1u);
}

// A check that notifies its own partition every time ends: after a bounded
// number of rounds the rest goes to the thread.
TEST(DelayedFetchPurgatory, EndlessSelfNotificationIsBounded) {
  DelayedFetchPurgatory p;
  // Only the checks run by add()'s caller count: once the rest is handed to
  // the purgatory thread, that thread keeps checking (and notifying) until
  // `stop`, concurrently with the assertion below.
  const auto caller = std::this_thread::get_id();
  std::atomic<int> checks_on_caller{0};
  std::atomic<bool> stop{false};
  Probe probe;
  p.add(
      {kTp}, p.now() + 60'000,
      [&] {
        if (std::this_thread::get_id() == caller) ++checks_on_caller;
        if (!stop) p.try_complete(kTp);
        return stop.load();
      },
      probe.complete_fn(), Completion::kInline);
  const int after_add = checks_on_caller;
  EXPECT_GE(after_add, 1);
  EXPECT_LT(after_add, 100);
  stop = true;
  ASSERT_TRUE(eventually([&] { return probe.completions == 1; }));
}

// Two purgatories (two brokers in one process): a check in one notifying the
// other runs the other's checks right away.
TEST(DelayedFetchPurgatory, ScopesOfTwoPurgatoriesNest) {
  DelayedFetchPurgatory a;
  DelayedFetchPurgatory b;
  Probe in_b;
  b.add({kTp}, b.now() + 60'000, in_b.check_fn(), in_b.complete_fn(), Completion::kInline);
  Probe in_a;
  std::atomic<bool> go{false};
  a.add(
      {kTp}, a.now() + 60'000,
      [&] {
        if (!go) return false;
        in_b.ready = true;
        b.try_complete(kTp);
        return in_b.completions.load() == 1;
      },
      in_a.complete_fn(), Completion::kInline);
  go = true;
  a.try_complete(kTp);
  EXPECT_EQ(in_b.completions, 1);
  EXPECT_EQ(in_a.completions, 1);
}

// Many threads notifying while the clock passes the deadlines: every
// operation completes exactly once, never while its check runs.
TEST(DelayedFetchPurgatory, RacingCompletionAndExpiryCompleteOnce) {
  FakeClock clock;
  DelayedFetchPurgatory p(clock.fn());
  constexpr int kOps = 400;
  std::vector<std::unique_ptr<Probe>> probes;
  std::mt19937 rng(7);
  for (int i = 0; i < kOps; ++i) {
    auto& probe = probes.emplace_back(std::make_unique<Probe>());
    const TopicPartition tp{"t", i % 4};
    const int64_t deadline = 1000 + 1 + static_cast<int64_t>(rng() % 40);
    p.add({tp, kOther}, deadline, probe->check_fn(), probe->complete_fn(),
          i % 5 == 0 ? Completion::kPurgatoryThread : Completion::kInline);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> notifiers;
  for (int t = 0; t < 6; ++t) {
    notifiers.emplace_back([&, t] {
      std::mt19937 r(static_cast<uint32_t>(t));
      while (!stop) {
        const int i = static_cast<int>(r() % kOps);
        if (i % 7 != 0 && r() % 3 == 0) probes[i]->ready = true;  // every 7th only expires
        p.try_complete({"t", static_cast<int32_t>(r() % 4)});
        if (r() % 16 == 0) p.try_complete(kOther);
        if (r() % 32 == 0) p.notify({"t", static_cast<int32_t>(r() % 4)});
      }
    });
  }
  std::thread ticker([&] {
    for (int i = 0; i < 50; ++i) {
      ++*clock.ms;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  ticker.join();
  ASSERT_TRUE(eventually([&] { return p.waiting() == 0; }));
  stop = true;
  for (auto& t : notifiers) t.join();
  int expired = 0;
  for (const auto& probe : probes) {
    EXPECT_EQ(probe->completions, 1);
    EXPECT_FALSE(probe->overlapped);
    expired += probe->expired;
  }
  // Both ways happened (not a test of one path only).
  EXPECT_GT(expired, 0);
  EXPECT_LT(expired, kOps);
}

// An operation for the thread that is ready when added: the thread may
// claim and complete it before add() has returned, and add() must not take
// that claim for a shutdown and complete it a second time (it did: an
// acks=all produce or a coordinator's log append answered twice, which left
// a transaction's state machine behind its log).
TEST(DelayedFetchPurgatory, AThreadOperationCompletedBeforeAddReturnsCompletesOnce) {
  DelayedFetchPurgatory p;
  constexpr int kOps = 20000;
  std::vector<std::unique_ptr<Probe>> probes;
  probes.reserve(kOps);
  for (int i = 0; i < kOps; ++i) {
    auto& probe = probes.emplace_back(std::make_unique<Probe>());
    probe->ready = true;
    p.add({kTp}, p.now() + 600'000, probe->check_fn(), probe->complete_fn(), Completion::kPurgatoryThread);
  }
  ASSERT_TRUE(eventually([&] { return p.waiting() == 0; }));
  // An operation leaves the list before its completion runs: joining the
  // thread lets the last completions finish before they are counted.
  p.shutdown();
  int twice = 0;
  for (const auto& probe : probes) {
    EXPECT_EQ(probe->expired, 0);
    if (probe->completions != 1) ++twice;
  }
  EXPECT_EQ(twice, 0);
}

// Threads notifying one operation at once: one completes it; a readiness
// that arrives while another thread checks is never lost (the operation
// completes long before its deadline).
TEST(DelayedFetchPurgatory, ConcurrentNotifiersNeitherDoubleCompleteNorLoseAWakeUp) {
  DelayedFetchPurgatory p;
  for (int round = 0; round < 200; ++round) {
    Probe probe;
    p.add({kTp}, p.now() + 600'000, probe.check_fn(), probe.complete_fn(), Completion::kInline);
    std::atomic<bool> start{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        while (!start) std::this_thread::yield();
        if (t == 0) probe.ready = true;
        p.try_complete(kTp);
      });
    }
    start = true;
    for (auto& t : threads) t.join();
    // The thread that set ready notified after setting it: done by now.
    ASSERT_EQ(probe.completions, 1) << "round " << round;
    EXPECT_EQ(probe.expired, 0);
    EXPECT_FALSE(probe.overlapped);
    ASSERT_EQ(p.waiting(), 0u);
  }
}

}  // namespace
}  // namespace keel::cluster
