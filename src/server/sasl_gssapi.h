#pragma once
// SASL/GSSAPI (Kerberos) on the broker's side, through Cyrus SASL's GSSAPI
// plugin (MIT Kerberos underneath), configured as Kafka operators configure a
// Kafka broker:
// - the broker's keytab and principal come from a JAAS line for the listener
//   (listener.name.<l>.gssapi.sasl.jaas.config, else
//   listener.name.<l>.sasl.jaas.config, else sasl.jaas.config) holding
//   Krb5LoginModule's keyTab= and principal= (security/jaas.h);
// - the service is sasl.kerberos.service.name (or the JAAS line's serviceName,
//   which must agree, as Kafka checks), and the host is the listener's
//   advertised host: clients ask the KDC for a ticket to
//   <service>/<the host they dial>@REALM, so the keytab must hold that key;
// - the authenticated Kerberos name goes through
//   sasl.kerberos.principal.to.local.rules (security::KerberosShortNamer,
//   DEFAULT included) and gives the principal's name, User:<short name>.
//
// Cyrus facts this leans on (../shared/reference/security-testbed.md):
// sasl_server_init is process-wide and runs once; the GSSAPI plugin reads the
// `keytab` option once, at that init, and registers it with MIT Kerberos for
// the whole process, so every GSSAPI listener of a broker shares one keytab;
// Cyrus reports a name of the default realm without its realm ("client") and
// any other with it ("client@OTHER.REALM"), so the realm is put back before the
// rules run; the authorization id a client may send is ignored, as Kafka
// ignores it (kafka-python 2.0 sends the service's name there): the principal
// is the authenticated name; no security layer is offered (max_ssf 0): Kafka
// never wraps its traffic after SASL.
//
// Kerberos reads its configuration from KRB5_CONFIG (else /etc/krb5.conf) and
// keeps its replay cache in KRB5RCACHEDIR (else /var/tmp): the broker's
// environment decides both.
//
// Thread safety: GssapiAuthenticator is immutable after create() and shared
// by every connection; one GssapiExchange per connection, used by its requests
// one at a time.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "config/config.h"
#include "security/principal_rules.h"

typedef struct sasl_conn sasl_conn_t;

namespace keel::server {

// One client's GSSAPI exchange: the Cyrus server connection, disposed with it.
class GssapiExchange {
 public:
  struct Step {
    enum class Kind { kContinue, kComplete, kFailed } kind = Kind::kFailed;
    Bytes reply;         // the token to send back (empty is a valid token)
    std::string detail;  // kFailed: Kerberos' own words, for the log only
  };

  GssapiExchange(sasl_conn_t* conn, std::string acceptor) : conn_(conn), acceptor_(std::move(acceptor)) {}
  GssapiExchange(const GssapiExchange&) = delete;
  GssapiExchange& operator=(const GssapiExchange&) = delete;
  ~GssapiExchange();

  // The next client token. After kComplete, authenticated_name() holds the
  // client's Kerberos name as Cyrus gives it; after kFailed every later step fails.
  Step step(ByteView token);
  const std::string& authenticated_name() const { return name_; }
  // "kafka/host@REALM": the name clients must have a ticket for (for logs).
  const std::string& acceptor() const { return acceptor_; }

 private:
  sasl_conn_t* conn_;
  std::string acceptor_;
  std::string name_;
  bool started_ = false;
  bool done_ = false;
};

class GssapiAuthenticator {
 public:
  // Null when no SASL listener enables GSSAPI. Otherwise checks everything a
  // first client would need, so that a bad setting stops the start-up rather
  // than failing clients later, and throws std::runtime_error saying what to
  // change (with the YAML file and line of a bad JAAS line): a listener
  // without a Krb5LoginModule JAAS line, a JAAS line Keel cannot read, no or
  // conflicting service names, a keytab that is missing, unreadable by this
  // user or without the JAAS principal's key or the key clients ask for
  // (<service>/<advertised host>), listeners naming different keytabs,
  // auth_to_local rules that do not parse, no default realm, no Cyrus GSSAPI plugin.
  static std::unique_ptr<GssapiAuthenticator> create(const config::BrokerConfig& config);

  ~GssapiAuthenticator();

  // A new exchange for a connection on `listener` (one create() checked), or
  // an error when Cyrus cannot start one (logged).
  std::unique_ptr<GssapiExchange> begin(std::string_view listener) const;

  // The principal's name for `cyrus_name` (GssapiExchange::authenticated_name)
  // on `listener`: the default realm put back where Cyrus took it off, then the
  // listener's auth_to_local rules. Errors as KerberosShortNamer::short_name,
  // with Kafka's words in *why.
  Result<std::string> short_name(std::string_view listener, std::string_view cyrus_name, std::string* why) const;

 private:
  struct Listener {
    std::string service;  // sasl.kerberos.service.name
    std::string host;     // the advertised host: Cyrus' serverFQDN
    std::string acceptor; // service/host@REALM
    security::KerberosShortNamer rules;
  };
  GssapiAuthenticator() = default;

  std::string default_realm_;
  std::map<std::string, Listener, std::less<>> listeners_;
};

}  // namespace keel::server
