#pragma once
// The broker's parts that request handlers use. Owned by the Broker, which
// outlives every request; each pointer may be null only in unit tests of
// handlers that do not use it.

#include <cstdint>
#include <functional>

namespace keel::cluster {
class FetchSessionCache;
class MetadataCache;
class ProducerIdManager;
class ReplicaManager;
class TopicAdmin;
}  // namespace keel::cluster
namespace keel::controller {
class Controller;
}
namespace keel::group {
class GroupCoordinator;
}

namespace keel::server {

class DynamicBrokerConfig;

struct Services {
  cluster::MetadataCache* metadata = nullptr;
  cluster::ReplicaManager* replicas = nullptr;
  cluster::TopicAdmin* topics = nullptr;  // topic and config administration (the controller side)
  DynamicBrokerConfig* dynamic = nullptr;  // dynamic broker configs (may be null in tests)
  cluster::ProducerIdManager* producer_ids = nullptr;  // InitProducerId
  cluster::FetchSessionCache* fetch_sessions = nullptr;  // null: Fetch declines sessions
  group::GroupCoordinator* groups = nullptr;  // the group APIs; null: COORDINATOR_NOT_AVAILABLE
  controller::Controller* controller = nullptr;  // AlterPartition; null: NOT_CONTROLLER
  // This broker's current registration epoch (KIP-380), -1 before it has one.
  std::function<int64_t()> broker_epoch;
  // Wall-clock milliseconds (timestamps, LogAppendTime); injectable for tests.
  std::function<int64_t()> now_ms;
};

}  // namespace keel::server
