#pragma once
// The table of every broker key (ConfigDef): name, type, default, valid range
// or values, one doc line, and the topic-level name when the key is a topic
// default. Exposed so tests and tools can walk it; the parser in config.cc is
// its only writer of BrokerConfig members.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace keel::config {

enum class KeyType {
  kShort,      // int16
  kInt,        // int32
  kLong,       // int64
  kDouble,
  kBool,
  kString,
  kList,       // YAML sequence or comma-separated string
  kListeners,  // list of NAME://host:port
  kStringMap,  // YAML map or "K:V,K:V"
};

std::string_view key_type_name(KeyType t);  // "int", "long", "list", ...

struct KeyDef {
  std::string_view name;
  KeyType type;
  // Default as Kafka writes it; nullopt = no default (null), resolved from
  // another key (e.g. log.retention.ms from log.retention.hours).
  std::optional<std::string_view> default_text;
  // Inclusive numeric bounds (for kShort/kInt/kLong/kDouble); nullopt = the type's own limit.
  std::optional<double> min;
  std::optional<double> max;
  // Allowed values for kString/kList (empty = any).
  std::vector<std::string_view> valid_values;
  std::string_view doc;
  std::string_view topic_name;  // "" when not a topic-level default
};

std::span<const KeyDef> all_keys();
const KeyDef* find_key(std::string_view name);

// Whether `key` (a key of the table) may also be written per listener as
// listener.name.<listener>.<key>, as Kafka allows: ssl.*, sasl.*,
// connections.max.reauth.ms, max.connections, max.connection.creation.rate.
bool listener_overridable(std::string_view key);

// A per-listener key without its listener prefix ("ssl.keystore.location",
// "gssapi.sasl.jaas.config") to the table key it overrides, dropping a SASL
// mechanism prefix; nullopt when it names no key a listener may override.
std::optional<std::string_view> listener_override_base(std::string_view key);

// Whether a key's value is a secret that is never printed or returned
// (passwords, JAAS lines), as Kafka's PASSWORD-typed keys. Takes table keys
// and listener-prefixed ones.
bool is_sensitive_key(std::string_view key);

// Kafka broker keys that Keel accepts and does nothing with, so a Kafka
// config starts unchanged (the parser records them, the broker warns once):
// why each has no effect, or nullopt for any other name. Kafka keys with an
// effect Keel does not reproduce (a custom principal builder, ZooKeeper over
// TLS, ...) are refused (kafka_key_refused): ignoring those would change what
// the operator asked for.
std::optional<std::string_view> kafka_key_without_effect(std::string_view name);

// Kafka broker keys Keel refuses, with why: Java classes to load, features it
// does not offer that the key would switch on. The start fails, saying so.
std::optional<std::string_view> kafka_key_refused(std::string_view name);

// Levenshtein distance; used for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

// The known key closest to `name`, if close enough to be a likely typo.
std::optional<std::string_view> nearest_key(std::string_view name);

}  // namespace keel::config
