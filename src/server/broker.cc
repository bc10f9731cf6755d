#include "server/broker.h"

#include <stdexcept>

#include "common/log.h"
#include "server/meta_properties.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("broker");
  return l;
}

// Every log directory must belong to this broker and to one cluster. The
// cluster id comes from whichever directory already has one; new directories
// get the same id.
std::string settle_cluster_id(const config::BrokerConfig& config) {
  std::optional<std::string> cluster_id;
  for (const auto& dir : config.log_dirs) {
    if (auto meta = read_meta_properties(dir)) {
      if (cluster_id && *cluster_id != meta->cluster_id) {
        throw std::runtime_error("log directories belong to different clusters: " + *cluster_id +
                                 " and " + meta->cluster_id + " (in " + dir + ")");
      }
      cluster_id = meta->cluster_id;
    }
  }
  for (const auto& dir : config.log_dirs) {
    cluster_id = ensure_meta_properties(dir, config.broker_id, cluster_id).cluster_id;
  }
  if (!cluster_id) throw std::runtime_error("no log directory configured (log.dirs)");
  return *cluster_id;
}

}  // namespace

Broker::Broker(config::BrokerConfig config) : config_(std::move(config)) {
  identity_.broker_id = config_.broker_id;
  identity_.cluster_id = settle_cluster_id(config_);
  identity_.advertised_listeners = config_.advertised_listeners.empty()
                                       ? config_.listeners
                                       : config_.advertised_listeners;
  router_ = std::make_unique<Router>(identity_, config_);
  net::ServerOptions options;
  options.threads = config_.num_network_threads;
  options.max_request_bytes = config_.socket_request_max_bytes;
  options.max_in_flight = static_cast<size_t>(std::max(1, config_.queued_max_requests));
  options.send_buffer_bytes = config_.socket_send_buffer_bytes;
  options.receive_buffer_bytes = config_.socket_receive_buffer_bytes;
  options.idle_timeout_ms = config_.connections_max_idle_ms;
  options.max_connections = config_.max_connections;
  options.max_connections_per_ip = config_.max_connections_per_ip;
  server_ = std::make_unique<net::Server>(options, *router_);
}

Broker::~Broker() { stop(); }

void Broker::start() {
  std::vector<net::ListenerSpec> specs;
  for (const auto& ep : config_.listeners) specs.push_back({ep.listener_name, ep.host, ep.port});
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
  server_->start();
}

void Broker::stop() {
  if (server_) server_->stop();
}

}  // namespace keel::server
