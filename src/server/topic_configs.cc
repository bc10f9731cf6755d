#include "server/topic_configs.h"

#include "common/log.h"
#include "config/config_def.h"

namespace keel::server {

config::TopicConfig effective_topic_config(const config::BrokerConfig& broker,
                                           const std::map<std::string, std::string>& dynamic_broker,
                                           const std::map<std::string, std::string>& overrides) {
  config::TopicConfig c = config::topic_config_defaults(broker);
  for (const auto& [key, value] : dynamic_broker) {
    const config::KeyDef* def = config::find_key(key);
    if (!def || def->topic_name.empty()) continue;
    if (std::string err = config::set_topic_config(c, def->topic_name, value); !err.empty()) {
      keel::logger("server")->warn("ignoring a dynamic broker config: {}", err);
    }
  }
  for (const auto& [key, value] : overrides) {
    if (std::string err = config::set_topic_config(c, key, value); !err.empty()) {
      keel::logger("server")->warn("ignoring a stored topic config: {}", err);
    }
  }
  return c;
}

storage::LogConfig to_log_config(const config::TopicConfig& t) {
  storage::LogConfig c;
  c.segment_bytes = t.segment_bytes;
  c.segment_ms = t.segment_ms;
  c.segment_jitter_ms = t.segment_jitter_ms;
  c.segment_index_bytes = t.segment_index_bytes;
  c.index_interval_bytes = t.index_interval_bytes;
  c.max_message_bytes = t.max_message_bytes;
  c.message_timestamp_type = t.message_timestamp_type == "LogAppendTime" ? protocol::TimestampType::kLogAppendTime
                                                                          : protocol::TimestampType::kCreateTime;
  // The log applies retention only under a policy with "delete".
  c.retention_ms = t.retention_ms;
  c.retention_bytes = t.retention_bytes;
  c.flush_messages = t.flush_messages;
  c.flush_ms = t.flush_ms;
  c.file_delete_delay_ms = t.file_delete_delay_ms;
  c.cleanup_policy = t.compacted() ? (t.delete_by_retention() ? storage::CleanupPolicy::kCompactDelete
                                                                : storage::CleanupPolicy::kCompact)
                                   : storage::CleanupPolicy::kDelete;
  c.min_cleanable_dirty_ratio = t.min_cleanable_dirty_ratio;
  c.delete_retention_ms = t.delete_retention_ms;
  c.min_compaction_lag_ms = t.min_compaction_lag_ms;
  return c;
}

cluster::PartitionConfig to_partition_config(const config::TopicConfig& t) {
  cluster::PartitionConfig c;
  c.validation.compacted = t.compacted();
  c.validation.target_codec = cluster::topic_codec(t.compression_type);
  c.min_insync_replicas = t.min_insync_replicas;
  c.validation.log_append_time = t.message_timestamp_type == "LogAppendTime";
  c.validation.timestamp_difference_max_ms = t.message_timestamp_difference_max_ms;
  c.validation.timestamp_before_max_ms = t.message_timestamp_before_max_ms;
  c.validation.timestamp_after_max_ms = t.message_timestamp_after_max_ms;
  c.leader_throttled = cluster::ThrottledReplicas::parse(t.leader_replication_throttled_replicas);
  c.follower_throttled = cluster::ThrottledReplicas::parse(t.follower_replication_throttled_replicas);
  return c;
}

}  // namespace keel::server
