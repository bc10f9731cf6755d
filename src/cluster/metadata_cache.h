#pragma once
// What this broker believes about the cluster: live brokers and their
// endpoints, the controller, and every topic's id and partitions (leader,
// leader epoch, replicas, ISR). The controller's decisions reach it through
// update() (in a cluster: the UpdateMetadata request); Metadata, Produce,
// Fetch and the admin handlers read it.
//
// Copy-on-write: readers take an immutable snapshot (a shared_ptr) and use it
// without a lock; update() builds a new snapshot and swaps it in.
// Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/types.h"

namespace keel::cluster {

struct EndpointInfo {
  std::string listener_name;
  std::string host;
  int32_t port = 0;
  std::string security_protocol = "PLAINTEXT";
  bool operator==(const EndpointInfo&) const = default;
};

struct BrokerInfo {
  int32_t id = -1;
  std::vector<EndpointInfo> endpoints;
  std::optional<std::string> rack;
  bool operator==(const BrokerInfo&) const = default;
};

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = -1;  // -1 none, -2 the topic is being deleted
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;  // the state node's version
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  std::vector<int32_t> offline_replicas;
  bool operator==(const PartitionInfo&) const = default;
};

struct TopicInfo {
  std::string name;
  protocol::Uuid id;
  bool internal = false;
  std::vector<PartitionInfo> partitions;  // index = partition number
  bool deleting() const { return !partitions.empty() && partitions[0].leader == -2; }
  bool operator==(const TopicInfo&) const = default;
};

struct ClusterSnapshot {
  int32_t controller_id = -1;
  std::map<int32_t, BrokerInfo> brokers;  // live brokers
  std::map<std::string, TopicInfo> topics;
  std::map<protocol::Uuid, std::string> topic_names;  // id -> name
  // Whether an UpdateMetadata from the controller has been applied. Until
  // then a topic missing here says nothing: a starting broker hears
  // LeaderAndIsr (and loads __transaction_state) before the controller's
  // first UpdateMetadata reaches it.
  bool from_controller = false;

  const TopicInfo* topic(const std::string& name) const;
  const TopicInfo* topic(const protocol::Uuid& id) const;
  const PartitionInfo* partition(const std::string& topic, int32_t partition) const;
  // A live broker's endpoint on this listener; null when unknown.
  const EndpointInfo* endpoint(int32_t broker, const std::string& listener_name) const;
};

class MetadataCache {
 public:
  MetadataCache();
  std::shared_ptr<const ClusterSnapshot> snapshot() const;

  void set_brokers(std::map<int32_t, BrokerInfo> brokers, int32_t controller_id);
  // Adds or replaces the topic (by name).
  void put_topic(TopicInfo topic);
  void remove_topic(const std::string& name);
  // Sets one partition's state (the topic must be present; ignored otherwise).
  void put_partition(const std::string& topic, const PartitionInfo& p);

  // What an UpdateMetadata request carries, applied as one change (Kafka's
  // ZkMetadataCache.updateMetadata): the live brokers and the controller
  // replace what was there; each topic of `topics` has only the partitions
  // that changed, merged into what the cache has (a topic not yet known is
  // added). A partition whose leader is -2 (the topic is being deleted)
  // removes its whole topic, as Kafka's cache drops the partitions.
  void apply_update(std::map<int32_t, BrokerInfo> brokers, int32_t controller_id,
                    const std::vector<TopicInfo>& topics);

  // Bumped by every change; waiters (CreateTopics) poll it cheaply.
  uint64_t version() const;
  // Called after every change, outside the lock (wakes waiting admin requests).
  // Set once, before the cache is shared.
  void set_on_change(std::function<void()> fn) { on_change_ = std::move(fn); }

 private:
  template <typename F>
  void modify(F&& f);
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterSnapshot> snapshot_;
  uint64_t version_ = 0;
  std::function<void()> on_change_;
};

}  // namespace keel::cluster
