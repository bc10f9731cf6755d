#include "server/rest/rest_broker.h"

#include <openssl/x509.h>

#include "net/tls.h"
#include "security/principal_rules.h"
#include "security/scram.h"
#include "server/rest/console.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_spnego.h"
#include "server/sasl.h"
#include "server/scram_credentials.h"
#include "server/tls_listeners.h"

namespace keel::server::rest {

bool check_password(const SaslCredentials* sasl, std::string_view user, std::string_view password) {
  if (!sasl) return false;
  if (sasl->plain.size() > 0 && sasl->plain.verify(user, password)) return true;
  if (!sasl->scram) return false;
  for (auto m : {security::ScramMechanism::kSha256, security::ScramMechanism::kSha512}) {
    auto cred = sasl->scram->lookup(m, user);
    if (cred && security::password_matches(m, *cred, password)) return true;
  }
  return false;
}

void add_rest_api(http::Routes& routes, http::ServerOptions& options, const config::BrokerConfig& config,
                  bool https, BrokerHooks hooks) {
  RestOptions ro;
  ro.broker_id = hooks.broker_id;
  ro.listener_name = config.listeners.empty() ? "PLAINTEXT" : config.listeners.front().listener_name;
  ro.cluster_id = std::move(hooks.cluster_id);
  ro.dispatch = std::move(hooks.dispatch);
  ro.lag_source = std::move(hooks.lag_source);
  ro.store = std::move(hooks.store);
  ro.lag_history_interval_ms = config.console_lag_history_interval_ms;
  ro.records_download_max_bytes = config.console_records_download_max_bytes;
  ro.spnego = spnego_from_config(config);  // Kerberos (Negotiate): rest_spnego.h
  ro.check_password = [sasl = std::move(hooks.sasl)](std::string_view user, std::string_view password) {
    return check_password(sasl ? sasl() : nullptr, user, password);
  };
  if (https) {
    auto tls = std::make_shared<net::TlsContext>("http.listeners https", tls_settings(config, "HTTPS"),
                                                 net::TlsRole::kServer);
    options.tls_context = [tls] { return tls->ssl_ctx(); };
    options.tls_subject_name = [](X509* cert) { return security::java_rfc2253_name(X509_get_subject_name(cert)); };
    ro.map_tls_subject = [tls](std::string_view subject) -> std::optional<std::string> {
      std::string why;
      return tls->principal_name(subject, &why);
    };
  }
  std::make_shared<RestApi>(std::move(ro))->register_routes(routes);
  add_console_assets(routes);  // the web console's files: no API, not in /openapi.json
}

}  // namespace keel::server::rest
