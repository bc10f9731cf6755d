#pragma once
// Dynamic broker configs (AlterConfigs on a BROKER resource): stored in the
// coordination store under /config/brokers/<default> (cluster-wide) and
// /config/brokers/<id> (this broker; wins over the default), applied without
// a restart. The keys that may change this way are the broker's topic
// defaults (log.retention.ms, log.segment.bytes, message.max.bytes,
// compression.type, min.insync.replicas, ...): a change reaches every topic
// that does not override the key; and a TLS listener's key and trust store
// (listener.name.<l>.ssl.keystore.location, ...: server/tls_listeners.h).
// Thread-safe.

#include <map>
#include <mutex>
#include <string>

namespace keel::server {

class DynamicBrokerConfig {
 public:
  // Replaces both layers (as read from the store).
  void set(std::map<std::string, std::string> cluster_default, std::map<std::string, std::string> own);
  // The effective dynamic values: this broker's over the cluster default.
  std::map<std::string, std::string> merged() const;
  // Where a key's dynamic value comes from: 2 = DYNAMIC_BROKER_CONFIG,
  // 3 = DYNAMIC_DEFAULT_BROKER_CONFIG, 0 = not set dynamically.
  int source_of(const std::string& key) const;

  // "" when `key` may be set dynamically to `value`; otherwise why not.
  // `*not_dynamic` tells a key that cannot change at run time (Kafka answers
  // INVALID_REQUEST) from a bad value (INVALID_CONFIG).
  static std::string check(const std::string& key, const std::string& value, bool* not_dynamic);
  static bool is_dynamic(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> default_;
  std::map<std::string, std::string> own_;
};

}  // namespace keel::server
