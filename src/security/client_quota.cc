#include "security/client_quota.h"

#include <cmath>
#include <limits>
#include <mutex>

namespace keel::security {

std::string_view quota_key_name(QuotaKey k) {
  switch (k) {
    case QuotaKey::kProducerByteRate: return "producer_byte_rate";
    case QuotaKey::kConsumerByteRate: return "consumer_byte_rate";
    case QuotaKey::kRequestPercentage: return "request_percentage";
    case QuotaKey::kControllerMutationRate: return "controller_mutation_rate";
  }
  return "";
}

std::optional<QuotaKey> parse_quota_key(std::string_view name) {
  for (QuotaKey k : kQuotaKeys) {
    if (quota_key_name(k) == name) return k;
  }
  return std::nullopt;
}

bool quota_key_is_integral(QuotaKey k) {
  return k == QuotaKey::kProducerByteRate || k == QuotaKey::kConsumerByteRate;
}

std::string check_quota_value(std::string_view key, double value, bool ip_entity) {
  const std::string k(key);
  bool integral = false;
  double max = std::numeric_limits<double>::max();
  if (ip_entity) {
    if (key != kConnectionCreationRate) return "Invalid configuration key " + k;
    integral = true;  // an INT in Kafka
    max = std::numeric_limits<int32_t>::max();
  } else {
    auto q = parse_quota_key(key);
    if (!q) return "Invalid configuration key " + k;
    integral = quota_key_is_integral(*q);
    if (integral) max = static_cast<double>(std::numeric_limits<int64_t>::max());
  }
  if (!std::isfinite(value) || value <= 0.0) return "Quota " + k + " must be greater than 0";
  if (integral) {
    if (value > max) return "Proposed value for " + k + " is too large";
    constexpr double kEpsilon = 1e-6;
    if (std::fabs(value - std::round(value)) > kEpsilon)
      return "Configuration " + k + " must be a " + (ip_entity ? "Integer" : "Long") + " value";
  }
  return "";
}

bool QuotaValues::empty() const {
  for (const auto& v : values) {
    if (v) return false;
  }
  return true;
}

std::optional<double> EffectiveQuotas::get(QuotaKey k) const {
  switch (k) {
    case QuotaKey::kProducerByteRate: return producer_byte_rate;
    case QuotaKey::kConsumerByteRate: return consumer_byte_rate;
    case QuotaKey::kRequestPercentage: return request_percentage;
    case QuotaKey::kControllerMutationRate: return controller_mutation_rate;
  }
  return std::nullopt;
}

std::array<ClientQuotaEntity, 8> quota_precedence(std::string_view user, std::string_view client_id) {
  using Part = ClientQuotaEntity::Part;
  const Part u = Part::named(std::string(user));
  const Part c = Part::named(std::string(client_id));
  const Part du = Part::default_entity();
  const Part dc = Part::default_entity();
  const Part none;
  return {ClientQuotaEntity{u, c}, ClientQuotaEntity{u, dc},    ClientQuotaEntity{u, none},
          ClientQuotaEntity{du, c}, ClientQuotaEntity{du, dc},  ClientQuotaEntity{du, none},
          ClientQuotaEntity{none, c}, ClientQuotaEntity{none, dc}};
}

void QuotaConfigCache::set(const ClientQuotaEntity& entity, const QuotaValues& values) {
  std::unique_lock lock(mu_);
  if (values.empty()) {
    entities_.erase(entity);
  } else {
    entities_[entity] = values;
  }
  entity_count_.store(entities_.size(), std::memory_order_relaxed);
}

void QuotaConfigCache::set_ip(const std::optional<std::string>& ip, std::optional<double> rate) {
  std::unique_lock lock(mu_);
  if (rate) {
    ips_[ip] = *rate;
  } else {
    ips_.erase(ip);
  }
}

void QuotaConfigCache::clear() {
  std::unique_lock lock(mu_);
  entities_.clear();
  ips_.clear();
  entity_count_.store(0, std::memory_order_relaxed);
}

std::optional<ClientQuotaEntity> QuotaConfigCache::source(std::string_view user, std::string_view client_id,
                                                          QuotaKey key) const {
  const auto candidates = quota_precedence(user, client_id);
  std::shared_lock lock(mu_);
  for (const auto& e : candidates) {
    auto it = entities_.find(e);
    if (it != entities_.end() && it->second[key]) return e;
  }
  return std::nullopt;
}

EffectiveQuotas QuotaConfigCache::effective(std::string_view user, std::string_view client_id) const {
  const auto candidates = quota_precedence(user, client_id);
  std::array<std::optional<double>, 4> found;
  {
    std::shared_lock lock(mu_);
    for (const auto& e : candidates) {
      auto it = entities_.find(e);
      if (it == entities_.end()) continue;
      for (size_t i = 0; i < found.size(); ++i) {
        if (!found[i]) found[i] = it->second.values[i];
      }
    }
  }
  EffectiveQuotas out;
  out.producer_byte_rate = found[static_cast<size_t>(QuotaKey::kProducerByteRate)];
  out.consumer_byte_rate = found[static_cast<size_t>(QuotaKey::kConsumerByteRate)];
  out.request_percentage = found[static_cast<size_t>(QuotaKey::kRequestPercentage)];
  out.controller_mutation_rate = found[static_cast<size_t>(QuotaKey::kControllerMutationRate)];
  return out;
}

std::optional<double> QuotaConfigCache::connection_creation_rate(std::string_view ip) const {
  std::shared_lock lock(mu_);
  if (auto it = ips_.find(std::string(ip)); it != ips_.end()) return it->second;
  if (auto it = ips_.find(std::nullopt); it != ips_.end()) return it->second;
  return std::nullopt;
}

std::map<ClientQuotaEntity, QuotaValues> QuotaConfigCache::entities() const {
  std::shared_lock lock(mu_);
  return entities_;
}

std::map<std::optional<std::string>, double> QuotaConfigCache::ips() const {
  std::shared_lock lock(mu_);
  return ips_;
}

}  // namespace keel::security
