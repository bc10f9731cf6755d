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

}  // namespace

std::shared_ptr<const net::ClientSasl> interbroker_sasl(const config::BrokerConfig& config) {
  const std::string& listener = config.inter_broker_listener_name;
  const auto ep = std::find_if(config.listeners.begin(), config.listeners.end(),
                               [&](const config::Endpoint& e) { return e.listener_name == listener; });
  if (ep == config.listeners.end() || !requires_sasl(ep->security_protocol)) return nullptr;

  const std::string& mechanism = config.sasl_mechanism_inter_broker_protocol;
  const std::string intro = "the inter-broker listener " + listener + " is " + ep->security_protocol +
                            " with sasl.mechanism.inter.broker.protocol " + mechanism;
  if (mechanism == "GSSAPI") {
    throw std::runtime_error(intro + (config.is_explicit("sasl.mechanism.inter.broker.protocol") ? "" : " (the default)") +
                             ": Keel's brokers cannot authenticate to each other with GSSAPI (Kerberos) yet; set "
                             "sasl.mechanism.inter.broker.protocol to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or use an "
                             "SSL or PLAINTEXT inter-broker listener");
  }
  const auto enabled = enabled_mechanisms(config, listener);
  if (std::find(enabled.begin(), enabled.end(), mechanism) == enabled.end()) {
    // As Kafka's KafkaConfig checks it: the brokers must accept what they send.
    throw std::runtime_error(intro + ", which that listener does not enable (" + listener_key(listener, "sasl.enabled.mechanisms") +
                             " or sasl.enabled.mechanisms): add it there");
  }
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
