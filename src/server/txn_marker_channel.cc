#include "server/txn_marker_channel.h"

#include <chrono>
#include <optional>
#include <set>
#include <utility>

#include "cluster/metadata_cache.h"
#include "common/log.h"
#include "net/client.h"
#include "protocol/error_code.h"
#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
#include "server/txn_broker_link.h"

namespace keel::server {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("txn");
  return l;
}

// Runs fn unless the channel has stopped; stop() waits for it to return.
template <typename State, typename Fn>
void guarded(const std::shared_ptr<State>& state, Fn&& fn) {
  {
    std::lock_guard lock(state->mu);
    if (state->stopped) return;
    ++state->delivering;
  }
  fn();
  std::lock_guard lock(state->mu);
  if (--state->delivering == 0) state->idle.notify_all();
}

std::vector<txn::MarkerResult> all_failed(const txn::TxnMarker& marker, ErrorCode error) {
  std::vector<txn::MarkerResult> out;
  for (const auto& tp : marker.partitions) out.push_back({tp, error, false});
  return out;
}

protocol::WriteTxnMarkersRequest::WritableTxnMarker wire_marker(const txn::TxnMarker& marker) {
  protocol::WriteTxnMarkersRequest::WritableTxnMarker wm;
  wm.producer_id = marker.producer_id;
  wm.producer_epoch = marker.producer_epoch;
  wm.transaction_result = marker.commit;
  wm.coordinator_epoch = marker.coordinator_epoch;
  std::map<std::string, std::vector<int32_t>> topics;
  for (const auto& tp : marker.partitions) topics[tp.topic].push_back(tp.partition);
  for (auto& [name, parts] : topics) wm.topics.push_back({name, std::move(parts), {}});
  return wm;
}

}  // namespace

ReplicaMarkerChannel::ReplicaMarkerChannel(TxnBrokerLink& link, const cluster::MetadataCache& metadata,
                                           LocalWriter local)
    : link_(link), metadata_(metadata), local_(std::move(local)) {}

ReplicaMarkerChannel::~ReplicaMarkerChannel() { stop(); }

void ReplicaMarkerChannel::stop() {
  std::unique_lock lock(state_->mu);
  state_->stopped = true;
  state_->queues.clear();
  state_->idle.wait(lock, [this] { return state_->delivering == 0; });
}

uint64_t ReplicaMarkerChannel::requests_sent() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

uint64_t ReplicaMarkerChannel::local_writes() const {
  std::lock_guard lock(state_->mu);
  return state_->local_writes;
}

void ReplicaMarkerChannel::send(txn::TxnMarker marker, int64_t delay_ms, Done done) {
  auto state = state_;
  if (delay_ms <= 0) {
    // Routed here: what this broker leads is written on this thread (no
    // hand-off), requests to other leaders are queued for the link's thread.
    guarded(state, [&] { route(std::move(marker), std::move(done)); });
    return;
  }
  link_.runtime().schedule(std::chrono::milliseconds(delay_ms),
                           [this, state, marker = std::move(marker), done = std::move(done)]() mutable {
                             guarded(state, [&] { route(std::move(marker), std::move(done)); });
                           });
}

void ReplicaMarkerChannel::route(txn::TxnMarker marker, Done done) {
  auto gather = std::make_shared<Gather>();
  gather->done = std::move(done);
  auto snapshot = metadata_.snapshot();
  std::map<int32_t, txn::TxnMarker> by_leader;
  std::optional<txn::TxnMarker> here;      // the partitions written locally
  std::vector<txn::MarkerResult> settled;  // answered without a request
  for (const auto& tp : marker.partitions) {
    const cluster::TopicInfo* topic = snapshot->topic(tp.topic);
    const cluster::PartitionInfo* p = snapshot->partition(tp.topic, tp.partition);
    if (!topic && !snapshot->from_controller) {
      // Not known yet, not known deleted: a broker starting up loads
      // __transaction_state (and aborts timed-out transactions) before the
      // controller's first UpdateMetadata names its topics. Skipping the
      // marker here would let an aborted transaction's records read as
      // committed; retry until the metadata says where the partition is.
      settled.push_back({tp, ErrorCode::kNotLeaderOrFollower, false});
    } else if (!topic || topic->deleting() || !p) {
      settled.push_back({tp, ErrorCode::kNone, true});
    } else if (p->leader < 0 || !snapshot->brokers.count(p->leader)) {
      settled.push_back({tp, ErrorCode::kNotLeaderOrFollower, false});
    } else if (local_ && p->leader == link_.broker_id()) {
      // The metadata may be behind: the write itself checks leadership, and
      // answers NOT_LEADER_OR_FOLLOWER as the handler would.
      if (!here) {
        here = marker;
        here->partitions.clear();
      }
      here->partitions.push_back(tp);
    } else {
      txn::TxnMarker& m = by_leader[p->leader];
      if (m.partitions.empty()) {
        m = marker;
        m.partitions.clear();
      }
      m.partitions.push_back(tp);
    }
  }
  // + the local write, + the settled ones, delivered last.
  gather->waiting = by_leader.size() + (here ? 1 : 0) + 1;
  std::vector<int32_t> to_flush;
  {
    std::lock_guard lock(state_->mu);
    for (auto& [leader, m] : by_leader) {
      auto& queue = state_->queues[leader];
      if (queue.empty()) to_flush.push_back(leader);
      queue.push_back({std::move(m), gather});
    }
  }
  auto state = state_;
  for (int32_t leader : to_flush) {
    link_.runtime().post([this, state, leader] { guarded(state, [&] { flush(leader); }); });
  }
  if (here) write_locally(std::move(*here), gather);
  deliver(state_, gather, std::move(settled));
}

void ReplicaMarkerChannel::write_locally(txn::TxnMarker marker, const std::shared_ptr<Gather>& gather) {
  protocol::WriteTxnMarkersRequest req;
  req.markers.push_back(wire_marker(marker));
  {
    std::lock_guard lock(state_->mu);
    ++state_->local_writes;
  }
  log()->trace("writing {} partitions' markers of producer {} locally", marker.partitions.size(), marker.producer_id);
  local_(req, [state = state_, gather, marker = std::move(marker)](protocol::WriteTxnMarkersResponse resp) {
    const auto* answer =
        !resp.markers.empty() && resp.markers[0].producer_id == marker.producer_id ? &resp.markers[0] : nullptr;
    deliver(state, gather, results_of(marker, answer));
  });
}

std::vector<txn::MarkerResult> ReplicaMarkerChannel::results_of(
    const txn::TxnMarker& marker, const protocol::WriteTxnMarkersResponse::WritableTxnMarkerResult* answer) {
  std::vector<txn::MarkerResult> results;
  for (const auto& tp : marker.partitions) {
    ErrorCode error = ErrorCode::kUnknownServerError;
    if (answer) {
      for (const auto& t : answer->topics) {
        if (t.name != tp.topic) continue;
        for (const auto& p : t.partitions) {
          if (p.partition_index == tp.partition) error = static_cast<ErrorCode>(p.error_code);
        }
      }
    }
    results.push_back({tp, error, false});
  }
  return results;
}

void ReplicaMarkerChannel::flush(int32_t broker) {
  std::vector<Queued> batch;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->queues.find(broker);
    if (it == state_->queues.end()) return;
    batch.swap(it->second);
    state_->queues.erase(it);
    ++state_->requests;
  }
  if (batch.empty()) return;
  protocol::WriteTxnMarkersRequest req;
  for (const auto& q : batch) req.markers.push_back(wire_marker(q.marker));
  log()->debug("WriteTxnMarkers to broker {}: {} markers", broker, req.markers.size());
  auto state = state_;
  auto shared = std::make_shared<std::vector<Queued>>(std::move(batch));
  link_.request<protocol::WriteTxnMarkersResponse>(
      broker, req, kWriteTxnMarkersVersion,
      [state, shared, broker](Result<protocol::WriteTxnMarkersResponse> resp) {
        for (size_t i = 0; i < shared->size(); ++i) {
          const Queued& q = (*shared)[i];
          std::vector<txn::MarkerResult> results;
          if (!resp) {
            const bool unreachable = resp.error() == make_error_code(net::ClientErrc::kConnectFailed);
            if (i == 0) {
              log()->info("WriteTxnMarkers to broker {} failed: {}", broker, resp.error().message());
            }
            results = all_failed(q.marker, unreachable ? ErrorCode::kNotLeaderOrFollower
                                                       : ErrorCode::kNetworkException);
          } else {
            // The answer lists the markers in request order; a producer id
            // that does not match leaves this marker's partitions unanswered.
            results = results_of(q.marker, i < resp->markers.size() &&
                                                   resp->markers[i].producer_id == q.marker.producer_id
                                               ? &resp->markers[i]
                                               : nullptr);
          }
          deliver(state, q.gather, std::move(results));
        }
      });
}

void ReplicaMarkerChannel::deliver(const std::shared_ptr<State>& state, const std::shared_ptr<Gather>& gather,
                                   std::vector<txn::MarkerResult> results) {
  Done done;
  std::vector<txn::MarkerResult> all;
  {
    std::lock_guard lock(state->mu);
    for (auto& r : results) gather->results.push_back(std::move(r));
    if (--gather->waiting > 0 || state->stopped) return;
    done = std::move(gather->done);
    all = std::move(gather->results);
  }
  guarded(state, [&] { done(std::move(all)); });
}

}  // namespace keel::server
