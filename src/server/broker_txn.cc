// The broker's transaction coordinator (issue 25): its parts and their order.
// - start: a client runtime of its own ("keel-txn": the coordinator's
//   connections to partition leaders and other coordinators, and the loading
//   of __transaction_state partitions), the state log over the replica
//   manager, the marker channel, the coordinator and its timer, and the
//   KIP-890 verifier for Produce. Before the controller starts, so the
//   first LeaderAndIsr finds them. The channel writes the markers of the
//   partitions this broker leads itself (server/txn_marker_writes.h).
// - leadership of a __transaction_state partition (the replica manager's
//   listener, as for __consumer_offsets): posted to that runtime in order,
//   where the partition is loaded (on_elected) or dropped (on_resigned).
// - stop: after the network and the controller, before the logs close: the
//   timer, then the marker channel (answers still to come are dropped), the
//   connections, the runtime (queued loads see `stopping` and do nothing),
//   and only then the coordinator.

#include <atomic>
#include <chrono>

#include "cluster/metadata_cache.h"
#include "cluster/producer_id_manager.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "net/client.h"
#include "server/broker.h"
#include "server/txn_broker_link.h"
#include "server/txn_marker_channel.h"
#include "server/txn_marker_writes.h"
#include "server/txn_state_log.h"
#include "server/txn_verification.h"
#include "txn/coordinator.h"
#include "txn/producer_ids.h"

namespace keel::server {

struct Broker::TxnParts {
  std::atomic<bool> stopping{false};
  std::unique_ptr<net::ClientRuntime> runtime;
  std::unique_ptr<TxnBrokerLink> link;
  std::unique_ptr<ReplicaTxnStateLog> log;
  std::unique_ptr<ReplicaMarkerChannel> markers;
  std::unique_ptr<txn::ClusterProducerIds> producer_ids;
  std::unique_ptr<txn::TransactionCoordinator> coordinator;
  std::unique_ptr<TxnPartitionVerifier> verifier;
};

void Broker::start_transactions() {
  auto parts = std::make_shared<TxnParts>();
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  parts->runtime = std::make_unique<net::ClientRuntime>("keel-txn");
  TxnBrokerLink::Options lo;
  lo.broker_id = config_.broker_id;
  lo.listener_name = config_.inter_broker_listener_name;
  lo.local = local_requests_;
  lo.client_id = "txn-coordinator-" + std::to_string(config_.broker_id);
  parts->link = std::make_unique<TxnBrokerLink>(*parts->runtime, *metadata_, lo);
  parts->log = std::make_unique<ReplicaTxnStateLog>(*replicas_, now);
  // Markers for the partitions led here are written in process, on the
  // coordinator's thread, as the WriteTxnMarkers handler writes them.
  auto local_markers = [this, now](const protocol::WriteTxnMarkersRequest& req,
                                   std::function<void(protocol::WriteTxnMarkersResponse)> answer) {
    // The clock a request's handler stamps the markers with (RequestContext::now_ms).
    const int64_t at = services_.now_ms ? services_.now_ms() : now();
    write_txn_markers(services_, req, /*allowed=*/true, at, std::move(answer));
  };
  parts->markers = std::make_unique<ReplicaMarkerChannel>(*parts->link, *metadata_, std::move(local_markers));
  parts->producer_ids = std::make_unique<txn::ClusterProducerIds>(*producer_ids_);
  txn::TxnCoordinatorConfig tc;
  tc.num_partitions = config_.transaction_state_log_num_partitions;
  tc.transaction_max_timeout_ms = config_.transaction_max_timeout_ms;
  tc.transactional_id_expiration_ms = config_.transactional_id_expiration_ms;
  tc.abort_timed_out_interval_ms = config_.transaction_abort_timed_out_transaction_cleanup_interval_ms;
  tc.remove_expired_interval_ms = config_.transaction_remove_expired_transaction_cleanup_interval_ms;
  tc.max_batch_bytes = config_.message_max_bytes;
  parts->coordinator =
      std::make_unique<txn::TransactionCoordinator>(tc, *parts->log, *parts->producer_ids, *parts->markers, now);
  parts->verifier = std::make_unique<TxnPartitionVerifier>(*parts->coordinator, *parts->link, *metadata_);
  parts->coordinator->start();
  services_.txns = parts->coordinator.get();
  services_.txn_verifier = parts->verifier.get();
  std::lock_guard lock(txn_mu_);
  txn_ = std::move(parts);
}

void Broker::txn_leadership_changed(int32_t partition, bool leader, int32_t epoch) {
  std::lock_guard lock(txn_mu_);
  if (!txn_ || txn_->stopping) return;
  TxnParts* parts = txn_.get();
  // One thread, in the order the replica manager told: a load and the
  // resignation that follows it never swap.
  parts->runtime->post([parts, partition, leader, epoch] {
    if (parts->stopping) return;
    if (leader) {
      keel::logger("txn")->info("loading __transaction_state-{} (coordinator epoch {})", partition, epoch);
      parts->coordinator->on_elected(partition, epoch);
    } else {
      parts->coordinator->on_resigned(partition, epoch >= 0 ? std::optional<int32_t>(epoch) : std::nullopt);
    }
  });
}

void Broker::stop_transactions() {
  std::shared_ptr<TxnParts> parts;
  {
    std::lock_guard lock(txn_mu_);
    parts = std::move(txn_);
  }
  services_.txn_verifier = nullptr;
  services_.txns = nullptr;
  if (!parts) return;
  parts->stopping = true;
  parts->coordinator->stop();
  parts->markers->stop();
  parts->link->close();
  parts->runtime.reset();
  parts->verifier.reset();
  parts->coordinator.reset();
}

}  // namespace keel::server
