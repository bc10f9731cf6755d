#pragma once
// The purgatory: operations that wait for a partition to change. Fetches
// wait for data (long polling), acks=all produces for the high watermark,
// admin and coordinator requests for metadata or replication. Each completes
// exactly once: when its check passes, at its deadline, or at shutdown.
//
// Where checks and completions run (Kafka's checkAndComplete):
// - `try_complete(tp)`: a partition appended or moved its high watermark
//   (Partition's hook, called outside the partition's lock). The partition's
//   *inline* operations are checked, and the satisfied ones completed, on the
//   calling thread: the follower's fetch handler that moved the high
//   watermark answers the waiting produce, the produce handler that appended
//   answers the parked follower fetches. No thread is woken for them.
// - The purgatory's own thread: deadlines, shutdown, operations added for the
//   thread (the default), and everything `notify(tp)` hands it.
//
// An operation may be added as inline only when its check is cheap and
// neither its check nor its completion takes a lock that a notifier may hold.
// Notifiers hold no partition lock, but they may hold a group or transaction
// coordinator's lock (their logs are appended under it) or be inside another
// operation's check. Operations that call back into a coordinator stay on the
// thread.
//
// Exactly once: checks of one operation never run at the same time (a mutex
// of its own, so a notification that comes during a check is checked again
// after it, never lost), and whoever claims the operation first (an atomic
// flag, taken with that mutex held) is the only one to complete it; a claimed
// operation is never checked again and never expires. A check that notifies
// this purgatory (a follower fetch's check moves the high watermark) does
// not recurse: the partitions it names are checked by the outermost
// `try_complete` on the same thread once the check has returned.

#include <atomic>
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
  // Where an operation's check and completion may run (see above).
  enum class Completion { kPurgatoryThread, kInline };

  // clock: milliseconds (steady), injectable for tests.
  explicit DelayedFetchPurgatory(std::function<int64_t()> clock = {});
  ~DelayedFetchPurgatory();

  // Parks an operation. `ready()` says whether it may complete now;
  // `complete(expired)` runs exactly once — when ready() is true, at the
  // deadline, or at shutdown — and never while ready() runs. An inline
  // operation is checked once on the calling thread before add returns (and
  // may complete there); a thread one is checked once on the thread.
  void add(std::vector<storage::TopicPartition> watched, int64_t deadline_ms, std::function<bool()> ready,
           std::function<void(bool expired)> complete, Completion where = Completion::kPurgatoryThread);
  // A partition got data or moved its high watermark: its inline watchers are
  // checked (and completed) on this thread, the others on the purgatory's.
  void try_complete(const storage::TopicPartition& tp);
  // A partition (or, for {"", -1}, the metadata) changed: all its watchers
  // are re-checked on the purgatory's thread; nothing runs on the caller's.
  void notify(const storage::TopicPartition& tp);
  // Completes everything left (as expired) and joins the thread. Idempotent.
  void shutdown();
  size_t waiting() const;
  // The purgatory's clock (deadlines are in it).
  int64_t now() const { return clock_(); }

 private:
  struct Op;
  using OpPtr = std::shared_ptr<Op>;
  struct Op {
    std::vector<storage::TopicPartition> watched;
    int64_t deadline_ms = 0;
    std::function<bool()> ready;
    std::function<void(bool)> complete;
    Completion where = Completion::kPurgatoryThread;
    std::mutex check_mu;              // one check (or claim) at a time
    std::atomic<bool> claimed{false};  // set once, by the one who completes it
    // Under the purgatory's mu_:
    bool dirty = false;  // the thread checks it on its next pass
    bool listed = false;
    std::list<OpPtr>::iterator pos;
  };
  class InlineScope;

  void run();
  // Checks `op` (in an inline scope of this purgatory); completes it when
  // ready and not claimed yet. True if this call completed it.
  bool check(const OpPtr& op);
  // Claims `op` as expired unless someone has; completes it if so.
  void expire(const OpPtr& op);
  void check_partition(const storage::TopicPartition& tp);
  void unlist_locked(const OpPtr& op);
  void wake_locked();

  std::function<int64_t()> clock_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::list<OpPtr> ops_;
  std::map<storage::TopicPartition, std::vector<OpPtr>> watchers_;
  std::set<storage::TopicPartition> changed_;
  bool stop_ = false;
  bool kick_ = false;
  // The time the waiting thread wakes up by itself (INT64_MIN while it is
  // not waiting): an add with a later deadline need not wake it.
  int64_t sleeping_until_ = INT64_MIN;
  std::thread thread_;
};

}  // namespace keel::cluster
