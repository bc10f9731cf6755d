#pragma once
// TLS for the broker's listeners and its own connections to other brokers:
// the ssl.* settings of one listener (listener.name.<l>.ssl.* where written,
// else the broker-wide ssl.* keys), the TlsContexts made from them at
// start-up, and their reload without a restart (SIGHUP: reload()).

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "net/tls.h"

namespace keel::server {

// Whether a listener of this security protocol runs TLS (SSL, SASL_SSL).
bool uses_tls(const std::string& security_protocol);

// The ssl.* settings of `listener` (upper-case name): its overrides, else the
// broker-wide values.
net::TlsSettings tls_settings(const config::BrokerConfig& config, std::string_view listener);

class TlsListeners {
 public:
  // Makes a server context for every SSL and SASL_SSL listener, and a client
  // context for the broker's own connections when inter.broker.listener.name
  // is one of them (its key store is the client certificate, its trust store
  // checks the other brokers). Throws net::TlsConfigError naming the
  // listener and the key when a store cannot be used.
  explicit TlsListeners(const config::BrokerConfig& config);

  // The listener's context; null for a plaintext listener.
  std::shared_ptr<net::TlsContext> listener(const std::string& name) const;
  // The context of the broker's outgoing connections; null without TLS.
  std::shared_ptr<net::TlsContext> client() const { return client_; }

  // Re-reads every key and trust store (the files may have been replaced):
  // new connections get the new certificates, open ones keep theirs. "" when
  // all reloaded, else the failures (those contexts keep their old stores).
  std::string reload();
  // A listener's ssl.keystore.location (and the rest of its ssl.* settings)
  // changed: rebuilds that listener's context. "" or why not.
  std::string reload_listener(const std::string& name, const net::TlsSettings& settings);

  // Dynamic broker configs changed (AlterConfigs, as kafka-configs --alter
  // --add-config listener.name.ssl.ssl.keystore.location=... does): each
  // listener whose ssl.* settings now differ — the YAML's, overlaid with the
  // dynamic listener.name.<l>.ssl.* values — is rebuilt with them. "" when
  // every change took, else why not (those listeners keep their stores).
  std::string apply_dynamic(const config::BrokerConfig& config, const std::map<std::string, std::string>& dynamic);

  // Whether `key` is listener.name.<listener>.<an ssl key that may change at
  // run time> (the key and trust store keys, as Kafka's reconfigurable SSL set).
  static bool is_dynamic_key(std::string_view key);

 private:
  std::map<std::string, std::shared_ptr<net::TlsContext>> listeners_;
  std::shared_ptr<net::TlsContext> client_;
};

}  // namespace keel::server
