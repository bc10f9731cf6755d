#include "cluster/delayed_fetch.h"

#include <algorithm>
#include <chrono>

#include "common/thread_name.h"

namespace keel::cluster {

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Rounds of partitions named by checks (a follower fetch's check moving the
// high watermark names its partition again) that one try_complete works
// through before it leaves the rest to the purgatory's thread.
constexpr int kMaxInlineRounds = 16;
}  // namespace

// This thread is checking operations of `owner_`: notifications of it are
// queued here and worked through when the outermost check has returned,
// instead of recursing into checks (and into an operation's check_mu this
// thread may hold). Scopes of several purgatories (brokers in one process)
// nest; each purgatory finds its own.
class DelayedFetchPurgatory::InlineScope {
 public:
  explicit InlineScope(DelayedFetchPurgatory* owner) : owner_(owner), outer_(innermost_) { innermost_ = this; }
  ~InlineScope() { innermost_ = outer_; }
  InlineScope(const InlineScope&) = delete;
  InlineScope& operator=(const InlineScope&) = delete;

  static InlineScope* find(const DelayedFetchPurgatory* owner) {
    for (InlineScope* s = innermost_; s; s = s->outer_) {
      if (s->owner_ == owner) return s;
    }
    return nullptr;
  }

  // Runs `f` inside a scope of `owner`: this thread's own if it has one,
  // else a new one, drained after `f`.
  template <class F>
  static void run(DelayedFetchPurgatory* owner, F&& f) {
    if (find(owner)) {
      f();
      return;
    }
    InlineScope scope(owner);
    f();
    scope.drain();
  }

  void defer(const storage::TopicPartition& tp) { deferred_.push_back(tp); }

  void drain() {
    for (int round = 0; !deferred_.empty(); ++round) {
      std::vector<storage::TopicPartition> batch;
      batch.swap(deferred_);
      std::sort(batch.begin(), batch.end());
      batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
      if (round == kMaxInlineRounds) {
        std::lock_guard lock(owner_->mu_);
        owner_->changed_.insert(batch.begin(), batch.end());
        owner_->wake_locked();
        return;
      }
      for (const auto& tp : batch) owner_->check_partition(tp);
    }
  }

 private:
  static thread_local InlineScope* innermost_;
  DelayedFetchPurgatory* owner_;
  InlineScope* outer_;
  std::vector<storage::TopicPartition> deferred_;
};

thread_local DelayedFetchPurgatory::InlineScope* DelayedFetchPurgatory::InlineScope::innermost_ = nullptr;

DelayedFetchPurgatory::DelayedFetchPurgatory(std::function<int64_t()> clock)
    : clock_(clock ? std::move(clock) : steady_ms) {
  thread_ = std::thread([this] {
    set_thread_name("keel-purgatory");
    run();
  });
}

DelayedFetchPurgatory::~DelayedFetchPurgatory() { shutdown(); }

void DelayedFetchPurgatory::add(std::vector<storage::TopicPartition> watched, int64_t deadline_ms,
                                std::function<bool()> ready, std::function<void(bool)> complete, Completion where) {
  auto op = std::make_shared<Op>();
  op->watched = std::move(watched);
  op->deadline_ms = deadline_ms;
  op->ready = std::move(ready);
  op->complete = std::move(complete);
  op->where = where;
  // Decided under the lock: once the lock is released the operation is
  // watched, and the thread or another notifier may claim and complete it at
  // any moment, so `claimed` read afterwards does not say it was shut out.
  bool shut_down = false;
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      op->claimed = true;
      shut_down = true;
    } else {
      op->pos = ops_.insert(ops_.end(), op);
      op->listed = true;
      for (const auto& tp : op->watched) watchers_[tp].push_back(op);
      if (where == Completion::kPurgatoryThread) {
        // Data may have arrived between the handler's read and now: check once.
        op->dirty = true;
        wake_locked();
      } else if (sleeping_until_ == INT64_MIN || deadline_ms < sleeping_until_) {
        wake_locked();  // the thread must see this deadline
      }
    }
  }
  if (shut_down) {
    op->complete(true);  // shut down: answer with what there is
    return;
  }
  // Watched from now on; what arrived between the handler's read and the
  // watch is seen by this check.
  if (where == Completion::kInline) check(op);
}

void DelayedFetchPurgatory::try_complete(const storage::TopicPartition& tp) {
  if (InlineScope* scope = InlineScope::find(this)) {
    scope->defer(tp);
    return;
  }
  InlineScope scope(this);
  check_partition(tp);
  scope.drain();
}

void DelayedFetchPurgatory::check_partition(const storage::TopicPartition& tp) {
  std::vector<OpPtr> here;
  {
    std::lock_guard lock(mu_);
    auto it = watchers_.find(tp);
    if (it == watchers_.end()) return;
    bool for_thread = false;
    for (const auto& op : it->second) {
      if (op->where == Completion::kInline) {
        here.push_back(op);
      } else {
        op->dirty = true;
        for_thread = true;
      }
    }
    if (for_thread) wake_locked();
  }
  for (const auto& op : here) check(op);
}

void DelayedFetchPurgatory::notify(const storage::TopicPartition& tp) {
  std::lock_guard lock(mu_);
  if (!watchers_.contains(tp)) return;
  changed_.insert(tp);
  wake_locked();
}

size_t DelayedFetchPurgatory::waiting() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

bool DelayedFetchPurgatory::check(const OpPtr& op) {
  if (op->claimed.load(std::memory_order_acquire)) return false;
  bool won = false;
  InlineScope::run(this, [&] {
    std::lock_guard check_lock(op->check_mu);
    if (op->claimed.load(std::memory_order_acquire) || !op->ready()) return;
    won = !op->claimed.exchange(true, std::memory_order_acq_rel);
  });
  if (!won) return false;
  {
    std::lock_guard lock(mu_);
    unlist_locked(op);
  }
  op->complete(false);
  return true;
}

void DelayedFetchPurgatory::expire(const OpPtr& op) {
  {
    // Not while a check of it runs: complete() never overlaps ready().
    std::lock_guard check_lock(op->check_mu);
    if (op->claimed.exchange(true, std::memory_order_acq_rel)) return;
  }
  {
    std::lock_guard lock(mu_);
    unlist_locked(op);
  }
  op->complete(true);
}

void DelayedFetchPurgatory::unlist_locked(const OpPtr& op) {
  if (!op->listed) return;
  op->listed = false;
  ops_.erase(op->pos);
  for (const auto& tp : op->watched) {
    auto it = watchers_.find(tp);
    if (it == watchers_.end()) continue;
    std::erase(it->second, op);
    if (it->second.empty()) watchers_.erase(it);
  }
}

void DelayedFetchPurgatory::wake_locked() {
  kick_ = true;
  wake_.notify_one();
}

void DelayedFetchPurgatory::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    kick_ = false;
    sleeping_until_ = INT64_MIN;
    for (const auto& tp : changed_) {
      auto it = watchers_.find(tp);
      if (it == watchers_.end()) continue;
      for (const auto& op : it->second) op->dirty = true;
    }
    changed_.clear();
    const int64_t now = clock_();
    std::vector<OpPtr> expired;
    std::vector<OpPtr> to_check;
    int64_t next_deadline = INT64_MAX;
    for (const auto& op : ops_) {
      if (op->deadline_ms <= now) {
        expired.push_back(op);
        continue;
      }
      next_deadline = std::min(next_deadline, op->deadline_ms);
      if (op->dirty) {
        op->dirty = false;
        to_check.push_back(op);
      }
    }
    lock.unlock();
    // ready() and complete() touch partitions (their own locks): never under ours.
    for (const auto& op : expired) expire(op);
    if (!to_check.empty()) {
      InlineScope::run(this, [&] {
        for (const auto& op : to_check) check(op);
      });
    }
    lock.lock();
    if (stop_) break;
    // kick_: an add() or notification came while we were not waiting.
    if (kick_) continue;
    if (next_deadline == INT64_MAX) {
      sleeping_until_ = INT64_MAX;
      wake_.wait(lock, [&] { return stop_ || kick_; });
    } else {
      const int64_t wait = std::min<int64_t>(std::max<int64_t>(1, next_deadline - clock_()), 100);
      sleeping_until_ = clock_() + wait;
      wake_.wait_for(lock, std::chrono::milliseconds(wait), [&] { return stop_ || kick_; });
    }
  }
  sleeping_until_ = INT64_MIN;
}

void DelayedFetchPurgatory::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::vector<OpPtr> left;
  {
    std::lock_guard lock(mu_);
    left.assign(ops_.begin(), ops_.end());
  }
  for (const auto& op : left) expire(op);
}

}  // namespace keel::cluster
