#include "cluster/delayed_fetch.h"

#include <algorithm>
#include <chrono>

namespace keel::cluster {

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

DelayedFetchPurgatory::DelayedFetchPurgatory(std::function<int64_t()> clock)
    : clock_(clock ? std::move(clock) : steady_ms) {
  thread_ = std::thread([this] { run(); });
}

DelayedFetchPurgatory::~DelayedFetchPurgatory() { shutdown(); }

void DelayedFetchPurgatory::add(std::vector<storage::TopicPartition> watched, int64_t deadline_ms,
                                std::function<bool()> ready, std::function<void(bool)> complete) {
  auto op = std::make_shared<Op>();
  op->watched = std::move(watched);
  op->deadline_ms = deadline_ms;
  op->ready = std::move(ready);
  op->complete = std::move(complete);
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      for (const auto& tp : op->watched) watchers_[tp].push_back(op);
      // Data may have arrived between the handler's read and now: check once.
      op->dirty = true;
      ops_.push_back(op);
      kick_ = true;
      wake_.notify_one();
      return;
    }
  }
  op->complete(true);  // shut down: answer with what there is
}

void DelayedFetchPurgatory::notify(const storage::TopicPartition& tp) {
  std::lock_guard lock(mu_);
  auto it = watchers_.find(tp);
  if (it == watchers_.end()) return;
  changed_.insert(tp);
  kick_ = true;
  wake_.notify_one();
}

size_t DelayedFetchPurgatory::waiting() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

void DelayedFetchPurgatory::remove_locked(const OpPtr& op) {
  ops_.remove(op);
  for (const auto& tp : op->watched) {
    auto it = watchers_.find(tp);
    if (it == watchers_.end()) continue;
    std::erase_if(it->second, [&](const std::weak_ptr<Op>& w) {
      auto p = w.lock();
      return !p || p == op;
    });
    if (it->second.empty()) watchers_.erase(it);
  }
}

void DelayedFetchPurgatory::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    kick_ = false;
    for (const auto& tp : changed_) {
      auto it = watchers_.find(tp);
      if (it == watchers_.end()) continue;
      for (auto& w : it->second) {
        if (auto op = w.lock()) op->dirty = true;
      }
    }
    changed_.clear();
    const int64_t now = clock_();
    std::vector<std::pair<OpPtr, bool>> done;
    int64_t next_deadline = INT64_MAX;
    for (const auto& op : ops_) {
      if (op->deadline_ms <= now) {
        done.emplace_back(op, true);
        continue;
      }
      next_deadline = std::min(next_deadline, op->deadline_ms);
    }
    std::vector<OpPtr> to_check;
    for (const auto& op : ops_) {
      if (op->dirty && op->deadline_ms > now) {
        op->dirty = false;
        to_check.push_back(op);
      }
    }
    for (auto& [op, expired] : done) remove_locked(op);
    lock.unlock();
    // ready() and complete() touch partitions (their own locks): never under ours.
    for (const auto& op : to_check) {
      if (op->ready()) done.emplace_back(op, false);
    }
    lock.lock();
    for (auto& [op, expired] : done) {
      if (!expired) remove_locked(op);
    }
    lock.unlock();
    for (auto& [op, expired] : done) op->complete(expired);
    lock.lock();
    if (stop_) break;
    // kick_: an add() or notify() came while we were not waiting.
    if (next_deadline == INT64_MAX) {
      wake_.wait(lock, [&] { return stop_ || kick_; });
    } else {
      const int64_t wait = std::max<int64_t>(1, next_deadline - clock_());
      wake_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait, 100)),
                     [&] { return stop_ || kick_; });
    }
  }
}

void DelayedFetchPurgatory::shutdown() {
  std::list<OpPtr> left;
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    left.swap(ops_);
    watchers_.clear();
  }
  for (auto& op : left) op->complete(true);
}

}  // namespace keel::cluster
