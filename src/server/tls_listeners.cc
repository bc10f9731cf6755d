#include "server/tls_listeners.h"

#include <cctype>
#include <optional>
#include <utility>

#include "common/log.h"

namespace keel::server {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

// A list override is kept as written: "a, b" or "a,b".
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// The ssl.* keys a running listener may take a new value of (Kafka's
// SslConfigs.RECONFIGURABLE_CONFIGS): its key and trust stores.
constexpr std::string_view kDynamicSslKeys[] = {
    "ssl.keystore.type",   "ssl.keystore.location",   "ssl.keystore.password",   "ssl.key.password",
    "ssl.keystore.key",    "ssl.keystore.certificate.chain", "ssl.truststore.type", "ssl.truststore.location",
    "ssl.truststore.password", "ssl.truststore.certificates"};

constexpr std::string_view kListenerPrefix = "listener.name.";

// "listener.name.ssl.ssl.keystore.location" -> {"SSL", "ssl.keystore.location"}.
std::optional<std::pair<std::string, std::string>> split_listener_key(std::string_view key) {
  if (!key.starts_with(kListenerPrefix)) return std::nullopt;
  key.remove_prefix(kListenerPrefix.size());
  const auto dot = key.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string listener(key.substr(0, dot));
  for (char& c : listener) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::make_pair(std::move(listener), std::string(key.substr(dot + 1)));
}

}  // namespace

bool TlsListeners::is_dynamic_key(std::string_view key) {
  auto parts = split_listener_key(key);
  if (!parts) return false;
  for (std::string_view k : kDynamicSslKeys)
    if (parts->second == k) return true;
  return false;
}

std::string TlsListeners::apply_dynamic(const config::BrokerConfig& config,
                                        const std::map<std::string, std::string>& dynamic) {
  std::string failures;
  for (auto& [name, ctx] : listeners_) {
    config::BrokerConfig c = config;
    for (const auto& [key, value] : dynamic) {
      auto parts = split_listener_key(key);
      if (parts && parts->first == name && is_dynamic_key(key)) c.listener_overrides[name][parts->second] = value;
    }
    const net::TlsSettings wanted = tls_settings(c, name);
    if (wanted == ctx->settings()) continue;
    log()->info("listener {}: dynamic ssl.* configs changed; reloading its key and trust stores", name);
    const std::string why = ctx->reload(wanted);
    if (!why.empty()) failures += (failures.empty() ? "" : "; ") + why;
  }
  return failures;
}

bool uses_tls(const std::string& security_protocol) {
  return security_protocol == "SSL" || security_protocol == "SASL_SSL";
}

net::TlsSettings tls_settings(const config::BrokerConfig& c, std::string_view listener) {
  auto text = [&](std::string_view key, const std::string& broker_wide) {
    auto v = c.listener_override(listener, key);
    return v ? *v : broker_wide;
  };
  auto list = [&](std::string_view key, const std::vector<std::string>& broker_wide) {
    auto v = c.listener_override(listener, key);
    return v ? split_list(*v) : broker_wide;
  };
  net::TlsSettings s;
  s.keystore_type = text("ssl.keystore.type", c.ssl_keystore_type);
  s.keystore_location = text("ssl.keystore.location", c.ssl_keystore_location);
  s.keystore_password = text("ssl.keystore.password", c.ssl_keystore_password);
  s.key_password = text("ssl.key.password", c.ssl_key_password);
  s.keystore_key = text("ssl.keystore.key", c.ssl_keystore_key);
  s.keystore_certificate_chain = text("ssl.keystore.certificate.chain", c.ssl_keystore_certificate_chain);
  s.truststore_type = text("ssl.truststore.type", c.ssl_truststore_type);
  s.truststore_location = text("ssl.truststore.location", c.ssl_truststore_location);
  s.truststore_password = text("ssl.truststore.password", c.ssl_truststore_password);
  s.truststore_certificates = text("ssl.truststore.certificates", c.ssl_truststore_certificates);
  s.client_auth = text("ssl.client.auth", c.ssl_client_auth);
  s.enabled_protocols = list("ssl.enabled.protocols", c.ssl_enabled_protocols);
  s.cipher_suites = list("ssl.cipher.suites", c.ssl_cipher_suites);
  s.endpoint_identification_algorithm =
      text("ssl.endpoint.identification.algorithm", c.ssl_endpoint_identification_algorithm);
  s.principal_mapping_rules = text("ssl.principal.mapping.rules", c.ssl_principal_mapping_rules);
  return s;
}

TlsListeners::TlsListeners(const config::BrokerConfig& config) {
  for (const auto& ep : config.listeners) {
    if (!uses_tls(ep.security_protocol) || listeners_.count(ep.listener_name)) continue;
    auto ctx = std::make_shared<net::TlsContext>("listener " + ep.listener_name,
                                                 tls_settings(config, ep.listener_name), net::TlsRole::kServer);
    log()->info("listener {} is {}: certificate '{}', ssl.client.auth {}", ep.to_string(), ep.security_protocol,
                ctx->certificate_subject(), ctx->settings().client_auth);
    listeners_.emplace(ep.listener_name, std::move(ctx));
  }
  const std::string& ib = config.inter_broker_listener_name;
  if (listeners_.count(ib)) {
    client_ = std::make_shared<net::TlsContext>("inter-broker client (" + ib + ")", tls_settings(config, ib),
                                                net::TlsRole::kClient);
    log()->info("inter-broker connections use TLS ({}): client certificate '{}'{}", ib, client_->certificate_subject(),
                client_->settings().endpoint_identification_algorithm.empty() ? ", host names not checked" : "");
  }
}

std::shared_ptr<net::TlsContext> TlsListeners::listener(const std::string& name) const {
  auto it = listeners_.find(name);
  return it == listeners_.end() ? nullptr : it->second;
}

std::string TlsListeners::reload() {
  std::string failures;
  auto one = [&](net::TlsContext& ctx) {
    const std::string why = ctx.reload();
    if (!why.empty()) failures += (failures.empty() ? "" : "; ") + why;
  };
  for (auto& [name, ctx] : listeners_) one(*ctx);
  if (client_) one(*client_);
  return failures;
}

std::string TlsListeners::reload_listener(const std::string& name, const net::TlsSettings& settings) {
  auto ctx = listener(name);
  if (!ctx) return "listener " + name + " does not use TLS";
  return ctx->reload(settings);
}

}  // namespace keel::server
