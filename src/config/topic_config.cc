// Per-topic settings (topic_config.h): Kafka's topic-level names bound to
// TopicConfig members, checked by the broker key behind each one.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <string>
#include <variant>

#include "config/config_internal.h"
#include "config/topic_config.h"

namespace keel::config {

using namespace detail;  // this directory's own helpers (config_internal.h)

namespace {

using TopicMember =
    std::variant<int32_t TopicConfig::*, int64_t TopicConfig::*, double TopicConfig::*,
                 bool TopicConfig::*, std::string TopicConfig::*,
                 std::vector<std::string> TopicConfig::*>;

struct TopicBinding {
  std::string_view topic_key;
  TopicMember member;
};

using T = TopicConfig;
const TopicBinding kTopicBindings[] = {
    {"retention.ms", &T::retention_ms},
    {"retention.bytes", &T::retention_bytes},
    {"segment.bytes", &T::segment_bytes},
    {"segment.ms", &T::segment_ms},
    {"segment.jitter.ms", &T::segment_jitter_ms},
    {"index.interval.bytes", &T::index_interval_bytes},
    {"segment.index.bytes", &T::segment_index_bytes},
    {"flush.messages", &T::flush_messages},
    {"flush.ms", &T::flush_ms},
    {"cleanup.policy", &T::cleanup_policy},
    {"min.cleanable.dirty.ratio", &T::min_cleanable_dirty_ratio},
    {"delete.retention.ms", &T::delete_retention_ms},
    {"min.compaction.lag.ms", &T::min_compaction_lag_ms},
    {"file.delete.delay.ms", &T::file_delete_delay_ms},
    {"message.timestamp.type", &T::message_timestamp_type},
    {"message.timestamp.difference.max.ms", &T::message_timestamp_difference_max_ms},
    {"message.timestamp.before.max.ms", &T::message_timestamp_before_max_ms},
    {"message.timestamp.after.max.ms", &T::message_timestamp_after_max_ms},
    {"message.format.version", &T::message_format_version},
    {"compression.type", &T::compression_type},
    {"unclean.leader.election.enable", &T::unclean_leader_election_enable},
    {"min.insync.replicas", &T::min_insync_replicas},
    {"max.message.bytes", &T::max_message_bytes},
    {"leader.replication.throttled.replicas", &T::leader_replication_throttled_replicas},
    {"follower.replication.throttled.replicas", &T::follower_replication_throttled_replicas},
};

// Kafka's ThrottledReplicaListValidator: "*", or a comma-separated list of
// partition:broker pairs (blanks around items allowed, empty items ignored).
bool is_throttled_replicas_key(std::string_view key) {
  return key == "leader.replication.throttled.replicas" || key == "follower.replication.throttled.replicas";
}

std::string check_throttled_replicas(std::string_view value) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  };
  if (trim(value) == "*") return "";
  auto digits = [](std::string_view v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = trim(value.substr(start, comma - start));
    const size_t colon = item.find(':');
    if (!item.empty() && (colon == std::string_view::npos || !digits(item.substr(0, colon)) ||
                          !digits(item.substr(colon + 1)))) {
      return "must be the literal '*' or a list of replicas in the following format: "
             "[partitionId]:[brokerId],[partitionId]:[brokerId],...";
    }
    start = comma + 1;
  }
  return "";
}

const KeyDef* broker_def_of_topic_key(std::string_view topic_key) {
  for (const KeyDef& d : all_keys())
    if (d.topic_name == topic_key) return &d;
  return nullptr;
}

const TopicBinding* find_topic_binding(std::string_view key) {
  for (const TopicBinding& b : kTopicBindings)
    if (b.topic_key == key) return &b;
  return nullptr;
}

std::string format_topic_member(const TopicConfig& c, const TopicMember& m) {
  return std::visit(
      [&](auto ptr) -> std::string {
        const auto& val = c.*ptr;
        using V = std::remove_cvref_t<decltype(val)>;
        if constexpr (std::is_same_v<V, int32_t> || std::is_same_v<V, int64_t>)
          return std::to_string(val);
        else if constexpr (std::is_same_v<V, double>)
          return format_double(val);
        else if constexpr (std::is_same_v<V, bool>)
          return val ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::string>)
          return val;
        else
          return join(val, ",");
      },
      m);
}

}  // namespace

bool TopicConfig::compacted() const {
  return std::find(cleanup_policy.begin(), cleanup_policy.end(), "compact") != cleanup_policy.end();
}

bool TopicConfig::delete_by_retention() const {
  return std::find(cleanup_policy.begin(), cleanup_policy.end(), "delete") != cleanup_policy.end();
}

std::map<std::string, std::string> TopicConfig::to_map() const {
  std::map<std::string, std::string> out;
  for (const TopicBinding& b : kTopicBindings)
    out[std::string(b.topic_key)] = format_topic_member(*this, b.member);
  return out;
}

TopicConfig topic_config_defaults(const BrokerConfig& broker) {
  TopicConfig t;
  for (const auto& [key, value] : broker.topic_defaults()) {
    std::string problem = set_topic_config(t, key, value);
    (void)problem;  // broker values passed the same checks already
  }
  return t;
}

bool is_topic_config_key(std::string_view key) { return find_topic_binding(key) != nullptr; }

std::string set_topic_config(TopicConfig& config, std::string_view key, std::string_view value) {
  const TopicBinding* b = find_topic_binding(key);
  if (b && is_throttled_replicas_key(key)) {
    if (std::string problem = check_throttled_replicas(value); !problem.empty()) {
      return "'" + std::string(key) + "': " + problem;
    }
    config.*std::get<std::string TopicConfig::*>(b->member) = std::string(value);
    return "";
  }
  const KeyDef* def = broker_def_of_topic_key(key);
  if (!b || !def) {
    std::string msg = "unknown topic config '" + std::string(key) + "'";
    std::vector<std::string_view> names;
    for (const TopicBinding& tb : kTopicBindings) names.push_back(tb.topic_key);
    if (auto near = nearest_of(key, names)) msg += " — did you mean '" + std::string(*near) + "'?";
    return msg;
  }
  Value v;
  std::string problem = convert_scalar(*def, std::string(value), v);
  if (problem.empty() && def->type == KeyType::kList) {
    if (v.list.empty()) problem = "must list at least one value";
    for (std::string& item : v.list) {
      if (!problem.empty()) break;
      for (std::string_view allowed : def->valid_values)
        if (lower(allowed) == lower(item)) item = std::string(allowed);
      if (!def->valid_values.empty() &&
          std::find(def->valid_values.begin(), def->valid_values.end(), item) ==
              def->valid_values.end()) {
        std::vector<std::string> vals(def->valid_values.begin(), def->valid_values.end());
        problem = "each item must be one of " + join(vals, ", ") + "; got '" + item + "'";
      }
    }
  }
  if (!problem.empty()) return "'" + std::string(key) + "': " + problem;
  if (key == "retention.ms" && v.i < 0) v.i = -1;  // any negative means forever, as for the broker key
  std::visit(
      [&](auto ptr) {
        using V = std::remove_reference_t<decltype(config.*ptr)>;
        if constexpr (std::is_same_v<V, int32_t> || std::is_same_v<V, int64_t>)
          config.*ptr = static_cast<V>(v.i);
        else if constexpr (std::is_same_v<V, double>)
          config.*ptr = v.d;
        else if constexpr (std::is_same_v<V, bool>)
          config.*ptr = v.b;
        else if constexpr (std::is_same_v<V, std::string>)
          config.*ptr = v.s;
        else
          config.*ptr = v.list;
      },
      b->member);
  return "";
}

TopicConfigResult apply_topic_configs(const TopicConfig& base,
                                      const std::map<std::string, std::string>& overrides) {
  TopicConfigResult r{base, {}};
  for (const auto& [key, value] : overrides) {
    std::string problem = set_topic_config(r.config, key, value);
    if (!problem.empty()) r.errors.push_back(std::move(problem));
  }
  return r;
}


}  // namespace keel::config
