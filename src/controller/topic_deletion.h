#pragma once
// One topic's deletion as Kafka's TopicDeletionManager tracks it: every
// replica is deleted by a StopReplica (delete) that its broker answered
// without error, and the topic leaves the store only once all of them are.
// A replica whose broker is down, or that answered with an error, is
// ineligible: the deletion waits until that broker starts again, then
// retries it. Pure bookkeeping, so it can be tested without a controller;
// the controller's event thread owns each instance.

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace keel::controller {

// Kafka's replica states during a deletion (ReplicaDeletionStarted,
// ReplicaDeletionSuccessful, ReplicaDeletionIneligible); kPending: not tried yet.
enum class ReplicaDeletion { kPending, kStarted, kSuccessful, kIneligible };

class TopicDeletion {
 public:
  using Replica = std::pair<int32_t, int32_t>;  // (partition, broker)

  TopicDeletion() = default;
  // Every replica of the topic's assignment, pending.
  explicit TopicDeletion(const std::map<int32_t, std::vector<int32_t>>& partitions);

  // Starts the replicas neither deleted nor under way: those on `live`
  // brokers are started and returned (each gets StopReplica with delete),
  // the others become ineligible. Call only when can_start().
  std::vector<Replica> start(const std::vector<int32_t>& live);
  // The StopReplica answer of a started replica: successful, or ineligible.
  // Answers for replicas not started (an earlier attempt) are ignored.
  void answered(int32_t partition, int32_t broker, bool ok);
  // A broker went (or bounced): its started replicas will not answer.
  void broker_offline(int32_t broker);
  // A broker started: true when it hosts an ineligible replica, which the
  // next start() retries.
  bool broker_started(int32_t broker);

  bool done() const;  // every replica deleted
  // Nothing in flight, something left, and not waiting for a broker to come back.
  bool can_start() const;
  bool any_ineligible() const;
  // Ever started (StopReplica sent): the replicas are going.
  bool started() const { return started_; }
  ReplicaDeletion state(int32_t partition, int32_t broker) const;
  const std::map<Replica, ReplicaDeletion>& replicas() const { return replicas_; }

 private:
  bool any(ReplicaDeletion s) const;
  std::map<Replica, ReplicaDeletion> replicas_;
  bool retry_due_ = true;  // false after a start, until a broker with an ineligible replica starts
  bool started_ = false;
};

}  // namespace keel::controller
