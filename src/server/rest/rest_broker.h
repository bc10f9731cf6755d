#pragma once
// What the Broker calls to put the REST API on its HTTP listener: the routes,
// and for https:// endpoints the TLS context (the listener.name.https.ssl.*
// keys, else the broker-wide ssl.* ones, as for a Kafka SSL listener).

#include <functional>
#include <optional>
#include <string>

#include "config/config.h"
#include "http/server.h"
#include "server/lag_history.h"
#include "server/rest/kafka_bridge.h"

namespace keel::coord {
class CoordinationStore;
}
namespace keel::server {
struct SaslCredentials;
}

namespace keel::server::rest {

struct BrokerHooks {
  int32_t broker_id = 0;
  // nullopt while the broker is not serving.
  std::function<std::optional<std::string>()> cluster_id;
  KafkaBridge::Dispatch dispatch;
  // The PLAIN and SCRAM users; null while not serving.
  std::function<const SaslCredentials*()> sasl;
  // The groups' lags for the console's lag trend (server/lag_history.h).
  LagHistory::Source lag_source;
  // The coordination store; null while not serving (rest_throttle_record.h).
  std::function<coord::CoordinationStore*()> store;
};

// Adds the REST routes to `routes`; with `https`, sets options.tls_context
// and friends. Throws net::TlsConfigError when the key store cannot be used.
void add_rest_api(http::Routes& routes, http::ServerOptions& options, const config::BrokerConfig& config,
                  bool https, BrokerHooks hooks);

// Whether `password` is `user`'s: the PLAIN file, else a SCRAM credential.
bool check_password(const SaslCredentials* sasl, std::string_view user, std::string_view password);

}  // namespace keel::server::rest
