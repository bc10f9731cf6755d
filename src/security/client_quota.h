#pragma once
// Kafka's client quotas as data (KIP-546 entities, the eight-level
// precedence of Kafka's DefaultQuotaCallback), with no store and no network:
// server/client_quotas.h fills a QuotaConfigCache from /config/users,
// /config/clients and /config/ips and answers the admin requests; throttling
// asks the cache what applies to a connection.
//
// An entity names a user, a client id, both, or an IP; each named part is a
// name or the default (Kafka's "<default>", nullopt here).

#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace keel::security {

// The quota keys, Kafka's names (QuotaConfigs).
enum class QuotaKey { kProducerByteRate, kConsumerByteRate, kRequestPercentage, kControllerMutationRate };
inline constexpr std::array<QuotaKey, 4> kQuotaKeys = {QuotaKey::kProducerByteRate, QuotaKey::kConsumerByteRate,
                                                      QuotaKey::kRequestPercentage,
                                                      QuotaKey::kControllerMutationRate};
inline constexpr std::string_view kConnectionCreationRate = "connection_creation_rate";  // per IP
inline constexpr std::string_view kDefaultEntityName = "<default>";                       // in store paths

std::string_view quota_key_name(QuotaKey k);
std::optional<QuotaKey> parse_quota_key(std::string_view name);
// producer_byte_rate and consumer_byte_rate are LONGs in Kafka, the others DOUBLEs.
bool quota_key_is_integral(QuotaKey k);

// "" when `value` may be stored under `key` for a user or client-id entity
// (or connection_creation_rate for an IP); otherwise Kafka's message: the key
// unknown, the value not > 0, or not a whole number where Kafka wants one.
std::string check_quota_value(std::string_view key, double value, bool ip_entity);

struct ClientQuotaEntity {
  // A part the entity names: nullopt name = the default.
  struct Part {
    bool present = false;
    std::optional<std::string> name;
    static Part named(std::string n) { return {true, std::move(n)}; }
    static Part default_entity() { return {true, std::nullopt}; }
    auto operator<=>(const Part&) const = default;
  };
  Part user;
  Part client_id;
  auto operator<=>(const ClientQuotaEntity&) const = default;
};

// The values one entity sets.
struct QuotaValues {
  std::array<std::optional<double>, 4> values;  // indexed by QuotaKey
  std::optional<double>& operator[](QuotaKey k) { return values[static_cast<size_t>(k)]; }
  const std::optional<double>& operator[](QuotaKey k) const { return values[static_cast<size_t>(k)]; }
  bool empty() const;
};

// What applies to one (user, client id): each key from the most specific
// entity that sets it, Kafka's order:
//   1 user/client   2 user/<default client>   3 user
//   4 <default user>/client   5 <default user>/<default client>   6 <default user>
//   7 client   8 <default client>
// Keys are resolved independently (one entity may set the producer rate and
// a less specific one the consumer rate), as Kafka's quota managers do.
struct EffectiveQuotas {
  std::optional<double> producer_byte_rate;
  std::optional<double> consumer_byte_rate;
  std::optional<double> request_percentage;
  std::optional<double> controller_mutation_rate;
  std::optional<double> get(QuotaKey k) const;
};

// The eight candidate entities of (user, client id), most specific first.
std::array<ClientQuotaEntity, 8> quota_precedence(std::string_view user, std::string_view client_id);

// Every quota set on the cluster, as stored. Thread-safe: many readers (the
// request path), rare writers (the store follower).
class QuotaConfigCache {
 public:
  // Replaces what `entity` sets; an empty `values` removes the entity.
  void set(const ClientQuotaEntity& entity, const QuotaValues& values);
  // Replaces the connection_creation_rate of an IP (nullopt ip = the
  // default for IPs without their own); nullopt rate removes it.
  void set_ip(const std::optional<std::string>& ip, std::optional<double> connection_creation_rate);
  void clear();
  // No entity sets anything (the request path's shortcut: no lock).
  bool empty() const { return entity_count_.load(std::memory_order_relaxed) == 0; }

  EffectiveQuotas effective(std::string_view user, std::string_view client_id) const;
  // The entity whose value of `key` applies to (user, client id), for the
  // throttling metrics' user and client-id tags; nullopt when none does.
  std::optional<ClientQuotaEntity> source(std::string_view user, std::string_view client_id, QuotaKey key) const;
  // The IP's own connection_creation_rate, else the default IP's, else none.
  std::optional<double> connection_creation_rate(std::string_view ip) const;

  std::map<ClientQuotaEntity, QuotaValues> entities() const;
  std::map<std::optional<std::string>, double> ips() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<ClientQuotaEntity, QuotaValues> entities_;
  std::atomic<size_t> entity_count_{0};  // entities_.size(), written under mu_
  std::map<std::optional<std::string>, double> ips_;
};

}  // namespace keel::security
