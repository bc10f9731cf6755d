#pragma once
// SASL on the listeners whose security protocol asks for it (SASL_PLAINTEXT),
// with Kafka's rules for a connection that has not authenticated: ApiVersions
// and SaslHandshake are answered, any other request closes the connection, and
// a mechanism the broker does not serve gets UNSUPPORTED_SASL_MECHANISM with
// the list it serves, then the connection closes.
//
// No mechanism is served yet (GSSAPI, PLAIN and SCRAM come with the security
// work, behind this same gate): a SASL listener refuses every client after
// that exchange rather than serve one it has not authenticated. On other
// listeners, SaslHandshake and SaslAuthenticate are answered
// ILLEGAL_SASL_STATE, as Kafka answers them there.

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/server.h"

namespace keel::server {

enum class AuthStage : uint8_t {
  kUnresolved = 0,  // the connection's first request has not come yet
  kNotRequired,     // PLAINTEXT (SSL listeners do not start yet)
  kSaslHandshake,   // a SASL listener: ApiVersions and SaslHandshake only
};

// Where the connection stands; resolved from its listener's security protocol
// on its first request and kept in conn.state.
AuthStage auth_stage(const config::BrokerConfig& config, const net::ConnectionInfo& conn);

// Whether a listener of this security protocol requires SASL.
bool requires_sasl(const std::string& security_protocol);

// The mechanisms a client can authenticate with here: none yet.
std::vector<std::string> served_sasl_mechanisms();

}  // namespace keel::server
