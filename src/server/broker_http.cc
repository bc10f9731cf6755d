// The Broker's HTTP side: /metrics, /health and /ready on http.listeners.
#include <algorithm>

#include <boost/json.hpp>

#include "cluster/replica_manager.h"
#include "common/json_util.h"
#include "common/log.h"
#include "controller/controller.h"
#include "metrics/process.h"
#include "protocol/compression.h"
#include "server/broker.h"
#include "server/broker_metrics.h"
#include "server/rest/rest_broker.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("broker");
  return l;
}

http::Response json(int status, const boost::json::object& body) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json::write(body) + "\n";
  return r;
}

}  // namespace

void Broker::start_http() {
  metrics_registry_ = std::make_unique<metrics::Registry>();
  metrics_ = std::make_unique<BrokerMetrics>(*metrics_registry_);
  metrics::register_process_metrics(*metrics_registry_);
  if (config_.http_listeners.empty()) return;
  std::vector<http::Endpoint> endpoints;
  for (const auto& text : config_.http_listeners) {
    std::string why;
    auto ep = http::parse_endpoint(text, &why);
    if (!ep) throw std::runtime_error("http.listeners: '" + text + "' " + why);
    endpoints.push_back(*ep);
  }
  // Checked against its allowed values when the config was loaded.
  const metrics::Dialect dialect = metrics::parse_dialect(config_.metrics_names).value_or(metrics::Dialect::kStrimzi);
  http::Routes routes;
  // A scrape (4 ms of CPU at 1,000 partitions, 15 ms at 10,000) is rendered
  // at a lower CPU priority, so requests overlapping it keep their latency.
  // The partition table and the groups' lags are copied first, on the HTTP
  // thread: that reads the replica manager and the group coordinator under
  // locks requests take, and no thread that may wait for the CPU should
  // hold those. The render then finds the copies (kept a second).
  // Prometheus asks for gzip: compressed here, at zlib's fastest level, the
  // text shrinks about twentyfold (11.4 MB to 0.49 MB at 10,000 partitions),
  // and the HTTP thread, at normal priority, writes that much less.
  routes.add_background(
      "GET", "/metrics",
      [registry = metrics_registry_.get(), dialect](const http::Request& req) {
        http::Response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = registry->render(dialect);
        if (r.body.size() > 1024 && req.accepts_encoding("gzip")) {
          const ByteView text(reinterpret_cast<const uint8_t*>(r.body.data()), r.body.size());
          if (auto z = protocol::gzip(text, 1)) {
            r.body.assign(reinterpret_cast<const char*>(z->data()), z->size());
            r.headers.emplace_back("Content-Encoding", "gzip");
          }
        }
        r.headers.emplace_back("Vary", "Accept-Encoding");
        return r;
      },
      [metrics = metrics_.get()](const http::Request&) { metrics->prepare_scrape(); });
  routes.add("GET", "/health", [this](const http::Request&) { return health(); });
  routes.add("GET", "/ready", [this](const http::Request&) { return ready(); });
  http::ServerOptions o;
  o.read_timeout_ms = config_.http_request_timeout_ms;
  o.max_connections = static_cast<size_t>(std::max(1, config_.http_max_connections));
  // The admin REST API (server/rest/): each call is a Kafka request through the router.
  rest::BrokerHooks hooks;
  hooks.broker_id = config_.broker_id;
  hooks.cluster_id = [this]() -> std::optional<std::string> {
    if (!serving_) return std::nullopt;
    return identity_.cluster_id;
  };
  hooks.dispatch = [this](const net::ConnectionInfo& conn, Bytes frame, std::function<void(net::Response)> done) {
    if (!serving_) return false;
    router_->handle(conn, net::Frame(frame.begin(), frame.end()), std::move(done));
    return true;
  };
  hooks.sasl = [this]() -> const SaslCredentials* { return serving_ ? sasl_.get() : nullptr; };
  // The store the REST reassignments record their throttles in: Kafka's
  // stores go through the timed one when there is one.
  hooks.store = [this]() -> coord::CoordinationStore* {
    if (!serving_) return nullptr;
    return timed_store_ ? timed_store_.get() : store_.get();
  };
  hooks.lag_source = [this]() -> std::vector<LagHistory::GroupLag> {
    auto snapshot = serving_ && metrics_ ? metrics_->lag_snapshot() : nullptr;
    return snapshot ? group_lags(*snapshot) : std::vector<LagHistory::GroupLag>{};
  };
  rest::add_rest_api(routes, o, config_,
                     std::any_of(endpoints.begin(), endpoints.end(), [](const auto& e) { return e.tls; }),
                     std::move(hooks));
  http_ = std::make_unique<http::Server>(o, std::move(routes));
  http_ports_ = http_->listen(endpoints);
  http_->start();
  std::string where;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    endpoints[i].port = http_ports_[i];
    where += (where.empty() ? "" : ", ") + endpoints[i].to_string();
  }
  log()->info("HTTP listener on {}: /metrics ({} names), /health, /ready", where, config_.metrics_names);
}

// Called once the parts a scrape reads exist (start()).
void Broker::attach_metrics() {
  BrokerMetrics::Sources s;
  s.broker_id = config_.broker_id;
  s.replicas = replicas_.get();
  s.metadata = metadata_.get();
  s.controller = controller_.get();
  s.groups = groups_.get();
  s.fetch_sessions = fetch_sessions_.get();
  s.logs = logs_.get();
  s.handler_threads = config_.num_io_threads;
  metrics_->attach(s);
}

void Broker::set_stage(Stage s) {
  {
    std::lock_guard lock(lifecycle_mu_);
    if (static_cast<int>(s) <= static_cast<int>(stage_)) return;
    stage_ = s;
  }
  switch (s) {
    case Stage::kRecovering: metrics_->set_broker_state(BrokerState::kStarting); break;
    case Stage::kJoining: metrics_->set_broker_state(BrokerState::kStarting); break;
    case Stage::kServing: metrics_->set_broker_state(BrokerState::kRunningAsBroker); break;
    case Stage::kStopping:
      metrics_->set_broker_state(BrokerState::kBrokerShuttingDown);
      metrics_->detach();
      break;
  }
}

// Live while the process runs its loops: before serving (recovering, joining)
// and while stopping, being here is enough; while serving, an in-process
// request must get through the router.
http::Response Broker::health() {
  Stage stage;
  {
    std::lock_guard lock(lifecycle_mu_);
    stage = stage_;
  }
  boost::json::object body;
  if (stage == Stage::kServing && !responsive(std::chrono::seconds(2))) {
    body["status"] = "unresponsive";
    body["reason"] = "the request path did not answer within 2 s";
    return json(503, body);
  }
  body["status"] = "live";
  body["stage"] = stage == Stage::kRecovering ? "recovering"
                  : stage == Stage::kJoining  ? "joining"
                  : stage == Stage::kServing  ? "serving"
                                              : "stopping";
  return json(200, body);
}

// Ready: the logs are recovered, the broker is registered (it has a broker
// epoch) and every partition it follows has it in its ISR (caught up).
http::Response Broker::ready() {
  std::lock_guard lock(lifecycle_mu_);
  auto not_ready = [](std::string_view reason, boost::json::array partitions = {}) {
    boost::json::object body;
    body["ready"] = false;
    body["reason"] = reason;
    if (!partitions.empty()) body["partitions"] = std::move(partitions);
    return json(503, body);
  };
  switch (stage_) {
    case Stage::kRecovering: return not_ready("recovering the logs");
    case Stage::kJoining: return not_ready("joining the cluster");
    case Stage::kStopping: return not_ready("stopping");
    case Stage::kServing: break;
  }
  if (!controller_ || controller_->broker_epoch() < 0) return not_ready("not registered in the cluster");
  boost::json::array behind;
  size_t count = 0;
  for (const auto& p : replicas_->partitions()) {
    const cluster::LeaderState st = p->leader_state();
    if (st.leader < 0 || st.leader == config_.broker_id) continue;
    if (std::find(st.isr.begin(), st.isr.end(), config_.broker_id) != st.isr.end()) continue;
    ++count;
    if (behind.size() < 10) behind.emplace_back(p->tp().topic + "-" + std::to_string(p->tp().partition));
  }
  if (count > 0) {
    return not_ready(std::to_string(count) + " followed partitions not caught up (this broker is not in their ISR)",
                     std::move(behind));
  }
  boost::json::object body;
  body["ready"] = true;
  body["broker_id"] = config_.broker_id;
  body["broker_epoch"] = controller_->broker_epoch();
  return json(200, body);
}

}  // namespace keel::server
