#pragma once
// The Broker owns everything a running keel process has: its configuration,
// its identity (broker id, cluster id from meta.properties), the router and
// the network server. Later issues add the log manager, replica manager,
// coordinators and the controller here.

#include <memory>
#include <vector>

#include "config/config.h"
#include "net/server.h"
#include "server/request_context.h"
#include "server/router.h"

namespace keel::server {

class Broker {
 public:
  // Checks the log directories (meta.properties: creates it, or checks it
  // names this broker and one cluster). Throws std::runtime_error on failure.
  explicit Broker(config::BrokerConfig config);
  ~Broker();

  // Binds the listeners and starts serving. Throws std::system_error when a
  // listener cannot be bound.
  void start();
  // Stops serving and closes every connection. Idempotent.
  void stop();

  const BrokerIdentity& identity() const { return identity_; }
  // The ports actually bound, in listener order (useful with port 0).
  const std::vector<uint16_t>& bound_ports() const { return ports_; }

 private:
  config::BrokerConfig config_;
  BrokerIdentity identity_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<net::Server> server_;
  std::vector<uint16_t> ports_;
};

}  // namespace keel::server
