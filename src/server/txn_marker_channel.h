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
// The partitions this broker leads are written in process when the channel
// has a LocalWriter (the broker's: server/txn_marker_writes.h): on the
// thread that calls send() (with no delay), without a request, so a
// transaction whose partitions are all led here costs no thread hand-off;
// their answers are judged as a leader's. With no delay the partitions are
// grouped by leader on the caller's thread too; requests to other brokers
// always leave from the link's thread.
//
// Thread-safe. stop() drops every answer still to come (the coordinator is
// about to go) and waits for answers being delivered to return.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
#include "txn/marker_channel.h"

namespace keel::cluster {
class MetadataCache;
}

namespace keel::server {

class TxnBrokerLink;

class ReplicaMarkerChannel final : public txn::MarkerChannel {
 public:
  static constexpr int16_t kWriteTxnMarkersVersion = 1;
  // Writes a WriteTxnMarkers request's markers on this broker and answers
  // once, as the handler would (from any thread, possibly before it returns).
  using LocalWriter = std::function<void(const protocol::WriteTxnMarkersRequest&,
                                         std::function<void(protocol::WriteTxnMarkersResponse)>)>;

  // Without a local writer, markers for this broker go through the link too.
  ReplicaMarkerChannel(TxnBrokerLink& link, const cluster::MetadataCache& metadata, LocalWriter local = {});
  ~ReplicaMarkerChannel() override;  // stop()

  void send(txn::TxnMarker marker, int64_t delay_ms, Done done) override;
  void stop();

  // Requests sent so far (one per leader per flush): for tests and metrics.
  uint64_t requests_sent() const;
  // Markers written through the local writer so far (one per send()'s local partitions).
  uint64_t local_writes() const;

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
    uint64_t local_writes = 0;
  };

  void route(txn::TxnMarker marker, Done done);
  void flush(int32_t broker);
  // Writes `marker` (this broker's partitions of a send) with the local writer.
  void write_locally(txn::TxnMarker marker, const std::shared_ptr<Gather>& gather);
  // The results for `marker`'s partitions in a leader's answer for it
  // (null: the answer left the marker out).
  static std::vector<txn::MarkerResult> results_of(
      const txn::TxnMarker& marker, const protocol::WriteTxnMarkersResponse::WritableTxnMarkerResult* answer);
  // Adds results to a gather; runs its done (outside the lock) when complete.
  static void deliver(const std::shared_ptr<State>& state, const std::shared_ptr<Gather>& gather,
                      std::vector<txn::MarkerResult> results);

  TxnBrokerLink& link_;
  const cluster::MetadataCache& metadata_;
  const LocalWriter local_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace keel::server
