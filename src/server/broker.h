#pragma once
// The Broker owns everything a running keel process has: its configuration,
// its identity (broker id, cluster id from meta.properties), the coordination
// store (embedded, or ZooKeeper with zookeeper.connect), the log manager, the
// metadata cache, the replica manager, the controller, the router and the
// network server.
//
// Start-up order: logs (recovery) → listeners bound → store, registration and
// controller election → serving. Shutdown is the reverse: stop accepting and
// close connections, resign, complete waiting requests, flush and close the
// logs (clean-shutdown marker), close the store session (the ephemeral
// registration goes with it).

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/reload_hooks.h"
#include "config/config.h"
#include "http/server.h"
#include "metrics/registry.h"
#include "net/server.h"
#include "server/request_context.h"
#include "server/router.h"
#include "server/services.h"

namespace keel::coord {
class CoordinationStore;
class KafkaStore;
class AclStore;
class AclChangeListener;
class ZooKeeperStore;
}  // namespace keel::coord
namespace keel::security {
class AclAuthorizer;
}
namespace keel::storage {
class LogManager;
}
namespace keel::cluster {
class FetchSessionCache;
class MetadataCache;
class ProducerIdManager;
class ReplicaManager;
}  // namespace keel::cluster
namespace keel::controller {
class Controller;
}
namespace keel::net {
class ClientRuntime;
}
namespace keel::group {
class GroupCoordinator;
class ReplicaOffsetsLog;
}  // namespace keel::group

namespace keel::server {

class LocalChannel;
class DynamicBrokerConfig;
class ScramCredentialCache;
class ClientQuotaManager;
class QuotaThrottler;
class ConnectionQuotas;
class TlsListeners;
class BrokerMetrics;
struct SaslCredentials;

class Broker {
 public:
  // Checks the log directories (meta.properties: creates it, or checks it
  // names this broker and one cluster) and opens the logs (recovering them
  // after an unclean stop). Throws std::runtime_error on failure.
  explicit Broker(config::BrokerConfig config);
  ~Broker();

  // Binds the listeners, joins the cluster (registration, election) and
  // starts serving. Throws std::system_error when a listener cannot be
  // bound, std::runtime_error when the store cannot be used.
  void start();
  // Clean shutdown. Idempotent.
  void stop();

  // What a reload (SIGHUP, `systemctl reload`) re-reads besides the log
  // file: modules with files an operator replaces in place (the TLS
  // listeners' certificates) add a hook here; main.cc runs them.
  ReloadHooks& reload_hooks() { return reload_hooks_; }
  // True when an in-process ApiVersions request through the router is
  // answered within `timeout`: the systemd watchdog's liveness probe
  // (docs/operations.md). False before start() and after stop().
  bool responsive(std::chrono::milliseconds timeout);

  const BrokerIdentity& identity() const { return identity_; }
  // The ports actually bound, in listener order (useful with port 0).
  const std::vector<uint16_t>& bound_ports() const { return ports_; }
  // The HTTP listeners' ports (http.listeners), in order.
  const std::vector<uint16_t>& http_ports() const { return http_ports_; }

  // Re-reads the key and trust stores of the SSL and SASL_SSL listeners and of
  // the inter-broker client (certificates replaced in place, for SIGHUP): new
  // connections get the new ones, open ones keep theirs. "" when done, else
  // why not (those keep their old stores). Thread-safe; a ReloadHooks hook.
  std::string reload_tls();

 private:
  void open_store();
  void settle_cluster_id();
  // authorizer.class.name set: loads the ACLs from the store and follows
  // their change notifications. Throws std::runtime_error when they cannot be read.
  void start_authorizer();
  // ZooKeeper: follows the session from the moment it exists (open_store),
  // so that no expiry goes unnoticed while the broker starts.
  void watch_zookeeper_session(coord::ZooKeeperStore& zk);
  // Replaces an expired ZooKeeper session from a thread of the broker's own
  // (never from the listener); a no-op while a renewal runs or once stopped.
  // Any thread: the session listener, and start-up steps that met an expired session.
  void renew_session();
  // The renewal thread's work: a new session once the old one is really
  // gone, then everything that lived in the old one set up again (rejoin).
  void run_session_renewal(coord::ZooKeeperStore& zk);
  // After a new session: the controller registers again and re-runs the
  // election, the ACL listener re-arms its watches and reloads.
  void rejoin();

  config::BrokerConfig config_;
  BrokerIdentity identity_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<cluster::MetadataCache> metadata_;
  std::unique_ptr<cluster::ReplicaManager> replicas_;
  std::unique_ptr<cluster::FetchSessionCache> fetch_sessions_;
  std::unique_ptr<coord::CoordinationStore> store_;
  // store_ with each request timed (ZooKeeperRequestLatencyMs); null with the
  // embedded store. Kafka's stores go through it when set.
  std::unique_ptr<coord::CoordinationStore> timed_store_;
  std::unique_ptr<coord::KafkaStore> kafka_store_;
  std::unique_ptr<security::AclAuthorizer> authorizer_;    // null: no authorizer configured
  std::unique_ptr<coord::AclStore> acl_store_;
  std::unique_ptr<coord::AclChangeListener> acl_listener_;  // keeps authorizer_ equal to the store
  std::unique_ptr<DynamicBrokerConfig> dynamic_;
  std::unique_ptr<TlsListeners> tls_;  // the SSL/SASL_SSL listeners' contexts (start())
  std::unique_ptr<SaslCredentials> sasl_;                // PLAIN users, and the SCRAM cache below
  std::unique_ptr<ScramCredentialCache> scram_credentials_;  // follows /config/users once the store is open
  std::unique_ptr<ClientQuotaManager> client_quotas_;        // follows /config/users, clients, ips likewise
  // Client quota enforcement over client_quotas_' cache; kept until the
  // broker goes (the metrics registry reads its sensors).
  std::unique_ptr<QuotaThrottler> quota_throttler_;
  // max.connection.creation.rate and the per-IP connection_creation_rate,
  // asked by the acceptors (outlives server_).
  std::unique_ptr<ConnectionQuotas> connection_quotas_;
  std::unique_ptr<LocalChannel> channel_;
  std::unique_ptr<net::ClientRuntime> inter_broker_;  // the controller's connections to the brokers
  net::ConnectionInfo local_connection_;              // what the controller's in-process requests come on
  // A request to this broker's own handlers without a socket (the
  // controller's requests to itself, AlterPartition and ControlledShutdown to itself).
  std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)> local_requests_;
  // Before stopping: leadership moves away (controlled.shutdown.enable).
  void controlled_shutdown();
  // The stop's last phase: what reads the store goes, then the store (its
  // ZooKeeper session closes).
  void close_store();
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<cluster::ProducerIdManager> producer_ids_;
  std::unique_ptr<group::ReplicaOffsetsLog> offsets_log_;
  std::unique_ptr<group::GroupCoordinator> groups_;
  // The transaction coordinator and its parts (server/broker_txn.cc):
  // made in start() before the controller, gone in stop() after it.
  struct TxnParts;
  std::shared_ptr<TxnParts> txn_;  // shared_ptr: TxnParts is complete in broker_txn.cc only
  std::mutex txn_mu_;  // guards txn_ against a leadership change while it goes
  void start_transactions();
  void stop_transactions();
  // A __transaction_state partition led (or not any more) in leader epoch `epoch`.
  void txn_leadership_changed(int32_t partition, bool leader, int32_t epoch);
  Services services_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<net::Server> server_;
  std::vector<uint16_t> ports_;
  coord::ZooKeeperStore* zookeeper_ = nullptr;  // store_ when it is ZooKeeper (set before its listener)
  std::mutex session_thread_mu_;  // guards session_thread_ (renew_session runs on any thread)
  std::thread session_thread_;
  std::atomic<bool> reconnecting_{false};
  // Guards controller_ and acl_listener_ between start(), which makes them,
  // stop(), and the renewal thread, which tells them about a new session.
  std::mutex rejoin_mu_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> serving_{false};  // start() finished, stop() not begun: responsive() may probe

  // /metrics, /health and /ready on http.listeners (server/broker_http.cc).
  // The listener starts first thing, so /health answers while the logs
  // recover; /ready says 200 once serving and caught up.
  void start_http();
  void attach_metrics();
  // Under lifecycle_mu_; stage_ moves forward only.
  enum class Stage : int { kRecovering, kJoining, kServing, kStopping };
  void set_stage(Stage s);
  http::Response health();
  http::Response ready();
  std::mutex lifecycle_mu_;  // held by /ready while it reads the broker's parts; by stop() to end that
  Stage stage_ = Stage::kRecovering;
  std::unique_ptr<metrics::Registry> metrics_registry_;
  std::unique_ptr<BrokerMetrics> metrics_;
  std::unique_ptr<http::Server> http_;
  std::vector<uint16_t> http_ports_;
  ReloadHooks reload_hooks_;
};

}  // namespace keel::server
