#include "server/rest/rest_spnego.h"

#include <algorithm>
#include <stdexcept>
#include <variant>

#include "common/log.h"
#include "security/jaas.h"
#include "security/spnego_header.h"
#include "server/rest/rest_util.h"
#include "server/sasl.h"

namespace keel::server::rest {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("rest");
  return l;
}

// The keyTab of the first GSSAPI listener's Krb5LoginModule line that holds
// an HTTP/ key, or "" (with what was looked at in *seen, for the message).
std::string gssapi_listener_keytab(const config::BrokerConfig& config, std::string* seen) {
  for (const auto& ep : config.listeners) {
    if (!requires_sasl(ep.security_protocol)) continue;
    const auto mechanisms = enabled_mechanisms(config, ep.listener_name);
    if (std::find(mechanisms.begin(), mechanisms.end(), "GSSAPI") == mechanisms.end()) continue;
    auto jaas = sasl_listener_setting(config, ep.listener_name, "GSSAPI", "sasl.jaas.config");
    if (!jaas) continue;
    auto login = security::parse_jaas_config(jaas->value, nullptr);
    const auto* krb = login ? std::get_if<security::KerberosLogin>(&*login) : nullptr;
    if (!krb || krb->keytab.empty()) continue;
    *seen += (seen->empty() ? "" : ", ") + krb->keytab + " (" + ep.listener_name + ")";
    try {
      if (!security::keytab_http_keys(krb->keytab).empty()) return krb->keytab;
    } catch (const std::exception&) {
      // Unreadable: the GSSAPI listener's own start-up check says so.
    }
  }
  return {};
}

}  // namespace

std::shared_ptr<const security::SpnegoAcceptor> spnego_from_config(const config::BrokerConfig& config) {
  if (!config.http_spnego_enable) return nullptr;
  security::SpnegoOptions options;
  options.keytab = config.http_spnego_keytab;
  options.principal = config.http_spnego_principal;
  options.to_local_rules = config.sasl_kerberos_principal_to_local_rules;
  if (options.keytab.empty()) {
    std::string seen;
    options.keytab = gssapi_listener_keytab(config, &seen);
    if (options.keytab.empty())
      throw std::runtime_error("http.spnego.enable is true but http.spnego.keytab is not set" +
                               (seen.empty() ? std::string(" and no GSSAPI listener names a keytab")
                                             : " and no GSSAPI listener's keytab holds an HTTP/<host> key (" +
                                                   seen + ")"));
  }
  auto acceptor = security::SpnegoAcceptor::create(std::move(options));
  log()->info("Kerberos (SPNEGO) on the HTTP listener: {}", acceptor->describe());
  return acceptor;
}

void add_challenges(http::Response& refusal, bool negotiate, bool basic) {
  // One header per scheme: clients pick the strongest they can do (Negotiate first).
  if (negotiate) refusal.headers.emplace_back("WWW-Authenticate", security::negotiate_challenge());
  if (basic) refusal.headers.emplace_back("WWW-Authenticate", "Basic realm=\"keel\"");
}

std::optional<std::string> negotiate(const security::SpnegoAcceptor& spnego, const http::Request& req,
                                     std::string_view authorization, http::Response* refusal, std::string* mutual) {
  const bool basic = req.tls;
  std::string why;
  auto token = security::parse_negotiate(authorization, &why);
  if (!token) {
    log()->info("REST Kerberos (SPNEGO) authentication failed from {}: {}", req.peer, why);
    *refusal = error(401, kAuthenticationFailed, "Kerberos authentication failed: " + why);
    add_challenges(*refusal, true, basic);
    return std::nullopt;
  }
  auto outcome = spnego.accept(*token);
  if (!outcome.ok) {
    log()->info("REST Kerberos (SPNEGO) authentication failed from {}{}: {}", req.peer,
                outcome.kerberos_name.empty() ? "" : " (" + outcome.kerberos_name + ")", outcome.detail);
    *refusal = error(401, kAuthenticationFailed, outcome.error);
    add_challenges(*refusal, true, basic);
    return std::nullopt;
  }
  log()->debug("REST Kerberos (SPNEGO) authentication of {} from {} as User:{}", outcome.kerberos_name, req.peer,
               outcome.short_name);
  *mutual = outcome.reply.empty() ? std::string() : security::negotiate_challenge(outcome.reply);
  return "User:" + outcome.short_name;
}

}  // namespace keel::server::rest
