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
namespace keel::coord {
class AclStore;
}
namespace keel::security {
class AclAuthorizer;
}
namespace keel::group {
class GroupCoordinator;
}
namespace keel::txn {
class TransactionCoordinator;
}

namespace keel::server {

class BrokerMetrics;
class ClientQuotaManager;
class QuotaThrottler;
class DynamicBrokerConfig;
class TxnPartitionVerifier;
struct SaslCredentials;

struct Services {
  cluster::MetadataCache* metadata = nullptr;
  cluster::ReplicaManager* replicas = nullptr;
  cluster::TopicAdmin* topics = nullptr;  // topic and config administration (the controller side)
  DynamicBrokerConfig* dynamic = nullptr;  // dynamic broker configs (may be null in tests)
  cluster::ProducerIdManager* producer_ids = nullptr;  // InitProducerId
  cluster::FetchSessionCache* fetch_sessions = nullptr;  // null: Fetch declines sessions
  group::GroupCoordinator* groups = nullptr;  // the group APIs; null: COORDINATOR_NOT_AVAILABLE
  // The transaction coordinator (server/txn_requests.cc); null: the
  // transaction APIs answer COORDINATOR_NOT_AVAILABLE.
  txn::TransactionCoordinator* txns = nullptr;
  // KIP-890 part 1 for transactional produce (server/txn_verification.h);
  // null: transactional batches are appended unverified.
  TxnPartitionVerifier* txn_verifier = nullptr;
  controller::Controller* controller = nullptr;  // AlterPartition; null: NOT_CONTROLLER
  // This broker's current registration epoch (KIP-380), -1 before it has one.
  std::function<int64_t()> broker_epoch;
  // PLAIN users and the SCRAM credential cache (server/sasl.h); null: every
  // SASL authentication fails as for an unknown user.
  SaslCredentials* sasl = nullptr;
  // Kafka's ACLs (authorizer.class.name set): the decisions, and the store
  // the ACL APIs write. Both null when no authorizer is configured.
  security::AclAuthorizer* authorizer = nullptr;
  coord::AclStore* acl_store = nullptr;
  // Client quotas (server/client_quotas.h): the admin APIs and the cache
  // throttling reads; null: the quota APIs answer UNKNOWN_SERVER_ERROR.
  ClientQuotaManager* quotas = nullptr;
  // Client quota enforcement (server/quota_throttle.h); null: nothing is throttled.
  QuotaThrottler* throttler = nullptr;
  // Kafka's broker metrics (server/broker_metrics.h); null in handler tests.
  BrokerMetrics* metrics = nullptr;
  // fetch.max.bytes: a consumer's fetch response holds no more (at least one batch).
  int32_t fetch_max_bytes = 57671680;
  // Wall-clock milliseconds (timestamps, LogAppendTime); injectable for tests.
  std::function<int64_t()> now_ms;
};

}  // namespace keel::server
