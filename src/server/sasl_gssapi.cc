#include "server/sasl_gssapi.h"

#include <sasl/sasl.h>
#include <unistd.h>

#include <krb5.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <variant>

#include "common/log.h"
#include "security/jaas.h"
#include "server/sasl.h"

namespace keel::server {
namespace {

constexpr std::string_view kGssapi = "GSSAPI";

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

// --- Cyrus, once per process ---------------------------------------------------------------------

// The keytab the GSSAPI plugin registered at sasl_server_init; the GETOPT
// callback reads it, and a second broker in the process must name the same.
std::mutex g_cyrus_mu;
std::string g_cyrus_keytab;
bool g_cyrus_ready = false;

int cyrus_getopt(void* /*context*/, const char* plugin, const char* option, const char** result, unsigned* len) {
  const std::string_view opt = option ? option : "";
  const std::string_view plug = plugin ? plugin : "";
  if (opt == "keytab" && plug == kGssapi) {
    *result = g_cyrus_keytab.c_str();  // written once, before init, under g_cyrus_mu
  } else if (opt == "mech_list") {
    *result = "GSSAPI";  // Cyrus serves nothing else here: PLAIN and SCRAM are Keel's own
  } else {
    return SASL_FAIL;  // Cyrus' default
  }
  if (len) *len = static_cast<unsigned>(std::strlen(*result));
  return SASL_OK;
}

int cyrus_log(void* /*context*/, int level, const char* message) {
  const std::string_view m = message ? message : "";
  if (level <= SASL_LOG_ERR) log()->warn("cyrus-sasl: {}", m);
  else if (level <= SASL_LOG_NOTE) log()->info("cyrus-sasl: {}", m);
  else log()->debug("cyrus-sasl: {}", m);
  return SASL_OK;
}

// Kafka authorizes whatever authorization id a GSSAPI client sends and keeps
// the authenticated name (SaslServerCallbackHandler); kafka-python 2.0 sends
// the service's name there. Cyrus' default policy would refuse any id other
// than the authenticated one, so this policy allows all, and the principal
// comes from SASL_AUTHUSER (the authenticated name), never SASL_USERNAME.
int cyrus_proxy_policy(sasl_conn_t* /*conn*/, void* /*context*/, const char* requested, unsigned requested_len,
                       const char* authenticated, unsigned authenticated_len, const char* /*realm*/,
                       unsigned /*realm_len*/, struct propctx* /*props*/) {
  const std::string_view authz(requested ? requested : "", requested ? requested_len : 0);
  const std::string_view authn(authenticated ? authenticated : "", authenticated ? authenticated_len : 0);
  if (authz != authn)
    log()->debug("GSSAPI: client {} asked for authorization id '{}', ignored as Kafka ignores it", authn, authz);
  return SASL_OK;
}

void init_cyrus(const std::string& keytab) {
  std::lock_guard lock(g_cyrus_mu);
  if (g_cyrus_ready) {
    if (keytab != g_cyrus_keytab)
      throw std::runtime_error("GSSAPI: this process already serves Kerberos with keytab " + g_cyrus_keytab +
                               "; Cyrus SASL keeps one keytab per process, so " + keytab + " cannot be used too");
    return;
  }
  g_cyrus_keytab = keytab;
  // Cyrus keeps every callback as int (*)(); the cast goes through void (*)(), the
  // generic function pointer, and Cyrus calls each back with its real type.
  static sasl_callback_t callbacks[] = {
      {SASL_CB_GETOPT, reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(&cyrus_getopt)), nullptr},
      {SASL_CB_LOG, reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(&cyrus_log)), nullptr},
      {SASL_CB_PROXY_POLICY, reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(&cyrus_proxy_policy)), nullptr},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  // The application name only names /etc/sasl2/keel.conf, which GETOPT answers before.
  const int rc = sasl_server_init(callbacks, "keel");
  if (rc != SASL_OK)
    throw std::runtime_error(std::string("GSSAPI: Cyrus SASL did not start: ") + sasl_errstring(rc, nullptr, nullptr));
  g_cyrus_ready = true;
}

sasl_conn_t* new_cyrus_conn(const std::string& service, const std::string& host, std::string* why) {
  sasl_conn_t* conn = nullptr;
  // user_realm stays null: Cyrus would otherwise re-realm the client's name.
  int rc = sasl_server_new(service.c_str(), host.c_str(), nullptr, nullptr, nullptr, nullptr, SASL_SUCCESS_DATA,
                           &conn);
  if (rc == SASL_OK) {
    sasl_security_properties_t props{};
    props.min_ssf = 0;
    props.max_ssf = 0;  // no security layer: Kafka never wraps traffic after SASL
    props.maxbufsize = 0;
    rc = sasl_setprop(conn, SASL_SEC_PROPS, &props);
  }
  if (rc != SASL_OK) {
    if (why) *why = conn ? sasl_errdetail(conn) : sasl_errstring(rc, nullptr, nullptr);
    if (conn) sasl_dispose(&conn);
    return nullptr;
  }
  return conn;
}

// --- start-up checks with libkrb5 -----------------------------------------------------------------

class Krb5 {
 public:
  Krb5() {
    if (const krb5_error_code rc = krb5_init_context(&ctx_); rc != 0)
      throw std::runtime_error("GSSAPI: cannot read the Kerberos configuration (" + config_file() +
                               "): " + std::strerror(rc));
  }
  ~Krb5() { krb5_free_context(ctx_); }
  Krb5(const Krb5&) = delete;
  Krb5& operator=(const Krb5&) = delete;

  static std::string config_file() {
    const char* env = std::getenv("KRB5_CONFIG");
    return env ? std::string("KRB5_CONFIG=") + env : "/etc/krb5.conf";
  }

  std::string default_realm() {
    char* realm = nullptr;
    if (krb5_get_default_realm(ctx_, &realm) != 0 || realm == nullptr) return {};
    std::string out = realm;
    krb5_free_default_realm(ctx_, realm);
    return out;
  }

  std::string message(krb5_error_code rc) {
    const char* m = krb5_get_error_message(ctx_, rc);
    std::string out = m ? m : "error " + std::to_string(rc);
    krb5_free_error_message(ctx_, m);
    return out;
  }

  // "" when `keytab` holds a key for `principal`, else why not.
  std::string check_key(const std::string& keytab, const std::string& principal) {
    krb5_principal p = nullptr;
    if (krb5_error_code rc = krb5_parse_name(ctx_, principal.c_str(), &p); rc != 0)
      return "'" + principal + "' is not a Kerberos name: " + message(rc);
    krb5_keytab kt = nullptr;
    std::string why;
    if (krb5_error_code rc = krb5_kt_resolve(ctx_, ("FILE:" + keytab).c_str(), &kt); rc != 0) {
      why = message(rc);
    } else {
      krb5_keytab_entry entry{};
      if (krb5_error_code rc2 = krb5_kt_get_entry(ctx_, kt, p, 0, 0, &entry); rc2 != 0) {
        why = message(rc2);
      } else {
        krb5_free_keytab_entry_contents(ctx_, &entry);
      }
      krb5_kt_close(ctx_, kt);
    }
    krb5_free_principal(ctx_, p);
    return why;
  }

 private:
  krb5_context ctx_ = nullptr;
};

// "<source>:<line>: <key>" for messages about a key the file holds.
std::string where(const config::BrokerConfig& config, const ListenerSetting& s) {
  return s.line > 0 ? config.source_name + ":" + std::to_string(s.line) + ": " + s.key : s.key;
}

const std::string kJaasExample =
    "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true "
    "keyTab=\"/etc/security/keytabs/kafka.keytab\" principal=\"kafka/broker1.example.com@EXAMPLE.COM\";";

}  // namespace

// --- GssapiExchange ---------------------------------------------------------------------------------

GssapiExchange::~GssapiExchange() {
  if (conn_) sasl_dispose(&conn_);
}

GssapiExchange::Step GssapiExchange::step(ByteView token) {
  Step out;
  if (done_) {
    out.detail = "the GSSAPI exchange has already ended";
    return out;
  }
  if (!started_ && token.empty()) {
    // Cyrus would read it as "no initial response" and wait; Kafka's GSSAPI
    // server refuses it as a defective token, and so does Keel.
    done_ = true;
    out.detail = "the client's first GSSAPI token is empty";
    return out;
  }
  const char* reply = nullptr;
  unsigned reply_len = 0;
  const auto* in = reinterpret_cast<const char*>(token.data());
  static const char kEmpty = 0;
  if (in == nullptr) in = &kEmpty;  // an empty token is a token: Cyrus reads null as "none sent"
  const int rc = started_ ? sasl_server_step(conn_, in, static_cast<unsigned>(token.size()), &reply, &reply_len)
                          : sasl_server_start(conn_, "GSSAPI", in, static_cast<unsigned>(token.size()), &reply,
                                              &reply_len);
  started_ = true;
  if (rc == SASL_OK || rc == SASL_CONTINUE) {
    if (reply && reply_len > 0) out.reply.assign(reinterpret_cast<const uint8_t*>(reply),
                                                 reinterpret_cast<const uint8_t*>(reply) + reply_len);
    if (rc == SASL_CONTINUE) {
      out.kind = Step::Kind::kContinue;
      return out;
    }
    const void* user = nullptr;
    if (sasl_getprop(conn_, SASL_AUTHUSER, &user) != SASL_OK || user == nullptr) {
      done_ = true;
      out.detail = "Cyrus SASL completed without a user name";
      return out;
    }
    name_ = static_cast<const char*>(user);
    done_ = true;
    out.kind = Step::Kind::kComplete;
    return out;
  }
  done_ = true;
  out.detail = sasl_errdetail(conn_);
  return out;
}

// --- GssapiAuthenticator -----------------------------------------------------------------------------

GssapiAuthenticator::~GssapiAuthenticator() = default;

std::unique_ptr<GssapiAuthenticator> GssapiAuthenticator::create(const config::BrokerConfig& config) {
  std::vector<const config::Endpoint*> gssapi_listeners;
  for (const auto& ep : config.listeners) {
    if (!requires_sasl(ep.security_protocol)) continue;
    const auto mechanisms = enabled_mechanisms(config, ep.listener_name);
    if (std::find(mechanisms.begin(), mechanisms.end(), kGssapi) != mechanisms.end()) gssapi_listeners.push_back(&ep);
  }
  if (gssapi_listeners.empty()) return nullptr;

  std::unique_ptr<GssapiAuthenticator> out(new GssapiAuthenticator());
  std::optional<Krb5> krb5;  // read once the JAAS lines are known good
  std::string keytab;
  for (const config::Endpoint* ep : gssapi_listeners) {
    const std::string& name = ep->listener_name;
    const std::string intro = "listener " + ep->to_string() + " enables GSSAPI";
    auto jaas = sasl_listener_setting(config, name, kGssapi, "sasl.jaas.config");
    if (!jaas)
      throw std::runtime_error(intro + " but no JAAS line names the broker's keytab and principal: set " +
                               listener_key(name, "gssapi.sasl.jaas.config") + " (or sasl.jaas.config) to " +
                               kJaasExample);
    std::string why;
    auto login = security::parse_jaas_config(jaas->value, &why);
    if (!login) throw std::runtime_error(where(config, *jaas) + ": " + why);
    const auto* krb = std::get_if<security::KerberosLogin>(&*login);
    if (!krb)
      throw std::runtime_error(where(config, *jaas) + ": " + intro +
                               ", whose JAAS line must be a Krb5LoginModule, e.g. " + kJaasExample);

    // The service name, as Kafka's KerberosLogin.getServiceName settles it.
    auto service = sasl_listener_setting(config, name, kGssapi, "sasl.kerberos.service.name");
    const std::string service_name = service ? service->value : "";
    if (!krb->service_name.empty() && !service_name.empty() && krb->service_name != service_name)
      throw std::runtime_error(where(config, *jaas) + ": Conflicting serviceName values found in JAAS and Kafka "
                               "configs value in JAAS file " + krb->service_name + ", value in Kafka config " +
                               service_name);
    const std::string svc = !service_name.empty() ? service_name : krb->service_name;
    if (svc.empty())
      throw std::runtime_error(intro + ": No serviceName defined in either JAAS or Kafka config (set "
                               "sasl.kerberos.service.name, e.g. to kafka)");

    if (!krb5) {
      krb5.emplace();
      out->default_realm_ = krb5->default_realm();
      if (out->default_realm_.empty())
        throw std::runtime_error("GSSAPI: the Kerberos configuration (" + Krb5::config_file() +
                                 ") names no default_realm, which principal names without a realm need");
    }
    if (keytab.empty()) keytab = krb->keytab;
    if (krb->keytab != keytab)
      throw std::runtime_error(where(config, *jaas) + ": keyTab " + krb->keytab + " differs from " + keytab +
                               ", which another GSSAPI listener names; Cyrus SASL keeps one keytab per process, "
                               "so put every listener's keys in one keytab");
    if (access(krb->keytab.c_str(), R_OK) != 0)
      throw std::runtime_error(where(config, *jaas) + ": cannot read keytab " + krb->keytab + " as this user: " +
                               std::strerror(errno));
    const std::string principal =
        krb->principal.find('@') == std::string::npos ? krb->principal + "@" + out->default_realm_ : krb->principal;
    if (std::string miss = krb5->check_key(krb->keytab, principal); !miss.empty())
      throw std::runtime_error(where(config, *jaas) + ": keytab " + krb->keytab + " has no key for principal " +
                               principal + ": " + miss);

    // Clients ask for a ticket to <service>/<the host they dial>: the advertised host.
    std::string host;
    for (const auto& adv : config.advertised_listeners)
      if (adv.listener_name == name) host = adv.host;
    if (host.empty()) host = ep->host;
    const std::string realm = principal.substr(principal.find('@') + 1);
    const std::string acceptor = svc + "/" + host + "@" + realm;
    if (std::string miss = krb5->check_key(krb->keytab, acceptor); !miss.empty())
      throw std::runtime_error(intro + ": clients dialling " + host + " ask for a ticket to " + acceptor +
                               ", but keytab " + krb->keytab + " has no key for it (" + miss +
                               "); add it (kadmin: ktadd -k " + krb->keytab + " " + acceptor +
                               ") or advertise the host the keytab's key names");

    std::vector<std::string> rules = config.sasl_kerberos_principal_to_local_rules;
    auto rules_setting = sasl_listener_setting(config, name, kGssapi, "sasl.kerberos.principal.to.local.rules");
    // A listener's override is text (comma-separated, as Kafka splits it); the
    // broker-wide list keeps its items as the file wrote them.
    if (rules_setting && rules_setting->key.starts_with("listener.name."))
      rules = split_config_list(rules_setting->value);
    auto namer = security::KerberosShortNamer::parse(out->default_realm_, rules, &why);
    if (!namer)
      throw std::runtime_error((rules_setting ? where(config, *rules_setting)
                                              : std::string("sasl.kerberos.principal.to.local.rules")) +
                               ": " + why);
    out->listeners_.emplace(name, Listener{svc, host, acceptor, std::move(*namer)});
  }

  init_cyrus(keytab);
  // Cyrus loads its plugins at init: without the GSSAPI one nothing would work.
  const Listener& first = out->listeners_.begin()->second;
  std::string why;
  sasl_conn_t* probe = new_cyrus_conn(first.service, first.host, &why);
  if (!probe) throw std::runtime_error("GSSAPI: Cyrus SASL cannot start an exchange: " + why);
  const char* mechs = nullptr;
  const int rc = sasl_listmech(probe, nullptr, "", " ", "", &mechs, nullptr, nullptr);
  const bool has_gssapi = rc == SASL_OK && mechs && std::string_view(mechs).find(kGssapi) != std::string_view::npos;
  sasl_dispose(&probe);
  if (!has_gssapi)
    throw std::runtime_error("GSSAPI: Cyrus SASL offers no GSSAPI mechanism (is libsasl2-modules-gssapi-mit "
                             "installed, and keytab " + keytab + " readable?)");
  for (const auto& [name, l] : out->listeners_)
    log()->info("GSSAPI on listener {}: clients need tickets to {}; keytab {}; Kerberos configuration {}", name,
                l.acceptor, keytab, Krb5::config_file());
  return out;
}

std::unique_ptr<GssapiExchange> GssapiAuthenticator::begin(std::string_view listener) const {
  auto it = listeners_.find(listener);
  if (it == listeners_.end()) return nullptr;
  std::string why;
  sasl_conn_t* conn = new_cyrus_conn(it->second.service, it->second.host, &why);
  if (!conn) {
    log()->error("GSSAPI on listener {}: Cyrus SASL cannot start an exchange: {}", listener, why);
    return nullptr;
  }
  return std::make_unique<GssapiExchange>(conn, it->second.acceptor);
}

Result<std::string> GssapiAuthenticator::short_name(std::string_view listener, std::string_view cyrus_name,
                                                    std::string* why) const {
  auto it = listeners_.find(listener);
  if (it == listeners_.end()) return security::PrincipalErrc::kNoMatchingRule;
  std::string full(cyrus_name);
  if (full.find('@') == std::string::npos) full += "@" + default_realm_;
  return it->second.rules.short_name(full, why);
}

}  // namespace keel::server
