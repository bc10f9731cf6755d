#pragma once
// Kafka's ZooKeeper layout (../shared/kafka-protocol/ZOOKEEPER-LAYOUT.md):
// the paths and the payloads of the nodes Keel reads and writes, as typed
// values with encode/decode. Pure functions, no store access; the typed
// operations over a CoordinationStore are in kafka_store.h.
//
// Decoding is tolerant the way Kafka's readers are (unknown JSON keys are
// ignored, optional keys may be missing) and strict where Kafka is (a
// payload that is not JSON, or lacks a required key, is kCorrupt).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace keel::coord {

// --- paths -------------------------------------------------------------------
namespace paths {
inline constexpr const char* kClusterId = "/cluster/id";
inline constexpr const char* kController = "/controller";
inline constexpr const char* kControllerEpoch = "/controller_epoch";
inline constexpr const char* kBrokerIds = "/brokers/ids";
inline constexpr const char* kBrokerTopics = "/brokers/topics";
inline constexpr const char* kConfigTopics = "/config/topics";
inline constexpr const char* kConfigBrokers = "/config/brokers";
inline constexpr const char* kConfigChanges = "/config/changes";
inline constexpr const char* kDeleteTopics = "/admin/delete_topics";
inline constexpr const char* kLatestProducerIdBlock = "/latest_producer_id_block";
inline constexpr const char* kReassignPartitions = "/admin/reassign_partitions";
inline constexpr const char* kLogDirEventNotification = "/log_dir_event_notification";
std::string broker(int32_t id);                                  // /brokers/ids/<id>
std::string topic(const std::string& topic);                     // /brokers/topics/<t>
std::string partitions(const std::string& topic);                // /brokers/topics/<t>/partitions
std::string partition(const std::string& topic, int32_t p);      // .../partitions/<p>
std::string partition_state(const std::string& topic, int32_t p);  // .../partitions/<p>/state
std::string topic_config(const std::string& topic);              // /config/topics/<t>
std::string broker_config(const std::string& broker);            // /config/brokers/<id or <default>>
std::string delete_topic(const std::string& topic);              // /admin/delete_topics/<t>
// The persistent paths a broker makes sure exist at start-up (the list in the layout doc).
const std::vector<std::string>& persistent_paths();

// ZooKeeper ACLs under zookeeper.set.acl, Kafka's rule (ZkData.defaultAcls):
// every node all rights for the brokers' identity and read for everybody,
// except the old consumers' /consumers (open to all) and the nodes under
// Kafka's sensitive roots (/config/users: SCRAM salts and keys,
// /config/brokers: broker passwords, /delegation_token/tokens), which
// nobody else may even read. Kafka compares by string prefix; so does this.
enum class ZkAclKind { kOpen, kBrokersWriteWorldRead, kBrokersOnly };
ZkAclKind zk_acl_kind(std::string_view path);
// The top-level nodes Kafka secures (ZkData.SecureRootPaths and
// SensitiveRootPaths, the ACL store's roots included): what a broker walks
// to secure nodes created before zookeeper.set.acl was turned on.
const std::vector<std::string>& secure_roots();
}  // namespace paths

// --- payloads ----------------------------------------------------------------

struct BrokerEndpoint {
  std::string listener_name;      // "PLAINTEXT"
  std::string host;
  int32_t port = 0;
  std::string security_protocol;  // from listener_security_protocol_map
  bool operator==(const BrokerEndpoint&) const = default;
};

// /brokers/ids/<id>, version 5.
struct BrokerRegistration {
  int32_t id = -1;  // not in the JSON: from the path
  std::vector<BrokerEndpoint> endpoints;
  std::optional<std::string> rack;
  int64_t timestamp_ms = 0;
  int64_t epoch = -1;  // not in the JSON: the node's czxid, filled by KafkaStore
  bool operator==(const BrokerRegistration&) const = default;
};
Bytes encode_broker_registration(const BrokerRegistration& b);
Result<BrokerRegistration> decode_broker_registration(int32_t id, ByteView json);

// /controller, version 2.
struct ControllerInfo {
  int32_t broker_id = -1;
  int64_t timestamp_ms = 0;
};
Bytes encode_controller(const ControllerInfo& c);
Result<ControllerInfo> decode_controller(ByteView json);

// /controller_epoch: plain decimal text.
Bytes encode_controller_epoch(int32_t epoch);
Result<int32_t> decode_controller_epoch(ByteView text);

// /cluster/id: {"version":"1","id":"..."}.
Bytes encode_cluster_id(const std::string& id);
Result<std::string> decode_cluster_id(ByteView json);

// /brokers/topics/<t>, version 3.
struct TopicAssignment {
  std::string topic_id;  // Kafka's base64url Uuid text (22 chars); empty when absent (old writers)
  std::map<int32_t, std::vector<int32_t>> partitions;       // partition -> replicas (order matters)
  std::map<int32_t, std::vector<int32_t>> adding_replicas;
  std::map<int32_t, std::vector<int32_t>> removing_replicas;
  bool operator==(const TopicAssignment&) const = default;
};
Bytes encode_topic_assignment(const TopicAssignment& a);
Result<TopicAssignment> decode_topic_assignment(ByteView json);

// .../partitions/<p>/state, version 1.
struct PartitionState {
  int32_t leader = -1;  // -1 none, -2 being deleted
  int32_t leader_epoch = 0;
  int32_t controller_epoch = 0;
  std::vector<int32_t> isr;
  bool recovering = false;  // leader_recovery_state 1, written only when true
  bool operator==(const PartitionState&) const = default;
};
Bytes encode_partition_state(const PartitionState& s);
Result<PartitionState> decode_partition_state(ByteView json);

// /config/<type>/<name>: {"version":1,"config":{...}}, all values strings.
Bytes encode_entity_config(const std::map<std::string, std::string>& config);
Result<std::map<std::string, std::string>> decode_entity_config(ByteView json);

// /config/changes/config_change_<seq>: {"version":2,"entity_path":"topics/foo"}.
// Decoding also accepts version 1 ({"entity_type":..,"entity_name":..}).
Bytes encode_config_change(const std::string& entity_path);
Result<std::string> decode_config_change(ByteView json);  // the entity path

// /log_dir_event_notification/log_dir_event_<seq>: {"version":1,"broker":3,"event":1}
// (event 1: a log dir of that broker failed). Decoding gives the broker id.
Bytes encode_log_dir_event(int32_t broker);
Result<int32_t> decode_log_dir_event(ByteView json);

// /latest_producer_id_block: {"version":1,"broker":2,"block_start":"4000","block_end":"4999"}.
struct ProducerIdBlock {
  int32_t broker = -1;
  int64_t start = 0;  // inclusive
  int64_t end = -1;   // inclusive
  bool operator==(const ProducerIdBlock&) const = default;
};
Bytes encode_producer_id_block(const ProducerIdBlock& b);
Result<ProducerIdBlock> decode_producer_id_block(ByteView json);

// /admin/reassign_partitions, the legacy reassignment trigger that old tools
// (kafka-reassign-partitions --zookeeper) write:
// {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[4,5,6]}]}.
// Decoding ignores other keys ("log_dirs"); a partition listed twice keeps
// its last entry, as Kafka's map does.
struct PartitionReassignment {
  std::string topic;
  int32_t partition = 0;
  std::vector<int32_t> replicas;  // the target replicas, in order
  bool operator==(const PartitionReassignment&) const = default;
};
Bytes encode_partition_reassignments(const std::vector<PartitionReassignment>& entries);
Result<std::vector<PartitionReassignment>> decode_partition_reassignments(ByteView json);

// Kafka's Uuid text form: URL-safe base64 of the 16 bytes, no padding (22 chars).
std::string uuid_to_base64(const std::array<uint8_t, 16>& bytes);
std::optional<std::array<uint8_t, 16>> uuid_from_base64(std::string_view text);

}  // namespace keel::coord
