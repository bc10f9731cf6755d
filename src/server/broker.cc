#include "server/broker.h"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cluster/controlled_shutdown.h"
#include "cluster/fetch_session.h"
#include "cluster/metadata_cache.h"
#include "cluster/producer_id_manager.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "common/systemd_notify.h"
#include "common/thread_name.h"
#include "controller/controller.h"
#include "coord/acl_store.h"
#include "coord/embedded_store.h"
#include "coord/errors.h"
#include "coord/kafka_store.h"
#include "coord/startup_retry.h"
#include "coord/zookeeper_security.h"
#include "coord/zookeeper_store.h"
#include "net/client.h"
#include "group/coordinator.h"
#include "group/offsets_log.h"
#include "txn/log_codec.h"
#include "protocol/generated/api.h"
#include "protocol/types.h"
#include "security/acl.h"
#include "server/client_quotas.h"
#include "server/quota_throttle.h"
#include "server/connection_quotas.h"
#include "server/broker_metrics_zk.h"
#include "server/dynamic_config.h"
#include "server/broker_metrics.h"
#include "server/meta_properties.h"
#include "server/interbroker_sasl.h"
#include "server/sasl.h"
#include "server/tls_listeners.h"
#include "server/scram_credentials.h"
#include "server/topic_configs.h"
#include "storage/log_manager.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("broker");
  return l;
}

// The phases of a stop, each timed, for one line at its end ("stopped in
// 812 ms: controlled shutdown 640 ms, ...") and a debug line as each ends, so
// a stop that hangs shows the last phase done.
class StopPhases {
 public:
  template <class F>
  void run(std::string_view name, F&& phase) {
    const auto start = std::chrono::steady_clock::now();
    phase();
    const auto took = std::chrono::steady_clock::now() - start;
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    log()->debug("stop: {} took {} ms", name, ms);
    done_ += (done_.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(ms) + " ms";
  }

  std::string summary() const {
    const auto total = std::chrono::steady_clock::now() - began_;
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(total).count()) + " ms: " + done_;
  }

 private:
  const std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
  std::string done_;
};

// Raises the soft open-files limit to the hard one (as much as the operator
// allows) and gives a quarter of it to segment files: the rest is for client
// connections, the store and the logs' own bookkeeping.
size_t open_files_budget() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 256;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  const rlim_t soft = lim.rlim_cur == RLIM_INFINITY ? 1 << 20 : lim.rlim_cur;
  const size_t budget = std::clamp<size_t>(static_cast<size_t>(soft / 4), 64, 10000);
  log()->info("open files limit {}: up to {} segment files stay open", soft, budget);
  return budget;
}

// The replication throttles' rates: the dynamic value (this broker's, else the
// cluster default), else the file's.
void apply_replication_throttles(cluster::ReplicaManager& replicas, const config::BrokerConfig& config,
                                 const std::map<std::string, std::string>& dynamic) {
  auto rate = [&](const std::string& key, int64_t file_value) {
    auto it = dynamic.find(key);
    if (it == dynamic.end()) return file_value;
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return ec == std::errc() && v >= 0 ? v : file_value;
  };
  replicas.leader_quota().set_rate(rate("leader.replication.throttled.rate", config.leader_replication_throttled_rate));
  replicas.follower_quota().set_rate(
      rate("follower.replication.throttled.rate", config.follower_replication_throttled_rate));
}

// How the start-up steps that need the store wait out a ZooKeeper outage
// (coord/startup_retry.h): each up to zookeeper.connection.timeout.ms, as
// Kafka's ZooKeeper client waits for its connection. An expired session is
// replaced by the broker's one renewal thread (Broker::renew_session), which
// also sets up again whatever lived in the old session: a step that meets an
// expired session only asks for it, so that two renewals never close each
// other's new session.
coord::StartupRetry startup_retry(const config::BrokerConfig& config, coord::CoordinationStore& store,
                                  std::function<void()> renew_session) {
  if (!dynamic_cast<coord::ZooKeeperStore*>(&store)) return {};  // the embedded store has no outage to wait out
  return coord::StartupRetry(std::chrono::milliseconds(config.zookeeper_connection_timeout_ms),
                             [renew_session = std::move(renew_session)]() -> Result<void> {
                               renew_session();
                               return {};
                             });
}

}  // namespace

// Config changes this broker watches in the store, applied to its replicas.
class LocalChannel : public controller::BrokerChannel {
 public:
  LocalChannel(const config::BrokerConfig& config, DynamicBrokerConfig& dynamic, cluster::ReplicaManager& replicas)
      : config_(config), dynamic_(dynamic), replicas_(replicas) {}

  // The TLS listeners, once made (Broker::start, before the controller
  // reports config changes): dynamic listener.name.<l>.ssl.* values reach them.
  void set_tls(TlsListeners* tls) { tls_ = tls; }

  void topic_config_changed(const std::string& topic, const std::map<std::string, std::string>& overrides) override {
    const config::TopicConfig tc = effective_topic_config(config_, dynamic_.merged(), overrides);
    replicas_.update_topic_config(topic, to_log_config(tc),
                                  std::make_shared<cluster::PartitionConfig>(to_partition_config(tc)));
    log()->info("topic '{}' config changed", topic);
  }

  void broker_config_changed(const std::map<std::string, std::string>& cluster_default,
                             const std::map<std::string, std::string>& own) override {
    dynamic_.set(cluster_default, own);
    apply_replication_throttles(replicas_, config_, dynamic_.merged());
    if (tls_) tls_->apply_dynamic(config_, dynamic_.merged());
    if (!cluster_default.empty() || !own.empty()) {
      log()->info("dynamic broker configs: {} cluster-wide, {} for this broker", cluster_default.size(), own.size());
    }
  }

 private:
  const config::BrokerConfig& config_;
  DynamicBrokerConfig& dynamic_;
  cluster::ReplicaManager& replicas_;
  TlsListeners* tls_ = nullptr;
};

Broker::Broker(config::BrokerConfig config) : config_(std::move(config)) {
  start_http();  // /health answers while the logs recover (broker_http.cc)
  identity_.broker_id = config_.broker_id;
  // The cluster id is settled against the store in start(): a new broker
  // (no meta.properties yet) takes the id of the cluster it joins.
  if (config_.log_dirs.empty()) throw std::runtime_error("no log directory configured (log.dirs)");
  identity_.cluster_id = read_cluster_id(config_.log_dirs, config_.broker_id).value_or("");
  identity_.advertised_listeners = config_.advertised_listeners.empty()
                                       ? config_.listeners
                                       : config_.advertised_listeners;

  storage::LogManagerOptions lo;
  lo.log_dirs = config_.log_dirs;
  lo.max_open_files = open_files_budget();
  lo.default_config = to_log_config(config::topic_config_defaults(config_));
  lo.retention_check_interval_ms = config_.log_retention_check_interval_ms;
  lo.cleaner_enable = config_.log_cleaner_enable;
  lo.cleaner_backoff_ms = config_.log_cleaner_backoff_ms;
  // Recovery after an unclean stop may take minutes: systemd hears how far
  // it got, and its start timeout moves out as long as partitions keep opening.
  auto progress = std::make_shared<systemd::ProgressReporter>(systemd::notifier(), std::chrono::seconds(60));
  progress->progress("opening the logs", /*force=*/true);
  lo.on_open_progress = [progress](const std::string& dir, size_t opened, size_t total) {
    progress->progress("opening the logs: " + dir + " " + std::to_string(opened) + "/" + std::to_string(total) +
                           " partitions",
                       /*force=*/opened == total);
  };
  // At a stop too: closing thousands of logs waits on their fsyncs.
  lo.shutdown_threads_per_dir = std::max<size_t>(16, static_cast<size_t>(config_.num_recovery_threads_per_data_dir));
  auto closing = std::make_shared<systemd::ProgressReporter>(systemd::notifier(), std::chrono::seconds(60));
  lo.on_close_progress = [closing](size_t closed, size_t total) {
    closing->progress("stopping: closing the logs " + std::to_string(closed) + "/" + std::to_string(total),
                      /*force=*/closed == total);
  };
  auto logs = storage::LogManager::open(lo);
  if (!logs) throw std::runtime_error("cannot open the log directories: " + logs.error().message());
  logs_ = std::move(*logs);
  set_stage(Stage::kJoining);

  metadata_ = std::make_unique<cluster::MetadataCache>();
  replicas_ = std::make_unique<cluster::ReplicaManager>(config_.broker_id, *logs_);
  replicas_->set_replica_selector(
      cluster::parse_replica_selector(config_.replica_selector_class).value_or(cluster::ReplicaSelectorKind::kNone));
  replicas_->set_quota_window(config_.replication_quota_window_num,
                              int64_t{config_.replication_quota_window_size_seconds} * 1000);
  apply_replication_throttles(*replicas_, config_, {});
  // Admin requests waiting for their topic to appear are woken by metadata changes.
  metadata_->set_on_change([r = replicas_.get()] { r->fetch_purgatory().notify({"", -1}); });
  dynamic_ = std::make_unique<DynamicBrokerConfig>();

  // The group coordinator follows this broker's leadership of the
  // __consumer_offsets partitions: it loads a partition's groups when it
  // becomes the leader and drops them when it stops being one.
  offsets_log_ = std::make_unique<group::ReplicaOffsetsLog>(*replicas_);
  group::CoordinatorConfig gc;
  gc.num_partitions = config_.offsets_topic_num_partitions;
  gc.min_session_timeout_ms = config_.group_min_session_timeout_ms;
  gc.max_session_timeout_ms = config_.group_max_session_timeout_ms;
  gc.initial_rebalance_delay_ms = config_.group_initial_rebalance_delay_ms;
  gc.max_size = config_.group_max_size;
  gc.offsets_retention_ms = int64_t{config_.offsets_retention_minutes} * 60 * 1000;
  gc.retention_check_interval_ms = config_.offsets_retention_check_interval_ms;
  gc.max_metadata_bytes = config_.offset_metadata_max_bytes;
  gc.commit_timeout_ms = config_.offsets_commit_timeout_ms;
  groups_ = std::make_unique<group::GroupCoordinator>(gc, *offsets_log_, [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  });
  // The partition's leader epoch is the coordinator epoch, as in Kafka: a
  // resignation (this broker made a follower, epoch >= 0, or its replica
  // stopped, -1) older than the leadership it would end changes nothing.
  replicas_->set_leadership_listener(
      [this, g = groups_.get()](const cluster::TopicPartition& tp, bool leader, int32_t epoch) {
        if (tp.topic == txn::kTransactionStateTopic) return txn_leadership_changed(tp.partition, leader, epoch);
        if (tp.topic != group::kOffsetsTopic) return;
        if (leader) {
          g->on_elected(tp.partition, epoch);
        } else {
          g->on_resigned(tp.partition, epoch);
        }
      });
  services_.groups = groups_.get();
  channel_ = std::make_unique<LocalChannel>(config_, *dynamic_, *replicas_);

  cluster::FetchSessionCacheOptions fso;
  fso.max_slots = static_cast<size_t>(std::max(0, config_.max_incremental_fetch_session_cache_slots));
  fetch_sessions_ = std::make_unique<cluster::FetchSessionCache>(fso);
  services_.fetch_sessions = fetch_sessions_.get();
  services_.metadata = metadata_.get();
  services_.dynamic = dynamic_.get();
  services_.replicas = replicas_.get();
  services_.metrics = config_.metrics_enabled ? metrics_.get() : nullptr;  // false: for measuring their cost
  services_.fetch_max_bytes = config_.fetch_max_bytes;
  router_ = std::make_unique<Router>(identity_, config_, services_);
  net::ServerOptions options;
  options.threads = config_.num_network_threads;
  options.handler_threads = config_.num_io_threads;
  options.max_request_bytes = config_.socket_request_max_bytes;
  options.max_in_flight = static_cast<size_t>(std::max(1, config_.queued_max_requests));
  options.send_buffer_bytes = config_.socket_send_buffer_bytes;
  options.receive_buffer_bytes = config_.socket_receive_buffer_bytes;
  options.idle_timeout_ms = config_.connections_max_idle_ms;
  apply_connection_limits(config_, options);  // max.connections: broker-wide, per IP, per listener
  options.listener_counters = [m = metrics_.get()](const std::string& listener) { return m->listener(listener); };
  options.load = metrics_->load();
  connection_quotas_ = make_connection_quotas(config_);
  connection_quotas_->register_metrics(metrics_->registry());
  options.admission = connection_quotas_.get();
  server_ = std::make_unique<net::Server>(options, *router_);
}

Broker::~Broker() { stop(); }

void Broker::open_store() {
  if (config_.zookeeper_connect.empty()) {
    const std::filesystem::path dir = std::filesystem::path(config_.log_dirs.front()) / ".keel-coord";
    auto store = coord::EmbeddedStore::open(dir);
    if (!store) throw std::runtime_error("cannot open the embedded coordination store in " + dir.string() + ": " +
                                         store.error().message());
    store_ = std::move(*store);
    log()->info("coordination store: embedded, in {}", dir.string());
  } else {
    coord::KafkaZooKeeperOptions zk;
    zk.connect_string = config_.zookeeper_connect;
    zk.session_timeout = std::chrono::milliseconds(config_.zookeeper_session_timeout_ms);
    zk.connect_timeout = std::chrono::milliseconds(config_.zookeeper_connection_timeout_ms);
    zk.credentials_file = config_.zookeeper_digest_credentials_file;
    zk.set_acl = config_.zookeeper_set_acl;
    auto session = coord::open_kafka_zookeeper(zk);
    zookeeper_ = session.get();
    // Before the first watch and the first ephemeral node: an expiry from
    // now on is heard, whatever start-up step the broker is at. (One before
    // this line fails the first step with an expired session, which asks
    // for the renewal itself: startup_retry.)
    watch_zookeeper_session(*session);
    store_ = std::move(session);
    timed_store_ = std::make_unique<TimedCoordinationStore>(*store_, metrics_->zookeeper_latency());
    log()->info("coordination store: ZooKeeper at {}", config_.zookeeper_connect);
  }
  kafka_store_ = std::make_unique<coord::KafkaStore>(timed_store_ ? *timed_store_ : *store_);
}

// Kafka's start-up rule: the store's /cluster/id is the cluster's (the first
// broker to start creates it, from its meta.properties when it has one); a
// broker whose log directories name another cluster refuses to start, one
// with none takes the store's and writes it to every directory.
void Broker::settle_cluster_id() {
  const std::string stored = identity_.cluster_id;
  const std::string proposed = stored.empty() ? protocol::Uuid::random().to_string() : stored;
  const coord::StartupRetry retry = startup_retry(config_, *store_, [this] { renew_session(); });
  auto id = retry.run("reading /cluster/id", [&] { return kafka_store_->get_or_create_cluster_id(proposed); });
  if (!id) throw std::runtime_error("coordination store: cannot read /cluster/id: " + retry.explain(id.error()));
  if (!stored.empty() && *id != stored) {
    throw std::runtime_error("the coordination store belongs to cluster " + *id +
                             " but meta.properties says this broker belongs to " + stored +
                             ": the broker is trying to join the wrong cluster (is zookeeper.connect right?)");
  }
  for (const auto& dir : config_.log_dirs) ensure_meta_properties(dir, config_.broker_id, *id);
  if (stored.empty()) {
    log()->info("joined cluster {}; its id is written to meta.properties", *id);
    // New (or wiped) data directories: whatever this broker led before, it
    // holds nothing now, and must not lead it (cluster::ReplicaManager).
    if (replicas_) replicas_->set_log_dirs_new(true);
  }
  identity_.cluster_id = *id;
}

void Broker::start_authorizer() {
  if (config_.authorizer_class_name.empty()) return;  // no ACLs: the ACL APIs answer SECURITY_DISABLED
  security::AuthorizerConfig ac;
  // Checked when the config was loaded; a config built in code is checked here.
  std::string why;
  auto super_users = security::parse_super_users(config_.super_users, &why);
  if (!super_users) throw std::runtime_error(why);
  ac.super_users = std::move(*super_users);
  ac.allow_everyone_if_no_acl_found = config_.allow_everyone_if_no_acl_found;
  authorizer_ = std::make_unique<security::AclAuthorizer>(ac);
  acl_store_ = std::make_unique<coord::AclStore>(timed_store_ ? *timed_store_ : *store_);
  // A renewed session lost the watches the listener's first load set: the
  // renewal (rejoin) tells it to load again.
  const coord::StartupRetry retry = startup_retry(config_, *store_, [this] { renew_session(); });
  if (auto r = retry.run("creating the ACL paths", [&] { return acl_store_->ensure_paths(); }); !r)
    throw std::runtime_error("cannot create the ACL paths in the coordination store: " + retry.explain(r.error()));
  {
    std::lock_guard lock(rejoin_mu_);
    acl_listener_ = std::make_unique<coord::AclChangeListener>(*acl_store_, *authorizer_, [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    });
  }
  auto loaded = retry.run("loading the ACLs", [&] {
    why.clear();
    return acl_listener_->start(&why);
  });
  if (!loaded) {
    throw std::runtime_error("cannot load the ACLs from the coordination store: " +
                             (why.empty() || coord::is_store_outage(loaded.error()) ? retry.explain(loaded.error()) : why));
  }
  services_.authorizer = authorizer_.get();
  services_.acl_store = acl_store_.get();
  log()->info("authorizer {}: {} ACL bindings, super users '{}', allow.everyone.if.no.acl.found={}",
              config_.authorizer_class_name, authorizer_->size(), config_.super_users,
              config_.allow_everyone_if_no_acl_found);
}

void Broker::watch_zookeeper_session(coord::ZooKeeperStore& zk) {
  zk.set_session_listener([this](coord::ZooKeeperStore::SessionEvent e) {
    if (e == coord::ZooKeeperStore::SessionEvent::kConnected) metrics_->zookeeper_connected();
    if (e == coord::ZooKeeperStore::SessionEvent::kDisconnected) {
      metrics_->zookeeper_disconnected();
      log()->warn("ZooKeeper connection lost; the client reconnects");
      return;
    }
    if (e != coord::ZooKeeperStore::SessionEvent::kExpired) return;
    log()->warn("ZooKeeper session expired");
    metrics_->zookeeper_expired();
    renew_session();
  });
}

void Broker::renew_session() {
  std::lock_guard lock(session_thread_mu_);
  // Once stopped, the store may be going: zookeeper_ is read only before.
  if (stopped_ || !zookeeper_ || reconnecting_.exchange(true)) return;
  coord::ZooKeeperStore* zk = zookeeper_;
  // A previous renewal has got its session (reconnecting_ was false): at
  // most its rejoin() is left, which takes no lock this thread holds.
  if (session_thread_.joinable()) session_thread_.join();
  session_thread_ = std::thread([this, zk] {
    set_thread_name("keel-zk-renew");
    run_session_renewal(*zk);
  });
}

void Broker::run_session_renewal(coord::ZooKeeperStore& zk) {
  for (int attempt = 0; !stopped_; ++attempt) {
    // Only a session that is gone is replaced: closing one that still lives
    // (a start-up step's stale answer, another renewal's new session) would
    // throw away its registration and watches for nothing. A connection
    // being re-established keeps its session: wait and look again.
    auto probe = zk.exists("/");
    if (probe) {
      reconnecting_ = false;
      return;
    }
    if (probe.error() != coord::CoordErrc::kConnectionLoss) {
      if (zk.reconnect()) {
        // Cleared first: an expiry of the new session from now on starts
        // another renewal (which waits for this one's rejoin).
        reconnecting_ = false;
        log()->info("new ZooKeeper session 0x{:x}: setting up what the expired one held", zk.session_id());
        rejoin();
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 200 << std::min(attempt, 5))));
  }
  reconnecting_ = false;
}

void Broker::rejoin() {
  // What exists so far; what start() makes later sets itself up in the new session.
  std::lock_guard lock(rejoin_mu_);
  if (controller_) controller_->session_reestablished();
  if (acl_listener_) acl_listener_->resync();
}

void Broker::start() {
  // SSL and SASL_SSL listeners: their key and trust stores are read now, so a
  // bad store stops the start with the reason (server/tls_listeners.h). The
  // broker's own connections to other brokers use TLS when its inter-broker
  // listener does.
  tls_ = std::make_unique<TlsListeners>(config_);
  channel_->set_tls(tls_.get());
  net::set_default_client_tls(tls_->client());
  check_sasl_config(config_);
  sasl_ = std::make_unique<SaslCredentials>();
  sasl_->plain = PlainCredentials::load(config_.sasl_plain_credentials_file);
  sasl_->gssapi = GssapiAuthenticator::create(config_);  // Kerberos: keytab and rules checked now
  // SASL inter-broker listener: the broker's own connections authenticate
  // (server/interbroker_sasl.h); a missing or unusable JAAS line stops the start.
  net::set_default_client_sasl(interbroker_sasl(config_));
  services_.sasl = sasl_.get();
  std::vector<net::ListenerSpec> specs;
  for (const auto& ep : config_.listeners) {
    specs.push_back({ep.listener_name, ep.host, ep.port});
    specs.back().tls = tls_->listener(ep.listener_name);
    if (requires_sasl(ep.security_protocol)) {
      specs.back().unauthenticated_max_frame_bytes = config_.sasl_server_max_receive_size;
      std::string mechanisms;
      for (const auto& m : config_.sasl_enabled_mechanisms) mechanisms += (mechanisms.empty() ? "" : ", ") + m;
      log()->info("listener {} is {}: SASL mechanisms {}{}", ep.to_string(), ep.security_protocol, mechanisms,
                  config_.sasl_plain_credentials_file.empty()
                      ? std::string()
                      : "; " + std::to_string(sasl_->plain.size()) + " PLAIN users from " +
                            config_.sasl_plain_credentials_file);
    }
  }
  systemd::notifier().status("binding the listeners");
  ports_ = server_->listen(specs);
  // A listener on port 0 is advertised with the port it actually got.
  for (size_t i = 0; i < config_.listeners.size(); ++i) {
    if (config_.listeners[i].port != 0) continue;
    for (auto& adv : identity_.advertised_listeners) {
      if (adv.listener_name == config_.listeners[i].listener_name && adv.port == 0) {
        adv.port = ports_[i];
      }
    }
  }

  systemd::notifier().status(config_.zookeeper_connect.empty() ? "opening the embedded coordination store"
                                                               : "connecting to ZooKeeper");
  open_store();
  settle_cluster_id();
  // SCRAM users come from the store, so any broker of the cluster knows them;
  // the store's paths (/config/changes) exist before the cache watches them.
  // Each step waits out a ZooKeeper restart (startup_retry); a failed start()
  // starts no thread, so it may simply run again.
  const coord::StartupRetry retry = startup_retry(config_, *store_, [this] { renew_session(); });
  if (auto r = retry.run("creating Kafka's paths", [&] { return kafka_store_->ensure_paths(); }); !r)
    throw std::runtime_error("coordination store: cannot create Kafka's paths: " + retry.explain(r.error()));
  scram_credentials_ = std::make_unique<ScramCredentialCache>(*kafka_store_);
  if (auto r = retry.run("reading SCRAM credentials", [&] { return scram_credentials_->start(); }); !r)
    throw std::runtime_error("cannot read SCRAM credentials from the store: " + retry.explain(r.error()));
  sasl_->scram = scram_credentials_.get();
  client_quotas_ = std::make_unique<ClientQuotaManager>(*kafka_store_);
  if (auto r = retry.run("reading client quotas", [&] { return client_quotas_->start(); }); !r)
    throw std::runtime_error("cannot read client quotas from the store: " + retry.explain(r.error()));
  services_.quotas = client_quotas_.get();
  quota_throttler_ = std::make_unique<QuotaThrottler>(
      client_quotas_->cache(),
      QuotaWindow{config_.quota_window_num, int64_t{config_.quota_window_size_seconds} * 1000});
  if (metrics_) quota_throttler_->register_metrics(metrics_->registry());
  services_.throttler = quota_throttler_.get();
  connection_quotas_->set_ip_quotas(&client_quotas_->cache());
  start_authorizer();
  // Broker-to-broker connections (the controller's requests) run here.
  inter_broker_ = std::make_unique<net::ClientRuntime>("keel-interbrkr");
  controller::ControllerOptions co;
  co.broker_id = config_.broker_id;
  co.cluster_id = identity_.cluster_id;
  co.registration.id = config_.broker_id;
  if (!config_.broker_rack.empty()) co.registration.rack = config_.broker_rack;  // broker.rack
  for (const auto& ep : identity_.advertised_listeners) {
    co.registration.endpoints.push_back({ep.listener_name, ep.host, ep.port, ep.security_protocol});
  }
  co.delete_topic_enable = config_.delete_topic_enable;
  co.registration_wait_ms = config_.zookeeper_connect.empty() ? 0 : config_.zookeeper_session_timeout_ms * 3 / 2;
  co.store_outage_wait_ms = config_.zookeeper_connect.empty() ? 0 : config_.zookeeper_connection_timeout_ms;
  co.default_partitions = config_.num_partitions;
  co.default_replication_factor = config_.default_replication_factor;
  co.validate_topic_configs = [this](const std::map<std::string, std::string>& overrides) {
    auto result = config::apply_topic_configs(effective_topic_config(config_, dynamic_->merged(), {}), overrides);
    std::string out;
    for (const auto& e : result.errors) out += (out.empty() ? "" : "; ") + e;
    return out;
  };
  co.describe_topic_configs = [this](const std::map<std::string, std::string>& overrides) {
    return effective_topic_config(config_, dynamic_->merged(), overrides).to_map();
  };
  co.runtime = inter_broker_.get();
  // The controller's requests to this broker take no trip through a socket:
  // they reach the same handlers a remote controller's requests do, and so a
  // broker that is its own controller knows the cluster before it serves clients.
  local_connection_.peer = "controller (in-process)";
  local_connection_.in_process = true;
  local_connection_.listener_name = config_.inter_broker_listener_name;
  local_requests_ = [this](Bytes frame, std::function<void(Result<Bytes>)> done) {
    router_->handle(local_connection_, net::Frame(frame.begin(), frame.end()), [done](net::Response r) {
      if (r.close_after && r.chunks.empty()) return done(Result<Bytes>(std::make_error_code(std::errc::connection_aborted)));
      Bytes out;
      for (const auto& c : r.chunks) out.insert(out.end(), c.begin(), c.end());
      if (out.size() < 4) return done(Result<Bytes>(std::make_error_code(std::errc::bad_message)));
      out.erase(out.begin(), out.begin() + 4);  // the size prefix
      done(std::move(out));
    });
  };
  co.local_requests = local_requests_;
  co.inter_broker_listener = config_.inter_broker_listener_name;
  co.unclean_leader_election_enable = config_.unclean_leader_election_enable;
  co.auto_leader_rebalance_enable = config_.auto_leader_rebalance_enable;
  co.leader_imbalance_check_interval_ms = config_.leader_imbalance_check_interval_seconds * 1000;
  co.leader_imbalance_per_broker_percentage = config_.leader_imbalance_per_broker_percentage;
  {
    std::lock_guard lock(rejoin_mu_);
    controller_ = std::make_unique<controller::Controller>(*kafka_store_, *metadata_, *channel_, co);
  }
  services_.topics = controller_.get();
  services_.broker_epoch = [c = controller_.get()] { return c->broker_epoch(); };
  // A log dir that fails (an I/O error, a full disk) is reported to the
  // controller, which moves its replicas' leadership and ISR membership away.
  logs_->set_on_dir_offline([c = controller_.get()](const std::string&) { c->log_dir_failed(); });
  cluster::ReplicaFetcherOptions fo;
  fo.num_fetchers = config_.num_replica_fetchers;
  fo.max_wait_ms = config_.replica_fetch_wait_max_ms;
  fo.min_bytes = config_.replica_fetch_min_bytes;
  fo.partition_max_bytes = config_.replica_fetch_max_bytes;
  fo.max_bytes = config_.replica_fetch_response_max_bytes;
  fo.backoff_ms = config_.replica_fetch_backoff_ms;
  fo.request_timeout_ms = config_.replica_socket_timeout_ms;
  replicas_->start_fetchers(fo);
  replicas_->start_high_watermark_checkpoints(config_.replica_high_watermark_checkpoint_interval_ms);
  services_.controller = controller_.get();
  cluster::AlterPartitionOptions ao;
  ao.broker_id = config_.broker_id;
  ao.listener_name = config_.inter_broker_listener_name;
  ao.broker_epoch = services_.broker_epoch;
  ao.local = co.local_requests;
  replicas_->start_isr_management(*inter_broker_, ao, *metadata_, config_.replica_lag_time_max_ms);
  // A replica the controller assigns here gets its topic's config as this
  // broker sees it: defaults, dynamic broker configs and the stored overrides.
  replicas_->set_topic_config_source([this](const std::string& topic) {
    auto overrides = kafka_store_->entity_config("topics", topic);
    if (!overrides) {
      log()->warn("cannot read the config overrides of topic '{}' ({}); using the defaults", topic,
                  overrides.error().message());
    }
    const config::TopicConfig tc =
        effective_topic_config(config_, dynamic_->merged(), overrides ? *overrides : std::map<std::string, std::string>{});
    return std::make_pair(to_log_config(tc), std::shared_ptr<const cluster::PartitionConfig>(
                                                 std::make_shared<cluster::PartitionConfig>(to_partition_config(tc))));
  });
  producer_ids_ = std::make_unique<cluster::ProducerIdManager>([this]() -> Result<std::pair<int64_t, int64_t>> {
    auto block = kafka_store_->claim_producer_id_block(config_.broker_id);
    if (!block) return block.error();
    return std::make_pair(block->start, block->end);
  });
  services_.producer_ids = producer_ids_.get();
  start_transactions();  // server/broker_txn.cc
  groups_->start();
  systemd::notifier().status("registering broker " + std::to_string(config_.broker_id) +
                             " and electing the controller");
  controller_->start();
  logs_->start();
  server_->start();
  // SIGHUP re-reads the TLS stores (a no-op without SSL listeners).
  reload_hooks_.add("tls", [this] { return reload_tls(); });
  serving_ = true;
  attach_metrics();
  set_stage(Stage::kServing);
}

std::string Broker::reload_tls() { return tls_ ? tls_->reload() : std::string(); }

void Broker::controlled_shutdown() {
  // Only a broker that is serving and registered has leaderships to hand
  // over; a single broker has nobody to hand them to.
  if (!config_.controlled_shutdown_enable || !controller_ || !server_ || !inter_broker_) return;
  const int64_t epoch = controller_->broker_epoch();
  auto snapshot = metadata_->snapshot();
  if (epoch < 0 || snapshot->brokers.size() < 2) return;
  cluster::ControlledShutdownOptions o;
  o.broker_id = config_.broker_id;
  o.broker_epoch = epoch;
  o.listener_name = config_.inter_broker_listener_name;
  o.max_retries = config_.controlled_shutdown_max_retries;
  o.retry_backoff_ms = config_.controlled_shutdown_retry_backoff_ms;
  o.local = local_requests_;
  cluster::controlled_shutdown(*inter_broker_, *metadata_, o);
}

void Broker::stop() {
  if (stopped_) return;
  stopped_ = true;
  serving_ = false;
  // Each phase timed: one line at the end says where a slow stop went.
  StopPhases phases;
  set_stage(Stage::kStopping);  // /ready says 503 and scrapes stop reading the broker's parts
  systemd::notifier().status("stopping: moving leadership away (controlled shutdown)");
  phases.run("controlled shutdown", [&] { controlled_shutdown(); });
  // With ZooKeeper unreachable, nothing waits for it to come back any more:
  // the store's requests fail at once and the stop goes on.
  if (auto* zk = dynamic_cast<coord::ZooKeeperStore*>(store_.get())) {
    zk->stop_waiting();
    zk->set_session_listener({});  // a session event from now on starts nothing
  }
  // Waiting JoinGroup/SyncGroup requests are answered (NOT_COORDINATOR: the
  // members look for the coordinator again) while connections are open.
  phases.run("groups", [&] {
    if (groups_) groups_->shutdown();
  });
  // Parked fetches and acks=all produces are answered while the
  // connections are still open; then the network stops.
  phases.run("replicas", [&] {
    if (replicas_) replicas_->shutdown();
  });
  systemd::notifier().status("stopping: answering the requests read, closing connections");
  phases.run("network", [&] {
    if (server_) server_->stop(/*drain_ms=*/5000);
  });
  phases.run("controller", [&] {
    if (logs_) logs_->set_on_dir_offline({});
    if (controller_) controller_->stop();
  });
  phases.run("transactions", [&] { stop_transactions(); });  // no request and no leadership change comes any more
  {
    // stopped_ is set: no renewal starts after this one.
    std::thread renewal;
    {
      std::lock_guard lock(session_thread_mu_);
      renewal = std::move(session_thread_);
    }
    if (renewal.joinable()) phases.run("session renewal", [&] { renewal.join(); });
  }
  systemd::notifier().status("stopping: flushing and closing the logs");
  phases.run("logs", [&] {
    if (!logs_) return;
    if (auto r = logs_->shutdown(); !r) log()->error("log shutdown: {}", r.error().message());
  });
  const auto io = net::io_counters();
  log()->info("bytes sent: {} by sendfile in {} calls, {} by write", io.sendfile_bytes, io.sendfile_calls,
              io.written_bytes);
  phases.run("store", [&] { close_store(); });
  log()->info("stopped in {}", phases.summary());
}

void Broker::close_store() {
  // The store goes first: closing its session fires the controller's watches
  // (ephemeral nodes vanish), which must still find the stopped controller
  // object (it ignores events after stop()).
  services_.producer_ids = nullptr;
  producer_ids_.reset();
  // The network is stopped: no handler looks credentials up any more.
  if (scram_credentials_) scram_credentials_->stop();
  if (sasl_) sasl_->scram = nullptr;
  scram_credentials_.reset();
  services_.throttler = nullptr;  // quota_throttler_ stays: the metrics read it
  if (client_quotas_) client_quotas_->stop();
  if (connection_quotas_) connection_quotas_->set_ip_quotas(nullptr);
  services_.quotas = nullptr;
  client_quotas_.reset();
  // The ACL listener reads the store from its own thread: it stops first.
  if (acl_listener_) acl_listener_->stop();
  services_.authorizer = nullptr;
  services_.acl_store = nullptr;
  std::unique_ptr<controller::Controller> controller;
  {
    std::lock_guard lock(rejoin_mu_);
    acl_listener_.reset();
    controller = std::move(controller_);  // reset after the store, as before
  }
  acl_store_.reset();
  kafka_store_.reset();
  timed_store_.reset();
  store_.reset();
  controller.reset();
  services_.topics = nullptr;
}

bool Broker::responsive(std::chrono::milliseconds timeout) {
  if (!serving_ || !local_requests_) return false;
  // ApiVersions v0 (header v1: key, version, correlation id, client id):
  // answered by the router without the store, so a false answer means the
  // request path itself is stuck, not that ZooKeeper is slow.
  const std::string_view client = "keel-watchdog";
  ByteWriter w;
  w.write_i16(static_cast<int16_t>(protocol::ApiKey::kApiVersions));
  w.write_i16(0);
  w.write_i32(0);
  w.write_i16(static_cast<int16_t>(client.size()));
  w.write_bytes(ByteView(reinterpret_cast<const uint8_t*>(client.data()), client.size()));
  struct Answer {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool ok = false;
  };
  auto answer = std::make_shared<Answer>();  // outlives a late answer
  local_requests_(w.take(), [answer](Result<Bytes> r) {
    std::lock_guard lock(answer->mu);
    answer->done = true;
    answer->ok = r.ok();
    answer->cv.notify_all();
  });
  std::unique_lock lock(answer->mu);
  answer->cv.wait_for(lock, timeout, [&] { return answer->done; });
  return answer->done && answer->ok;
}

}  // namespace keel::server
