#pragma once
// The checks every API makes against the broker's authorizer (Kafka's
// AclAuthorizer), shared by the handlers. With no authorizer configured
// everything is allowed, as in Kafka.

#include <string>

#include "net/server.h"
#include "security/acl.h"
#include "server/request_context.h"

namespace keel::server {

// The client's address as Kafka's InetAddress.getHostAddress prints it, the
// form ACL hosts are written in: dotted IPv4, IPv6 as eight hex groups
// without zero compression (0:0:0:0:0:0:0:1).
std::string client_address(const net::ConnectionInfo& conn);

// Kafka's authorizeClusterOperation: may the request's principal do `op` on
// the cluster? A refusal is logged with the principal, peer and API.
bool cluster_allowed(const RequestContext& ctx, security::AclOperation op);

// The message Kafka's CLUSTER_AUTHORIZATION_FAILED answers carry.
std::string cluster_not_authorized(const RequestContext& ctx, security::AclOperation op);

}  // namespace keel::server
