#include "server/interbroker_sasl.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <variant>

#include "common/log.h"
#include "security/jaas.h"
#include "security/sasl_client.h"
#include "server/sasl.h"
#include "server/kerberos_tgt.h"
#include "server/sasl_gssapi_client.h"

namespace keel::server {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

std::string where(const config::BrokerConfig& config, const ListenerSetting& s) {
  return s.line > 0 ? config.source_name + ":" + std::to_string(s.line) + ": " + s.key : s.key;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const std::string kKrb5Example =
    "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true "
    "keyTab=\"/etc/security/keytabs/kafka.keytab\" principal=\"kafka/broker1.example.com@EXAMPLE.COM\";";

// GSSAPI: the broker's keytab and principal from the listener's
// Krb5LoginModule line (the same line its GSSAPI listener serves with), the
// service from sasl.kerberos.service.name or the line's serviceName. The
// server side (GssapiAuthenticator::create) has already checked that the
// keytab is readable and holds the principal's key.
std::shared_ptr<const net::ClientSasl> gssapi_interbroker(const config::BrokerConfig& config,
                                                          const std::string& listener, const std::string& intro) {
  const auto jaas = sasl_listener_setting(config, listener, "GSSAPI", "sasl.jaas.config");
  if (!jaas) {
    throw std::runtime_error(intro + " but has no JAAS line with the broker's keytab and principal: set " +
                             listener_key(listener, "gssapi.sasl.jaas.config") + " (or sasl.jaas.config) to " +
                             kKrb5Example);
  }
  std::string why;
  auto login = security::parse_jaas_config(jaas->value, &why);
  if (!login) throw std::runtime_error(where(config, *jaas) + ": " + why);
  const auto* krb = std::get_if<security::KerberosLogin>(&*login);
  if (!krb) {
    throw std::runtime_error(where(config, *jaas) + ": " + intro +
                             ", whose JAAS line must be a Krb5LoginModule, e.g. " + kKrb5Example);
  }
  const auto service_setting = sasl_listener_setting(config, listener, "GSSAPI", "sasl.kerberos.service.name");
  GssapiClientLogin client{krb->keytab, krb->principal, service_setting ? service_setting->value : krb->service_name, ""};
  if (client.service.empty())
    throw std::runtime_error(intro + ": No serviceName defined in either JAAS or Kafka config (set "
                             "sasl.kerberos.service.name, e.g. to kafka)");
  // The TGT is kept fresh in the background; exchanges only read its cache.
  client.ccache = "MEMORY:keel-interbroker-" + client.principal;
  KerberosTgtOptions tgt;
  tgt.principal = client.principal;
  tgt.keytab = client.keytab;
  tgt.ccache = client.ccache;
  tgt.renew_window = config.sasl_kerberos_ticket_renew_window_factor;
  tgt.renew_jitter = config.sasl_kerberos_ticket_renew_jitter;
  tgt.min_relogin_ms = config.sasl_kerberos_min_time_before_relogin;
  auto keeper = std::make_shared<KerberosTgtKeeper>(tgt);
  keeper->start();
  auto sasl = std::make_shared<net::ClientSasl>();
  sasl->mechanism = "GSSAPI";
  sasl->client_id = "broker-" + std::to_string(config.broker_id);
  // The keeper lives as long as these settings (the process's inter-broker SASL).
  sasl->make_mechanism = [client, keeper]() { return make_gssapi_client(client); };
  log()->info("inter-broker connections authenticate with SASL GSSAPI as {} (keytab {}), asking for tickets to "
              "{}/<broker host> ({})", client.principal, client.keytab, client.service, jaas->key);
  return sasl;
}

}  // namespace

std::shared_ptr<const net::ClientSasl> interbroker_sasl(const config::BrokerConfig& config) {
  const std::string& listener = config.inter_broker_listener_name;
  const auto ep = std::find_if(config.listeners.begin(), config.listeners.end(),
                               [&](const config::Endpoint& e) { return e.listener_name == listener; });
  if (ep == config.listeners.end() || !requires_sasl(ep->security_protocol)) return nullptr;

  const std::string& mechanism = config.sasl_mechanism_inter_broker_protocol;
  const std::string intro = "the inter-broker listener " + listener + " is " + ep->security_protocol +
                            " with sasl.mechanism.inter.broker.protocol " + mechanism;
  const auto enabled = enabled_mechanisms(config, listener);
  if (std::find(enabled.begin(), enabled.end(), mechanism) == enabled.end()) {
    // As Kafka's KafkaConfig checks it: the brokers must accept what they send.
    throw std::runtime_error(intro + ", which that listener does not enable (" + listener_key(listener, "sasl.enabled.mechanisms") +
                             " or sasl.enabled.mechanisms): add it there");
  }
  if (mechanism == "GSSAPI") return gssapi_interbroker(config, listener, intro);
  const auto jaas = sasl_listener_setting(config, listener, mechanism, "sasl.jaas.config");
  const std::string module = mechanism == "PLAIN" ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                                                  : "org.apache.kafka.common.security.scram.ScramLoginModule";
  const std::string example = module + " required username=\"broker\" password=\"...\";";
  if (!jaas) {
    throw std::runtime_error(intro + " but has no JAAS line with the broker's credentials: set " +
                             listener_key(listener, lower(mechanism) + ".sasl.jaas.config") +
                             " (or sasl.jaas.config) to " + example);
  }
  std::string why;
  auto login = security::parse_jaas_config(jaas->value, &why);
  if (!login) throw std::runtime_error(where(config, *jaas) + ": " + why);
  const auto* password = std::get_if<security::PasswordLogin>(&*login);
  const bool module_fits = password && (password->module == security::PasswordLogin::Module::kPlain) ==
                                          (mechanism == "PLAIN");
  if (!module_fits) {
    throw std::runtime_error(where(config, *jaas) + ": " + intro + ", whose JAAS line must be a " + module +
                             ", e.g. " + example);
  }
  // A first mechanism object checks the name and the credentials now, not at
  // the first connection.
  if (auto m = security::make_password_sasl_client(mechanism, *password); !m) {
    throw std::runtime_error(where(config, *jaas) + ": " + intro + ": " + m.error().message() +
                             " (username= and password= are the broker's own credentials), e.g. " + example);
  }
  auto sasl = std::make_shared<net::ClientSasl>();
  sasl->mechanism = mechanism;
  sasl->client_id = "broker-" + std::to_string(config.broker_id);
  sasl->make_mechanism = [mechanism, login = *password]() -> std::unique_ptr<security::SaslClientMechanism> {
    auto m = security::make_password_sasl_client(mechanism, login);
    return m ? std::move(*m) : nullptr;
  };
  log()->info("inter-broker connections authenticate with SASL {} as user '{}' ({})", mechanism, password->username,
              jaas->key);
  return sasl;
}

}  // namespace keel::server
