#pragma once
// What one controller decision tells the brokers (Kafka's
// ControllerBrokerRequestBatch): LeaderAndIsr to the replicas of the
// partitions it changed, UpdateMetadata to every live broker, StopReplica to
// replicas that stop; gathered while the decision is made, then sent as one
// request of each kind per broker, in Kafka's order (LeaderAndIsr, then
// UpdateMetadata, then StopReplica), so a broker hosts a partition before
// any metadata points clients at it.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "controller/channel_manager.h"
#include "coord/kafka_layout.h"
#include "protocol/types.h"

namespace keel::controller {

// One partition's state as the controller decided it.
struct PartitionDecision {
  std::string topic;
  protocol::Uuid topic_id;
  int32_t partition = 0;
  int32_t leader = -1;  // -2: the topic is being deleted
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;  // the state node's zkVersion
  int32_t controller_epoch = 0;
  std::vector<int32_t> isr;
  std::vector<int32_t> replicas;
  std::vector<int32_t> offline_replicas;
  bool is_new = false;
};

class RequestBatch {
 public:
  // The versions sent: what a Kafka 3.9 ZooKeeper-mode controller sends.
  static constexpr int16_t kLeaderAndIsrVersion = 7;
  static constexpr int16_t kUpdateMetadataVersion = 8;
  static constexpr int16_t kStopReplicaVersion = 4;

  void leader_and_isr(const std::vector<int32_t>& brokers, const PartitionDecision& p);
  // The partition's state to these brokers' metadata caches.
  void update_metadata(const std::vector<int32_t>& brokers, const PartitionDecision& p);
  // An UpdateMetadata (the live brokers, perhaps no partitions) to these brokers.
  void update_metadata_brokers(const std::vector<int32_t>& brokers);
  void stop_replica(int32_t broker, const std::string& topic, int32_t partition, int32_t leader_epoch,
                    bool delete_log);
  bool empty() const { return leader_and_isr_.empty() && update_metadata_.empty() && stop_replica_.empty(); }

  // Encodes and queues everything gathered on `channels`, then forgets it.
  // Brokers not in `live` are skipped.
  // `on_leader_and_isr` gets each broker's LeaderAndIsr answer (the body).
  using LeaderAndIsrAnswer = std::function<void(int32_t broker, Result<Bytes> body)>;
  // `on_stop_replica` gets each broker's StopReplica answer, with the broker
  // epoch the request was sent to (an answer from an earlier incarnation of
  // the broker says nothing about its replicas now).
  using StopReplicaAnswer = std::function<void(int32_t broker, int64_t broker_epoch, Result<Bytes> body)>;
  void send(ChannelManager& channels, int32_t controller_id, int32_t controller_epoch,
            const std::map<int32_t, coord::BrokerRegistration>& live, const std::string& listener,
            const LeaderAndIsrAnswer& on_leader_and_isr = {}, const StopReplicaAnswer& on_stop_replica = {});

 private:
  struct Stop {
    std::string topic;
    int32_t partition;
    int32_t leader_epoch;
    bool delete_log;
  };
  std::map<int32_t, std::vector<PartitionDecision>> leader_and_isr_;
  std::map<int32_t, std::vector<PartitionDecision>> update_metadata_;  // a broker listed with none: brokers only
  std::map<int32_t, std::vector<Stop>> stop_replica_;
};

}  // namespace keel::controller
