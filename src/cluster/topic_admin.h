#pragma once
// Topic and config administration as the request handlers see it
// (CreateTopics, DeleteTopics, CreatePartitions, the config APIs, Metadata's
// auto-create). Implemented over the coordination store by the controller
// module; handlers never touch the store themselves.
//
// Every call writes the decision to the store and returns; the controller
// applies it (creates partitions, elects leaders) and the metadata cache shows
// it a moment later. Handlers that must answer only once the result is
// visible wait on the metadata cache. Thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/error_code.h"

namespace keel::cluster {

struct AdminResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;  // for the response's error_message and the log
  bool ok() const { return error == protocol::ErrorCode::kNone; }
};

struct NewTopic {
  std::string name;
  int32_t num_partitions = -1;       // -1: num.partitions
  int16_t replication_factor = -1;   // -1: default.replication.factor
  std::map<int32_t, std::vector<int32_t>> assignment;  // manual assignment (then both above are -1)
  std::map<std::string, std::string> configs;
};

// What CreateTopics v5+ echoes back for a created (or validated) topic.
struct CreatedTopic {
  std::string topic_id;  // base64 text; empty for validate-only
  int32_t num_partitions = 0;
  int16_t replication_factor = 0;
  std::map<std::string, std::string> configs;  // every topic-level key with its value
};

class TopicAdmin {
 public:
  virtual ~TopicAdmin() = default;
  // Errors: TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
  // INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG.
  virtual AdminResult create_topic(const NewTopic& topic, bool validate_only, CreatedTopic* created) = 0;
  // Errors: UNKNOWN_TOPIC_OR_PARTITION, TOPIC_DELETION_DISABLED.
  virtual AdminResult delete_topic(const std::string& name) = 0;
  // Errors: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT.
  virtual AdminResult create_partitions(const std::string& name, int32_t count,
                                        const std::vector<std::vector<int32_t>>& assignment,
                                        bool validate_only) = 0;
  // The stored overrides of a topic ("topics") or broker ("brokers", id or
  // "<default>"); nullopt when the topic does not exist.
  virtual std::optional<std::map<std::string, std::string>> overrides(const std::string& entity_type,
                                                                       const std::string& name) = 0;
  // Replaces the overrides (validated first: INVALID_CONFIG naming the key).
  virtual AdminResult set_overrides(const std::string& entity_type, const std::string& name,
                                    const std::map<std::string, std::string>& configs, bool validate_only) = 0;
};

}  // namespace keel::cluster
