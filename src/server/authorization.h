#pragma once
// The checks every API makes against the broker's authorizer (Kafka's
// AclAuthorizer and the table "Operations and Resources on Protocols",
// docs/security.md), shared by the handlers. With no authorizer configured
// everything is allowed, as in Kafka; so is every request the controller
// sends this broker in process (ConnectionInfo::in_process): it is the
// broker talking to itself, which Kafka never checks either.

#include <cstdint>
#include <string>
#include <string_view>

#include "net/server.h"
#include "security/acl.h"
#include "server/request_context.h"

namespace keel::server {

// The client's address as Kafka's InetAddress.getHostAddress prints it, the
// form ACL hosts are written in: dotted IPv4, IPv6 as eight hex groups
// without zero compression (0:0:0:0:0:0:0:1).
std::string client_address(const net::ConnectionInfo& conn);

// One request's authorization decisions for ctx.principal from
// client_address(ctx.connection). A handler makes one per request (on the
// stack, for its synchronous part) and asks it as often as it needs; the
// refusals are logged once, at info, when it goes out of scope — the first
// refused operation and resource and how many more — so a request naming a
// thousand partitions writes one line, not a thousand. Not thread-safe.
class RequestAuthorization {
 public:
  explicit RequestAuthorization(const RequestContext& ctx);
  ~RequestAuthorization();
  RequestAuthorization(const RequestAuthorization&) = delete;
  RequestAuthorization& operator=(const RequestAuthorization&) = delete;

  // False when everything is allowed: no authorizer, or the broker itself.
  bool enforced() const { return authorizer_ != nullptr; }

  // Kafka's authorize(op, resource): a refusal is logged.
  bool allows(security::AclOperation op, security::ResourceType type, std::string_view name);
  bool allows_cluster(security::AclOperation op) {
    return allows(op, security::ResourceType::kCluster, security::kClusterResourceName);
  }
  bool allows_topic(security::AclOperation op, std::string_view topic) {
    return allows(op, security::ResourceType::kTopic, topic);
  }
  bool allows_group(security::AclOperation op, std::string_view group) {
    return allows(op, security::ResourceType::kGroup, group);
  }
  // The same decision without a log line, for checks whose refusal is not
  // one (Kafka's logIfDenied = false): CREATE on the cluster before trying
  // CREATE per topic, DESCRIBE on the cluster before filtering ListGroups.
  bool allows_quietly(security::AclOperation op, security::ResourceType type, std::string_view name) const;

  // Kafka's authorizeByResourceType: `op` on at least one resource of `type`
  // (InitProducerId without a transactional id). A refusal is logged.
  bool allows_some(security::AclOperation op, security::ResourceType type);

  // The authorized-operations bitfield of a describe answer (KIP-430): bit n
  // set for each operation of supported_operations(type) with code n that
  // is allowed on the LITERAL resource `name` — all of them without an
  // authorizer, as Kafka reports. Never logged.
  int32_t operations(security::ResourceType type, std::string_view name) const;
  // The cluster's field (Metadata v8-10, DescribeCluster) as Kafka fills it:
  // operations() when the principal may DESCRIBE the cluster, else 0.
  int32_t cluster_operations() const;

  // The message of an AUTHORIZATION_FAILED answer for this principal.
  std::string denied_message(security::AclOperation op, security::ResourceType type, std::string_view name) const;

 private:
  void record_denial(std::string what);

  const RequestContext& ctx_;
  const security::AclAuthorizer* authorizer_;
  std::string host_;
  std::string first_denial_;  // "Write Topic 'b'", empty while nothing was refused
  int more_denials_ = 0;
};

// Kafka's authorizeClusterOperation: may the request's principal do `op` on
// the cluster? A refusal is logged with the principal, peer and API.
bool cluster_allowed(const RequestContext& ctx, security::AclOperation op);

// The message Kafka's CLUSTER_AUTHORIZATION_FAILED answers carry.
std::string cluster_not_authorized(const RequestContext& ctx, security::AclOperation op);

}  // namespace keel::server
