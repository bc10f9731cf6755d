#pragma once
// Kerberos (HTTP Negotiate) for the REST API and console, as the broker's
// configuration sets it up: http.spnego.enable, http.spnego.keytab (else the
// GSSAPI listener's keyTab when it holds an HTTP/ key), http.spnego.principal,
// and sasl.kerberos.principal.to.local.rules for the principal's name.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/server.h"
#include "security/spnego.h"

namespace keel::server::rest {

// Null unless http.spnego.enable. Throws std::runtime_error saying what to
// change when SPNEGO is enabled but cannot work (no keytab named or found, no
// HTTP/ key, rules that do not parse): the broker then does not start.
std::shared_ptr<const security::SpnegoAcceptor> spnego_from_config(const config::BrokerConfig& config);

// The principal ("User:<short name>") of a request whose Authorization value
// is `authorization` (scheme Negotiate), with the acceptor's mutual
// authentication token in *mutual ("Negotiate <base64>", "" when none).
// Otherwise nullopt and *refusal is the 401 (a JSON error saying why, the
// challenges) and the failure is logged with the peer address. Runs the
// GSS-API acceptor: call it on a worker thread, not an I/O one.
std::optional<std::string> negotiate(const security::SpnegoAcceptor& spnego, const http::Request& req,
                                     std::string_view authorization, http::Response* refusal, std::string* mutual);

// Adds the WWW-Authenticate challenges a 401 carries: Negotiate when SPNEGO
// is on, Basic when `basic` (Basic is served on https only).
void add_challenges(http::Response& refusal, bool negotiate, bool basic);

}  // namespace keel::server::rest
