#pragma once
// Client quotas in the store, Kafka's ZooKeeper layout (issue 23 part 3):
//   /config/users/<user>                    user (SCRAM credentials share the node)
//   /config/users/<user>/clients/<client>   (user, client id)
//   /config/clients/<client>                client id
//   /config/ips/<ip>                        connection_creation_rate per IP
// names sanitized as Kafka's Sanitizer does, "<default>" for the defaults,
// each change announced under /config/changes (entity_path "users/alice",
// "users/alice/clients/app", "clients/app", "ips/10.0.0.1").
//
// ClientQuotaManager keeps a security::QuotaConfigCache equal to the store
// (a full read at start-up, then each notification re-reads the entity it
// names, on a thread of its own; it also looks every 10 s in case a watch
// was lost with a ZooKeeper session) and reads and writes entities for
// AlterClientQuotas and DescribeClientQuotas. Throttling asks cache().
// Thread-safe.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "security/client_quota.h"

namespace keel::coord {
class KafkaStore;
}

namespace keel::server {

// A quota entity as the admin APIs name it: user and client id (either or
// both), or an IP; a present part with a nullopt name is the default.
struct QuotaEntity {
  security::ClientQuotaEntity user_client;
  security::ClientQuotaEntity::Part ip;
  bool is_ip() const { return ip.present; }
  auto operator<=>(const QuotaEntity&) const = default;
};

// The store's /config/<type>/<name> of an entity: {"users", "alice/clients/app"}.
std::pair<std::string, std::string> quota_entity_node(const QuotaEntity& e);
// The entity of a /config/changes entity path ("users/alice/clients/app"),
// nullopt for paths that name no quota entity (topics/..., brokers/...).
std::optional<QuotaEntity> quota_entity_of_change(std::string_view entity_path);
// How Keel writes a quota value: whole numbers as integers (Kafka's LONG and
// INT keys), others the shortest text that reads back the same.
std::string format_quota_value(double value);

class ClientQuotaManager {
 public:
  explicit ClientQuotaManager(coord::KafkaStore& store);
  ~ClientQuotaManager();
  ClientQuotaManager(const ClientQuotaManager&) = delete;
  ClientQuotaManager& operator=(const ClientQuotaManager&) = delete;

  // Reads every entity and starts following /config/changes.
  Result<void> start();
  void stop();  // idempotent; joins the thread

  const security::QuotaConfigCache& cache() const { return cache_; }

  // Every entity in the store with at least one quota key, and its quota
  // values (other keys, e.g. SCRAM credentials, left out).
  Result<std::map<QuotaEntity, std::map<std::string, double>>> stored();
  // The entity's whole config map (quota keys and anything else).
  Result<std::map<std::string, std::string>> stored_config(const QuotaEntity& e);
  // Writes the entity's config map and its change notification, then
  // updates this broker's cache at once.
  Result<void> store(const QuotaEntity& e, const std::map<std::string, std::string>& config);

 private:
  struct Signal;
  void run();
  void follow_changes();
  Result<void> load(const QuotaEntity& e);
  void apply(const QuotaEntity& e, const std::map<std::string, std::string>& config);

  coord::KafkaStore& store_;
  security::QuotaConfigCache cache_;
  std::shared_ptr<Signal> signal_;
  int64_t last_change_ = -1;  // the thread's only
  std::thread thread_;
};

}  // namespace keel::server
