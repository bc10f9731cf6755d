// Partition reassignment (KIP-455): AlterPartitionReassignments and
// ListPartitionReassignments, answered by the controller
// (controller/reassignment.cc) and NOT_CONTROLLER elsewhere, as Kafka's
// brokers answer them in ZooKeeper mode; admin clients send both to the
// controller the metadata names.

#include "controller/controller.h"
#include "protocol/error_code.h"
#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/list_partition_reassignments_request.h"
#include "protocol/generated/list_partition_reassignments_response.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

// Decodes Req, has the controller answer it (NOT_CONTROLLER when this broker
// runs none; CLUSTER_AUTHORIZATION_FAILED when the principal may not `op`
// the cluster), encodes the answer.
template <typename Req, typename Resp>
Result<void> ask_controller(RequestContext& ctx, ByteReader& body, ByteWriter& out, security::AclOperation op,
                            Resp (controller::Controller::*answer)(const Req&, int16_t)) {
  Req req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  Resp resp;
  if (!cluster_allowed(ctx, op)) {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kClusterAuthorizationFailed);
    resp.error_message = cluster_not_authorized(ctx, op);
  } else if (ctx.services.controller) {
    resp = (ctx.services.controller->*answer)(req, ctx.api_version());
  } else {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kNotController);
    resp.error_message = std::nullopt;
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace

Result<void> handle_alter_partition_reassignments(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  return ask_controller(ctx, body, out, security::AclOperation::kAlter,
                        &controller::Controller::alter_partition_reassignments);
}

Result<void> handle_list_partition_reassignments(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  return ask_controller(ctx, body, out, security::AclOperation::kDescribe,
                        &controller::Controller::list_partition_reassignments);
}

}  // namespace keel::server
