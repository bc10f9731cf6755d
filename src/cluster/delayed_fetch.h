#pragma once
// The purgatory for Fetch requests that wait (long polling): a fetch that
// found fewer than min.bytes waits until enough data arrives on a partition
// it reads, or until max.wait.ms passes, then completes once.
//
// One thread of its own: appends only mark the partitions that changed
// (cheap, on the produce path); the thread re-checks the operations watching
// them and completes the satisfied and the expired ones. `complete` runs on
// that thread (it reads the log positions and hands the response to the
// network, which may be done from any thread). Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "storage/checkpoint.h"

namespace keel::cluster {

class DelayedFetchPurgatory {
 public:
  // clock: milliseconds (steady), injectable for tests.
  explicit DelayedFetchPurgatory(std::function<int64_t()> clock = {});
  ~DelayedFetchPurgatory();

  // Parks an operation. `ready()` says whether it may complete now (called on
  // the purgatory thread after a watched partition changed); `complete(expired)`
  // runs exactly once — when ready() is true, at the deadline, or at shutdown.
  void add(std::vector<storage::TopicPartition> watched, int64_t deadline_ms, std::function<bool()> ready,
           std::function<void(bool expired)> complete);
  // A partition got data (or changed leadership, or was deleted): its
  // watchers are re-checked.
  void notify(const storage::TopicPartition& tp);
  // Completes everything left (as expired) and joins the thread. Idempotent.
  void shutdown();
  size_t waiting() const;
  // The purgatory's clock (deadlines are in it).
  int64_t now() const { return clock_(); }

 private:
  struct Op {
    std::vector<storage::TopicPartition> watched;
    int64_t deadline_ms;
    std::function<bool()> ready;
    std::function<void(bool)> complete;
    bool dirty = false;
  };
  using OpPtr = std::shared_ptr<Op>;
  void run();
  void remove_locked(const OpPtr& op);

  std::function<int64_t()> clock_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::list<OpPtr> ops_;
  std::map<storage::TopicPartition, std::vector<std::weak_ptr<Op>>> watchers_;
  std::set<storage::TopicPartition> changed_;
  bool stop_ = false;
  bool kick_ = false;
  std::thread thread_;
};

}  // namespace keel::cluster
