// The TopicAdmin side of the controller: topic creation, deletion, partitions
// and config overrides, written to the store from any thread (a config change
// is then applied on this broker before the answer: apply_config_here).

#include "controller/controller.h"

#include <algorithm>
#include <thread>

#include "controller/internal.h"
#include "controller/replica_assignment.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;
using namespace internal;

namespace {

// Kafka compares topic names with '.' and '_' treated alike, since both map
// to '_' in metric names.
std::string collision_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// The live brokers and their racks, as the metadata cache shows them (any
// thread: TopicAdmin calls), for replica_assignment.h.
std::vector<BrokerRack> assignable_brokers(const cluster::MetadataCache& metadata) {
  std::vector<BrokerRack> out;
  for (const auto& [id, b] : metadata.snapshot()->brokers) out.push_back({id, b.rack});
  return out;
}

}  // namespace

// --- TopicAdmin ----------------------------------------------------------------------------

std::string Controller::check_topic_name(const std::string& name) {
  if (name.empty()) return "topic name is empty";
  if (name == "." || name == "..") return "topic name cannot be '.' or '..'";
  if (name.size() > 249) return "topic name is longer than 249 characters";
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return "topic name '" + name + "' is illegal: only ASCII alphanumerics, '.', '_' and '-' are allowed";
    }
  }
  return "";
}

AdminResult Controller::create_topic(const cluster::NewTopic& topic, bool validate_only,
                                     cluster::CreatedTopic* created) {
  if (std::string why = check_topic_name(topic.name); !why.empty()) {
    return error(ErrorCode::kInvalidTopicException, why);
  }
  // A topic of that name still being deleted (a replica's broker is down,
  // say) is still there, as Kafka's AdminZkClient answers.
  auto deleting = store_.topics_marked_for_deletion();
  if (!deleting) return store_error(deleting.error());
  if (std::find(deleting->begin(), deleting->end(), topic.name) != deleting->end()) {
    return error(ErrorCode::kTopicAlreadyExists, "topic '" + topic.name + "' is marked for deletion");
  }
  auto snapshot = metadata_.snapshot();
  if (snapshot->topic(topic.name)) return error(ErrorCode::kTopicAlreadyExists, "topic '" + topic.name + "' already exists");
  const std::string key = collision_key(topic.name);
  for (const auto& [name, t] : snapshot->topics) {
    if (collision_key(name) == key) {
      return error(ErrorCode::kInvalidTopicException,
                   "topic '" + topic.name + "' collides with existing topic '" + name + "' ('.' and '_' are alike)");
    }
  }
  std::vector<int32_t> brokers = cached_broker_ids();
  std::map<int32_t, std::vector<int32_t>> assignment;
  if (!topic.assignment.empty()) {
    if (topic.num_partitions != -1 || topic.replication_factor != -1) {
      return error(ErrorCode::kInvalidRequest,
                   "both a replica assignment and a partition count or replication factor were given");
    }
    size_t rf = topic.assignment.begin()->second.size();
    int32_t expected = 0;
    for (const auto& [p, replicas] : topic.assignment) {
      if (p != expected++) return error(ErrorCode::kInvalidReplicaAssignment, "partitions must be numbered from 0 without gaps");
      if (replicas.empty() || replicas.size() != rf) {
        return error(ErrorCode::kInvalidReplicaAssignment, "every partition needs the same, non-zero number of replicas");
      }
      std::set<int32_t> seen;
      for (int32_t r : replicas) {
        if (!seen.insert(r).second) return error(ErrorCode::kInvalidReplicaAssignment, "a replica is listed twice");
        if (!contains(brokers, r)) {
          return error(ErrorCode::kInvalidReplicaAssignment, "broker " + std::to_string(r) + " is not live");
        }
      }
    }
    assignment = topic.assignment;
  } else {
    const int32_t partitions = topic.num_partitions == -1 ? options_.default_partitions : topic.num_partitions;
    const int16_t rf = topic.replication_factor == -1 ? options_.default_replication_factor : topic.replication_factor;
    AssignmentResult assigned = assign_replicas(assignable_brokers(metadata_), partitions, rf);
    if (assigned.error != ErrorCode::kNone) return error(assigned.error, assigned.message);
    assignment = std::move(assigned.partitions);
  }
  if (options_.validate_topic_configs) {
    if (std::string why = options_.validate_topic_configs(topic.configs); !why.empty()) {
      return error(ErrorCode::kInvalidConfig, why);
    }
  }
  const protocol::Uuid id = protocol::Uuid::random();
  if (created) {
    created->topic_id = validate_only ? "" : id.to_string();
    created->num_partitions = static_cast<int32_t>(assignment.size());
    created->replication_factor = static_cast<int16_t>(assignment.begin()->second.size());
    if (options_.describe_topic_configs) created->configs = options_.describe_topic_configs(topic.configs);
  }
  if (validate_only) return {};
  coord::TopicAssignment a;
  a.topic_id = id.to_string();
  a.partitions = std::move(assignment);
  if (auto r = store_.create_topic(topic.name, a, topic.configs); !r) {
    if (r.error() == coord::KafkaStoreErrc::kTopicExists) {
      return error(ErrorCode::kTopicAlreadyExists, "topic '" + topic.name + "' already exists");
    }
    return store_error(r.error());
  }
  log()->info("created topic '{}' ({} partitions, replication factor {})", topic.name, a.partitions.size(),
              a.partitions.begin()->second.size());
  return {};
}

AdminResult Controller::delete_topic(const std::string& name) {
  if (!options_.delete_topic_enable) {
    return error(ErrorCode::kTopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)");
  }
  auto a = store_.topic_assignment(name);
  if (!a) return store_error(a.error());
  if (!*a) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
  if (auto r = store_.mark_topic_for_deletion(name); !r) {
    return store_error(r.error());
  }
  return {};
}

AdminResult Controller::create_partitions(const std::string& name, int32_t count,
                                          const std::vector<std::vector<int32_t>>& assignment, bool validate_only) {
  auto current = store_.topic_assignment(name);
  if (!current) return store_error(current.error());
  // The store, not the metadata cache, says whether the topic exists: a topic
  // exists once CreateTopics has answered, before the controller has made its
  // partitions and the cache shows them (Kafka reads ZooKeeper here too).
  if (!*current) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
  auto deleting = store_.topics_marked_for_deletion();
  if (!deleting) return store_error(deleting.error());
  if (std::find(deleting->begin(), deleting->end(), name) != deleting->end()) {
    return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' is being deleted");
  }
  coord::TopicAssignment a = std::move(**current);
  // Kafka's ZkAdminManager: no new partitions while replicas are moving.
  if (!a.adding_replicas.empty() || !a.removing_replicas.empty()) {
    return error(ErrorCode::kReassignmentInProgress,
                 "A partition reassignment is in progress for the topic '" + name + "'.");
  }
  const int32_t existing = static_cast<int32_t>(a.partitions.size());
  if (count < existing) {
    return error(ErrorCode::kInvalidPartitions, "Topic currently has " + std::to_string(existing) +
                                                    " partitions, which is higher than the requested " +
                                                    std::to_string(count) + ".");
  }
  if (count == existing) {
    return error(ErrorCode::kInvalidPartitions, "Topic already has " + std::to_string(existing) + " partitions.");
  }
  const size_t rf = a.partitions.empty() ? 1 : a.partitions.begin()->second.size();
  std::vector<int32_t> brokers = cached_broker_ids();
  std::map<int32_t, std::vector<int32_t>> added;
  if (!assignment.empty()) {
    if (static_cast<int32_t>(assignment.size()) != count - existing) {
      return error(ErrorCode::kInvalidReplicaAssignment, "Increasing the number of partitions by " +
                                                             std::to_string(count - existing) + " but " +
                                                             std::to_string(assignment.size()) +
                                                             " assignments provided.");
    }
    for (size_t i = 0; i < assignment.size(); ++i) {
      const auto& replicas = assignment[i];
      if (replicas.size() != rf) {
        return error(ErrorCode::kInvalidReplicaAssignment, "every new partition needs " + std::to_string(rf) + " replicas");
      }
      std::set<int32_t> seen;
      for (int32_t r : replicas) {
        if (!seen.insert(r).second) return error(ErrorCode::kInvalidReplicaAssignment, "a replica is listed twice");
        if (!contains(brokers, r)) {
          return error(ErrorCode::kInvalidReplicaAssignment, "broker " + std::to_string(r) + " is not live");
        }
      }
      added[existing + static_cast<int32_t>(i)] = replicas;
    }
  } else {
    // Kafka's AdminZkClient.createPartitions: the walk starts at the broker
    // of partition 0's first replica (or the next id up), not at random.
    const std::vector<BrokerRack> live = assignable_brokers(metadata_);
    const int32_t first_replica = a.partitions.empty() ? 0 : a.partitions.begin()->second.front();
    AssignmentResult assigned = assign_replicas(live, count - existing, static_cast<int16_t>(rf),
                                                start_index_for(live, first_replica), existing);
    if (assigned.error != ErrorCode::kNone) return error(assigned.error, assigned.message);
    added = std::move(assigned.partitions);
  }
  if (validate_only) return {};
  for (auto& [p, replicas] : added) a.partitions[p] = std::move(replicas);
  if (auto r = store_.set_topic_assignment(name, a); !r) {
    return store_error(r.error());
  }
  log()->info("topic '{}' now has {} partitions", name, count);
  return {};
}

std::optional<std::map<std::string, std::string>> Controller::overrides(const std::string& entity_type,
                                                                         const std::string& name) {
  if (entity_type == "topics") {
    auto a = store_.topic_assignment(name);
    if (!a || !*a) return std::nullopt;
  }
  auto c = store_.entity_config(entity_type, name);
  if (!c) return std::nullopt;
  return *c;
}

AdminResult Controller::set_overrides(const std::string& entity_type, const std::string& name,
                                      const std::map<std::string, std::string>& configs, bool validate_only) {
  if (entity_type == "topics") {
    auto a = store_.topic_assignment(name);
    if (!a) return store_error(a.error());
    if (!*a) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
    if (options_.validate_topic_configs) {
      if (std::string why = options_.validate_topic_configs(configs); !why.empty()) {
        return error(ErrorCode::kInvalidConfig, why);
      }
    }
  } else if (entity_type != "brokers") {
    return error(ErrorCode::kInvalidRequest, "unknown config entity type '" + entity_type + "'");
  }
  if (validate_only) return {};
  auto seq = store_.set_entity_config(entity_type, name, configs);
  if (!seq) return store_error(seq.error());
  apply_config_here(entity_type, name, *seq);
  return {};
}

void Controller::apply_config_here(const std::string& entity_type, const std::string& name, int64_t seq) {
  // Every broker applies a change from its notification (/config/changes),
  // which reaches this one a moment after the write: a client producing or
  // describing here right after the answer met the old value. Other brokers
  // still may, as in Kafka's ZooKeeper mode; the answering one must not.
  // Applied on the event thread, where the notifications are: topics_ is
  // its, and two threads each applying what they read could leave the older
  // value last. There each application reads the store's current value, so
  // a change is applied once here: not again from its own notification
  // (applied_here_), and not here when that notification came first (a
  // broker config change re-applies every topic's: seconds at 10,000).
  // AlterConfigs comes from request handlers and the REST bridge's workers,
  // never from the event thread; if it did, waiting for itself would only
  // time out, so it applies directly. A busy event thread (an election)
  // holds the answer up to kApplyConfigWaitMs; then the change is stored and
  // reaches this broker from its notification, as it reaches the others.
  auto apply = [this, entity_type, name, seq] {
    if (seq >= 0 && seq <= last_config_change_) return;  // its notification applied it
    if (seq >= 0) applied_here_.insert(seq);
    apply_config(entity_type, name);
  };
  if (std::this_thread::get_id() == thread_.get_id()) return apply();
  if (!run_on_event_thread(apply, kApplyConfigWaitMs)) {
    log()->warn("the config change of {} '{}' is stored but not applied here within {} ms; "
                "its change notification applies it",
                entity_type, name, kApplyConfigWaitMs);
  }
}

}  // namespace keel::controller
