#pragma once
// The coordinator's MarkerChannel on the wire: WriteTxnMarkers to the
// leaders of a transaction's partitions (Kafka's
// TransactionMarkerChannelManager). Partitions are grouped by their leader
// in the metadata cache; markers queued for one broker while a request to it
// is being built leave together in one WriteTxnMarkers (v1). What happens
// to each partition's answer (retry, give up, done) is the coordinator's
// call (txn/coordinator.h); this channel only reports:
// - a partition whose topic or partition is gone from the metadata: deleted;
// - no leader known, or the leader unreachable (connect failed):
//   NOT_LEADER_OR_FOLLOWER, so the coordinator retries after its backoff and
//   the next attempt looks the leader up again;
// - a request that got no answer: NETWORK_EXCEPTION;
// - otherwise the leader's error for the partition (UNKNOWN_SERVER_ERROR
//   when its answer leaves the partition out).
//
// Thread-safe. stop() drops every answer still to come (the coordinator is
// about to go) and waits for answers being delivered to return.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "txn/marker_channel.h"

namespace keel::cluster {
class MetadataCache;
}

namespace keel::server {

class TxnBrokerLink;

class ReplicaMarkerChannel final : public txn::MarkerChannel {
 public:
  static constexpr int16_t kWriteTxnMarkersVersion = 1;

  ReplicaMarkerChannel(TxnBrokerLink& link, const cluster::MetadataCache& metadata);
  ~ReplicaMarkerChannel() override;  // stop()

  void send(txn::TxnMarker marker, int64_t delay_ms, Done done) override;
  void stop();

  // Requests sent so far (one per leader per flush): for tests and metrics.
  uint64_t requests_sent() const;

 private:
  // One send()'s results, complete when every leader has answered.
  struct Gather {
    std::vector<txn::MarkerResult> results;
    size_t waiting = 0;
    Done done;
  };
  struct Queued {
    txn::TxnMarker marker;  // only the partitions this leader has
    std::shared_ptr<Gather> gather;
  };
  // Shared with callbacks that may outlive the channel.
  struct State {
    std::mutex mu;
    std::condition_variable idle;
    bool stopped = false;
    int delivering = 0;
    std::map<int32_t, std::vector<Queued>> queues;  // leader -> markers not sent yet
    uint64_t requests = 0;
  };

  void route(txn::TxnMarker marker, Done done);
  void flush(int32_t broker);
  // Adds results to a gather; runs its done (outside the lock) when complete.
  static void deliver(const std::shared_ptr<State>& state, const std::shared_ptr<Gather>& gather,
                      std::vector<txn::MarkerResult> results);

  TxnBrokerLink& link_;
  const cluster::MetadataCache& metadata_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace keel::server
