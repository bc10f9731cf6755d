// Kafka's client-quota precedence and value rules (security/client_quota.h).

#include "security/client_quota.h"

#include <gtest/gtest.h>

namespace keel::security {
namespace {

using Part = ClientQuotaEntity::Part;

QuotaValues producer(double rate) {
  QuotaValues v;
  v[QuotaKey::kProducerByteRate] = rate;
  return v;
}

ClientQuotaEntity entity(Part user, Part client) { return {std::move(user), std::move(client)}; }

// The eight levels, most specific first, each with a distinct rate.
std::vector<std::pair<ClientQuotaEntity, double>> all_levels() {
  return {{entity(Part::named("alice"), Part::named("app")), 1},
          {entity(Part::named("alice"), Part::default_entity()), 2},
          {entity(Part::named("alice"), Part{}), 3},
          {entity(Part::default_entity(), Part::named("app")), 4},
          {entity(Part::default_entity(), Part::default_entity()), 5},
          {entity(Part::default_entity(), Part{}), 6},
          {entity(Part{}, Part::named("app")), 7},
          {entity(Part{}, Part::default_entity()), 8}};
}

TEST(QuotaConfigCache, EachOfTheEightLevelsWinsOverEveryLessSpecificOne) {
  const auto levels = all_levels();
  for (size_t top = 0; top < levels.size(); ++top) {
    QuotaConfigCache cache;
    for (size_t i = top; i < levels.size(); ++i) cache.set(levels[i].first, producer(levels[i].second));
    EXPECT_EQ(cache.effective("alice", "app").producer_byte_rate, levels[top].second) << "level " << top + 1;
    EXPECT_EQ(cache.source("alice", "app", QuotaKey::kProducerByteRate), levels[top].first);
  }
}

TEST(QuotaConfigCache, PrecedenceListIsKafkasOrder) {
  const auto p = quota_precedence("alice", "app");
  const auto levels = all_levels();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i], levels[i].first) << "level " << i + 1;
}

TEST(QuotaConfigCache, OtherUsersAndClientsFallToTheDefaults) {
  QuotaConfigCache cache;
  for (const auto& [e, rate] : all_levels()) cache.set(e, producer(rate));
  EXPECT_EQ(cache.effective("alice", "other").producer_byte_rate, 2);   // alice, default client
  EXPECT_EQ(cache.effective("bob", "app").producer_byte_rate, 4);       // default user, app
  EXPECT_EQ(cache.effective("bob", "other").producer_byte_rate, 5);     // default user, default client
  QuotaConfigCache clients_only;
  clients_only.set(entity(Part{}, Part::named("app")), producer(7));
  clients_only.set(entity(Part{}, Part::default_entity()), producer(8));
  EXPECT_EQ(clients_only.effective("anyone", "app").producer_byte_rate, 7);
  EXPECT_EQ(clients_only.effective("anyone", "x").producer_byte_rate, 8);
  EXPECT_FALSE(QuotaConfigCache().effective("a", "b").producer_byte_rate);
}

TEST(QuotaConfigCache, KeysResolveIndependently) {
  QuotaConfigCache cache;
  QuotaValues user_values;
  user_values[QuotaKey::kConsumerByteRate] = 2048;
  cache.set(entity(Part::named("alice"), Part{}), user_values);
  QuotaValues client_default;
  client_default[QuotaKey::kProducerByteRate] = 1024;
  client_default[QuotaKey::kConsumerByteRate] = 1;
  client_default[QuotaKey::kRequestPercentage] = 50;
  client_default[QuotaKey::kControllerMutationRate] = 10;
  cache.set(entity(Part{}, Part::default_entity()), client_default);
  const auto q = cache.effective("alice", "app");
  EXPECT_EQ(q.consumer_byte_rate, 2048);
  EXPECT_EQ(q.producer_byte_rate, 1024);
  EXPECT_EQ(q.request_percentage, 50);
  EXPECT_EQ(q.controller_mutation_rate, 10);
  EXPECT_EQ(q.get(QuotaKey::kRequestPercentage), 50);
}

TEST(QuotaConfigCache, EmptyValuesRemoveAnEntity) {
  QuotaConfigCache cache;
  const auto e = entity(Part::named("alice"), Part{});
  cache.set(e, producer(10));
  cache.set(e, QuotaValues{});
  EXPECT_TRUE(cache.entities().empty());
  EXPECT_FALSE(cache.effective("alice", "").producer_byte_rate);
}

TEST(QuotaConfigCache, ConnectionCreationRateIsPerIpWithADefault) {
  QuotaConfigCache cache;
  EXPECT_FALSE(cache.connection_creation_rate("10.0.0.1"));
  cache.set_ip(std::nullopt, 5);
  cache.set_ip("10.0.0.1", 50);
  EXPECT_EQ(cache.connection_creation_rate("10.0.0.1"), 50);
  EXPECT_EQ(cache.connection_creation_rate("10.0.0.2"), 5);
  cache.set_ip("10.0.0.1", std::nullopt);
  EXPECT_EQ(cache.connection_creation_rate("10.0.0.1"), 5);
}

TEST(ClientQuotaValues, KafkasValidation) {
  EXPECT_EQ(check_quota_value("producer_byte_rate", 1024, false), "");
  EXPECT_EQ(check_quota_value("request_percentage", 12.5, false), "");
  EXPECT_EQ(check_quota_value("controller_mutation_rate", 0.5, false), "");
  EXPECT_EQ(check_quota_value("producer_byte_rate", 10.5, false),
            "Configuration producer_byte_rate must be a Long value");
  EXPECT_EQ(check_quota_value("consumer_byte_rate", 0, false), "Quota consumer_byte_rate must be greater than 0");
  EXPECT_EQ(check_quota_value("request_percentage", -1, false), "Quota request_percentage must be greater than 0");
  EXPECT_EQ(check_quota_value("retention.ms", 1, false), "Invalid configuration key retention.ms");
  EXPECT_EQ(check_quota_value("connection_creation_rate", 1, false),
            "Invalid configuration key connection_creation_rate");
  EXPECT_EQ(check_quota_value("connection_creation_rate", 10, true), "");
  EXPECT_EQ(check_quota_value("producer_byte_rate", 10, true), "Invalid configuration key producer_byte_rate");
  EXPECT_EQ(check_quota_value("connection_creation_rate", 1.5, true),
            "Configuration connection_creation_rate must be a Integer value");
  EXPECT_NE(check_quota_value("connection_creation_rate", 3e9, true), "");
}

}  // namespace
}  // namespace keel::security
