#pragma once
// Which replication throttles the REST reassignments set, kept in the
// coordination store so that any broker's REST API removes them once their
// reassignments are over: the controller after a controller change, or a
// broker restarted since. kafka-reassign-partitions --verify needs no record
// because its user passes the plan again; a REST caller does not, and the
// configs alone cannot tell a throttle the REST set from one an operator set
// with kafka-configs (which must stay).
//
// One Keel-owned node, /keel/reassignment_throttles (the same on ZooKeeper
// and the embedded store; Kafka ignores it):
//   {"version":1,"topics":["orders"],"brokers":[1,2,3]}
// changed by compare-and-set on its version, retried when another broker's
// REST wrote in between.
//
// Threads: any; every call is a synchronous store round trip, so callers run
// it on a REST worker, never on a handler's answering thread.

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "common/result.h"

namespace keel::coord {
class CoordinationStore;
}

namespace keel::server::rest {

struct ThrottledSet {
  std::set<std::string> topics;  // leader/follower.replication.throttled.replicas set on them
  std::set<int32_t> brokers;     // leader/follower.replication.throttled.rate set on them
  bool empty() const { return topics.empty() && brokers.empty(); }
};

class ThrottleRecord {
 public:
  static constexpr const char* kPath = "/keel/reassignment_throttles";

  // `store` gives the broker's store, or null while it is not open (the
  // calls then fail with CoordErrc::kConnectionLoss).
  explicit ThrottleRecord(std::function<coord::CoordinationStore*()> store) : store_(std::move(store)) {}

  // What is recorded (empty when the node does not exist yet).
  Result<ThrottledSet> read() const;
  // Adds `more`; returns what was not recorded before (to take back if the
  // configs are then refused).
  Result<ThrottledSet> add(const ThrottledSet& more) const;
  // Removes `done` (entries not recorded are ignored).
  Result<void> remove(const ThrottledSet& done) const;

 private:
  // Applies `change` to the recorded set and writes it, retrying on a
  // concurrent write.
  Result<void> update(const std::function<void(ThrottledSet&)>& change) const;

  std::function<coord::CoordinationStore*()> store_;
};

}  // namespace keel::server::rest
