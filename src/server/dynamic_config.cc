#include "server/dynamic_config.h"

#include <charconv>

#include "config/config_def.h"
#include "config/topic_config.h"
#include "server/tls_listeners.h"

namespace keel::server {

void DynamicBrokerConfig::set(std::map<std::string, std::string> cluster_default,
                              std::map<std::string, std::string> own) {
  std::lock_guard lock(mu_);
  default_ = std::move(cluster_default);
  own_ = std::move(own);
}

std::map<std::string, std::string> DynamicBrokerConfig::merged() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out = default_;
  for (const auto& [k, v] : own_) out[k] = v;
  return out;
}

int DynamicBrokerConfig::source_of(const std::string& key) const {
  std::lock_guard lock(mu_);
  if (own_.contains(key)) return 2;
  if (default_.contains(key)) return 3;
  return 0;
}

namespace {

// Broker keys with no topic-level name that may still change at run time:
// the replication throttles' rates (Kafka's DynamicConfig.Broker).
bool is_dynamic_broker_only(const std::string& key) {
  return key == "leader.replication.throttled.rate" || key == "follower.replication.throttled.rate";
}

}  // namespace

bool DynamicBrokerConfig::is_dynamic(const std::string& key) {
  const config::KeyDef* def = config::find_key(key);
  return (def && (!def->topic_name.empty() || is_dynamic_broker_only(key))) || TlsListeners::is_dynamic_key(key);
}

std::string DynamicBrokerConfig::check(const std::string& key, const std::string& value, bool* not_dynamic) {
  *not_dynamic = false;
  // A TLS listener's key or trust store (server/tls_listeners.h): the broker
  // reloads that listener when the value arrives; a store it cannot read is
  // logged there and the old one stays.
  if (TlsListeners::is_dynamic_key(key)) return "";
  const config::KeyDef* def = config::find_key(key);
  if (!def) {
    *not_dynamic = true;
    return "unknown broker config '" + key + "'";
  }
  if (is_dynamic_broker_only(key)) {
    int64_t rate = -1;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), rate);
    if (ec != std::errc() || end != value.data() + value.size() || rate < 0) {
      return "'" + key + "': expected a number of bytes per second (0 or more), got '" + value + "'";
    }
    return "";
  }
  if (def->topic_name.empty()) {
    *not_dynamic = true;
    return "'" + key + "' cannot be updated dynamically; set it in the broker's YAML file";
  }
  config::TopicConfig scratch;
  std::string problem = config::set_topic_config(scratch, def->topic_name, value);
  if (!problem.empty()) return "'" + key + "': " + problem;
  return "";
}

}  // namespace keel::server
