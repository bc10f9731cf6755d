#pragma once
// Typed operations on Kafka's layout over a CoordinationStore (either
// backend): what Kafka's KafkaZkClient and AdminZkClient do, written once.
// The controller, the broker's registration and the admin request handlers
// use this class; none of them builds a path or a JSON payload itself.
//
// Fencing: every write a controller makes goes through a `Fence` (the
// zkVersion of /controller_epoch it got when elected); the write is a multi-op
// that starts with check(/controller_epoch, version), so a superseded
// controller's write fails with kControllerMoved and changes nothing.
//
// Thread-safety: as the underlying store (any thread). Watches fire on the
// store's thread; callers post them to their own strand.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "common/result.h"
#include "coord/coordination_store.h"
#include "coord/kafka_layout.h"

namespace keel::coord {

// Errors specific to the typed layer; store errors (CoordErrc) pass through.
enum class KafkaStoreErrc {
  kTopicExists = 1,       // create_topic: /brokers/topics/<t> exists
  kNoTopic,               // the topic's assignment node is absent
  kControllerMoved,       // a fenced write failed its /controller_epoch check
  kBrokerRegistered,      // /brokers/ids/<id> exists and belongs to another session
  kClusterIdMismatch,     // not used by KafkaStore itself; for callers comparing ids
};
const std::error_category& kafka_store_category();
inline std::error_code make_error_code(KafkaStoreErrc e) { return {static_cast<int>(e), kafka_store_category()}; }

struct Fence {
  int32_t controller_epoch = 0;
  int32_t epoch_zk_version = 0;  // /controller_epoch's data version after our election
};

struct ElectionResult {
  bool won = false;
  int32_t controller_id = -1;  // who is controller now (us when won), -1 if nobody
  Fence fence;                 // valid when won
};

struct PartitionStateNode {
  PartitionState state;
  int32_t zk_version = 0;  // the partition epoch
};

class KafkaStore {
 public:
  explicit KafkaStore(CoordinationStore& store) : store_(store) {}
  CoordinationStore& raw() { return store_; }

  // Creates every path of paths::persistent_paths() that is missing.
  Result<void> ensure_paths();
  // Reads /cluster/id, creating it with `proposed` when absent (create-if-absent:
  // when two brokers race, both end up with the winner's id).
  Result<std::string> get_or_create_cluster_id(const std::string& proposed);

  // --- brokers ---------------------------------------------------------------
  // Creates the ephemeral /brokers/ids/<id> (create + setData as one multi, so
  // its version is 1 as in Kafka) and returns the broker epoch (the node's czxid).
  // A node left by this same session is replaced; one owned by another live
  // session is kBrokerRegistered.
  Result<int64_t> register_broker(const BrokerRegistration& b);
  Result<std::vector<int32_t>> broker_ids(Watch watch = {});
  // nullopt when the broker is not registered. Fills `epoch` from the czxid.
  Result<std::optional<BrokerRegistration>> broker(int32_t id, Watch watch = {});

  // --- controller ------------------------------------------------------------
  // One election attempt as in the layout doc (read /controller_epoch, creating
  // it with 0; multi: create ephemeral /controller + set epoch+1 at the read version).
  Result<ElectionResult> try_elect_controller(int32_t broker_id, int64_t now_ms);
  // The current controller id (-1 when none); `watch` is an exists-watch on /controller.
  Result<int32_t> controller_id(Watch watch = {});
  // Deletes /controller if this session owns it (on resignation / clean shutdown).
  Result<void> resign_controller(int32_t broker_id);

  // --- topics ----------------------------------------------------------------
  Result<std::vector<std::string>> topics(Watch watch = {});
  // nullopt when the topic does not exist.
  Result<std::optional<TopicAssignment>> topic_assignment(const std::string& topic, Watch watch = {});
  // AdminZkClient.createTopicWithAssignment: writes /config/topics/<t> (the
  // overrides, possibly empty) and then /brokers/topics/<t>. kTopicExists if the
  // topic exists. Not fenced: any broker may create a topic.
  Result<void> create_topic(const std::string& topic, const TopicAssignment& assignment,
                            const std::map<std::string, std::string>& config);
  // CreatePartitions: rewrites the assignment when its version still is
  // `expected_version` (-1: any). kBadVersion on a race.
  Result<void> set_topic_assignment(const std::string& topic, const TopicAssignment& assignment,
                                    int32_t expected_version = -1);
  // DeleteTopics: creates /admin/delete_topics/<t> (already there is fine).
  Result<void> mark_topic_for_deletion(const std::string& topic);
  Result<std::vector<std::string>> topics_marked_for_deletion(Watch watch = {});
  // The controller's last step of a deletion, fenced: removes the partition
  // subtree, /brokers/topics/<t>, /config/topics/<t> and the deletion marker.
  Result<void> delete_topic(const std::string& topic, const Fence& fence);

  // --- partition state -------------------------------------------------------
  Result<std::optional<PartitionStateNode>> partition_state(const std::string& topic, int32_t partition,
                                                            Watch watch = {});
  // The states of `partitions` of `topic`, read together (CoordinationStore::get_many:
  // a new controller reads thousands), each as partition_state returns it; in order.
  std::vector<Result<std::optional<PartitionStateNode>>> partition_states(const std::string& topic,
                                                                          std::span<const int32_t> partitions);
  // Creates the partitions/<p> containers and the state node, fenced. kNodeExists if present.
  Result<int32_t> create_partition_state(const std::string& topic, int32_t partition,
                                         const PartitionState& state, const Fence& fence);
  // Conditional update at `expected_zk_version`, fenced; returns the new zk version.
  Result<int32_t> update_partition_state(const std::string& topic, int32_t partition,
                                         const PartitionState& state, int32_t expected_zk_version,
                                         const Fence& fence);
  // Many partitions' states in one multi (a controlled shutdown of a broker
  // leading thousands), fenced like update_partition_state; the new
  // zkVersions in order. Atomic: any failure fails all, and the caller
  // retries one by one to learn which. Keep a call under ZooKeeper's 1 MB
  // request limit (the controller sends 500 at a time).
  struct StateUpdate {
    std::string topic;
    int32_t partition = 0;
    PartitionState state;
    int32_t expected_zk_version = 0;
  };
  Result<std::vector<int32_t>> update_partition_states(const std::vector<StateUpdate>& updates, const Fence& fence);

  // --- configs ---------------------------------------------------------------
  // entity_type: "topics" or "brokers"; name: topic name, broker id, or "<default>".
  // Missing node = empty map.
  Result<std::map<std::string, std::string>> entity_config(const std::string& entity_type,
                                                           const std::string& name);
  // The configs of `names` of one entity type, read together
  // (CoordinationStore::get_many: a broker config change re-reads every
  // topic's overrides), each as entity_config returns it; in order.
  std::vector<Result<std::map<std::string, std::string>>> entity_configs(const std::string& entity_type,
                                                                         std::span<const std::string> names);
  // The names under /config/<type> (as stored: sanitized for users); none
  // when the parent does not exist.
  Result<std::vector<std::string>> entity_names(const std::string& entity_type);
  // Writes /config/<type>/<name> (creating it) and then a config_change_
  // notification; returns the notification's sequence number (as
  // config_changes_after lists it), so the writer can tell its own change.
  Result<int64_t> set_entity_config(const std::string& entity_type, const std::string& name,
                                 const std::map<std::string, std::string>& config);
  // Notifications with sequence number > after_seq, in order: (seq, entity path).
  Result<std::vector<std::pair<int64_t, std::string>>> config_changes_after(int64_t after_seq,
                                                                            Watch watch = {});
  // Removes notifications older than max_age_ms (by the node's ctime).
  Result<void> purge_config_changes(int64_t now_ms, int64_t max_age_ms = 15 * 60 * 1000);

  // --- reassignment (KIP-455, and the legacy /admin/reassign_partitions) -------
  // The controller's rewrite of a topic's assignment (a reassignment's
  // replicas, adding and removing lists), fenced. kNoTopic when it is gone.
  Result<void> update_topic_assignment(const std::string& topic, const TopicAssignment& assignment,
                                       const Fence& fence);
  // The legacy node's entries; nullopt when there is none. `watch` is an
  // exists-watch: it fires when the node appears, changes or goes.
  Result<std::optional<std::vector<PartitionReassignment>>> partition_reassignments(Watch watch = {});
  // What an old tool does: creates the node; kNodeExists while one is pending.
  Result<void> create_partition_reassignments(const std::vector<PartitionReassignment>& entries);
  // The controller's rewrite once some entries are done, fenced: the node
  // with `entries` (created if absent), or deleted when `entries` is empty.
  Result<void> set_partition_reassignments(const std::vector<PartitionReassignment>& entries, const Fence& fence);

  // --- log dir failures ------------------------------------------------------
  // A broker whose log dir failed tells the controller (Kafka's
  // LogDirEventNotification): a persistent sequential node under
  // /log_dir_event_notification. Not fenced: any broker writes its own.
  Result<void> create_log_dir_event(int32_t broker_id);
  // The notifications there, in order: (node name, broker id). `watch` is a
  // children watch; an unreadable node is left out (and removed with the rest
  // by the controller, which deletes what it read).
  struct LogDirEvent {
    std::string node;
    std::optional<int32_t> broker;  // nullopt: unreadable
  };
  Result<std::vector<LogDirEvent>> log_dir_events(Watch watch = {});
  // The controller's deletion of notifications it handled, fenced; ones
  // already gone are fine.
  Result<void> delete_log_dir_events(const std::vector<std::string>& nodes, const Fence& fence);

  // --- producer ids ----------------------------------------------------------
  // Claims the next block of `block_size` ids with a conditional write,
  // retrying on kBadVersion.
  Result<ProducerIdBlock> claim_producer_id_block(int32_t broker_id, int64_t block_size = 1000);

 private:
  CoordinationStore& store_;
};

}  // namespace keel::coord

template <>
struct std::is_error_code_enum<keel::coord::KafkaStoreErrc> : std::true_type {};
