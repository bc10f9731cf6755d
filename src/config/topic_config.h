#pragma once
// Per-topic settings, by Kafka's topic-level names (retention.ms, segment.bytes,
// cleanup.policy, ...). A topic starts from the broker's defaults (the log.* keys,
// see KeyDef::topic_name) and its own configs (CreateTopics, AlterConfigs, or as
// stored with the topic) override them, checked by the same types and ranges as
// the broker keys. Plain value type; no threads, no state.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace keel::config {

struct TopicConfig {
  int64_t retention_ms = 604800000;  // -1 = forever
  int64_t retention_bytes = -1;      // -1 = no limit
  int32_t segment_bytes = 1073741824;
  int64_t segment_ms = 604800000;
  int64_t segment_jitter_ms = 0;
  int32_t index_interval_bytes = 4096;
  int32_t segment_index_bytes = 10485760;
  int64_t flush_messages = INT64_MAX;
  int64_t flush_ms = INT64_MAX;
  std::vector<std::string> cleanup_policy = {"delete"};
  double min_cleanable_dirty_ratio = 0.5;
  int64_t delete_retention_ms = 86400000;
  int64_t min_compaction_lag_ms = 0;
  int64_t file_delete_delay_ms = 60000;
  std::string message_timestamp_type = "CreateTime";
  int64_t message_timestamp_difference_max_ms = INT64_MAX;
  int64_t message_timestamp_before_max_ms = INT64_MAX;
  int64_t message_timestamp_after_max_ms = INT64_MAX;
  std::string message_format_version = "3.0-IV1";  // deprecated, ignored (Kafka 3.x)
  std::string compression_type = "producer";
  bool unclean_leader_election_enable = false;
  int32_t min_insync_replicas = 1;
  int32_t max_message_bytes = 1048588;
  // Topic-only keys (no broker key behind them, as in Kafka): the replicas the
  // replication throttles apply to, "partition:broker,..." or "*"; "" = none.
  std::string leader_replication_throttled_replicas;
  std::string follower_replication_throttled_replicas;

  bool compacted() const;        // cleanup.policy holds "compact"
  bool delete_by_retention() const;  // cleanup.policy holds "delete"

  // Every topic-level key with its value, as DescribeConfigs prints it.
  std::map<std::string, std::string> to_map() const;
};

// The defaults a new topic gets from this broker.
TopicConfig topic_config_defaults(const BrokerConfig& broker);

// True when `key` is a topic-level key Keel knows.
bool is_topic_config_key(std::string_view key);

// Checks and stores one topic-level key. Returns "" on success, else the
// problem, naming the key ("unknown topic config 'retention.msx' — did you mean
// 'retention.ms'?", "'segment.bytes': must be at least 14, got 3"). On error
// `config` is unchanged. Callers map a non-empty result to INVALID_CONFIG.
std::string set_topic_config(TopicConfig& config, std::string_view key, std::string_view value);

// Applies every override onto a copy of `base`; returns the copy, or the list
// of problems (one per bad key) when any key is bad.
struct TopicConfigResult {
  TopicConfig config;
  std::vector<std::string> errors;
};
TopicConfigResult apply_topic_configs(const TopicConfig& base,
                                      const std::map<std::string, std::string>& overrides);

}  // namespace keel::config
